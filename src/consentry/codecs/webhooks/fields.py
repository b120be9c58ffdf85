"""Readers shared by the webhook codecs: typed access to decoded JSON that names the field it
found wrong, provider time formats, and the short evidence details kept with an event.

Errors name the field and what was expected, never the value found (payloads carry addresses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from consentry.domain.errors import InputError

#: The custom argument / tag / metadata key that names the consentry list a message was sent for.
LIST_KEY = "consentry_list"

_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def as_object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where} must be a JSON object")
    return value


def as_array(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise InputError(f"{where} must be a JSON array")
    return value


def text(obj: Mapping[str, object], key: str, where: str) -> str:
    """A required, non-empty string field."""
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}.{key} is missing or not a non-empty string")
    return value


def optional_text(obj: Mapping[str, object], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}.{key} must be a string")
    return value


def scalar(obj: Mapping[str, object], key: str) -> str | None:
    """A string or number field as text (ids and codes come as either); None when absent."""
    value = obj.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        return str(value) or None
    return None


def iso_time(value: object, where: str) -> datetime:
    """An ISO 8601 time with a zone (SES, SNS, Postmark), as aware UTC."""
    if not isinstance(value, str):
        raise InputError(f"{where} must be an ISO 8601 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{where} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise InputError(f"{where} has no time zone")
    return _sane(parsed.astimezone(UTC), where)


def epoch_time(value: object, where: str) -> datetime:
    """Seconds since 1970 (SendGrid, Mailgun; an int, a float or a string of digits)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError as exc:
            raise InputError(f"{where} is not a number of seconds") from exc
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InputError(f"{where} must be a number of seconds since 1970")
    try:
        parsed = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InputError(f"{where} is out of range") from exc
    return _sane(parsed, where)


def _sane(at: datetime, where: str) -> datetime:
    if not _EARLIEST <= at < _LATEST:
        raise InputError(f"{where} is not a plausible time")
    return at


def list_hint(value: object) -> str | None:
    """The ``consentry_list`` value as a provider carries it: a string, or a one-item list of one
    (SES tags); anything else is no hint (the scope widens to every list)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and 0 < len(value.strip()) <= 200:
        return value.strip()
    return None


def short(value: object, limit: int = 200) -> str | None:
    """Short evidence text: addresses masked (a diagnostic often quotes the recipient), clipped."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, str | int | float):
        return None
    masked = _ADDRESS.sub("<address>", str(value)).strip()
    return masked[:limit] or None


def details(**items: object) -> dict[str, str]:
    """Evidence details without the empty ones."""
    out: dict[str, str] = {}
    for key, value in items.items():
        kept = short(value)
        if kept is not None:
            out[key] = kept
    return out

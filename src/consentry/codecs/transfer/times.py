"""Timestamps as providers write them (esp-formats.md §0.6): each keeps its raw text and the
time-zone assumption made to read it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from consentry.domain.transfer import TimeValue

_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_EPOCH = re.compile(r"-?\d{9,13}(\.\d+)?\Z")
_GO = re.compile(
    r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d+)? ([+-]\d{4})(?: (?:[A-Z]{2,5}|[+-]\d{4}))?"
    r"(?: m=[+-][\d.]+)?\Z"
)


def parse_time(raw: str | None) -> TimeValue | None:
    """Read any of: ISO 8601 with a zone (explicit), naive ``YYYY-MM-DD HH:MM:SS`` or a date
    (UTC assumed), Unix seconds or milliseconds (explicit), RFC 2822 (explicit, ``-0000``: UTC
    assumed), Go's ``time.Time.String()`` (explicit). None for an empty value; an unreadable
    value keeps its raw text with ``at`` None."""
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    if _EPOCH.match(text):
        number = float(text)
        seconds = number / 1000 if len(text.split(".")[0].lstrip("-")) >= 12 else number
        try:
            return TimeValue(text, datetime.fromtimestamp(seconds, UTC), "explicit")
        except (OverflowError, OSError, ValueError):
            return TimeValue(text, None, "utc_assumed")
    go = _GO.match(text)
    if go:
        digits = (go.group(2) or "")[1:7]
        fraction = f".{digits}" if digits else ""
        stamp = f"{go.group(1)}{fraction}{go.group(3)}"
        try:
            fmt = "%Y-%m-%d %H:%M:%S" + (".%f" if fraction else "") + "%z"
            return TimeValue(text, datetime.strptime(stamp, fmt).astimezone(UTC), "explicit")
        except ValueError:
            pass
    iso = text.replace("Z", "+00:00") if text.endswith("Z") else text
    at: datetime | None
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        at = None
    if at is not None:
        if at.tzinfo is None:
            return TimeValue(text, at.replace(tzinfo=UTC), "utc_assumed")
        return TimeValue(text, at.astimezone(UTC), "explicit")
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return TimeValue(text, None, "utc_assumed")
    if parsed.tzinfo is None:
        return TimeValue(text, parsed.replace(tzinfo=UTC), "utc_assumed")
    return TimeValue(text, parsed.astimezone(UTC), "explicit")

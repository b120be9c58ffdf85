"""Mailgun webhooks: ``{"signature": {...}, "event-data": {...}}``, one event per POST.

``mailgun_signature`` reads the signed part (timestamp, token, HMAC, and the parent account's
HMAC for subaccounts) for ``consentry.web.webhook_auth``; ``mailgun_events`` the event:

* ``failed`` with ``severity`` ``permanent``: a hard bounce, except when Mailgun dropped the
  message because of its own suppression lists with reason ``suppress-complaint`` (a
  complaint) or ``suppress-unsubscribe`` (an unsubscribe from every list); ``temporary``: a
  soft bounce.
* ``complained``: a complaint.
* ``unsubscribed``: an unsubscribe; Mailgun's tag ``*`` means the whole sending domain, so the
  scope is every list, as it is without a ``consentry_list`` user variable.
* ``delivered``: delivered; anything else (``accepted``, ``opened``, ``clicked``, ``rejected``
  ...): "other".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consentry.codecs.webhooks.fields import (
    LIST_KEY,
    as_object,
    details,
    epoch_time,
    list_hint,
    optional_text,
    scalar,
    text,
)
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind, ProviderEvent

PROVIDER = "mailgun"

_SUPPRESSED = {
    "suppress-complaint": EventKind.COMPLAINT,
    "suppress-unsubscribe": EventKind.UNSUBSCRIBE,
}
_SIMPLE = {
    "complained": EventKind.COMPLAINT,
    "unsubscribed": EventKind.UNSUBSCRIBE,
    "delivered": EventKind.DELIVERED,
}


@dataclass(frozen=True)
class MailgunSignature:
    timestamp: str
    token: str
    signature: str
    parent_signature: str | None = None


def mailgun_signature(payload: object) -> MailgunSignature:
    body = as_object(payload, "the Mailgun payload")
    signed = as_object(body.get("signature"), "Mailgun.signature")
    timestamp = text(signed, "timestamp", "Mailgun.signature")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise InputError("Mailgun.signature.timestamp must be whole seconds since 1970")
    return MailgunSignature(
        timestamp=timestamp,
        token=text(signed, "token", "Mailgun.signature"),
        signature=text(signed, "signature", "Mailgun.signature"),
        parent_signature=optional_text(signed, "parent-signature", "Mailgun.signature"),
    )


def mailgun_events(payload: object) -> list[ProviderEvent]:
    body = as_object(payload, "the Mailgun payload")
    data = as_object(body.get("event-data"), "Mailgun.event-data")
    where = "Mailgun.event-data"
    name = text(data, "event", where)
    email = text(data, "recipient", where)
    at = epoch_time(data.get("timestamp"), f"{where}.timestamp")
    severity = data.get("severity")
    reason = data.get("reason")
    kind = _kind(name, severity, reason)
    status = data.get("delivery-status")
    status = status if isinstance(status, Mapping) else {}
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, Mapping) else None
    detail = details(
        event=name, severity=severity, reason=reason, code=scalar(status, "code"),
        diagnostic=status.get("message") or status.get("description"),
        message_id=headers.get("message-id") if isinstance(headers, Mapping) else None,
        via=f"mailgun-{name}" if kind is EventKind.UNSUBSCRIBE else None,
    )  # fmt: skip
    return [
        ProviderEvent(
            kind=kind,
            provider=PROVIDER,
            email=email,
            list_id=_list_id(data) if name == "unsubscribed" else None,
            event_id=optional_text(data, "id", where),
            occurred_at=at,
            detail=detail,
        )
    ]


def _kind(name: str, severity: object, reason: object) -> EventKind:
    if name == "failed":
        if severity == "permanent":
            if isinstance(reason, str) and reason in _SUPPRESSED:
                return _SUPPRESSED[reason]
            return EventKind.HARD_BOUNCE
        if severity == "temporary":
            return EventKind.SOFT_BOUNCE
        raise InputError("Mailgun.event-data.severity must be permanent or temporary")
    return _SIMPLE.get(name, EventKind.OTHER)


def _list_id(data: Mapping[str, object]) -> str | None:
    tags = data.get("tags")
    if isinstance(tags, list) and "*" in tags:
        return None
    variables = data.get("user-variables")
    return list_hint(variables.get(LIST_KEY)) if isinstance(variables, Mapping) else None

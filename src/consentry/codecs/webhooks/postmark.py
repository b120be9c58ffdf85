"""Postmark webhooks: one JSON record per POST, told apart by ``RecordType``.

* ``Bounce``: ``Type`` ``HardBounce`` or ``BadEmailAddress`` is a hard bounce, ``SpamComplaint``
  a complaint, ``Unsubscribe`` (an unsubscribe request the recipient mailed) an unsubscribe;
  temporary types (``Transient``, ``SoftBounce``, ``DnsError``, ``Blocked`` ...) soft bounces;
  the rest (auto-responders, challenges, address changes ...) "other".
* ``SpamComplaint``: a complaint.
* ``SubscriptionChange`` with ``SuppressSending`` true: by ``SuppressionReason``, a hard bounce,
  a complaint, or (``ManualSuppression``: the recipient unsubscribed, or the sender suppressed
  the address) an unsubscribe. With ``SuppressSending`` false (a reactivation) it is "other":
  only a newer double-opt-in consent lifts a suppression.
* ``Delivery``: delivered; ``Open``, ``Click`` and the rest: "other".

The recipient is ``Email`` in bounce-like records and ``Recipient`` in the others. A message's
``Metadata`` may name its list as ``consentry_list``; without it an unsubscribe covers every list.
"""

from __future__ import annotations

from collections.abc import Mapping

from consentry.codecs.webhooks.fields import (
    LIST_KEY,
    as_object,
    details,
    iso_time,
    list_hint,
    scalar,
    text,
)
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind, ProviderEvent

PROVIDER = "postmark"

_BOUNCE_TYPES = {
    "HardBounce": EventKind.HARD_BOUNCE,
    "BadEmailAddress": EventKind.HARD_BOUNCE,
    "SpamComplaint": EventKind.COMPLAINT,
    "Unsubscribe": EventKind.UNSUBSCRIBE,
}
_BOUNCE_TYPES.update(
    dict.fromkeys(
        (
            "Transient",
            "SoftBounce",
            "DnsError",
            "Blocked",
            "DMARCPolicy",
            "SpamNotification",
            "VirusNotification",
        ),
        EventKind.SOFT_BOUNCE,
    )
)
_SUPPRESSIONS = {
    "HardBounce": EventKind.HARD_BOUNCE,
    "SpamComplaint": EventKind.COMPLAINT,
}
#: RecordType -> (recipient field, time field)
_FIELDS = {
    "Bounce": ("Email", "BouncedAt"),
    "SpamComplaint": ("Email", "BouncedAt"),
    "SubscriptionChange": ("Recipient", "ChangedAt"),
    "Delivery": ("Recipient", "DeliveredAt"),
    "Open": ("Recipient", "ReceivedAt"),
    "Click": ("Recipient", "ReceivedAt"),
}


def postmark_events(payload: object) -> list[ProviderEvent]:
    body = as_object(payload, "the Postmark payload")
    record = text(body, "RecordType", "Postmark")
    email_field, time_field = _FIELDS.get(record, ("Recipient", ""))
    email = text(body, email_field, "Postmark")
    at = iso_time(body.get(time_field), f"Postmark.{time_field}") if time_field in body else None
    kind = _kind(record, body)
    metadata = body.get("Metadata")
    list_id = None
    if kind is EventKind.UNSUBSCRIBE and isinstance(metadata, Mapping):
        list_id = list_hint(metadata.get(LIST_KEY))
    detail = details(
        record=record, type=body.get("Type"), type_code=scalar(body, "TypeCode"),
        description=body.get("Description"), diagnostic=body.get("Details"),
        message_stream=body.get("MessageStream"), message_id=body.get("MessageID"),
        origin=body.get("Origin"), suppression_reason=body.get("SuppressionReason"),
        via=f"postmark-{record}" if kind is EventKind.UNSUBSCRIBE else None,
    )  # fmt: skip
    return [
        ProviderEvent(
            kind=kind,
            provider=PROVIDER,
            email=email,
            list_id=list_id,
            event_id=_event_id(record, body),
            occurred_at=at,
            detail=detail,
        )
    ]


def _kind(record: str, body: Mapping[str, object]) -> EventKind:
    if record == "Bounce":
        return _BOUNCE_TYPES.get(text(body, "Type", "Postmark"), EventKind.OTHER)
    if record == "SpamComplaint":
        return EventKind.COMPLAINT
    if record == "SubscriptionChange":
        suppress = body.get("SuppressSending")
        if not isinstance(suppress, bool):
            raise InputError("Postmark.SuppressSending must be true or false")
        if not suppress:
            return EventKind.OTHER
        reason = body.get("SuppressionReason")
        if isinstance(reason, str) and reason in _SUPPRESSIONS:
            return _SUPPRESSIONS[reason]
        return EventKind.UNSUBSCRIBE
    if record == "Delivery":
        return EventKind.DELIVERED
    return EventKind.OTHER


def _event_id(record: str, body: Mapping[str, object]) -> str | None:
    """Bounce records have an ``ID``; a subscription change is known by its message and time."""
    found = scalar(body, "ID")
    if found is not None:
        return found
    message = scalar(body, "MessageID")
    changed = scalar(body, "ChangedAt")
    if record == "SubscriptionChange" and changed is not None:
        return f"subscription-change:{message or '-'}:{changed}"
    return message

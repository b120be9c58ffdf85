"""The SendGrid (Twilio) Event Webhook: a JSON array of events, one recipient each.

* ``bounce``: ``type`` ``blocked`` (a temporary refusal) is a soft bounce; ``type`` ``bounce``
  is a hard bounce unless its enhanced ``status`` is 4.x.x. Without a ``type`` (older payloads)
  a 4.x.x status is soft and anything else hard.
* ``dropped``: SendGrid did not send because of its own suppression lists, which are evidence
  of an earlier objection: ``Bounced Address`` and ``Invalid`` are hard bounces, ``Spam
  Reporting Address`` a complaint, ``Unsubscribed Address`` an unsubscribe from every list.
  Other drop reasons (content, quota) are "other".
* ``spamreport``: a complaint.
* ``unsubscribe`` ("opt out of all emails"): an unsubscribe from every list, whatever the
  message was sent for.
* ``group_unsubscribe``: an unsubscribe from the list named by the ``consentry_list`` custom
  argument, or from every list without one (an ASM group is not a consentry list).
* ``delivered``: delivered; ``deferred``: a soft bounce; the rest (``processed``, ``open``,
  ``click``, ``group_resubscribe`` ...): "other". A resubscribe never lifts anything.

Custom arguments arrive as top-level keys of each event (older payloads: ``unique_args``).
"""

from __future__ import annotations

from collections.abc import Mapping

from consentry.codecs.webhooks.fields import (
    LIST_KEY,
    as_array,
    as_object,
    details,
    epoch_time,
    list_hint,
    optional_text,
    scalar,
    text,
)
from consentry.domain.provider_events import EventKind, ProviderEvent

PROVIDER = "sendgrid"

_DROPPED = {
    "Bounced Address": EventKind.HARD_BOUNCE,
    "Invalid": EventKind.HARD_BOUNCE,
    "Spam Reporting Address": EventKind.COMPLAINT,
    "Unsubscribed Address": EventKind.UNSUBSCRIBE,
}
_SIMPLE = {
    "spamreport": EventKind.COMPLAINT,
    "unsubscribe": EventKind.UNSUBSCRIBE,
    "group_unsubscribe": EventKind.UNSUBSCRIBE,
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.SOFT_BOUNCE,
}


def sendgrid_events(payload: object) -> list[ProviderEvent]:
    """The events of one Event Webhook POST (a JSON array)."""
    items = as_array(payload, "the SendGrid payload")
    return [
        _event(as_object(item, f"SendGrid[{i}]"), f"SendGrid[{i}]") for i, item in enumerate(items)
    ]


def _event(item: Mapping[str, object], where: str) -> ProviderEvent:
    name = text(item, "event", where)
    email = text(item, "email", where)
    at = epoch_time(item.get("timestamp"), f"{where}.timestamp")
    kind = _kind(name, item)
    list_id = None
    if name == "group_unsubscribe":
        list_id = _list_hint(item)
    detail = details(
        event=name, type=item.get("type"), status=item.get("status"), reason=item.get("reason"),
        asm_group_id=scalar(item, "asm_group_id"), sg_message_id=item.get("sg_message_id"),
        via=f"sendgrid-{name}" if kind is EventKind.UNSUBSCRIBE else None,
    )  # fmt: skip
    return ProviderEvent(
        kind=kind,
        provider=PROVIDER,
        email=email,
        list_id=list_id,
        event_id=optional_text(item, "sg_event_id", where),
        occurred_at=at,
        detail=detail,
    )


def _kind(name: str, item: Mapping[str, object]) -> EventKind:
    if name == "bounce":
        bounce_type = item.get("type")
        status = item.get("status")
        temporary = isinstance(status, str) and status.startswith("4")
        if bounce_type == "blocked" or temporary:
            return EventKind.SOFT_BOUNCE
        return EventKind.HARD_BOUNCE
    if name == "dropped":
        reason = item.get("reason")
        if isinstance(reason, str) and reason in _DROPPED:
            return _DROPPED[reason]
        return EventKind.OTHER
    return _SIMPLE.get(name, EventKind.OTHER)


def _list_hint(item: Mapping[str, object]) -> str | None:
    if LIST_KEY in item:
        return list_hint(item[LIST_KEY])
    for nested in ("custom_args", "unique_args"):
        args = item.get(nested)
        if isinstance(args, Mapping) and LIST_KEY in args:
            return list_hint(args[LIST_KEY])
    return None

"""Amazon SES bounce and complaint notifications, as a queue or log dump holds them: one JSON
document per line, each the SNS envelope (``{"Type": "Notification", "Message": "<JSON>"}``, the
SES event double-encoded) or the raw SES message when raw delivery was on.

Source: the SES developer guide's notification contents and examples [V]; the parsing is
``codecs.webhooks.ses``'s (``parse_sns``, ``ses_events``), reused unchanged.

``ses-sns-jsonl``: a permanent bounce is hard-bounced (``OnAccountSuppressionList`` is an echo
of a suppression, kept as a note); transient or undetermined: unknown (not a suppression); a
complaint: complained (``not-spam`` flagged for review); a list-management unsubscribe:
unsubscribed, from the consentry list the message was tagged with, else region-wide (the topic
is not named). Deliveries, other events and SNS confirmations carry no state and yield nothing;
a notification that is not one is rejected by line. The envelopes' signatures are not checked:
the file is an export, as trusted as any other. Scope ``region``: SES works per account and
AWS Region, neither named in the events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Literal

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.suppression_io import (
    head_text,
    json_lines,
    not_utf8,
    parts,
    raw_json,
    scalar,
)
from consentry.codecs.webhooks.ses import parse_sns, ses_events
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind, ProviderEvent
from consentry.domain.transfer import Item, RejectedRow, Scope, State, TimeValue, TransferRecord

PROVIDER = "ses"
REGION = Scope("region")
Actor = Literal["recipient", "admin", "system", "unknown"]
_SNS_ENVELOPE = re.compile(r'"Type"\s*:\s*"Notification"')
_SES_EVENT = re.compile(r'"(notificationType|eventType)"\s*:\s*"(Bounce|Complaint|Subscription)"')


class NotificationsReader:
    name = "ses-sns-jsonl"
    provider = PROVIDER
    description = "Amazon SES bounce/complaint notifications (SNS), one JSON document per line"

    def sniff(self, source: Source) -> int:
        first = head_text(source, 16384).split("\n", 1)[0]
        try:
            value = json.loads(first)
        except ValueError:  # a line longer than the head (a notification with all headers)
            if not first.startswith("{"):
                return 0
            if _SNS_ENVELOPE.search(first) and '"TopicArn"' in first:
                return 80 if "notificationType" in first or "eventType" in first else 60
            return 80 if _SES_EVENT.search(first) and '"mail"' in first else 0
        if not isinstance(value, dict):
            return 0
        if value.get("Type") == "Notification" and "TopicArn" in value:
            return 90 if "notificationType" in str(value.get("Message")) else 65
        if "mail" in value and ("notificationType" in value or "eventType" in value):
            return 90
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for item in json_lines(stream, label):
                    if isinstance(item, RejectedRow):
                        yield item
                    else:
                        yield from self._notification(*item, label)

    def _notification(self, number: int, value: object, label: str) -> Iterator[Item]:
        raw = raw_json(value)
        bad = not_utf8(value)
        if bad:
            yield RejectedRow(label, number, f"field {bad!r} is not UTF-8", raw)
            return
        try:
            inner, message_id = _unwrap(value)
            if inner is None:
                return  # a subscription or unsubscribe confirmation: nobody's state
            events = ses_events(inner, message_id)
        except InputError as exc:
            yield RejectedRow(label, number, str(exc), raw)
            return
        for event in events:
            record = _event_record(event, inner, label, number)
            if record is not None:
                yield record


def _unwrap(value: object) -> tuple[object | None, str | None]:
    """The SES notification inside an SNS envelope (or the raw message) and the SNS id."""
    if isinstance(value, dict) and "Type" in value:
        envelope = parse_sns(value)
        if envelope.type != "Notification":
            return None, None
        try:
            return json.loads(envelope.message), envelope.message_id
        except ValueError as exc:
            raise InputError("SNS.Message is not the JSON of an SES notification") from exc
    return value, None


_EVENT_STATES: dict[EventKind, tuple[State, Actor]] = {
    EventKind.HARD_BOUNCE: (State.HARD_BOUNCED, "system"),
    EventKind.SOFT_BOUNCE: (State.UNKNOWN, "system"),
    EventKind.COMPLAINT: (State.COMPLAINED, "recipient"),
    EventKind.UNSUBSCRIBE: (State.UNSUBSCRIBED, "recipient"),
}
_EVIDENCE = {
    "status": "smtp_status", "diagnostic": "diagnostic", "bounce_type": "bounce_type",
    "bounce_sub_type": "bounce_sub_type", "feedback_type": "feedback_type",
    "complaint_sub_type": "complaint_sub_type", "feedback_id": "feedback_id",
    "message_id": "message_id", "contact_list": "contact_list", "notification": "notification",
}  # fmt: skip


def _event_record(
    event: ProviderEvent, inner: object, label: str, number: int
) -> TransferRecord | None:
    if event.kind not in _EVENT_STATES or not event.email:
        return None  # deliveries, sends, opens...: no state
    state, actor = _EVENT_STATES[event.kind]
    evidence = {_EVIDENCE[k]: v for k, v in event.detail.items() if k in _EVIDENCE}
    review = event.detail.get("feedback_type") == "not-spam"
    if event.detail.get("bounce_sub_type") == "OnAccountSuppressionList":
        evidence["note"] = "echo of an existing account suppression"
    scope = REGION
    if event.kind is EventKind.UNSUBSCRIBE and event.list_id:
        scope = Scope("list", event.list_id, event.list_id)
    original = event.kind.value
    if event.detail.get("bounce_type"):
        original = f"{event.kind.value} ({event.detail['bounce_type']})"
    return TransferRecord(
        email=event.email.strip(), state=state, scope=scope, file=label, line=number,
        original_status=original, occurred=_event_time(event, inner),
        actor=actor, evidence=evidence, review=review,
    )  # fmt: skip


def _event_time(event: ProviderEvent, inner: object) -> TimeValue | None:
    if event.occurred_at is None:
        return None
    part = {"hard-bounce": "bounce", "soft-bounce": "bounce", "complaint": "complaint"}.get(
        event.kind.value, "subscription"
    )
    body = inner.get(part) if isinstance(inner, dict) else None
    raw = scalar(body.get("timestamp")) if isinstance(body, dict) else ""
    return TimeValue(raw or event.occurred_at.isoformat(), event.occurred_at, "explicit")

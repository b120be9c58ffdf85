"""Amazon SES notifications delivered by Amazon SNS over HTTPS.

The body SNS posts is an envelope (``Type`` ``Notification``, ``SubscriptionConfirmation`` or
``UnsubscribeConfirmation``) whose ``Message`` is a JSON *string*: for a notification, the SES
event itself (double-encoded). ``parse_sns`` reads the envelope (the fields its signature covers
included); ``sns_events`` turns a notification into events, one per recipient:

* ``Bounce`` with ``bounceType`` ``Permanent``: a hard bounce for each ``bouncedRecipients``;
  ``Transient`` or ``Undetermined``: a soft bounce.
* ``Complaint``: a complaint for each ``complainedRecipients`` (any feedback type, ``not-spam``
  included: it stays a complaint, the type is kept in the detail).
* ``Delivery``: delivered, for each ``delivery.recipients``.
* ``Subscription`` (SES list management): an unsubscribe for each destination when the person
  chose "unsubscribe all" or opted out of a topic; a topic is not a consentry list, so the
  scope is every list unless the message carried a ``consentry_list`` tag.
* anything else (``Send``, ``Open``, ``Click``, ``DeliveryDelay`` ...): "other".

Feedback notifications name the kind in ``notificationType``; configuration-set event
publishing names it in ``eventType``. Both are read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from consentry.codecs.webhooks.fields import (
    LIST_KEY,
    as_array,
    as_object,
    details,
    iso_time,
    list_hint,
    optional_text,
    text,
)
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind, ProviderEvent

PROVIDER = "ses"
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
SNS_TYPES = (NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION)

_BOUNCES = {
    "Permanent": EventKind.HARD_BOUNCE,
    "Transient": EventKind.SOFT_BOUNCE,
    "Undetermined": EventKind.SOFT_BOUNCE,
}


@dataclass(frozen=True)
class SNSMessage:
    """One SNS HTTP(S) message, with the values its signature covers, exactly as sent."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: str
    sent_at: datetime
    signature_version: str
    signature: str
    signing_cert_url: str
    subject: str | None = None
    subscribe_url: str | None = None
    token: str | None = None


def parse_sns(payload: object) -> SNSMessage:
    """The SNS envelope; InputError naming the field when it is not one."""
    body = as_object(payload, "the SNS message")
    kind = text(body, "Type", "SNS")
    if kind not in SNS_TYPES:
        raise InputError(f"SNS.Type must be one of {', '.join(SNS_TYPES)}")
    message = body.get("Message")
    if not isinstance(message, str):
        raise InputError("SNS.Message is missing or not a string")
    confirmation = kind != NOTIFICATION
    timestamp = text(body, "Timestamp", "SNS")
    return SNSMessage(
        type=kind,
        message_id=text(body, "MessageId", "SNS"),
        topic_arn=text(body, "TopicArn", "SNS"),
        message=message,
        timestamp=timestamp,
        sent_at=iso_time(timestamp, "SNS.Timestamp"),
        signature_version=text(body, "SignatureVersion", "SNS"),
        signature=text(body, "Signature", "SNS"),
        signing_cert_url=text(body, "SigningCertURL", "SNS"),
        subject=None if confirmation else optional_text(body, "Subject", "SNS"),
        subscribe_url=text(body, "SubscribeURL", "SNS") if confirmation else None,
        token=text(body, "Token", "SNS") if confirmation else None,
    )


def sns_events(message: SNSMessage) -> list[ProviderEvent]:
    """The events of a notification (none for the two confirmations)."""
    if message.type != NOTIFICATION:
        return []
    try:
        inner = json.loads(message.message)
    except ValueError as exc:
        raise InputError("SNS.Message is not the JSON of an SES notification") from exc
    return ses_events(inner, message.message_id)


def ses_events(notification: object, event_id: str | None = None) -> list[ProviderEvent]:
    """The events of one SES notification (the decoded ``Message``)."""
    body = as_object(notification, "the SES notification")
    kind = body.get("notificationType", body.get("eventType"))
    if not isinstance(kind, str) or not kind:
        raise InputError("the SES notification has neither notificationType nor eventType")
    mail = as_object(body.get("mail", {}), "SES.mail")
    common = _Common(event_id, mail, kind)
    if kind == "Bounce":
        return _bounces(as_object(body.get("bounce"), "SES.bounce"), common)
    if kind == "Complaint":
        return _complaints(as_object(body.get("complaint"), "SES.complaint"), common)
    if kind == "Delivery":
        return _deliveries(as_object(body.get("delivery"), "SES.delivery"), common)
    if kind == "Subscription":
        return _subscription(as_object(body.get("subscription"), "SES.subscription"), common)
    return [common.event(EventKind.OTHER, address, None, {}) for address in common.destination()]


@dataclass(frozen=True)
class _Common:
    event_id: str | None
    mail: Mapping[str, object]
    kind: str

    def list_id(self) -> str | None:
        tags = self.mail.get("tags")
        return list_hint(tags.get(LIST_KEY)) if isinstance(tags, Mapping) else None

    def destination(self) -> list[str]:
        found = self.mail.get("destination", [])
        return [a for a in found if isinstance(a, str) and a] if isinstance(found, list) else []

    def event(
        self, kind: EventKind, email: str, at: datetime | None, detail: dict[str, str]
    ) -> ProviderEvent:
        return ProviderEvent(
            kind=kind,
            provider=PROVIDER,
            email=email,
            list_id=self.list_id() if kind is EventKind.UNSUBSCRIBE else None,
            event_id=self.event_id,
            occurred_at=at,
            detail={**details(notification=self.kind, message_id=self.mail.get("messageId")),
                    **detail},
        )  # fmt: skip


def _recipients(obj: Mapping[str, object], key: str, where: str) -> list[Mapping[str, object]]:
    found = as_array(obj.get(key), f"{where}.{key}")
    if not found:
        raise InputError(f"{where}.{key} is empty")
    return [as_object(item, f"{where}.{key}[{i}]") for i, item in enumerate(found)]


def _bounces(bounce: Mapping[str, object], common: _Common) -> list[ProviderEvent]:
    bounce_type = text(bounce, "bounceType", "SES.bounce")
    if bounce_type not in _BOUNCES:
        raise InputError("SES.bounce.bounceType must be Permanent, Transient or Undetermined")
    at = iso_time(bounce.get("timestamp"), "SES.bounce.timestamp")
    events = []
    for i, recipient in enumerate(_recipients(bounce, "bouncedRecipients", "SES.bounce")):
        where = f"SES.bounce.bouncedRecipients[{i}]"
        detail = details(
            bounce_type=bounce_type, bounce_sub_type=bounce.get("bounceSubType"),
            status=recipient.get("status"), action=recipient.get("action"),
            diagnostic=recipient.get("diagnosticCode"), feedback_id=bounce.get("feedbackId"),
        )  # fmt: skip
        email = text(recipient, "emailAddress", where)
        events.append(common.event(_BOUNCES[bounce_type], email, at, detail))
    return events


def _complaints(complaint: Mapping[str, object], common: _Common) -> list[ProviderEvent]:
    at = iso_time(complaint.get("timestamp"), "SES.complaint.timestamp")
    detail = details(
        feedback_type=complaint.get("complaintFeedbackType"),
        complaint_sub_type=complaint.get("complaintSubType"),
        feedback_id=complaint.get("feedbackId"),
    )
    recipients = _recipients(complaint, "complainedRecipients", "SES.complaint")
    return [
        common.event(
            EventKind.COMPLAINT,
            text(r, "emailAddress", f"SES.complaint.complainedRecipients[{i}]"),
            at,
            detail,
        )
        for i, r in enumerate(recipients)
    ]


def _deliveries(delivery: Mapping[str, object], common: _Common) -> list[ProviderEvent]:
    at = iso_time(delivery.get("timestamp"), "SES.delivery.timestamp")
    recipients = as_array(delivery.get("recipients"), "SES.delivery.recipients")
    events = []
    for i, address in enumerate(recipients):
        if not isinstance(address, str) or not address:
            raise InputError(f"SES.delivery.recipients[{i}] is not an address string")
        events.append(common.event(EventKind.DELIVERED, address, at, {}))
    return events


def _subscription(change: Mapping[str, object], common: _Common) -> list[ProviderEvent]:
    at = iso_time(change.get("timestamp"), "SES.subscription.timestamp")
    new = as_object(change.get("newTopicPreferences", {}), "SES.subscription.newTopicPreferences")
    old = as_object(change.get("oldTopicPreferences", {}), "SES.subscription.oldTopicPreferences")
    withdrawn = new.get("unsubscribeAll") is True or bool(_opted_out(new) - _opted_out(old))
    kind = EventKind.UNSUBSCRIBE if withdrawn else EventKind.OTHER
    detail = details(
        via="ses-subscription", source=change.get("source"), contact_list=change.get("contactList")
    )
    return [common.event(kind, address, at, detail) for address in common.destination()]


def _opted_out(preferences: Mapping[str, object]) -> set[str]:
    topics = preferences.get("topicSubscriptionStatus", [])
    out: set[str] = set()
    for topic in topics if isinstance(topics, list) else []:
        if isinstance(topic, Mapping) and topic.get("subscriptionStatus") == "OptOut":
            out.add(str(topic.get("topicName")))
    return out

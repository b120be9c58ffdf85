"""The SES codec on the payloads of the AWS documentation: the SNS envelope of each message type,
bounces (permanent → hard, transient → soft, one event per recipient), complaints, deliveries,
list-management unsubscribes, and malformed payloads refused with the field named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consentry.codecs.webhooks.ses import parse_sns, ses_events, sns_events
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def envelope(inner: Any, message_id: str = "5a7d6f1c-0c53-4d2c-9d9e-6b0f0f0e1a11") -> Any:
    """The documented notification envelope around an SES notification (double-encoded)."""
    outer = load("sns/notification.json")
    outer.pop("Subject")
    outer["MessageId"] = message_id
    outer["Message"] = json.dumps(inner)
    return outer


def test_the_documented_envelopes_parse_with_the_fields_their_signatures_cover() -> None:
    confirm = parse_sns(load("sns/subscription-confirmation.json"))
    assert confirm.type == "SubscriptionConfirmation"
    assert confirm.subscribe_url is not None and confirm.subscribe_url.startswith("https://sns.")
    assert confirm.token is not None and confirm.subject is None
    assert sns_events(confirm) == []
    note = parse_sns(load("sns/notification.json"))
    assert note.subject == "My First Message" and note.subscribe_url is None
    assert note.sent_at == datetime(2012, 5, 2, 0, 54, 6, 655000, tzinfo=UTC)
    assert note.signing_cert_url.endswith(".pem") and note.signature_version == "1"
    unsubscribed = parse_sns(load("sns/unsubscribe-confirmation.json"))
    assert unsubscribed.type == "UnsubscribeConfirmation" and sns_events(unsubscribed) == []


def test_a_permanent_bounce_is_a_hard_bounce_with_short_masked_details() -> None:
    (event,) = sns_events(parse_sns(envelope(load("ses/bounce-with-dsn.json"), "m-1")))
    assert event.kind is EventKind.HARD_BOUNCE and event.provider == "ses"
    assert event.email == "jane@example.com" and event.event_id == "m-1"
    assert event.occurred_at == datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC)
    assert event.list_id is None
    assert event.detail["bounce_type"] == "Permanent" and event.detail["status"] == "5.1.1"
    assert event.detail["diagnostic"] == "smtp; 550 5.1.1 <<address>>... User"
    assert "jane@example.com" not in json.dumps(dict(event.detail))


def test_every_bounced_recipient_becomes_an_event_and_only_they_do() -> None:
    events = ses_events(load("ses/bounce-without-dsn.json"))
    assert [e.email for e in events] == ["jane@example.com", "richard@example.com"]
    assert {e.kind for e in events} == {EventKind.HARD_BOUNCE}


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_transient_and_undetermined_bounces_are_soft(bounce_type: str) -> None:
    payload = load("ses/bounce-with-dsn.json")
    payload["bounce"]["bounceType"] = bounce_type
    assert [e.kind for e in ses_events(payload)] == [EventKind.SOFT_BOUNCE]


def test_complaints_with_and_without_a_feedback_report() -> None:
    (event,) = ses_events(load("ses/complaint-with-feedback.json"))
    assert event.kind is EventKind.COMPLAINT and event.email == "richard@example.com"
    assert event.detail["feedback_type"] == "abuse"
    (bare,) = ses_events(load("ses/complaint-without-feedback.json"))
    assert bare.kind is EventKind.COMPLAINT and "feedback_type" not in bare.detail


def test_a_not_spam_feedback_stays_a_complaint() -> None:
    payload = load("ses/complaint-with-feedback.json")
    payload["complaint"]["complaintFeedbackType"] = "not-spam"
    (event,) = ses_events(payload)
    assert event.kind is EventKind.COMPLAINT and event.detail["feedback_type"] == "not-spam"


def test_a_delivery_is_counted_not_an_objection() -> None:
    (event,) = ses_events(load("ses/delivery.json"))
    assert event.kind is EventKind.DELIVERED and event.email == "jane@example.com"


def test_event_publishing_names_the_kind_in_event_type() -> None:
    (event,) = ses_events(load("ses/event-bounce.json"))
    assert event.kind is EventKind.HARD_BOUNCE and event.email == "recipient@example.com"
    assert event.detail["notification"] == "Bounce"


def test_a_list_management_unsubscribe_widens_to_every_list_unless_tagged() -> None:
    payload = load("ses/event-subscription.json")
    (event,) = ses_events(payload)
    assert event.kind is EventKind.UNSUBSCRIBE and event.list_id is None
    assert event.email == "recipient@example.com" and event.detail["via"] == "ses-subscription"
    payload["mail"]["tags"]["consentry_list"] = ["news"]
    assert ses_events(payload)[0].list_id == "news"
    payload["subscription"]["newTopicPreferences"]["unsubscribeAll"] = False
    assert ses_events(payload)[0].kind is EventKind.OTHER  # nothing newly opted out


def test_a_list_tag_never_scopes_a_bounce() -> None:
    payload = load("ses/event-bounce.json")
    payload["mail"]["tags"]["consentry_list"] = ["news"]
    assert ses_events(payload)[0].list_id is None


def test_other_event_types_are_other() -> None:
    payload = load("ses/delivery.json")
    payload["notificationType"] = "Open"
    assert [e.kind for e in ses_events(payload)] == [EventKind.OTHER]


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.pop("notificationType"), "notificationType"),
    (lambda p: p["bounce"].update(bounceType="Sometimes"), "bounceType"),
    (lambda p: p["bounce"].update(bouncedRecipients=[]), "bouncedRecipients"),
    (lambda p: p["bounce"].update(bouncedRecipients="jane@example.com"), "bouncedRecipients"),
    (lambda p: p["bounce"]["bouncedRecipients"][0].pop("emailAddress"), "emailAddress"),
    (lambda p: p["bounce"].update(timestamp="yesterday"), "timestamp"),
    (lambda p: p.pop("bounce"), "SES.bounce"),
])  # fmt: skip
def test_malformed_notifications_name_the_field(change: Any, field: str) -> None:
    payload = load("ses/bounce-with-dsn.json")
    change(payload)
    with pytest.raises(InputError, match=field):
        ses_events(payload)


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.update(Type="Surprise"), "Type"),
    (lambda p: p.pop("Signature"), "Signature"),
    (lambda p: p.pop("SigningCertURL"), "SigningCertURL"),
    (lambda p: p.update(Timestamp="noon"), "Timestamp"),
    (lambda p: p.update(Message={"not": "a string"}), "Message"),
])  # fmt: skip
def test_malformed_envelopes_name_the_field(change: Any, field: str) -> None:
    payload = load("sns/notification.json")
    change(payload)
    with pytest.raises(InputError, match=field):
        parse_sns(payload)


def test_a_confirmation_without_its_subscribe_url_is_refused() -> None:
    payload = load("sns/subscription-confirmation.json")
    del payload["SubscribeURL"]
    with pytest.raises(InputError, match="SubscribeURL"):
        parse_sns(payload)


def test_a_notification_whose_message_is_not_ses_json_is_refused() -> None:
    with pytest.raises(InputError, match="Message"):
        sns_events(parse_sns(load("sns/notification.json")))  # "Hello world!"

"""The Postmark codec on the documented webhook payloads: hard bounces and the other bounce
types, spam complaints, subscription changes (suppression by reason; reactivation lifts
nothing), deliveries, the ``consentry_list`` metadata, and malformed records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consentry.codecs.webhooks.postmark import postmark_events
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks" / "postmark"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_a_hard_bounce_with_its_id_time_and_type() -> None:
    (event,) = postmark_events(load("bounce.json"))
    assert event.kind is EventKind.HARD_BOUNCE and event.provider == "postmark"
    assert event.email == "john@example.com" and event.event_id == "4323372036854775807"
    assert event.occurred_at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    assert event.detail["type"] == "HardBounce" and event.detail["message_stream"] == "outbound"
    assert "Content" not in event.detail and "<Full dump" not in json.dumps(dict(event.detail))


@pytest.mark.parametrize(("bounce_type", "kind"), [
    ("BadEmailAddress", EventKind.HARD_BOUNCE), ("SoftBounce", EventKind.SOFT_BOUNCE),
    ("Transient", EventKind.SOFT_BOUNCE), ("DnsError", EventKind.SOFT_BOUNCE),
    ("SpamComplaint", EventKind.COMPLAINT), ("Unsubscribe", EventKind.UNSUBSCRIBE),
    ("AutoResponder", EventKind.OTHER), ("ChallengeVerification", EventKind.OTHER),
])  # fmt: skip
def test_bounce_types(bounce_type: str, kind: EventKind) -> None:
    payload = load("bounce.json")
    payload["Type"] = bounce_type
    assert postmark_events(payload)[0].kind is kind


def test_a_spam_complaint() -> None:
    (event,) = postmark_events(load("spam-complaint.json"))
    assert event.kind is EventKind.COMPLAINT and event.email == "john@example.com"
    assert event.event_id == "42"


@pytest.mark.parametrize(("reason", "kind"), [
    ("HardBounce", EventKind.HARD_BOUNCE), ("SpamComplaint", EventKind.COMPLAINT),
    ("ManualSuppression", EventKind.UNSUBSCRIBE),
])  # fmt: skip
def test_a_subscription_change_that_suppresses(reason: str, kind: EventKind) -> None:
    payload = load("subscription-change.json")
    payload["SuppressionReason"] = reason
    (event,) = postmark_events(payload)
    assert event.kind is kind and event.email == "bounced-address@wildbit.com"
    assert event.event_id == (
        "subscription-change:883953f4-6105-42a2-a16a-77a8eac79483:2020-02-01T10:53:34.416071Z"
    )


def test_a_reactivation_lifts_nothing() -> None:
    payload = load("subscription-change.json")
    payload["SuppressSending"] = False
    assert postmark_events(payload)[0].kind is EventKind.OTHER


def test_an_unsubscribe_takes_its_list_from_the_consentry_list_metadata() -> None:
    payload = load("subscription-change.json")
    payload["SuppressionReason"] = "ManualSuppression"
    assert postmark_events(payload)[0].list_id is None
    payload["Metadata"]["consentry_list"] = "news"
    (event,) = postmark_events(payload)
    assert event.list_id == "news" and event.detail["origin"] == "Recipient"


def test_a_delivery_is_counted_not_an_objection() -> None:
    (event,) = postmark_events(load("delivery.json"))
    assert event.kind is EventKind.DELIVERED and event.email == "john@example.com"


@pytest.mark.parametrize(("name", "change", "field"), [
    ("bounce.json", lambda p: p.pop("RecordType"), "RecordType"),
    ("bounce.json", lambda p: p.pop("Email"), "Email"),
    ("bounce.json", lambda p: p.pop("Type"), "Type"),
    ("bounce.json", lambda p: p.update(BouncedAt="2019-11-05"), "BouncedAt"),
    ("subscription-change.json", lambda p: p.pop("Recipient"), "Recipient"),
    ("subscription-change.json", lambda p: p.update(SuppressSending="yes"), "SuppressSending"),
])  # fmt: skip
def test_malformed_records_name_the_field(name: str, change: Any, field: str) -> None:
    payload = load(name)
    change(payload)
    with pytest.raises(InputError, match=field):
        postmark_events(payload)

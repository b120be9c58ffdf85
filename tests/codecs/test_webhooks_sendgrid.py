"""The SendGrid codec on the Event Webhook Reference examples: bounce vs blocked, drops caused by
SendGrid's own suppression lists, spam reports, global and group unsubscribes (with and without a
``consentry_list`` custom argument), and malformed batches refused with the field named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consentry.codecs.webhooks.sendgrid import sendgrid_events
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks" / "sendgrid"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_every_documented_event_maps_to_its_kind() -> None:
    kinds = {e.detail["event"]: e.kind for e in sendgrid_events(load("events.json"))}
    assert kinds == {
        "processed": EventKind.OTHER,
        "dropped": EventKind.HARD_BOUNCE,  # reason "Bounced Address"
        "delivered": EventKind.DELIVERED,
        "deferred": EventKind.SOFT_BOUNCE,
        "bounce": EventKind.HARD_BOUNCE,
        "open": EventKind.OTHER,
        "click": EventKind.OTHER,
        "spamreport": EventKind.COMPLAINT,
        "unsubscribe": EventKind.UNSUBSCRIBE,
        "group_unsubscribe": EventKind.UNSUBSCRIBE,
        "group_resubscribe": EventKind.OTHER,
    }


def test_a_bounce_is_hard_and_carries_its_id_time_and_status() -> None:
    (event,) = sendgrid_events(load("bounce.json"))
    assert event.kind is EventKind.HARD_BOUNCE and event.provider == "sendgrid"
    assert event.email == "example@test.com" and event.event_id == "6g4ZI7SA-xmRDv57GoPIPw=="
    assert event.occurred_at == datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)
    assert event.detail["status"] == "5.0.0" and event.detail["type"] == "bounce"
    assert event.detail["reason"] == "500 unknown recipient"


def test_a_blocked_bounce_is_soft() -> None:
    (event,) = sendgrid_events(load("blocked.json"))
    assert event.kind is EventKind.SOFT_BOUNCE


@pytest.mark.parametrize(("status", "kind"), [
    ("5.1.1", EventKind.HARD_BOUNCE), ("4.2.2", EventKind.SOFT_BOUNCE),
    (None, EventKind.HARD_BOUNCE),
])  # fmt: skip
def test_an_untyped_bounce_is_classified_by_its_status(status: str | None, kind: EventKind) -> None:
    (item,) = load("bounce.json")
    del item["type"]
    item["status"] = status
    assert sendgrid_events([item])[0].kind is kind


@pytest.mark.parametrize(("reason", "kind"), [
    ("Bounced Address", EventKind.HARD_BOUNCE), ("Invalid", EventKind.HARD_BOUNCE),
    ("Spam Reporting Address", EventKind.COMPLAINT),
    ("Unsubscribed Address", EventKind.UNSUBSCRIBE),
    ("Spam Content", EventKind.OTHER), ("Recipient List over Package Quota", EventKind.OTHER),
])  # fmt: skip
def test_drops_echo_the_objection_that_caused_them(reason: str, kind: EventKind) -> None:
    dropped = next(e for e in load("events.json") if e["event"] == "dropped")
    dropped["reason"] = reason
    event = sendgrid_events([dropped])[0]
    assert event.kind is kind and event.list_id is None


def _event(name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in load("events.json") if e["event"] == name)
    return found


def test_a_group_unsubscribe_covers_every_list_unless_a_consentry_list_argument_names_one() -> None:
    item = _event("group_unsubscribe")
    (event,) = sendgrid_events([item])
    assert event.kind is EventKind.UNSUBSCRIBE and event.list_id is None
    assert event.detail["asm_group_id"] == "10"
    assert event.detail["via"] == "sendgrid-group_unsubscribe"
    item["consentry_list"] = "news"  # custom args arrive as top-level keys
    assert sendgrid_events([item])[0].list_id == "news"
    del item["consentry_list"]
    item["unique_args"] = {"consentry_list": "offers"}
    assert sendgrid_events([item])[0].list_id == "offers"


def test_a_global_unsubscribe_covers_every_list_even_with_a_list_argument() -> None:
    item = _event("unsubscribe")
    item["consentry_list"] = "news"
    (event,) = sendgrid_events([item])
    assert event.kind is EventKind.UNSUBSCRIBE and event.list_id is None


@pytest.mark.parametrize(("payload", "field"), [
    ({"event": "bounce"}, "SendGrid payload"),
    (["not an object"], r"SendGrid\[0\]"),
    ([{"event": "bounce", "timestamp": 1513299569}], "email"),
    ([{"email": "a@example.com", "timestamp": 1513299569}], "event"),
    ([{"email": "a@example.com", "event": "bounce", "timestamp": "soon"}], "timestamp"),
    ([{"email": "a@example.com", "event": "bounce", "timestamp": True}], "timestamp"),
    ([{"email": "a@example.com", "event": "bounce", "timestamp": 1513299569, "sg_event_id": 5}],
     "sg_event_id"),
])  # fmt: skip
def test_malformed_batches_name_the_field(payload: Any, field: str) -> None:
    with pytest.raises(InputError, match=field):
        sendgrid_events(payload)

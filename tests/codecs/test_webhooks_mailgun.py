"""The Mailgun codec on the documented payloads: the signature part, permanent failures (hard
bounces, or the objection behind a suppression drop), temporary failures, complaints,
unsubscribes (domain-wide or scoped by a ``consentry_list`` user variable), malformed payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consentry.codecs.webhooks.mailgun import mailgun_events, mailgun_signature
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks" / "mailgun"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_signature_part_is_read_as_sent() -> None:
    signed = mailgun_signature(load("delivered.json"))
    assert signed.timestamp == "1529006854"
    assert signed.token == "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    assert signed.signature.startswith("d2271d12") and signed.parent_signature is None


def test_a_permanent_failure_is_a_hard_bounce() -> None:
    (event,) = mailgun_events(load("failed-permanent.json"))
    assert event.kind is EventKind.HARD_BOUNCE and event.provider == "mailgun"
    assert event.email == "recipient@example.com" and event.event_id == "G9Bn5sl1TC6nu79C8C0bwg"
    assert event.occurred_at == datetime.fromtimestamp(1377198389.769129, UTC)
    assert event.detail["code"] == "550" and event.detail["diagnostic"] == "Relay Not Permitted"
    assert event.detail["severity"] == "permanent"


@pytest.mark.parametrize(("reason", "kind"), [
    ("suppress-bounce", EventKind.HARD_BOUNCE),
    ("suppress-complaint", EventKind.COMPLAINT),
    ("suppress-unsubscribe", EventKind.UNSUBSCRIBE),
])  # fmt: skip
def test_a_drop_by_mailguns_suppression_lists_echoes_their_objection(
    reason: str, kind: EventKind
) -> None:
    payload = load("failed-permanent.json")
    payload["event-data"]["reason"] = reason
    (event,) = mailgun_events(payload)
    assert event.kind is kind and event.list_id is None


def test_a_temporary_failure_is_a_soft_bounce() -> None:
    (event,) = mailgun_events(load("failed-temporary.json"))
    assert event.kind is EventKind.SOFT_BOUNCE and event.email == "bar@example.com"


def test_a_complaint() -> None:
    (event,) = mailgun_events(load("complained.json"))
    assert event.kind is EventKind.COMPLAINT and event.email == "foo@example.com"


def test_an_unsubscribe_from_the_whole_domain_covers_every_list() -> None:
    payload = load("unsubscribed.json")
    payload["event-data"]["user-variables"] = {"consentry_list": "news"}
    (event,) = mailgun_events(payload)
    assert event.kind is EventKind.UNSUBSCRIBE and event.list_id is None  # tags ["*"]
    assert event.detail["via"] == "mailgun-unsubscribed"


def test_a_tag_scoped_unsubscribe_takes_the_consentry_list_user_variable() -> None:
    payload = load("unsubscribed.json")
    payload["event-data"]["tags"] = ["newsletter"]
    payload["event-data"]["user-variables"] = {"consentry_list": "news"}
    assert mailgun_events(payload)[0].list_id == "news"
    payload["event-data"]["user-variables"] = {}
    assert mailgun_events(payload)[0].list_id is None


def test_a_delivery_is_counted_not_an_objection() -> None:
    assert mailgun_events(load("delivered.json"))[0].kind is EventKind.DELIVERED


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.pop("event-data"), "event-data"),
    (lambda p: p["event-data"].pop("recipient"), "recipient"),
    (lambda p: p["event-data"].pop("event"), "event"),
    (lambda p: p["event-data"].update(timestamp="later"), "timestamp"),
    (lambda p: p["event-data"].update(severity="mild"), "severity"),
])  # fmt: skip
def test_malformed_events_name_the_field(change: Any, field: str) -> None:
    payload = load("failed-permanent.json")
    change(payload)
    with pytest.raises(InputError, match=field):
        mailgun_events(payload)


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.pop("signature"), "signature"),
    (lambda p: p["signature"].pop("token"), "token"),
    (lambda p: p["signature"].update(timestamp="1529006854.5"), "timestamp"),
])  # fmt: skip
def test_malformed_signatures_name_the_field(change: Any, field: str) -> None:
    payload = load("delivered.json")
    change(payload)
    with pytest.raises(InputError, match=field):
        mailgun_signature(payload)

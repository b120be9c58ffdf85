"""Objections from outside (webhooks, inbound mail) become ledger leaves (R21): hard bounces and
complaints suppress globally, unsubscribes withdraw from their list or from every list; repeats
write nothing; junk is counted, never recorded, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentry.domain.leaves import decode_leaf
from consentry.domain.provider_events import EventKind, ProviderEvent
from consentry.domain.state import GLOBAL_SCOPE, SuppressionReason
from consentry.services import consent
from consentry.services.context import Context
from consentry.services.gate import check_send
from consentry.services.provider_events import record_provider_events
from tests.conftest import FixedClock
from tests.support.audience import LIST, grant_all, organised


@pytest.fixture
def ctx(store: object, tmp_path: Path, clock: FixedClock) -> Context:
    c = organised(store, tmp_path / "home", clock)  # type: ignore[arg-type]
    consent.create_list(c, "offers", "Offers", "test")
    grant_all(c, ["ann@example.org", "bob@example.org", "cy@example.org"])
    return c


def _kinds(ctx: Context, start: int) -> list[tuple[str, dict[str, object]]]:
    leaves = [decode_leaf(s.raw) for s in ctx.store.iter_leaves(start)]
    return [(leaf.kind, dict(leaf.fields)) for leaf in leaves]


def test_hard_bounce_and_complaint_suppress_globally(ctx: Context) -> None:
    start = ctx.store.size()
    counts = record_provider_events(ctx, [
        ProviderEvent(EventKind.HARD_BOUNCE, "ses", email="Ann@Example.org", event_id="m-1",
                      detail={"status": "5.1.1"}),
        ProviderEvent(EventKind.COMPLAINT, "sendgrid", email="bob@example.org"),
    ])  # fmt: skip
    assert counts == {"recorded": 2, "duplicate": 0, "ignored": 0, "rejected": 0}
    written = _kinds(ctx, start)
    assert [(k, f["reason"], f["scope"]) for k, f in written] == [
        ("suppressed", "hard-bounce", GLOBAL_SCOPE), ("suppressed", "complaint", GLOBAL_SCOPE),
    ]  # fmt: skip
    assert written[0][1]["source"] == "webhook:ses"
    assert not check_send(ctx, "ann@example.org", LIST).allowed
    assert check_send(ctx, "bob@example.org", LIST).reason == "suppressed-complaint"
    evidence = ctx.store.evidence(str(written[0][1]["subject"]), str(written[0][1]["evidence"]))
    assert evidence is not None and b'"status":"5.1.1"' in evidence.blob


def test_repeats_are_duplicates_and_write_nothing(ctx: Context) -> None:
    event = ProviderEvent(EventKind.COMPLAINT, "mailgun", email="ann@example.org")
    assert record_provider_events(ctx, [event, event])["recorded"] == 1
    size = ctx.store.size()
    assert record_provider_events(ctx, [event]) == {
        "recorded": 0, "duplicate": 1, "ignored": 0, "rejected": 0,
    }  # fmt: skip
    assert ctx.store.size() == size


def test_unsubscribe_from_a_list_and_from_an_unknown_list(ctx: Context) -> None:
    start = ctx.store.size()
    record_provider_events(ctx, [
        ProviderEvent(EventKind.UNSUBSCRIBE, "postmark", email="ann@example.org", list_id=LIST),
        ProviderEvent(EventKind.UNSUBSCRIBE, "sendgrid", email="bob@example.org",
                      list_id="group-42"),
    ])  # fmt: skip
    written = _kinds(ctx, start)
    assert [(k, f["list"]) for k, f in written] == [
        ("consent-withdrawn", LIST), ("consent-withdrawn", None),  # unknown scope: widened
    ]  # fmt: skip
    assert not check_send(ctx, "ann@example.org", LIST).allowed
    assert not check_send(ctx, "bob@example.org", "offers").allowed
    again = ProviderEvent(EventKind.UNSUBSCRIBE, "postmark", email="ann@example.org", list_id=LIST)
    assert record_provider_events(ctx, [again])["duplicate"] == 1


def test_unsubscribe_by_subject_ref(ctx: Context) -> None:
    _, subject = consent.subject_for(ctx, "cy@example.org")
    event = ProviderEvent(EventKind.UNSUBSCRIBE, "inbound", subject=subject, list_id=LIST,
                          detail={"via": "mailto"})  # fmt: skip
    assert record_provider_events(ctx, [event])["recorded"] == 1
    state = ctx.store.subject_state(subject)
    assert state is not None
    assert any(s.reason is SuppressionReason.WITHDRAWAL for s in state.suppressions)
    kind, fields = _kinds(ctx, ctx.store.size() - 1)[0]
    assert (kind, fields["method"], fields["channel"], fields["source"]) == (
        "consent-withdrawn", "mailto", "email", "inbound-mail",
    )  # fmt: skip


def test_junk_is_counted_not_recorded(ctx: Context) -> None:
    size = ctx.store.size()
    counts = record_provider_events(ctx, [
        ProviderEvent(EventKind.DELIVERED, "ses", email="ann@example.org"),
        ProviderEvent(EventKind.SOFT_BOUNCE, "ses", email="ann@example.org"),
        ProviderEvent(EventKind.HARD_BOUNCE, "ses", email="not an address"),
        ProviderEvent(EventKind.HARD_BOUNCE, "ses"),
        ProviderEvent(EventKind.UNSUBSCRIBE, "inbound", subject="XYZ"),
    ])  # fmt: skip
    assert counts == {"recorded": 0, "duplicate": 0, "ignored": 2, "rejected": 3}
    assert ctx.store.size() == size


def test_an_unknown_address_is_still_suppressed(ctx: Context) -> None:
    """An objection holds if the person turns up later."""
    event = ProviderEvent(EventKind.HARD_BOUNCE, "ses", email="new@example.net")
    assert record_provider_events(ctx, [event])["recorded"] == 1
    state = ctx.store.subject_state(consent.subject_for(ctx, "new@example.net")[1])
    assert state is not None and state.suppressions[0].reason is SuppressionReason.HARD_BOUNCE

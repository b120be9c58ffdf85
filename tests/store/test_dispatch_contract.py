"""The Store contract for campaigns and the dispatch queue (schema 2): every backend (memory,
SQLite, PostgreSQL) must pass all of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from consentry.domain.leaves import LeafDraft
from consentry.ports import ApprovalRow, Batch, CampaignRow, MessageUpdate
from tests.support import builders as b

pytestmark = pytest.mark.timeout(120)
T0 = b.T0


def _campaign(name: str = "spring") -> tuple[LeafDraft, CampaignRow]:
    leaf = LeafDraft("campaign-created", T0, {
        "campaign": name, "list": "news", "template_class": "marketing", "jurisdiction": "uk",
        "content": b.NOTICE, "sender": "news@example.com", "actor": "t",
    })  # fmt: skip
    row = CampaignRow(name, "news", "marketing", "uk", "draft", {"subject": "S", "n": 1},
                      b.NOTICE, T0)  # fmt: skip
    return leaf, row


def _decided(store: Any, subject: str, state: str = "decided", allowed: bool = True) -> int:
    leaf = LeafDraft("send-decided", T0, {
        "campaign": "spring", "message": f"m.{subject[:8]}@example.com", "subject": subject,
        "template_class": "marketing", "allowed": allowed, "reason": "consent-given",
        "basis": "consent", "justifying_index": 0, "justifying_hash": b.NOTICE,
        "ruleset": "r", "jurisdiction": "uk", "checked_size": 1, "attempt": 1,
    })  # fmt: skip
    result = store.append(Batch(leaves=[leaf], messages=[
        MessageUpdate("spring", subject, state, 0, 1)]))  # fmt: skip
    index: int = result.refs[0].index
    return index


@pytest.fixture
def seeded(store: Any) -> Any:
    store.append(Batch(leaves=[b.list_created("news")]))
    for n in range(5):
        store.append(b.grant_batch(b.subject(n)))
    store.append(b.grant_batch(b.subject("other"), "other"))
    leaf, row = _campaign()
    store.append(Batch(leaves=[leaf], campaigns=[row]))
    return store


def test_a_campaign_is_stored_with_its_leaf_and_its_state_moves_only_as_allowed(
    seeded: Any,
) -> None:
    row = seeded.campaign("spring")
    assert (row.list_id, row.state, row.created_at) == ("news", "draft", T0)
    assert row.spec == {"subject": "S", "n": 1}
    assert row.created_index == 7 and seeded.campaign_state("spring") == "draft"
    assert [c.campaign_id for c in seeded.campaigns()] == ["spring"]
    assert seeded.campaign("nope") is None and seeded.campaign_state("nope") is None
    assert seeded.set_campaign_state("spring", "sending", ("draft",)) == "draft"
    assert seeded.set_campaign_state("spring", "done", ("draft",)) == "sending"  # refused
    assert seeded.campaign_state("spring") == "sending"
    assert seeded.set_campaign_state("nope", "sending", ("draft",)) == ""


def test_approvals_name_their_leaf(seeded: Any) -> None:
    leaf = LeafDraft("campaign-approved", T0, {
        "campaign": "spring", "report": b.NOTICE, "recipients": 5, "content": b.NOTICE,
        "actor": "alice",
    })  # fmt: skip
    filler = b.list_created("later")
    seeded.append(Batch(leaves=[filler, leaf],
                        approvals=[ApprovalRow("spring", "alice", b.NOTICE, 5, 1)]))  # fmt: skip
    (approval,) = seeded.approvals("spring")
    assert (approval.actor, approval.recipients, approval.leaf_index) == ("alice", 5, 9)
    assert seeded.approvals("other") == []


def test_the_queue_holds_each_person_of_the_list_once_and_claims_are_disjoint(
    seeded: Any,
) -> None:
    assert seeded.enqueue_campaign("spring", "news") == 5
    assert seeded.enqueue_campaign("spring", "news") == 0  # idempotent
    assert seeded.message_counts("spring") == {"queued": 5}
    first = seeded.claim_messages("spring", "w1", 3, T0)
    second = seeded.claim_messages("spring", "w2", 3, T0)
    assert len(first) == 3 and len(second) == 2
    assert {m.subject for m in first}.isdisjoint(m.subject for m in second)
    assert {m.subject for m in first + second} == {b.subject(n) for n in range(5)}
    claimed = first[0]
    assert claimed.literal and claimed.canonical and claimed.attempts == 0
    assert seeded.claim_messages("spring", "w3", 3, T0) == []
    assert seeded.message_counts("spring") == {"claimed": 5}
    seeded.release_messages("spring", [m.subject for m in second])
    assert seeded.message_counts("spring") == {"claimed": 3, "queued": 2}


def test_queue_rows_move_with_their_leaves_and_retries_wait_for_their_time(
    seeded: Any,
) -> None:
    seeded.enqueue_campaign("spring", "news")
    a, c = seeded.claim_messages("spring", "w1", 2, T0)
    index = _decided(seeded, a.subject)
    seeded.mark_handing("spring", [a.subject])
    (handing,) = seeded.messages_in_state("spring", "handing")
    assert handing.decided_index == index
    later = T0 + timedelta(minutes=5)
    seeded.append(Batch(messages=[
        MessageUpdate("spring", a.subject, "sent"),
        MessageUpdate("spring", c.subject, "queued", None, 1, later, "451 try later"),
    ]))  # fmt: skip
    assert seeded.message_counts("spring") == {"sent": 1, "queued": 4}
    due_now = {m.subject for m in seeded.claim_messages("spring", "w1", 10, T0)}
    assert c.subject not in due_now and len(due_now) == 3
    again = seeded.claim_messages("spring", "w1", 10, later)
    assert [m.subject for m in again] == [c.subject] and again[0].attempts == 1


def test_dead_workers_leave_claimed_and_decided_rows_to_the_queue_and_handing_ones_uncertain(
    seeded: Any,
) -> None:
    seeded.enqueue_campaign("spring", "news")
    seeded.heartbeat("alive", "spring", T0 + timedelta(minutes=1))
    seeded.heartbeat("dead", "spring", T0)
    mine = seeded.claim_messages("spring", "dead", 3, T0)
    seeded.claim_messages("spring", "alive", 1, T0)
    _decided(seeded, mine[1].subject)
    _decided(seeded, mine[2].subject)
    seeded.mark_handing("spring", [mine[2].subject])
    assert seeded.stale_workers("spring", T0 + timedelta(seconds=30)) == ["dead"]
    orphans = seeded.orphaned_messages("spring", ["dead"])
    assert [o.subject for o in orphans] == [mine[2].subject]
    assert seeded.message_counts("spring") == {"queued": 3, "claimed": 1, "handing": 1}
    seeded.forget_workers(["dead"])
    seeded.forget_workers(["alive"])
    assert seeded.stale_workers("spring", T0) == ["alive", "dead"]  # claimers unknown now


def test_objections_since_an_index_and_the_kill_switch(seeded: Any) -> None:
    start = seeded.size()
    assert seeded.objections_since(start) == (start, [])
    seeded.append(Batch(leaves=[b.withdrawn(b.subject(1)), b.suppressed(b.subject(2))]))
    seeded.append(Batch(leaves=[b.erased(b.subject(3)), b.list_created("x")]))
    size, found = seeded.objections_since(start)
    assert size == start + 4
    assert found == [(start, b.subject(1)), (start + 1, b.subject(2)), (start + 2, b.subject(3))]
    assert seeded.objections_since(start + 2) == (size, [(start + 2, b.subject(3))])
    assert seeded.control("halted") is None
    seeded.append(Batch(controls=[("halted", "incident")]))
    assert seeded.control("halted") == "incident"
    seeded.append(Batch(controls=[("halted", None)]))
    assert seeded.control("halted") is None


def test_enqueue_queues_one_message_and_requeues_only_a_finished_one(seeded: Any) -> None:
    """Batch.enqueue (double opt-in confirmations): a new row is queued; a row in flight is left
    alone; a finished row is queued again with its attempts kept."""
    fresh, other = b.subject("fresh"), b.subject(0)
    seeded.append(Batch(leaves=b.grant_batch(fresh).leaves, enqueue=[("spring", fresh)]))
    assert seeded.message_counts("spring") == {"queued": 1}
    claimed = seeded.claim_messages("spring", "w1", 10, T0)
    assert [c.subject for c in claimed] == [fresh]
    seeded.append(Batch(enqueue=[("spring", fresh)]))  # in flight: untouched
    assert seeded.message_counts("spring") == {"claimed": 1}
    _decided(seeded, fresh)
    seeded.append(Batch(enqueue=[("spring", fresh)]))  # decided: still in flight
    assert seeded.message_counts("spring") == {"decided": 1}
    sent = LeafDraft("send-handed-off", T0, {
        "campaign": "spring", "message": "m@example.com", "subject": fresh, "decision": 0,
        "outcome": "sent", "code": 250, "enhanced": "2.0.0", "reply": "ok", "stage": "data",
    })  # fmt: skip
    seeded.append(Batch(leaves=[sent], messages=[MessageUpdate("spring", fresh, "sent", 0)]))
    seeded.append(Batch(enqueue=[("spring", fresh), ("spring", other)]))
    assert seeded.message_counts("spring") == {"queued": 2}
    again = {c.subject: c.attempts for c in seeded.claim_messages("spring", "w1", 10, T0)}
    assert again == {fresh: 1, other: 0}

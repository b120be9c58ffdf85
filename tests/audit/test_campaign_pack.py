"""The campaign evidence pack on the seed case: the proportion validly sent equals a count made
here from the population (not from the ledger), for the old provider's campaign and for the one
the real dispatcher sent; sends after an objection are caught, those within the grace are not."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from consentry.cli.audit_cmds import csv_sink
from consentry.domain.errors import UnknownCampaign
from consentry.keys.notes import verify_checkpoint_note
from consentry.services import campaigns, consent
from consentry.services.audit_campaign import CSV_HEADER, campaign_pack
from consentry.services.context import Context
from tests.audit.support import (
    BOUNCE,
    CAMPAIGN,
    LEGACY,
    UNCERTAIN,
    build,
    consent_ref,
    inject_send,
    later,
    subject_of,
)
from tests.conftest import FixedClock
from tests.support.audience import LIST, campaign_spec, grant_all


def test_the_old_providers_campaign_is_valid_only_for_people_with_evidence_and_no_objection(
    ctx: Context, clock: FixedClock
) -> None:
    pop = build(ctx, clock)
    pack = campaign_pack(ctx, LEGACY)
    sent = pop.with_evidence + pop.imported + pop.unsubscribed
    valid = [e for e in sent if e in pop.with_evidence]  # evidence, and no objection before
    assert (pack.handed_off, pack.validly_sent) == (len(sent), len(valid))
    assert pack.proportion_validly_sent == pytest.approx(len(valid) / len(sent))
    assert pack.by_problem == {
        "missing-evidence": len(pop.imported),
        "suppressed-unsubscribe": len(pop.unsubscribed),
    }
    invalid = {row["subject"]: row["problem"] for row in pack.invalid}
    assert invalid == {pop.subjects[e]: "missing-evidence" for e in pop.imported} | {
        pop.subjects[e]: "suppressed-unsubscribe" for e in pop.unsubscribed
    }
    # the old provider mailed people whose unsubscribes it held: sent after an objection
    assert pack.sent_after_objection == len(pop.unsubscribed)
    assert {r["subject"] for r in pack.after_objection} == {
        pop.subjects[e] for e in pop.unsubscribed
    }


def test_the_dispatchers_campaign_is_wholly_valid_and_counts_match_the_population(
    ctx: Context, clock: FixedClock
) -> None:
    pop = build(ctx, clock)
    pack = campaign_pack(ctx, CAMPAIGN)
    assert pop.outbox is not None
    delivered = [e.recipient for e in pop.outbox.delivered]  # accepted, or uncertain
    expected = [e for e in pop.with_evidence if e != BOUNCE]
    assert sorted(delivered) == sorted(expected)
    assert (pack.handed_off, pack.validly_sent) == (len(expected), len(expected))
    assert pack.proportion_validly_sent == 1.0
    assert pack.recipients == len(pop.everyone)
    assert pack.sent_after_objection == 0 and pack.invalid_allows == 0
    assert pack.allowed_without_justifying_record == 0
    assert pack.by_basis == {"consent": len(pop.with_evidence)}
    assert pack.by_deny_reason == {
        "missing-evidence": len(pop.imported),
        "suppressed-unsubscribe": len(pop.unsubscribed),
        "suppressed-withdrawal": len(pop.withdrew),
    }
    denied = len(pop.imported) + len(pop.unsubscribed) + len(pop.withdrew)
    assert pack.by_jurisdiction == {"uk": {"allowed": len(pop.with_evidence), "denied": denied}}
    assert pack.outcomes == {"accepted": len(expected) - 1, "uncertain": 1, "rejected": 1}
    assert [r["subject"] for r in pack.uncertain_rows] == [pop.subjects[UNCERTAIN]]
    assert pack.uncertain == 1


def test_the_pack_names_the_signed_checkpoint_it_was_computed_against(
    ctx: Context, clock: FixedClock
) -> None:
    build(ctx, clock, small=True)
    pack = campaign_pack(ctx, CAMPAIGN)
    latest = ctx.store.latest_checkpoint()
    assert latest is not None and pack.checkpoint["note"] == latest.note
    signed = verify_checkpoint_note(latest.note, [ctx.keys.verifier_key()])
    assert (signed.size, signed.root.hex()) == (pack.checkpoint["size"], pack.checkpoint["root"])
    assert pack.to_json()["checkpoint"]["size"] == ctx.store.size()


def test_the_csv_has_a_row_per_decision_with_its_consent_and_handoff(
    ctx: Context, clock: FixedClock
) -> None:
    pop = build(ctx, clock, small=True)
    out = io.StringIO()
    pack = campaign_pack(ctx, CAMPAIGN, csv_sink(out))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(CSV_HEADER)
    assert len(rows) == pack.decisions == len(pop.everyone)
    bob = next(r for r in rows if r["subject"] == pop.subjects["bob@example.org"])
    assert (bob["allowed"], bob["basis"], bob["outcome"], bob["valid"]) == (
        "True", "consent", "accepted", "True",
    )  # fmt: skip
    assert int(bob["justifying_index"]) == consent_ref(ctx, "bob@example.org").index
    imported = next(r for r in rows if r["subject"] == pop.subjects[pop.imported[0]])
    assert (imported["allowed"], imported["reason"], imported["consent_evidence"]) == (
        "False", "missing-evidence", "False",
    )  # fmt: skip


def test_a_decision_is_judged_on_the_state_it_read_not_the_one_at_its_own_index(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, ["early@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    now = clock.now()
    # read the ledger, then a withdrawal lands before the decision is appended: the decision
    # was right on what it read (the gate re-checks at handoff)
    read = ctx.store.size()
    consent.withdraw_consent(ctx, "early@example.org", LIST, "web", "one-click", "x", "t")
    early = subject_of(ctx, "early@example.org")
    ref = consent_ref_before(ctx, early)
    inject_send(ctx, CAMPAIGN, early, now, ref, checked_size=read, outcome=None)
    # read the ledger, then a consent lands: the decision had no consent to rely on
    read = ctx.store.size()
    grant_all(ctx, ["newcomer@example.org"])
    inject_send(
        ctx, CAMPAIGN, subject_of(ctx, "newcomer@example.org"), now,
        consent_ref(ctx, "newcomer@example.org"), checked_size=read, outcome=None,
    )  # fmt: skip
    pack = campaign_pack(ctx, CAMPAIGN)
    problems = {row["subject"]: row["problem"] for row in pack.invalid}
    assert problems == {subject_of(ctx, "newcomer@example.org"): "unknown-subject"}
    assert pack.invalid_allows == 1 and pack.decisions == 2


def consent_ref_before(ctx: Context, subject: str):  # type: ignore[no-untyped-def]
    state = ctx.store.subject_state(subject)
    assert state is not None
    return state.consents[LIST].justifying


def test_a_handoff_after_an_objection_is_caught_and_one_within_the_grace_is_not(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, ["stale@example.org", "near@example.org", "fine@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    stale, near = subject_of(ctx, "stale@example.org"), subject_of(ctx, "near@example.org")
    stale_ref = consent_ref(ctx, "stale@example.org")
    near_ref = consent_ref(ctx, "near@example.org")
    read = ctx.store.size()
    t = clock.now()
    consent.withdraw_consent(ctx, "stale@example.org", LIST, "web", "one-click", "x", "t")
    # decided 5 s after the withdrawal on a stale read: handed off long after the grace
    inject_send(ctx, CAMPAIGN, stale, later(t, 5), stale_ref, checked_size=read)
    # decided before the objection, recorded 3 s later: the ledger cannot tell when it began
    decided, _ = inject_send(ctx, CAMPAIGN, near, later(t, 6), near_ref, outcome=None)
    clock.advance(seconds=6.1)
    consent.withdraw_consent(ctx, "near@example.org", LIST, "web", "one-click", "x", "t")
    handoff_for(ctx, decided, later(t, 9))
    inject_send(ctx, CAMPAIGN, subject_of(ctx, "fine@example.org"), later(t, 10),
                consent_ref(ctx, "fine@example.org"))  # fmt: skip
    pack = campaign_pack(ctx, CAMPAIGN)
    assert pack.sent_after_objection == 1 and [r["subject"] for r in pack.after_objection] == [
        stale
    ]
    assert pack.near_objection == 1 and [r["subject"] for r in pack.near] == [near]
    assert (pack.handed_off, pack.validly_sent) == (3, 2)
    assert pack.by_problem == {"sent-after-objection": 1}


def handoff_for(ctx: Context, decided: int, at) -> None:  # type: ignore[no-untyped-def]
    from consentry.domain.leaves import LeafDraft, decode_leaf
    from consentry.ports import Batch
    from consentry.services.ledger import append_sealed

    d = decode_leaf(ctx.store.leaf(decided).raw).fields
    append_sealed(ctx, Batch(leaves=[LeafDraft("send-handed-off", at, {
        "campaign": d["campaign"], "message": d["message"], "subject": d["subject"],
        "decision": decided, "outcome": "accepted", "code": 250, "enhanced": None,
        "reply": "250 OK", "stage": "dot",
    })]))  # fmt: skip


def test_handoffs_naming_no_allow_are_not_validly_sent(ctx: Context, clock: FixedClock) -> None:
    grant_all(ctx, ["a@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    a = subject_of(ctx, "a@example.org")
    denied, _ = inject_send(ctx, CAMPAIGN, a, clock.now(), None, allowed=False, outcome=None)
    handoff_for(ctx, denied, clock.now())  # sent although denied
    decided, _ = inject_send(ctx, CAMPAIGN, a, clock.now(), consent_ref(ctx, "a@example.org"))
    handoff_for(ctx, decided, clock.now())  # a second copy of one decision
    pack = campaign_pack(ctx, CAMPAIGN)
    assert (pack.handed_off, pack.validly_sent, pack.handoff_problems) == (3, 1, 2)
    assert pack.by_problem == {"decision-denied": 1, "duplicate-handoff": 1}


def test_the_pack_is_derived_from_the_ledger_not_the_dispatch_queue(
    tmp_path: Path, clock: FixedClock
) -> None:
    from functools import partial

    from consentry.store.sqlite import SQLiteStore
    from tests.audit.support import organised_ctx

    path = tmp_path / "q.sqlite"
    ctx = organised_ctx(SQLiteStore(path), tmp_path, clock, partial(SQLiteStore, path))
    try:
        build(ctx, clock, small=True)
        before = campaign_pack(ctx, CAMPAIGN).to_json()
        conn = sqlite3.connect(path)  # the queue says everything was sent: the pack must not care
        conn.execute("UPDATE campaign_messages SET state = 'sent'")
        conn.commit()
        conn.close()
        after = campaign_pack(ctx, CAMPAIGN).to_json()
        for key in ("recipients", "handed_off", "validly_sent", "by_deny_reason", "outcomes"):
            assert before[key] == after[key]
        assert campaigns.campaign_status(ctx, CAMPAIGN)["denied"] == 0  # the queue did change
    finally:
        ctx.store.close()


def test_an_unknown_campaign_is_refused_by_name(ctx: Context, clock: FixedClock) -> None:
    with pytest.raises(UnknownCampaign, match="no campaign named 'nope'"):
        campaign_pack(ctx, "nope")


def test_the_root_is_recomputed_beside_the_replay_and_a_changed_leaf_stops_the_pack(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functools import partial

    from consentry.domain.errors import VerificationFailed
    from consentry.store.sqlite import SQLiteStore
    from tests.audit.support import organised_ctx

    monkeypatch.setattr("consentry.services.audit_root.PARALLEL_FROM", 1)
    path = tmp_path / "r.sqlite"
    ctx = organised_ctx(SQLiteStore(path), tmp_path, clock, partial(SQLiteStore, path))
    try:
        build(ctx, clock, small=True)
        assert campaign_pack(ctx, CAMPAIGN).validly_sent > 0  # the root came from a worker
        conn = sqlite3.connect(path)
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f'DROP TRIGGER "{name}"')
        (leaf,) = conn.execute("SELECT leaf FROM ledger_leaves WHERE seq = 8").fetchone()
        forged = bytes(leaf).replace(b"web-form", b"web-fork")  # an attacker edits a consent
        conn.execute("UPDATE ledger_leaves SET leaf = ? WHERE seq = 8", (forged,))
        conn.commit()
        conn.close()
        with pytest.raises(VerificationFailed, match="do not reproduce the root"):
            campaign_pack(ctx, CAMPAIGN)
    finally:
        ctx.store.close()

"""The subject evidence pack (R33): consents with the notice text and the evidence, messages with
their decisions and handoffs, objections, and inclusion proofs anyone can check."""

from __future__ import annotations

from consentry.domain.merkle import verify_inclusion
from consentry.services import consent
from consentry.services.audit_subject import subject_pack
from consentry.services.context import Context
from tests.audit.support import CAMPAIGN, LEGACY, build
from tests.conftest import FixedClock


def test_bob_has_his_consent_with_notice_and_evidence_his_messages_and_proofs(
    ctx: Context, clock: FixedClock
) -> None:
    build(ctx, clock, small=True)
    consent.withdraw_consent(ctx, "bob@example.org", None, "web", "one-click", "first-party", "t")
    pack = subject_pack(ctx, "Bob@Example.org")
    assert pack["address"] == "bob@example.org" and pack["canonical"] == "bob@example.org"
    (given,) = pack["consents"]
    assert given["notice_text"] == "Email me the monthly news."
    assert '"ip":"203.0.113.1"' in given["evidence"]
    assert [(m["campaign"], m["allowed"], m["outcome"]) for m in pack["messages"]] == [
        (LEGACY, True, "accepted"), (CAMPAIGN, True, "accepted"),
    ]  # fmt: skip
    assert all(m["justifying_index"] == given["index"] for m in pack["messages"])
    assert [(o["kind"], o["scope"]) for o in pack["objections"]] == [("consent-withdrawn", "*")]
    cp = pack["checkpoint"]
    assert cp["size"] == ctx.store.size()
    root = bytes.fromhex(cp["root"])
    for event in pack["events"]:  # checked here with nothing but the proof and the root
        proof = event["proof"]
        path = [bytes.fromhex(h) for h in proof["path"]]
        leaf_hash = bytes.fromhex(event["leaf_hash"])
        assert verify_inclusion(leaf_hash, event["index"], cp["size"], path, root)
        assert proof["verified"] is True


def test_someone_the_ledger_never_saw_gets_an_empty_pack(ctx: Context, clock: FixedClock) -> None:
    build(ctx, clock, small=True)
    pack = subject_pack(ctx, "nobody@example.org")
    assert pack["address"] is None and pack["state"] is None
    assert pack["consents"] == pack["messages"] == pack["objections"] == []


def test_an_imported_consent_shows_that_there_is_no_evidence(
    ctx: Context, clock: FixedClock
) -> None:
    pop = build(ctx, clock, small=True)
    pack = subject_pack(ctx, pop.imported[0])
    (given,) = pack["consents"]
    assert given["fields"]["source"] == "import:oldesp" and "evidence" not in given
    legacy, ours = pack["messages"]
    assert (legacy["allowed"], ours["allowed"], ours["reason"]) == (True, False, "missing-evidence")

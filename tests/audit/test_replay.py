"""``audit replay``: an export verified offline against trusted checkpoints (R7). A clean ledger
reports zero; each injected bad decision is reported with its reason; tampering with the export
or the checkpoints is caught."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest

from consentry.domain.leaves import LeafDraft, format_time
from consentry.domain.state import LeafRef
from consentry.keys.notes import verify_checkpoint_note
from consentry.mail.outbox import Outbox
from consentry.ports import Batch
from consentry.services import campaigns, consent
from consentry.services.audit_replay import ReplayReport, replay_export
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_campaign
from consentry.services.ledger import append_sealed, export_lines
from tests.audit.support import BASE, CAMPAIGN, build, consent_ref, inject_send, subject_of
from tests.cli.conftest import Runner
from tests.conftest import FixedClock
from tests.support.audience import LIST, campaign_spec, grant_all, notice
from tests.support.builders import consent_fields


def export(ctx: Context) -> list[bytes]:
    return list(export_lines(ctx))


def notes(ctx: Context) -> list[str]:
    return [cp.note for cp in ctx.store.checkpoints()]


def replay(ctx: Context, lines: Iterable[bytes], trusted: list[str] | None = None) -> ReplayReport:
    kept = list(lines)
    key = ctx.keys.verifier_key()

    def verify(note: str) -> tuple[str, int, bytes]:
        cp = verify_checkpoint_note(note, [key])
        return cp.origin, cp.size, cp.root

    return replay_export(lambda: iter(kept), notes(ctx) if trusted is None else trusted, verify)


def clean_campaign(ctx: Context, clock: FixedClock) -> None:
    grant_all(ctx, [f"p{i}@example.org" for i in range(30)])
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    consent.withdraw_consent(ctx, "p7@example.org", None, "web", "one-click", "x", "t")
    outbox = Outbox(script={"p3@example.org": "uncertain", "p4@example.org": (550, "5.1.1", "x")})
    send_campaign(ctx, CAMPAIGN, outbox, BASE, options=DispatchOptions(batch=7))


def test_a_clean_ledger_reports_zero(ctx: Context, clock: FixedClock) -> None:
    clean_campaign(ctx, clock)
    report = replay(ctx, export(ctx))
    assert report.ok, report.to_json()
    assert (len(report.invalid), len(report.after_objection), report.problems) == (0, 0, [])
    assert report.decisions == 30 and report.allowed == 29 and report.handed_off == 28
    assert report.leaves == ctx.store.size()
    assert {c["status"] for c in report.checkpoints} == {"ok"}


def write_leaf(ctx: Context, kind: str, at, fields: dict) -> LeafRef:  # type: ignore[no-untyped-def]
    return append_sealed(ctx, Batch(leaves=[LeafDraft(kind, at, fields)])).refs[0]


def test_each_injected_bad_decision_is_reported_with_its_reason(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, ["ok@example.org", "gone@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    t = clock.now()
    text = notice(ctx)
    # sent with no consent at all
    stranger = hashlib.sha256(b"stranger").hexdigest()
    bad = {inject_send(ctx, CAMPAIGN, stranger, t, None)[0]: "unknown-subject"}
    # sent after a withdrawal
    gone = subject_of(ctx, "gone@example.org")
    ref = consent_ref(ctx, "gone@example.org")
    consent.withdraw_consent(ctx, "gone@example.org", LIST, "web", "one-click", "x", "t")
    bad[inject_send(ctx, CAMPAIGN, gone, t, ref)[0]] = "suppressed-withdrawal"
    # sent on a consent that had expired
    short = hashlib.sha256(b"short").hexdigest()
    until = format_time(t + timedelta(days=1))
    ref = write_leaf(ctx, "consent-given", t, consent_fields(short, notice=text, valid_until=until))
    bad[inject_send(ctx, CAMPAIGN, short, t + timedelta(days=2), ref)[0]] = "consent-expired"
    # sent on a basis the profile forbids (US opt-out, for a UK organisation)
    optout = hashlib.sha256(b"optout").hexdigest()
    fields = consent_fields(optout, notice=text, basis="us_optout")
    ref = write_leaf(ctx, "consent-given", t, fields)
    late = t + timedelta(days=2)
    bad[inject_send(ctx, CAMPAIGN, optout, late, ref, basis="us_optout")[0]] = "basis-forbidden"
    # a justifying leaf that is not the subject's consent
    ok = subject_of(ctx, "ok@example.org")
    other = LeafRef(ref.index, ref.hash)
    bad[inject_send(ctx, CAMPAIGN, ok, late, other)[0]] = "justifying-leaf-mismatch"
    # and one good decision among them
    inject_send(ctx, CAMPAIGN, ok, late, consent_ref(ctx, "ok@example.org"))
    report = replay(ctx, export(ctx))
    assert not report.ok
    assert {row["decision_index"]: row["problem"] for row in report.invalid} == bad
    assert report.allowed == 6 and report.handed_off == 6
    assert all(row["campaign"] == CAMPAIGN for row in report.invalid)
    assert [r["decision_index"] for r in report.after_objection] == [
        i for i, why in bad.items() if why == "suppressed-withdrawal"
    ]


def test_the_seed_case_replay_lists_the_old_providers_unlawful_sends(
    ctx: Context, clock: FixedClock
) -> None:
    pop = build(ctx, clock, small=True)
    report = replay(ctx, export(ctx))
    expected = len(pop.imported) + len(pop.unsubscribed)
    assert len(report.invalid) == expected
    assert report.by_problem["missing-evidence"] == len(pop.imported)
    assert report.by_problem["suppressed-unsubscribe"] == len(pop.unsubscribed)
    assert {row["campaign"] for row in report.invalid} == {"winter-news"}


def test_a_decision_read_before_a_concurrent_consent_is_judged_on_what_it_read(
    ctx: Context, clock: FixedClock
) -> None:
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    read = ctx.store.size()
    grant_all(ctx, ["newcomer@example.org"])  # lands between the read and the decision
    decided, _ = inject_send(
        ctx, CAMPAIGN, subject_of(ctx, "newcomer@example.org"), clock.now(),
        consent_ref(ctx, "newcomer@example.org"), checked_size=read,
    )  # fmt: skip
    report = replay(ctx, export(ctx))
    assert [(r["decision_index"], r["problem"]) for r in report.invalid] == [
        (decided, "unknown-subject")
    ]


def test_a_changed_leaf_fails_every_checkpoint_from_its_position(
    ctx: Context, clock: FixedClock
) -> None:
    clean_campaign(ctx, clock)
    lines = export(ctx)
    lines[5] = lines[5].replace(b'"actor":"test"', b'"actor":"evil"')
    report = replay(ctx, lines)
    assert not report.ok
    bad = [c for c in report.checkpoints if c["status"] == "root-mismatch"]
    first_after = min(c["size"] for c in report.checkpoints if c["size"] > 5)
    assert bad and min(c["size"] for c in bad) == first_after
    assert len(bad) == sum(1 for c in report.checkpoints if c["size"] > 5)
    assert all(c["status"] == "ok" for c in report.checkpoints if c["size"] <= 5)


def test_removed_leaves_and_a_forged_or_split_checkpoint_are_reported(
    ctx: Context, clock: FixedClock
) -> None:
    clean_campaign(ctx, clock)
    lines = export(ctx)
    cut = replay(ctx, lines[:-3])
    assert any("leaves were removed" in p for p in cut.problems)
    assert any(c["status"] == "beyond-export" for c in cut.checkpoints)
    forged = notes(ctx)[-1].replace("\u2014 consentry.local/test ", "\u2014 consentry.local/test A")
    assert any("signature" in p for p in replay(ctx, lines, [forged]).problems)
    split = ctx.keys.sign_checkpoint(len(lines), hashlib.sha256(b"other").digest())
    report = replay(ctx, lines, [notes(ctx)[-1], split])
    assert any("split view" in p for p in report.problems)


def test_a_reordered_line_is_out_of_place(ctx: Context, clock: FixedClock) -> None:
    clean_campaign(ctx, clock)
    lines = export(ctx)
    lines[3], lines[4] = lines[4], lines[3]
    report = replay(ctx, lines)
    assert any("out of place" in p for p in report.problems)


@pytest.fixture
def files(ctx: Context, clock: FixedClock, tmp_path: Path) -> tuple[Path, Path]:
    clean_campaign(ctx, clock)
    ledger_file = tmp_path / "ledger.jsonl"
    ledger_file.write_bytes(b"".join(export(ctx)))
    checkpoints = tmp_path / "checkpoints.txt"
    checkpoints.write_text("\n".join(notes(ctx)[::3]), encoding="utf-8")
    return ledger_file, checkpoints


@pytest.mark.parametrize("ctx", ["memory"], indirect=True)
def test_the_cli_exits_zero_on_a_clean_export_and_forty_on_a_bad_one(
    ctx: Context, files: tuple[Path, Path], run: Runner
) -> None:
    ledger_file, checkpoints = files
    key = ctx.keys.verifier_key()
    good = run("audit", "replay", str(ledger_file), "--checkpoints", str(checkpoints),
               "--key", key, "--json")  # fmt: skip
    assert good.code == 0, good.err
    assert good.json()["ok"] and good.json()["invalid_decisions"] == 0
    no_key = run("audit", "replay", str(ledger_file), "--checkpoints", str(checkpoints))
    assert no_key.code == 3 and "no verifier key" in no_key.err
    checkpoints.write_text(key + "\n" + checkpoints.read_text(encoding="utf-8"), "utf-8")
    from_file = run("audit", "replay", str(ledger_file), "--checkpoints", str(checkpoints))
    assert from_file.code == 0 and "taken from the checkpoint file" in from_file.out
    inject_send(ctx, CAMPAIGN, hashlib.sha256(b"x").hexdigest(), ctx.clock.now(), None)
    ledger_file.write_bytes(b"".join(export(ctx)))
    bad = run("audit", "replay", str(ledger_file), "--checkpoints", str(checkpoints), "--json")
    assert bad.code == 40
    assert bad.json()["invalid"][0]["problem"] == "unknown-subject"

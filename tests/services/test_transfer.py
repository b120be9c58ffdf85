"""Provider migration (issue 5, R23-R26) on consentry's own JSON Lines format: suppressions
first and never lifted, native records never overwritten, evidence kept or flagged, scopes
widened never dropped, every row accounted for, the import recorded with its hash and root;
export, reconcile and the cutover guard."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consentry.domain.errors import CampaignStateError
from consentry.domain.leaves import decode_leaf
from consentry.domain.merkle_core import StreamingRoot
from consentry.services import campaigns, consent
from consentry.services.context import Context
from consentry.services.gate import check_send
from consentry.services.transfer_export import export_file
from consentry.services.transfer_import import import_file
from consentry.services.transfer_reconcile import cutover, reconcile, require_cutover
from tests.conftest import FixedClock
from tests.support.audience import LIST, campaign_spec, grant_all, organised

HEADER = {"format": "consentry-transfer", "version": 1}


def write(path: Path, rows: list[dict[str, Any]], header: dict[str, Any] | None = None) -> Path:
    lines = [json.dumps(header or HEADER)] + [json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(email: str, state: str, scope: str = "*", **evidence: str) -> dict[str, Any]:
    return {"email": email, "state": state, "scope": scope, "at": None, "evidence": evidence}


@pytest.fixture
def ctx(store: object, tmp_path: Path, clock: FixedClock) -> Context:
    return organised(store, tmp_path / "home", clock)  # type: ignore[arg-type]


EVIDENCE = {"optin_time": "2026-01-10 10:00:00", "optin_ip": "198.51.100.3"}


def test_suppressions_apply_first_and_an_import_never_lifts_them(
    ctx: Context, tmp_path: Path
) -> None:
    # the consent comes first in the file, the unsubscribe after: the unsubscribe still wins
    path = write(tmp_path / "a.jsonl", [
        row("ann@example.org", "consented", LIST, **EVIDENCE),
        row("ann@example.org", "unsubscribed", LIST),
        row("bob@example.org", "complained"),
    ])  # fmt: skip
    report = import_file(ctx, path, list_id=LIST)
    assert (report.read, report.applied, report.duplicate, report.rejected) == (3, 3, 0, 0)
    kinds = [decode_leaf(s.raw).kind for s in ctx.store.iter_leaves()][-5:]
    assert kinds == [
        "notice-published", "suppressed", "suppressed", "consent-given", "import-recorded",
    ]  # fmt: skip
    assert check_send(ctx, "ann@example.org", LIST).reason == "suppressed-unsubscribe"
    assert check_send(ctx, "bob@example.org", LIST).reason == "suppressed-complaint"


def test_native_records_are_never_overwritten(ctx: Context, tmp_path: Path) -> None:
    grant_all(ctx, ["own@example.org"])
    before = ctx.store.subject_state(consent.subject_for(ctx, "own@example.org")[1])
    path = write(tmp_path / "b.jsonl", [row("Own@Example.org", "consented", LIST, **EVIDENCE)])
    report = import_file(ctx, path, list_id=LIST)
    assert (report.applied, report.duplicate) == (0, 1)
    assert ctx.store.subject_state(consent.subject_for(ctx, "own@example.org")[1]) == before


def test_evidence_is_kept_or_flagged_and_old_consent_stays_old(
    ctx: Context, tmp_path: Path, clock: FixedClock
) -> None:
    old = (clock.now() - timedelta(days=800)).strftime("%Y-%m-%d %H:%M:%S")
    path = write(tmp_path / "c.jsonl", [
        row("with@example.org", "consented", LIST, **EVIDENCE),
        row("none@example.org", "consented", LIST),
        row("bulk@example.org", "consented", LIST, optin_time="2026-01-10", optin_ip="127.0.0.1"),
        row("old@example.org", "consented", LIST, optin_time=old, optin_ip="198.51.100.4"),
    ])  # fmt: skip
    report = import_file(ctx, path, list_id=LIST)
    assert report.evidence_less == 2
    assert check_send(ctx, "with@example.org", LIST).allowed
    assert check_send(ctx, "none@example.org", LIST).reason == "missing-evidence"
    assert check_send(ctx, "bulk@example.org", LIST).reason == "missing-evidence"
    assert not check_send(ctx, "old@example.org", LIST).allowed  # aged out at the old provider
    leaf = next(
        decode_leaf(s.raw) for s in ctx.store.iter_leaves()
        if decode_leaf(s.raw).kind == "consent-given"
    )  # fmt: skip
    assert leaf.fields["source"] == "import:consentry" and leaf.fields["method"] == "import"
    assert leaf.fields["valid_until"].startswith("2028-01-10")  # opt-in + 730 days


def test_list_scopes_go_to_the_list_or_are_widened(ctx: Context, tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [row("ann@example.org", "unsubscribed", "old-audience")])
    widened = import_file(ctx, path)
    assert widened.widened == {"list unsubscribed -> global": 1}
    subject = consent.subject_for(ctx, "ann@example.org")[1]
    state = ctx.store.subject_state(subject)
    assert state is not None and state.suppressions[0].scope == "*"
    path = write(tmp_path / "e.jsonl", [row("bob@example.org", "unsubscribed", "old-audience")])
    import_file(ctx, path, list_id=LIST)
    state = ctx.store.subject_state(consent.subject_for(ctx, "bob@example.org")[1])
    assert state is not None and state.suppressions[0].scope == LIST


def test_every_row_is_accounted_for_and_junk_is_quarantined_by_line(
    ctx: Context, tmp_path: Path
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(
        json.dumps(HEADER).encode() + b"\n"
        + json.dumps(row("ann@example.org", "unsubscribed")).encode() + b"\n"
        + b'{"email": "not an address", "state": "unsubscribed"}\n'
        + b'{"email": "x@example.org", "state": "gone"}\n'
        + b"not json\n"
        + json.dumps(row("ann@example.org", "unsubscribed")).encode() + b"\n"
        + json.dumps(row("c@example.org", "consented")).encode() + b"\n"
    )  # fmt: skip
    seen: list[Any] = []
    report = import_file(ctx, path, on_reject=seen.append)
    assert report.read == report.applied + report.duplicate + report.rejected == 6
    assert (report.applied, report.duplicate, report.rejected) == (1, 1, 4)
    reasons = {r["line"]: r["reason"] for r in report.rejected_rows}
    assert set(reasons) == {3, 4, 5, 7}
    assert "unknown state 'gone'" in reasons[4] and "needs a list" in reasons[7]
    assert len(seen) == 4


def test_a_dry_run_writes_nothing(ctx: Context, tmp_path: Path) -> None:
    path = write(tmp_path / "g.jsonl", [row("ann@example.org", "unsubscribed")])
    size = ctx.store.size()
    report = import_file(ctx, path, dry_run=True)
    assert report.applied == 1 and report.leaf_index is None and ctx.store.size() == size


def test_the_import_is_recorded_with_the_file_hash_counts_and_root(
    ctx: Context, tmp_path: Path
) -> None:
    path = write(tmp_path / "h.jsonl", [
        row("ann@example.org", "unsubscribed"), row("bob@example.org", "hard-bounced"),
    ])  # fmt: skip
    report = import_file(ctx, path)
    assert report.leaf_index is not None
    leaf = decode_leaf(ctx.store.leaf(report.leaf_index).raw)
    assert leaf.kind == "import-recorded"
    assert leaf.fields["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert leaf.fields["counts"]["applied"] == 2 and leaf.fields["records"] == 2
    root = StreamingRoot()
    for email, state in (("ann@example.org", "unsubscribed"), ("bob@example.org", "hard-bounced")):
        key = hashlib.sha256(f"{email} {state} *".encode()).hexdigest()
        root.add(f"{key} {state} *".encode())
    assert leaf.fields["root"] == root.root().hex()
    again = import_file(ctx, path)
    assert (again.applied, again.duplicate) == (0, 2)


def test_export_then_import_elsewhere_keeps_every_suppression(
    ctx: Context, tmp_path: Path, clock: FixedClock
) -> None:
    from consentry.store.memory import MemoryStore

    grant_all(ctx, ["keep@example.org", "gone@example.org"])
    consent.withdraw_consent(ctx, "gone@example.org", LIST, "web", "one-click", "t", "t")
    consent.suppress(ctx, "Bounce@Example.org", "hard-bounce", None, "t", "t")
    summary = export_file(ctx, "consentry-jsonl", tmp_path / "out.jsonl")
    assert (summary.suppressions, summary.consents) == (2, 1)
    other = organised(MemoryStore(), tmp_path / "other", clock)
    import_file(other, tmp_path / "out.jsonl", list_id=LIST)
    for email in ("gone@example.org", "bounce@example.org"):
        assert not check_send(other, email, LIST).allowed
    hashed = export_file(ctx, "consentry-hashed", tmp_path / "hashed.jsonl")
    text = (tmp_path / "hashed.jsonl").read_text()
    assert hashed.report.written == 2 and "@" not in text
    assert hashlib.sha256(b"bounce@example.org").hexdigest() in text


def test_reconcile_lists_what_the_new_side_lost(ctx: Context, tmp_path: Path) -> None:
    old = write(tmp_path / "old.jsonl", [
        row("Ann@Example.org", "unsubscribed"), row("bob@example.org", "complained"),
        row("cy@example.org", "consented", LIST),
    ])  # fmt: skip
    new = write(tmp_path / "new.jsonl", [row("ann@example.org", "unsubscribed")])
    result = reconcile(None, old, new)
    assert result.missing == ["bob@example.org"] and result.missing_by_state == {"complained": 1}
    assert reconcile(ctx, old, "consentry").missing_by_state == {
        "complained": 1, "unsubscribed": 1,
    }  # fmt: skip


def test_marketing_through_a_new_provider_waits_for_the_cutover(
    ctx: Context, tmp_path: Path
) -> None:
    grant_all(ctx, ["reader@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    require_cutover(ctx, "sendgrid")  # nothing imported yet: nothing to wait for
    old = write(tmp_path / "old.jsonl", [row("ann@example.org", "unsubscribed")],
                {**HEADER})  # fmt: skip
    with pytest.raises(CampaignStateError, match="has not been imported"):
        cutover(ctx, old, "mailchimp", "sendgrid", "t")
    # consentry's own format names provider 'consentry', which is never "another provider":
    # stand in for a Mailchimp import by recording one under that name
    from consentry.codecs.transfer import consentry_jsonl

    reader = consentry_jsonl.ConsentryReader()
    reader.provider = "mailchimp"  # type: ignore[misc]
    original = consentry_jsonl.READERS[0]
    consentry_jsonl.READERS[0] = reader
    try:
        import_file(ctx, old)
    finally:
        consentry_jsonl.READERS[0] = original
    with pytest.raises(CampaignStateError, match="transfer cutover"):
        campaigns.prepare_send(ctx, "spring", 10_000, "sendgrid")
    done = cutover(ctx, old, "mailchimp", "sendgrid", "t")
    assert done["missing"] == 0 and done["suppressions"] == 1
    assert campaigns.prepare_send(ctx, "spring", 10_000, "sendgrid") == 1

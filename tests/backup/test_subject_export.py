"""``subject export``: everything held about one person, machine-readable, checkable against
the signed checkpoint; after erasure, the personal data is gone and the leaves remain."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from tests.backup.conftest import Source
from tests.backup.support import PEOPLE

from consentry.cli.subject_export_cmd import subject_export
from consentry.domain.merkle import leaf_hash, verify_inclusion
from consentry.keys.notes import verify_checkpoint_note
from consentry.keys.ring import FileKeyRing
from consentry.services.subject_export import export_subject
from consentry.settings import Settings


def test_an_export_holds_the_address_leaves_evidence_notices_state_and_proofs(
    sqlite_source: Source,
) -> None:
    ctx = sqlite_source.ctx
    record = export_subject(ctx, PEOPLE[0].upper())
    assert record["format"] == "consentry-subject-export" and record["erased"] is False
    assert record["addresses"] == [{"literal": PEOPLE[0], "canonical": PEOPLE[0]}]
    kinds = [leaf["kind"] for leaf in record["leaves"]]
    assert kinds == ["consent-given", "consent-confirmed"]
    given = record["leaves"][0]
    assert given["evidence"]["held"] and given["evidence"]["json"]["items"]["ip"] == "203.0.113.1"
    notice = record["notices"][given["notice"]]
    assert notice["text"] == "Email me the monthly news." and notice["version"] == 1
    assert record["state"]["consents"]["news"]["status"] == "given"
    checkpoint = record["checkpoint"]
    ring = FileKeyRing(ctx.keys.dir.parent)  # type: ignore[attr-defined]
    signed = verify_checkpoint_note(checkpoint["note"], [ring.verifier_key()])
    for leaf in record["leaves"]:
        raw = leaf["leaf"].encode("utf-8")
        assert leaf_hash(raw).hex() == leaf["leaf_hash"]
        proof = [bytes.fromhex(h) for h in leaf["inclusion_proof"]["proof"]]
        assert verify_inclusion(leaf_hash(raw), leaf["index"], signed.size, proof, signed.root)
    json.dumps(record)  # machine-readable as it is


def test_after_erasure_the_export_holds_no_personal_data(sqlite_source: Source) -> None:
    record = export_subject(sqlite_source.ctx, PEOPLE[3])
    assert record["erased"] is True and record["addresses"] == []
    assert [leaf["kind"] for leaf in record["leaves"]][-1] == "subject-erased"
    given = record["leaves"][0]
    assert given["evidence"] == {"hash": given["fields"]["evidence"], "held": False}
    assert PEOPLE[3] not in json.dumps(record["leaves"])


def test_the_command_prints_json_or_writes_a_private_file(
    sqlite_source: Source, tmp_path: Path
) -> None:
    home = sqlite_source.ctx.keys.dir.parent  # type: ignore[attr-defined]
    settings = Settings(home=home, database_url=sqlite_source.url)
    runner = CliRunner()
    shown = runner.invoke(subject_export, [PEOPLE[-1], "--json"], obj=settings)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["addresses"][0]["literal"] == PEOPLE[-1]
    out = tmp_path / "dsar.json"
    written = runner.invoke(subject_export, [PEOPLE[0], "--to", str(out)], obj=settings)
    assert written.exit_code == 0 and "written to" in written.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert json.loads(out.read_text())["subject"]
    again = runner.invoke(subject_export, [PEOPLE[0], "--to", str(out)], obj=settings)
    assert again.exit_code != 0 and "exists already" in str(again.exception)

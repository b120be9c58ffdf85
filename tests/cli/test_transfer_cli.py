"""``consentry transfer`` as a user runs it: the fixed --json keys, rejected rows with their line,
a dry run, export, reconcile's exit code and missing list, the cutover."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Runner

HEADER = json.dumps({"format": "consentry-transfer", "version": 1})


def _file(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _row(email: str, state: str, scope: str = "*") -> str:
    return json.dumps({"email": email, "state": state, "scope": scope, "at": None})


def test_import_export_reconcile(run: Runner, ready: str, tmp_path: Path) -> None:
    old = _file(
        tmp_path / "old.jsonl",
        _row("ann@example.org", "unsubscribed"),
        _row("bob@bücher.example", "hard-bounced"),
        '{"email": "", "state": "unsubscribed"}',
    )
    dry = run("transfer", "import", str(old), "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert {k: dry.json()[k] for k in ("read", "applied", "duplicate", "rejected")} == {
        "read": 3, "applied": 2, "duplicate": 0, "rejected": 1,
    }  # fmt: skip
    assert dry.json()["rejected_rows"] == [{"file": "old.jsonl", "line": 4, "reason": "no 'email'"}]
    done = run("transfer", "import", str(old), "--json")
    assert done.code == 0 and done.json()["leaf_index"] is not None
    quarantine = Path(done.json()["quarantine"])
    assert json.loads(quarantine.read_text().splitlines()[0])["line"] == 4
    assert run("check", "ann@example.org", "--list", "news").code == 5  # denied
    out = tmp_path / "out.jsonl"
    exported = run("transfer", "export", "--format", "consentry-jsonl", "--to", str(out))
    assert exported.code == 0 and "2 suppressions" in exported.out
    same = run("transfer", "reconcile", str(old), str(out), "--json")
    assert same.code == 0 and same.json()["missing"] == []
    partial = _file(tmp_path / "partial.jsonl", _row("ANN@example.org", "unsubscribed"))
    lost = run("transfer", "reconcile", str(old), str(partial), "--json")
    assert lost.code == 1 and lost.json()["missing"] == ["bob@bücher.example"]
    assert run("transfer", "reconcile", str(old), "consentry", "--json").code == 0


def test_bad_files_are_refused_by_name(run: Runner, ready: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 nothing anyone wrote")
    refused = run("transfer", "import", str(junk))
    assert refused.code != 0 and "junk.bin" in refused.err and "--format" in refused.err
    broken = tmp_path / "cut.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    refused = run("transfer", "import", str(broken))
    assert refused.code != 0 and "not a complete zip archive" in refused.err
    assert "unknown import format" in run("transfer", "import", str(junk), "--format", "x").err

"""R6 wired end to end: with CONSENTRY_WITNESSES set, every checkpoint a command signs leaves the
database for the witness, and ``ledger verify --witness`` catches a database restored to an
earlier state, which ``ledger verify`` alone cannot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import Runner, grant


def test_checkpoints_reach_the_witness_and_a_rollback_is_caught(
    run: Runner, ready: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = tmp_path / "witness"
    witness.mkdir()
    monkeypatch.setenv("CONSENTRY_WITNESSES", f"dir:{witness}")
    assert grant(run, ready, "ann@example.org").code == 0
    db = home / "consentry.sqlite"
    run("ledger", "checkpoint")  # settles the WAL into the file we copy
    shutil.copyfile(db, tmp_path / "earlier.sqlite")
    for suffix in ("-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", tmp_path / f"earlier.sqlite{suffix}")
    assert grant(run, ready, "bob@example.org").code == 0
    notes = sorted(witness.glob("*.note"))
    assert notes, "no checkpoint reached the witness directory"
    assert run("ledger", "verify", "--witness", str(witness)).code == 0

    # restore the earlier database: it verifies on its own, not against the witness
    monkeypatch.delenv("CONSENTRY_WITNESSES")
    restored = f"sqlite:///{tmp_path / 'earlier.sqlite'}"
    assert run("--database", restored, "ledger", "verify").code == 0
    caught = run("--database", restored, "ledger", "verify", "--witness", str(witness))
    assert caught.code == 40, caught.out + caught.err

"""``consentry ledger ...``: verification catches every kind of tampering; proofs and exports
check out with independent code."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from consentry.domain.merkle import MemoryTree, verify_consistency, verify_inclusion
from consentry.keys.notes import verify_checkpoint_note
from consentry.keys.ring import FileKeyRing
from tests.cli.conftest import Runner, grant


@pytest.fixture
def ledger(run: Runner, ready: str) -> int:
    """A ledger of a dozen leaves; returns its size."""
    for i in range(5):
        assert grant(run, ready, f"user{i}@example.org", "--confirmed").code == 0
    run("consent", "withdraw", "user1@example.org", "--channel", "email")
    return int(run("ledger", "verify", "--json").json()["tree_size"])


def _tamper(home: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(home / "consentry.sqlite")
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
            conn.execute(f'DROP TRIGGER "{name}"')
        for statement in statements:
            conn.execute(statement, params if "?" in statement else ())
        conn.commit()
    finally:
        conn.close()


def _leaf(home: Path, seq: int) -> tuple[bytes, bytes]:
    conn = sqlite3.connect(home / "consentry.sqlite")
    try:
        row = conn.execute(
            "SELECT leaf, leaf_hash FROM ledger_leaves WHERE seq=?", (seq,)
        ).fetchone()
        return bytes(row[0]), bytes(row[1])
    finally:
        conn.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_clean_ledger_verifies(
    run: Runner, ledger: int, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("consentry.services.ledger.PARALLEL_CHUNK", 4)
    result = run("ledger", "verify", "--json", "--projections", "--workers", workers)
    assert result.code == 0
    report = result.json()
    assert report["ok"] and report["first_bad_index"] is None
    assert report["tree_size"] == ledger
    assert report["checkpoints_checked"] == 9  # one signed checkpoint per append (batch)


def changed_byte(home: Path) -> int:
    raw, _ = _leaf(home, 6)
    _tamper(home, "UPDATE ledger_leaves SET leaf=? WHERE seq=6",
            params=(raw.replace(b'"actor":"cli"', b'"actor":"clj"'),))  # fmt: skip
    return 6


def changed_with_hash(home: Path) -> int:
    raw, _ = _leaf(home, 7)
    forged = raw.replace(b"web-form", b"web-farm")
    digest = hashlib.sha256(b"\x00" + forged).digest()
    _tamper(
        home, "UPDATE ledger_leaves SET leaf=?, leaf_hash=? WHERE seq=7", params=(forged, digest)
    )
    return 7


def removed(home: Path) -> int:
    _tamper(home, "DELETE FROM ledger_leaves WHERE seq=5")
    return 5


def removed_and_renumbered(home: Path) -> int:
    _tamper(home, "DELETE FROM ledger_leaves WHERE seq=5",
            "UPDATE ledger_leaves SET seq = seq - 1 WHERE seq > 5")  # fmt: skip
    return 5


def reordered(home: Path) -> int:
    a, b = _leaf(home, 4), _leaf(home, 8)
    _tamper(home, "UPDATE ledger_leaves SET leaf=?, leaf_hash=? WHERE seq=4", params=b)
    _tamper(home, "UPDATE ledger_leaves SET leaf=?, leaf_hash=? WHERE seq=8", params=a)
    return 4


def inserted(home: Path) -> int:
    raw, digest = _leaf(home, 3)
    _tamper(home, "UPDATE ledger_leaves SET seq = seq + 1000 WHERE seq >= 3",
            "UPDATE ledger_leaves SET seq = seq - 999 WHERE seq >= 1003")  # fmt: skip
    _tamper(home, "INSERT INTO ledger_leaves (seq, kind, subject_id, at, leaf, leaf_hash) "
            "VALUES (3, 'consent-given', NULL, '2026-01-01T00:00:00.000000Z', ?, ?)",
            params=(raw, digest))  # fmt: skip
    return 4


def truncated_tail(home: Path) -> int:
    _tamper(home, "DELETE FROM ledger_leaves WHERE seq >= 9")
    return 9


@pytest.mark.parametrize(
    "attack",
    [changed_byte, changed_with_hash, removed, removed_and_renumbered, reordered, inserted,
     truncated_tail],
)  # fmt: skip
@pytest.mark.parametrize("workers", ["1", "2"])
def test_tampering_is_caught_with_the_first_bad_index(
    run: Runner, ledger: int, home: Path, attack: Callable[[Path], int], workers: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr("consentry.services.ledger.PARALLEL_CHUNK", 4)
    first_bad = attack(home)
    result = run("ledger", "verify", "--json", "--workers", workers)
    assert result.code == 40
    report = result.json()
    assert report["ok"] is False
    assert report["first_bad_index"] == first_bad, report["problems"]
    text = run("ledger", "verify")
    assert text.code == 40
    assert f"first bad index: {first_bad}" in text.err


def test_prove_and_consistency_verify_independently(run: Runner, ledger: int, home: Path) -> None:
    proof = run("ledger", "prove", "3", "--json").json()
    assert set(proof) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "proof"}
    assert verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]), 3, proof["tree_size"],
        [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root_hash"]),
    )  # fmt: skip
    cons = run("ledger", "consistency", "5", "--json").json()
    assert set(cons) == {"old_size", "new_size", "old_root", "new_root", "proof"}
    assert verify_consistency(
        5, cons["new_size"], bytes.fromhex(cons["old_root"]), bytes.fromhex(cons["new_root"]),
        [bytes.fromhex(h) for h in cons["proof"]],
    )  # fmt: skip
    assert cons["new_root"] == proof["root_hash"]
    assert run("ledger", "prove", str(ledger), "--json").code == 41
    assert run("ledger", "consistency", str(ledger + 1), "--json").code == 41


def test_export_is_the_hashed_bytes_and_matches_a_signed_checkpoint(
    run: Runner, ledger: int, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ledger.jsonl"
    assert run("ledger", "export", str(out)).code == 0
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""
    tree = MemoryTree()
    for line in lines[:-1]:
        tree.append_leaf(line)
    assert tree.size == ledger
    note = run("ledger", "checkpoint").out
    keys = FileKeyRing(home)
    checkpoint = verify_checkpoint_note(note, [keys.verifier_key()])
    assert (checkpoint.size, checkpoint.root) == (ledger, tree.root())
    assert checkpoint.origin == keys.checkpoint_origin()


def test_demo_tells_the_story(run: Runner, tmp_path: Path) -> None:
    result = run("demo", "--dir", str(tmp_path / "demo"))
    assert result.code == 0, result.err
    for text in ("ALLOW", "suppressed-withdrawal", "suppressed-erasure", "unknown-subject",
                 "does not match its signed checkpoint", "What to look at next",
                 "sent 600, denied 6", "none twice: True", "cutover mailchimp -> smtp",
                 "sending marketing now is refused", "0 missing",
                 "restored into sqlite:", "the ledger verifies",
                 "validly sent 100% (600 of 600 handed off)", "0 sent after an objection",
                 "received 0 messages", "reason=suppressed-withdrawal",
                 "answered 200", "pressed Confirm (a POST; a GET never confirms): True",
                 "with 2 inclusion proofs"):  # fmt: skip
        assert text in result.out, text
    # the campaign (minus the two who unsubscribed at Mailchimp) and one confirmation
    assert len(list((tmp_path / "demo" / "sink").iterdir())) == 601
    again = run("demo", "--dir", str(tmp_path / "demo"))
    assert again.code == 0

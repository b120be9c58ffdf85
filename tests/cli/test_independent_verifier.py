"""A verifier written from docs/ledger-format.md alone: no consentry code checks the export."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consentry.keys.ring import FileKeyRing
from tests.cli.conftest import Runner, grant


def _mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:])).digest()


def _check_note(note: str, verifier: str) -> tuple[str, int, bytes]:
    name, key_id_hex, key_b64 = verifier.split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 1 and len(key) == 33
    assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id_hex
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    origin, size, root_b64 = body.splitlines()[:3]
    for line in signatures.splitlines():
        assert line.startswith("\u2014 ")
        sig_name, sig = line[2:].split(" ")
        raw = base64.b64decode(sig)
        if sig_name == name and raw[:4].hex() == key_id_hex:
            Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], body.encode())
            return origin, int(size), base64.b64decode(root_b64)
    raise AssertionError("no signature by the trusted key")


def test_an_export_verifies_with_code_written_from_the_spec(
    run: Runner, ready: str, tmp_path: Path, home: Path
) -> None:
    grant(run, ready, "a@example.org", "--confirmed")
    early_note = run("ledger", "checkpoint").out
    grant(run, ready, "b@bücher.example")
    run("consent", "withdraw", "a@example.org", "--channel", "web")
    late_note = run("ledger", "checkpoint").out
    out = tmp_path / "export.jsonl"
    assert run("ledger", "export", str(out)).code == 0
    # What the operator publishes: the verifier key printed by 'consentry init', and its origin.
    keys = FileKeyRing(home)
    trusted, origin = keys.verifier_key(), keys.checkpoint_origin()

    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""
    hashes = []
    for i, line in enumerate(lines[:-1]):
        leaf = json.loads(line)
        assert leaf["v"] == 1 and leaf["seq"] == i
        canonical = json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical.encode() == line
        assert "@" not in line.decode()  # no address in the ledger
        hashes.append(hashlib.sha256(b"\x00" + line).digest())
    for note in (early_note, late_note):
        note_origin, size, root = _check_note(note, trusted)
        assert note_origin == origin
        assert _mth(hashes[:size]) == root
    assert _check_note(late_note, trusted)[1] == len(hashes)

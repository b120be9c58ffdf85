"""Tampered, truncated and forged backups are refused with an error naming the section and the
offset; a refused restore leaves the target store empty."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import partial
from pathlib import Path

import orjson
import pytest
from tests.backup.conftest import Source, open_url, target_url
from tests.backup.support import Keys, backup, pyrage_module

from consentry.backup.read import verify_backup
from consentry.backup.restore import restore_backup
from consentry.domain.errors import VerificationFailed

pyrage = pyrage_module()


def _plain(path: Path, keys: Keys) -> bytes:
    identity = pyrage.x25519.Identity.from_str(keys.secret)
    return bytes(pyrage.decrypt(path.read_bytes(), [identity]))


def _seal(plain: bytes, path: Path, keys: Keys) -> Path:
    recipient = pyrage.x25519.Recipient.from_str(keys.recipient)
    path.write_bytes(pyrage.encrypt(plain, [recipient]))
    return path


def _rehash(plain: bytes, auth_key: bytes | None) -> bytes:
    """Recompute every section's SHA-256, the final SHA-256 and (given the key) the MAC: what
    a forger holding the recipient's public key can do."""
    out: list[bytes] = []
    total = hashlib.sha256()
    section = hashlib.sha256()
    digests: dict[str, str] = {}
    for line in plain.splitlines(keepends=True):
        if line.startswith(b'{"@end-of-backup"'):
            final = orjson.loads(line)["@end-of-backup"]
            final["sha256"] = total.hexdigest()
            for name, digest in digests.items():
                final["sections"][name]["sha256"] = digest
            final.pop("mac", None)
            if auth_key is not None:
                final["mac"] = hmac.new(auth_key, total.digest(), hashlib.sha256).hexdigest()
            out.append(orjson.dumps({"@end-of-backup": final}, option=orjson.OPT_SORT_KEYS))
            out.append(b"\n")
            break
        if line.startswith(b'{"@section"'):
            section = hashlib.sha256()
        elif line.startswith(b'{"@end"'):
            record = orjson.loads(line)
            record["sha256"] = digests[record["@end"]] = section.hexdigest()
            line = orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"
        elif not line.startswith(b'{"@'):
            section.update(line)
        if line.startswith(b'{"@'):  # the final SHA-256 covers the control records
            total.update(line)
        out.append(line)
    return b"".join(out)


@pytest.fixture
def made(sqlite_source: Source, tmp_path: Path, keys: Keys) -> Path:
    return backup(sqlite_source.url, tmp_path / "good.age", keys).file


def _refused(path: Path, keys: Keys) -> str:
    with pytest.raises(VerificationFailed) as caught:
        verify_backup(path, keys.opening, keys.trust(), keys.facts.auth_key)
    return str(caught.value)


def test_a_flipped_ciphertext_byte_is_refused_naming_the_chunk(
    made: Path, tmp_path: Path, keys: Keys
) -> None:
    data = bytearray(made.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "flipped.age"
    bad.write_bytes(bytes(data))
    message = _refused(bad, keys)
    assert "damaged or cut short at age chunk" in message and "plaintext byte" in message


def test_a_truncated_file_is_refused(made: Path, tmp_path: Path, keys: Keys) -> None:
    data = made.read_bytes()
    for cut in (len(data) - 7, len(data) * 3 // 5):
        short = tmp_path / f"short{cut}.age"
        short.write_bytes(data[:cut])
        message = _refused(short, keys)
        assert "damaged or cut short" in message, message


def test_a_plaintext_cut_before_its_end_record_is_refused_naming_the_section(
    made: Path, tmp_path: Path, keys: Keys
) -> None:
    plain = _plain(made, keys)
    cut = plain.index(b'{"@section":"side_evidence"')
    message = _refused(_seal(plain[:cut], tmp_path / "cut.age", keys), keys)
    assert "truncated" in message and "section 'side_evidence'" in message


def test_an_altered_row_is_refused_naming_its_section(
    made: Path, tmp_path: Path, keys: Keys
) -> None:
    plain = _plain(made, keys)
    assert plain.count(b'"p5@example.org"') == 2  # the literal and canonical address
    altered = plain.replace(b'"p5@example.org"', b'"p5@example.net"')
    message = _refused(_seal(altered, tmp_path / "alt.age", keys), keys)
    assert "section 'side_addresses' does not match its SHA-256" in message
    assert "plaintext byte" in message


def test_a_forgery_with_recomputed_hashes_fails_the_mac(
    made: Path, tmp_path: Path, keys: Keys
) -> None:
    plain = _plain(made, keys).replace(b'"p5@example.org"', b'"p5@example.net"')
    forged = _seal(_rehash(plain, None), tmp_path / "forged.age", keys)
    assert "MAC does not verify" in _refused(forged, keys)


def test_an_altered_leaf_fails_its_signed_checkpoint_even_with_the_mac(
    made: Path, tmp_path: Path, keys: Keys
) -> None:
    plain = _plain(made, keys)
    start = plain.index(b'{"@section":"ledger"')
    leaf_at = plain.index(b'"kind":"consent-given"', start)
    line_start = plain.rindex(b"\n", 0, leaf_at) + 1
    line_end = plain.index(b"\n", leaf_at)
    line = plain[line_start:line_end]
    assert b'"actor":"test"' in line
    altered = (
        plain[:line_start] + line.replace(b'"actor":"test"', b'"actor":"evil"') + plain[line_end:]
    )
    forged = _seal(_rehash(altered, keys.facts.auth_key), tmp_path / "leaf.age", keys)
    message = _refused(forged, keys)
    assert "do not hash to the signed checkpoint" in message and "section 'ledger'" in message


def test_an_altered_evidence_blob_is_refused_by_its_hash(
    made: Path, tmp_path: Path, keys: Keys
) -> None:
    plain = _plain(made, keys)
    start = plain.index(b'{"@section":"side_evidence"')
    first = plain.index(b"\n", start) + 1
    end = plain.index(b"\n", first)
    row = orjson.loads(plain[first:end])
    row[2] = "e30="  # base64 of "{}"
    altered = plain[:first] + orjson.dumps(row) + plain[end:]
    forged = _seal(_rehash(altered, keys.facts.auth_key), tmp_path / "ev.age", keys)
    assert "does not hash to that" in _refused(forged, keys)


def test_a_refused_restore_leaves_the_target_empty(
    made: Path, tmp_path: Path, keys: Keys, pg_urls: Callable[[], str]
) -> None:
    data = bytearray(made.read_bytes())
    data[-100] ^= 0x01  # in the last chunk: everything else was written before the refusal
    bad = tmp_path / "late.age"
    bad.write_bytes(bytes(data))
    url = target_url("sqlite", tmp_path, pg_urls, "refused")
    with pytest.raises(VerificationFailed):
        restore_backup(bad, keys.opening, url, keys.trust(), partial(open_url, url), keys.ring())
    store = open_url(url)
    try:
        assert store.size() == 0 and store.checkpoints() == [] and store.campaigns() == []
    finally:
        store.close()

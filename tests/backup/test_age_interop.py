"""A backup is an ordinary age file: pyrage's own API opens it, so does an age decryptor written
here from c2sp.org/age alone (on the ``cryptography`` primitives), and so does the ``age`` tool
when one is installed (``CONSENTRY_TEST_AGE``, or ``age`` on the PATH)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pty
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from tests.backup.conftest import Source
from tests.backup.support import Keys, backup, identity_file, pyrage_module

from consentry.backup.age_keys import Sealing

pyrage = pyrage_module()

PASSPHRASE = "tr0ub4dor&3 but longer"

# --- an independent age v1 decryptor, from the specification -----------------------------------


def _b64(text: bytes) -> bytes:
    return base64.b64decode(text + b"=" * (-len(text) % 4))


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


def _bech32_payload(text: str) -> bytes:
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    data = text.lower().rsplit("1", 1)[1][:-6]  # drop the checksum (pyrage made the key)
    acc = bits = 0
    out = bytearray()
    for char in data:
        acc = (acc << 5) | alphabet.index(char)
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


def spec_decrypt(data: bytes, identity: str | None = None, passphrase: str | None = None) -> bytes:
    lines = iter(data.split(b"\n"))
    header = next(lines) + b"\n"
    assert header == b"age-encryption.org/v1\n"
    file_key = None
    line = next(lines)
    while line.startswith(b"-> "):
        header += line + b"\n"
        args = line[3:].split(b" ")
        body_text = b""
        while True:  # a body is wrapped at 64 columns and ends with a shorter line
            body_line = next(lines)
            header += body_line + b"\n"
            body_text += body_line
            if len(body_line) < 64:
                break
        body = _b64(body_text)
        if args[0] == b"X25519" and identity is not None:
            secret = X25519PrivateKey.from_private_bytes(_bech32_payload(identity))
            share = _b64(args[1])
            mine = secret.public_key().public_bytes_raw()
            shared = secret.exchange(X25519PublicKey.from_public_bytes(share))
            key = _hkdf(shared, share + mine, b"age-encryption.org/v1/X25519")
            file_key = ChaCha20Poly1305(key).decrypt(bytes(12), body, None)
        elif args[0] == b"scrypt" and passphrase is not None:
            salt = b"age-encryption.org/v1/scrypt" + _b64(args[1])
            key = Scrypt(salt, 32, 1 << int(args[2]), 8, 1).derive(passphrase.encode())
            file_key = ChaCha20Poly1305(key).decrypt(bytes(12), body, None)
        line = next(lines)
    assert file_key is not None and line.startswith(b"--- ")
    header += b"---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    assert base64.b64encode(mac).rstrip(b"=") == line[4:]
    payload = data[len(header) + len(line) - 3 + 1 :]
    nonce, payload = payload[:16], payload[16:]
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    out = bytearray()
    step = 65536 + 16
    chunks = [payload[i : i + step] for i in range(0, len(payload), step)]
    for n, chunk in enumerate(chunks):
        last = n == len(chunks) - 1
        out += aead.decrypt(n.to_bytes(11, "big") + bytes([last]), chunk, None)
    return bytes(out)


def _is_container(plain: bytes, size: int) -> None:
    lines = plain.splitlines()
    manifest = orjson.loads(lines[0])["@backup"]
    assert manifest["format"] == "consentry-backup" and manifest["ledger"]["size"] == size
    assert b"SECRET" not in plain and b"PRIVATE KEY" not in plain
    final = orjson.loads(lines[-1])["@end-of-backup"]
    records = b"".join(x + b"\n" for x in lines[:-1] if x.startswith(b'{"@'))
    assert final["sha256"] == hashlib.sha256(records).hexdigest()


def test_pyrage_and_a_decryptor_from_the_spec_open_an_x25519_backup(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    made = backup(sqlite_source.url, tmp_path / "x.age", keys)
    data = made.file.read_bytes()
    plain = pyrage.decrypt(data, [pyrage.x25519.Identity.from_str(keys.secret)])
    _is_container(plain, sqlite_source.store.size())
    assert spec_decrypt(data, identity=keys.secret) == plain
    assert len(plain) == made.plaintext_bytes


def test_pyrage_and_a_decryptor_from_the_spec_open_a_passphrase_backup(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    sealing = Sealing(passphrase=PASSPHRASE, work_factor=12)
    made = backup(sqlite_source.url, tmp_path / "p.age", keys, sealing)
    data = made.file.read_bytes()
    plain = pyrage.passphrase.decrypt(data, PASSPHRASE)
    _is_container(plain, sqlite_source.store.size())
    assert spec_decrypt(data, passphrase=PASSPHRASE) == plain


def _age_tool() -> str:
    found = os.environ.get("CONSENTRY_TEST_AGE") or shutil.which("age")
    if not found:
        message = "the age tool is not installed (set CONSENTRY_TEST_AGE to an age binary)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run installs Debian's age, CI must run these tests")
        pytest.skip(message)
    return found


def test_the_age_tool_opens_an_x25519_backup(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    age = _age_tool()
    made = backup(sqlite_source.url, tmp_path / "x.age", keys)
    done = subprocess.run(
        [age, "-d", "-i", str(identity_file(tmp_path, keys)), str(made.file)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _is_container(done.stdout, sqlite_source.store.size())


def test_the_age_tool_opens_a_passphrase_backup(
    sqlite_source: Source, tmp_path: Path, keys: Keys
) -> None:
    """age reads a passphrase from the terminal only: it gets one (a pseudo-terminal)."""
    age = _age_tool()
    made = backup(
        sqlite_source.url, tmp_path / "p.age", keys, Sealing(passphrase=PASSPHRASE, work_factor=12)
    )
    out = tmp_path / "plain"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: age, with the pseudo-terminal as its terminal
        os.execv(age, [age, "-d", "-o", str(out), str(made.file)])  # noqa: S606
    seen = b""
    while b"passphrase" not in seen.lower():
        seen += os.read(terminal, 1024)
    os.write(terminal, PASSPHRASE.encode() + b"\n")
    try:
        while os.read(terminal, 1024):
            pass
    except OSError:  # the child closed the terminal
        pass
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    _is_container(out.read_bytes(), sqlite_source.store.size())

"""FileKeyRing: key material in ``CONSENTRY_HOME/keys``, outside the database, mode 0600.

Files (each written once by ``consentry init``; never inside a backup of the database):

* ``subject-hmac.key`` — 32 random bytes (base64). Subject refs are HMAC-SHA256 under this key.
  Losing it is a disaster: suppressions can no longer be matched to addresses. Back it up apart
  from the database (``docs/keys.md``).
* ``checkpoint-ed25519.pem`` — the Ed25519 key that signs checkpoints (PKCS#8 PEM).
* ``tokens.json`` — HMAC keys for unsubscribe tokens, by key id, with the current id.
* ``ring.json`` — the checkpoint origin (also the signing key's name).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry.domain.checkpoint import Checkpoint, verifier_key
from consentry.domain.errors import KeyMaterialError, SetupError
from consentry.keys.notes import sign_checkpoint, verify_checkpoint_note

SUBJECT_KEY = "subject-hmac.key"
CHECKPOINT_KEY = "checkpoint-ed25519.pem"
TOKENS = "tokens.json"
RING = "ring.json"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _read_private(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise SetupError(
            f"key file {path} is missing; run 'consentry init' (or set CONSENTRY_HOME)"
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyMaterialError(
            f"key file {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
            f"run 'chmod 600 {path}'"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key file {path}: {exc}") from exc


class FileKeyRing:
    """The KeyRing port over the files in ``<home>/keys``."""

    def __init__(self, home: Path) -> None:
        self.dir = Path(home) / "keys"
        ring = json.loads(_read_private(self.dir / RING))
        self._origin: str = ring["origin"]
        raw = base64.b64decode(_read_private(self.dir / SUBJECT_KEY))
        if len(raw) < 32:
            raise KeyMaterialError(f"{self.dir / SUBJECT_KEY} holds {len(raw)} bytes, not 32")
        self._subject_key = raw
        pem = _read_private(self.dir / CHECKPOINT_KEY)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except ValueError as exc:
            raise KeyMaterialError(f"{self.dir / CHECKPOINT_KEY} is not a PEM key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyMaterialError(f"{self.dir / CHECKPOINT_KEY} is not an Ed25519 key")
        self._signing_key = key
        tokens = json.loads(_read_private(self.dir / TOKENS))
        self._token_kid: str = tokens["current"]
        self._token_keys = {k: base64.b64decode(v) for k, v in tokens["keys"].items()}

    @classmethod
    def create(cls, home: Path, origin: str) -> FileKeyRing:
        """Make fresh keys; refuses to overwrite any existing key file."""
        keys = Path(home) / "keys"
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(keys, 0o700)
        for name in (SUBJECT_KEY, CHECKPOINT_KEY, TOKENS, RING):
            if (keys / name).exists():
                raise SetupError(f"{keys / name} already exists; consentry never overwrites keys")
        _write_private(keys / SUBJECT_KEY, base64.b64encode(secrets.token_bytes(32)) + b"\n")
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(keys / CHECKPOINT_KEY, pem)
        kid = "t1"
        tokens = {"current": kid, "keys": {kid: base64.b64encode(secrets.token_bytes(32)).decode()}}
        _write_private(keys / TOKENS, json.dumps(tokens, indent=2).encode() + b"\n")
        _write_private(keys / RING, json.dumps({"origin": origin}, indent=2).encode() + b"\n")
        return cls(home)

    # --- the KeyRing port -----------------------------------------------------------------------

    def subject_key(self) -> bytes:
        return self._subject_key

    def checkpoint_origin(self) -> str:
        return self._origin

    def public_key(self) -> bytes:
        return self._signing_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def verifier_key(self) -> str:
        return verifier_key(self._origin, self.public_key())

    def sign_checkpoint(self, size: int, root: bytes) -> str:
        return sign_checkpoint(
            Checkpoint(self._origin, size, root), self._origin, self._signing_key
        )

    def verify_checkpoint(self, note: str) -> tuple[int, bytes]:
        checkpoint = verify_checkpoint_note(note, [self.verifier_key()], origin=self._origin)
        return checkpoint.size, checkpoint.root

    def token_key(self, kid: str | None = None) -> tuple[str, bytes]:
        kid = kid or self._token_kid
        if kid not in self._token_keys:
            raise KeyMaterialError(f"no token key with id {kid!r}")
        return kid, self._token_keys[kid]

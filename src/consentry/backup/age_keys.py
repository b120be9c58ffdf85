"""age keys as text: X25519 recipients (``age1...``), identities (``AGE-SECRET-KEY-1...``),
identity files and passphrase files (c2sp.org/age: Bech32 of BIP 173 without a length limit).

Errors name the file or the value that is wrong, and never echo a secret.
"""

from __future__ import annotations

import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from consentry.domain.errors import InputError

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
#: The scrypt work factor (log2 N) for passphrase backups: age's own default.
DEFAULT_WORK_FACTOR = 18
#: The largest work factor a passphrase backup may ask for when it is opened (as age does).
MAX_WORK_FACTOR = 22


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= _GENERATOR[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or (acc << (tobits - bits)) & maxv:
        return None
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    words = _convert(data, 8, 5, True) or []
    poly = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def bech32_decode(text: str) -> tuple[str, bytes] | None:
    """(hrp, data) of a Bech32 string, or None when it is not valid Bech32."""
    if text.lower() != text and text.upper() != text:
        return None
    lower = text.lower()
    sep = lower.rfind("1")
    if sep < 1 or sep + 7 > len(lower):
        return None
    hrp, rest = lower[:sep], lower[sep + 1 :]
    if any(c not in _CHARSET for c in rest) or any(not 33 <= ord(c) <= 126 for c in hrp):
        return None
    words = [_CHARSET.index(c) for c in rest]
    if _polymod([*_hrp_expand(hrp), *words]) != 1:
        return None
    data = _convert(words[:-6], 5, 8, False)
    return None if data is None else (hrp, bytes(data))


def parse_recipient(text: str) -> bytes:
    """The 32-byte X25519 public key of an ``age1...`` recipient."""
    decoded = bech32_decode(text.strip())
    if decoded is None or decoded[0] != RECIPIENT_HRP or len(decoded[1]) != 32:
        raise InputError(f"--recipient {text!r} is not an age X25519 recipient (age1...)")
    return decoded[1]


def format_recipient(public: bytes) -> str:
    return bech32_encode(RECIPIENT_HRP, public)


def parse_identity(text: str, where: str) -> bytes:
    """The 32-byte X25519 secret of an ``AGE-SECRET-KEY-1...`` identity."""
    decoded = bech32_decode(text.strip())
    if decoded is None or decoded[0] != IDENTITY_HRP or len(decoded[1]) != 32:
        raise InputError(f"{where} holds a line that is not an age identity (AGE-SECRET-KEY-1...)")
    return decoded[1]


def format_identity(secret: bytes) -> str:
    return bech32_encode(IDENTITY_HRP, secret).upper()


def new_identity() -> tuple[str, str]:
    """A fresh X25519 identity: (secret ``AGE-SECRET-KEY-1...``, recipient ``age1...``)."""
    key = X25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    return format_identity(key.private_bytes_raw()), format_recipient(public)


def recipient_of(identity: str) -> str:
    secret = parse_identity(identity, "the identity")
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    return format_recipient(public)


def _read_secret_file(path: Path, what: str) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(
            f"consentry: warning: {what} {path} is readable by others "
            f"(mode {stat.S_IMODE(mode):o}); run 'chmod 600 {path}'",
            file=sys.stderr,
        )
    return text


def read_identity_file(path: Path) -> list[str]:
    """The identities of an age identity file (one per line; ``#`` comments and blank lines
    skipped), each checked."""
    where = f"identity file {path}"
    lines = [ln.strip() for ln in _read_secret_file(path, "identity file").splitlines()]
    identities = [ln for ln in lines if ln and not ln.startswith("#")]
    if not identities:
        raise InputError(f"{where} holds no identity (AGE-SECRET-KEY-1...)")
    for line in identities:
        parse_identity(line, where)
    return identities


def read_passphrase_file(path: Path) -> str:
    """The passphrase: the file's first line, without its line ending."""
    text = _read_secret_file(path, "passphrase file")
    first = text.splitlines()[0] if text else ""
    if not first:
        raise InputError(f"passphrase file {path} is empty (its first line is the passphrase)")
    return first


@dataclass(frozen=True)
class Sealing:
    """Whom a backup is encrypted to: X25519 recipients, or one passphrase (scrypt)."""

    recipients: tuple[str, ...] = ()
    passphrase: str | None = None
    work_factor: int = DEFAULT_WORK_FACTOR

    def __post_init__(self) -> None:
        if bool(self.recipients) == (self.passphrase is not None):
            raise InputError("give --recipient (one or more) or --passphrase-file, not both")
        for recipient in self.recipients:
            parse_recipient(recipient)
        if not 10 <= self.work_factor <= MAX_WORK_FACTOR:
            raise InputError(f"scrypt work factor {self.work_factor} is not in 10..22")

    def describe(self) -> str:
        if self.passphrase is not None:
            return "a passphrase (scrypt)"
        return ", ".join(self.recipients)


@dataclass(frozen=True)
class Opening:
    """What opens a backup: age identities, or the passphrase."""

    identities: tuple[str, ...] = ()
    passphrase: str | None = None

    def __post_init__(self) -> None:
        if bool(self.identities) == (self.passphrase is not None):
            raise InputError("give --identity or --passphrase-file (one of them) to open it")

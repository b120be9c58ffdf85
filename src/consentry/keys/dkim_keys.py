"""DKIM private keys on disk, and the DNS TXT records that publish their public halves.

Layout, beside the other keys of ``consentry init`` (``docs/keys.md``)::

    <CONSENTRY_HOME>/keys/dkim/<domain>/<selector>.pem    PKCS#8 PEM private key, mode 0600
    <CONSENTRY_HOME>/keys/dkim/<domain>/<selector>.json   {"algorithm", "domain", "selector"}

Directories are mode 0700. ``<domain>`` is the lower-case A-label form (``bücher.example`` is
``xn--bcher-kva.example``), by IDNA2008 with UTS #46 mapping through the ``idna`` package, as for
addresses; ``<selector>`` is a lower-case DNS name. A key file is never overwritten: generating a
key for a domain and selector that already have one fails and names the file. RSA keys are 2048
bits or more (RFC 8301 allows 1024; receivers such as Gmail and Yahoo expect 2048).

``StoredDKIMKey`` has the fields the signer reads (``consentry.mail.dkim.DKIMKeyLike``), so a list
from ``load_dkim_keys`` can be handed to ``DKIMSigner`` as it is. (``consentry.keys`` and
``consentry.mail`` are independent layers and may not import each other.)
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import idna
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry.domain.errors import InputError, KeyMaterialError, SetupError
from consentry.keys.ring import RING, _read_private, _write_private

__all__ = [
    "ALGORITHMS",
    "MIN_RSA_BITS",
    "StoredDKIMKey",
    "canonical_domain",
    "canonical_selector",
    "dns_record",
    "generate_dkim_key",
    "list_dkim_keys",
    "load_dkim_keys",
    "txt_strings",
    "zone_line",
]

ALGORITHMS = ("rsa-sha256", "ed25519-sha256")  # the order keys are listed and signed in
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
TXT_STRING_MAX = 255

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True, slots=True)
class StoredDKIMKey:
    """A DKIM key read from (or just written to) ``path``, the ``.pem`` file."""

    domain: str
    selector: str
    algorithm: str
    private_pem: bytes = field(repr=False)
    path: Path


def dkim_dir(home: Path) -> Path:
    return Path(home) / "keys" / "dkim"


def canonical_domain(domain: str) -> str:
    """``domain`` as lower-case A-labels without the root dot; ``InputError`` if it is not a
    valid IDNA2008 name of two labels or more."""
    text = domain.strip()
    if text.endswith("."):
        text = text[:-1]
    try:
        mapped = idna.uts46_remap(text, std3_rules=True)
        labels = [idna.alabel(label).decode("ascii") for label in mapped.split(".")]
    except (idna.IDNAError, UnicodeError) as exc:
        raise InputError(f"DKIM domain {domain!r} is not a valid domain name: {exc}") from exc
    if len(labels) < 2 or labels[-1].isdigit():
        raise InputError(f"DKIM domain {domain!r} must be a domain name such as example.com")
    name = ".".join(labels)
    if len(name) > 253:
        raise InputError(f"DKIM domain {domain!r} is longer than 253 octets")
    return name


def canonical_selector(selector: str) -> str:
    """``selector`` in lower case; ``InputError`` unless it is a DNS name of letters, digits and
    inner hyphens (it becomes a DNS label and a file name)."""
    text = selector.strip().lower()
    if _SELECTOR.fullmatch(text) is None:
        raise InputError(
            f"DKIM selector {selector!r} must be letters, digits and hyphens, dot-separated"
        )
    return text


def _private_pem(algorithm: str, bits: int) -> bytes:
    if algorithm == "rsa-sha256":
        if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
            raise InputError(f"RSA DKIM keys are {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {bits}")
        private: rsa.RSAPrivateKey | Ed25519PrivateKey = rsa.generate_private_key(65537, bits)
    elif algorithm == "ed25519-sha256":
        private = Ed25519PrivateKey.generate()
    else:
        raise InputError(
            f"unknown DKIM algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}"
        )
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _make_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)


def generate_dkim_key(
    home: Path,
    domain: str,
    selector: str,
    algorithm: str = "rsa-sha256",
    bits: int = MIN_RSA_BITS,
) -> StoredDKIMKey:
    """Make a key, write it (0600, never over an existing file) and return it.

    ``bits`` is for RSA only (2048 to 8192; Ed25519 keys have no size to choose).
    ``SetupError`` if ``consentry init`` has not run in ``home`` (creating ``keys/`` first would
    make ``init`` refuse); ``KeyMaterialError`` if the domain and selector already have a key."""
    name = canonical_domain(domain)
    sel = canonical_selector(selector)
    keys = Path(home) / "keys"
    if not (keys / RING).exists():
        raise SetupError(f"{home} is not initialised; run 'consentry init' before DKIM keygen")
    folder = dkim_dir(home) / name
    pem_path, meta_path = folder / f"{sel}.pem", folder / f"{sel}.json"
    for path in (pem_path, meta_path):
        if path.exists():
            raise KeyMaterialError(
                f"{path} already exists; consentry never overwrites a key (choose a new selector)"
            )
    pem = _private_pem(algorithm, bits)
    _make_dir(dkim_dir(home))
    _make_dir(folder)
    meta = {"algorithm": algorithm, "domain": name, "selector": sel}
    try:
        _write_private(pem_path, pem)
        _write_private(meta_path, json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n")
    except FileExistsError as exc:
        raise KeyMaterialError(
            f"{exc.filename} already exists; consentry never overwrites a key"
        ) from exc
    return StoredDKIMKey(name, sel, algorithm, pem, pem_path)


def _load(meta_path: Path, domain: str) -> StoredDKIMKey:
    pem_path = meta_path.with_suffix(".pem")
    try:
        meta = json.loads(_read_private(meta_path))
        algorithm, name, sel = meta["algorithm"], meta["domain"], meta["selector"]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyMaterialError(f"{meta_path} is not a DKIM key description: {exc}") from exc
    if (name, sel) != (domain, meta_path.stem) or algorithm not in ALGORITHMS:
        raise KeyMaterialError(
            f"{meta_path} describes {sel!r} of {name!r} ({algorithm!r}), not its own file name"
        )
    if not pem_path.exists():
        raise KeyMaterialError(f"{pem_path} is missing (its description {meta_path} exists)")
    pem = _read_private(pem_path)
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"{pem_path} is not an unencrypted PEM key: {exc}") from exc
    if algorithm == "rsa-sha256":
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(f"{pem_path} is not an RSA key of {MIN_RSA_BITS}+ bits")
    elif not isinstance(private, Ed25519PrivateKey):
        raise KeyMaterialError(f"{pem_path} is not an Ed25519 key")
    return StoredDKIMKey(name, sel, algorithm, pem, pem_path)


def _order(key: StoredDKIMKey) -> tuple[str, int, str]:
    return key.domain, ALGORITHMS.index(key.algorithm), key.selector


def load_dkim_keys(home: Path, domain: str) -> list[StoredDKIMKey]:
    """Every key of ``domain``, RSA first, then by selector; an empty list if there are none."""
    name = canonical_domain(domain)
    folder = dkim_dir(home) / name
    if not folder.is_dir():
        return []
    orphans = [p for p in folder.glob("*.pem") if not p.with_suffix(".json").exists()]
    if orphans:
        raise KeyMaterialError(f"{orphans[0]} has no description ({orphans[0].stem}.json)")
    return sorted((_load(p, name) for p in folder.glob("*.json")), key=_order)


def list_dkim_keys(home: Path) -> list[StoredDKIMKey]:
    """Every DKIM key in ``home``, by domain, then RSA first, then by selector."""
    root = dkim_dir(home)
    if not root.is_dir():
        return []
    out: list[StoredDKIMKey] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        out.extend(load_dkim_keys(home, folder.name))
    return out


def dns_record(key: StoredDKIMKey) -> tuple[str, str]:
    """``(name, TXT value)`` publishing ``key``: ``<s>._domainkey.<d>.`` and
    ``v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>`` or ``v=DKIM1; k=ed25519; p=<raw key>``."""
    private = serialization.load_pem_private_key(key.private_pem, password=None)
    if isinstance(private, Ed25519PrivateKey):
        kind = "ed25519"
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    elif isinstance(private, rsa.RSAPrivateKey):
        kind = "rsa"
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        raise KeyMaterialError(f"{key.path} is neither an RSA nor an Ed25519 key")
    value = f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode('ascii')}"
    return f"{key.selector}._domainkey.{key.domain}.", value


def txt_strings(value: str, limit: int = TXT_STRING_MAX) -> list[str]:
    """``value`` cut into character-strings of at most ``limit`` octets (RFC 1035 §3.3.14);
    a TXT record made of several strings is read as their concatenation (RFC 6376 §3.6.2.2)."""
    return [value[i : i + limit] for i in range(0, len(value), limit)] or [""]


def zone_line(key: StoredDKIMKey) -> str:
    """The record as a zone-file line: ``<name> IN TXT "<part>" "<part>"``."""
    name, value = dns_record(key)
    return f"{name} IN TXT " + " ".join(f'"{part}"' for part in txt_strings(value))

"""Email addresses: parsing, the canonical matching key, and subject references (R24, invariant 5).

Every address consentry stores, matches, suppresses or sends to goes through ``parse_address``.
It returns an ``Address`` holding the literal the user gave and a *canonical key*
``local@domain``, built as follows:

Domain (RFC 5890-5894 IDNA2008 with UTS #46 mapping, via the ``idna`` package, never Python's
built-in ``"idna"`` codec, which is IDNA2003 and maps ``straße.de`` to ``strasse.de``):

- UTS #46 mapping (case folding, width folding, ``。`` as a dot) with STD3 rules, then each label
  is validated under IDNA2008 and converted to its lower-case A-label, so ``bücher.example``,
  ``BÜCHER.example`` and ``xn--bcher-kva.example`` are one domain.
- One trailing dot (the DNS root) is removed: ``example.com.`` names the same host as
  ``example.com``, and treating them alike can only widen suppression. Two trailing dots are an
  empty label and are refused.
- Refused: IP literals (``[192.0.2.1]``), single-label domains, an all-digit last label (a bare
  IPv4 address), empty labels, labels over 63 octets, domains over 253 octets (A-label form).

Local part (RFC 5322 dot-atom, extended by RFC 6531/6532 with UTF-8):

- Unicode NFC, then ASCII-only case folding: ``A``-``Z`` become ``a``-``z`` and nothing else is
  touched, so ``Ä`` and ``ä`` stay different and full-width a (U+FF41) is not ``a`` (NFC, not NFKC).
  Folding ASCII case is what every real mailbox provider does; folding non-ASCII case has no
  agreed rule (Turkish dotless i, German ß, final sigma), so it is left to extra suppression keys.
- NFC is applied again after folding, because a few lower-case ASCII letters compose with a
  combining mark where their upper-case forms do not (``t`` + U+0308 is U+1E97, ``T`` + U+0308
  has no precomposed form).
- The result must be a dot-atom: atext and non-ASCII characters separated by single dots. Syntax
  is checked after NFC, because NFC can produce ASCII (U+037E GREEK QUESTION MARK becomes ``;``).
- Quoted local parts (``"john doe"@example.com``) are refused: almost no one has one, and each is a
  header-injection and matching hazard.
- At most 64 octets of UTF-8 after NFC; the whole canonical address at most 254 octets.

Anywhere in the address: control characters (C0, DEL, C1, which includes CR, LF and NUL),
whitespace and lone surrogates are refused, never stripped, except that whitespace around the
whole input is trimmed. In the local part, unassigned code points are refused (their NFC could
change in a later Unicode version, which would change the key) and so are invisible format
characters such as bidi overrides and zero-width spaces (ZWNJ and ZWJ, which some scripts need,
are allowed). Refusing is safe: an address that cannot be parsed can never be sent to either.

Why this key, and no more: suppression matching must never be narrower than this key (R24), and
sends are keyed on it too. Provider-specific aliases (Gmail's dots, ``+tags``) are *not* folded
here: they are not true of every domain, so folding them in the send key would merge different
people. They may be added as extra suppression keys elsewhere, never here.

The ledger never holds an address (invariant 5): it holds ``subject_ref``, an HMAC-SHA256 of the
canonical key under a secret key, so that erasing the side tables leaves no way back to a person.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import string
import unicodedata
from dataclasses import dataclass
from typing import NoReturn

import idna

from consentry.domain.errors import InvalidAddress

__all__ = [
    "MIN_SUBJECT_KEY_BYTES",
    "Address",
    "canonical_key",
    "parse_address",
    "subject_ref",
    "suppression_hash",
]

MIN_SUBJECT_KEY_BYTES = 32
MAX_LOCAL_OCTETS = 64
MAX_LABEL_OCTETS = 63
MAX_DOMAIN_OCTETS = 253
MAX_ADDRESS_OCTETS = 254
# Inputs longer than this are refused before any Unicode work, to bound the cost of a hostile
# input. Generous: NFC and UTS #46 can shrink a valid address, but never by this much in practice.
_MAX_INPUT_CHARS = 4 * MAX_ADDRESS_OCTETS
_SHOWN_CHARS = 80

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")  # RFC 5322 3.2.3
_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_JOINERS = frozenset("\u200c\u200d")


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address. Build it with ``parse_address``; the constructor does not validate.

    ``literal`` is what the user gave, minus surrounding whitespace, kept for display and export.
    ``local`` and ``domain`` are canonical: NFC with ASCII case folded, and lower-case A-labels.
    """

    literal: str
    local: str
    domain: str

    @property
    def canonical(self) -> str:
        """The matching key: ``local@domain`` in canonical form."""
        return f"{self.local}@{self.domain}"

    @property
    def unicode_domain(self) -> str:
        """The domain in U-label form, for display."""
        return idna.decode(self.domain)

    @property
    def needs_smtputf8(self) -> bool:
        """True when the local part is not ASCII. A non-ASCII domain alone does not need
        SMTPUTF8, because it can be sent as A-labels."""
        return not self.local.isascii()


def parse_address(text: str) -> Address:
    """Parse ``text`` into an ``Address``, or raise ``InvalidAddress`` naming the problem."""
    literal = text.strip()
    _check_characters(literal)
    if literal.startswith('"'):
        _fail(literal, "quoted local parts are not supported")
    for char in literal:
        if char.isspace():
            _fail(literal, f"contains whitespace ({_cp(char)})")
    ats = literal.count("@")
    if ats == 0:
        _fail(literal, "has no '@'")
    if ats > 1:
        _fail(literal, "more than one '@'")
    raw_local, raw_domain = literal.split("@")
    if not raw_local:
        _fail(literal, "local part is empty")
    if not raw_domain:
        _fail(literal, "domain is empty")
    local = _canonical_local(literal, raw_local)
    domain = _canonical_domain(literal, raw_domain)
    size = len(local.encode("utf-8")) + 1 + len(domain)
    if size > MAX_ADDRESS_OCTETS:
        _fail(literal, f"is longer than {MAX_ADDRESS_OCTETS} octets ({size})")
    return Address(literal=literal, local=local, domain=domain)


def canonical_key(text: str) -> str:
    """The canonical matching key of ``text``; raises ``InvalidAddress``."""
    return parse_address(text).canonical


def subject_ref(key: bytes, address: Address) -> str:
    """The ledger's name for a subject: lower-case hex HMAC-SHA256 of the canonical key.

    ``key`` is the subject key from the key ring and must be at least 32 bytes (``ValueError``).
    """
    if len(key) < MIN_SUBJECT_KEY_BYTES:
        raise ValueError(
            f"subject key must be at least {MIN_SUBJECT_KEY_BYTES} bytes, got {len(key)}"
        )
    return hmac.new(key, address.canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def suppression_hash(address: Address) -> str:
    """Lower-case hex SHA-256 of the canonical key, for hashed suppression exports (R26).

    This is pseudonymous personal data, not anonymous: anyone holding a list of addresses can
    hash them and match. Treat exports of it as personal data and encrypt them in transit.
    """
    return hashlib.sha256(address.canonical.encode("utf-8")).hexdigest()


def _canonical_local(literal: str, raw: str) -> str:
    if '"' in raw:
        _fail(literal, "quoted local parts are not supported")
    for char in raw:
        if char.isascii():
            continue
        category = unicodedata.category(char)
        if category == "Cn":
            _fail(
                literal,
                f"local part contains an unassigned code point ({_cp(char)}) "
                f"in Unicode {unicodedata.unidata_version}",
            )
        if category == "Cf" and char not in _JOINERS:
            _fail(literal, f"local part contains an invisible format character ({_cp(char)})")
    # NFC again after folding: "T" + U+0308 has no precomposed form but "t" + U+0308 has (U+1E97),
    # so without it the key would not be idempotent and "T\u0308" would not match "\u1e97".
    local = unicodedata.normalize("NFC", unicodedata.normalize("NFC", raw).translate(_ASCII_FOLD))
    if local.startswith("."):
        _fail(literal, "local part starts with a dot")
    if local.endswith("."):
        _fail(literal, "local part ends with a dot")
    if ".." in local:
        _fail(literal, "local part has two dots in a row")
    for char in local:
        if char.isascii() and char != "." and char not in _ATEXT:
            _fail(
                literal,
                f"local part contains {char!r} ({_cp(char)}), "
                "which is not allowed in an unquoted local part",
            )
    octets = len(local.encode("utf-8"))
    if octets > MAX_LOCAL_OCTETS:
        _fail(literal, f"local part is longer than {MAX_LOCAL_OCTETS} octets ({octets})")
    return local


class _DomainProblem(Exception):
    """Why a domain is refused (the caller names the address)."""


def _canonical_domain(literal: str, raw: str) -> str:
    found, problem = _domain_of(raw)
    if problem is not None:
        _fail(literal, problem)
    assert found is not None
    return found


@functools.lru_cache(maxsize=1 << 16)
def _domain_of(raw: str) -> tuple[str | None, str | None]:
    """(the canonical domain, None) or (None, the problem): cached, since a mailing list's
    addresses share few domains and IDNA checking is most of an address's parsing time."""
    try:
        return _check_domain(raw), None
    except _DomainProblem as problem:
        return None, str(problem)


def _check_domain(raw: str) -> str:
    if raw.startswith("["):
        raise _DomainProblem(f"domain {_show(raw)} is an address literal, which is not supported")
    try:
        mapped = idna.uts46_remap(raw, std3_rules=True)
    except idna.IDNAError as err:
        raise _DomainProblem(
            f"domain {_show(raw)} is not valid IDNA2008 (UTS #46): {err}"
        ) from None
    labels = mapped.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot: the DNS root, same host
    if "" in labels:
        raise _DomainProblem(f"domain {_show(raw)} has an empty label")
    if len(labels) == 1:
        raise _DomainProblem(f"domain {_show(raw)} has a single label; a dot is required")
    a_labels = [_a_label(label) for label in labels]
    if a_labels[-1].isdigit():
        raise _DomainProblem(
            f"domain {_show(raw)} ends in an all-digit label; IP addresses are refused"
        )
    domain = ".".join(a_labels)
    if len(domain) > MAX_DOMAIN_OCTETS:
        raise _DomainProblem(f"domain is longer than {MAX_DOMAIN_OCTETS} octets ({len(domain)})")
    return domain


def _a_label(label: str) -> str:
    # The A-label length is checked here, not left to idna, so the message is ours everywhere.
    octets = len(label) if label.isascii() else len("xn--") + len(label.encode("punycode"))
    if octets > MAX_LABEL_OCTETS:
        raise _DomainProblem(
            f"domain label {_show(label)} is longer than {MAX_LABEL_OCTETS} octets"
        )
    try:
        return idna.alabel(label).decode("ascii")
    except idna.IDNAError as err:
        raise _DomainProblem(f"domain label {_show(label)} is not valid IDNA2008: {err}") from None


def _check_characters(literal: str) -> None:
    if not literal:
        _fail(literal, "is empty")
    if len(literal) > _MAX_INPUT_CHARS:
        _fail(literal, f"is longer than {MAX_ADDRESS_OCTETS} octets")
    for char in literal:
        point = ord(char)
        if point < 0x20 or 0x7F <= point <= 0x9F:
            _fail(literal, f"contains a control character ({_cp(char)})")
        if 0xD800 <= point <= 0xDFFF:
            _fail(literal, f"contains a lone surrogate ({_cp(char)})")


def _cp(char: str) -> str:
    return f"U+{ord(char):04X}"


def _show(text: str) -> str:
    """``repr`` of user input, so CR and LF show escaped, shortened if it is long."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return f"{text[:_SHOWN_CHARS]!r}... ({len(text)} characters)"


def _fail(literal: str, problem: str) -> NoReturn:
    raise InvalidAddress(f"invalid address {_show(literal)}: {problem}")

"""DKIM signing: every signature checked by dkimpy (an independent verifier), tampering caught by
over-signing, the fast canonicalisation equal to the RFC-text reference, the process pool, and the
key store (file modes, no overwrite, DNS records).

dkimpy verifies Ed25519 with PyNaCl. When PyNaCl is not installed, ``dkimpy`` below gives dkimpy a
stand-in ``nacl`` whose only job, the Ed25519 check of the signature over the digest, is done by
``cryptography`` with the public key from the DNS record; everything else (parsing, header
selection, canonicalisation, body and header hashes) is still dkimpy's own code.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import dkim
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from dkim.canonicalization import Relaxed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.domain.errors import InputError, KeyMaterialError, SetupError
from consentry.keys.dkim_keys import (
    StoredDKIMKey,
    dns_record,
    generate_dkim_key,
    list_dkim_keys,
    load_dkim_keys,
    txt_strings,
    zone_line,
)
from consentry.keys.ring import FileKeyRing
from consentry.mail.dkim import DKIMKey, DKIMSigner
from consentry.mail.dkim_canon import (
    canonicalize_body_relaxed,
    canonicalize_body_relaxed_reference,
    canonicalize_header_relaxed,
    canonicalize_header_relaxed_reference,
    parse_header_block,
    split_message,
)
from consentry.mail.dkim_pool import SigningPool, sign_with_key

T = 1_767_225_600  # 2026-01-01T00:00:00Z
DNS = Callable[..., bytes | None]


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("dkim") / "home"
    FileKeyRing.create(home, "consentry.local/test")
    return home


@pytest.fixture(scope="module")
def rsa_key(home: Path) -> StoredDKIMKey:
    return generate_dkim_key(home, "Example.COM", "rsa2026", "rsa-sha256")


@pytest.fixture(scope="module")
def ed_key(home: Path) -> StoredDKIMKey:
    return generate_dkim_key(home, "example.com", "ed2026", "ed25519-sha256")


@pytest.fixture(scope="module")
def dns(rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey) -> DNS:
    return resolver(rsa_key, ed_key)


def resolver(*keys: StoredDKIMKey) -> DNS:
    """A dkimpy ``dnsfunc`` answering from ``dns_record``: no network."""
    records = {name.encode(): value.encode() for name, value in map(dns_record, keys)}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    return dnsfunc


class _BadSignature(Exception):
    pass


class _VerifyKey:
    """PyNaCl's ``VerifyKey`` as dkimpy uses it, over ``cryptography``'s Ed25519."""

    def __init__(self, key: bytes, encoder: object) -> None:
        self._key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key))

    def verify(self, message: bytes, signature: bytes) -> bytes:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise _BadSignature("signature does not verify") from None
        return message


_NACL_STANDIN = SimpleNamespace(
    signing=SimpleNamespace(VerifyKey=_VerifyKey),
    encoding=SimpleNamespace(Base64Encoder=object()),
    exceptions=SimpleNamespace(BadSignatureError=_BadSignature, ValueError=ValueError),
)


@pytest.fixture(autouse=True)
def dkimpy(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("nacl") is None:
        monkeypatch.setattr(dkim, "nacl", _NACL_STANDIN, raising=False)


def verify_all(message: bytes, dnsfunc: DNS) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature of ``message``, top first."""
    count = len(re.findall(rb"(?im)^dkim-signature:", message.split(b"\r\n\r\n", 1)[0]))
    verdicts = []
    for index in range(count):
        try:
            ok = dkim.DKIM(message, minkey=2048).verify(idx=index, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        verdicts.append(bool(ok))
    return verdicts


# --- messages ---------------------------------------------------------------------------------

HEADERS = [
    b'From: "Jos\xc3\xa9 M\xc3\xbcller" <news@example.com>',
    "To: =?utf-8?q?x?= <用户@例子.广告>".encode(),
    "Subject:  Grüße   aus\r\n\tKöln, \t und mehr  ".encode(),
    b"Date: Thu, 01 Jan 2026 00:00:00 +0000",
    b"Message-ID: <c1.r42@example.com>",
    b"List-Id: Newsletter <news.example.com>",
    b"List-Unsubscribe: <https://example.com/u/tok123>,\r\n <mailto:u+tok123@example.com>",
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    b"Feedback-ID: c1:news:example",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=utf-8",
    b"X-Mailer: consentry",
]
BODY = "Hallo  Welt \t\r\n\r\nZeile mit   Leerraum   \r\nÜmlaute: äöü\r\n\r\n\r\n".encode()


def build(headers: list[bytes] = HEADERS, body: bytes = BODY) -> bytes:
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


def tags(signature: bytes) -> dict[str, str]:
    value = signature.split(b":", 1)[1].decode()
    pairs = (item.split("=", 1) for item in value.split(";") if item.strip())
    return {k.strip(): re.sub(r"\s+", "", v) for k, v in pairs}


# --- verification by dkimpy -------------------------------------------------------------------


def test_rsa_signature_verifies(rsa_key: StoredDKIMKey, dns: DNS) -> None:
    message = build()
    header = DKIMSigner([rsa_key]).sign(message, timestamp=T)
    assert header.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert header.endswith(b"\r\n") and header.count(b"DKIM-Signature:") == 1
    assert verify_all(header + message, dns) == [True]


def test_ed25519_signature_verifies(ed_key: StoredDKIMKey, dns: DNS) -> None:
    message = build()
    header = DKIMSigner([ed_key]).sign(message, timestamp=T)
    assert tags(header)["a"] == "ed25519-sha256"
    assert verify_all(header + message, dns) == [True]


def test_dual_signature_puts_rsa_first_and_both_verify(
    rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey, dns: DNS
) -> None:
    message = build()
    headers = DKIMSigner([ed_key, rsa_key]).sign(message)
    first, second = headers.split(b"\r\nDKIM-Signature:")
    assert tags(first)["a"] == "rsa-sha256" and tags(b"x:" + second)["a"] == "ed25519-sha256"
    assert tags(first)["bh"] == tags(b"x:" + second)["bh"]
    assert verify_all(headers + message, dns) == [True, True]


def test_key_store_records_verify_for_an_idn_domain(home: Path) -> None:
    key = generate_dkim_key(home, "BÜCHER.example.", "s1", "ed25519-sha256")
    assert key.domain == "xn--bcher-kva.example"
    message = build([b"From: <info@xn--bcher-kva.example>", "Subject: Bücher".encode()], b"hi\r\n")
    header = DKIMSigner(load_dkim_keys(home, "bücher.example")).sign(message)
    assert tags(header)["d"] == "xn--bcher-kva.example"
    assert verify_all(header + message, resolver(key)) == [True]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param([b"From: a@example.com"], b"", id="empty-body"),
        pytest.param([b"From: a@example.com"], b"\r\n\r\n \t\r\n", id="blank-lines-body"),
        pytest.param([b"From: a@example.com", b"Subject:"], b"x\r\n", id="empty-value"),
        pytest.param([b"from: a@example.com", b"TO:b@example.com"], b"x\r\n", id="name-case"),
    ],
)
def test_edge_messages_verify(
    headers: list[bytes], body: bytes, rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey, dns: DNS
) -> None:
    message = build(headers, body)
    assert verify_all(DKIMSigner([rsa_key, ed_key]).sign(message) + message, dns) == [True, True]


def test_message_without_body_separator_verifies(ed_key: StoredDKIMKey, dns: DNS) -> None:
    message = b"From: a@example.com\r\nSubject: only headers\r\n"
    assert verify_all(DKIMSigner([ed_key]).sign(message) + message, dns) == [True]


def test_relaxed_canonicalisation_survives_refolding(rsa_key: StoredDKIMKey, dns: DNS) -> None:
    message = build()
    header = DKIMSigner([rsa_key]).sign(message)
    relaid = message.replace(b"Subject:  Gr", b"SUBJECT:\tGr").replace(b"Welt \t", b"Welt")
    assert relaid != message
    assert verify_all(header + relaid, dns) == [True]


# --- tampering --------------------------------------------------------------------------------


def _add_on_top(message: bytes, field: bytes) -> bytes:
    return field + b"\r\n" + message


def _add_at_bottom(message: bytes, field: bytes) -> bytes:
    head, body = message.split(b"\r\n\r\n", 1)
    return head + b"\r\n" + field + b"\r\n\r\n" + body


TAMPERING: dict[str, Callable[[bytes], bytes]] = {
    "body-changed": lambda m: m.replace(b"Hallo", b"Hello"),
    "body-appended": lambda m: m + b"Buy now!\r\n",
    "subject-changed": lambda m: m.replace("Grüße".encode(), b"Gruesse"),
    "list-unsubscribe-changed": lambda m: m.replace(b"tok123>,", b"evil>,"),
    "from-changed": lambda m: m.replace(b"news@example.com", b"news@evil.example"),
    "second-list-unsubscribe-top": lambda m: _add_on_top(
        m, b"List-Unsubscribe: <https://evil.example/u>"
    ),
    "second-list-unsubscribe-bottom": lambda m: _add_at_bottom(
        m, b"List-Unsubscribe: <https://evil.example/u>"
    ),
    "second-list-unsubscribe-post": lambda m: _add_on_top(
        m, b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
    ),
    "second-from-top": lambda m: _add_on_top(m, b"From: ceo@example.com"),
    "second-from-bottom": lambda m: _add_at_bottom(m, b"From: ceo@example.com"),
    "second-subject-top": lambda m: _add_on_top(m, b"Subject: Your invoice"),
    "second-subject-bottom": lambda m: _add_at_bottom(m, b"Subject: Your invoice"),
    "added-reply-to": lambda m: _add_on_top(m, b"Reply-To: thief@evil.example"),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampering_breaks_every_signature(
    change: Callable[[bytes], bytes], rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey, dns: DNS
) -> None:
    message = build()
    headers = DKIMSigner([rsa_key, ed_key]).sign(message)
    assert verify_all(headers + message, dns) == [True, True]
    tampered = change(headers + message)
    assert tampered != headers + message
    assert verify_all(tampered, dns) == [False, False]


def test_without_oversigning_an_added_copy_would_pass(rsa_key: StoredDKIMKey, dns: DNS) -> None:
    """Why over-signing: a receiver picks the bottom-most copy, so one added on top rides along."""
    message = build()
    signed = DKIMSigner([rsa_key], oversigned=()).sign(message) + message
    added = _add_on_top(signed, b"List-Unsubscribe: <https://evil.example/u>")
    assert verify_all(added, dns) == [True]


def test_unsigned_header_may_be_added(rsa_key: StoredDKIMKey, dns: DNS) -> None:
    message = build()
    signed = DKIMSigner([rsa_key]).sign(message) + message
    assert verify_all(b"Received: from mx by relay\r\n" + signed, dns) == [True]


# --- tags -------------------------------------------------------------------------------------


def test_tags_and_oversigned_h_list(rsa_key: StoredDKIMKey) -> None:
    found = tags(DKIMSigner([rsa_key]).sign(build(), timestamp=T))
    assert set(found) == {"v", "a", "c", "d", "s", "t", "h", "bh", "b"}  # never l= or x=
    assert (found["v"], found["c"], found["d"], found["s"], found["t"]) == (
        "1", "relaxed/relaxed", "example.com", "rsa2026", str(T),
    )  # fmt: skip
    h = found["h"].split(":")
    assert "List-Unsubscribe" in h and "List-Unsubscribe-Post" in h
    twice = ["From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
             "List-Unsubscribe-Post", "Feedback-ID"]  # fmt: skip
    assert h == [
        *(n for name in twice[:5] for n in (name, name)),
        "Reply-To",  # absent but over-signed: listed once, pins "no Reply-To"
        *(n for name in twice[5:] for n in (name, name)),
        "MIME-Version", "Content-Type",
    ]  # fmt: skip
    assert "X-Mailer" not in h


def test_repeated_header_is_listed_per_instance_plus_one(rsa_key: StoredDKIMKey) -> None:
    message = build([b"From: a@example.com", b"To: one@example.org", b"To: two@example.org"])
    found = tags(DKIMSigner([rsa_key]).sign(message))
    assert found["h"].split(":")[:5] == ["From", "From", "To", "To", "To"]


def test_signature_lines_stay_short(rsa_key: StoredDKIMKey) -> None:
    header = DKIMSigner([rsa_key]).sign(build())
    assert max(len(line) for line in header.split(b"\r\n")) <= 80


def test_prepare_finish_equals_sign(rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey) -> None:
    signer = DKIMSigner([rsa_key, ed_key])
    message = build()
    prepared = signer.prepare(message, timestamp=T)
    assert [index for index, _, _ in prepared] == [0, 1]
    assert all(len(digest) == 32 and head.endswith(b"b=") for _, head, digest in prepared)
    signatures = [signer.sign_digest(i, digest) for i, _, digest in prepared]
    assert signer.finish(prepared, signatures) == signer.sign(message, timestamp=T)


def test_sign_with_key_needs_installed_keys() -> None:
    with pytest.raises(RuntimeError, match="no DKIM key 0 installed"):
        sign_with_key(0, bytes(32))


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (b"To: a@example.com\r\nSubject: x\r\n\r\nbody\r\n", "no From"),
        (b"\r\nFrom: a@example.com\r\n", "no From"),
        (b"From: a@example.com\nTo: b@example.com\r\n\r\nx\r\n", "bare CR or LF"),
        (b"From: a@example.com\r\nBroken line\r\n\r\nx\r\n", "without a colon"),
        (b" folded: first\r\nFrom: a@example.com\r\n\r\n", "continuation"),
        (b"From : a@example.com\r\n\r\nx\r\n", "invalid header field name"),
    ],
)
def test_malformed_messages_are_refused(
    message: bytes, problem: str, rsa_key: StoredDKIMKey
) -> None:
    with pytest.raises(ValueError, match=problem):
        DKIMSigner([rsa_key]).sign(message)


def test_signer_configuration_is_checked(rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey) -> None:
    with pytest.raises(ValueError, match="From must be signed"):
        DKIMSigner([rsa_key], signed=("To", "Subject"), oversigned=())
    with pytest.raises(ValueError, match="over-signed but not signed"):
        DKIMSigner([rsa_key], signed=("From",), oversigned=("From", "To"))
    with pytest.raises(ValueError, match="at least one key"):
        DKIMSigner([])
    with pytest.raises(KeyMaterialError, match="needs an RSA key"):
        DKIMSigner([DKIMKey("example.com", "x", "rsa-sha256", ed_key.private_pem)])
    with pytest.raises(KeyMaterialError, match="unknown algorithm"):
        DKIMSigner([DKIMKey("example.com", "x", "rsa-sha1", rsa_key.private_pem)])
    with pytest.raises(KeyMaterialError, match="A-label"):
        DKIMSigner([DKIMKey("Example.com", "x", "rsa-sha256", rsa_key.private_pem)])


def test_small_rsa_keys_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(65537, 1024).private_bytes(  # noqa: S505 - the point
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    with pytest.raises(KeyMaterialError, match="1024 bits"):
        DKIMSigner([DKIMKey("example.com", "old", "rsa-sha256", pem)])


# --- canonicalisation: fast == RFC-text reference == dkimpy -----------------------------------

_PIECES = [b" ", b"  ", b"\t", b"\r\n", b"\r", b"\n", b"a", b"Zz", b"\xc3\xa9", b":", b"\x00"]
messy = st.lists(st.sampled_from(_PIECES) | st.binary(max_size=4), max_size=40).map(b"".join)
crlf_free = messy.map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
field_name = st.text("abcXYZ-_0123456789!#", min_size=1, max_size=12).map(str.encode)
folds = st.sampled_from([b"\r\n ", b"\r\n\t", b"\r\n  \t"])
folded_value = st.lists(messy.filter(lambda b: b"\r\n" not in b), min_size=1, max_size=5).flatmap(
    lambda parts: folds.map(lambda fold: fold.join(parts))
)


@settings(max_examples=500, deadline=None)
@given(messy)
def test_body_fast_equals_reference(body: bytes) -> None:
    assert canonicalize_body_relaxed(body) == canonicalize_body_relaxed_reference(body)


@settings(max_examples=500, deadline=None)
@given(field_name, folded_value)
def test_header_fast_equals_reference(name: bytes, value: bytes) -> None:
    fast = canonicalize_header_relaxed(name, value)
    assert fast == canonicalize_header_relaxed_reference(name, value)


@settings(max_examples=300, deadline=None)
@given(messy)
def test_body_equals_dkimpy_when_lines_end_in_crlf(body: bytes) -> None:
    body = body + b"\r\n"  # dkimpy differs only on an unterminated last line (see dkim_canon)
    assert canonicalize_body_relaxed(body) == Relaxed.canonicalize_body(body)


@settings(max_examples=300, deadline=None)
@given(field_name, st.lists(crlf_free, min_size=1, max_size=4), folds)
def test_header_equals_dkimpy(name: bytes, parts: list[bytes], fold: bytes) -> None:
    # dkimpy's bytes.strip() also strips VT and FF, which are not WSP (RFC 5234): left out here.
    value = fold.join(parts).replace(b"\x0b", b"").replace(b"\x0c", b"")
    ((lname, canonical),) = Relaxed.canonicalize_headers([(name, value)])
    assert canonicalize_header_relaxed(name, value) == lname + b":" + canonical


@pytest.mark.parametrize(
    ("body", "canonical"),
    [
        (b"", b""),
        (b"\r\n", b""),
        (b"\r\n\r\n", b""),
        (b" \t \r\n\t\r\n", b""),
        (b"abc", b"abc\r\n"),
        (b"abc  \t", b"abc\r\n"),
        (b"a \t b\r\n\r\n\r\n", b"a b\r\n"),
        (b"a\r\n\r\nb\r\n", b"a\r\n\r\nb\r\n"),
        (b" lead\r\n", b" lead\r\n"),
        (b"x\n\r\n\r\n", b"x\n\r\n"),
    ],
)
def test_body_examples(body: bytes, canonical: bytes) -> None:
    assert canonicalize_body_relaxed(body) == canonical
    assert canonicalize_body_relaxed_reference(body) == canonical


def test_header_examples() -> None:
    value = b"  Gr\xc3\xbc\xc3\x9fe \t aus\r\n\tK\xc3\xb6ln  "
    expected = b"subject:Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n"
    assert canonicalize_header_relaxed(b"SubJect", value) == expected
    assert canonicalize_header_relaxed_reference(b"SubJect", value) == expected


def test_parse_header_block_keeps_folds() -> None:
    block, body = split_message(build())
    fields = parse_header_block(block)
    assert body == BODY
    assert [lname for lname, _, _ in fields][:3] == [b"from", b"to", b"subject"]
    assert fields[2][2] == "  Grüße   aus\r\n\tKöln, \t und mehr  ".encode()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subject=folded_value, extra=crlf_free, body=messy)
def test_arbitrary_messages_verify(
    subject: bytes, extra: bytes, body: bytes, ed_key: StoredDKIMKey, dns: DNS
) -> None:
    body = body.replace(b"\r", b"").replace(b"\n", b"\r\n") + b"\r\n"  # well-formed lines
    subject = subject.replace(b"\r\n", b"\x00").replace(b"\r", b"").replace(b"\n", b"")
    subject = subject.replace(b"\x00", b"\r\n ")
    # dkimpy strips VT and FF at the ends of a value too (not WSP per RFC 5234): left out here.
    subject, extra = (v.replace(b"\x0b", b"").replace(b"\x0c", b"") for v in (subject, extra))
    headers = [b"From: a@example.com", b"Subject:" + subject, b"X-Extra:" + extra]
    message = build(headers, body)
    assert verify_all(DKIMSigner([ed_key]).sign(message) + message, dns) == [True]


# --- the process pool -------------------------------------------------------------------------


def many_messages(count: int) -> list[bytes]:
    headers = [b"From: news@example.com", b"Subject: n"]
    return [
        build(
            [*headers, b"To: r%d@example.org" % i],
            b"Hello r%d, line  %d\r\n" % (i, i) * (1 + i % 7),
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def pool(rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey) -> Iterator[SigningPool]:
    with SigningPool([rsa_key, ed_key], workers=2) as pool:
        yield pool


def test_pool_signs_in_order_and_verifies(
    pool: SigningPool, rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey, dns: DNS
) -> None:
    signer = DKIMSigner([rsa_key, ed_key])
    messages = many_messages(230)
    headers = pool.sign_many(signer, messages, timestamp=T)
    # RSA PKCS#1 v1.5 and Ed25519 are deterministic: equal bytes prove order and content.
    assert headers == [signer.sign(m, timestamp=T) for m in messages]
    for header, message in list(zip(headers, messages, strict=True))[::23]:
        assert verify_all(header + message, dns) == [True, True]


def test_pool_async_matches(pool: SigningPool, ed_key: StoredDKIMKey, dns: DNS) -> None:
    signer = DKIMSigner([ed_key])  # a signer with a subset of the pool's keys
    messages = many_messages(150)
    headers = asyncio.run(pool.sign_many_async(signer, messages, timestamp=T))
    assert headers == [signer.sign(m, timestamp=T) for m in messages]
    assert verify_all(headers[-1] + messages[-1], dns) == [True]


def test_pool_chunks_messages(pool: SigningPool) -> None:
    sizes = [len(chunk) for chunk in pool._chunks([b""] * 250)]
    assert sizes == [100, 100, 50]
    assert [len(chunk) for chunk in pool._chunks([b""] * 10)] == [5, 5]  # spread over workers


def test_pool_without_workers_signs_in_process(rsa_key: StoredDKIMKey, dns: DNS) -> None:
    signer = DKIMSigner([rsa_key])
    messages = many_messages(3)
    with SigningPool([rsa_key], workers=0) as pool:
        assert pool.sign_many(signer, messages, timestamp=T) == [
            signer.sign(m, timestamp=T) for m in messages
        ]
        headers = asyncio.run(pool.sign_many_async(signer, messages, timestamp=T))
    assert verify_all(headers[0] + messages[0], dns) == [True]


def test_pool_refuses_a_signer_with_other_keys(
    pool: SigningPool, home: Path, rsa_key: StoredDKIMKey
) -> None:
    other = generate_dkim_key(home, "other.example", "s1", "ed25519-sha256")
    with pytest.raises(ValueError, match="key this pool was not given"):
        pool.sign_many(DKIMSigner([other]), many_messages(1))


def test_pool_reports_a_bad_message(pool: SigningPool, rsa_key: StoredDKIMKey) -> None:
    with pytest.raises(ValueError, match="no From"):
        pool.sign_many(DKIMSigner([rsa_key]), [*many_messages(2), b"To: x@example.com\r\n\r\n"])


# --- the key store ----------------------------------------------------------------------------


def test_key_files_are_private_and_described(home: Path, rsa_key: StoredDKIMKey) -> None:
    folder = home / "keys" / "dkim" / "example.com"
    assert rsa_key.path == folder / "rsa2026.pem"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "keys" / "dkim").stat().st_mode) == 0o700
    for name in ("rsa2026.pem", "rsa2026.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert json.loads((folder / "rsa2026.json").read_text()) == {
        "algorithm": "rsa-sha256", "domain": "example.com", "selector": "rsa2026",
    }  # fmt: skip
    assert rsa_key.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8


def test_keygen_never_overwrites(home: Path, rsa_key: StoredDKIMKey) -> None:
    before = rsa_key.path.read_bytes()
    with pytest.raises(KeyMaterialError, match=re.escape(str(rsa_key.path))):
        generate_dkim_key(home, "EXAMPLE.com", "RSA2026", "ed25519-sha256")
    assert rsa_key.path.read_bytes() == before


def test_keygen_refusals(home: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2048"):
        generate_dkim_key(home, "example.net", "s", bits=1024)
    with pytest.raises(InputError, match="unknown DKIM algorithm"):
        generate_dkim_key(home, "example.net", "s", algorithm="rsa-sha1")
    with pytest.raises(InputError, match="selector"):
        generate_dkim_key(home, "example.net", "../x")
    with pytest.raises(InputError, match="domain"):
        generate_dkim_key(home, "localhost", "s")
    with pytest.raises(SetupError, match="consentry init"):
        generate_dkim_key(tmp_path / "fresh", "example.net", "s")
    assert not (tmp_path / "fresh").exists()


def test_load_and_list(home: Path, rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey) -> None:
    assert load_dkim_keys(home, "EXAMPLE.COM.") == [rsa_key, ed_key]  # RSA first
    assert load_dkim_keys(home, "nothing.example") == []
    listed = list_dkim_keys(home)
    assert [rsa_key, ed_key] == [k for k in listed if k.domain == "example.com"]
    assert listed == sorted(listed, key=lambda k: k.domain)


def test_load_refuses_a_readable_key(tmp_path: Path) -> None:
    FileKeyRing.create(tmp_path, "consentry.local/x")
    key = generate_dkim_key(tmp_path, "example.org", "s1", "ed25519-sha256")
    key.path.chmod(0o644)
    with pytest.raises(KeyMaterialError, match="readable by others"):
        load_dkim_keys(tmp_path, "example.org")


def test_dns_records(rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey) -> None:
    name, value = dns_record(rsa_key)
    assert name == "rsa2026._domainkey.example.com."
    assert value.startswith("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    ed_name, ed_value = dns_record(ed_key)
    assert ed_name == "ed2026._domainkey.example.com."
    assert re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", ed_value)


def test_txt_values_are_split_into_255_octet_strings(rsa_key: StoredDKIMKey) -> None:
    _, value = dns_record(rsa_key)
    parts = txt_strings(value)
    assert len(parts) == 2 and all(len(p) <= 255 for p in parts) and "".join(parts) == value
    assert [len(p) for p in txt_strings("x" * 600)] == [255, 255, 90]
    line = zone_line(rsa_key)
    assert line.startswith('rsa2026._domainkey.example.com. IN TXT "v=DKIM1; k=rsa; p=')
    assert re.findall(r'"([^"]*)"', line) == parts


def test_pool_signs_whole_messages_in_the_workers(
    pool: SigningPool, rsa_key: StoredDKIMKey, ed_key: StoredDKIMKey, dns: DNS
) -> None:
    signer = DKIMSigner([ed_key, rsa_key])  # any order: matched to the pool's keys
    messages = many_messages(250)
    headers = asyncio.run(pool.sign_messages_async(signer, messages, timestamp=T))
    assert headers == [signer.sign(m, timestamp=T) for m in messages]
    assert verify_all(headers[7] + messages[7], dns) == [True, True]

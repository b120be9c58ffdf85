"""Address canonicalisation (R24), subject references (invariant 5) and hashed suppression keys."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import string
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from consentry.domain.addresses import (
    Address,
    canonical_key,
    parse_address,
    subject_ref,
    suppression_hash,
)
from consentry.domain.errors import InvalidAddress

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

# ---------------------------------------------------------------------------------------------
# R24: what matches and what does not


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Alice@EXAMPLE.com", "alice@example.com"),
        ("ALICE@example.COM", "alice@example.com"),
        ("alice@bücher.example", "alice@xn--bcher-kva.example"),
        ("alice@BÜCHER.example", "alice@xn--bcher-kva.example"),
        ("alice@XN--BCHER-KVA.EXAMPLE", "alice@bücher.example"),
        ("alice@bücher。example", "alice@bücher.example"),  # UTS #46: ideographic full stop
        ("alice@\uff45xample.com", "alice@example.com"),  # UTS #46 maps full-width in the domain
        ("alice@example.com.", "alice@example.com"),  # one trailing dot: the DNS root
        ("  alice@example.com\r\n", "alice@example.com"),  # surrounding whitespace is trimmed
        ("\u212aelvin@example.com", "kelvin@example.com"),  # KELVIN SIGN: its NFC is "K"
    ],
)
def test_equivalent_addresses_share_a_key(left: str, right: str) -> None:
    assert canonical_key(left) == canonical_key(right)


def test_nfd_local_part_matches_its_nfc_form() -> None:
    nfc = "jos\u00e9@example.com"
    nfd = "jose\u0301@example.com"
    assert nfc != nfd
    assert canonical_key(nfd) == canonical_key(nfc) == "jos\u00e9@example.com"


def test_upper_case_ascii_base_letter_with_combining_mark_matches_lower_precomposed() -> None:
    # "T" + U+0308 has no precomposed form but "t" + U+0308 is U+1E97: NFC runs again after folding.
    assert canonical_key("T\u0308om@example.com") == canonical_key("\u1e97om@example.com")
    assert canonical_key("T\u0308om@example.com") == "\u1e97om@example.com"


def test_non_ascii_case_is_not_folded_so_upper_and_lower_umlaut_differ() -> None:
    # Deliberate: only A-Z are folded. Non-ASCII case folding has no agreed rule across providers.
    assert canonical_key("Ä@x.example") == "Ä@x.example"
    assert canonical_key("Ä@x.example") != canonical_key("ä@x.example")


def test_full_width_local_part_is_not_folded_nfc_not_nfkc() -> None:
    assert canonical_key("\uff41lice@example.com") == "\uff41lice@example.com"
    assert canonical_key("\uff41lice@example.com") != canonical_key("alice@example.com")


def test_sharp_s_domain_uses_idna2008_not_idna2003() -> None:
    assert parse_address("a@straße.de").domain == "xn--strae-oqa.de"
    assert canonical_key("a@straße.de") != canonical_key("a@strasse.de")


def test_upper_case_idn_domain() -> None:
    address = parse_address("Bob@BÜCHER.example")
    assert address.domain == "xn--bcher-kva.example"
    assert address.unicode_domain == "bücher.example"


def test_aliases_are_not_folded() -> None:
    assert canonical_key("a.b+tag@gmail.com") == "a.b+tag@gmail.com"
    assert canonical_key("a.b+tag@gmail.com") != canonical_key("ab@gmail.com")


# ---------------------------------------------------------------------------------------------
# The Address value


def test_literal_is_preserved_and_parts_are_canonical() -> None:
    address = parse_address("  Alice.Smith@BÜCHER.Example \n")
    assert address.literal == "Alice.Smith@BÜCHER.Example"
    assert address.local == "alice.smith"
    assert address.domain == "xn--bcher-kva.example"
    assert address.canonical == "alice.smith@xn--bcher-kva.example"
    assert address.unicode_domain == "bücher.example"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice@example.com", False),
        ("alice@bücher.example", False),  # a non-ASCII domain can be sent as A-labels
        ("jösé@example.com", True),
        ("用户@例子.广告", True),
    ],
)
def test_needs_smtputf8_only_for_non_ascii_local_part(text: str, expected: bool) -> None:
    assert parse_address(text).needs_smtputf8 is expected


def test_address_is_frozen() -> None:
    address = parse_address("a@example.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        address.local = "b"  # type: ignore[misc]


def test_length_limits_that_pass() -> None:
    assert len(parse_address("x" * 64 + "@example.com").local) == 64
    assert parse_address("é" * 32 + "@example.com").needs_smtputf8  # 64 octets in UTF-8
    label = "l" * 63
    assert parse_address(f"a@{label}.example").domain == f"{label}.example"
    domain_252 = ".".join(["d" * 63] * 3 + ["d" * 60])
    assert len(domain_252) == 252
    assert len(parse_address(f"a@{domain_252}").canonical) == 254


# ---------------------------------------------------------------------------------------------
# What is refused, and the message names the problem

LABEL_63 = "d" * 63
BAD = [
    ("", "is empty"),
    ("   ", "is empty"),
    ("alice.example.com", "has no '@'"),
    ("a@@b", "more than one '@'"),
    ("a@b@example.com", "more than one '@'"),
    ("@example.com", "local part is empty"),
    ("alice@", "domain is empty"),
    (".alice@example.com", "local part starts with a dot"),
    ("alice.@example.com", "local part ends with a dot"),
    ("al..ice@example.com", "local part has two dots in a row"),
    ("x" * 65 + "@example.com", "local part is longer than 64 octets"),
    ("é" * 32 + "x@example.com", "local part is longer than 64 octets (65)"),
    (f"a@{'l' * 64}.example", "is longer than 63 octets"),
    (f"a@{'ü' * 60}.example", "is longer than 63 octets"),  # as an A-label
    (f"a@{'.'.join([LABEL_63] * 4)}", "domain is longer than 253 octets (255)"),
    (f"ab@{'.'.join([LABEL_63] * 3 + ['d' * 60])}", "is longer than 254 octets (255)"),
    ("a" * 2000 + "@example.com", "is longer than 254 octets"),
    ("a@[192.0.2.1]", "address literal"),
    ("a@[IPv6:2001:db8::1]", "address literal"),
    ("a@192.0.2.1", "all-digit label"),
    ('"john.doe"@example.com', "quoted local parts are not supported"),
    ('"john doe"@example.com', "quoted local parts are not supported"),
    ('john"doe@example.com', "quoted local parts are not supported"),
    ("john doe@example.com", "contains whitespace (U+0020)"),
    ("john@exa mple.com", "contains whitespace (U+0020)"),
    ("john\u00a0doe@example.com", "contains whitespace (U+00A0)"),
    ("john\u3000doe@example.com", "contains whitespace (U+3000)"),
    ("a@b.example\r\nBcc: x@y.example", "contains a control character (U+000D)"),
    ("a@b.example\nBcc: x@y.example", "contains a control character (U+000A)"),
    ("a\tb@example.com", "contains a control character (U+0009)"),
    ("a\x00@example.com", "contains a control character (U+0000)"),
    ("a@example.com\x00", "contains a control character (U+0000)"),
    ("a\x7f@example.com", "contains a control character (U+007F)"),
    ("a\x85b@example.com", "contains a control character (U+0085)"),
    ("a\ud800@example.com", "lone surrogate (U+D800)"),
    ("a\u202eb@example.com", "invisible format character (U+202E)"),
    ("a\u200bb@example.com", "invisible format character (U+200B)"),
    ("a\U000e0001b@example.com", "invisible format character (U+E0001)"),
    ("a\u0378b@example.com", "unassigned code point (U+0378)"),
    ("a(b)@example.com", "'(' (U+0028), which is not allowed"),
    ("a\\b@example.com", "(U+005C), which is not allowed"),
    ("a,b@example.com", "(U+002C), which is not allowed"),
    ("a\u037e@example.com", "(U+003B), which is not allowed"),  # Greek question mark: NFC is ";"
    ("a@localhost", "has a single label"),
    ("a@localhost.", "has a single label"),
    ("a@example..com", "has an empty label"),
    ("a@.example.com", "has an empty label"),
    ("a@example.com..", "has an empty label"),
    ("a@ex☃ample.com", "label 'ex☃ample' is not valid IDNA2008"),
    ("a@ex☃ample..com", "has an empty label"),
    ("a@xn--a.example", "label 'xn--a' is not valid IDNA2008"),
    ("a@xn--zz.example", "label 'xn--zz' is not valid IDNA2008"),
    ("a@-example.com", "is not valid IDNA2008"),
    ("a@ab--cd.example", "is not valid IDNA2008"),
    ("a@exa_mple.com", "is not valid IDNA2008 (UTS #46)"),
    ("a@exa!mple.com", "is not valid IDNA2008 (UTS #46)"),
    ("a@a\u2488com.example", "is not valid IDNA2008 (UTS #46)"),  # ⒈ would map to "1."
]


@pytest.mark.parametrize(("text", "fragment"), BAD)
def test_bad_address_is_refused_with_a_specific_message(text: str, fragment: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(text)
    message = str(caught.value)
    assert fragment in message
    assert message.startswith("invalid address ")
    assert "\r" not in message and "\n" not in message and "\x00" not in message


def test_message_shows_the_input_as_repr() -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address("a@@b")
    assert str(caught.value) == "invalid address 'a@@b': more than one '@'"
    with pytest.raises(InvalidAddress) as caught:
        parse_address("a@b.example\r\nBcc: x@y.example")
    assert "'a@b.example\\r\\nBcc: x@y.example'" in str(caught.value)


def test_message_shortens_a_huge_input() -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address("a" * 100_000 + "@example.com")
    assert len(str(caught.value)) < 300


def test_private_use_and_joiners_are_allowed_in_the_local_part() -> None:
    assert parse_address("a\U0010fffdb@example.com").needs_smtputf8
    assert parse_address("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645@example.com")


def test_invalid_address_is_an_input_error() -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address("nope")
    assert caught.value.code == "invalid-address"
    assert caught.value.http_status == 422


# ---------------------------------------------------------------------------------------------
# Subject references and suppression hashes


def test_subject_ref_is_hmac_sha256_of_the_canonical_key() -> None:
    address = parse_address("Alice@EXAMPLE.com")
    expected = hmac.new(KEY, b"alice@example.com", hashlib.sha256).hexdigest()
    assert subject_ref(KEY, address) == expected
    assert subject_ref(KEY, address) == subject_ref(KEY, parse_address("alice@example.com"))


def test_subject_ref_of_a_non_ascii_address_uses_utf8() -> None:
    address = parse_address("Jösé@bücher.example")
    message = "jösé@xn--bcher-kva.example".encode()
    assert subject_ref(KEY, address) == hmac.new(KEY, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("size", [0, 16, 31])
def test_subject_ref_refuses_short_keys(size: int) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        subject_ref(b"k" * size, parse_address("a@example.com"))


def test_suppression_hash_is_sha256_of_the_canonical_key() -> None:
    address = parse_address("ALICE@Bücher.example")
    expected = hashlib.sha256(b"alice@xn--bcher-kva.example").hexdigest()
    assert suppression_hash(address) == expected
    assert suppression_hash(address) == suppression_hash(parse_address("alice@bücher.example"))


# ---------------------------------------------------------------------------------------------
# Properties

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
atoms = st.text(alphabet=ATEXT, min_size=1, max_size=12)
ascii_locals = st.lists(atoms, min_size=1, max_size=4).map(".".join).filter(lambda s: len(s) <= 64)
labels = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)
tlds = st.from_regex(r"[a-z]{2,8}", fullmatch=True)
ascii_domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]), st.lists(labels, min_size=1, max_size=3), tlds
)
idn_domains = st.sampled_from(
    ["bücher.example", "straße.de", "例子.广告", "пример.рф", "ελληνικά.example", "example.com"]
)
ascii_addresses = st.builds(lambda local, domain: f"{local}@{domain}", ascii_locals, ascii_domains)

# Letters, digits and combining marks, mixed with ASCII letters so that case folding and
# composition meet (e.g. "T" + U+0308).
unicode_chars = st.one_of(
    st.sampled_from(string.ascii_letters),
    st.characters(categories=["L", "Nd"]),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),
    st.sampled_from("\u0331\u0307\u030a\u030c\u0308\u212a\u212b\u00c5\u00e5\u1e97"),
)
unicode_locals = st.text(alphabet=unicode_chars, min_size=1, max_size=12).filter(
    lambda s: len(unicodedata.normalize("NFC", s).encode()) <= 64
)


@given(local=st.one_of(ascii_locals, unicode_locals), domain=st.one_of(ascii_domains, idn_domains))
def test_canonicalisation_is_idempotent(local: str, domain: str) -> None:
    address = parse_address(f"{local}@{domain}")
    again = parse_address(address.canonical)
    assert again.canonical == address.canonical
    assert again == Address(literal=address.canonical, local=address.local, domain=address.domain)


@given(address=ascii_addresses, flips=st.lists(st.booleans(), min_size=200, max_size=200))
def test_ascii_case_variants_share_a_key(address: str, flips: list[bool]) -> None:
    variant = "".join(c.swapcase() if flip else c for c, flip in zip(address, flips, strict=False))
    assert canonical_key(variant) == canonical_key(address) == canonical_key(address.lower())


@given(local=unicode_locals, domain=st.one_of(ascii_domains, idn_domains))
def test_normalisation_forms_share_a_key(local: str, domain: str) -> None:
    key = parse_address(f"{local}@{domain}").canonical
    for form in ("NFC", "NFD"):
        assert canonical_key(unicodedata.normalize(form, f"{local}@{domain}")) == key
    assert key == unicodedata.normalize("NFC", key)


@given(
    address=st.one_of(ascii_addresses, st.builds("{}@{}".format, unicode_locals, idn_domains)),
    key=st.binary(min_size=32, max_size=64),
    other=st.binary(min_size=32, max_size=64),
)
def test_subject_ref_is_deterministic_keyed_and_hex(address: str, key: bytes, other: bytes) -> None:
    parsed = parse_address(address)
    ref = subject_ref(key, parsed)
    assert ref == subject_ref(key, parse_address(parsed.canonical))
    assert len(ref) == 64
    assert set(ref) <= set("0123456789abcdef")
    assume(key != other)
    assert subject_ref(other, parsed) != ref


@given(
    address=st.one_of(ascii_addresses, st.builds("{}@{}".format, unicode_locals, idn_domains)),
    before=st.sampled_from(["", " ", "\t", "\r\n", "  \n"]),
    after=st.sampled_from(["", " ", "\t", "\r\n", "  \n"]),
)
def test_literal_round_trips(address: str, before: str, after: str) -> None:
    parsed = parse_address(before + address + after)
    assert parsed.literal == address
    assert parse_address(parsed.literal) == parsed


fuzz_chars = st.one_of(
    st.characters(),
    st.sampled_from('@@.."[]\\ \r\n\x00-xn--'),
    st.sampled_from(string.ascii_letters),
)


@given(
    text=st.one_of(
        st.text(alphabet=fuzz_chars, max_size=80),
        st.builds("{}@{}".format, st.text(alphabet=fuzz_chars, max_size=20), ascii_domains),
        st.builds("{}@{}".format, unicode_locals, st.text(alphabet=fuzz_chars, max_size=30)),
    )
)
def test_any_text_parses_canonically_or_raises_invalid_address(text: str) -> None:
    try:
        address = parse_address(text)
    except InvalidAddress as err:
        assert str(err).startswith("invalid address ")
        return
    canonical = address.canonical.encode("utf-8")
    assert len(canonical) <= 254
    assert canonical.count(b"@") == 1
    assert not any(c in canonical for c in b'\r\n\x00 \t"')
    assert address.domain.isascii() and address.domain == address.domain.lower()
    assert parse_address(address.canonical).canonical == address.canonical
    assert address.unicode_domain

"""Spliced campaign messages: structure, header injection (R27), the R17 linter, and the fast
path held equivalent to the ``EmailMessage`` reference path."""

from __future__ import annotations

import dataclasses
import email.header
import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.domain.errors import HeaderInjection, InputError, InvalidAddress, TemplateError
from consentry.domain.message import (
    LIST_UNSUBSCRIBE_POST,
    CampaignHeaders,
    Recipient,
    Slot,
    SplicedMessage,
    check_header_block,
    format_date,
    lint_headers,
)
from consentry.domain.message_splice import qp_static, qp_value

HEADERS = CampaignHeaders(
    from_name="Example Shop",
    from_address="news@example.com",
    reply_to="help@example.com",
    subject="Our March newsletter",
    list_id="Newsletter <newsletter.lists.example.com>",
    feedback_id="c1:newsletter:example:consentry",
)
DATE = format_date(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
URL = "https://consentry.example.com/u/t1.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345678_-?l=news&x=1"
MAILTO = "mailto:unsub@example.com?subject=unsubscribe"
U, E = Slot("unsubscribe_url"), Slot("email")
TEXT: list[str | Slot] = ["Hello ", E, ",\n\nNews.\n\nUnsubscribe: ", U, "\n"]
HTML: list[str | Slot] = ["<html><body><p>Hello ", E, '</p><a href="', U, '">Unsubscribe</a>']
HTML += ["</body></html>\n"]
TOP_LEVEL = [
    "to", "date", "message-id", "list-unsubscribe", "from", "reply-to", "subject", "list-id",
    "list-unsubscribe-post", "feedback-id", "mime-version", "content-type",
]  # fmt: skip


def recipient(address: str = "alice@example.org", **over: Any) -> Recipient:
    fields: dict[str, Any] = {
        "address": address,
        "message_id": "c1.00af3@example.com",
        "unsubscribe_url": URL,
        "unsubscribe_mailto": MAILTO,
        "values": {},
    }
    return Recipient(**(fields | over))


def parse(data: bytes) -> EmailMessage:
    msg = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def u(text: str) -> str:
    """Undo the parser's surrogate escapes for raw UTF-8 in address parts (RFC 6532)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8")


def from_header(data: bytes) -> tuple[str, str]:
    """(display name, address) of From, decoded by RFC 2047 rules. Not ``msg["From"]``: 3.11's
    address parser puts a space between adjacent encoded-words of a folded display name, where
    RFC 2047 §6.2 says the white space between them is ignored (``Subject`` decodes right)."""
    head = data.partition(b"\r\n\r\n")[0].decode("utf-8")
    match = re.search(r"^From:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.MULTILINE)
    assert match is not None
    unfolded = re.sub(r"\r\n([ \t])", r"\1", match.group(1))
    (name, address), *rest = email.utils.getaddresses([unfolded])
    assert not rest
    return str(email.header.make_header(email.header.decode_header(name))), address


def names(msg: EmailMessage) -> list[str]:
    return sorted(k.lower() for k in msg)


def bodies(msg: EmailMessage) -> tuple[str, str | None]:
    """The decoded text and HTML bodies, with CRLF read as LF."""
    parts = {p.get_content_type(): p for p in msg.walk() if p.get_content_maintype() == "text"}
    text = parts["text/plain"].get_content().replace("\r\n", "\n")
    page = parts.get("text/html")
    return text, None if page is None else page.get_content().replace("\r\n", "\n")


def expected_body(parts: list[str | Slot], values: dict[str, str], escape: bool) -> str:
    import html

    out = "".join(
        p if isinstance(p, str) else (html.escape(values[p.name]) if escape else values[p.name])
        for p in parts
    )
    out = out.replace("\r\n", "\n").replace("\r", "\n")
    return out if out.endswith("\n") else out + "\n"


def assert_equivalent(fast: bytes, slow: bytes) -> None:
    a, b = parse(fast), parse(slow)
    assert names(a) == names(b)
    for name in set(names(a)) - {"content-type", "date"}:
        assert str(a[name]) == str(b[name]), name
    assert a["Date"].datetime == b["Date"].datetime
    assert a.get_content_type() == b.get_content_type()
    assert bodies(a) == bodies(b)


def rendered(message: SplicedMessage, r: Recipient, date: str = DATE) -> bytes:
    """``message.render``, held to the R17 linter: every message rendered here is lint-clean."""
    data = message.render(r, date)
    assert lint_headers(data) == []
    return data


def assert_well_formed(data: bytes) -> None:
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert b"\n" not in data.replace(b"\r\n", b"")
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert lint_headers(data) == []


# --- structure ------------------------------------------------------------------------------


def test_multipart_message_structure() -> None:
    message = SplicedMessage.build(HEADERS, TEXT, HTML)
    data = rendered(message, recipient(), DATE)
    assert_well_formed(data)
    msg = parse(data)
    assert names(msg) == sorted(TOP_LEVEL)
    assert msg["To"] == "alice@example.org"
    assert msg["Date"] == DATE
    assert msg["Message-ID"] == "<c1.00af3@example.com>"
    assert msg["List-Unsubscribe"] == f"<{URL}>, <{MAILTO}>"
    assert msg["List-Unsubscribe-Post"] == LIST_UNSUBSCRIBE_POST
    assert msg["From"].addresses[0].display_name == "Example Shop"
    assert msg["List-Id"] == "Newsletter <newsletter.lists.example.com>"
    assert msg["Feedback-ID"] == "c1:newsletter:example:consentry"
    assert msg.get_content_type() == "multipart/alternative"
    assert str(msg.get_param("boundary")).startswith("=_")
    text, page = bodies(msg)
    assert text == f"Hello alice@example.org,\n\nNews.\n\nUnsubscribe: {URL}\n"
    assert page == (
        f'<html><body><p>Hello alice@example.org</p><a href="{URL.replace("&", "&amp;")}">'
        "Unsubscribe</a></body></html>\n"
    )


def test_text_only_message() -> None:
    data = rendered(SplicedMessage.build(HEADERS, TEXT, None), recipient(), DATE)
    assert_well_formed(data)
    msg = parse(data)
    assert names(msg) == sorted([*TOP_LEVEL, "content-transfer-encoding"])
    assert msg["Content-Type"] == 'text/plain; charset="utf-8"'
    assert bodies(msg)[0].endswith(f"Unsubscribe: {URL}\n")


def test_per_recipient_headers_come_first_and_are_crlf() -> None:
    data = rendered(SplicedMessage.build(HEADERS, TEXT, HTML), recipient(), DATE)
    assert data.startswith(b"To: alice@example.org\r\nDate: " + DATE.encode() + b"\r\n")


def test_list_unsubscribe_is_folded_at_the_comma_when_long() -> None:
    data = rendered(SplicedMessage.build(HEADERS, TEXT, None), recipient(), DATE)
    assert f"List-Unsubscribe: <{URL}>,\r\n <{MAILTO}>\r\n".encode() in data
    short = recipient(unsubscribe_url="https://e.example/u/t1.x", unsubscribe_mailto=None)
    data = rendered(SplicedMessage.build(HEADERS, TEXT, None), short, DATE)
    assert b"List-Unsubscribe: <https://e.example/u/t1.x>\r\n" in data
    assert lint_headers(data) == []


def test_render_is_deterministic_and_static_part_shared() -> None:
    message = SplicedMessage.build(HEADERS, TEXT, HTML)
    one = rendered(message, recipient(), DATE)
    assert one == rendered(message, recipient(), DATE)
    other = rendered(message, recipient("bob@example.net", message_id="c1.2@example.com"), DATE)
    assert one != other
    assert parse(one).get_param("boundary") == parse(other).get_param("boundary")


def test_email_value_defaults_to_the_address_and_can_be_given() -> None:
    message = SplicedMessage.build(HEADERS, TEXT, None)
    text = bodies(parse(rendered(message, recipient(values={"email": "Bob <b>"}), DATE)))[0]
    assert text.startswith("Hello Bob <b>,")


def test_html_values_are_escaped() -> None:
    message = SplicedMessage.build(HEADERS, TEXT, HTML)
    page = bodies(parse(rendered(message, recipient(values={"email": "<script>&"}), DATE)))[1]
    assert page is not None and "&lt;script&gt;&amp;" in page and "<script>" not in page


def test_the_boundary_cannot_occur_in_quoted_printable() -> None:
    message = SplicedMessage.build(HEADERS, ["--=_ x =_ ", U], ["=_=_=_", U])
    data = rendered(message, recipient(values={"email": "=_"}), DATE)
    boundary = parse(data).get_param("boundary")
    assert data.count(f"--{boundary}".encode()) == 3
    assert bodies(parse(data))[0] == f"--=_ x =_ {URL}\n"


def test_body_without_unsubscribe_link_is_refused() -> None:
    with pytest.raises(TemplateError, match="text body has no visible unsubscribe link"):
        SplicedMessage.build(HEADERS, ["Hello ", E], None)
    with pytest.raises(TemplateError, match="html body"):
        SplicedMessage.build(HEADERS, TEXT, ["<p>x</p>"])


def test_unknown_slot_is_refused() -> None:
    with pytest.raises(TemplateError, match="unknown recipient field 'name'"):
        SplicedMessage.build(HEADERS, [Slot("name"), U], None)


# --- quoted-printable ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("a = b", b"a =3D b"),
        ("trailing \nx\t", b"trailing=20\r\nx=09"),
        (".dot\n..", b"=2Edot\r\n=2E."),
        ("From me\nFrom", b"=46rom me\r\nFrom"),
        ("é", b"=C3=A9"),
        ("x" * 80, b"x" * 75 + b"=\r\n" + b"x" * 5),
    ],
)
def test_qp_static(text: str, encoded: bytes) -> None:
    assert qp_static(text) == encoded


def test_qp_value_never_splits_an_escape() -> None:
    for size in range(60, 90):
        for tail in ("=", "é", "ab=cd"):
            value = "x" * size + tail * 3
            encoded = qp_value(value)
            assert all(len(line) <= 75 for line in encoded.split(b"=\r\n"))
            assert not re.search(rb"=(\r|[0-9A-F]?\r)", encoded.replace(b"=\r\n", b"\x00"))


# --- SMTPUTF8 and internationalised addresses (RFC 6531/6532) ---------------------------------


def test_non_ascii_local_part_needs_smtputf8_and_goes_raw() -> None:
    message = SplicedMessage.build(HEADERS, TEXT, HTML)
    r = recipient("jösé@bücher.example")
    assert message.needs_smtputf8(r)
    data = rendered(message, r, DATE)
    assert "To: jösé@bücher.example\r\n".encode() in data
    assert parse(data)["To"] == "jösé@bücher.example"
    assert lint_headers(data) == []
    assert_equivalent(data, message.reference_render(r, DATE))


def test_idn_domain_with_ascii_local_part_uses_the_a_label() -> None:
    message = SplicedMessage.build(HEADERS, TEXT, None)
    r = recipient("Alice@Bücher.example")
    assert not message.needs_smtputf8(r)
    data = rendered(message, r, DATE)
    assert b"To: Alice@xn--bcher-kva.example\r\n" in data
    assert bodies(parse(data))[0].startswith("Hello Alice@Bücher.example,")
    assert_equivalent(data, message.reference_render(r, DATE))


def test_non_ascii_from_address_makes_every_message_smtputf8() -> None:
    headers = dataclasses.replace(HEADERS, from_address="新闻@例子.example")
    message = SplicedMessage.build(headers, TEXT, None)
    r = recipient()
    assert message.needs_smtputf8(r)
    data = rendered(message, r, DATE)
    assert u(parse(data)["From"].addresses[0].addr_spec) == "新闻@例子.example"
    assert_equivalent(data, message.reference_render(r, DATE))


def test_non_ascii_display_texts_are_encoded_words() -> None:
    headers = dataclasses.replace(HEADERS, from_name="Café Ünïcode", subject="Grüße " * 20)
    message = SplicedMessage.build(headers, TEXT, HTML)
    data = rendered(message, recipient(), DATE)
    head = data.partition(b"\r\n\r\n")[0]
    assert head.isascii()
    msg = parse(data)
    assert msg["Subject"] == ("Grüße " * 20).strip()
    assert from_header(data)[0] == "Café Ünïcode"
    assert lint_headers(data) == []


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "error", "match"),
    [
        ({"message_id": "no-at-sign"}, InputError, "message_id"),
        ({"message_id": "<a@b>"}, InputError, "message_id"),
        ({"message_id": "a@b\r\nBcc: x@evil"}, HeaderInjection, "message_id"),
        ({"unsubscribe_url": "http://example.com/u"}, InputError, "https"),
        ({"unsubscribe_url": "https://example.com/u x"}, InputError, "unsubscribe_url"),
        ({"unsubscribe_url": "https://example.com/u>, <https://evil"}, InputError, "https"),
        ({"unsubscribe_url": "https://example.com/u\r\nBcc: x"}, HeaderInjection, "unsub"),
        ({"unsubscribe_url": "https://e.example/" + "a" * 900}, InputError, "https"),
        ({"unsubscribe_mailto": "https://example.com/other"}, InputError, "mailto"),
        ({"unsubscribe_mailto": "mailto:a@b\n"}, HeaderInjection, "mailto"),
        ({"address": "alice@example.org, eve@evil.example"}, InvalidAddress, "recipient"),
        ({"address": "alice@example.org\r\nBcc: eve@evil.example"}, HeaderInjection, "recip"),
        ({"address": "=?UTF-8?Q?=0A?=@example.org"}, HeaderInjection, "encoded-word"),
        ({"values": {"email": "a\nb"}}, HeaderInjection, "email"),
    ],
)
def test_bad_recipient_values_are_refused(
    over: dict[str, Any], error: type[Exception], match: str
) -> None:
    message = SplicedMessage.build(HEADERS, TEXT, HTML)
    with pytest.raises(error, match=match):
        message.render(recipient(**over), DATE)
    with pytest.raises(error, match=match):
        message.reference_render(recipient(**over), DATE)


@pytest.mark.parametrize("date", ["", "yesterday", "2026-03-01T09:00:00Z", DATE + "\r\nBcc: x"])
def test_bad_dates_are_refused(date: str) -> None:
    with pytest.raises(InputError, match="date"):
        SplicedMessage.build(HEADERS, TEXT, None).render(recipient(), date)


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"subject": "  "}, InputError),
        ({"list_id": "no brackets"}, InputError),
        ({"list_id": "Name <nodot>"}, InputError),
        ({"list_id": "A <b> <c.d>"}, InputError),
        ({"feedback_id": "has space"}, InputError),
        ({"feedback_id": ""}, InputError),
        ({"from_address": "not an address"}, InvalidAddress),
        ({"reply_to": "a@b@c"}, InvalidAddress),
        ({"subject": "=?UTF-8?Q?=0ABcc:_x@evil?="}, HeaderInjection),
        ({"from_name": "Shop\u2028Bcc: x"}, HeaderInjection),
        ({"subject": "x\x0bBcc: y"}, HeaderInjection),
    ],
)
def test_bad_campaign_headers_are_refused(over: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        SplicedMessage.build(dataclasses.replace(HEADERS, **over), TEXT, None)


# --- the post-generation checks ---------------------------------------------------------------


def test_a_display_name_the_folder_would_garble_is_refused() -> None:
    """3.11's folder drops the space where it folds a display name between two encoded-words."""
    name = "0" + "\u0800" * 14 + " \u00a1"
    with pytest.raises(InputError, match=r"from_name: .* folding fault"):
        SplicedMessage.build(dataclasses.replace(HEADERS, from_name=name), TEXT, None)


def test_check_header_block_catches_the_cve_2024_6923_output() -> None:
    """What 3.11.7's ``email`` writes for Subject ``=?UTF-8?Q?=0ABcc:_x@evil?=``."""
    with pytest.raises(HeaderInjection, match="bare CR, LF"):
        check_header_block(b"Subject: \nBcc: x@evil\r\n", ["Subject"])


@pytest.mark.parametrize(
    ("block", "match"),
    [
        (b"Subject: a\r\nBcc: x@evil\r\n", "extra \\['bcc'\\]"),
        (b"Subject: a\r\nSubject: b\r\n", "extra \\['subject'\\]"),
        (b"Subject: a\r\n", "missing \\['to'\\]"),
        (b"Subject: a\rb\r\nTo: b\r\n", "bare CR"),
        (b"Subject: a\0\r\nTo: b\r\n", "NUL"),
        (b"Subject: a\r\nTo: b", "CRLF"),
        (b" Subject: a\r\nTo: b\r\n", "continuation"),
        (b"Subject: a\r\nTo b\r\n", "line 2 is not 'Name: value'"),
        (b"Subject: " + b"a" * 990 + b"\r\nTo: b\r\n", "998"),
    ],
)
def test_check_header_block_refuses(block: bytes, match: str) -> None:
    with pytest.raises(HeaderInjection, match=match):
        check_header_block(block, ["Subject", "To"])


def test_check_header_block_accepts_folding() -> None:
    check_header_block(b"Subject: a\r\n b\r\n\tc\r\nTO: x\r\n", ["Subject", "To"])


# --- R17 linter -----------------------------------------------------------------------------


def good() -> bytes:
    return rendered(SplicedMessage.build(HEADERS, TEXT, HTML), recipient(), DATE)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (f"<{URL}>,".encode(), f"<{URL}>, <https://x.example/u>,".encode(), "2 https URIs"),
        (f"<{URL}>,".encode(), b"<http://x.example/u>,", "0 https URIs"),
        (f"<{URL}>,".encode(), f"<{URL}>, <http://x.example/u>,".encode(), "neither https"),
        (f"<{URL}>,".encode(), URL.encode() + b",", "not a list of <URI>"),
        (b"List-Unsubscribe=One-Click", b"List-Unsubscribe=one-click", "list-unsubscribe-post"),
        (b"List-Unsubscribe-Post: ", b"X-Post: ", "list-unsubscribe-post is missing"),
        (b"Message-ID: <c1.00af3@example.com>", b"Message-ID: c1@x", "message-id"),
        (b"From: ", b"From: a@b.example\r\nFrom: ", "from occurs 2 times"),
        (b"Feedback-ID: ", b"X-Feedback: ", "feedback-id is missing"),
        (b"Date: Sun, 01", b"Date: Xyz, 01 Foo", "date"),
        (b"List-Id: ", b"List-Id: x\nBcc: y\r\nX: ", "bare CR, LF"),
    ],
)
def test_lint_finds_problems(old: bytes, new: bytes, problem: str) -> None:
    data = good()
    assert old in data
    problems = lint_headers(data.replace(old, new, 1))
    assert any(problem in p for p in problems), problems


def test_lint_finds_a_body_without_the_link() -> None:
    head, blank, body = good().partition(b"\r\n\r\n")
    data = head + blank + body.replace(b"https://consentry", b"https://consentrx", 1)
    assert lint_headers(data) == [
        f"text/plain does not show the unsubscribe link {URL}",
    ]


def test_lint_finds_long_qp_lines() -> None:
    data = good().replace(b"News.", b"N" * 80, 1)
    assert "text/plain has quoted-printable lines over 76 characters" in lint_headers(data)


def test_lint_flags_what_email_message_does_to_a_long_list_unsubscribe() -> None:
    """Why the fast path writes List-Unsubscribe itself: EmailMessage folds it into
    encoded-words, which RFC 2369 clients do not decode."""
    data = SplicedMessage.build(HEADERS, TEXT, None).reference_render(recipient(), DATE)
    assert any("not a list of <URI>" in p for p in lint_headers(data))


# --- Hypothesis: bodies, equivalence and injection ---------------------------------------------

PIECES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    st.sampled_from([".", "From ", "=", " ", "\t", "\n", "\r\n", "\r", "=_", "--", "é", "€"]),
    st.builds(lambda a, n: a * n, st.sampled_from(["x", "= ", "é", " ", "."]), st.integers(1, 200)),
)
ODD_TEXT = st.lists(PIECES, max_size=12).map("".join)
PARTS = st.lists(st.one_of(ODD_TEXT, st.sampled_from([E, U])), max_size=8).map(lambda p: [*p, U])
LOCAL = st.sampled_from(["alice", "Bob.Smith", "jösé", "用户", "o'neil+tag", "ünï.côdé"])
DOMAIN = st.sampled_from(["example.org", "bücher.example", "例子.example", "EXAMPLE.COM"])
VALUE = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=100)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=PARTS,
    page=st.none() | PARTS,
    local=LOCAL,
    domain=DOMAIN,
    email_value=st.none() | VALUE,
)
def test_fast_path_equals_reference(
    text: list[str | Slot],
    page: list[str | Slot] | None,
    local: str,
    domain: str,
    email_value: str | None,
) -> None:
    message = SplicedMessage.build(HEADERS, text, page)
    values = {} if email_value is None else {"email": email_value}
    r = recipient(f"{local}@{domain}", values=values)
    fast = rendered(message, r, DATE)
    assert_well_formed(fast)
    assert_equivalent(fast, message.reference_render(r, DATE))
    filled = {
        "email": email_value if email_value is not None else r.address,
        "unsubscribe_url": URL,
    }
    got_text, got_page = bodies(parse(fast))
    assert got_text == expected_body(text, filled, escape=False)
    assert got_page == (None if page is None else expected_body(page, filled, escape=True))


PAYLOADS = st.sampled_from(
    [
        "\r\nBcc: x@evil.example",
        "\nBcc: x@evil.example",
        "\rBcc: x@evil.example",
        "\n",
        "\r",
        "\0",
        "\r\n",
        "\r\n\r\n",
        "=?UTF-8?Q?=0A?=",
        "=?UTF-8?Q?=0D=0ABcc:_x@evil.example?=",
        "=?utf-8?b?DQpCY2M6IHhAZXZpbA==?=",
        "\u2028Bcc: x",
        "\x0bBcc: x",
        "\x85",
    ]
)
PAYLOAD_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|=\?.*\?=", re.DOTALL)
CAMPAIGN_FIELDS = ["from_name", "subject", "list_id", "feedback_id", "reply_to"]
RECIPIENT_FIELDS = ["address", "email", "message_id", "unsubscribe_url", "unsubscribe_mailto"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(CAMPAIGN_FIELDS + RECIPIENT_FIELDS),
    payload=PAYLOADS | st.text(max_size=12),
    prefix=st.sampled_from(["", "x", "Shop ", "a@example.com", "Ünï "]),
    at_end=st.booleans(),
)
def test_header_injection_fuzz(field: str, payload: str, prefix: str, at_end: bool) -> None:
    """R27: a payload is refused with HeaderInjection, or the message has exactly the intended
    header set and values, and bodies that decode to what was intended."""
    good_recipient = recipient()
    base = dataclasses.asdict(HEADERS) | {
        "address": good_recipient.address,
        "email": good_recipient.address,
        "message_id": good_recipient.message_id,
        "unsubscribe_url": good_recipient.unsubscribe_url,
        "unsubscribe_mailto": MAILTO,
    }
    value = base[field] + payload if at_end else prefix + payload + base[field]
    headers, r = HEADERS, good_recipient
    if field == "email":
        r = recipient(values={"email": value})
    elif field in RECIPIENT_FIELDS:
        r = recipient(**{field: value})
    else:
        headers = dataclasses.replace(HEADERS, **{field: value})
    try:
        message = SplicedMessage.build(headers, TEXT, HTML)
        data = rendered(message, r, DATE)
        slow = message.reference_render(r, DATE)
    except HeaderInjection:
        return
    except InputError:  # refused for its shape (not an address, not a List-Id, ...)
        assert not PAYLOAD_RE.search(value)
        return
    assert not PAYLOAD_RE.search(value), f"{field}={value!r} was not refused"
    assert_well_formed(data)
    assert_equivalent(data, slow)
    msg = parse(data)
    assert names(msg) == sorted(TOP_LEVEL)
    checked = message.headers
    assert str(msg["Subject"]) == checked.subject
    assert from_header(data) == (checked.from_name, checked.from_address)
    assert str(msg["List-Id"]) == checked.list_id
    assert str(msg["Feedback-ID"]) == checked.feedback_id
    assert u(msg["Reply-To"].addresses[0].addr_spec) == checked.reply_to
    assert msg["Message-ID"] == f"<{r.message_id}>"
    assert msg["List-Unsubscribe"] == f"<{r.unsubscribe_url}>, <{r.unsubscribe_mailto}>"
    filled = {"email": r.values.get("email", r.address), "unsubscribe_url": r.unsubscribe_url}
    assert bodies(msg) == (expected_body(TEXT, filled, False), expected_body(HTML, filled, True))


DISPLAY = st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=200)


@given(name=DISPLAY, subject=DISPLAY)
@settings(max_examples=200, deadline=None)
def test_display_texts_survive_or_are_refused(name: str, subject: str) -> None:
    """Any display name and subject is written so that it reads back as intended, or refused."""
    headers = dataclasses.replace(HEADERS, from_name=name, subject=subject)
    try:
        message = SplicedMessage.build(headers, TEXT, None)
    except InputError:  # HeaderInjection ("=?...?=", U+2028), empty subject, a folding fault
        return
    data = rendered(message, recipient(), DATE)
    assert_well_formed(data)
    msg = parse(data)
    assert names(msg) == sorted([*TOP_LEVEL, "content-transfer-encoding"])
    assert str(msg["Subject"]) == message.headers.subject
    assert from_header(data)[0] == message.headers.from_name

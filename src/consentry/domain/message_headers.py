"""Header values and header blocks for campaign messages (R17, R27, R28; RFC 5322, 2369, 8058).

Three defences against header injection, because the Python this product runs on (3.11.7) lacks
the CVE-2024-6923 fix and ``policy.verify_generated_headers``:

1. :func:`check_header_value` refuses, with ``HeaderInjection`` naming the field, any value from
   data that holds a control character (CR, LF and NUL among them, and the other characters
   ``str.splitlines`` breaks on: VT, FF, FS, GS, RS, NEL, U+2028, U+2029) or an RFC 2047
   encoded-word (``=?utf-8?q?=0A?=``): the ``email`` package decodes those when a header is set,
   and 3.11.7 then writes the decoded newline out raw, which is the CVE.
2. Campaign-level headers (From, Reply-To, Subject, List-Id, ...) are built once per campaign with
   ``email.message.EmailMessage`` under ``email.policy.SMTP`` (``SMTPUTF8`` when an address needs
   it), with ``verify_generated_headers=True`` where the policy has it.
3. :func:`check_header_block` re-reads every generated block: each line ``Name: value`` or a
   continuation starting with SP or HTAB, no bare CR or LF, no NUL, no line over 998 octets, and
   exactly the intended fields, each exactly once. Anything else is ``HeaderInjection``.

Per-recipient values (To, Message-ID, the List-Unsubscribe URIs, Date) are checked here against
strict patterns and written by ``message_splice`` without the ``email`` package, which is both
faster and necessary: ``EmailMessage`` folds a long ``List-Unsubscribe`` into RFC 2047
encoded-words, which RFC 2369 clients do not decode, so the one-click URL would be lost.
"""

from __future__ import annotations

import email.header
import email.policy
import email.utils
import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Final

from consentry.domain.addresses import parse_address
from consentry.domain.errors import HeaderInjection, InputError, InvalidAddress

__all__ = [
    "LIST_UNSUBSCRIBE_POST",
    "MAX_LINE_OCTETS",
    "CampaignHeaders",
    "check_header_block",
    "check_header_value",
    "check_round_trip",
    "format_date",
    "header_address",
    "header_policy",
    "list_unsubscribe_value",
]

MAX_LINE_OCTETS: Final = 998
LIST_UNSUBSCRIBE_POST: Final = "List-Unsubscribe=One-Click"
MAX_URI_CHARS: Final = 900
MAX_MESSAGE_ID_CHARS: Final = 250

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_MESSAGE_ID = re.compile(rf"(?!.*=\?){_DOT_ATOM}@{_DOT_ATOM}")
# A plain ASCII address, taken as it is; anything else (or "=?", which could start an RFC 2047
# encoded-word that Python's parser would decode even in a local part) goes the slow way.
_ASCII_ADDRESS = re.compile(rf"(?!.*=\?){_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_LIST_ID = re.compile(rf"(?:(?P<phrase>[^<>]*?)\s*)?<(?P<ns>{_DOT_ATOM})>")
_SPACES = re.compile(r" {2,}")  # runs of spaces in a display name read as one (RFC 5322 phrase)
_UNICODE_SPACE = re.compile(r"\s")
_FEEDBACK_ID = re.compile(r"[\x21-\x7e]{1,200}")
# URI characters allowed in List-Unsubscribe: visible ASCII except  " < > , \ and space; and
# never "=?" (the start of an encoded-word) in a URI or a Message-ID.
_HTTPS_URI = re.compile(r"(?!.*=\?)https://[!#-+\-.-;=?-\[\]-~]+")
_MAILTO_URI = re.compile(r"(?!.*=\?)mailto:[!#-+\-.-;=?-\[\]-~]+", re.IGNORECASE)
_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}(?::\d{2})? [+-]\d{4}"
)
_FIELD_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_RAW_FIELD = re.compile(r"^([\x21-\x39\x3b-\x7e]+):([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", re.MULTILINE)
_UNFOLD = re.compile(r"\r\n([ \t])")


def check_header_value(field: str, value: str) -> None:
    """Refuse a header value from data that could break out of its header (R27)."""
    bad = _CONTROL.search(value)
    if bad is not None:
        char = bad.group()
        raise HeaderInjection(
            f"{field} contains a control character (U+{ord(char):04X}); "
            "header values may not hold CR, LF, NUL or other line breaks"
        )
    if _ENCODED_WORD.search(value):
        raise HeaderInjection(
            f"{field} contains '=?...?=', which mail readers decode as an RFC 2047 "
            "encoded-word (it can hide a line break); write the text itself"
        )


def _display(text: str) -> str:
    """A display text (subject, display name, List-Id phrase) stripped, with every Unicode space
    written as an ASCII space: 3.11's folder drops a no-break space at an encoded-word edge."""
    return _UNICODE_SPACE.sub(" ", text).strip()


def header_policy(utf8: bool) -> EmailPolicy[EmailMessage]:
    """``email.policy.SMTP`` or ``SMTPUTF8``, verifying generated headers where supported."""
    policy: EmailPolicy[EmailMessage] = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
    if hasattr(policy, "verify_generated_headers"):  # Python >= 3.11.10 / 3.12.5
        policy = policy.clone(verify_generated_headers=True)
    return policy


def header_address(field: str, text: str) -> tuple[str, bool]:
    """The form of an address to write in a header, and whether it needs SMTPUTF8.

    An ASCII address is written as given. Otherwise it is parsed (``InvalidAddress`` if it is
    not an address): an ASCII local part with an internationalised domain is written with the
    domain's A-label, needing nothing special; a non-ASCII local part is written as given, raw
    UTF-8 (RFC 6532), and the message must go out with SMTPUTF8 (RFC 6531)."""
    if _ASCII_ADDRESS.fullmatch(text):
        return text, False
    check_header_value(field, text)
    try:
        parsed = parse_address(text)
    except InvalidAddress as exc:
        raise InvalidAddress(f"{field}: {exc}") from None
    local = parsed.literal.rpartition("@")[0]
    if local.isascii():
        return f"{local}@{parsed.domain}", False
    return parsed.literal, True


def check_message_id(message_id: str) -> str:
    """``message_id`` (no angle brackets) if it is ``dot-atom-text@dot-atom-text``."""
    if len(message_id) > MAX_MESSAGE_ID_CHARS or not _MESSAGE_ID.fullmatch(message_id):
        check_header_value("message_id", message_id)
        raise InputError(f"message_id {message_id!r} is not 'left@right' of RFC 5322 dot-atoms")
    return message_id


def check_date(date: str) -> str:
    """``date`` if it is an RFC 5322 date-time (as :func:`format_date` writes)."""
    if not _DATE.fullmatch(date):
        check_header_value("date", date)
        raise InputError(f"date {date!r} is not an RFC 5322 date-time")
    return date


def format_date(at: datetime) -> str:
    """The RFC 5322 Date value for an aware time, e.g. ``Sun, 01 Mar 2026 09:00:00 +0000``."""
    if at.tzinfo is None:
        raise ValueError("format_date needs an aware datetime")
    return email.utils.format_datetime(at)


def check_https_url(name: str, url: str) -> str:
    """``url`` when it is a plain ``https://`` URL of at most 900 ASCII characters without
    space, quotes, angle brackets, commas, backslashes or ``=?``; ``InputError`` naming ``name``
    (``HeaderInjection`` for CR, LF or NUL) otherwise."""
    if len(url) > MAX_URI_CHARS or not _HTTPS_URI.fullmatch(url):
        check_header_value(name, url)
        raise InputError(f"{name} {url!r} is not a plain https:// URL")
    return url


def list_unsubscribe_value(url: str, mailto: str | None) -> str:
    """The List-Unsubscribe value: exactly one HTTPS URI, then the optional mailto (RFC 8058).

    URIs must be ASCII without space, ``"``, ``<``, ``>``, ``,``, ``\\`` or ``=?`` (percent-encode
    them) and at most 900 characters, so that every header line stays within 998 octets."""
    check_https_url("unsubscribe_url", url)
    if mailto is None:
        return f"<{url}>"
    if len(mailto) > MAX_URI_CHARS or not _MAILTO_URI.fullmatch(mailto):
        check_header_value("unsubscribe_mailto", mailto)
        raise InputError(f"unsubscribe_mailto {mailto!r} is not a plain mailto: URI")
    return f"<{url}>, <{mailto}>"


@dataclass(frozen=True, slots=True)
class CampaignHeaders:
    """The headers every message of a campaign shares; validated by :meth:`checked`.

    ``list_id`` is the RFC 2919 List-Id (``Newsletter <newsletter.lists.example.com>``) and
    ``feedback_id`` the Gmail Feedback-ID (``campaign:list:org:consentry``, printable ASCII).
    The CAN-SPAM "advertisement" marking lives in the footer, not in a header: no header is
    required for it, and a made-up one would only be noise."""

    from_name: str
    from_address: str
    reply_to: str | None
    subject: str
    list_id: str
    feedback_id: str

    def checked(self) -> CampaignHeaders:
        """A copy with the display texts stripped and their Unicode spaces made ASCII spaces
        (runs of them made one in the display name, as readers take them), and addresses in
        the form they take in the header (:func:`header_address`); raises
        ``HeaderInjection`` for CR/LF/NUL and the like, ``InvalidAddress`` for an address that
        cannot be parsed, and ``InputError`` for a malformed List-Id or Feedback-ID."""
        for field in ("from_name", "subject", "list_id", "feedback_id"):
            check_header_value(field, getattr(self, field))
        from_address = header_address("from_address", self.from_address)[0]
        reply_to = None if self.reply_to is None else header_address("reply_to", self.reply_to)[0]
        subject = _display(self.subject)
        if not subject:
            raise InputError("subject is empty")
        match = _LIST_ID.fullmatch(_display(self.list_id))
        if match is None or "." not in match["ns"]:
            raise InputError(
                f"list_id {self.list_id!r} is not an RFC 2919 List-Id: 'Name <id.domain>'"
            )
        list_id = f"{match['phrase']} <{match['ns']}>" if match["phrase"] else f"<{match['ns']}>"
        if not _FEEDBACK_ID.fullmatch(self.feedback_id):
            raise InputError(
                f"feedback_id {self.feedback_id!r} must be 1-200 visible ASCII characters"
            )
        return CampaignHeaders(
            from_name=_SPACES.sub(" ", _display(self.from_name)),
            from_address=from_address,
            reply_to=reply_to,
            subject=subject,
            list_id=list_id,
            feedback_id=self.feedback_id,
        )

    def needs_smtputf8(self) -> bool:
        """Whether the From or Reply-To address has a non-ASCII local part."""
        addresses = [self.from_address] + ([] if self.reply_to is None else [self.reply_to])
        return any(header_address("address", a)[1] for a in addresses)

    def set_on(self, msg: EmailMessage) -> None:
        """Set From, Reply-To, Subject, List-Id, List-Unsubscribe-Post and Feedback-ID on
        ``msg`` (call on a :meth:`checked` copy)."""
        local, _, domain = header_address("from_address", self.from_address)[0].rpartition("@")
        # username and domain, not addr_spec: addr_spec refuses a non-ASCII local part.
        msg["From"] = HeaderAddress(display_name=self.from_name, username=local, domain=domain)
        if self.reply_to is not None:
            msg["Reply-To"] = header_address("reply_to", self.reply_to)[0]
        msg["Subject"] = self.subject
        msg["List-Id"] = self.list_id
        msg["List-Unsubscribe-Post"] = LIST_UNSUBSCRIBE_POST
        msg["Feedback-ID"] = self.feedback_id


def serialise_headers(msg: EmailMessage) -> bytes:
    """The header block of ``msg`` (no blank line after it), folded by its policy."""
    policy = msg.policy
    assert isinstance(policy, EmailPolicy)
    return b"".join(policy.fold_binary(name, value) for name, value in msg.raw_items())


def check_round_trip(block: bytes, headers: CampaignHeaders) -> None:
    """Raise ``InputError`` unless the From, Subject and List-Id in ``block`` decode (RFC 2047,
    with ``email.header``, not the generator's own parser) to the values of ``headers``.

    3.11's folder drops the space between two words when it folds a display name between two
    encoded-words (rare: a long non-ASCII name, folded exactly at a space); this catches it."""
    text = block.decode("utf-8", "replace")
    fields = {
        m.group(1).lower(): _UNFOLD.sub(r"\1", m.group(2)).strip()
        for m in _RAW_FIELD.finditer(text)
    }
    name, address = email.utils.getaddresses([fields.get("from", "")])[0]
    shown = {
        "from_name": _decoded(name),
        "from_address": address,
        "subject": _decoded(fields.get("subject", "")),
        "list_id": _decoded(fields.get("list-id", "")),
    }
    for field, value in shown.items():
        intended = getattr(headers, field)
        if value != intended:
            raise InputError(
                f"{field}: the email package would write {intended!r} so that it reads as "
                f"{value!r} (a folding fault of this Python); reword or shorten it"
            )


def _decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def check_header_block(block: bytes, expected: Sequence[str]) -> None:
    """Raise ``HeaderInjection`` unless ``block`` is well-formed CRLF-terminated header lines
    holding exactly the fields ``expected`` (case-insensitive), each as often as listed.

    Fast enough to run on every message: comparing the names with the intended ones also
    proves each is a valid field name, since the intended ones are."""
    lines = block.split(b"\r\n")
    count = len(lines) - 1
    if lines.pop() or block.count(b"\r") != count or block.count(b"\n") != count:
        raise HeaderInjection(_explain_block(block) or "generated header block is malformed")
    if b"\0" in block or (lines and lines[0][:1] in (b" ", b"\t")):
        raise HeaderInjection(_explain_block(block) or "generated header block is malformed")
    if lines and max(map(len, lines)) > MAX_LINE_OCTETS:
        raise HeaderInjection(f"a generated header line is over {MAX_LINE_OCTETS} octets")
    names = [line.partition(b":")[0].lower() for line in lines if line[:1] not in (b" ", b"\t")]
    names.sort()
    wanted = _wanted_names(tuple(expected))
    if names != wanted:
        reason = _explain_block(block)
        if reason:
            raise HeaderInjection(reason)
        found, want = Counter(names), Counter(wanted)
        extra = sorted(n.decode("ascii", "replace") for n in (found - want).elements())
        missing = sorted(n.decode("ascii") for n in (want - found).elements())
        raise HeaderInjection(
            f"generated headers differ from the intended set: extra {extra}, missing {missing}"
        )


def _explain_block(block: bytes) -> str | None:
    """What is malformed in ``block``, naming the line, or None if every line is well-formed."""
    lines = block.split(b"\r\n")
    if lines.pop() != b"":
        return "generated header block does not end with CRLF"
    for number, line in enumerate(lines, 1):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            return f"generated header line {number} holds a bare CR, LF or NUL"
        if line[:1] in (b" ", b"\t"):
            if number == 1:
                return "generated header block starts with a continuation line"
        elif _FIELD_LINE.match(line) is None:
            return f"generated header line {number} is not 'Name: value'"
    return None


@functools.lru_cache(maxsize=64)
def _wanted_names(expected: tuple[str, ...]) -> list[bytes]:
    return sorted(name.lower().encode("ascii") for name in expected)

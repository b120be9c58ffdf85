"""Machine-readable reports that arrive as mail: RFC 3464 delivery status notifications (bounces)
and RFC 5965 abuse reports (ARF, the feedback loops of Yahoo, AOL, Microsoft JMRP, ...).

A DSN is ``multipart/report; report-type=delivery-status`` with a ``message/delivery-status``
part (or RFC 6533 ``message/global-delivery-status``): one block of per-message fields, then one
block per recipient with ``Final-Recipient``, optional ``Original-Recipient``, ``Action`` and
``Status`` (an RFC 3463 code). What each recipient block becomes (R21):

* ``Action: failed`` with a 5.1.x status (the address: unknown user, bad domain, moved, ...)
  other than 5.1.7/5.1.8 (those are about the *sender's* address) or 5.2.1 (mailbox disabled)
  -> a hard bounce. When the Status is a vague 5.0.0 the enhanced code in the Diagnostic-Code
  (``550 5.1.1 ...``) is used instead.
* any other ``failed`` (4.x.x given up, 5.2.2 mailbox full, 5.7.x policy or authentication
  refusals, which are the sender's fault) -> a soft bounce.
* ``delivered``, ``relayed``, ``expanded`` -> delivered; ``delayed`` -> other.

An ARF is ``multipart/report; report-type=feedback-report``: a ``message/feedback-report`` part
whose ``Feedback-Type`` is abuse, fraud or virus makes a complaint (R21: global suppression);
not-spam, auth-failure and other are kept as facts and record nothing. The complained-about
address is every ``Original-Rcpt-To`` (and legacy ``Removal-Recipient``), else the ``To`` of the
returned original, which may be whole (``message/rfc822``) or headers only
(``text/rfc822-headers``). Providers often redact the address (RFC 6590): then the token in the
original's ``List-Unsubscribe`` is what identifies the person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import Final

from consentry.codecs.inbound_mime import (
    ListToken,
    addresses,
    clean_address,
    field_blocks,
    headers_of,
    list_tokens,
    message_id,
    part_text,
    payload_of,
    report_text,
    unfold,
)
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind

DSN_PARTS: Final = ("message/delivery-status", "message/global-delivery-status")
ARF_PART: Final = "message/feedback-report"
ORIGINAL_PARTS: Final = ("message/rfc822", "text/rfc822-headers", "message/global",
                         "message/global-headers")  # fmt: skip
COMPLAINT_TYPES: Final = frozenset({"abuse", "fraud", "virus"})
_RECIPIENT_FIELDS: Final = frozenset({"action", "final-recipient", "original-recipient"})

_STATUS = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_UTF8_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
_REDACTED_LOCAL = re.compile(r"(?i)redacted|x+|\*+|\[.*\]|removed")
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_MAX_DIAGNOSTIC = 300
_FEEDBACK_TYPE = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    address: str | None  # the address we sent to: Original-Recipient, else Final-Recipient
    final_recipient: str  # the field as given ("rfc822; ada@example.org")
    original_recipient: str
    action: str  # lower-case: failed, delayed, delivered, relayed, expanded
    status: str  # "5.1.1"; the diagnostic's code when Status is a vague x.0.0; "" when absent
    diagnostic: str  # Diagnostic-Code, unfolded, addresses blanked, at most 300 characters
    remote_mta: str
    kind: EventKind  # HARD_BOUNCE, SOFT_BOUNCE, DELIVERED or OTHER


@dataclass(frozen=True)
class DeliveryReport:
    reporting_mta: str
    recipients: tuple[RecipientStatus, ...]
    original_message_id: str | None
    original_token: ListToken | None  # our token in the returned original, if it came back


@dataclass(frozen=True)
class FeedbackReport:
    feedback_type: str  # lower-case
    kind: EventKind  # COMPLAINT for abuse, fraud and virus; OTHER otherwise
    user_agent: str
    version: str
    recipients: tuple[str, ...]  # addresses complained about (redacted ones left out)
    reported_domain: str
    source_ip: str
    arrival_date: str
    original_message_id: str | None
    original_token: ListToken | None


def report_type(msg: Message) -> str | None:
    """'delivery-status' or 'feedback-report' when the message is such a report, else None.
    The report-type parameter is trusted first; a multipart/report without one is recognised by
    the machine-readable part it carries."""
    if msg.get_content_type() != "multipart/report":
        return None
    declared = str(msg.get_param("report-type", "") or "").strip().lower()
    if declared in ("delivery-status", "global-delivery-status"):
        return "delivery-status"
    if declared == "feedback-report":
        return "feedback-report"
    types = {p.get_content_type() for p in _parts(msg)}
    if types.intersection(DSN_PARTS):
        return "delivery-status"
    if ARF_PART in types:
        return "feedback-report"
    return None


def read_delivery_report(msg: Message) -> DeliveryReport:
    part = _first(msg, DSN_PARTS)
    if part is None:
        raise InputError("delivery report has no message/delivery-status part")
    blocks = field_blocks(report_text(part))
    if not blocks:
        raise InputError("message/delivery-status part is empty")
    first = _fields(blocks[0])
    per_message = first if "reporting-mta" in first else {}
    # per-recipient blocks are those naming a recipient or an action; blocks with neither (a
    # stray blank line inside a block, MTA-specific extras) are skipped. Some MTAs run the
    # per-message fields into the first recipient's block: that block counts as both.
    recipient_blocks = [f for f in map(_fields, blocks) if _RECIPIENT_FIELDS & f.keys()]
    if not recipient_blocks:
        raise InputError("message/delivery-status part has no per-recipient fields")
    statuses = tuple(
        _recipient_status(block, n) for n, block in enumerate(recipient_blocks, start=1)
    )
    original = _original(msg)
    return DeliveryReport(
        reporting_mta=per_message.get("reporting-mta", [""])[0],
        recipients=statuses,
        original_message_id=message_id(original) if original is not None else None,
        original_token=list_tokens(original) if original is not None else None,
    )


def read_feedback_report(msg: Message) -> FeedbackReport:
    part = _first(msg, (ARF_PART,))
    if part is None:
        raise InputError("feedback report has no message/feedback-report part")
    blocks = field_blocks(report_text(part))
    fields = _fields(blocks[0]) if blocks else {}
    given = fields.get("feedback-type", [""])[0].strip().lower()
    if not given:
        raise InputError("message/feedback-report part has no Feedback-Type field")
    feedback_type = given if _FEEDBACK_TYPE.fullmatch(given) else "unrecognised"
    original = _original(msg)
    named = [a for v in fields.get("original-rcpt-to", []) + fields.get("removal-recipient", [])
             if (a := clean_address(v))]  # fmt: skip
    if not named and original is not None:
        named = addresses(original, "To")
    recipients = tuple(dict.fromkeys(a for a in named if not _redacted(a)))
    return FeedbackReport(
        feedback_type=feedback_type,
        kind=EventKind.COMPLAINT if feedback_type in COMPLAINT_TYPES else EventKind.OTHER,
        user_agent=fields.get("user-agent", [""])[0],
        version=fields.get("version", [""])[0],
        recipients=recipients,
        reported_domain=fields.get("reported-domain", [""])[0],
        source_ip=fields.get("source-ip", [""])[0],
        arrival_date=(fields.get("arrival-date") or fields.get("received-date") or [""])[0],
        original_message_id=message_id(original) if original is not None else None,
        original_token=list_tokens(original) if original is not None else None,
    )


def bounce_kind(action: str, status: str) -> EventKind:
    """What a DSN recipient block means for the ledger (see the module docstring)."""
    if action == "failed":
        match = _STATUS.match(status)
        if match is not None and match.group(1) == "5":
            subject, detail = match.group(2), match.group(3)
            if (subject == "1" and detail not in ("7", "8")) or (subject, detail) == ("2", "1"):
                return EventKind.HARD_BOUNCE
        return EventKind.SOFT_BOUNCE
    if action in ("delivered", "relayed", "expanded"):
        return EventKind.DELIVERED
    return EventKind.OTHER


def _recipient_status(fields: dict[str, list[str]], n: int) -> RecipientStatus:
    action = fields.get("action", [""])[0].split("(")[0].strip().lower()
    if not action:
        raise InputError(f"delivery status block {n} has no Action field")
    final = fields.get("final-recipient", [""])[0]
    original = fields.get("original-recipient", [""])[0]
    if not final and not original:
        raise InputError(f"delivery status block {n} has no Final-Recipient field")
    diagnostic = fields.get("diagnostic-code", [""])[0]
    status = _status(fields.get("status", [""])[0], diagnostic)
    return RecipientStatus(
        address=_typed_address(original) or _typed_address(final),
        final_recipient=final,
        original_recipient=original,
        action=action,
        status=status,
        diagnostic=_ADDRESS_IN_TEXT.sub("[address]", diagnostic)[:_MAX_DIAGNOSTIC],
        remote_mta=fields.get("remote-mta", [""])[0],
        kind=bounce_kind(action, status),
    )


def _status(status: str, diagnostic: str) -> str:
    match = _STATUS.match(status)
    code = ".".join(match.groups()) if match else ""
    if not code or code.endswith(".0.0"):
        found = _ENHANCED.search(diagnostic)
        if found is not None and (not code or found.group(1) == code[0]):
            return ".".join(found.groups())
    return code


def _typed_address(value: str) -> str | None:
    """The address in an ``address-type ; generic-address`` field (rfc822 or utf-8)."""
    kind, sep, address = value.partition(";")
    if not sep:
        kind, address = "rfc822", value
    kind = kind.strip().lower()
    if kind == "utf-8":
        address = _UTF8_ESCAPE.sub(lambda m: _char(m.group(1)), address)
    elif kind != "rfc822":
        return None
    return clean_address(address)


def _char(hex_digits: str) -> str:
    code = int(hex_digits, 16)
    return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _redacted(address: str) -> bool:
    return bool(_REDACTED_LOCAL.fullmatch(address.rpartition("@")[0]))


def _fields(block: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in block:
        out.setdefault(name.lower(), []).append(unfold(value))
    return out


def _parts(msg: Message) -> list[Message]:
    """The direct parts of a multipart message (not descending into returned originals)."""
    payload = payload_of(msg)
    if not msg.is_multipart() or not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, Message)]


def _first(msg: Message, types: tuple[str, ...]) -> Message | None:
    return next((p for p in _parts(msg) if p.get_content_type() in types), None)


def _original(msg: Message) -> Message | None:
    """The returned original (whole, or its headers), if the report carries it."""
    part = _first(msg, ORIGINAL_PARTS)
    if part is None:
        return None
    payload = payload_of(part)
    if isinstance(payload, list):
        return payload[0] if payload and isinstance(payload[0], Message) else None
    return headers_of(part_text(part))

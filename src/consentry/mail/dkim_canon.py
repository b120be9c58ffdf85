"""DKIM canonicalisation (RFC 6376 §3.4, "relaxed" for header and body) and header-block parsing.

The signer (``consentry.mail.dkim``) runs on the dispatcher's hot path, so the functions it uses
work on whole ``bytes`` objects with ``bytes`` methods and precompiled regular expressions, and
skip every step whose trigger is absent (``b"\\t" in body`` is a C-speed scan). Beside each fast
function is a ``*_reference`` function written line by line from the RFC text; the test suite
checks with Hypothesis that the two agree on arbitrary bytes.

Conventions:

* A header field is given as ``(name, value)``: ``name`` is everything before the first colon,
  ``value`` everything after it, with the CRLFs of folded continuation lines kept (each followed
  by WSP, as the parser guarantees) and without the field's final CRLF. The canonical form ends
  with CRLF; the caller drops it for the DKIM-Signature field itself (RFC 6376 §3.7).
* A body is split into lines on CRLF only. A bare CR or LF is an ordinary character, never a line
  end and never whitespace; WSP is SP and HTAB only.
* The relaxed body of an empty body (or one of only empty lines) is empty (RFC 6376 §3.4.4; the
  "simple" algorithm is the one that turns an empty body into CRLF).
* A last line that does not end with CRLF is treated as a line: its trailing WSP is ignored and
  a CRLF is added. That is what a receiver hashes after SMTP DATA has added the CRLF. (dkimpy
  keeps one SP there; the dispatcher only hands over messages that end with CRLF, where every
  implementation agrees.)
"""

from __future__ import annotations

import re

__all__ = [
    "HeaderField",
    "canonicalize_body_relaxed",
    "canonicalize_body_relaxed_reference",
    "canonicalize_header_relaxed",
    "canonicalize_header_relaxed_reference",
    "parse_header_block",
    "split_message",
]

CRLF = b"\r\n"
HeaderField = tuple[bytes, bytes, bytes]  # (lower-case name, name, value with fold CRLFs)

_WSP_RUN = re.compile(rb"[ \t]+")
_SP_RUN = re.compile(rb"  +")
# RFC 5322 §2.2 ftext: printable US-ASCII except the colon. Anything else (the obsolete "Name :"
# form, controls, 8-bit bytes) is refused: verifiers disagree on how to select such a field.
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")


def canonicalize_header_relaxed(name: bytes, value: bytes) -> bytes:
    """``lname:value CRLF`` per RFC 6376 §3.4.2: name lower-cased, value unfolded, each WSP run
    one SP, no WSP at either end of the value or after the name."""
    if b"\r" in value:
        value = value.replace(CRLF, b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return name.rstrip(b" \t").lower() + b":" + value.strip(b" ") + CRLF


def canonicalize_body_relaxed(body: bytes) -> bytes:
    """The relaxed body (RFC 6376 §3.4.4): no WSP at line ends, each WSP run one SP, no empty
    lines at the end, CRLF after the last line; empty if nothing is left."""
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    if b"  " in body:
        body = _SP_RUN.sub(b" ", body)
    if b" \r\n" in body:  # after the runs are single spaces, one replace removes all of it
        body = body.replace(b" \r\n", CRLF)
    if body.endswith(b" "):
        body = body[:-1]
    end = len(body)
    while body.endswith(CRLF, 0, end):
        end -= 2
    if end == 0:
        return b""
    if end == len(body):
        return body + CRLF
    return body[: end + 2]


def canonicalize_header_relaxed_reference(name: bytes, value: bytes) -> bytes:
    """RFC 6376 §3.4.2, one sentence at a time. For tests; use ``canonicalize_header_relaxed``."""
    # Convert all header field names (not the header field values) to lowercase.
    name = name.lower()
    # Unfold all header field continuation lines: CRLF followed by WSP is read without the CRLF.
    value = re.sub(rb"\r\n(?=[ \t])", b"", value)
    # Convert all sequences of one or more WSP characters to a single SP character.
    value = re.sub(rb"[ \t]+", b" ", value)
    # Delete all WSP characters at the end of each unfolded header field value.
    value = value.rstrip(b" \t")
    # Delete any WSP characters remaining before and after the colon separating the header field
    # name from the header field value. The colon separator MUST be retained.
    name = name.rstrip(b" \t")
    value = value.lstrip(b" \t")
    return name + b":" + value + CRLF


def canonicalize_body_relaxed_reference(body: bytes) -> bytes:
    """RFC 6376 §3.4.4, one sentence at a time. For tests; use ``canonicalize_body_relaxed``."""
    lines = body.split(CRLF)  # the last item is what follows the last CRLF (often b"")
    reduced = []
    for line in lines:
        # Ignore all whitespace at the end of lines.
        line = line.rstrip(b" \t")
        # Reduce all sequences of WSP within a line to a single SP character.
        line = re.sub(rb"[ \t]+", b" ", line)
        reduced.append(line)
    # Ignore all empty lines at the end of the message body.
    while reduced and reduced[-1] == b"":
        reduced.pop()
    # If the body is non-empty but does not end with a CRLF, a CRLF is added.
    return b"".join(line + CRLF for line in reduced)


def split_message(message: bytes) -> tuple[bytes, bytes]:
    """``(header block, body)``: the header block keeps the CRLF that ends its last field; the
    empty line between them belongs to neither. A message with no empty line is all header."""
    if message.startswith(CRLF):
        return b"", message[2:]
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message, b""
    return message[: end + 2], message[end + 4 :]


def parse_header_block(block: bytes) -> list[HeaderField]:
    """The fields of a header block, in order, as ``(lower-case name, name, value)``.

    Raises ``ValueError`` for a bare CR or LF, a line that is neither a field nor a continuation,
    or a field name that is not RFC 5322 ftext."""
    if block.count(b"\n") != block.count(b"\r") or block.count(CRLF) != block.count(b"\n"):
        raise ValueError("the header block has a bare CR or LF; lines must end with CRLF")
    lines = block.split(CRLF)
    if lines[-1] == b"":
        lines.pop()
    fields: list[HeaderField] = []
    parts: list[bytes] = []
    name = b""
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not parts:
                raise ValueError("the header block starts with a continuation line")
            parts.append(line)
            continue
        if parts:
            fields.append((name.lower(), name, CRLF.join(parts)))
        colon = line.find(b":")
        if colon < 0:
            raise ValueError(f"header line without a colon: {line[:60]!r}")
        name = line[:colon]
        if _FIELD_NAME.fullmatch(name) is None:
            raise ValueError(f"invalid header field name {name[:60]!r}")
        parts = [line[colon + 1 :]]
    if parts:
        fields.append((name.lower(), name, CRLF.join(parts)))
    return fields

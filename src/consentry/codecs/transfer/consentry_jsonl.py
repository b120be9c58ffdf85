"""consentry's own transfer formats.

``consentry-jsonl``: JSON Lines, lossless for what consentry holds. The first line is a header
``{"format": "consentry-transfer", "version": 1}``; then one object per (address, scope, state):

    {"email": "Ann@Example.org", "state": "unsubscribed", "scope": "news" | "*",
     "at": "2026-03-01T09:00:00.000000Z" | null, "reason": "unsubscribe",
     "dpv": "dpv:ConsentWithdrawn", "evidence": {...}}

``state`` is the canonical state of esp-formats.md §2.1; ``dpv`` the W3C DPV consent status it
corresponds to (ISO/IEC TS 27560 records use the same vocabulary); ``scope`` a list name or
``*`` for every list.

``consentry-hashed``: suppressions only, each address replaced by the SHA-256 (hex) of its
canonical form (``domain.addresses``: NFC local part with ASCII-only case folding, IDNA A-label
domain), so that another party can check its own list against ours without receiving a single
address. Header ``{"format": "consentry-hashed-suppressions", "version": 1, "key":
"sha256(canonical address)"}``. Export only: a hash cannot be imported.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.times import parse_time
from consentry.domain.addresses import parse_address
from consentry.domain.errors import InputError
from consentry.domain.leaves import format_time
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    Scope,
    State,
    TransferRecord,
)

FORMAT = "consentry-transfer"
HASHED = "consentry-hashed-suppressions"
DPV = {
    State.CONSENTED: "dpv:ConsentGiven",
    State.PENDING: "dpv:ConsentRequested",
    State.UNSUBSCRIBED: "dpv:ConsentWithdrawn",
    State.HARD_BOUNCED: "dpv:ConsentInvalidated",
    State.COMPLAINED: "dpv:ConsentWithdrawn",
    State.MANUALLY_SUPPRESSED: "dpv:ConsentRefused",
    State.UNKNOWN: "dpv:ConsentUnknown",
}
_STATES = {s.value: s for s in State}


def _header(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ConsentryReader:
    name = "consentry-jsonl"
    provider = "consentry"
    description = "consentry's own JSON Lines (lossless; consentry transfer export)"

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        first = source.head().split(b"\n", 1)[0].lstrip(b"\xef\xbb\xbf")
        header = _header(first)
        return 100 if header is not None and header.get("format") == FORMAT else 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as raw:
            lines = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
            try:
                first = lines.readline().lstrip("\ufeff")
            except UnicodeDecodeError as exc:
                raise InputError(f"{label}: line 1 is not UTF-8") from exc
            header = _header(first.encode())
            if header is None or header.get("format") != FORMAT:
                raise InputError(f"{label}: line 1 is not a {FORMAT} header")
            if header.get("version") != 1:
                raise InputError(f"{label}: {FORMAT} version {header.get('version')!r} unknown")
            number = 1
            while True:
                number += 1
                try:
                    line = lines.readline()
                except UnicodeDecodeError:
                    yield RejectedRow(label, number, "not UTF-8")
                    continue
                if not line:
                    return
                if line.strip():
                    yield _record(label, number, line)


def _record(label: str, number: int, line: str) -> Item:
    try:
        value = json.loads(line)
    except ValueError as exc:
        return RejectedRow(label, number, f"not JSON: {exc.args[0]}", line[:300])
    if not isinstance(value, dict):
        return RejectedRow(label, number, "not a JSON object", line[:300])
    email, state, scope = value.get("email"), value.get("state"), value.get("scope", "*")
    if not isinstance(email, str) or not email.strip():
        return RejectedRow(label, number, "no 'email'", line[:300])
    if state not in _STATES:
        return RejectedRow(label, number, f"unknown state {state!r}", line[:300])
    if not isinstance(scope, str) or not scope:
        return RejectedRow(label, number, f"bad scope {scope!r}", line[:300])
    evidence = value.get("evidence") or {}
    if not isinstance(evidence, dict):
        return RejectedRow(label, number, "'evidence' is not an object", line[:300])
    at = value.get("at")
    return TransferRecord(
        email=email.strip(), state=_STATES[state],
        scope=Scope("global") if scope == "*" else Scope("list", scope, scope),
        file=label, line=number, original_status=str(value.get("reason") or state),
        occurred=parse_time(at) if isinstance(at, str) else None,
        actor="unknown", evidence={str(k): str(v) for k, v in evidence.items()},
    )  # fmt: skip


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode() + b"\n"


class ConsentryWriter:
    name = "consentry-jsonl"
    provider = "consentry"
    description = "consentry's own JSON Lines: every suppression and consent, nothing widened"
    suffix = ".jsonl"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        out.write(_line({"format": FORMAT, "version": 1}))
        for r in records:
            out.write(_line({
                "email": r.email, "state": r.state.value, "scope": r.scope or "*",
                "at": format_time(r.at) if r.at else None, "reason": r.reason,
                "dpv": DPV[r.state], "evidence": dict(r.evidence),
            }))  # fmt: skip
            report.written += 1
        return report


class HashedWriter:
    name = "consentry-hashed"
    provider = "consentry"
    description = "suppressions only, addresses as SHA-256 of their canonical form"
    suffix = ".jsonl"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        out.write(_line({"format": HASHED, "version": 1, "key": "sha256(canonical address)"}))
        for r in records:
            if r.state not in SUPPRESSING:
                report.drop(f"{r.state.value}: only suppressions are exported hashed")
                continue
            key = hashlib.sha256(parse_address(r.email).canonical.encode()).hexdigest()
            out.write(_line({"key": key, "state": r.state.value, "scope": r.scope or "*"}))
            report.written += 1
        return report


READERS = [ConsentryReader()]
WRITERS = [ConsentryWriter(), HashedWriter()]

"""Daily reconciliation of a provider's event export against the ledger (R38, R30).

Every message the provider reports as delivered must have an allow decision in the ledger: a
``send-decided`` leaf with ``allowed`` true whose ``message`` is the delivery's Message-ID. A
delivery reported without a Message-ID (Postmark reports only its own id) is matched, more
weakly, by its recipient: an allowed decision for that subject whose handoff may have delivered
and was recorded at most :data:`WINDOW` before the delivery (and not after it, give or take
:data:`SKEW`). Every delivery left unmatched is reported: it is mail that left without passing
the gate (a P1 incident).

Bounces, complaints and unsubscribes in the export are checked the other way: the ledger must hold
an objection leaf (withdrawal, suppression or erasure) for the recipient, else the webhook that
should have recorded it was lost.

Lines that cannot be read are reported with their number and reason; the others still count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from consentry.domain.errors import ConsentryError
from consentry.domain.leaves import format_time, parse_time
from consentry.domain.provider_events import OBJECTIONS, EventKind
from consentry.services.audit_delivered import ReadEvent, read_payload
from consentry.services.audit_leaves import DELIVERED_OUTCOMES, OBJECTION_KINDS, kind_of
from consentry.services.consent import subject_for
from consentry.services.context import Context

_SEND_KINDS: Final = (b"send-decided", b"send-handed-off")
#: How long after its handoff a provider may still report a message delivered (retries).
WINDOW: Final = timedelta(hours=72)
#: Clock difference tolerated between the provider and us.
SKEW: Final = timedelta(minutes=5)
_OBJECTION_BYTES: Final = frozenset(k.encode() for k in OBJECTION_KINDS)
_SUBJECT: Final = b'"subject":"'


@dataclass
class ReconcileReport:
    provider: str
    lines: int = 0
    events: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    matched_by_message_id: int = 0
    matched_by_recipient: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    objections_missing: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    ledger_size: int = 0

    @property
    def ok(self) -> bool:
        return not (self.unmatched or self.objections_missing or self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "lines": self.lines,
            "events": dict(sorted(self.events.items())),
            "delivered": self.delivered,
            "matched_by_message_id": self.matched_by_message_id,
            "matched_by_recipient": self.matched_by_recipient,
            "unmatched_delivered": len(self.unmatched),
            "unmatched": self.unmatched,
            "objections_missing": self.objections_missing,
            "problems": self.problems,
            "ledger_size": self.ledger_size,
        }


@dataclass
class _Found:
    line: int
    read: ReadEvent
    subject: str | None


def reconcile_events(ctx: Context, provider: str, lines: Iterable[bytes]) -> ReconcileReport:
    """Read the export (one JSON payload per line), then the ledger once, and match."""
    report = ReconcileReport(provider)
    found: list[_Found] = []
    for number, line in enumerate(lines, start=1):
        report.lines = number
        if not line.strip():
            continue
        try:
            events = read_payload(provider, orjson.loads(line))
        except (ConsentryError, orjson.JSONDecodeError) as exc:
            report.problems.append(f"line {number}: {exc}")
            continue
        for read in events:
            report.events[read.event.kind.value] += 1
            if read.event.kind is EventKind.DELIVERED or read.event.kind in OBJECTIONS:
                found.append(_Found(number, read, _subject(ctx, read, number, report)))
    wanted = {f.read.message_id for f in found if f.read.message_id}
    subjects = {f.subject for f in found if f.subject}
    allowed, sent_to, objected = _scan(ctx, wanted, subjects, report)
    for f in found:
        kind = f.read.event.kind
        if kind is EventKind.DELIVERED:
            report.delivered += 1
            if f.read.message_id and f.read.message_id in allowed:
                report.matched_by_message_id += 1
            elif not f.read.message_id and _sent_before(sent_to.get(f.subject or ""), f):
                report.matched_by_recipient += 1
            else:
                report.unmatched.append(_described(f, _why(f)))
        elif f.subject not in objected:
            report.objections_missing.append(_described(f, "no-objection-in-ledger"))
    return report


def _subject(ctx: Context, read: ReadEvent, line: int, report: ReconcileReport) -> str | None:
    event = read.event
    if event.subject:
        return event.subject
    if not event.email:
        return None
    try:
        return subject_for(ctx, event.email)[1]
    except ConsentryError as exc:
        report.problems.append(f"line {line}: recipient cannot be read: {exc}")
        return None


def _sent_before(times: list[datetime] | None, f: _Found) -> bool:
    if not times:
        return False
    at = f.read.event.occurred_at
    return at is None or any(at - WINDOW <= t <= at + SKEW for t in times)


def _scan(
    ctx: Context, wanted: set[str], subjects: set[str], report: ReconcileReport
) -> tuple[set[str], dict[str, list[datetime]], set[str]]:
    """One pass over the ledger: the wanted Message-IDs that have an allow decision, when each
    subject got an allowed handoff that may have delivered, the subjects with an objection."""
    allowed: set[str] = set()
    allowed_at: dict[int, str] = {}
    sent_to: dict[str, list[datetime]] = {}
    objected: set[str] = set()
    for rows in ctx.store.leaf_chunks():
        for seq, raw, _ in rows:
            kind = kind_of(raw)
            if kind in _SEND_KINDS:
                obj = orjson.loads(raw)
                if kind == b"send-decided":
                    if obj["allowed"] and (obj["message"] in wanted or obj["subject"] in subjects):
                        allowed.add(obj["message"])
                        allowed_at[seq] = obj["subject"]
                elif obj["outcome"] in DELIVERED_OUTCOMES and obj["decision"] in allowed_at:
                    subject = allowed_at[obj["decision"]]
                    sent_to.setdefault(subject, []).append(parse_time(obj["at"]))
            elif kind in _OBJECTION_BYTES:
                at = raw.find(_SUBJECT) + len(_SUBJECT)
                subject = bytes(raw[at : at + 64]).decode("ascii", "replace")
                if subject in subjects:
                    objected.add(subject)
            report.ledger_size = seq + 1
    return allowed, sent_to, objected


def _why(f: _Found) -> str:
    if f.read.message_id:
        return "no-allow-decision-for-message-id"
    return "no-allowed-handoff-to-recipient" if f.subject else "no-recipient"


def _described(f: _Found, reason: str) -> dict[str, Any]:
    e = f.read.event
    return {
        "line": f.line,
        "kind": e.kind.value,
        "recipient": e.email,
        "subject": f.subject,
        "message_id": f.read.message_id,
        "event_id": e.event_id,
        "occurred_at": format_time(e.occurred_at) if e.occurred_at else None,
        "reason": reason,
    }

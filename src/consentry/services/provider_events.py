"""Objections reported from outside (provider webhooks, the inbound mail listener) into the
ledger: a hard bounce or a complaint suppresses the address everywhere (R21); an unsubscribe
withdraws consent from its list, or from every list when the list is unknown (a scope we cannot
represent is widened, never dropped).

Recording is idempotent: an event whose objection is already in force for the subject (the same
suppression reason in global scope; an unsubscribe already covering the list since its latest
grant) is counted as a duplicate and writes nothing. Everything accepted is written in one
append, durably, before this returns.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from consentry.domain.errors import InputError
from consentry.domain.leaves import LeafDraft, format_time
from consentry.domain.provider_events import OBJECTIONS, EventKind, ProviderEvent
from consentry.domain.state import GLOBAL_SCOPE, SubjectState, SuppressionReason
from consentry.ports import AddressRow, Batch
from consentry.services.consent import (
    CHANNEL,
    evidence_blob,
    leaf_time,
    new_record_id,
    subject_for,
)
from consentry.services.context import Context
from consentry.services.ledger import append_sealed
from consentry.services.unsubscribe import unsubscribed_in

_SUBJECT = re.compile(r"[0-9a-f]{64}\Z")
_OBJECTING = frozenset({SuppressionReason.UNSUBSCRIBE, SuppressionReason.WITHDRAWAL})
_REASON = {
    EventKind.HARD_BOUNCE: SuppressionReason.HARD_BOUNCE,
    EventKind.COMPLAINT: SuppressionReason.COMPLAINT,
}


def _covered(state: SubjectState | None, event: ProviderEvent, list_id: str | None) -> bool:
    """The objection this event asks for is in force already."""
    if state is None:
        return False
    if event.kind in _REASON:
        reason = _REASON[event.kind]
        return any(s.reason == reason and s.scope == GLOBAL_SCOPE for s in state.suppressions)
    if list_id is not None:
        return unsubscribed_in(state, list_id)
    if not state.consents:  # no consents: only a global withdrawal covers every list
        return any(s.reason in _OBJECTING and s.scope == GLOBAL_SCOPE for s in state.suppressions)
    return all(unsubscribed_in(state, scope) for scope in state.consents)


def _evidence_items(event: ProviderEvent) -> dict[str, str]:
    items = {"provider": event.provider, **{k: str(v)[:500] for k, v in event.detail.items()}}
    if event.event_id:
        items["event_id"] = event.event_id[:200]
    if event.occurred_at is not None:
        items["occurred_at"] = format_time(event.occurred_at)
    return items


def record_provider_events(ctx: Context, events: Sequence[ProviderEvent]) -> dict[str, int]:
    """Record the objections among ``events``; returns counts of ``recorded``, ``duplicate``
    (already in force, or repeated within this call), ``ignored`` (not an objection: deliveries,
    soft bounces, opens) and ``rejected`` (no usable address or subject)."""
    counts: Counter[str] = Counter(recorded=0, duplicate=0, ignored=0, rejected=0)
    resolved: list[tuple[ProviderEvent, str, AddressRow | None, str | None]] = []
    for event in events:
        if event.kind not in OBJECTIONS:
            counts["ignored"] += 1
            continue
        try:
            subject, row = _subject(ctx, event)
        except InputError:
            counts["rejected"] += 1
            continue
        list_id = event.list_id
        if event.kind is not EventKind.UNSUBSCRIBE:
            list_id = None
        elif list_id is not None and ctx.store.list_info(list_id) is None:
            list_id = None  # widened to every list, never dropped
        resolved.append((event, subject, row, list_id))
    if not resolved:
        return dict(counts)
    states = ctx.store.subject_states(sorted({subject for _, subject, _, _ in resolved}))
    now = leaf_time(ctx, objection=True)
    batch = Batch()
    seen: set[tuple[str, str, str | None]] = set()
    for event, subject, row, list_id in resolved:
        key = (subject, event.kind.value, list_id)
        if key in seen or _covered(states.get(subject), event, list_id):
            counts["duplicate"] += 1
            continue
        seen.add(key)
        blob = evidence_blob(_evidence_items(event), subject, now)
        batch.leaves.append(_leaf(event, subject, list_id, blob.hash, now))
        batch.evidence.append(blob)
        if row is not None:
            batch.addresses.append(row)
        counts["recorded"] += 1
    if batch.leaves:
        append_sealed(ctx, batch)
    return dict(counts)


def _subject(ctx: Context, event: ProviderEvent) -> tuple[str, AddressRow | None]:
    if event.subject is not None:
        if not _SUBJECT.match(event.subject):
            raise InputError(f"subject ref {event.subject!r} is not 64 lower-case hex digits")
        return event.subject, None
    if not event.email:
        raise InputError("the event names no recipient")
    address, subject = subject_for(ctx, event.email)
    return subject, AddressRow(subject, address.literal, address.canonical)


def _leaf(
    event: ProviderEvent, subject: str, list_id: str | None, evidence: str, now: datetime
) -> LeafDraft:
    source = "inbound-mail" if event.provider == "inbound" else f"webhook:{event.provider}"
    channel = CHANNEL if event.provider == "inbound" else "provider"
    common = {
        "record": new_record_id(), "subject": subject, "channel": channel,
        "actor": event.provider, "source": source, "evidence": evidence,
    }  # fmt: skip
    if event.kind is EventKind.UNSUBSCRIBE:
        method = event.detail.get("via", "provider-unsubscribe")
        return LeafDraft("consent-withdrawn", now, {**common, "list": list_id, "method": method})
    reason = _REASON[event.kind].value
    return LeafDraft("suppressed", now, {**common, "scope": GLOBAL_SCOPE, "reason": reason})

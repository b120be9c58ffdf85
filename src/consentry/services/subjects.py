"""Use cases about one person: their history, with the evidence and notices behind it."""

from __future__ import annotations

from typing import Any

from consentry.domain.leaves import decode_leaf, format_time
from consentry.domain.state import SubjectState
from consentry.services.consent import subject_for
from consentry.services.context import Context


def _state_json(state: SubjectState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "erased": state.erased,
        "consents": {
            list_id: {
                "status": r.status.value,
                "basis": r.basis,
                "confirmed": r.confirmed,
                "given_at": format_time(r.given_at),
                "source": r.source,
                "grant_index": r.grant.index,
                "justifying_index": r.justifying.index if r.justifying else None,
            }
            for list_id, r in sorted(state.consents.items())
        },
        "suppressions": [
            {
                "scope": s.scope,
                "reason": s.reason.value,
                "leaf_index": s.leaf.index,
                "at": format_time(s.at),
            }
            for s in state.suppressions
        ],
    }


def subject_history(ctx: Context, email: str) -> dict[str, Any]:
    """Everything the ledger and the side tables hold about one address, in ledger order."""
    address, subject = subject_for(ctx, email)
    stored = ctx.store.address(subject)
    events = []
    for leaf_row in ctx.store.leaves_for_subject(subject):
        leaf = decode_leaf(leaf_row.raw)
        event: dict[str, Any] = {
            "index": leaf.seq,
            "leaf_hash": leaf_row.hash.hex(),
            "kind": leaf.kind,
            "at": format_time(leaf.at),
            "fields": dict(leaf.fields),
        }
        evidence_hash = leaf.fields.get("evidence")
        if isinstance(evidence_hash, str):
            blob = ctx.store.evidence(subject, evidence_hash)
            event["evidence"] = blob.blob.decode("utf-8") if blob else None
        notice_hash = leaf.fields.get("notice")
        if isinstance(notice_hash, str):
            text = ctx.store.notice_text(notice_hash)
            event["notice_text"] = text.text if text else None
        events.append(event)
    return {
        "address": stored.literal if stored else None,
        "canonical": address.canonical,
        "subject": subject,
        "state": _state_json(ctx.store.subject_state(subject)),
        "events": events,
    }

"""The subject evidence pack (R33): everything the ledger holds about one person, with proofs.

Built on :func:`services.subjects.subject_history` (the person's leaves in ledger order, the
notice texts they saw and their evidence blobs): every consent with its notice text and evidence,
every message decided for them with its decision and handoff, every objection, each leaf with an
RFC 9162 inclusion proof against the latest signed checkpoint, checked here before it is handed
out. A person the ledger has never heard of gets a pack that says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from consentry.domain.errors import ConsentryError, VerificationFailed
from consentry.domain.leaves import format_time
from consentry.domain.merkle import inclusion_proof, verify_inclusion
from consentry.services.audit_leaves import DELIVERED_OUTCOMES, OBJECTION_KINDS
from consentry.services.context import Context
from consentry.services.subjects import subject_history

CONSENT_KINDS: Final = frozenset({"consent-given", "consent-requested", "consent-confirmed"})


def subject_pack(ctx: Context, email: str) -> dict[str, Any]:
    """The pack of one address (InvalidAddress when it cannot be canonicalised)."""
    history = subject_history(ctx, email)
    checkpoint = ctx.store.latest_checkpoint()  # read after the history: it covers every leaf
    if checkpoint is None:
        raise VerificationFailed("the ledger has no signed checkpoint to prove leaves against")
    size, root = ctx.keys.verify_checkpoint(checkpoint.note)
    tree = ctx.store.tree()
    events = history["events"]
    for event in events:
        event["proof"] = _proof(tree, event, size, root)
    handoffs = {e["fields"]["decision"]: e for e in events if e["kind"] == "send-handed-off"}
    return {
        "address": history["address"],
        "canonical": history["canonical"],
        "subject": history["subject"],
        "generated_at": format_time(ctx.clock.now()),
        "checkpoint": {"size": size, "root": root.hex(), "note": checkpoint.note},
        "state": history["state"],
        "consents": [e for e in events if e["kind"] in CONSENT_KINDS],
        "messages": [_message(e, handoffs.get(e["index"])) for e in events
                     if e["kind"] == "send-decided"],
        "objections": [_objection(e) for e in events if e["kind"] in OBJECTION_KINDS],
        "events": events,
    }  # fmt: skip


def _proof(tree: Any, event: dict[str, Any], size: int, root: bytes) -> dict[str, Any] | None:
    index = event["index"]
    if index >= size:
        return None
    path = inclusion_proof(tree, index, size)
    leaf_hash = bytes.fromhex(event["leaf_hash"])
    return {
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": event["leaf_hash"],
        "root_hash": root.hex(),
        "path": [h.hex() for h in path],
        "verified": verify_inclusion(leaf_hash, index, size, path, root),
    }


def _message(event: dict[str, Any], handoff: dict[str, Any] | None) -> dict[str, Any]:
    f = event["fields"]
    out = {
        "index": event["index"], "at": event["at"], "campaign": f["campaign"],
        "message": f["message"], "allowed": f["allowed"], "reason": f["reason"],
        "basis": f["basis"], "justifying_index": f["justifying_index"],
        "justifying_hash": f["justifying_hash"], "checked_size": f["checked_size"],
        "ruleset": f["ruleset"], "proof": event["proof"], "outcome": None, "handoff": None,
        "delivered": False,
    }  # fmt: skip
    if handoff is not None:
        h = handoff["fields"]
        out["outcome"] = h["outcome"]
        out["delivered"] = h["outcome"] in DELIVERED_OUTCOMES
        out["handoff"] = {
            "index": handoff["index"], "at": handoff["at"], "outcome": h["outcome"],
            "code": h["code"], "reply": h["reply"], "stage": h["stage"],
            "proof": handoff["proof"],
        }  # fmt: skip
    return out


def _objection(event: dict[str, Any]) -> dict[str, Any]:
    f = event["fields"]
    kind = event["kind"]
    scope = f.get("scope") or f.get("list") or "*"
    reason = f.get("reason") or ("withdrawal" if kind == "consent-withdrawn" else "erasure")
    return {
        "index": event["index"], "at": event["at"], "kind": kind, "scope": scope,
        "reason": reason, "source": f.get("source") or f.get("request"),
        "proof": event["proof"],
    }  # fmt: skip


def subject_packs(
    ctx: Context, emails: Iterable[tuple[int, str]]
) -> Iterator[tuple[int, str, dict[str, Any] | None, str | None]]:
    """Batch mode: (line, address, pack, None), or (line, address, None, problem) for an
    address that cannot be read; one bad line never stops the others."""
    for line, email in emails:
        try:
            yield line, email, subject_pack(ctx, email), None
        except ConsentryError as exc:
            if isinstance(exc, VerificationFailed):
                raise
            yield line, email, None, str(exc)

"""A data subject's access request: everything held about one person, machine-readable.

Built on ``subjects.subject_history`` (every leaf about the person, in ledger order), with what
an answer to an access request needs besides: the address as stored, each evidence blob whole
(parsed when it is JSON) under its hash, each notice text they were shown with its version and
list, the current state, and an inclusion proof of every leaf against the latest signed
checkpoint, so that the person can check the record without trusting us. After an erasure the
address and evidence are gone (``erased`` is true) and the leaves, keyed only by HMAC, remain.
"""

from __future__ import annotations

import json
from typing import Any

from consentry.domain.leaves import format_time
from consentry.services.context import Context
from consentry.services.ledger import prove_inclusion
from consentry.services.subjects import subject_history

FORMAT = "consentry-subject-export"
VERSION = 1


def _evidence(ctx: Context, subject: str, digest: str) -> dict[str, Any]:
    blob = ctx.store.evidence(subject, digest)
    if blob is None:
        return {"hash": digest, "held": False}
    text = blob.blob.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = None
    return {"hash": digest, "held": True, "text": text, "json": parsed}


def _notice(ctx: Context, digest: str) -> dict[str, Any]:
    out: dict[str, Any] = {"hash": digest}
    text = ctx.store.notice_text(digest)
    out.update({"text": text.text, "media_type": text.media_type} if text else {"text": None})
    info = ctx.store.notice_info(digest)
    if info is not None:
        out["list"], out["version"] = info.list_id, info.version
        out["language"], out["published_leaf"] = info.language, info.leaf.index
    return out


def export_subject(ctx: Context, email: str) -> dict[str, Any]:
    """Everything held about ``email`` (see the module docstring), as a JSON-ready dict."""
    history = subject_history(ctx, email)
    subject = history["subject"]
    stored = ctx.store.address(subject)
    checkpoint = ctx.store.latest_checkpoint()
    notices: dict[str, dict[str, Any]] = {}
    leaves = []
    for event in history["events"]:
        index = event["index"]
        leaf: dict[str, Any] = {
            "index": index,
            "leaf_hash": event["leaf_hash"],
            "kind": event["kind"],
            "at": event["at"],
            "fields": event["fields"],
            "leaf": ctx.store.leaf(index).raw.decode("utf-8"),
        }
        evidence = event["fields"].get("evidence")
        if isinstance(evidence, str):
            leaf["evidence"] = _evidence(ctx, subject, evidence)
        notice = event["fields"].get("notice")
        if isinstance(notice, str):
            notices.setdefault(notice, _notice(ctx, notice))
            leaf["notice"] = notice
        if checkpoint is not None and index < checkpoint.size:
            proof = prove_inclusion(ctx, index, checkpoint.size)
            leaf["inclusion_proof"] = {"tree_size": checkpoint.size, "proof": proof["proof"]}
        leaves.append(leaf)
    state = history["state"]
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": format_time(ctx.clock.now()),
        "email": email,
        "canonical": history["canonical"],
        "subject": subject,
        "erased": bool(state and state["erased"]),
        "addresses": [{"literal": stored.literal, "canonical": stored.canonical}] if stored else [],
        "state": state,
        "leaves": leaves,
        "notices": notices,
        "checkpoint": {
            "size": checkpoint.size,
            "root": checkpoint.root.hex(),
            "note": checkpoint.note,
        }
        if checkpoint
        else None,
    }

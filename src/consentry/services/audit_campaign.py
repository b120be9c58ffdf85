"""The campaign evidence pack (R30, R34): what proportion of a campaign was validly sent,
re-derived from the ledger alone.

:func:`campaign_pack` streams the ledger once, up to the latest signed checkpoint, recomputing the
Merkle root on the way so that the pack says which signed tree it was computed from. The
dispatcher's queue table (``campaign_messages``) and counters are never read: every figure comes
from the campaign's ``send-decided`` and ``send-handed-off`` leaves, judged by the replay of
``services.audit_fold`` against the state each decision read.

Per decision (and per handoff naming none) there is one row (:func:`row_values`, the CSV); the
pack holds the counts, the problem lists (capped, with their totals) and a timeline for charts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from consentry.domain.errors import UnknownCampaign, VerificationFailed
from consentry.domain.leaves import canonical_json, decode_leaf, format_time
from consentry.services.audit_fold import Replayer
from consentry.services.audit_leaves import DELIVERED_OUTCOMES, GRACE_SECONDS
from consentry.services.audit_root import root_of_prefix
from consentry.services.audit_rows import Row, gc_paused
from consentry.services.context import Context

VALIDLY_SENT_DEFINITION: Final = (
    "A message counts as validly sent when (1) it was handed off: the mail server accepted it, "
    "or the handoff is uncertain and it may have been delivered; (2) under an allow decision of "
    "this campaign, recorded before the handoff; (3) whose justifying leaf, replayed from the "
    "ledger prefix the decision read (its checked_size) at the decision's time, was a consent "
    "that allowed this message under the recorded rule set: the replay allows, naming the same "
    "leaf (index and hash) and the same lawful basis; and (4) no objection of the recipient "
    "(withdrawal, suppression, erasure) in the campaign's scope, committed after that consent, "
    f"came more than {GRACE_SECONDS:g} s before the handoff could start. "
    "Proportion validly sent = validly sent / handed off."
)
SENT_AFTER_OBJECTION_DEFINITION: Final = (
    "Handoffs that may have delivered although an objection of the recipient, in the campaign's "
    "scope and newer than the consent relied on, was committed before: either in the state the "
    f"decision read, or more than {GRACE_SECONDS:g} s before the decision (so before the "
    "handoff could start). Handoffs whose window (decision to record) only straddles the end of "
    "the grace are listed apart as near_objection: the ledger records when a handoff ended, not "
    "when it began, and the dispatcher's gate (docs/dispatch.md) stops those within 0.45 s."
)
#: Problem rows kept in the pack per list; the totals are always exact (the CSV has every row).
LIST_CAP: Final = 1000
SAMPLE_ROWS: Final = 200
CSV_HEADER: Final = (
    "message", "subject", "decision_index", "decided_at", "attempt", "allowed", "reason",
    "basis", "justifying_index", "justifying_hash", "consent_source", "consent_jurisdiction",
    "consent_evidence", "replayed", "valid", "problem", "handoff_index", "handed_off_at",
    "outcome", "code", "stage", "objection_index",
)  # fmt: skip


@dataclass
class CampaignPack:
    campaign: str
    list_id: str
    template_class: str
    jurisdiction: str
    checkpoint: dict[str, Any]
    generated_at: datetime
    recipients: int = 0
    decisions: int = 0
    handed_off: int = 0
    validly_sent: int = 0
    sent_after_objection: int = 0
    near_objection: int = 0
    uncertain: int = 0
    invalid_allows: int = 0
    allowed_without_justifying_record: int = 0
    handoff_problems: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_basis: Counter[str] = field(default_factory=Counter)
    by_jurisdiction: dict[str, Counter[str]] = field(default_factory=dict)
    by_deny_reason: Counter[str] = field(default_factory=Counter)
    by_problem: Counter[str] = field(default_factory=Counter)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    after_objection: list[dict[str, Any]] = field(default_factory=list)
    near: list[dict[str, Any]] = field(default_factory=list)
    uncertain_rows: list[dict[str, Any]] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    #: Handoffs that may have delivered, per UTC second (epoch), for the timeline chart.
    sends_per_second: Counter[int] = field(default_factory=Counter)
    #: Objections of the campaign's recipients (epoch seconds) from the campaign's creation on.
    objection_times: list[int] = field(default_factory=list)
    spec_matches_ledger: bool | None = None
    seconds: float = 0.0

    @property
    def proportion_validly_sent(self) -> float | None:
        return self.validly_sent / self.handed_off if self.handed_off else None

    def to_json(self) -> dict[str, Any]:
        by_jurisdiction = {k: dict(sorted(v.items())) for k, v in self.by_jurisdiction.items()}
        return {
            "campaign": self.campaign,
            "list": self.list_id,
            "template_class": self.template_class,
            "jurisdiction": self.jurisdiction,
            "checkpoint": self.checkpoint,
            "generated_at": format_time(self.generated_at),
            "recipients": self.recipients,
            "decisions": self.decisions,
            "handed_off": self.handed_off,
            "validly_sent": self.validly_sent,
            "proportion_validly_sent": self.proportion_validly_sent,
            "definition": VALIDLY_SENT_DEFINITION,
            "sent_after_objection": self.sent_after_objection,
            "sent_after_objection_definition": SENT_AFTER_OBJECTION_DEFINITION,
            "near_objection": self.near_objection,
            "uncertain": self.uncertain,
            "invalid_allows": self.invalid_allows,
            "allowed_without_justifying_record": self.allowed_without_justifying_record,
            "handoff_problems": self.handoff_problems,
            "outcomes": dict(sorted(self.outcomes.items())),
            "by_basis": dict(sorted(self.by_basis.items())),
            "by_jurisdiction": dict(sorted(by_jurisdiction.items())),
            "by_deny_reason": dict(sorted(self.by_deny_reason.items())),
            "by_problem": dict(sorted(self.by_problem.items())),
            "invalid": self.invalid,
            "after_objection": self.after_objection,
            "near_objection_rows": self.near,
            "uncertain_handoffs": self.uncertain_rows,
            "spec_matches_ledger": self.spec_matches_ledger,
            "lists_capped_at": LIST_CAP,
        }


def row_values(row: Row) -> dict[str, Any]:
    """One row of the evidence: the decision, its replay, its consent record, its handoff."""
    d, v, h = row.decision, row.verdict, row.handoff
    record = v.record if v is not None else None
    objection = row.late.objection.seq if row.late is not None else None
    return {
        "message": d.message if d else (h.message if h else None),
        "subject": d.subject if d else (h.subject if h else None),
        "decision_index": d.seq if d else (h.decision if h else None),
        "decided_at": format_time(d.at) if d else None,
        "attempt": d.attempt if d else None,
        "allowed": d.allowed if d else None,
        "reason": d.reason if d else None,
        "basis": d.basis if d else None,
        "justifying_index": d.justifying_index if d else None,
        "justifying_hash": d.justifying_hash if d else None,
        "consent_source": record.source if record else None,
        "consent_jurisdiction": record.jurisdiction if record else None,
        "consent_evidence": (record.evidence is not None) if record else None,
        "replayed": v.replayed if v else None,
        "valid": (row.problem is None) if (d is not None and d.allowed) or h else None,
        "problem": row.problem,
        "handoff_index": h.seq if h else None,
        "handed_off_at": format_time(h.at) if h else None,
        "outcome": h.outcome if h else None,
        "code": h.code if h else None,
        "stage": h.stage if h else None,
        "objection_index": objection,
    }


class _Tally:
    """Adds the rows up as they come (a million rows are never all held)."""

    def __init__(self, pack: CampaignPack, sink: Callable[[Row], None] | None) -> None:
        self.pack = pack
        self.sink = sink
        self.final: dict[str, tuple[int, bool, str, str | None, str]] = {}

    def __call__(self, row: Row) -> None:
        pack, d, h = self.pack, row.decision, row.handoff
        if self.sink is not None:
            self.sink(row)
        if len(pack.sample) < SAMPLE_ROWS:
            pack.sample.append(row_values(row))
        if d is not None:
            pack.decisions += 1
            where = row.verdict.record.jurisdiction if row.verdict and row.verdict.record else None
            last = self.final.get(d.subject)
            if last is None or last[0] < d.seq:
                self.final[d.subject] = (d.seq, d.allowed, d.reason, d.basis, where or "unknown")
            if d.allowed and d.justifying_index is None:
                pack.allowed_without_justifying_record += 1
            if d.allowed and row.verdict is not None and row.verdict.problem is not None:
                pack.invalid_allows += 1
                _keep(pack.invalid, row)
        if h is None:
            return
        pack.outcomes[h.outcome] += 1
        if row.handoff_problem is not None:
            pack.handoff_problems += 1
            if d is None:
                _keep(pack.invalid, row)
        if h.outcome == "uncertain":
            pack.uncertain += 1
            _keep(pack.uncertain_rows, row)
        if h.outcome not in DELIVERED_OUTCOMES:
            return
        pack.handed_off += 1
        pack.sends_per_second[int(h.at.timestamp())] += 1
        if row.late is not None:
            if row.late.proven:
                pack.sent_after_objection += 1
                _keep(pack.after_objection, row)
            else:
                pack.near_objection += 1
                _keep(pack.near, row)
        problem = row.problem
        if problem is None:
            pack.validly_sent += 1
        else:
            pack.by_problem[problem] += 1

    def close(self) -> None:
        pack = self.pack
        pack.sample.sort(key=lambda r: (r["decision_index"] or -1, r["handoff_index"] or -1))
        pack.recipients = len(self.final)
        for _, allowed, reason, basis, where in self.final.values():
            verdict = "allowed" if allowed else "denied"
            pack.by_jurisdiction.setdefault(where, Counter())[verdict] += 1
            if allowed:
                pack.by_basis[basis or "none"] += 1
            else:
                pack.by_deny_reason[reason] += 1


def _keep(rows: list[dict[str, Any]], row: Row) -> None:
    if len(rows) < LIST_CAP:
        rows.append(row_values(row))


def campaign_pack(
    ctx: Context, name: str, sink: Callable[[Row], None] | None = None
) -> CampaignPack:
    """The evidence pack of campaign ``name`` against the latest signed checkpoint; ``sink``
    hears every row (for the CSV). Raises UnknownCampaign, or VerificationFailed when the leaves
    read do not reproduce the checkpoint's root."""
    started = ctx.clock.now()
    row = ctx.store.campaign(name)
    checkpoint = ctx.store.latest_checkpoint()
    if row is None:
        known = ", ".join(c.campaign_id for c in ctx.store.campaigns()) or "none"
        raise UnknownCampaign(f"no campaign named {name!r} (campaigns: {known})")
    if checkpoint is None:
        raise VerificationFailed("the ledger has no signed checkpoint to compute the pack against")
    size, root = ctx.keys.verify_checkpoint(checkpoint.note)
    spec_hash = hashlib.sha256(canonical_json(row.spec)).hexdigest()
    flags = {
        name: (row.spec.get("product_category"), bool(row.spec.get("sole_purpose_charitable")))
    }
    pack = CampaignPack(
        campaign=name, list_id=row.list_id, template_class=row.template_class,
        jurisdiction=row.jurisdiction, generated_at=started,
        checkpoint={"size": size, "root": root.hex(), "note": checkpoint.note},
    )  # fmt: skip
    tally = _Tally(pack, sink)
    replayer = Replayer(tally, campaign=name, list_id=row.list_id, flags=flags)
    with gc_paused(), root_of_prefix(ctx, size) as recomputed:
        for rows in ctx.store.leaf_chunks(0, size):
            replayer.feed_chunk(rows)
            recomputed.feed(rows)
    if recomputed.root() != root:
        raise VerificationFailed(
            f"the ledger's first {size} leaves do not reproduce the root of the signed checkpoint "
            "of that size; run 'consentry ledger verify'"
        )
    created = replayer.campaigns.get(name)
    if created is None:
        raise VerificationFailed(f"campaign {name!r} has no campaign-created leaf in the ledger")
    created_leaf = decode_leaf(ctx.store.leaf(created.index).raw)
    pack.spec_matches_ledger = created_leaf.fields.get("content") == spec_hash
    if not pack.spec_matches_ledger:  # the side table's flags cannot be trusted: judge without
        replayer.flags.pop(name, None)
    replayer.finish(lambda subjects: {s: _subject_rows(ctx, s) for s in subjects})
    tally.close()
    start_at = created_leaf.at.timestamp()
    recipients = tally.final
    pack.objection_times = sorted(
        int(o.at.timestamp())
        for subject, found in replayer.objections.items()
        if subject in recipients
        for o in found
        if o.at.timestamp() >= start_at
    )
    pack.seconds = (ctx.clock.now() - started).total_seconds()
    return pack


def _subject_rows(ctx: Context, subject: str) -> list[tuple[int, bytes, bytes]]:
    return [(s.index, s.raw, s.hash) for s in ctx.store.leaves_for_subject(subject)]

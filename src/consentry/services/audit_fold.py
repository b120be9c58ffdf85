"""The audit's replay: stream the ledger once, fold state with the domain's own fold, and judge
every send decision against the state it read.

A ``send-decided`` leaf records ``checked_size``: the ledger prefix whose state the dispatcher
read. :class:`Replayer` folds leaves in order with :class:`~consentry.domain.state.Projection`
(the reference fold every store must equal) and, at each decision, asks the policy
(:func:`~consentry.domain.policy.decide`) what that state allowed at the decision's time. An
allow is justified when the replay allows too, naming the same leaf (index and hash) and the same
basis.

When the decision is read, the fold is at the decision's own index, not at ``checked_size``. The
two states are equal unless a leaf in between changed what the policy reads for this subject and
list; the state itself tells (each consent record and suppression carries the index of the leaf
that last changed it). Those few decisions are judged at the end, by re-folding only their
subjects' leaves below ``checked_size`` (``resolve``), so that every verdict is exact.

Each decision comes out as one :class:`Row`, joined with the ``send-handed-off`` leaf that names
it (``decision``), and each handoff that names no decision of the campaign comes out on its own.
A handoff is checked against the recipient's objections: see :func:`Replayer.late_send`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, cast

import orjson

from consentry.domain.leaves import ENVELOPE, Leaf
from consentry.domain.policy import Decision, SendContext, decide
from consentry.domain.policy_bulk import shape
from consentry.domain.profiles import (
    RULESET_VERSION,
    Jurisdiction,
    Organisation,
    TemplateClass,
)
from consentry.domain.state import GLOBAL_SCOPE, ConsentRecord, LeafRef, Projection, SubjectState
from consentry.services.audit_leaves import (
    DELIVERED_OUTCOMES,
    GRACE_SECONDS,
    OBJECTION_KINDS,
    STATE_KINDS,
    CampaignInfo,
    DecisionLeaf,
    HandoffLeaf,
    Objection,
    campaign_of,
    decision_of,
    field_marker,
    handoff_of,
    kind_of,
    leaf_time,
    list_markers,
    objection_of,
    objects_to,
    relevant,
    shared,
)
from consentry.services.audit_rows import LateSend, Row, Verdict

Chunk = Sequence[tuple[int, bytes, bytes]]
#: Subjects -> each subject's leaves as (index, bytes, leaf hash), in ledger order.
Resolver = Callable[[set[str]], Mapping[str, Sequence[tuple[int, bytes, bytes]]]]

_STATE_BYTES: Final = frozenset(k.encode() for k in STATE_KINDS)
_GRACE: Final = timedelta(seconds=GRACE_SECONDS)
#: Fields of state leaves whose values repeat across leaves (one string object each, kept by
#: every consent record of the fold).
_SHARED: Final = (
    "subject", "list", "basis", "jurisdiction", "method", "source", "notice", "controller",
    "channel", "language", "scope", "reason",
)  # fmt: skip
_MAX_MEMO = 50_000
# Marks per ledger index of the decisions seen (a bytearray: one byte per leaf).
_ALLOWED, _DENIED, _HANDED = 1, 2, 3


class Replayer:
    """Feed leaves in ledger order (:meth:`feed`), then :meth:`finish`; rows go to ``on_row``.

    ``campaign``: judge only this campaign's decisions, and fold only what the policy reads for
    ``list_id`` (consents of that list, suppressions and withdrawals in its scope, erasures).
    ``flags``: per campaign, the specification's (product category, sole charitable purpose);
    a campaign without flags is judged with its campaign-level soft opt-in conditions taken as
    met (they are not in the leaves), every subject-level condition checked."""

    def __init__(
        self,
        on_row: Callable[[Row], None],
        campaign: str | None = None,
        list_id: str | None = None,
        flags: Mapping[str, tuple[str | None, bool]] | None = None,
    ) -> None:
        self.on_row = on_row
        self.campaign = campaign
        self.list_id = list_id
        self.flags = dict(flags or {})
        self.projection = Projection()
        self.campaigns: dict[str, CampaignInfo] = {}
        self.objections: dict[str, list[Objection]] = {}
        self.org_seqs: list[int] = []
        self.orgs: list[Organisation | None] = []
        self.leaves = 0
        self._campaign_marker = field_marker("campaign", campaign) if campaign else None
        self._marks = bytearray()
        self._open: dict[int, tuple[DecisionLeaf, Verdict | None]] = {}
        self._deferred: list[DecisionLeaf] = []
        self._held: list[tuple[HandoffLeaf, DecisionLeaf, str | None]] = []
        self._verdicts: dict[int, Verdict] = {}
        self._memo: dict[Hashable, Decision] = {}
        self._list_markers = list_markers(list_id) if list_id else None

    # --- streaming ------------------------------------------------------------------------------

    def feed_chunk(self, rows: Chunk) -> None:
        feed = self.feed
        for seq, raw, digest in rows:
            feed(seq, raw, digest)

    def feed(self, seq: int, raw: bytes, digest: bytes) -> None:
        """One leaf: its index, its exact bytes and its Merkle leaf hash."""
        self.leaves = seq + 1
        kind = kind_of(raw)
        if kind == b"send-decided" or kind == b"send-handed-off":
            marker = self._campaign_marker
            if marker is not None and marker not in raw:
                return
            obj = orjson.loads(raw)
            if kind == b"send-decided":
                self._decision(decision_of(seq, obj))
            else:
                self._handoff(handoff_of(seq, obj))
        elif kind in _STATE_BYTES:
            if self._list_markers is not None and not relevant(kind, raw, self._list_markers):
                return
            self._fold(seq, kind.decode(), orjson.loads(raw), digest)
        elif kind == b"campaign-created":
            info = campaign_of(seq, orjson.loads(raw))
            self.campaigns.setdefault(info.name, info)

    def _fold(self, seq: int, kind: str, obj: dict[str, Any], digest: bytes) -> None:
        at = leaf_time(obj["at"])
        # changes_for reads each field by name, so the envelope keys may stay, except in the
        # organisation's settings, which are taken whole
        for name in _SHARED:
            if name in obj:
                obj[name] = shared(obj[name])
        fields = obj
        if kind == "organisation-configured":
            fields = {k: v for k, v in obj.items() if k not in ENVELOPE}
        leaf = Leaf(seq=seq, kind=kind, at=at, fields=fields, raw=b"")
        self.projection.apply_leaf(leaf, LeafRef(seq, bytes(digest).hex()))
        if kind == "organisation-configured":
            self.org_seqs.append(seq)
            self.orgs.append(_organisation(self.projection.organisation))
        elif kind in OBJECTION_KINDS:
            self.objections.setdefault(obj["subject"], []).append(objection_of(seq, obj))

    def _mark(self, seq: int, value: int) -> None:
        marks = self._marks
        if seq >= len(marks):
            marks.extend(bytes(max(seq + 1 - len(marks), len(marks), 1024)))
        marks[seq] = value

    def _decision(self, d: DecisionLeaf) -> None:
        verdict = self._judge(d)
        if verdict is None:
            self._deferred.append(d)
        self._mark(d.seq, _ALLOWED if d.allowed else _DENIED)
        if d.allowed:
            self._open[d.seq] = (d, verdict)
        elif verdict is not None:
            self.on_row(Row(d, verdict))

    def _handoff(self, h: HandoffLeaf) -> None:
        entry = self._open.pop(h.decision, None)
        if entry is None:
            mark = self._marks[h.decision] if 0 <= h.decision < len(self._marks) else 0
            orphan = {_HANDED: "duplicate-handoff", _DENIED: "decision-denied"}.get(
                mark, "no-decision"
            )
            self.on_row(Row(None, None, h, orphan, self.late_send(h, None)))
            return
        d, verdict = entry
        self._marks[h.decision] = _HANDED
        same = d.message == h.message and d.subject == h.subject and d.campaign == h.campaign
        problem = None if same else "decision-mismatch"
        if verdict is None:
            self._held.append((h, d, problem))
            return
        self.on_row(Row(d, verdict, h, problem, self.late_send(h, d)))

    # --- judging --------------------------------------------------------------------------------

    def _judge(self, d: DecisionLeaf) -> Verdict | None:
        """The verdict now, or None when the state read must be re-folded (see the module)."""
        campaign = self.campaigns.get(d.campaign)
        if campaign is None:
            return Verdict("unknown-campaign", "unknown-campaign", None)
        if d.checked_size > d.seq:
            return Verdict("checked-size-after-decision", "not-replayed", None)
        state = self.projection.subject_state(d.subject)
        if state is not None and _last_change(state, campaign.list_id) >= d.checked_size:
            return None
        return self._evaluate(d, campaign, state)

    def _org_at(self, size: int) -> tuple[int, Organisation | None]:
        """The organisation profile in force in the ledger prefix of ``size`` leaves."""
        i = bisect_left(self.org_seqs, size)
        return (i - 1, self.orgs[i - 1]) if i else (-1, None)

    def _evaluate(
        self, d: DecisionLeaf, campaign: CampaignInfo, state: SubjectState | None
    ) -> Verdict:
        record = state.consents.get(campaign.list_id) if state is not None else None
        org_key, org = self._org_at(d.checked_size)
        if org is None:
            return Verdict("no-organisation" if d.allowed else None, "no-organisation", record)
        if d.ruleset != RULESET_VERSION:
            return Verdict("ruleset-not-replayable" if d.allowed else None, "not-replayed", record)
        replay = self._decide(d, campaign, org_key, org, state, record)
        if not d.allowed:
            return Verdict(None, replay.reason, record)
        if not replay.allowed:
            return Verdict(replay.reason, replay.reason, record)
        if d.justifying_index is None or d.justifying_hash is None:
            return Verdict("no-justifying-leaf", replay.reason, record)
        if replay.justifying != LeafRef(d.justifying_index, d.justifying_hash):
            return Verdict("justifying-leaf-mismatch", replay.reason, record)
        if replay.basis != d.basis:
            return Verdict("basis-mismatch", replay.reason, record)
        return Verdict(None, replay.reason, record)

    def _decide(
        self,
        d: DecisionLeaf,
        campaign: CampaignInfo,
        org_key: int,
        org: Organisation,
        state: SubjectState | None,
        record: ConsentRecord | None,
    ) -> Decision:
        """``decide`` at the decision's time on the state it read, once per shape of state."""
        promotional = d.template_class == TemplateClass.MARKETING.value
        exact = d.at if record is not None and record.valid_until is not None else None
        try:
            key: Hashable = (
                shape(state, campaign.list_id), campaign.name, org_key, d.at.date(), exact,
                promotional,
            )  # fmt: skip
            template = self._memo.get(key)
        except Exception:  # an unhashable state: decide it directly
            return decide(state, self._context(d, campaign, org, promotional))
        if template is None:
            template = decide(state, self._context(d, campaign, org, promotional))
            if len(self._memo) < _MAX_MEMO:
                self._memo[key] = template
            return template
        if not template.allowed or record is None:
            return template
        leaf = record.grant if template.reason == "service-message" else record.justifying
        return Decision(
            True, template.reason, template.basis, leaf, template.ruleset,
            template.jurisdiction, template.template_class, template.ledger_size,
        )  # fmt: skip

    def _context(
        self, d: DecisionLeaf, campaign: CampaignInfo, org: Organisation, promotional: bool
    ) -> SendContext:
        category, charitable = self.flags.get(campaign.name, (None, None))
        if campaign.name not in self.flags:  # campaign-level conditions are not in the leaves
            category = next(iter(sorted(org.similar_products)), None)
            charitable = True
        return SendContext(
            list_id=campaign.list_id,
            template_class=_template_class(campaign.template_class),
            organisation=org,
            jurisdiction=_jurisdiction(campaign.jurisdiction),
            now=d.at,
            ledger_size=d.checked_size,
            ledger_last_at=None,
            product_category=category,
            sole_purpose_charitable=bool(charitable),
            promotional=promotional,
        )

    # --- objections -----------------------------------------------------------------------------

    def late_send(self, h: HandoffLeaf, d: DecisionLeaf | None) -> LateSend | None:
        """An objection of the recipient, in the campaign's scope, committed after the consent
        the decision relied on and before the handoff leaf: proven late, near (undecidable from
        the ledger), or None. Only handoffs that may have delivered are checked."""
        if h.outcome not in DELIVERED_OUTCOMES:
            return None
        found = self.objections.get(h.subject)
        if not found:
            return None
        campaign = self.campaigns.get(h.campaign)
        list_id = campaign.list_id if campaign is not None else GLOBAL_SCOPE
        marketing = d is None or d.template_class != TemplateClass.SERVICE.value
        low = -1 if d is None or d.justifying_index is None else d.justifying_index
        near: LateSend | None = None
        for o in found:
            if not low < o.seq < h.seq or not objects_to(o, list_id, marketing):
                continue
            if d is None or o.seq < d.checked_size or o.at + _GRACE < d.at:
                return LateSend(True, o)
            if near is None and o.at + _GRACE < h.at:
                near = LateSend(False, o)
        return near

    # --- the end --------------------------------------------------------------------------------

    def finish(self, resolve: Resolver) -> None:
        """Judge the deferred decisions on their subjects' re-folded state, then emit what is
        still held and every allowed decision no handoff named."""
        if self._deferred:
            found = resolve({d.subject for d in self._deferred})
            for d in self._deferred:
                self._verdicts[d.seq] = self._refold(d, found.get(d.subject, ()))
                if not d.allowed:
                    self.on_row(Row(d, self._verdicts[d.seq]))
        for h, d, problem in self._held:
            self.on_row(Row(d, self._verdicts[d.seq], h, problem, self.late_send(h, d)))
        for seq, (d, verdict) in sorted(self._open.items()):
            self.on_row(Row(d, verdict if verdict is not None else self._verdicts[seq]))
        self._deferred, self._held, self._open = [], [], {}

    def _refold(self, d: DecisionLeaf, leaves: Iterable[tuple[int, bytes, bytes]]) -> Verdict:
        campaign = self.campaigns[d.campaign]
        projection = Projection()
        for seq, raw, digest in leaves:
            if seq >= d.checked_size:
                break
            kind = kind_of(raw)
            if kind in _STATE_BYTES and kind != b"organisation-configured":
                obj = orjson.loads(raw)
                fields = {k: v for k, v in obj.items() if k not in ENVELOPE}
                leaf = Leaf(seq, kind.decode(), leaf_time(obj["at"]), fields, b"")
                projection.apply_leaf(leaf, LeafRef(seq, bytes(digest).hex()))
        return self._evaluate(d, campaign, projection.subject_state(d.subject))


def _last_change(state: SubjectState, list_id: str) -> int:
    """The index of the last leaf that changed what the policy reads for this list."""
    record = state.consents.get(list_id)
    last = record.changed.index if record is not None else -1
    for sup in state.suppressions:
        if sup.leaf.index > last and sup.scope in (GLOBAL_SCOPE, list_id):
            last = sup.leaf.index
    return last


def _organisation(settings: Mapping[str, Any] | None) -> Organisation | None:
    if settings is None:
        return None
    try:
        return Organisation.from_settings({k: v for k, v in settings.items() if k != "origin"})
    except Exception:  # a profile the rules refuse: nothing can be judged under it
        return None


def _jurisdiction(value: str) -> Jurisdiction:
    """The profile named; an unknown name is passed on as it is, and the policy denies it
    ``policy-error`` (fail closed) rather than judging under a profile of our choosing."""
    if value in Jurisdiction._value2member_map_:
        return Jurisdiction(value)
    return cast(Jurisdiction, value)


def _template_class(value: str) -> TemplateClass:
    if value in TemplateClass._value2member_map_:
        return TemplateClass(value)
    return cast(TemplateClass, value)

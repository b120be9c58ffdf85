"""Use cases of campaigns: create, preflight, approve, pause, resume, cancel, status, and the
global kill switch.

A campaign is recorded by a ``campaign-created`` leaf that commits to the SHA-256 of its whole
specification (templates, sender identity, class); the specification itself is kept in the
``campaigns`` table. ``preflight`` decides every recipient without writing anything and reports
the counts R30 asks for; its SHA-256 is what an approver signs off in a ``campaign-approved``
leaf. A campaign whose queue is larger than the approval threshold needs two approvals by
different people for its current content before it may send.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from consentry.domain.errors import (
    ApprovalRequired,
    CampaignStateError,
    DispatchHalted,
    InputError,
    UnknownCampaign,
)
from consentry.domain.leaves import LeafDraft, canonical_json, decode_leaf
from consentry.domain.policy import SendContext
from consentry.domain.policy_bulk import AudienceRow, decide_rows
from consentry.domain.profiles import RULESET_VERSION, Jurisdiction, TemplateClass
from consentry.domain.sender import SenderIdentity, check_identity
from consentry.ports import ApprovalRow, Batch, CampaignRow
from consentry.services.consent import leaf_time, organisation, require_list
from consentry.services.context import Context
from consentry.services.gate import send_context
from consentry.services.ledger import append_sealed
from consentry.services.templates import CompiledContent, compile_content
from consentry.services.transfer_reconcile import require_cutover

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,79}\Z")
#: Campaigns with more queued recipients than this need two approvals (R30).
DEFAULT_APPROVAL_THRESHOLD = 10_000
HALT_CONTROL = "halted"

#: Campaign states and what may follow each.
STATES = ("draft", "sending", "paused", "done", "cancelled")
SENDABLE = ("draft", "sending", "paused")


@dataclass(frozen=True)
class CampaignSpec:
    """What ``campaign create`` records. Templates are Jinja2 source."""

    name: str
    list_id: str
    subject: str
    text: str
    html: str | None
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None
    template_class: str = "marketing"
    jurisdiction: str | None = None
    postal_address: str | None = None
    contact: str | None = None
    opt_out_email: str | None = None
    product_category: str | None = None
    sole_purpose_charitable: bool = False
    #: A list's double opt-in confirmation campaign (``services.signup``): its templates may use
    #: ``confirm_url``, and it is never sent as a whole, only one message per signup.
    confirmation: bool = False


def identity_of(spec: dict[str, Any], controller: str) -> SenderIdentity:
    return SenderIdentity(
        name=spec.get("from_name") or controller,
        from_address=spec["from_address"],
        reply_to=spec.get("reply_to"),
        postal_address=spec.get("postal_address"),
        contact=spec.get("contact"),
        opt_out_email=spec.get("opt_out_email") or spec.get("reply_to") or spec["from_address"],
    )


def compiled_content(ctx: Context, row: CampaignRow) -> CompiledContent:
    """Compile (and so check) a campaign's templates as they will be sent."""
    org = organisation(ctx)
    spec = row.spec
    info = ctx.store.list_info(row.list_id)
    return compile_content(
        spec["subject"], spec["text"], spec.get("html"),
        identity=identity_of(spec, org.controller), jurisdiction=Jurisdiction(row.jurisdiction),
        template_class=TemplateClass(row.template_class), campaign_name=row.campaign_id,
        list_id=row.list_id, list_purpose=info.purpose if info else row.list_id,
        confirmation=bool(spec.get("confirmation")),
    )  # fmt: skip


def create_campaign(ctx: Context, spec: CampaignSpec, actor: str) -> CampaignRow:
    """Check everything that can be checked before sending, then record the campaign."""
    if not _NAME.match(spec.name):
        raise InputError(
            f"campaign name {spec.name!r} must be 1-80 of a-z, 0-9, '.', '_', '-' "
            "starting with a letter or digit"
        )
    if ctx.store.campaign(spec.name) is not None:
        raise CampaignStateError(f"a campaign named {spec.name!r} exists already")
    org = organisation(ctx)
    require_list(ctx, spec.list_id)
    jurisdiction = Jurisdiction(spec.jurisdiction or org.jurisdiction.value)
    klass = TemplateClass(spec.template_class)
    stored = {k: v for k, v in asdict(spec).items() if k not in ("name", "list_id")}
    stored["jurisdiction"] = jurisdiction.value
    check_identity(identity_of(stored, org.controller), jurisdiction, klass)
    content_hash = hashlib.sha256(canonical_json(stored)).hexdigest()
    now = leaf_time(ctx)
    row = CampaignRow(
        spec.name, spec.list_id, klass.value, jurisdiction.value, "draft", stored, content_hash,
        now,
    )  # fmt: skip
    compiled_content(ctx, row)  # templates compile, merge fields exist, R16 lint passes
    leaf = LeafDraft("campaign-created", now, {
        "campaign": spec.name, "list": spec.list_id, "template_class": klass.value,
        "jurisdiction": jurisdiction.value, "content": content_hash,
        "sender": stored["from_address"], "actor": actor,
    })  # fmt: skip
    append_sealed(ctx, Batch(leaves=[leaf], campaigns=[row]))
    found = ctx.store.campaign(spec.name)
    assert found is not None
    return found


def require_campaign(ctx: Context, name: str) -> CampaignRow:
    row = ctx.store.campaign(name)
    if row is None:
        known = ", ".join(c.campaign_id for c in ctx.store.campaigns()) or "none"
        raise UnknownCampaign(f"no campaign named {name!r} (campaigns: {known})")
    return row


def campaign_context(ctx: Context, row: CampaignRow) -> SendContext:
    spec = row.spec
    return send_context(
        ctx, row.list_id, row.template_class, row.jurisdiction,
        spec.get("product_category"), bool(spec.get("sole_purpose_charitable")),
    )  # fmt: skip


# --- preflight (R30) ------------------------------------------------------------------------------


def preflight(ctx: Context, name: str) -> dict[str, Any]:
    """Decide every recipient now, write nothing, and count: by lawful basis, by the recipient's
    jurisdiction and by deny reason. ``allowed_without_justifying_record`` is always 0."""
    row = require_campaign(ctx, name)
    context = campaign_context(ctx, row)
    jurisdictions: deque[str] = deque()

    def pages() -> Iterator[tuple[list[str], list[AudienceRow]]]:
        for page in ctx.store.list_rows(row.list_id):
            jurisdictions.extend(r[3] if r[3] is not None else "unknown" for r in page)
            yield [r[0] for r in page], page

    by_basis: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    by_jurisdiction: dict[str, Counter[str]] = {}
    unjustified = 0
    for _, decision in decide_rows(pages(), context, ctx.store.subject_states):
        where = jurisdictions.popleft()
        verdict = "allowed" if decision.allowed else "denied"
        by_jurisdiction.setdefault(where, Counter())[verdict] += 1
        if decision.allowed:
            by_basis[decision.basis or "none"] += 1
            if decision.justifying is None:
                unjustified += 1
        else:
            by_reason[decision.reason] += 1
    allowed = sum(by_basis.values())
    return {
        "campaign": row.campaign_id,
        "list": row.list_id,
        "content": row.content_hash,
        "template_class": row.template_class,
        "jurisdiction_profile": row.jurisdiction,
        "ruleset": RULESET_VERSION,
        "ledger_size": context.ledger_size,
        "recipients": allowed + sum(by_reason.values()),
        "allowed": allowed,
        "denied": sum(by_reason.values()),
        "allowed_without_justifying_record": unjustified,
        "by_basis": dict(sorted(by_basis.items())),
        "by_jurisdiction": {k: dict(sorted(v.items())) for k, v in sorted(by_jurisdiction.items())},
        "by_reason": dict(sorted(by_reason.items())),
    }


def report_hash(report: dict[str, Any]) -> str:
    """SHA-256 of the report's canonical JSON, without the ledger size it was read at: any
    append moves that, and an approval by the first approver must not void the report that
    the second one reviews. The counts, content and rule set are what is approved."""
    hashed = {k: v for k, v in report.items() if k != "ledger_size"}
    return hashlib.sha256(canonical_json(hashed)).hexdigest()


# --- approval -------------------------------------------------------------------------------------


def approve_campaign(
    ctx: Context, name: str, actor: str, report: str | None = None
) -> tuple[ApprovalRow, dict[str, Any]]:
    """Record an approval of the campaign's current preflight report. ``report`` is the hash the
    approver reviewed; if it no longer matches (the audience or content changed), nothing is
    recorded."""
    row = require_campaign(ctx, name)
    if row.state not in ("draft", "paused"):
        raise CampaignStateError(f"campaign {name!r} is {row.state}; only a draft can be approved")
    current = preflight(ctx, name)
    digest = report_hash(current)
    if report is not None and report != digest:
        raise CampaignStateError(
            f"the preflight report of {name!r} is now {digest}, not the {report} you reviewed; "
            "run 'consentry campaign preflight' again"
        )
    for earlier in ctx.store.approvals(name):
        if earlier.actor == actor and earlier.report == digest:
            raise CampaignStateError(f"{actor!r} has approved this report of {name!r} already")
    leaf = LeafDraft("campaign-approved", leaf_time(ctx), {
        "campaign": name, "report": digest, "recipients": current["allowed"],
        "content": row.content_hash, "actor": actor,
    })  # fmt: skip
    approval = ApprovalRow(name, actor, digest, current["allowed"], 0)
    append_sealed(ctx, Batch(leaves=[leaf], approvals=[approval]))
    return ctx.store.approvals(name)[-1], current


def require_approvals(ctx: Context, row: CampaignRow, queued: int, threshold: int) -> None:
    """Above the threshold, two different people must have approved this content."""
    if queued <= threshold:
        return
    actors = {
        a.actor
        for a in ctx.store.approvals(row.campaign_id)
        if _approval_content(ctx, a) == row.content_hash
    }
    if len(actors) < 2:
        raise ApprovalRequired(
            f"campaign {row.campaign_id!r} has {queued} recipients, above the approval threshold "
            f"of {threshold}: it needs approvals by two different people "
            f"(has {len(actors)}); run 'consentry campaign approve {row.campaign_id}'"
        )


def _approval_content(ctx: Context, approval: ApprovalRow) -> str | None:
    leaf = decode_leaf(ctx.store.leaf(approval.leaf_index).raw)
    content = leaf.fields.get("content")
    return content if isinstance(content, str) else None


# --- state changes ----------------------------------------------------------------------------


def _move(ctx: Context, name: str, state: str, allowed_from: tuple[str, ...], verb: str) -> str:
    require_campaign(ctx, name)
    before = ctx.store.set_campaign_state(name, state, allowed_from)
    if before not in allowed_from:
        raise CampaignStateError(f"campaign {name!r} is {before}; it cannot be {verb}")
    return before


def pause_campaign(ctx: Context, name: str) -> None:
    """A running dispatcher stops handing off within a second and leaves the rest queued."""
    _move(ctx, name, "paused", ("sending", "draft"), "paused")


def cancel_campaign(ctx: Context, name: str) -> None:
    _move(ctx, name, "cancelled", ("draft", "sending", "paused"), "cancelled")


def start_campaign(ctx: Context, name: str) -> str:
    """Mark the campaign as sending (from draft, paused or sending: another worker joins)."""
    return _move(ctx, name, "sending", SENDABLE, "sent")


def finish_campaign(ctx: Context, name: str) -> None:
    """A campaign whose queue is empty is done; a confirmation campaign never is."""
    row = ctx.store.campaign(name)
    if row is not None and row.spec.get("confirmation"):
        return
    ctx.store.set_campaign_state(name, "done", ("sending",))


def prepare_confirmations(ctx: Context, campaign_id: str) -> int:
    """Before a dispatcher sends a confirmation campaign's queued messages (no audience is
    queued, no approval asked: each message answers one person's request). Returns how many
    are queued."""
    row = require_campaign(ctx, campaign_id)
    if not row.spec.get("confirmation"):
        raise CampaignStateError(f"{campaign_id!r} is not a confirmation campaign")
    if row.state not in SENDABLE:
        raise CampaignStateError(f"campaign {campaign_id!r} is {row.state}; it cannot be sent")
    require_not_halted(ctx)
    if row.state != "sending":
        start_campaign(ctx, campaign_id)
    return ctx.store.message_counts(campaign_id).get("queued", 0)


def campaign_status(ctx: Context, name: str) -> dict[str, Any]:
    """Counts of the campaign's messages; the five keys of the fixed interface are integers."""
    row = require_campaign(ctx, name)
    counts = ctx.store.message_counts(name)
    return {
        "campaign": name,
        "state": row.state,
        "list": row.list_id,
        "queued": counts.get("queued", 0) + counts.get("claimed", 0),
        "in_flight": counts.get("decided", 0) + counts.get("handing", 0),
        "sent": counts.get("sent", 0),
        "denied": counts.get("denied", 0),
        "failed": counts.get("failed", 0) + counts.get("rejected", 0),
        "rejected": counts.get("rejected", 0),
        "uncertain": counts.get("uncertain", 0),
        "total": sum(counts.values()),
    }


# --- the kill switch (R31) ------------------------------------------------------------------------


def halt_dispatch(ctx: Context, actor: str, reason: str) -> None:
    """Stop every dispatcher's handoffs within a second, until released."""
    leaf = LeafDraft(
        "dispatch-switched", leaf_time(ctx, objection=True),
        {"halted": True, "reason": reason, "actor": actor},
    )  # fmt: skip
    append_sealed(ctx, Batch(leaves=[leaf], controls=[(HALT_CONTROL, reason)]))


def release_dispatch(ctx: Context, actor: str, reason: str) -> None:
    leaf = LeafDraft(
        "dispatch-switched", leaf_time(ctx), {"halted": False, "reason": reason, "actor": actor}
    )
    append_sealed(ctx, Batch(leaves=[leaf], controls=[(HALT_CONTROL, None)]))


def require_not_halted(ctx: Context) -> None:
    reason = ctx.store.control(HALT_CONTROL)
    if reason is not None:
        raise DispatchHalted(
            f"the kill switch is engaged ({reason}); 'consentry dispatch release' lifts it"
        )


def prepare_send(
    ctx: Context, campaign_id: str, approval_threshold: int, provider: str | None = None
) -> int:
    """Everything before the first handoff: the campaign may send (not done, not cancelled, the
    kill switch released, and for marketing through ``provider`` after a migration, the cutover
    recorded: R25), its audience is queued (idempotent: a second worker or a resume adds only
    people new to the list), it has its approvals, and it is marked as sending. Returns the
    number of messages queued."""
    row = require_campaign(ctx, campaign_id)
    if provider is not None and row.template_class == "marketing":
        require_cutover(ctx, provider)
    if row.state not in SENDABLE:
        raise CampaignStateError(f"campaign {campaign_id!r} is {row.state}; it cannot be sent")
    require_not_halted(ctx)
    if row.spec.get("confirmation"):
        raise CampaignStateError(
            f"{campaign_id!r} is a double opt-in confirmation campaign: it sends one message per "
            "signup, from 'consentry serve' or 'consentry signup send', never to its whole list"
        )
    ctx.store.enqueue_campaign(campaign_id, row.list_id)
    counts = ctx.store.message_counts(campaign_id)
    require_approvals(ctx, row, sum(counts.values()), approval_threshold)
    start_campaign(ctx, campaign_id)
    return counts.get("queued", 0)

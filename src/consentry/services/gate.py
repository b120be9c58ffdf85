"""The send gate's read side: decisions for one subject or a whole audience, from the
projections, with the organisation profile and the ledger position they were read at."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from consentry.domain.policy import Decision, SendContext, decide
from consentry.domain.policy_bulk import decide_rows
from consentry.domain.profiles import Jurisdiction, TemplateClass
from consentry.services.consent import organisation, require_list, subject_for
from consentry.services.context import Context


def send_context(
    ctx: Context,
    list_id: str,
    template_class: str = "marketing",
    jurisdiction: str | None = None,
    product_category: str | None = None,
    sole_purpose_charitable: bool = False,
) -> SendContext:
    """The context of a decision taken now: profile, time and the ledger position read."""
    org = organisation(ctx)
    require_list(ctx, list_id)
    return SendContext(
        list_id=list_id,
        template_class=TemplateClass(template_class),
        organisation=org,
        jurisdiction=Jurisdiction(jurisdiction or org.jurisdiction.value),
        now=ctx.clock.now(),
        ledger_size=ctx.store.size(),
        ledger_last_at=ctx.store.last_at(),
        product_category=product_category,
        sole_purpose_charitable=sole_purpose_charitable,
    )


def decide_audience(
    ctx: Context, context: SendContext, subjects: Iterable[str]
) -> Iterator[tuple[str, Decision]]:
    """Decide for every subject ref of an audience (one decision per member, repeats included,
    in the order the store reads them), from the store's audience rows a chunk at a time and
    once per distinct key (``domain.policy_bulk.decide_rows``)."""
    chunks = ctx.store.audience_rows(context.list_id, subjects)
    return decide_rows(chunks, context, ctx.store.subject_states)


def decide_list(ctx: Context, context: SendContext) -> Iterator[tuple[str, Decision]]:
    """Decide for everyone with a consent record on the context's list, streamed from the store
    and decided once per distinct key (``domain.policy_bulk.decide_rows``)."""
    pages = ((
        [row[0] for row in page], page) for page in ctx.store.list_rows(context.list_id)
    )  # fmt: skip
    return decide_rows(pages, context, ctx.store.subject_states)


def check_send(
    ctx: Context,
    email: str,
    list_id: str,
    template_class: str = "marketing",
    jurisdiction: str | None = None,
    product_category: str | None = None,
    sole_purpose_charitable: bool = False,
) -> Decision:
    """What the gate would decide for this address and list now (nothing is written)."""
    _, subject = subject_for(ctx, email)
    context = send_context(
        ctx, list_id, template_class, jurisdiction, product_category, sole_purpose_charitable
    )
    return decide(ctx.store.subject_state(subject), context)

"""The seed case as a population (docs: /work/shared/DESIGN.md, the ICO penalty of 2021), and
helpers that write send leaves straight into the ledger, as an old provider's send log or a
forged decision would be.

Population, on the list ``news`` of a UK commercial organisation:

* ``with_evidence``: consented on the web form, with evidence (bob@example.org among them);
* ``imported``: imported from the old provider with no evidence at all;
* ``unsubscribed``: consented, then unsubscribed at the old provider (the suppression imported);
* ``withdrew``: consented, then withdrew after the old provider's campaign, before ours.

``winter-news`` is the old provider's campaign (before the migration): its send log is written
into the ledger as it was, an allow for everyone on its list. ``spring-news`` is sent after the
migration by the real dispatcher to an Outbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from consentry.domain.leaves import LeafDraft
from consentry.domain.state import LeafRef
from consentry.mail.outbox import Outbox
from consentry.ports import AddressRow, Batch
from consentry.services import campaigns, consent
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_campaign
from consentry.services.ledger import append_sealed
from tests.conftest import FixedClock
from tests.support.audience import LIST, campaign_spec, grant_all, notice, organised
from tests.support.builders import consent_fields

BASE = "https://example.com"
LEGACY = "winter-news"
CAMPAIGN = "spring-news"
UNCERTAIN = "p3@example.org"
BOUNCE = "p4@example.org"


@dataclass
class Population:
    with_evidence: list[str] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    withdrew: list[str] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)
    outbox: Outbox | None = None

    @property
    def everyone(self) -> list[str]:
        return self.with_evidence + self.imported + self.unsubscribed + self.withdrew


def people(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}@example.org" for i in range(n)]


def subject_of(ctx: Context, email: str) -> str:
    return consent.subject_for(ctx, email)[1]


def import_without_evidence(ctx: Context, emails: list[str], at: datetime) -> None:
    """Consents as the old provider exported them: no evidence, source import."""
    text = notice(ctx)
    batch = Batch()
    for email in emails:
        address, subject = consent.subject_for(ctx, email)
        fields = consent_fields(
            subject, LIST, notice=text, evidence=None, source="import:oldesp", method="import",
            actor="migration",
        )  # fmt: skip
        batch.leaves.append(LeafDraft("consent-given", at, fields))
        batch.addresses.append(AddressRow(subject, address.literal, address.canonical))
    append_sealed(ctx, batch)


def consent_ref(ctx: Context, email: str) -> LeafRef:
    state = ctx.store.subject_state(subject_of(ctx, email))
    assert state is not None and state.consents[LIST].justifying is not None
    return state.consents[LIST].justifying


def inject_send(
    ctx: Context,
    campaign: str,
    subject: str,
    at: datetime,
    justifying: LeafRef | None,
    *,
    checked_size: int | None = None,
    basis: str | None = "consent",
    allowed: bool = True,
    outcome: str | None = "accepted",
    handed_at: datetime | None = None,
) -> tuple[int, int | None]:
    """A send-decided leaf (and its send-handed-off leaf unless ``outcome`` is None), appended
    directly; returns their indexes."""
    size = ctx.store.size()
    message = f"{campaign}.{uuid.uuid4().hex[:24]}@example.com"
    decision = LeafDraft("send-decided", at, {
        "campaign": campaign, "message": message, "subject": subject,
        "template_class": "marketing", "allowed": allowed,
        "reason": "consent-given" if allowed else "no-consent", "basis": basis if allowed else None,
        "justifying_index": justifying.index if justifying else None,
        "justifying_hash": justifying.hash if justifying else None,
        "ruleset": "2026.11.1", "jurisdiction": "uk",
        "checked_size": size if checked_size is None else checked_size, "attempt": 1,
    })  # fmt: skip
    append_sealed(ctx, Batch(leaves=[decision]))
    if outcome is None:
        return size, None
    handoff = LeafDraft("send-handed-off", handed_at or at, {
        "campaign": campaign, "message": message, "subject": subject, "decision": size,
        "outcome": outcome, "code": 250 if outcome == "accepted" else None, "enhanced": None,
        "reply": "250 OK", "stage": "dot",
    })  # fmt: skip
    append_sealed(ctx, Batch(leaves=[handoff]))
    return size, size + 1


def build(ctx: Context, clock: FixedClock, small: bool = False) -> Population:
    """The seed case; ``spring-news`` is sent by the real dispatcher at the end."""
    n = 12 if small else 40
    pop = Population(
        with_evidence=["bob@example.org", *people("p", n)],
        imported=people("imp", 10),
        unsubscribed=people("old", 8),
        withdrew=people("late", 6),
    )
    grant_all(ctx, pop.with_evidence + pop.unsubscribed + pop.withdrew)
    import_without_evidence(ctx, pop.imported, clock.now())
    pop.subjects = {e: subject_of(ctx, e) for e in pop.everyone}
    clock.advance(hours=1)
    for email in pop.unsubscribed:  # the old provider's unsubscribes, carried over
        consent.suppress(ctx, email, "unsubscribe", None, "import:oldesp", "migration")
    clock.advance(hours=1)
    campaigns.create_campaign(ctx, campaign_spec(LEGACY), "test")  # type: ignore[arg-type]
    for email in pop.with_evidence + pop.imported + pop.unsubscribed:
        inject_send(ctx, LEGACY, pop.subjects[email], clock.now(), consent_ref(ctx, email))
    clock.advance(hours=1)
    for email in pop.withdrew:
        consent.withdraw_consent(ctx, email, LIST, "web", "one-click", "first-party", "test")
    clock.advance(hours=1)
    campaigns.create_campaign(ctx, campaign_spec(CAMPAIGN), "test")  # type: ignore[arg-type]
    pop.outbox = Outbox(script={UNCERTAIN: "uncertain", BOUNCE: (550, "5.1.1", "no such user")})
    send_campaign(ctx, CAMPAIGN, pop.outbox, BASE, options=DispatchOptions(batch=10))
    return pop


def organised_ctx(store: Any, tmp_path: Path, clock: FixedClock, reader: Any = None) -> Context:
    return organised(store, tmp_path / "home", clock, reader)


def later(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)

"""The gate's bulk decisions (an audience, a whole list) on every store backend: each must be the
decision ``decide`` takes on the subject's full state, with the subject's own justifying leaf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consentry.domain.policy import decide
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.keys.ring import FileKeyRing
from consentry.services import consent, gate
from consentry.services.consent import subject_for
from consentry.services.context import Context
from tests.conftest import FixedClock


@pytest.fixture
def ctx(store: Any, tmp_path: Path, clock: FixedClock) -> Context:
    keys = FileKeyRing.create(tmp_path / "home", "consentry.local/test")
    context = Context(store=store, keys=keys, clock=clock)
    org = configure_organisation("Example Ltd", OrganisationType.COMMERCIAL, Jurisdiction.UK)
    consent.configure(context, org, "test")
    consent.create_list(context, "news", "News", "test")
    consent.create_list(context, "offers", "Offers", "test")
    return context


def _grant(ctx: Context, email: str, list_id: str = "news", **over: object) -> None:
    notice = consent.publish_notice(ctx, list_id, f"Email me {list_id}.", "test").notice
    fields: dict[str, object] = dict(
        email=email, list_id=list_id, basis="consent", notice=notice, method="web-form",
        source="first-party", evidence={"ip": "203.0.113.1"}, actor="test",
    )  # fmt: skip
    fields.update(over)
    consent.grant_consent(ctx, consent.Grant(**fields))  # type: ignore[arg-type]


def _people(ctx: Context, clock: FixedClock) -> list[str]:
    """Forty people in every situation the policy tells apart."""
    emails = [f"p{i}@example.org" for i in range(40)]
    for i, email in enumerate(emails[:30]):
        _grant(ctx, email, confirmed=i % 3 == 0)
        clock.advance(hours=7)  # consents given on several days and times of day
    _grant(ctx, emails[30], source="import:mailchimp")
    _grant(ctx, emails[32], "offers")
    _grant(ctx, emails[33], "offers")
    consent.withdraw_consent(ctx, emails[1], "news", "web", "one-click", "first-party", "t")
    consent.withdraw_consent(ctx, emails[2], None, "web", "one-click", "first-party", "t")
    consent.withdraw_consent(ctx, emails[33], "offers", "web", "one-click", "first-party", "t")
    consent.suppress(ctx, emails[4], "complaint", None, "first-party", "t")
    consent.suppress(ctx, emails[5], "unsubscribe", "offers", "first-party", "t")
    consent.erase_subject(ctx, emails[6], "t")
    clock.advance(days=1)
    _grant(ctx, emails[1], confirmed=True)  # a newer confirmed grant lifts the unsubscribe
    return emails


def _check(ctx: Context, emails: list[str], list_id: str, template_class: str) -> None:
    context = gate.send_context(ctx, list_id, template_class)
    subjects = [subject_for(ctx, e)[1] for e in emails]
    audience = [*subjects, subjects[0], subject_for(ctx, "nobody@example.org")[1]]
    got = list(gate.decide_audience(ctx, context, audience))
    assert sorted(s for s, _ in got) == sorted(audience)
    for subject, decision in got:
        assert decision == decide(ctx.store.subject_state(subject), context), subject
    listed = dict(gate.decide_list(ctx, context))
    on_list = {s for s in subjects if (st := ctx.store.subject_state(s)) and list_id in st.consents}
    assert set(listed) == on_list
    for subject, decision in listed.items():
        assert decision == decide(ctx.store.subject_state(subject), context), subject


@pytest.mark.parametrize("template_class", ["marketing", "service"])
def test_bulk_decisions_equal_decisions_on_each_full_state(
    ctx: Context, clock: FixedClock, template_class: str
) -> None:
    emails = _people(ctx, clock)
    clock.advance(days=3)
    for list_id in ("news", "offers"):
        _check(ctx, emails, list_id, template_class)
    news = [d for _, d in gate.decide_list(ctx, gate.send_context(ctx, "news", template_class))]
    assert any(d.allowed for d in news) and not all(d.allowed for d in news)

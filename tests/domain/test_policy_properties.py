"""Hypothesis: decide is total, fails closed, and every allow names its leaf."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.domain.policy import ALLOW_REASONS, DENY_REASONS, SendContext, decide
from consentry.domain.profiles import (
    RULESET_VERSION,
    Basis,
    Jurisdiction,
    Organisation,
    OrganisationType,
    TemplateClass,
)
from consentry.domain.state import (
    GLOBAL_SCOPE,
    ConsentRecord,
    ConsentStatus,
    LeafRef,
    SubjectState,
    Suppression,
    SuppressionReason,
)

from .policy_cases import ref

LISTS = ["news", "offers"]
aware = st.datetimes(
    min_value=datetime(2024, 6, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
naive = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2026, 12, 31))


def rarely(rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``rare`` about one draw in ten (plain ``|`` would draw it half the time)."""
    return st.integers(1, 10).flatmap(lambda n: rare if n == 10 else usual)


maybe_naive = rarely(naive, aware)
leaf = st.builds(ref, st.integers(min_value=0, max_value=60))
facts = st.dictionaries(
    st.sampled_from(
        [
            "sale_or_negotiation",
            "refusal_offered",
            "charitable_interest",
            "membership",
            "product_category",
            "transaction_at",
        ]
    ),
    rarely(st.booleans(), st.just(True))
    | st.sampled_from(["books", "2025-01-10T00:00:00.000000Z", "not a time", ""])
    | st.none(),
)
records = st.builds(
    ConsentRecord,
    list_id=st.sampled_from(LISTS),
    status=rarely(st.sampled_from(ConsentStatus), st.just(ConsentStatus.GIVEN)),
    basis=st.sampled_from([b.value for b in Basis] + ["membership", ""]),
    jurisdiction=st.sampled_from(["uk", "eu", "ca", "us"]),
    method=st.just("web-form"),
    source=st.sampled_from(["first-party", "third-party:x", "import:y", "bogus", "third-party:"]),
    notice=st.just("n" * 64),
    evidence=rarely(st.none(), st.just("e" * 64)),
    given_at=aware,
    valid_until=rarely(aware, st.none()),
    confirmed=st.booleans(),
    grant=leaf,
    justifying=rarely(st.none(), leaf),
    changed=leaf,
    facts=facts,
)
suppressions = st.builds(
    Suppression,
    scope=st.sampled_from([GLOBAL_SCOPE, *LISTS]),
    reason=st.sampled_from(SuppressionReason),
    leaf=leaf,
    at=aware,
)
states = rarely(
    st.none(),
    st.builds(
        SubjectState,
        subject=st.just("s" * 64),
        consents=rarely(st.just([]), st.lists(records, min_size=1, max_size=3)).map(
            lambda rs: {r.list_id: r for r in rs}
        ),
        suppressions=rarely(st.lists(suppressions, max_size=2), st.just([])).map(tuple),
    ),
)
organisations = st.builds(
    Organisation,
    controller=st.just("Example"),
    type=st.sampled_from(OrganisationType),
    jurisdiction=st.sampled_from(Jurisdiction),
    soft_opt_in=st.frozensets(st.sampled_from(Basis)),
    similar_products=st.frozensets(st.sampled_from(["books", "cars"])),
    max_age_days=st.fixed_dictionaries(
        {k: st.none() | st.integers(0, 1000) for k in ("first-party", "third-party", "import")}
    ),
)
contexts = st.builds(
    SendContext,
    list_id=st.sampled_from(LISTS),
    template_class=st.sampled_from(TemplateClass),
    organisation=organisations,
    jurisdiction=st.sampled_from(Jurisdiction),
    now=maybe_naive,
    ledger_size=st.integers(0, 100),
    ledger_last_at=rarely(aware, st.none()),
    product_category=st.none() | st.sampled_from(["books", "cars"]),
    sole_purpose_charitable=st.booleans(),
    promotional=st.booleans(),
)


@settings(max_examples=600, deadline=None)
@given(states, contexts)
def test_decide_is_total_and_every_allow_names_its_leaf(
    state: SubjectState | None, ctx: SendContext
) -> None:
    d = decide(state, ctx)
    assert d.ruleset == RULESET_VERSION
    if d.allowed:
        assert d.reason in ALLOW_REASONS
        assert isinstance(d.justifying, LeafRef)
        assert d.basis is not None
    else:
        assert d.reason in DENY_REASONS
        assert d.justifying is None
    assert set(d.to_json()) == {
        "allowed",
        "reason",
        "basis",
        "justifying",
        "ruleset",
        "jurisdiction",
        "template_class",
        "ledger_size",
    }


@settings(max_examples=300, deadline=None)
@given(states, contexts, st.sampled_from(["complaint", "hard-bounce", "manual", "legal"]))
def test_an_unliftable_suppression_in_scope_always_denies(
    state: SubjectState | None, ctx: SendContext, reason: str
) -> None:
    if state is None:
        return
    blocker = Suppression(GLOBAL_SCOPE, SuppressionReason(reason), ref(99), datetime(2020, 1, 1))
    blocked = replace(state, suppressions=(*state.suppressions, blocker))
    assert not decide(blocked, ctx).allowed


@settings(max_examples=300, deadline=None)
@given(states, contexts)
def test_a_regressed_clock_always_denies(state: SubjectState | None, ctx: SendContext) -> None:
    if ctx.now.tzinfo is None:
        return
    d = decide(state, replace(ctx, ledger_last_at=ctx.now + timedelta(microseconds=1)))
    assert (d.allowed, d.reason) == (False, "clock-regressed")


@settings(max_examples=300, deadline=None)
@given(states, contexts)
def test_a_later_unsubscribe_stops_marketing(state: SubjectState | None, ctx: SendContext) -> None:
    if state is None:
        return
    late = Suppression(ctx.list_id, SuppressionReason.UNSUBSCRIBE, ref(99), datetime(2020, 1, 1))
    d = decide(
        replace(state, suppressions=(*state.suppressions, late)), replace(ctx, promotional=True)
    )
    assert not d.allowed

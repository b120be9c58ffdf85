"""decide_many (memoised by the shape of a state) must equal decide, state by state."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.domain.policy import decide
from consentry.domain.policy_bulk import decide_many

from .test_policy_properties import contexts, states


@settings(max_examples=400, deadline=None)
@given(audience=st.lists(states, min_size=1, max_size=30), ctx=contexts)
def test_bulk_decisions_equal_single_decisions(audience: list[Any], ctx: Any) -> None:
    pairs = [(f"s{i}", state) for i, state in enumerate(audience)]
    # Decide the audience twice over so that later subjects hit the memo.
    doubled = pairs + [(f"t{i}", state) for i, state in enumerate(audience)]
    got = list(decide_many(doubled, ctx))
    assert [s for s, _ in got] == [s for s, _ in doubled]
    for (_, decision), (_, state) in zip(got, doubled, strict=True):
        assert decision == decide(state, ctx)


@settings(max_examples=200, deadline=None)
@given(first=states, second=states, ctx=contexts)
def test_states_of_the_same_shape_get_the_same_decision_but_their_own_leaf(
    first: Any, second: Any, ctx: Any
) -> None:
    got = [d for _, d in decide_many([("a", first), ("b", second)], ctx)]
    assert got == [decide(first, ctx), decide(second, ctx)]


def _variant(state: Any) -> Any:
    """The same shape: every leaf index moved by the same amount, other hashes, and the consent
    given at another time of the same UTC day."""
    from dataclasses import replace

    from consentry.domain.state import LeafRef

    def moved(ref: LeafRef | None) -> LeafRef | None:
        return None if ref is None else LeafRef(ref.index + 1000, "f" * 64)

    if state is None:
        return None
    consents = {}
    for list_id, rec in state.consents.items():
        midnight = rec.given_at.replace(hour=0, minute=0, second=0, microsecond=0)
        consents[list_id] = replace(
            rec, grant=moved(rec.grant), justifying=moved(rec.justifying),
            changed=moved(rec.changed), given_at=midnight, record="other", notice="m" * 64,
        )  # fmt: skip
    sups = tuple(replace(s, leaf=moved(s.leaf)) for s in state.suppressions)
    return replace(state, subject="v" * 64, consents=consents, suppressions=sups)


@settings(max_examples=400, deadline=None)
@given(state=states, ctx=contexts)
def test_a_state_of_the_same_shape_reuses_the_decision_with_its_own_leaf(
    state: Any, ctx: Any
) -> None:
    variant = _variant(state)
    got = [d for _, d in decide_many([("a", state), ("b", variant)], ctx)]
    assert got == [decide(state, ctx), decide(variant, ctx)]

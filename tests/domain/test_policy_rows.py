"""decide_rows (decisions from a store's flat audience rows, once per row key) must equal decide,
subject by subject, whatever the rows' order, repeats, unknown subjects and complex rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.domain.errors import InvalidLeaf
from consentry.domain.policy import SendContext, decide
from consentry.domain.policy_bulk import ROW_COLUMNS, decide_rows, given_ok, row_of
from consentry.domain.profiles import (
    Jurisdiction,
    OrganisationType,
    TemplateClass,
    configure_organisation,
)
from consentry.domain.state import ConsentRecord, ConsentStatus, SubjectState

from .policy_cases import ref
from .test_policy_properties import contexts, states


def _named(audience: list[Any]) -> dict[str, Any]:
    return {
        f"s{i}": None if state is None else replace(state, subject=f"s{i}")
        for i, state in enumerate(audience)
    }


def _rows(named: dict[str, Any], list_id: str) -> list[Any]:
    rows = [row_of(s, state, list_id) for s, state in named.items()]
    return [r for r in rows if r is not None]


@settings(max_examples=400, deadline=None)
@given(audience=st.lists(states, min_size=1, max_size=30), ctx=contexts, data=st.data())
def test_decisions_from_rows_equal_single_decisions(
    audience: list[Any], ctx: Any, data: Any
) -> None:
    named = _named(audience)
    rows = _rows(named, ctx.list_id)
    members = list(named)
    # Two chunks over the same members (the second hits the memo), rows in any order, and a
    # member that appears twice in one chunk.
    shuffled = data.draw(st.permutations(rows))
    chunks = [(members + members[:1], shuffled), (members, rows)]
    loads: list[list[str]] = []

    def load(subjects: Any) -> dict[str, Any]:
        loads.append(list(subjects))
        return {s: named[s] for s in subjects if named[s] is not None}

    got = list(decide_rows(chunks, ctx, load))
    want = [(s, decide(named[s], ctx)) for s in members + members[:1] + members]
    assert got == want
    complex_ = {r[0] for r in rows if r[ROW_COLUMNS.index("complex")]}
    assert {s for chunk in loads for s in chunk} == complex_


@settings(max_examples=200, deadline=None)
@given(state=states, ctx=contexts, shift=st.integers(0, 86_399))
def test_a_consent_given_at_another_time_of_the_same_day_shares_the_key(
    state: Any, ctx: Any, shift: int
) -> None:
    row = row_of("a", state, ctx.list_id)
    if row is None or row[ROW_COLUMNS.index("complex")]:
        return
    record = state.consents[ctx.list_id]
    midnight = record.given_at.replace(hour=0, minute=0, second=0, microsecond=0)
    other = replace(record, given_at=midnight + timedelta(seconds=shift))
    twin = row_of("b", replace(state, consents={ctx.list_id: other}), ctx.list_id)
    key = slice(1, ROW_COLUMNS.index("sup_justifying_after") + 1)  # what decide_rows keys on
    assert twin is not None and twin[key] == row[key]
    got = dict(decide_rows([(["a", "b"], [row, twin])], ctx, lambda s: {}))
    assert got["b"] == decide(replace(state, consents={ctx.list_id: other}), ctx)


def test_given_ok_accepts_only_the_spelling_the_store_writes() -> None:
    assert given_ok("2026-01-31T23:59:59.123456Z")
    for bad in ("2026-01-31T24:00:00.000000Z", "2026-01-31T12:60:00.000000Z",
                "2026-01-31T12:00:00Z", "2026-01-31 12:00:00.000000Z",
                "2026-01-31T12:00:00.000000+00:00", "٢٠٢٦-01-31T12:00:00.000000Z"):  # fmt: skip
        assert not given_ok(bad), bad


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("given_ok", False),
        ("given_day", "2026-01-30"),
        ("status", "maybe"),
        ("given_at", "2026-01-31T99:00:00.000000Z"),
        ("given_at", "2026-02-30T12:00:00.000000Z"),
        ("no_justifying", True),
    ],
)
def test_a_row_the_store_did_not_write_fails_closed(column: str, value: Any) -> None:
    """A malformed value raises (as reading the state would) instead of being judged."""
    at = datetime(2026, 1, 31, 12, tzinfo=UTC)
    record = ConsentRecord("news", ConsentStatus.GIVEN, "consent", "uk", "web-form",
                           "first-party", "n" * 64, "e" * 64, at, None, True, ref(1), ref(2),
                           ref(2))  # fmt: skip
    row = list(row_of("a", SubjectState("a", {"news": record}, ()), "news") or ())
    row[ROW_COLUMNS.index(column)] = value
    org = configure_organisation("Example", OrganisationType.COMMERCIAL, Jurisdiction.UK)
    ctx = SendContext("news", TemplateClass.MARKETING, org, Jurisdiction.UK, at, 10, at)
    with pytest.raises(InvalidLeaf):
        list(decide_rows([(["a"], [tuple(row)])], ctx, lambda s: {}))

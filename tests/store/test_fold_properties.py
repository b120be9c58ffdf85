"""Hypothesis: any sequence of leaves folds to the same state in every store, the rebuild equals
the live projection, and each consent's status is what a naive reading of the history says."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.domain.leaves import LeafDraft
from consentry.domain.state import ConsentStatus
from consentry.ports import Batch
from consentry.store.memory import MemoryStore
from consentry.store.sqlite import SQLiteStore
from tests.conftest import require_postgres
from tests.support import builders as b

SUBJECTS = [b.subject(i) for i in range(3)]
LISTS = ["news", "offers"]

op = st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(SUBJECTS), st.sampled_from(LISTS)),
    st.tuples(st.just("request"), st.sampled_from(SUBJECTS), st.sampled_from(LISTS)),
    st.tuples(st.just("confirm"), st.sampled_from(SUBJECTS), st.sampled_from(LISTS)),
    st.tuples(st.just("withdraw"), st.sampled_from(SUBJECTS), st.sampled_from([*LISTS, None])),
    st.tuples(st.just("suppress"), st.sampled_from(SUBJECTS), st.sampled_from([*LISTS, "*"])),
    st.tuples(st.just("erase"), st.sampled_from(SUBJECTS), st.none()),
)


def drafts_for(
    ops: list[tuple[str, str, Any]],
) -> tuple[list[LeafDraft], dict[tuple[str, str], str]]:
    """The leaves for the ops, and the naive expected status per (subject, list)."""
    drafts: list[LeafDraft] = []
    current: dict[tuple[str, str], str] = {}  # the record id of each (subject, list)
    expected: dict[tuple[str, str], str] = {}
    for kind, subj, arg in ops:
        if kind in ("grant", "request"):
            leaf_kind = "consent-given" if kind == "grant" else "consent-requested"
            draft = LeafDraft(leaf_kind, b.T0, b.consent_fields(subj, arg))
            current[(subj, arg)] = draft.fields["record"]
            expected[(subj, arg)] = "given" if kind == "grant" else "requested"
        elif kind == "confirm":
            draft = b.confirmed(subj, arg, current.get((subj, arg), "no-such-record"))
            if expected.get((subj, arg)) in ("given", "requested"):
                expected[(subj, arg)] = "given"
        elif kind == "withdraw":
            draft = b.withdrawn(subj, arg)
            for key in expected:
                if key[0] == subj and (arg is None or key[1] == arg):
                    expected[key] = "withdrawn"
        elif kind == "suppress":
            draft = b.suppressed(subj, "unsubscribe", arg)
        else:
            draft = b.erased(subj)
            for key in expected:
                if key[0] == subj:
                    expected[key] = "invalidated"
        drafts.append(draft)
    return drafts, expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, max_size=25), split=st.integers(1, 5))
def test_every_store_folds_the_same_and_rebuilds_the_same(
    ops: list[tuple[str, str, Any]], split: int
) -> None:
    drafts, expected = drafts_for(ops)
    memory = MemoryStore()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "p.sqlite")
        try:
            for i in range(0, len(drafts), split):
                batch = drafts[i : i + split]
                memory.append(Batch(leaves=list(batch)))
                sqlite.append(Batch(leaves=list(batch)))
            live = memory.projection()
            assert sqlite.projection() == live
            sqlite.rebuild_projections()
            memory.rebuild_projections()
            assert sqlite.projection() == live == memory.projection()
            for (subj, list_id), status in expected.items():
                record = live.consents[subj][list_id]
                assert record.status is ConsentStatus(status), (subj[:6], list_id, ops)
            assert memory.subject_states(SUBJECTS) == sqlite.subject_states(SUBJECTS)
        finally:
            sqlite.close()


@pytest.mark.postgres
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, max_size=25), split=st.integers(1, 12))
def test_postgres_batched_writes_fold_like_memory(
    ops: list[tuple[str, str, Any]], split: int
) -> None:
    """PostgreSQL writes a batch's changes as array statements (last row per key wins; rows of
    subjects new to the store as plain inserts): the same projection as memory, whatever
    repeats a batch holds, and the same again after a rebuild."""
    import psycopg

    from consentry.store.postgres import PostgresStore

    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    drafts, _ = drafts_for(ops)
    memory = MemoryStore()
    pg = PostgresStore(f"{base}?schema={schema}")
    try:
        for i in range(0, len(drafts), split):
            memory.append(Batch(leaves=list(drafts[i : i + split])))
            pg.append(Batch(leaves=list(drafts[i : i + split])))
        assert pg.projection() == memory.projection()
        assert pg.subject_states(SUBJECTS) == memory.subject_states(SUBJECTS)
        pg.rebuild_projections()
        assert pg.projection() == memory.projection()
    finally:
        pg.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

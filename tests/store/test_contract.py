"""The Store contract: every backend (memory, SQLite, PostgreSQL) must pass all of it."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from consentry.domain.errors import InvalidLeaf
from consentry.domain.leaves import LeafDraft, decode_leaf
from consentry.domain.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from consentry.domain.policy_bulk import ROW_COLUMNS, row_of
from consentry.domain.state import ConsentStatus, SuppressionReason
from consentry.ports import AddressRow, Batch, EvidenceBlob, NoticeText
from tests.support import builders as b

pytestmark = pytest.mark.timeout(120)


def sealer(size: int, root_hash: bytes) -> str:
    return f"test-note {size} {root_hash.hex()}\n"


def test_empty_store(store: Any) -> None:
    assert store.size() == 0
    assert store.last_at() is None
    assert root(store.tree(), 0) == EMPTY_ROOT
    assert store.checkpoints() == []
    assert store.latest_checkpoint() is None
    assert store.subject_state(b.subject(1)) is None
    assert list(store.iter_leaves()) == []


def test_appends_are_gap_free_and_bytes_round_trip(store: Any) -> None:
    first = store.append(Batch(leaves=[b.list_created("a"), b.list_created("b")]))
    second = store.append(Batch(leaves=[b.given(b.subject(1), "a")]))
    assert [r.index for r in first.refs] == [0, 1]
    assert [r.index for r in second.refs] == [2]
    assert store.size() == 3
    leaves = list(store.iter_leaves())
    assert [leaf.index for leaf in leaves] == [0, 1, 2]
    for stored, ref in zip(leaves, first.refs + second.refs, strict=True):
        assert leaf_hash(stored.raw) == stored.hash
        assert stored.hash.hex() == ref.hash
        assert decode_leaf(stored.raw).seq == stored.index
    assert store.leaf(2).raw == leaves[2].raw
    assert store.last_at() == b.T0


def test_root_and_proofs_match_a_memory_tree(store: Any) -> None:
    rng = random.Random(7)
    reference = MemoryTree()
    sizes = []
    n = 0
    for batch_size in [1, 3, 17, 1, 100, 16, 33, 2]:
        drafts = [b.given(b.subject(n + i), "news") for i in range(batch_size)]
        result = store.append(Batch(leaves=drafts))
        n += batch_size
        for stored in store.iter_leaves(n - batch_size, n):
            reference.append_leaf(stored.raw)
        assert result.size == n
        assert result.root == reference.root()
        sizes.append(n)
    tree = store.tree()
    assert root(tree, n) == reference.root()
    for _ in range(25):
        size = rng.randint(1, n)
        index = rng.randrange(size)
        proof = inclusion_proof(tree, index, size)
        assert verify_inclusion(store.leaf(index).hash, index, size, proof, reference.root(size))
        old = rng.randint(0, size)
        cproof = consistency_proof(tree, old, size)
        assert verify_consistency(old, size, reference.root(old), reference.root(size), cproof)


def test_appends_that_fail_part_way_leave_no_trace_in_later_roots(store: Any) -> None:
    """A store may keep the tree nodes an append computed; those of an append that failed
    (here at the seal, after the nodes were written) must never reach a later root."""

    def broken(size: int, root_hash: bytes) -> str:
        raise RuntimeError("signing key unavailable")

    reference = MemoryTree()
    n = 0
    for batch_size, fails in [(5, False), (11, True), (12, False), (40, True), (3, False),
                              (300, True), (230, False), (26, True), (1, False)]:  # fmt: skip
        drafts = [b.given(b.subject(f"{n}-{i}-{fails}"), "news") for i in range(batch_size)]
        if fails:
            with pytest.raises(RuntimeError):
                store.append(Batch(leaves=drafts), seal=broken)
            continue
        result = store.append(Batch(leaves=drafts), seal=sealer)
        n += batch_size
        for stored in store.iter_leaves(n - batch_size, n):
            reference.append_leaf(stored.raw)
        assert (result.size, result.root) == (n, reference.root())
    assert root(store.tree(), n) == reference.root()


def test_grant_confirm_withdraw_projection(store: Any) -> None:
    s = b.subject("p")
    grant = b.given(s, "news")
    store.append(Batch(leaves=[grant]))
    state = store.subject_state(s)
    assert state is not None
    rec = state.consents["news"]
    assert rec.status is ConsentStatus.GIVEN and not rec.confirmed
    assert rec.justifying is not None and rec.justifying.index == 0
    assert rec.record == grant.fields["record"]

    store.append(Batch(leaves=[b.confirmed(s, "news", grant.fields["record"])]))
    rec = store.subject_state(s).consents["news"]
    assert rec.confirmed and rec.justifying.index == 1 and rec.grant.index == 0

    store.append(Batch(leaves=[b.withdrawn(s, "news")]))
    state = store.subject_state(s)
    assert state.consents["news"].status is ConsentStatus.WITHDRAWN
    assert [(x.scope, x.reason) for x in state.suppressions] == [
        ("news", SuppressionReason.WITHDRAWAL)
    ]


def test_confirmation_of_another_record_changes_nothing(store: Any) -> None:
    s = b.subject("q")
    store.append(Batch(leaves=[b.given(s, "news")]))
    store.append(Batch(leaves=[b.confirmed(s, "news", "not-the-record")]))
    assert not store.subject_state(s).consents["news"].confirmed


def test_global_withdrawal_ends_every_list(store: Any) -> None:
    s = b.subject("g")
    store.append(Batch(leaves=[b.given(s, "news"), b.given(s, "offers"), b.withdrawn(s, None)]))
    state = store.subject_state(s)
    assert {r.status for r in state.consents.values()} == {ConsentStatus.WITHDRAWN}
    assert state.suppressions[0].scope == "*"


def test_suppression_without_consent_makes_a_known_subject(store: Any) -> None:
    s = b.subject("s")
    store.append(Batch(leaves=[b.suppressed(s, "hard-bounce")]))
    state = store.subject_state(s)
    assert state is not None and state.consents == {}
    assert state.suppressions[0].reason is SuppressionReason.HARD_BOUNCE


def test_side_tables_and_erasure(store: Any) -> None:
    s1, s2 = b.subject("e1"), b.subject("e2")
    store.append(b.grant_batch(s1))
    store.append(b.grant_batch(s2))
    store.append(Batch(notices=[NoticeText(b.NOTICE, "Notice text ✓", "text/plain")]))
    assert store.address(s1) is not None
    assert store.evidence(s1, b.ev(s1)) is not None
    assert store.notice_text(b.NOTICE).text == "Notice text ✓"
    store.append(Batch(leaves=[b.erased(s1)], erase_subjects=[s1]))
    assert store.address(s1) is None
    assert store.evidence(s1, b.ev(s1)) is None
    assert store.address(s2) is not None and store.evidence(s2, b.ev(s2)) is not None
    state = store.subject_state(s1)
    assert state.erased
    assert state.consents["news"].status is ConsentStatus.INVALIDATED
    assert any(x.reason is SuppressionReason.ERASURE and x.scope == "*" for x in state.suppressions)
    assert store.notice_text(b.NOTICE) is not None


def test_a_bad_leaf_writes_nothing(store: Any) -> None:
    store.append(Batch(leaves=[b.list_created("a")]))
    before = (store.size(), root(store.tree(), store.size()))
    bad = LeafDraft("consent-given", b.T0, {"subject": b.subject(1)})
    s = b.subject("x")
    with pytest.raises(InvalidLeaf, match="field"):
        store.append(Batch(
            leaves=[b.given(s), bad],
            addresses=[AddressRow(s, "x@example.org", "x@example.org")],
            evidence=[EvidenceBlob(b.ev(s), s, b"{}")],
        ))  # fmt: skip
    assert (store.size(), root(store.tree(), store.size())) == before
    assert store.address(s) is None and store.evidence(s, b.ev(s)) is None
    assert store.subject_state(s) is None


def test_a_failing_sealer_writes_nothing(store: Any) -> None:
    def broken(size: int, root_hash: bytes) -> str:
        raise RuntimeError("signing key unavailable")

    s = b.subject("y")
    with pytest.raises(RuntimeError):
        store.append(b.grant_batch(s), seal=broken)
    assert store.size() == 0 and store.subject_state(s) is None and store.address(s) is None
    store.append(b.grant_batch(s), seal=sealer)
    assert store.size() == 1


def test_subject_ids_after_a_failed_append_and_in_batches_of_known_and_new(store: Any) -> None:
    """A subject first seen in an append that failed gets its id again later; a batch that
    mixes subjects seen before with new ones files every leaf under its own subject."""

    def broken(size: int, root_hash: bytes) -> str:
        raise RuntimeError("signing key unavailable")

    old, lost, new = b.subject("old"), b.subject("lost"), b.subject("new")
    store.append(b.grant_batch(old), seal=sealer)
    with pytest.raises(RuntimeError):
        store.append(Batch(leaves=[b.given(lost), b.given(old, "other")]), seal=broken)
    store.append(Batch(leaves=[b.given(new), b.given(lost, "other"), b.given(old, "other")]))
    store.append(Batch(leaves=[b.given(lost), b.given(new, "other")]))
    lists = {s: sorted(store.subject_state(s).consents) for s in (old, lost, new)}
    assert lists == {old: ["news", "other"], lost: ["news", "other"], new: ["news", "other"]}
    for s in (old, lost, new):
        assert [decode_leaf(leaf.raw).subject() for leaf in store.leaves_for_subject(s)] == [s, s]


def test_side_rows_repeated_in_one_batch_keep_the_first(store: Any) -> None:
    """Address and evidence rows are written once: a repeat in the same batch, for a new
    subject or a known one, leaves the first in place."""
    known, new = b.subject("known"), b.subject("new")
    store.append(b.grant_batch(known), seal=sealer)
    before = store.address(known)

    def rows(s: str, n: int) -> tuple[AddressRow, EvidenceBlob]:
        return AddressRow(s, f"p{n}@example.org", f"p{n}@example.org"), EvidenceBlob(
            b.ev(s), s, b'{"n":%d}' % n
        )

    (a1, e1), (a2, e2) = rows(new, 1), rows(new, 2)
    (a3, e3), (a4, e4) = rows(known, 3), rows(known, 4)
    store.append(Batch(
        leaves=[b.given(new, "other"), b.given(known, "other")],
        addresses=[a1, a3, a2, a4], evidence=[e1, e3, e2, e4],
    ), seal=sealer)  # fmt: skip
    assert store.address(new) == a1 and store.evidence(new, b.ev(new)) == e1
    assert store.address(known) == (before or a3)


def test_checkpoints_are_stored_with_the_batch(store: Any) -> None:
    r1 = store.append(Batch(leaves=[b.list_created("a")]), seal=sealer)
    r2 = store.append(Batch(leaves=[b.list_created("b"), b.list_created("c")]), seal=sealer)
    cps = store.checkpoints()
    assert [(c.size, c.root) for c in cps] == [(1, r1.root), (3, r2.root)]
    assert cps[-1].note == sealer(3, r2.root) == r2.note
    assert store.latest_checkpoint() == cps[-1]


def test_rebuild_equals_live_projection(store: Any) -> None:
    s = [b.subject(i) for i in range(6)]
    g = b.given(s[0], "news")
    store.append(Batch(leaves=[b.list_created("news"), g, b.given(s[1]), b.given(s[2], "offers")]))
    store.append(Batch(leaves=[b.confirmed(s[0], "news", g.fields["record"]), b.withdrawn(s[1])]))
    store.append(Batch(leaves=[b.suppressed(s[3], "unsubscribe", "news"), b.erased(s[2])]))
    live = store.projection()
    store.rebuild_projections()
    assert store.projection() == live
    assert set(live.consents) == {s[0], s[1], s[2]}


def test_bulk_subject_states_equal_single_reads(store: Any) -> None:
    subjects = [b.subject(i) for i in range(1200)]
    store.append(Batch(leaves=[b.given(x) for x in subjects[:1000]]))
    store.append(Batch(leaves=[b.suppressed(x) for x in subjects[::7]]))
    bulk = store.subject_states(subjects)
    assert set(bulk) == set(subjects[:1000]) | set(subjects[::7])
    for x in subjects[::97]:
        assert bulk.get(x) == store.subject_state(x)


def test_leaves_for_subject(store: Any) -> None:
    s1, s2 = b.subject(1), b.subject(2)
    store.append(Batch(leaves=[b.given(s1), b.given(s2), b.withdrawn(s1, None)]))
    assert [leaf.index for leaf in store.leaves_for_subject(s1)] == [0, 2]
    assert store.leaves_for_subject(b.subject(3)) == []


def test_lists_notices_organisation(store: Any) -> None:
    store.append(Batch(leaves=[
        LeafDraft("organisation-configured", b.T0, {
            "controller": "Example Ltd", "organisation": "commercial", "jurisdiction": "uk",
            "origin": "consentry.local/test", "soft_opt_in": {"enabled": []},
            "max_age_days": {},
            "ruleset": "2026.11.1", "actor": "t",
        }),
        b.list_created("news"),
        LeafDraft("notice-published", b.T0 + timedelta(seconds=1), {
            "list": "news", "notice": b.NOTICE, "version": 1, "language": "en",
            "media_type": "text/plain", "actor": "t",
        }),
    ]))  # fmt: skip
    assert store.organisation()["controller"] == "Example Ltd"
    assert "actor" not in store.organisation()
    assert store.list_info("news").purpose == "news purpose"
    assert store.list_info("nope") is None
    assert [li.list_id for li in store.lists()] == ["news"]
    info = store.notice_info(b.NOTICE)
    assert (info.list_id, info.version, info.leaf.index) == ("news", 1, 2)
    assert [n.notice for n in store.notices_for_list("news")] == [b.NOTICE]


def test_list_states_stream_a_lists_records_and_scoped_suppressions(store: Any) -> None:
    subjects = [b.subject(i) for i in range(12)]
    store.append(Batch(leaves=[b.given(x, "news") for x in subjects[:10]]))
    store.append(Batch(leaves=[b.given(x, "offers") for x in subjects[5:]]))
    store.append(
        Batch(
            leaves=[
                b.suppressed(subjects[1], "complaint", "*"),
                b.suppressed(subjects[2], "unsubscribe", "offers"),
                b.suppressed(subjects[2], "unsubscribe", "news"),
                b.withdrawn(subjects[3], None),
                b.erased(subjects[4]),
            ]
        )
    )
    streamed = dict(store.list_states("news"))
    assert set(streamed) == set(subjects[:10])
    full = store.subject_states(subjects[:10])
    for subject, state in streamed.items():
        whole = full[subject]
        assert dict(state.consents) == {"news": whole.consents["news"]}
        assert state.suppressions == tuple(
            s for s in sorted(whole.suppressions, key=lambda s: s.leaf.index)
            if s.scope in ("*", "news")
        )  # fmt: skip
        assert state.erased == whole.erased
    assert [s.scope for s in streamed[subjects[2]].suppressions] == ["news"]
    assert list(store.list_states("nobody")) == []


def test_list_states_page_through_many_subjects(store: Any) -> None:
    subjects = [b.subject(i) for i in range(12_345)]
    store.append(Batch(leaves=[b.given(x, "news") for x in subjects]))
    seen = [subject for subject, _ in store.list_states("news")]
    assert sorted(seen) == sorted(subjects)


def _normal(row: Any) -> tuple[Any, ...]:
    """A row with its flags as booleans (SQLite returns 0/1) and no extra trailing columns."""
    flags = {ROW_COLUMNS.index(c) for c in ("no_evidence", "given_ok", "confirmed",
             "no_justifying", "sup_global", "sup_grant_after", "sup_justifying_after",
             "complex")}  # fmt: skip
    cut = tuple(row[: len(ROW_COLUMNS)])
    return tuple(bool(v) if i in flags and v is not None else v for i, v in enumerate(cut))


def _rows_agree(got: Any, state: Any, list_id: str) -> None:
    """A store's row is ``row_of``'s, or complex (any row may be: it is then decided from the
    whole state); a row that must be complex (no record on the list, more than one suppression
    in scope) is."""
    want = _normal(row_of(got[0], state, list_id))
    got = _normal(got)
    if want[-1] or got[-1]:
        assert got[-1], got[0]
        return
    assert got == want


def test_audience_and_list_rows_are_the_rows_of_the_subjects_states(store: Any) -> None:
    """The gate's fast path reads flat rows; each must be what ``row_of`` makes of the
    subject's state, on every backend."""
    subjects = [b.subject(i) for i in range(14)]
    store.append(Batch(leaves=[b.list_created("news"), b.list_created("offers")]))
    store.append(Batch(leaves=[b.given(x, "news") for x in subjects[:10]]))
    store.append(Batch(leaves=[
        b.given(subjects[5], "offers"), b.given(subjects[11], "offers"),
        b.given(subjects[6], "news", basis="soft_opt_in", evidence=None,
                facts={"sale_or_negotiation": True, "refusal_offered": True}),
        b.given(subjects[7], "news", valid_until="2027-01-01T00:00:00.000000Z"),
        b.suppressed(subjects[1], "complaint", "*"),
        b.suppressed(subjects[2], "unsubscribe", "offers"),
        b.suppressed(subjects[3], "unsubscribe", "news"),
        b.suppressed(subjects[3], "hard-bounce", "*"),
        b.suppressed(subjects[12], "hard-bounce", "*"),
        b.withdrawn(subjects[4], None),
        b.erased(subjects[8]),
    ]))  # fmt: skip
    store.append(Batch(leaves=[b.given(subjects[1], "news")]))  # granted after the complaint
    audience = [*subjects, b.subject("nobody"), subjects[0]]
    chunks = list(store.audience_rows("news", audience))
    assert sorted(m for members, _ in chunks for m in members) == sorted(audience)
    rows = {row[0]: row for _, found in chunks for row in found}
    full = store.subject_states(audience)
    assert set(rows) == set(full)  # one row for each subject the store holds a state of
    for subject, row in rows.items():
        _rows_agree(row, full[subject], "news")
    complex_ = {s for s, row in rows.items() if row[ROW_COLUMNS.index("complex")]}
    assert {subjects[3], subjects[11], subjects[12]} <= complex_  # two in scope; no record
    assert subjects[0] not in complex_ and subjects[2] not in complex_
    listed = {r[0]: r for page in store.list_rows("news") for r in page}
    assert set(listed) == {s for s, st in full.items() if "news" in st.consents}
    for subject, row in listed.items():
        _rows_agree(row, full[subject], "news")
    assert list(store.list_rows("nobody")) == []
    assert list(store.audience_rows("news", [])) == []


def test_new_subjects_granted_confirmed_and_granted_again_in_one_batch(store: Any) -> None:
    """A batch may change a new subject's rows several times (here three subjects together,
    so that each step is a run of several rows): the last grant stands, unconfirmed."""
    people = [b.subject(f"again-{i}") for i in range(3)]
    grants = [b.given(s) for s in people]
    confirms = [
        b.confirmed(s, "news", g.fields["record"]) for s, g in zip(people, grants, strict=True)
    ]
    regrants = [b.given(s, basis="legitimate-interests") for s in people]
    store.append(Batch(leaves=[*grants, *confirms, *regrants, b.withdrawn(people[0], "news")]))
    records = [store.subject_states(people)[s].consents["news"] for s in people]
    assert [r.status for r in records] == [
        ConsentStatus.WITHDRAWN, ConsentStatus.GIVEN, ConsentStatus.GIVEN,
    ]  # fmt: skip
    assert [(r.basis, r.confirmed, r.record) for r in records] == [
        ("legitimate-interests", False, g.fields["record"]) for g in regrants
    ]


def test_audience_rows_take_any_text_as_a_subject_ref(store: Any) -> None:
    """Refs that are not a store's own spelling (here with what SQL text formats escape) are
    members like any other, unknown ones without a row."""
    known = b.subject("known")
    store.append(b.grant_batch(known), seal=sealer)
    audience = ["tab\there", "back\\slash", "new\nline", "cr\rhere", known, "tab\there"]
    chunks = list(store.audience_rows("news", audience))
    assert sorted(m for members, _ in chunks for m in members) == sorted(audience)
    assert [row[0] for _, rows in chunks for row in rows] == [known]


def test_one_batch_that_grants_twice_to_the_same_list_keeps_the_later_grant(store: Any) -> None:
    """Row order within a batch is the leaves' order, also where a backend writes many rows in
    one statement (PostgreSQL's unnest inserts keep the last row per key)."""
    subj = b.subject("twice")
    first = b.given(subj, "news", basis="consent")
    second = b.given(subj, "news", basis="ca_express", jurisdiction="ca")
    other = b.given(b.subject("else"), "news")
    batch = b.grant_batch(subj)
    batch.leaves = [first, other, second]
    store.append(batch)
    record = store.subject_state(subj).consents["news"]
    assert (record.basis, record.jurisdiction, record.record) == (
        "ca_express", "ca", second.fields["record"],
    )  # fmt: skip
    assert record.grant.index == 2
    assert store.subject_state(b.subject("else")) is not None


def test_suppressed_subjects_streams_every_suppressed_subject_once(store: Any) -> None:
    store.append(Batch(leaves=[b.list_created("news")]))
    store.append(b.grant_batch(b.subject(1)))
    store.append(Batch(leaves=[
        b.suppressed(b.subject(2), "complaint", "*"), b.suppressed(b.subject(2), "unsubscribe"),
        b.withdrawn(b.subject(3)),
    ]))  # fmt: skip
    assert sorted(store.suppressed_subjects()) == sorted([b.subject(2), b.subject(3)])


def test_leaves_of_kind_in_ledger_order(store: Any) -> None:
    store.append(Batch(leaves=[b.list_created("news"), b.list_created("offers")]))
    store.append(b.grant_batch(b.subject(1)))
    found = [decode_leaf(s.raw) for s in store.leaves_of_kind("list-created")]
    assert [(leaf.seq, leaf.fields["list"]) for leaf in found] == [(0, "news"), (1, "offers")]
    assert store.leaves_of_kind("import-recorded") == []

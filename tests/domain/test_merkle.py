"""The RFC 9162 Merkle tree: published vectors, a naive RFC reference, pymerkle, properties."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pymerkle
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from consentry.domain.errors import ProofRangeError
from consentry.domain.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    TILE_HEIGHT,
    MemoryTree,
    RootAccumulator,
    TiledSource,
    completed_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_of_frontier,
    verify_consistency,
    verify_inclusion,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "rfc6962.json").read_text(encoding="utf-8")
)
VECTOR_LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tree_of(leaves: Sequence[bytes]) -> MemoryTree:
    tree = MemoryTree()
    for leaf in leaves:
        tree.append_leaf(leaf)
    return tree


# --- a naive reference, written straight from the RFC 9162 §2.1 definitions -----------------------


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return sha256(b"")
    if len(d) == 1:
        return sha256(b"\x00" + d[0])
    k = ref_k(len(d))
    return sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof_ranges(m: int, start: int, end: int, b: bool) -> list[tuple[int, int]]:
    """SUBPROOF as the leaf ranges whose MTH it lists."""
    n = end - start
    if m == n:
        return [] if b else [(start, end)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof_ranges(m, start, start + k, b), (start + k, end)]
    return [*ref_subproof_ranges(m - k, start + k, end, False), (start, start + k)]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    if m in (0, len(d)):
        return []
    return [ref_mth(d[s:e]) for s, e in ref_subproof_ranges(m, 0, len(d), True)]


# --- published vectors -------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert HASH_SIZE == 32
    assert MemoryTree().root() == EMPTY_ROOT
    assert RootAccumulator().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == sha256(b"\x00")
    assert node_hash(b"a" * 32, b"b" * 32) == sha256(b"\x01" + b"a" * 32 + b"b" * 32)
    assert leaf_hash(VECTOR_LEAVES[0]).hex() == VECTORS["roots"][0]


@pytest.mark.parametrize("size", range(1, 9))
def test_vector_roots(size: int) -> None:
    tree = tree_of(VECTOR_LEAVES)
    assert tree.root(size).hex() == VECTORS["roots"][size - 1]
    acc = RootAccumulator()
    acc.push_many(leaf_hash(x) for x in VECTOR_LEAVES[:size])
    assert acc.root().hex() == VECTORS["roots"][size - 1]


def _root_at(size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else bytes.fromhex(VECTORS["roots"][size - 1])


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-of-{c['size']}")
def test_vector_inclusion_proofs(case: dict[str, Any]) -> None:
    index, size = case["index"], case["size"]
    want = [bytes.fromhex(x) for x in case["path"]]
    assert inclusion_proof(tree_of(VECTOR_LEAVES), index, size) == want
    lh, good_root = leaf_hash(VECTOR_LEAVES[index]), _root_at(size)
    assert verify_inclusion(lh, index, size, want, good_root)
    some_hash = bytes.fromhex("abacaba0" + "00" * 26 + "1234")
    corrupt: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (lh, index - 1, size, want, good_root),
        (lh, index + 1, size, want, good_root),
        (lh, index ^ 2, size, want, good_root),
        (lh, index, size * 2, want, good_root),
        (lh, index, size // 2, want, good_root),
        (sha256(b"WrongLeaf"), index, size, want, good_root),
        (lh, index, size, want, EMPTY_ROOT),
        (lh, index, size, want, some_hash),
        (lh, index, size, [*want, b""], good_root),
        (lh, index, size, [*want, good_root], good_root),
        (lh, index, size, [b"", *want], good_root),
        (lh, index, size, [good_root, *want], good_root),
    ]
    for i in range(len(want)):
        flipped = list(want)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        corrupt.append((lh, index, size, flipped, good_root))
    if want:
        corrupt.append((lh, index, size, want[:-1], good_root))
    if len(want) > 1:
        corrupt.append((lh, index, size, [want[0], some_hash, *want[1:]], good_root))
    for args in corrupt:
        assert not verify_inclusion(*args), args


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"{c['old_size']}-to-{c['new_size']}"
)
def test_vector_consistency_proofs(case: dict[str, Any]) -> None:
    old, new = case["old_size"], case["new_size"]
    want = [bytes.fromhex(x) for x in case["proof"]]
    assert consistency_proof(tree_of(VECTOR_LEAVES), old, new) == want
    r1, r2 = _root_at(old), _root_at(new)
    assert verify_consistency(old, new, r1, r2, want)
    if not want:
        return
    corrupt: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, want),
        (old + 1, new, r1, r2, want),
        (old ^ 2, new, r1, r2, want),
        (old, new * 2, r1, r2, want),
        (old, new // 2, r1, r2, want),
        (old, new, sha256(b"WrongRoot"), r2, want),
        (old, new, r1, sha256(b"WrongRoot"), want),
        (old, new, r2, r1, want),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*want, b""]),
        (old, new, r1, r2, [*want, r1]),
        (old, new, r1, r2, [*want, r2]),
        (old, new, r1, r2, [b"", *want]),
        (old, new, r1, r2, [r1, *want]),
        (old, new, r1, r2, [r2, *want]),
        (old, new, r1, r2, [want[0], *want]),
        (old, new, r1, r2, want[:-1]),
    ]
    for i in range(len(want)):
        flipped = list(want)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        corrupt.append((old, new, r1, r2, flipped))
    for args in corrupt:
        assert not verify_consistency(*args), args


def test_trivial_consistency_cases() -> None:
    r1, r2 = sha256(b"one"), sha256(b"two")
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r2, [])
    assert verify_consistency(1, 1, r2, r2, [])
    assert not verify_consistency(0, 5, r1, r2, [])  # stricter than the RFC: size 0 is EMPTY_ROOT
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(1, 0, r1, r2, [])
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r1, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, r1, [EMPTY_ROOT])


# --- the naive reference, exhaustively on small trees --------------------------------------------


def test_matches_naive_reference_on_every_small_tree() -> None:
    leaves = [bytes([i]) * (i % 5) for i in range(40)]
    tree = tree_of(leaves)
    for n in range(0, 41):
        assert tree.root(n) == ref_mth(leaves[:n])
        for m in range(n):
            assert inclusion_proof(tree, m, n) == ref_path(m, leaves[:n])
        for m in range(n + 1):
            assert consistency_proof(tree, m, n) == ref_proof(m, leaves[:n])


# --- pymerkle, an independent implementation ------------------------------------------------------

PM_SIZE = 300


@pytest.fixture(scope="module")
def pm_world() -> tuple[list[bytes], MemoryTree, Any]:
    rng = random.Random(9162)
    leaves = [rng.randbytes(rng.randrange(0, 24)) for _ in range(PM_SIZE)]
    # sha256 with the 0x00 / 0x01 prefixes ("security") on is RFC 6962 hashing.
    pm = pymerkle.InmemoryTree.init_from_entries(leaves, algorithm="sha256")
    assert pm.security
    return leaves, tree_of(leaves), pm


def test_pymerkle_roots_agree_at_every_size(pm_world: tuple[list[bytes], MemoryTree, Any]) -> None:
    leaves, tree, pm = pm_world
    for size in range(0, PM_SIZE + 1):
        assert tree.root(size) == pm.get_root(size), size
    assert pm.get_leaf(7) == leaf_hash(leaves[6])


def test_pymerkle_inclusion_proofs_agree(pm_world: tuple[list[bytes], MemoryTree, Any]) -> None:
    leaves, tree, pm = pm_world
    rng = random.Random(1)
    for _ in range(400):
        size = rng.randrange(1, PM_SIZE + 1)
        index = rng.randrange(size)
        ours = inclusion_proof(tree, index, size)
        theirs = pm.prove_inclusion(index + 1, size)  # pymerkle counts leaves from one
        # pymerkle's path starts with the leaf hash itself; the rest is the RFC audit path.
        assert theirs.path[0] == leaf_hash(leaves[index])
        assert theirs.path[1:] == ours
        pymerkle.verify_inclusion(leaf_hash(leaves[index]), tree.root(size), theirs)
        assert verify_inclusion(leaf_hash(leaves[index]), index, size, ours, pm.get_root(size))


def test_pymerkle_consistency_proofs_agree(pm_world: tuple[list[bytes], MemoryTree, Any]) -> None:
    leaves, tree, pm = pm_world

    @functools.cache
    def pm_mth(start: int, end: int) -> bytes:
        sub = pymerkle.InmemoryTree.init_from_entries(leaves[start:end], algorithm="sha256")
        return bytes(sub.get_root())

    rng = random.Random(2)
    for _ in range(300):
        new = rng.randrange(1, PM_SIZE + 1)
        old = rng.randrange(1, new + 1)
        ours = consistency_proof(tree, old, new)
        # pymerkle's proof has another shape; it must accept our roots, and every hash of ours
        # must be pymerkle's MTH of the leaf range the RFC's SUBPROOF names.
        theirs = pm.prove_consistency(old, new)
        pymerkle.verify_consistency(tree.root(old), tree.root(new), theirs)
        want = [pm_mth(s, e) for s, e in ref_subproof_ranges(old, 0, new, True)]
        assert ours == ([] if old == new else want)
        assert verify_consistency(old, new, pm.get_root(old), pm.get_root(new), ours)


# --- properties --------------------------------------------------------------------------------


def sized_lists(
    elements: st.SearchStrategy[bytes], min_size: int
) -> st.SearchStrategy[list[bytes]]:
    """Lists whose length is spread evenly over min_size..48 (Hypothesis favours short lists)."""
    return st.integers(min_size, 48).flatmap(lambda n: st.lists(elements, min_size=n, max_size=n))


leaf_lists = sized_lists(st.binary(max_size=8), 1)


@given(leaf_lists)
def test_every_proof_verifies(leaves: list[bytes]) -> None:
    tree, n = tree_of(leaves), len(leaves)
    roots = [tree.root(s) for s in range(n + 1)]
    for i in range(n):
        proof = inclusion_proof(tree, i, n)
        assert verify_inclusion(leaf_hash(leaves[i]), i, n, proof, roots[n])
    for new in range(n + 1):
        for old in range(new + 1):
            proof = consistency_proof(tree, old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof)


def _old_proofs_fail(leaves: list[bytes], tampered: list[bytes]) -> None:
    """Proofs made from the honest tree do not verify against the tampered tree, and no
    consistency proof leads to it from an honest checkpoint that covers the first change."""
    old, new = tree_of(leaves), tree_of(tampered)
    n, n2 = len(leaves), len(tampered)
    first_changed = next((k for k in range(min(n, n2)) if leaves[k] != tampered[k]), min(n, n2))
    assert new.root() != old.root()
    for i in range(n):
        proof = inclusion_proof(old, i, n)
        assert not verify_inclusion(leaf_hash(leaves[i]), i, n, proof, new.root(min(n, n2)))
        assert not verify_inclusion(leaf_hash(leaves[i]), i, n2, proof, new.root())
    for m in range(first_changed + 1, min(n, n2) + 1):
        honest = old.root(m)
        assert not verify_consistency(m, n2, honest, new.root(), consistency_proof(new, m, n2))
        assert not verify_consistency(m, n, honest, new.root(), consistency_proof(old, m, n))


@given(sized_lists(st.binary(min_size=1, max_size=8), 1), st.data())
def test_flipping_any_byte_is_detected(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    j = data.draw(st.integers(0, len(leaves[i]) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = list(leaves)
    tampered[i] = leaves[i][:j] + bytes([leaves[i][j] ^ mask]) + leaves[i][j + 1 :]
    _old_proofs_fail(leaves, tampered)
    honest = tree_of(leaves)
    proof = inclusion_proof(honest, i, len(leaves))
    assert not verify_inclusion(leaf_hash(tampered[i]), i, len(leaves), proof, honest.root())


@given(sized_lists(st.binary(max_size=8), 2), st.data())
def test_reordering_two_leaves_is_detected(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 2))
    j = data.draw(st.integers(i + 1, len(leaves) - 1))
    assume(leaves[i] != leaves[j])
    tampered = list(leaves)
    tampered[i], tampered[j] = leaves[j], leaves[i]
    _old_proofs_fail(leaves, tampered)


@given(sized_lists(st.binary(max_size=8), 2), st.data())
def test_deleting_a_leaf_is_detected(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    tampered = leaves[:i] + leaves[i + 1 :]
    _old_proofs_fail(leaves, tampered)


@given(leaf_lists, st.binary(max_size=8), st.data())
def test_inserting_a_leaf_is_detected(
    leaves: list[bytes], extra: bytes, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))  # i == len would be an honest append
    tampered = [*leaves[:i], extra, *leaves[i:]]
    assume(tampered[: len(leaves)] != leaves)  # else it is an honest append of a duplicate
    _old_proofs_fail(leaves, tampered)


@given(leaf_lists, st.data())
def test_truncated_or_extended_proofs_fail(leaves: list[bytes], data: st.DataObject) -> None:
    tree, n = tree_of(leaves), len(leaves)
    extra = data.draw(st.binary(min_size=32, max_size=32))
    i = data.draw(st.integers(0, n - 1))
    lh, r = leaf_hash(leaves[i]), tree.root()
    proof = inclusion_proof(tree, i, n)
    assert not verify_inclusion(lh, i, n, [*proof, extra], r)
    assert not verify_inclusion(lh, i, n, [extra, *proof], r)
    if proof:
        assert not verify_inclusion(lh, i, n, proof[:-1], r)
        assert not verify_inclusion(lh, i, n, proof[1:], r)
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(tree, m, n)
    r1 = tree.root(m)
    assert not verify_consistency(m, n, r1, r, [*proof, extra])
    assert not verify_consistency(m, n, r1, r, [extra, *proof])
    if proof:
        assert not verify_consistency(m, n, r1, r, proof[:-1])
        assert not verify_consistency(m, n, r1, r, proof[1:])


def test_verifiers_return_false_on_malformed_input() -> None:
    tree = tree_of(VECTOR_LEAVES)
    lh, r = leaf_hash(VECTOR_LEAVES[5]), tree.root()
    proof = inclusion_proof(tree, 5, 8)
    assert verify_inclusion(lh, 5, 8, proof, r)
    assert verify_inclusion(bytearray(lh), 5, 8, tuple(proof), r)  # type: ignore[arg-type]
    bad_inclusion: list[tuple[Any, ...]] = [
        (lh[:31], 5, 8, proof, r),
        (lh, 5, 8, proof, r + b"\x00"),
        (lh, -1, 8, proof, r),
        (lh, 8, 8, proof, r),
        (lh, 0, 0, [], EMPTY_ROOT),
        (lh, 5, -8, proof, r),
        (lh, True, 8, proof, r),
        (lh, 5.0, 8, proof, r),
        (lh.hex(), 5, 8, proof, r),
        (lh, 5, 8, None, r),
        (lh, 5, 8, b"".join(proof), r),
        (lh, 5, 8, [p.hex() for p in proof], r),
        (lh, 5, 8, [*proof[:2], None], r),
        (None, 5, 8, proof, None),
    ]
    for args in bad_inclusion:
        assert verify_inclusion(*args) is False, args
    old_r = tree.root(6)
    cproof = consistency_proof(tree, 6, 8)
    assert verify_consistency(6, 8, old_r, r, cproof)
    bad_consistency: list[tuple[Any, ...]] = [
        (6, 8, old_r[:31], r, cproof),
        (6, 8, old_r, None, cproof),
        (-6, 8, old_r, r, cproof),
        (6, 8.0, old_r, r, cproof),
        (6, 8, old_r, r, None),
        (6, 8, old_r, r, [*cproof[:2], "x" * 32]),
        (6, 8, old_r, r, "".join(p.hex() for p in cproof)),
    ]
    for args in bad_consistency:
        assert verify_consistency(*args) is False, args


def test_out_of_range_proof_requests_raise() -> None:
    tree = tree_of(VECTOR_LEAVES)
    for index, size in [(8, 8), (-1, 8), (0, 0), (3, -1), (9, 8)]:
        with pytest.raises(ProofRangeError):
            inclusion_proof(tree, index, size)
    for old, new in [(5, 4), (-1, 3), (0, -1), (1, 0)]:
        with pytest.raises(ProofRangeError):
            consistency_proof(tree, old, new)
    with pytest.raises(ProofRangeError):
        root(tree, -1)
    with pytest.raises(ProofRangeError):
        tree.root(9)
    with pytest.raises(ProofRangeError):
        inclusion_proof(tree, 3, 9)  # the tree itself has only 8 leaves
    assert consistency_proof(tree, 0, 8) == []
    assert consistency_proof(tree, 8, 8) == []


# --- cost: perfect() calls ---------------------------------------------------------------------


class SyntheticSource:
    """A huge imaginary tree whose perfect nodes are made up; counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def perfect(self, level: int, index: int) -> bytes:
        self.calls += 1
        return sha256(f"{level}/{index}".encode())


@pytest.mark.parametrize("seed", range(5))
def test_logarithmic_number_of_perfect_calls(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        size = rng.randrange(2, 1 << 40)
        log = size.bit_length()
        src = SyntheticSource()
        root(src, size)
        assert src.calls == bin(size).count("1")
        src = SyntheticSource()
        inclusion_proof(src, rng.randrange(size), size)
        assert src.calls <= 2 * log
        src = SyntheticSource()
        consistency_proof(src, rng.randrange(1, size + 1), size)
        assert src.calls <= 3 * log


# --- MemoryTree and RootAccumulator --------------------------------------------------------------


def test_memory_tree_appends_and_bounds() -> None:
    tree = MemoryTree()
    assert [tree.append_leaf(x) for x in VECTOR_LEAVES] == list(range(8))
    assert tree.size == 8
    assert tree.append_hash(leaf_hash(b"nine")) == 8
    assert MemoryTree(leaf_hash(x) for x in VECTOR_LEAVES).root() == tree.root(8)
    assert tree.perfect(3, 0) == tree.root(8)
    assert tree.perfect(0, 8) == leaf_hash(b"nine")
    for level, index in [(0, 9), (1, 4), (3, 1), (4, 0), (-1, 0), (0, -1)]:
        with pytest.raises(ProofRangeError):
            tree.perfect(level, index)
    with pytest.raises(ValueError):
        tree.append_hash(b"short")


def test_root_accumulator_matches_memory_tree_at_every_size() -> None:
    rng = random.Random(3)
    tree = MemoryTree()
    seen: list[tuple[int, int, bytes]] = []
    acc = RootAccumulator(on_node=lambda level, index, h: seen.append((level, index, h)))
    plain = RootAccumulator()
    assert acc.root() == tree.root() == EMPTY_ROOT
    for size in range(1, 301):
        h = leaf_hash(rng.randbytes(rng.randrange(10)))
        tree.append_hash(h)
        acc.push(h)
        plain.push(h)
        assert acc.size == plain.size == size
        assert acc.root() == plain.root() == tree.root(), size
    assert len(seen) == 300 - bin(300).count("1")  # every interior perfect node, once
    assert all(tree.perfect(level, index) == h for level, index, h in seen)
    with pytest.raises(ValueError):
        plain.push(b"short")


def test_root_accumulator_push_many_mixes_with_push() -> None:
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(1000)]
    tree = MemoryTree(hashes)
    acc = RootAccumulator()
    acc.push_many(hashes[:333])
    for h in hashes[333:500]:
        acc.push(h)
    acc.push_many(iter(hashes[500:]))
    assert (acc.size, acc.root()) == (1000, tree.root())
    broken = RootAccumulator()
    with pytest.raises(ValueError):
        broken.push_many([*hashes[:10], b"short", hashes[10]])
    assert (broken.size, broken.root()) == (10, tree.root(10))  # stopped at the bad hash
    seen: list[tuple[int, int, bytes]] = []
    RootAccumulator(lambda *node: seen.append(node)).push_many(hashes[:16])
    assert [(level, index) for level, index, _ in seen][-4:] == [(1, 7), (2, 3), (3, 1), (4, 0)]
    assert seen[-1][2] == tree.perfect(4, 0)


# --- tiled storage -----------------------------------------------------------------------------


class FakeStore:
    """Leaf hashes in a list, kept nodes in a dict, and a log of range reads, like a table."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.reads: list[tuple[int, int, int]] = []

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        self.reads.append((0, start, end))
        return self.leaves[start:end]

    def stored_nodes(self, level: int, start: int, end: int) -> list[bytes]:
        self.reads.append((level, start, end))
        got = [self.nodes.get((level, i)) for i in range(start, end)]
        return [h for h in got if h is not None]

    def source(self) -> TiledSource:
        return TiledSource(self.leaf_hashes, self.stored_nodes)

    def grow(self, mirror: MemoryTree, count: int, rng: random.Random) -> None:
        old = len(self.leaves)
        for _ in range(count):
            h = leaf_hash(rng.randbytes(4))
            self.leaves.append(h)
            mirror.append_hash(h)
        new = len(self.leaves)
        found = completed_nodes(old, new, self.source())
        expected = [
            (level, index)
            for level in range(TILE_HEIGHT, new.bit_length() + 1, TILE_HEIGHT)
            for index in range(new >> level)
            if old < (index + 1) << level <= new
        ]
        assert [(level, index) for level, index, _ in found] == expected
        for level, index, h in found:
            assert h == mirror.perfect(level, index)
            self.nodes[(level, index)] = h


def _check_tiled_equals_memory(store: FakeStore, mirror: MemoryTree, rng: random.Random) -> None:
    src = store.source()
    n = mirror.size
    sizes = {n, 1, rng.randrange(1, n + 1), rng.randrange(1, n + 1)}
    for size in sizes:
        assert root(src, size) == mirror.root(size)
        index = rng.randrange(size)
        assert inclusion_proof(src, index, size) == inclusion_proof(mirror, index, size)
        old = rng.randrange(0, size + 1)
        assert consistency_proof(src, old, size) == consistency_proof(mirror, old, size)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 90), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_tiled_store_grown_in_random_batches(batches: list[int], rng: random.Random) -> None:
    store, mirror = FakeStore(), MemoryTree()
    for count in batches:
        store.grow(mirror, count, rng)
        _check_tiled_equals_memory(store, mirror, rng)


def test_tiled_store_through_level_twelve() -> None:
    rng = random.Random(12)
    store, mirror = FakeStore(), MemoryTree()
    for count in [300, 1, 15, 4000, 17, 300]:  # the first batch completes a level-8 node at once
        store.grow(mirror, count, rng)
        _check_tiled_equals_memory(store, mirror, rng)
    assert {level for level, _ in store.nodes} == {4, 8, 12}
    for size in range(4600, mirror.size + 1, 7):
        assert root(store.source(), size) == mirror.root(size)


def test_completed_nodes_reads_each_leaf_once_and_builds_on_its_own_nodes() -> None:
    store, mirror = FakeStore(), MemoryTree()
    for i in range(300):
        h = leaf_hash(i.to_bytes(2, "big"))
        store.leaves.append(h)
        mirror.append_hash(h)
    found = completed_nodes(0, 300, store.source())  # nothing stored yet
    assert found[-1] == (8, 0, mirror.perfect(8, 0))
    assert len(found) == 18 + 1
    # two 8-leaf reads per level-4 node, and the level-8 node from those 16 new nodes alone
    assert sorted(store.reads) == [(0, s, s + 8) for s in range(0, 288, 8)]


def test_completed_nodes_over_any_subtree_source() -> None:
    mirror = tree_of([bytes([i % 256, i // 256]) for i in range(600)])
    found = completed_nodes(200, 600, mirror)
    assert [(level, index) for level, index, _ in found] == [
        *((4, i) for i in range(12, 37)),  # ends 208..592
        (8, 0),  # ends 256
        (8, 1),  # ends 512
    ]
    assert all(mirror.perfect(level, index) == h for level, index, h in found)
    assert completed_nodes(600, 600, mirror) == []
    with pytest.raises(ProofRangeError):
        completed_nodes(10, 9, mirror)


def test_tiled_source_reads_one_range_and_caches() -> None:
    rng = random.Random(4)
    store, mirror = FakeStore(), MemoryTree()
    store.grow(mirror, 1000, rng)
    src = store.source()
    store.reads.clear()
    assert src.perfect(7, 3) == mirror.perfect(7, 3)
    assert store.reads == [(4, 24, 32)]
    assert src.perfect(3, 5) == mirror.perfect(3, 5)
    assert src.perfect(8, 2) == mirror.perfect(8, 2)
    assert src.perfect(0, 999) == mirror.perfect(0, 999)
    assert store.reads[1:] == [(0, 40, 48), (8, 2, 3), (0, 999, 1000)]
    store.reads.clear()
    for level, index in [(7, 3), (3, 5), (8, 2), (0, 999)]:
        src.perfect(level, index)
    assert store.reads == []
    with pytest.raises(ProofRangeError):
        src.perfect(4, 62)  # leaves 992..1007: not complete, so not stored
    with pytest.raises(ProofRangeError):
        src.perfect(0, 1000)
    with pytest.raises(ProofRangeError):
        src.perfect(2, 250)  # leaves 1000..1003 do not exist


def test_tiled_source_cache_is_bounded() -> None:
    rng = random.Random(5)
    store, mirror = FakeStore(), MemoryTree()
    store.grow(mirror, 64, rng)
    src = TiledSource(store.leaf_hashes, store.stored_nodes, cache_size=3)
    for i in range(64):
        assert src.perfect(0, i) == mirror.perfect(0, i)
    assert len(src._cache) <= 3
    store.reads.clear()
    assert src.perfect(0, 63) == mirror.perfect(0, 63)
    assert store.reads == []


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_a_streaming_root_equals_the_recursive_definition(entries: list[bytes]) -> None:
    from consentry.domain.merkle_core import StreamingRoot

    stream = StreamingRoot()
    for entry in entries:
        stream.add(entry)
    assert stream.root() == _reference_root(entries) and stream.size == len(entries)


def _reference_root(entries: list[bytes]) -> bytes:
    import hashlib

    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1 << ((len(entries) - 1).bit_length() - 1)
    return hashlib.sha256(
        b"\x01" + _reference_root(entries[:k]) + _reference_root(entries[k:])
    ).digest()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), chunk_bits=st.integers(0, 6))
def test_aligned_ranges_joined_by_their_frontiers_give_every_root(n: int, chunk_bits: int) -> None:
    """How parallel verification builds the tree: each aligned range of 2**k leaves is hashed
    on its own; its frontier joined to the frontier before it gives the root at every size
    inside it, and ``push_frontier`` continues the whole tree."""
    hashes = [leaf_hash(b"leaf %d" % i) for i in range(n)]
    reference = MemoryTree()
    for i in range(n):
        reference.append_leaf(b"leaf %d" % i)
    chunk = 1 << chunk_bits
    whole = RootAccumulator()
    for start in range(0, n, chunk):
        part = RootAccumulator()
        for offset, h in enumerate(hashes[start : start + chunk]):
            part.push(h)
            joined = root_of_frontier(whole.frontier() + part.frontier())
            assert joined == reference.root(start + offset + 1)
        whole.push_frontier(part.frontier(), part.size)
    assert whole.size == n and whole.root() == reference.root()


def test_a_subtree_must_be_aligned() -> None:
    acc = RootAccumulator()
    acc.push(leaf_hash(b"a"))
    with pytest.raises(ValueError, match="cannot follow 1 leaves"):
        acc.push_subtree(1, leaf_hash(b"b"))
    with pytest.raises(ValueError, match="has 2 hashes, not 1"):
        acc.push_frontier([leaf_hash(b"b")], 3)

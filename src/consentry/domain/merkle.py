"""The ledger's RFC 9162 Merkle tree (invariant 4): hashes, roots, proofs, tiles, and two trees.

This is the module the rest of consentry imports. Its parts:

- ``merkle_core``: ``HASH_SIZE``, ``EMPTY_ROOT``, ``leaf_hash``, ``node_hash`` (RFC 9162
  §2.1.1), the ``SubtreeSource`` protocol every tree is read through, and ``root``.
- ``merkle_proofs``: ``inclusion_proof`` / ``verify_inclusion`` (§2.1.3) and
  ``consistency_proof`` / ``verify_consistency`` (§2.1.4).
- ``merkle_tiles``: ``TILE_HEIGHT``, ``TiledSource`` and ``completed_nodes``, how a store keeps
  only the leaf hashes and every 4th level of interior nodes.
- here: ``MemoryTree``, a whole tree in memory, and ``RootAccumulator``, the streaming frontier
  ``ledger verify`` pushes every leaf hash through.

Everything here is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from consentry.domain.errors import ProofRangeError
from consentry.domain.merkle_core import (
    EMPTY_ROOT,
    HASH_SIZE,
    SubtreeSource,
    leaf_hash,
    node_hash,
    root,
)
from consentry.domain.merkle_proofs import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from consentry.domain.merkle_tiles import TILE_HEIGHT, TiledSource, completed_nodes

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TILE_HEIGHT",
    "MemoryTree",
    "RootAccumulator",
    "SubtreeSource",
    "TiledSource",
    "completed_nodes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256


def _check_hash(value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"a Merkle hash is {HASH_SIZE} bytes, got {value!r}")


class MemoryTree(SubtreeSource):
    """A whole tree in memory: the leaf hashes and every perfect node above them.

    Interior nodes are computed as soon as they are complete (on average one node hash per
    appended leaf) and kept, so ``perfect`` is a list lookup and ``root`` costs O(log n).
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append_leaf(self, leaf: bytes) -> int:
        """Append an entry (hashed with ``leaf_hash``); returns its index."""
        return self.append_hash(leaf_hash(leaf))

    def append_hash(self, h: bytes) -> int:
        """Append an already computed leaf hash; returns its index."""
        _check_hash(h)
        levels = self._levels
        index = len(levels[0])
        levels[0].append(h)
        level, i = 0, index
        while i & 1:
            parent = node_hash(levels[level][i - 1], levels[level][i])
            level += 1
            i >>= 1
            if level == len(levels):
                levels.append([])
            levels[level].append(parent)
        return index

    def perfect(self, level: int, index: int) -> bytes:
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        raise ProofRangeError(
            f"no complete subtree at level {level}, index {index} in a tree of {self.size} leaves"
        )

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        if size is None:
            size = self.size
        if not 0 <= size <= self.size:
            raise ProofRangeError(f"tree size {size} is not in 0..{self.size}")
        return root(self, size)


NodeCallback = Callable[[int, int, bytes], None]
"""``on_node(level, index, hash)``: told of each interior perfect node as it completes."""


class RootAccumulator:
    """The frontier of a tree that is built by pushing its leaf hashes in order.

    It keeps one hash per set bit of the size: the perfect subtrees the tree is made of. A push
    merges equal-height subtrees (on average one node hash per push) and ``root`` folds the
    frontier (O(log n)). An ``on_node`` callback, if given, hears of every interior perfect node
    as it completes, so a verifier can compare the nodes a store kept with recomputed ones.
    """

    __slots__ = ("_on_node", "_size", "_stack")

    def __init__(self, on_node: NodeCallback | None = None) -> None:
        self._stack: list[bytes] = []
        self._size = 0
        self._on_node = on_node

    @property
    def size(self) -> int:
        """How many leaf hashes were pushed."""
        return self._size

    def push(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf_hash)}")
        stack = self._stack
        n = self._size
        h = leaf_hash
        if self._on_node is None:
            while n & 1:
                h = _sha256(b"\x01" + stack.pop() + h).digest()
                n >>= 1
        else:
            level = 0
            while n & 1:
                h = _sha256(b"\x01" + stack.pop() + h).digest()
                n >>= 1
                level += 1
                self._on_node(level, self._size >> level, h)
        stack.append(h)
        self._size += 1

    def push_many(self, leaf_hashes: Iterable[bytes]) -> None:
        """``push`` each hash in turn (the same loop, inlined: this is the hot path)."""
        if self._on_node is not None:
            for h in leaf_hashes:
                self.push(h)
            return
        stack, n = self._stack, self._size
        pop, append, sha256 = stack.pop, stack.append, _sha256
        try:
            for h in leaf_hashes:
                if len(h) != HASH_SIZE:
                    raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(h)}")
                m = n
                while m & 1:
                    h = sha256(b"\x01" + pop() + h).digest()
                    m >>= 1
                append(h)
                n += 1
        finally:
            self._size = n

    def push_subtree(self, level: int, subtree_root: bytes) -> None:
        """Add the next ``2**level`` leaves at once, by the root of their perfect subtree; the
        size so far must be a multiple of ``2**level`` (the subtree is aligned)."""
        if self._on_node is not None:
            raise ValueError("push_subtree cannot tell on_node of the nodes inside the subtree")
        if level < 0 or self._size & ((1 << level) - 1):
            raise ValueError(f"a subtree of level {level} cannot follow {self._size} leaves")
        stack, h, m = self._stack, subtree_root, self._size >> level
        while m & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            m >>= 1
        stack.append(h)
        self._size += 1 << level

    def push_frontier(self, frontier: Sequence[bytes], count: int) -> None:
        """Add ``count`` leaves at once by the frontier (``frontier()``) of an accumulator that
        was fed exactly them; the size so far must be a multiple of the power of two just
        above ``count`` (or of ``count`` itself when it is one)."""
        levels = [bit for bit in range(count.bit_length() - 1, -1, -1) if count >> bit & 1]
        if len(levels) != len(frontier):
            raise ValueError(
                f"a frontier of {count} leaves has {len(levels)} hashes, not {len(frontier)}"
            )
        for level, h in zip(levels, frontier, strict=True):
            self.push_subtree(level, h)

    def frontier(self) -> list[bytes]:
        """The perfect subtrees' roots, largest first (one per set bit of the size)."""
        return list(self._stack)

    def root(self) -> bytes:
        """MTH of everything pushed so far (``EMPTY_ROOT`` before the first push)."""
        return root_of_frontier(self._stack)


def root_of_frontier(frontier: Sequence[bytes]) -> bytes:
    """MTH of a tree given by its frontier, largest subtree first; the frontier of a tree
    followed by the frontier of an aligned range after it is the frontier of the whole."""
    if not frontier:
        return EMPTY_ROOT
    acc = frontier[-1]
    for i in range(len(frontier) - 2, -1, -1):
        acc = node_hash(frontier[i], acc)
    return acc

"""Tiled storage of the Merkle tree: which interior nodes a store keeps, and how to read the rest.

A store keeps every leaf hash and, of the interior nodes, only the perfect subtrees at levels
that are positive multiples of ``TILE_HEIGHT`` (4, 8, 12, ...): about n/15 extra hashes for n
leaves. Any other perfect subtree is at most ``TILE_HEIGHT - 1`` levels above a kept level, so
it is rebuilt from at most 2**3 = 8 kept hashes read in one range call. (This is the idea of
the tiles of c2sp.org/tlog-tiles, with height 4 instead of 8 and rows instead of tile files.)

A perfect node is final once its last leaf exists: it never changes, so it can be stored the
moment the tree grows past it (``completed_nodes``) and cached for ever (``TiledSource``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from consentry.domain.errors import ProofRangeError
from consentry.domain.merkle_core import SubtreeSource, node_hash

TILE_HEIGHT = 4

LeafHashReader = Callable[[int, int], Sequence[bytes]]
"""``leaf_hashes(start, end)``: the leaf hashes of indexes start..end-1, in order."""

NodeReader = Callable[[int, int, int], Sequence[bytes]]
"""``stored_nodes(level, start, end)``: the stored nodes of ``level``, indexes start..end-1."""


def _hash_up(hashes: Sequence[bytes], levels: int) -> bytes:
    """The root of the perfect subtree whose 2**levels bottom hashes are ``hashes``."""
    row = list(hashes)
    for _ in range(levels):
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


class TiledSource(SubtreeSource):
    """A ``SubtreeSource`` over a store that keeps leaf hashes and the nodes at levels 4, 8, ...

    ``perfect(level, index)`` reads the leaf hash (level 0), the stored node (a positive
    multiple of 4), or else the 2**(level - base) hashes of the kept level ``base`` below
    (``base`` = level rounded down to a multiple of 4; 0 means the leaf hashes) in one range
    call, and hashes them up. Answers are kept in a small cache (perfect nodes never change).
    """

    def __init__(
        self,
        leaf_hashes: LeafHashReader,
        stored_nodes: NodeReader,
        cache_size: int = 4096,
        committed: dict[tuple[int, int], bytes] | None = None,
        committed_size: int = 0,
    ) -> None:
        """``committed``: a cache that outlives this source (a store's), for the perfect
        subtrees within the first ``committed_size`` leaves, which the caller knows to be
        committed (a subtree of leaves that may still be rolled back never goes there). With
        it, the leaves from ``committed_size`` on are fresh (``leaf_hashes`` serves them from
        memory) and a subtree holding any of them is hashed up from its two halves, so that
        appending reads from the database only what is neither cached nor fresh."""
        self._leaf_hashes = leaf_hashes
        self._stored_nodes = stored_nodes
        self._cache: dict[tuple[int, int], bytes] = {}
        self._cache_size = cache_size
        self._committed = committed
        self._committed_size = committed_size

    def _read(self, level: int, start: int, end: int) -> Sequence[bytes]:
        got = self._leaf_hashes(start, end) if level == 0 else self._stored_nodes(level, start, end)
        if len(got) != end - start:
            what = "leaf hashes" if level == 0 else f"stored nodes of level {level}"
            raise ProofRangeError(
                f"asked the store for {what} {start}..{end - 1} and got {len(got)} of "
                f"{end - start}: that part of the tree does not exist (yet)"
            )
        return got

    def perfect(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0:
            raise ProofRangeError(f"no perfect subtree at level {level}, index {index}")
        key = (level, index)
        cache = self._cache
        if self._committed is not None:
            if (index + 1) << level <= self._committed_size:
                cache = self._committed
            elif level > 0:
                found = cache.get(key)
                if found is None:
                    if index << level >= self._committed_size:  # every leaf under it is fresh
                        leaves = self._read(0, index << level, (index + 1) << level)
                        found = _hash_up(leaves, level)
                    else:
                        found = node_hash(self.perfect(level - 1, 2 * index),
                                          self.perfect(level - 1, 2 * index + 1))  # fmt: skip
                    cache[key] = found
                return found
        cached = cache.get(key)
        if cached is not None:
            return cached
        base = level - level % TILE_HEIGHT
        count = 1 << (level - base)
        value = _hash_up(self._read(base, index * count, (index + 1) * count), level - base)
        if len(cache) >= self._cache_size:
            cache.clear()  # crude, but safe to share; the hot nodes come straight back
        cache[key] = value
        return value

    def known(self) -> dict[tuple[int, int], bytes]:
        """The perfect subtrees this source has computed or read (not those of the shared
        cache): once the leaves under them are committed, they can join it."""
        return dict(self._cache)


class _Overlay(SubtreeSource):
    """``src`` as it will be once the nodes computed so far are stored as well."""

    def __init__(self, src: SubtreeSource, old_size: int) -> None:
        self.src = src
        self.old_size = old_size
        self.computed: dict[tuple[int, int], bytes] = {}

    def perfect(self, level: int, index: int) -> bytes:
        found = self.computed.get((level, index))
        if found is not None:
            return found
        if level < TILE_HEIGHT or (index + 1) << level <= self.old_size:
            # Below the first kept level everything is read from leaf hashes, which exist;
            # a subtree that was complete at old_size has all its kept nodes stored already.
            return self.src.perfect(level, index)
        return node_hash(self.perfect(level - 1, 2 * index), self.perfect(level - 1, 2 * index + 1))


def completed_nodes(
    old_size: int, new_size: int, src: SubtreeSource
) -> list[tuple[int, int, bytes]]:
    """The ``(level, index, hash)`` of the kept-level nodes (levels 4, 8, 12, ...) that become
    complete when the tree grows from ``old_size`` to ``new_size`` leaves, i.e. those whose leaf
    range ends in (old_size, new_size], in increasing level (then index) order.

    ``src`` must serve every leaf hash below ``new_size`` and every kept node complete at
    ``old_size``. A node of level 8 is built from level-4 nodes that may be in this same result
    and not stored yet, so the nodes computed here take precedence over ``src``.
    """
    if old_size < 0 or new_size < old_size:
        raise ProofRangeError(f"the tree cannot grow from {old_size} to {new_size} leaves")
    overlay = _Overlay(src, old_size)
    out: list[tuple[int, int, bytes]] = []
    level = TILE_HEIGHT
    while (1 << level) <= new_size:
        for index in range(old_size >> level, new_size >> level):
            value = overlay.perfect(level, index)
            overlay.computed[(level, index)] = value
            out.append((level, index, value))
        level += TILE_HEIGHT
    return out

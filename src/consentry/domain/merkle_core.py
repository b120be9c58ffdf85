"""RFC 9162 Merkle tree hashing: the two node hashes and the subtree view every part shares.

RFC 9162 §2.1.1 defines the Merkle Tree Hash (MTH) of a list of n entries D[n]:

    MTH({})       = SHA-256()
    MTH({d(0)})   = SHA-256(0x00 || d(0))                       (a leaf hash)
    MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (a node hash)

where k is the largest power of two smaller than n. The 0x00/0x01 prefixes keep a leaf from
ever being mistaken for an interior node (second-preimage resistance).

Every tree of n leaves is a left-to-right run of *perfect* subtrees, one for each set bit of n,
largest first; its root folds their hashes from the right. Storage therefore only has to answer
"the hash of the perfect subtree of height ``level`` number ``index``" (``SubtreeSource``), and
``root`` needs one such answer per set bit of n: O(log n), never a read of every leaf.

``consentry.domain.merkle`` is the public face of this module and its siblings
(``merkle_proofs``, ``merkle_tiles``); import from there.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from consentry.domain.errors import ProofRangeError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of one entry, SHA-256(0x00 || leaf)."""
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node, SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


class SubtreeSource(Protocol):
    """Anything that can give the hash of a perfect subtree of the log."""

    def perfect(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree of height ``level`` that covers the leaves
        [index * 2**level, (index + 1) * 2**level). Level 0 is the leaf hash itself."""
        ...


def split_point(n: int) -> int:
    """RFC 9162's k for n >= 2: the largest power of two strictly smaller than n."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(src: SubtreeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range that occurs in RFC 9162's recursion.

    Such a range starts on a multiple of the largest power of two not above its width, so it
    splits into aligned perfect subtrees, one per set bit of the width: O(log n) ``perfect``
    calls. An empty range hashes to ``EMPTY_ROOT``.
    """
    width = end - start
    if width < 0 or start < 0:
        raise ProofRangeError(f"leaf range [{start}, {end}) is not a range")
    if width == 0:
        return EMPTY_ROOT
    peaks: list[bytes] = []
    pos = start
    for level in range(width.bit_length() - 1, -1, -1):
        if (width >> level) & 1:
            if pos & ((1 << level) - 1):
                raise ValueError(f"leaf range [{start}, {end}) is not aligned to its subtrees")
            peaks.append(src.perfect(level, pos >> level))
            pos += 1 << level
    acc = peaks[-1]
    for i in range(len(peaks) - 2, -1, -1):
        acc = node_hash(peaks[i], acc)
    return acc


def root(src: SubtreeSource, size: int) -> bytes:
    """RFC 9162 §2.1.1 MTH of the first ``size`` leaves (``EMPTY_ROOT`` for 0), from one
    ``perfect`` call per set bit of ``size``."""
    if size < 0:
        raise ProofRangeError(f"tree size {size} is negative")
    return range_hash(src, 0, size)


class StreamingRoot:
    """The RFC 9162 root of entries added one at a time, in O(log n) memory: perfect subtrees
    are merged as they complete, and the rest are folded right to left at the end (which is
    RFC 9162's split at the largest power of two below n, applied recursively)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (leaf count, hash), sizes strictly falling
        self.size = 0

    def add(self, entry: bytes) -> None:
        size, digest = 1, leaf_hash(entry)
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        self._stack.append((size, digest))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest

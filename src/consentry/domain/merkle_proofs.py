"""RFC 9162 inclusion and consistency proofs: making them from a ``SubtreeSource``, checking them.

Making a proof follows the recursive definitions of RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1
(PROOF/SUBPROOF), unrolled into a walk down from the root. On that walk at most one sibling is
not a perfect subtree (the right-hand one taken before the first step to the left; after that
step everything lies inside a perfect subtree), so a proof costs O(log n) ``perfect`` calls.

Checking a proof follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. The
checkers never raise: anything malformed (a size out of range, a hash of the wrong length, a
proof too short or too long) is simply ``False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from consentry.domain.errors import ProofRangeError
from consentry.domain.merkle_core import (
    EMPTY_ROOT,
    HASH_SIZE,
    SubtreeSource,
    node_hash,
    range_hash,
    split_point,
)


def inclusion_proof(src: SubtreeSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1: the audit path PATH(index, D[size]) for leaf ``index``, leaf end first.

    PATH(m, {d(0)}) = {}
    PATH(m, D[n])   = PATH(m, D[0:k]) : MTH(D[k:n])      for m < k
    PATH(m, D[n])   = PATH(m - k, D[k:n]) : MTH(D[0:k])  for m >= k
    """
    if size < 0 or index < 0 or index >= size:
        raise ProofRangeError(f"leaf index {index} is not in a tree of size {size}")
    siblings: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
    return [range_hash(src, s, e) for s, e in reversed(siblings)]


def consistency_proof(src: SubtreeSource, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1: PROOF(old_size, D[new_size]); empty when old_size is 0 or new_size.

    SUBPROOF(m, D[m], true)  = {}
    SUBPROOF(m, D[m], false) = {MTH(D[m])}
    SUBPROOF(m, D[n], b)     = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          for m <= k
    SUBPROOF(m, D[n], b)     = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  for m > k
    """
    if old_size < 0 or new_size < 0 or old_size > new_size:
        raise ProofRangeError(
            f"no consistency proof from size {old_size} to size {new_size}: "
            "sizes must satisfy 0 <= old <= new"
        )
    if old_size in (0, new_size):
        return []
    siblings: list[tuple[int, int]] = []
    start, end, keep_base = 0, new_size, False
    while old_size != end:
        k = split_point(end - start)
        if old_size - start <= k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
            keep_base = True
    proof = [range_hash(src, start, end)] if keep_base else []
    proof.extend(range_hash(src, s, e) for s, e in reversed(siblings))
    return proof


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _as_path(hashes: object) -> list[bytes] | None:
    """The proof as a list of 32-byte ``bytes``, or ``None`` when it is not one."""
    if isinstance(hashes, str | bytes | bytearray) or not isinstance(hashes, Iterable):
        return None
    path: list[bytes] = []
    for h in hashes:
        if not _is_hash(h):
            return None
        path.append(bytes(h))
    return path


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf ``index`` with ``leaf_hash`` in the tree of
    ``size`` leaves whose root is ``root``? Never raises."""
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    path = _as_path(proof)
    if path is None or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == bytes(root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show that the tree of ``old_size`` leaves with root
    ``old_root`` is a prefix of the tree of ``new_size`` leaves with root ``new_root``?

    Equal sizes need an empty proof and equal roots. The empty tree is a prefix of every tree,
    so old_size 0 needs an empty proof and ``old_root == EMPTY_ROOT`` (stricter than the RFC,
    which leaves that case to the caller). Never raises.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    path = _as_path(proof)
    if path is None or not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    old_root, new_root = bytes(old_root), bytes(new_root)
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root

"""Use cases over the ledger itself: append (sealed), verify, prove, export."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from consentry.domain.errors import ConsentryError, ProofRangeError, StoreError
from consentry.domain.merkle import (
    EMPTY_ROOT,
    RootAccumulator,
    consistency_proof,
    inclusion_proof,
    root_of_frontier,
)
from consentry.domain.merkle import root as merkle_root
from consentry.ports import AppendResult, Batch, Store
from consentry.services.context import Context


def append_sealed(ctx: Context, batch: Batch) -> AppendResult:
    """Append a batch and sign a checkpoint of the new tree in the same transaction; the
    checkpoint then goes to the witnesses (without waiting for them)."""
    result = ctx.store.append(batch, seal=ctx.keys.sign_checkpoint)
    if ctx.witness is not None and result.note is not None:
        ctx.witness.offer(result.note)
    return result


def issue_checkpoint(ctx: Context) -> str:
    """Sign a checkpoint of the current tree (stored, and returned as signed-note text)."""
    result = ctx.store.append(Batch(), seal=ctx.keys.sign_checkpoint)
    if result.note is None:  # a sealed append always returns its note
        raise StoreError("the store returned no signed checkpoint")
    if ctx.witness is not None:
        ctx.witness.offer(result.note)
    return result.note


@dataclass
class VerifyReport:
    size: int = 0
    root: bytes = EMPTY_ROOT
    checkpoints_checked: int = 0
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.size,
            "root_hash": self.root.hex(),
            "checkpoints_checked": self.checkpoints_checked,
            "first_bad_index": self.first_bad_index,
            "problems": self.problems,
        }


def verify_ledger(ctx: Context, workers: int = 1) -> VerifyReport:
    """Recompute every leaf hash and the tree, check each leaf's declared place, check every
    stored checkpoint's signature and root, and the stored Merkle nodes. Never raises for a bad
    ledger: the report says what is wrong and where. With ``workers`` > 1 (and a store that can
    be reopened), worker processes read and hash the leaves while this one builds the tree."""
    report = VerifyReport()
    trusted: dict[int, bytes] = {}
    for cp in ctx.store.checkpoints():
        try:
            size, root = ctx.keys.verify_checkpoint(cp.note)
        except ConsentryError as exc:
            report.problems.append(f"checkpoint at size {cp.size}: signature invalid: {exc}")
            continue
        if size != cp.size or root != cp.root:
            report.problems.append(f"checkpoint at size {cp.size}: note disagrees with its row")
            continue
        trusted[size] = root
    ranges = _ranges(ctx.store.size(), sorted(trusted))
    if workers > 1 and ctx.reader is not None and len(ranges) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_spawner()) as pool:
            found = pool.map(_check_range, repeat(ctx.reader), *zip(*ranges, strict=True))
            return _fold(report, trusted, found, ctx)
    return _fold(report, trusted, (_scan(ctx.store, *r) for r in ranges), ctx)


def _spawner() -> multiprocessing.context.BaseContext:
    """fork where it is safe (POSIX, one thread: nothing to re-import, workers start at once);
    forkserver otherwise, since forking a threaded process can deadlock."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


#: Leaves per range: a power of two, so that each range is one aligned perfect subtree (the last
#: one excepted) which one worker checks and hashes up on its own.
PARALLEL_CHUNK = 1 << 14

Range = tuple[int, int, list[int]]


def _ranges(size: int, stops: list[int]) -> list[Range]:
    """The aligned ranges [start, end) of the ledger, each with the trusted sizes in (start,
    end]."""
    out = []
    for start in range(0, size, PARALLEL_CHUNK):
        end = min(start + PARALLEL_CHUNK, size)
        out.append((start, end, stops[bisect_right(stops, start) : bisect_right(stops, end)]))
    return out


@dataclass(frozen=True)
class CheckedRange:
    """What was found in one aligned range: ``count`` good leaves from ``start``, the frontier
    of the tree of just them, the root of that tree at each trusted size inside the range (to
    be folded into the frontier of everything before it), and the first problem."""

    start: int
    count: int
    frontier: list[bytes]
    at_sizes: list[tuple[int, bytes]]
    problem: str | None


_worker_store: list[Store] = []


def _check_range(
    reader: Callable[[], Store], start: int, end: int, stops: list[int]
) -> CheckedRange:
    """In a worker process: ``_scan`` over a store opened once per worker."""
    if not _worker_store:
        _worker_store.append(reader())
    return _scan(_worker_store[0], start, end, stops)


def _scan(store: Store, start: int, end: int, stops: list[int]) -> CheckedRange:
    """Recompute the leaf hashes of [start, end) and the tree of just them: each leaf must be at
    its index, match its stored hash and declare its own place. The hot loop of ``ledger
    verify`` (``RootAccumulator.push`` inlined: about one node hash per leaf)."""
    leaf_prefix = hashlib.sha256(b"\x00").copy  # a leaf's hash starts from the 0x00 prefix
    node_prefix = hashlib.sha256(b"\x01").copy  # and a node's from 0x01
    stack: list[bytes] = []
    pop, push = stack.pop, stack.append
    at_sizes: list[tuple[int, bytes]] = []
    pending = iter(stops)
    stop = next(pending, -1)
    i = start
    problem: str | None = None
    for rows in store.leaf_chunks(start, end):
        for index, raw, stored in rows:
            if index != i:
                problem = f"leaf {i} is missing (next stored index is {index})"
                break
            hasher = leaf_prefix()
            hasher.update(raw)
            h = hasher.digest()
            if h != stored:
                problem = f"leaf {i}: its bytes do not match its stored hash"
                break
            # from the end: "seq" sorts late among a leaf's keys (3x faster than `in` here)
            if raw.rfind(b'"seq":%d,' % i) < 0:
                problem = f"leaf {i}: it declares another place in the ledger"
                break
            m = i - start
            while m & 1:
                hasher = node_prefix()
                hasher.update(pop())
                hasher.update(h)
                h = hasher.digest()
                m >>= 1
            push(h)
            i += 1
            if i == stop:
                at_sizes.append((i, root_of_frontier(stack)))
                stop = next(pending, -1)
        if problem is not None:
            break
    if problem is None and i < end:
        problem = f"leaf {i} is missing"
    return CheckedRange(start, i - start, stack, at_sizes, problem)


def _fold(
    report: VerifyReport, trusted: dict[int, bytes], found: Iterable[CheckedRange], ctx: Context
) -> VerifyReport:
    """Join the ranges in order, comparing the root at every trusted checkpoint."""
    acc = RootAccumulator()
    last_good = 0  # the size of the last checkpoint that matched
    for checked in found:
        before = acc.frontier()
        for size, range_root in checked.at_sizes:
            got = root_of_frontier([*before, range_root])  # the range is aligned after them
            last_good = _compare(report, size, got, trusted[size], last_good)
            if report.problems:
                break
        if report.problems:
            break
        acc.push_frontier(checked.frontier, checked.count)
        if checked.problem is not None:
            report.problems.append(checked.problem)
            report.first_bad_index = acc.size
            break
    report.size = acc.size
    report.root = acc.root()
    if report.ok:
        beyond = [s for s in trusted if s > acc.size]
        if beyond:
            report.problems.append(
                f"a signed checkpoint covers {max(beyond)} leaves but the ledger has "
                f"{acc.size}: leaves were removed"
            )
            report.first_bad_index = acc.size
        elif merkle_root(ctx.store.tree(), acc.size) != report.root:
            report.problems.append("the stored Merkle nodes do not match the leaves")
    return report


def _compare(report: VerifyReport, size: int, got: bytes, want: bytes, last_good: int) -> int:
    """Compare the recomputed root at a trusted size; returns the new last good size."""
    if got == want:
        report.checkpoints_checked += 1
        return size
    where = (
        f"leaf {last_good} was changed"
        if size - last_good == 1
        else f"a leaf in [{last_good}, {size}) was changed"
    )
    report.problems.append(f"the tree of size {size} does not match its signed checkpoint: {where}")
    report.first_bad_index = last_good
    return last_good


def prove_inclusion(ctx: Context, index: int, size: int | None = None) -> dict[str, Any]:
    tree_size = ctx.store.size() if size is None else size
    if tree_size > ctx.store.size():
        raise ProofRangeError(f"tree size {tree_size} is beyond the ledger ({ctx.store.size()})")
    if not 0 <= index < tree_size:
        raise ProofRangeError(f"leaf index {index} is outside a tree of {tree_size} leaves")
    tree = ctx.store.tree()
    return {
        "leaf_index": index,
        "tree_size": tree_size,
        "leaf_hash": ctx.store.leaf(index).hash.hex(),
        "root_hash": merkle_root(tree, tree_size).hex(),
        "proof": [h.hex() for h in inclusion_proof(tree, index, tree_size)],
    }


def prove_consistency(ctx: Context, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    size = ctx.store.size() if new_size is None else new_size
    if size > ctx.store.size():
        raise ProofRangeError(f"tree size {size} is beyond the ledger ({ctx.store.size()})")
    if not 0 <= old_size <= size:
        raise ProofRangeError(f"old size {old_size} is not between 0 and {size}")
    tree = ctx.store.tree()
    return {
        "old_size": old_size,
        "new_size": size,
        "old_root": merkle_root(tree, old_size).hex(),
        "new_root": merkle_root(tree, size).hex(),
        "proof": [h.hex() for h in consistency_proof(tree, old_size, size)],
    }


def export_lines(ctx: Context) -> Iterator[bytes]:
    """The ledger as JSON Lines: each line exactly the bytes hashed as that leaf, in order."""
    for stored in ctx.store.iter_leaves():
        yield stored.raw + b"\n"

"""Use cases over the ledger itself: append (sealed), verify, prove, export."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
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
    if workers > 1 and ctx.reader is not None:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_spawner()) as pool:
            return _fold_chunks(report, trusted, _parallel_chunks(ctx, pool), ctx)
    return _fold_chunks(report, trusted, _sequential_chunks(ctx), ctx)


def _spawner() -> multiprocessing.context.BaseContext:
    """fork where it is safe (POSIX, one thread: nothing to re-import, workers start at once);
    forkserver otherwise, since forking a threaded process can deadlock."""
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


Checked = tuple[int, Sequence[bytes], "str | None"]


def _sequential_chunks(ctx: Context) -> Iterator[Checked]:
    expected = 0
    for rows in ctx.store.leaf_chunks():
        hashes, problem = _check_rows(rows, expected)
        yield expected, hashes, problem
        if problem is not None:
            return
        expected += len(hashes)


PARALLEL_CHUNK = 50_000


def _parallel_chunks(ctx: Context, pool: ProcessPoolExecutor) -> Iterator[Checked]:
    size = ctx.store.size()
    starts = range(0, size, PARALLEL_CHUNK)
    ends = [min(s + PARALLEL_CHUNK, size) for s in starts]
    for start, (joined, problem) in zip(
        starts, pool.map(_check_range, repeat(ctx.reader), starts, ends), strict=True
    ):
        hashes = [joined[i : i + 32] for i in range(0, len(joined), 32)]
        yield start, hashes, problem
        if problem is not None:
            return


_worker_store: list[Store] = []


def _check_range(reader: Callable[[], Store], start: int, end: int) -> tuple[bytes, str | None]:
    """In a worker process: check leaves [start, end) of a freshly opened store."""
    if not _worker_store:
        _worker_store.append(reader())
    hashes: list[bytes] = []
    problem: str | None = None
    for rows in _worker_store[0].leaf_chunks(start, end):
        got, problem = _check_rows(rows, start + len(hashes))
        hashes.extend(got)
        if problem is not None:
            break
    if problem is None and len(hashes) < end - start:
        problem = f"leaf {start + len(hashes)} is missing"
    return b"".join(hashes), problem


def _fold_chunks(
    report: VerifyReport, trusted: dict[int, bytes], chunks: Iterator[Checked], ctx: Context
) -> VerifyReport:
    """Build the tree from checked chunks, comparing the root at every trusted checkpoint."""
    acc = RootAccumulator()
    last_good = 0  # the size of the last checkpoint that matched
    expected = 0
    stops = sorted(trusted)
    for _start, hashes, problem in chunks:
        # Push in segments that end at checkpoint sizes, comparing the root at each.
        pos = 0
        while pos < len(hashes):
            upto = len(hashes)
            nxt = bisect_right(stops, expected)
            if nxt < len(stops) and stops[nxt] - expected <= upto - pos:
                upto = pos + stops[nxt] - expected
            acc.push_many(hashes[pos:upto])
            expected += upto - pos
            pos = upto
            want = trusted.get(expected)
            if want is not None:
                if acc.root() != want:
                    where = (
                        f"leaf {last_good} was changed"
                        if expected - last_good == 1
                        else f"a leaf in [{last_good}, {expected}) was changed"
                    )
                    report.problems.append(
                        f"the tree of size {expected} does not match its signed checkpoint: {where}"
                    )
                    report.first_bad_index = last_good
                    break
                last_good = expected
                report.checkpoints_checked += 1
        if report.problems:
            break
        if problem is not None:
            report.problems.append(problem)
            report.first_bad_index = expected
            break
    report.size = expected
    report.root = acc.root()
    if report.ok:
        beyond = [s for s in trusted if s > expected]
        if beyond:
            report.problems.append(
                f"a signed checkpoint covers {max(beyond)} leaves but the ledger has {expected}: "
                "leaves were removed"
            )
            report.first_bad_index = expected
        elif merkle_root(ctx.store.tree(), expected) != report.root:
            report.problems.append("the stored Merkle nodes do not match the leaves")
    return report


def _check_rows(
    rows: Sequence[tuple[int, bytes, bytes]], start: int
) -> tuple[list[bytes], str | None]:
    """Recompute the leaf hashes of consecutive rows from ``start``: each row must be at its
    index, match its stored hash and declare its own place. Returns the good hashes and the first
    problem (at index ``start + len(hashes)``). The hot loop of ``ledger verify``."""
    sha256 = hashlib.sha256
    hashes: list[bytes] = []
    append = hashes.append
    i = start
    for index, raw, stored in rows:
        if index != i:
            return hashes, f"leaf {i} is missing (next stored index is {index})"
        h = sha256(b"\x00" + raw).digest()
        if h != stored:
            return hashes, f"leaf {i}: its bytes do not match its stored hash"
        if b'"seq":%d,' % i not in raw:
            return hashes, f"leaf {i}: it declares another place in the ledger"
        append(h)
        i += 1
    return hashes, None


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

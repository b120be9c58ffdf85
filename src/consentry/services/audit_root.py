"""The root of the leaves a pack reads, recomputed from their bytes, so that the pack can name
the signed checkpoint it was computed against. On a large ledger with a store that can be opened
again (SQLite, PostgreSQL), a worker process reads the same prefix from its own connection and
hashes it on the second core while the replay runs; otherwise the hashes are taken as the leaves
stream by.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Final

from consentry.domain.merkle import RootAccumulator
from consentry.ports import Store
from consentry.services.context import Context

#: From this many leaves the root is recomputed in a worker process, beside the replay.
PARALLEL_FROM: Final = 200_000


class RecomputedRoot:
    """The root of the leaves read, recomputed from their bytes: here as they stream, or in a
    worker process that reads them again from its own connection (a second core)."""

    def __init__(self, future: Future[tuple[int, bytes]] | None, size: int) -> None:
        self.future = future
        self.size = size
        self.acc = RootAccumulator()

    def feed(self, rows: Sequence[tuple[int, bytes, bytes]]) -> None:
        if self.future is None:
            self.acc.push_many(_rehashed(rows))

    def root(self) -> bytes | None:
        count, root = self.future.result() if self.future else (self.acc.size, self.acc.root())
        return root if count == self.size else None


@contextmanager
def root_of_prefix(ctx: Context, size: int) -> Iterator[RecomputedRoot]:
    if ctx.reader is None or size < PARALLEL_FROM:
        yield RecomputedRoot(None, size)
        return
    with ProcessPoolExecutor(max_workers=1, mp_context=_spawner()) as pool:
        yield RecomputedRoot(pool.submit(prefix_root, ctx.reader, size), size)


def prefix_root(reader: Callable[[], Store], size: int) -> tuple[int, bytes]:
    """In a worker process: (leaves read, RFC 9162 root) of the first ``size`` leaves."""
    store = reader()
    try:
        acc = RootAccumulator()
        for rows in store.leaf_chunks(0, size):
            acc.push_many(_rehashed(rows))
        return acc.size, acc.root()
    finally:
        store.close()


def _spawner() -> multiprocessing.context.BaseContext:
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def _rehashed(rows: Iterable[tuple[int, bytes, bytes]]) -> Iterator[bytes]:
    sha256 = hashlib.sha256
    for _, raw, _ in rows:
        yield sha256(b"\x00" + raw).digest()

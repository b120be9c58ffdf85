"""Group commit for requests that each need a durable write before their answer.

Handlers ``await submit(item)``; whatever arrives while one batch is being written becomes the
next batch, written in one call of ``work`` (one transaction) in a worker thread. Every request
is answered only after the batch holding it is committed, so durability before the answer is
kept, and under load many answers share one commit instead of waiting for their own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(
        self, work: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int = 500
    ) -> None:
        self.work = work
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R | BaseException]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # batches written, for tests and benchmarks

    async def submit(self, item: T) -> R:
        """The result of ``item``'s write, once its batch is committed. An exception raised by
        ``work`` is raised to every request of its batch; a result that is an exception is
        raised to its own request only."""
        future: asyncio.Future[R | BaseException] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                results = await asyncio.to_thread(self.work, [item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

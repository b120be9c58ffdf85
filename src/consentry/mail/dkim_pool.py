"""SigningPool: DKIM signing in worker processes that hold the private keys.

RSA-2048 signing costs about 250 µs a message, so a campaign signs on every core. Two ways in:

* ``sign_many`` / ``sign_many_async``: the caller hashes (``DKIMSigner.prepare``) and ships only
  32-byte digests, about ``chunk`` messages per task;
* ``sign_messages_async``: the workers do the hashing too, and only the messages travel. The
  dispatcher uses this one, so its own process (deciding, recording, talking SMTP) keeps its
  core for itself.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from consentry.mail.dkim import (
    CHUNK_MESSAGES,
    DKIMKey,
    DKIMKeyLike,
    DKIMSigner,
    Prepared,
    PrivateKey,
    _raw_sign,
    load_private_key,
)

# --- the process pool -------------------------------------------------------------------------

_WORKER_KEYS: list[PrivateKey] = []
_WORKER_DEFS: list[DKIMKey] = []
_WORKER_SIGNERS: dict[tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...]], DKIMSigner] = {}


def _install_keys(keys: Sequence[tuple[str, str, str, bytes]]) -> None:
    """Pool initialiser: load the private keys once in this worker process."""
    _WORKER_DEFS[:] = [DKIMKey(*key) for key in keys]
    _WORKER_KEYS[:] = [load_private_key(key) for key in _WORKER_DEFS]


def _sign_messages_chunk(
    indexes: tuple[int, ...],
    signed: tuple[str, ...],
    oversigned: tuple[str, ...],
    messages: list[bytes],
    timestamp: int | None,
) -> list[bytes]:
    """In a worker: hash and sign whole messages with a signer made once per key set."""
    plan = (indexes, signed, oversigned)
    signer = _WORKER_SIGNERS.get(plan)
    if signer is None:
        keys = [_WORKER_DEFS[i] for i in indexes]
        signer = _WORKER_SIGNERS[plan] = DKIMSigner(keys, signed, oversigned)
    return [signer.sign(message, timestamp) for message in messages]


def sign_with_key(key_index: int, data: bytes) -> bytes:
    """Sign the digest ``data`` (from ``DKIMSigner.prepare``) with the worker's key
    ``key_index`` (its position in the ``SigningPool`` keys)."""
    if not 0 <= key_index < len(_WORKER_KEYS):
        raise RuntimeError(f"no DKIM key {key_index} installed in this process (pid {os.getpid()})")
    return _raw_sign(_WORKER_KEYS[key_index], data)


def _sign_chunk(items: list[tuple[int, bytes]]) -> list[bytes]:
    return [sign_with_key(index, data) for index, data in items]


def _context() -> multiprocessing.context.BaseContext:
    # Never "fork": the dispatcher runs threads (event loop executors, database drivers), and a
    # forked child can inherit a lock held by one of them. forkserver forks from a clean process.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class SigningPool:
    """Worker processes that hold the private keys and sign digests in chunks of messages.

    ``workers=None`` is one per CPU; ``workers=0`` signs in the calling process (no pool). The
    caller's process does the hashing (``DKIMSigner.prepare``) and ships only 32-byte digests,
    about ``CHUNK_MESSAGES`` messages per task, so inter-process traffic stays small."""

    def __init__(
        self, keys: Sequence[DKIMKeyLike], workers: int | None = None, chunk: int = CHUNK_MESSAGES
    ) -> None:
        if workers is not None and workers < 0:
            raise ValueError("workers must be 0 or more")
        if chunk < 1:
            raise ValueError("chunk must be 1 or more")
        self.keys = tuple(DKIMKey(k.domain, k.selector, k.algorithm, k.private_pem) for k in keys)
        for key in self.keys:
            load_private_key(key)  # fail here, not as a broken pool in a worker
        self.workers = _cpus() if workers is None else workers
        self.chunk = chunk
        self._executor: ProcessPoolExecutor | None = None
        if self.workers:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_context(),
                initializer=_install_keys,
                initargs=([(k.domain, k.selector, k.algorithm, k.private_pem) for k in self.keys],),
            )

    def _remap(self, signer: DKIMSigner) -> list[int]:
        try:
            return [self.keys.index(key) for key in signer.keys]
        except ValueError:
            raise ValueError("the signer uses a key this pool was not given") from None

    def _chunks(self, messages: Sequence[bytes]) -> list[Sequence[bytes]]:
        size = max(1, min(self.chunk, math.ceil(len(messages) / max(self.workers, 1))))
        return [messages[i : i + size] for i in range(0, len(messages), size)]

    @staticmethod
    def _prepare(signer: DKIMSigner, messages: Sequence[bytes], ts: int | None) -> list[Prepared]:
        return [signer.prepare(message, ts) for message in messages]

    @staticmethod
    def _finish(signer: DKIMSigner, prepared: list[Prepared], sigs: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        position = 0
        for item in prepared:
            out.append(signer.finish(item, sigs[position : position + len(item)]))
            position += len(item)
        return out

    def sign_many(
        self, signer: DKIMSigner, messages: Sequence[bytes], timestamp: int | None = None
    ) -> list[bytes]:
        """The DKIM-Signature header(s) of each message, in order."""
        if self._executor is None:
            return [signer.sign(message, timestamp) for message in messages]
        remap = self._remap(signer)
        pending: list[tuple[list[Prepared], Future[list[bytes]]]] = []
        try:
            for chunk in self._chunks(messages):
                prepared = self._prepare(signer, chunk, timestamp)
                items = [(remap[i], digest) for item in prepared for i, _, digest in item]
                pending.append((prepared, self._executor.submit(_sign_chunk, items)))
        except BaseException:
            for _, future in pending:
                future.cancel()
            raise
        out: list[bytes] = []
        for prepared, future in pending:
            out.extend(self._finish(signer, prepared, future.result()))
        return out

    async def sign_many_async(
        self, signer: DKIMSigner, messages: Sequence[bytes], timestamp: int | None = None
    ) -> list[bytes]:
        """``sign_many`` for the event loop: hashing in a thread, signing in the pool."""
        loop = asyncio.get_running_loop()
        if self._executor is None:
            return await loop.run_in_executor(None, self.sign_many, signer, messages, timestamp)
        remap = self._remap(signer)
        batches: list[list[Prepared]] = []
        futures: list[asyncio.Future[list[bytes]]] = []
        try:
            for chunk in self._chunks(messages):
                prepared = await loop.run_in_executor(None, self._prepare, signer, chunk, timestamp)
                items = [(remap[i], digest) for item in prepared for i, _, digest in item]
                batches.append(prepared)
                futures.append(asyncio.wrap_future(self._executor.submit(_sign_chunk, items)))
            results = await asyncio.gather(*futures)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        out: list[bytes] = []
        for prepared, sigs in zip(batches, results, strict=True):
            out.extend(self._finish(signer, prepared, sigs))
        return out

    async def sign_messages_async(
        self, signer: DKIMSigner, messages: Sequence[bytes], timestamp: int | None = None
    ) -> list[bytes]:
        """The DKIM-Signature header(s) of each message, in order, hashed and signed in the
        workers (the calling process only ships the messages)."""
        if self._executor is None:
            return await self.sign_many_async(signer, messages, timestamp)
        loop = asyncio.get_running_loop()
        indexes = tuple(self._remap(signer))
        plan = (indexes, signer.signed, signer.oversigned)
        futures = [
            asyncio.wrap_future(
                self._executor.submit(_sign_messages_chunk, *plan, list(chunk), timestamp),
                loop=loop,
            )
            for chunk in self._chunks(messages)
        ]
        try:
            results = await asyncio.gather(*futures)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return [header for chunk in results for header in chunk]

    def close(self) -> None:
        """Stop the workers (waits for running tasks, cancels queued ones)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> SigningPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

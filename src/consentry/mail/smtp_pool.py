"""A pool of SMTP sessions to one target, with global and per-domain rate limits.

``send`` cuts the envelopes into groups of ``batch`` and lets every connection take the next group
when it is free, so a slow session never holds the others up. A session that breaks is reopened
(with backoff) for later groups; the envelopes of a broken group that were never started (their gate
was not asked) go back to the queue for another session; the rest come back ``deferred`` or
``uncertain`` and are never resent here: the caller decides.

Rates are "generic cell rate" token buckets (burst 1): a message may start no earlier than
``1 / rate`` after the one before it. The wait for a token happens before the gate is asked, so the
gate still sees the latest state when the message really goes out.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from consentry.domain.errors import TransportError
from consentry.mail.smtp import Envelope, Gate, Handoff, SMTPConnection
from consentry.mail.smtp_url import SMTPTarget
from consentry.mail.smtp_wire import local_handoff

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_OUTCOMES = ("accepted", "rejected", "deferred", "uncertain", "withheld", "failed")


class _Bucket:
    """Messages per second as a schedule: ``reserve`` books the next free start time."""

    __slots__ = ("interval", "next_at")

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError("a rate must be a positive number of messages per second")
        self.interval = 1.0 / rate
        self.next_at = float("-inf")

    def reserve(self, now: float) -> float:
        """Book a start; return when (>= now) the message may start."""
        start = max(self.next_at, now)
        self.next_at = start + self.interval
        return start


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class SMTPPool:
    """Up to ``connections`` sessions to ``target``; see the module docstring."""

    def __init__(
        self,
        target: SMTPTarget,
        connections: int = 8,
        rate: float | None = None,
        per_domain_rate: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        batch: int = 50,
        *,
        reconnect_attempts: int = 3,
        backoff: float = 0.2,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if connections < 1 or batch < 1 or reconnect_attempts < 1:
            raise ValueError("connections, batch and reconnect_attempts must be at least 1")
        self.target = target
        self.connections = connections
        self.batch = batch
        self._ssl = ssl_context
        self._attempts = reconnect_attempts
        self._backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._rate = _Bucket(rate) if rate is not None else None
        self._domain_rate = per_domain_rate
        if per_domain_rate is not None:
            _Bucket(per_domain_rate)  # validate now, not at the first message
        self._domains: dict[str, _Bucket] = {}
        self._conns: list[SMTPConnection | None] = [None] * connections
        self._free: asyncio.Queue[int] | None = None
        self._last_error = "not started"
        self._stats: dict[str, float] = dict.fromkeys(
            ("connections_opened", "reconnects", "connect_failures", "rate_waits",
             "rate_wait_seconds", "messages", *_OUTCOMES), 0,
        )  # fmt: skip

    @property
    def stats(self) -> dict[str, float]:
        """Counters: connections opened, reconnects, connect failures, token waits (count and
        seconds), messages handed over and each outcome."""
        return dict(self._stats)

    async def _open(self) -> SMTPConnection:
        conn = SMTPConnection()
        try:
            await conn.connect(self.target, self._ssl)
        except TransportError as exc:
            self._stats["connect_failures"] += 1
            self._last_error = str(exc)
            raise
        self._stats["connections_opened"] += 1
        return conn

    async def start(self) -> None:
        """Open the connections; raise ``TransportError`` if not even one can be opened."""
        self._free = asyncio.Queue()
        opened = await asyncio.gather(
            *(self._open() for _ in range(self.connections)), return_exceptions=True
        )
        for slot, result in enumerate(opened):
            if isinstance(result, BaseException) and not isinstance(result, TransportError):
                raise result
            self._conns[slot] = result if isinstance(result, SMTPConnection) else None
            self._free.put_nowait(slot)
        if all(conn is None for conn in self._conns):
            raise TransportError(self._last_error)

    async def _reopen(self, slot: int) -> SMTPConnection | None:
        """Reopen a broken session, with exponential backoff between attempts."""
        old = self._conns[slot]
        if old is not None:
            old.close()
            self._conns[slot] = None
        for attempt in range(self._attempts):
            if attempt:
                await self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                conn = await self._open()
            except TransportError:
                continue
            self._stats["reconnects"] += 1
            self._conns[slot] = conn
            return conn
        return None

    def _pace(self, env: Envelope) -> Awaitable[None] | None:
        """Reserve tokens for ``env``; an awaitable to wait on if it may not start yet."""
        now = self._clock()
        start = now
        if self._rate is not None:
            start = self._rate.reserve(now)
        if self._domain_rate is not None:
            domain = _domain(env.recipient)
            bucket = self._domains.get(domain)
            if bucket is None:
                bucket = self._domains[domain] = _Bucket(self._domain_rate)
            start = max(start, bucket.reserve(now))
        if start <= now:
            return None
        self._stats["rate_waits"] += 1
        self._stats["rate_wait_seconds"] += start - now
        return self._sleep(start - now)

    async def send(self, envelopes: Sequence[Envelope], gate: Gate) -> list[Handoff]:
        """One ``Handoff`` per envelope (in order of decision, each key exactly once)."""
        if self._free is None:
            raise RuntimeError("SMTPPool.send before start()")
        step = self.batch
        groups = deque(list(envelopes[i : i + step]) for i in range(0, len(envelopes), step))
        out: list[Handoff] = []
        limited = self._rate is not None or self._domain_rate is not None
        pace = self._pace if limited else None
        workers = min(self.connections, len(groups))
        await asyncio.gather(*(self._work(groups, gate, pace, out) for _ in range(workers)))
        reason = f"no connection to {self.target.where}: {self._last_error}"
        for group in groups:
            out.extend(local_handoff(env, "deferred", reason, "connect") for env in group)
        self._stats["messages"] += len(out)
        for handoff in out:
            self._stats[handoff.outcome] += 1
        return out

    async def _work(
        self,
        groups: deque[list[Envelope]],
        gate: Gate,
        pace: Callable[[Envelope], Awaitable[None] | None] | None,
        out: list[Handoff],
    ) -> None:
        assert self._free is not None
        slot = await self._free.get()
        try:
            while groups:
                conn = self._conns[slot]
                if conn is None or not conn.usable:
                    conn = await self._reopen(slot)
                    if conn is None:
                        return
                if not groups:
                    return
                group = groups.popleft()
                unstarted = await conn.send_some(group, gate, out, pace)
                if unstarted:
                    groups.appendleft(unstarted)
        finally:
            self._free.put_nowait(slot)

    async def close(self) -> None:
        """QUIT every session."""
        conns = [conn for conn in self._conns if conn is not None]
        self._conns = [None] * self.connections
        await asyncio.gather(*(conn.quit() for conn in conns), return_exceptions=True)

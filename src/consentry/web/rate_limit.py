"""A token-bucket rate limit per key (the client's IP address), in memory.

It protects the signup form from bots flooding people with confirmation emails; it is per
server process (a second process has its own buckets), which bounds the rate per process. The
per-address limit lives in ``services.signup`` (from the ledger, so it holds across processes)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """At most ``burst`` requests at once per key, refilled at ``per_minute`` a minute. Keeps at
    most ``max_keys`` buckets (the least recently seen are forgotten)."""

    def __init__(
        self,
        per_minute: float = 5.0,
        burst: int = 5,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return allowed

"""The background publisher: the append path offers each new checkpoint and returns at once;
a thread hands them to every witness.

* Offers are queued in memory (at most ``max_pending``; beyond that the oldest are dropped: the
  newest checkpoint commits to everything before it). ``offer`` never blocks and never raises.
* The thread publishes whatever has queued to each witness in one call, so a burst of appends
  costs one write (or one POST) per witness.
* A witness that fails keeps its notes for a retry after ``retry`` seconds; the others go on.
* With nothing new for ``interval`` seconds (60 by default, R5/R6), the latest checkpoint is
  published again, so a witness always holds one less than a minute old while the log is up.
* ``flush`` waits for the queue to drain; ``close`` flushes and stops the thread.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from consentry.services.witness_port import Witness

ErrorHook = Callable[[str, BaseException], None]


class WitnessPublisher:
    """Implements :class:`~consentry.services.witness_port.CheckpointPublisher`."""

    def __init__(
        self,
        witnesses: Sequence[Witness],
        interval: float = 60.0,
        retry: float = 5.0,
        max_pending: int = 10_000,
        on_error: ErrorHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.witnesses = list(witnesses)
        self.interval = interval
        self.retry = retry
        self.max_pending = max_pending
        self.on_error = on_error
        self.clock = clock
        self.published: Counter[str] = Counter()
        self.errors: dict[str, str] = {}
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._failed: dict[int, list[str]] = {}
        self._retry_at = 0.0
        self._latest: str | None = None
        self._last_publish = clock()
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="consentry-witness", daemon=True)
        self._thread.start()

    # --- the append path's side ----------------------------------------------------------------

    def offer(self, note: str) -> None:
        with self._cond:
            if self._stopping:
                return
            self._pending.append(note)
            if len(self._pending) > self.max_pending:
                del self._pending[: len(self._pending) - self.max_pending]
            self._latest = note
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = self.clock() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - self.clock()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def failing(self) -> dict[str, int]:
        """Witnesses with notes waiting for a retry, and how many."""
        with self._cond:
            return {self.witnesses[i].name: len(n) for i, n in self._failed.items()}

    # --- the thread -----------------------------------------------------------------------------

    def _due(self) -> float | None:
        """Seconds until there is something to do (0: now), None to wait for an offer."""
        if self._pending or self._stopping:
            return 0.0
        now = self.clock()
        waits = []
        if self._failed:
            waits.append(self._retry_at - now)
        if self._latest is not None:
            waits.append(self._last_publish + self.interval - now)
        return max(0.0, min(waits)) if waits else None

    def _run(self) -> None:
        while True:
            with self._cond:
                while (wait := self._due()) is None or wait > 0:
                    self._cond.wait(wait)
                if self._stopping and not self._pending:
                    return
                batch, self._pending = self._pending, []
                heartbeat = not batch and self._latest is not None
                if heartbeat and self.clock() - self._last_publish >= self.interval:
                    batch = [self._latest] if self._latest is not None else []
                retrying = self.clock() >= self._retry_at
                self._busy = True
            try:
                self._publish(batch, retrying)
            finally:
                with self._cond:
                    self._busy = False
                    self._last_publish = self.clock()
                    self._cond.notify_all()

    def _publish(self, batch: list[str], retrying: bool) -> None:
        for i, witness in enumerate(self.witnesses):
            with self._cond:
                earlier = self._failed.pop(i, []) if retrying else []
            notes = earlier + batch
            if not notes:
                continue
            if not retrying and i in self._failed:  # still waiting to retry: queue behind
                with self._cond:
                    self._failed[i].extend(batch)
                continue
            try:
                witness.publish(notes)
                self.published[witness.name] += len(notes)
                self.errors.pop(witness.name, None)
            except Exception as exc:  # a witness failing never stops the others
                self.errors[witness.name] = str(exc)
                with self._cond:
                    kept = (self._failed.get(i, []) + notes)[-self.max_pending :]
                    self._failed[i] = kept
                    self._retry_at = self.clock() + self.retry
                if self.on_error is not None:
                    self.on_error(witness.name, exc)

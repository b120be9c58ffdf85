"""The dispatcher's watcher: what may still go out, re-checked at the moment of handoff (R11).

A thread polls the ledger, on its own connection, every ``interval`` seconds for withdrawals,
suppressions and erasures appended since the dispatcher started, and reads the kill switch and the
campaign's state. The gate asks it, immediately before each message's MAIL FROM, whether an
objection for that recipient was appended at or after the ledger position the message's decision
read, and refuses every handoff when the last completed poll started more than ``max_age``
seconds ago (a stalled database: fail closed). So an objection committed at time t stops every
handoff that would start after t + max_age, well inside the one second the product promises.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from consentry.ports import Store


class Watcher:
    def __init__(
        self,
        open_store: Callable[[], Store],
        campaign_id: str,
        start_index: int,
        *,
        interval: float = 0.05,
        max_age: float = 0.4,
        halt_control: str = "halted",
        on_beat: Callable[[Store], None] | None = None,
        beat_every: float = 1.0,
    ) -> None:
        self._open = open_store
        self._campaign_id = campaign_id
        self._next = start_index
        self._interval = interval
        self._max_age = max_age
        self._halt_control = halt_control
        self._on_beat = on_beat
        self._beat_every = beat_every
        self._objected: dict[str, int] = {}
        self._polled_at = float("-inf")
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread: threading.Thread | None = None
        self.halted: str | None = None
        self.campaign_state: str | None = None
        self.error: BaseException | None = None
        self.polls = 0

    # --- the thread -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="consentry-watcher", daemon=True)
        self._thread.start()
        self._first.wait(timeout=30)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        store: Store | None = None
        last_beat = float("-inf")
        try:
            store = self._open()
            while not self._stop.is_set():
                started = time.monotonic()
                self._poll(store)
                if self._on_beat is not None and started - last_beat >= self._beat_every:
                    self._on_beat(store)
                    last_beat = started
                self._polled_at = started  # published only once the poll completed
                self.polls += 1
                self._first.set()
                self._stop.wait(self._interval)
        except BaseException as exc:  # the gate then refuses everything (stale)
            self.error = exc
            self._first.set()
        finally:
            if store is not None:
                store.close()

    def _poll(self, store: Store) -> None:
        size, found = store.objections_since(self._next)
        for index, subject in found:
            if index > self._objected.get(subject, -1):
                self._objected[subject] = index
        self._next = max(self._next, size)
        self.halted = store.control(self._halt_control)
        self.campaign_state = store.campaign_state(self._campaign_id)

    # --- what the gate asks -----------------------------------------------------------------------

    def fresh(self) -> bool:
        return self.error is None and time.monotonic() - self._polled_at <= self._max_age

    def stopping(self) -> str | None:
        """Why nothing more may go out: the kill switch, or the campaign paused or cancelled."""
        if self.halted is not None:
            return "halted"
        if self.campaign_state not in ("sending", None):
            return self.campaign_state
        return None

    def objected_since(self, subject: str, index: int) -> bool:
        return self._objected.get(subject, -1) >= index

    def may_hand_off(self, subject: str, checked_size: int) -> bool:
        return (
            self.fresh()
            and self.stopping() is None
            and not self.objected_since(subject, checked_size)
        )

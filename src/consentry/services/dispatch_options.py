"""The dispatcher's settings, its progress, and what a decided batch becomes before handoff."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from consentry.ports import Envelope, Handoff
from consentry.services.dispatch_records import Pending, RetryPolicy


@dataclass(frozen=True)
class DispatchOptions:
    batch: int = 1000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Seconds without a heartbeat after which a worker is dead and its rows are recovered.
    worker_lease: float = 15.0
    #: Batches decided ahead of the one being handed off.
    ahead: int = 2
    watch_interval: float = 0.05
    #: The gate refuses every handoff when the watcher's last poll is older than this.
    watch_max_age: float = 0.4
    #: Wait for deferred messages to fall due (False: stop when only those are left).
    wait_for_retries: bool = True


@dataclass
class Progress:
    campaign_id: str
    decided: int = 0
    sent: int = 0
    denied: int = 0
    failed: int = 0
    deferred: int = 0
    uncertain: int = 0
    withheld: int = 0
    recovered_uncertain: int = 0
    started: float = field(default_factory=time.monotonic)
    queued_at_start: int = 0
    stopped_by: str | None = None

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.sent / elapsed if elapsed > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id, "decided": self.decided, "sent": self.sent,
            "denied": self.denied, "failed": self.failed, "deferred": self.deferred,
            "uncertain": self.uncertain, "withheld": self.withheld,
            "recovered_uncertain": self.recovered_uncertain,
            "seconds": round(time.monotonic() - self.started, 3),
            "rate_per_second": round(self.rate, 1), "stopped_by": self.stopped_by,
        }  # fmt: skip


@dataclass(frozen=True)
class Prepared:
    envelopes: list[Envelope]
    pending: list[Pending]
    #: Messages that could not be built (e.g. an address no header may carry): recorded as
    #: failed with the batch's outcomes, never handed off.
    unbuildable: list[Handoff] = field(default_factory=list)

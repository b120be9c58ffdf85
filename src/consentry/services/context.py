"""What every use case is handed: the store, the keys and the clock (all ports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consentry.ports import Clock, KeyRing, Store
from consentry.services.witness_port import CheckpointPublisher


@dataclass(frozen=True)
class Context:
    store: Store
    keys: KeyRing
    clock: Clock
    #: Opens another connection to the same store (picklable), for worker processes; None where
    #: the store cannot be shared (memory).
    reader: Callable[[], Store] | None = None
    #: Sends every new signed checkpoint to the witnesses outside the database (R6); None when
    #: none are configured (CONSENTRY_WITNESSES).
    witness: CheckpointPublisher | None = None

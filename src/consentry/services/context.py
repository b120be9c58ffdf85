"""What every use case is handed: the store, the keys and the clock (all ports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consentry.ports import Clock, KeyRing, Store


@dataclass(frozen=True)
class Context:
    store: Store
    keys: KeyRing
    clock: Clock
    #: Opens another connection to the same store (picklable), for worker processes; None where
    #: the store cannot be shared (memory).
    reader: Callable[[], Store] | None = None

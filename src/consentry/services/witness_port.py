"""The witness ports (R6): signed checkpoints leave the operator's control.

Two Protocols. A :class:`Witness` is one place outside the database that keeps checkpoints (an
append-only file, a directory, an HTTP endpoint: ``consentry.witness``); publishing to it may
block and may fail. The append path never talks to a witness directly: it hands each new
checkpoint to a :class:`CheckpointPublisher`, which returns at once and publishes from a
background thread (``consentry.witness.publisher.WitnessPublisher``), so a slow or dead witness
never delays an append, and republishes the latest checkpoint at least every 60 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Witness(Protocol):
    """Keeps signed checkpoints (C2SP signed notes) outside the operator's database."""

    @property
    def name(self) -> str:
        """Where the checkpoints go, for messages (``file:/path``, ``https://...``)."""
        ...

    def publish(self, notes: Sequence[str]) -> None:
        """Keep these notes (oldest first); raise on failure. May block."""
        ...


class CheckpointPublisher(Protocol):
    """What the append path calls: never blocks, never raises."""

    def offer(self, note: str) -> None:
        """A checkpoint just committed; publish it (and at least every 60 s, the latest)."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until everything offered is published (or given up on); False on timeout."""
        ...

    def close(self, timeout: float) -> None:
        """Flush, then stop the background thread."""
        ...

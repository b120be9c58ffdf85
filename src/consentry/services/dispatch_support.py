"""Small pieces the dispatcher needs: worker ids and liveness, deterministic Message-IDs, and a
store handle for the watcher where no second connection can be opened."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import uuid
from typing import Any, TypeVar

from consentry.domain.policy import Decision
from consentry.ports import Store

T = TypeVar("T")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def message_id(campaign_id: str, subject: str, domain: str, attempt: int | None = None) -> str:
    """Deterministic per campaign and recipient: a second copy would carry the same id. A
    confirmation campaign sends a person a new message for each signup, so its ids also name the
    attempt (``attempt``)."""
    key = f"{campaign_id}\0{subject}" + ("" if attempt is None else f"\0{attempt}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"{campaign_id}.{digest}@{domain}"


def drain(queue: asyncio.Queue[T]) -> list[T]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def no_address(decision: Decision) -> Decision:
    return decision._replace(allowed=False, reason="no-address", basis=None, justifying=None)


class SharedStore:
    """The dispatcher's own store handed to the watcher where no second connection can be
    opened (the memory store); closing it leaves the store open."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def close(self) -> None:
        return None

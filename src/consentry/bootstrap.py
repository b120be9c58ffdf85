"""The one place where concrete adapters are chosen and wired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from consentry.domain.errors import InputError
from consentry.keys.ring import FileKeyRing
from consentry.ports import Store
from consentry.services.context import Context
from consentry.settings import Settings


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def open_store(url: str) -> Store:
    """A store for a database URL: ``sqlite:///path``, ``postgresql://...`` or ``memory:``."""
    if url == "memory:":
        from consentry.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:///"):
        from consentry.store.sqlite import SQLiteStore

        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from consentry.store.postgres import PostgresStore

        return PostgresStore(url)
    raise InputError(f"database URL {url!r} is not sqlite:///PATH, postgresql://... or memory:")


@dataclass
class App:
    """An opened consentry: the services' context plus what must be closed."""

    settings: Settings
    context: Context

    def close(self) -> None:
        self.context.store.close()


def open_app(settings: Settings) -> App:
    keys = FileKeyRing(settings.home)
    store = open_store(settings.database_url)
    url = settings.database_url
    reader = None if url == "memory:" else partial(open_store, url)
    return App(settings, Context(store=store, keys=keys, clock=SystemClock(), reader=reader))


def create_keys(settings: Settings, origin: str) -> FileKeyRing:
    return FileKeyRing.create(settings.home, origin)

"""A consentry on every backend, and the audit commands on the CLI (``main.py`` registers them
once the wiring lands; until then the tests add them to the group themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from consentry.cli import audit_cmds
from consentry.cli.main import cli
from consentry.services.context import Context
from tests.audit.support import organised_ctx
from tests.cli.conftest import home, run  # noqa: F401  (fixtures)
from tests.conftest import FixedClock

if "audit" not in cli.commands:
    audit_cmds.register(cli)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ctx(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Context]:
    if request.param == "memory":
        from consentry.store.memory import MemoryStore

        yield organised_ctx(MemoryStore(), tmp_path, clock)
        return
    if request.param == "sqlite":
        from consentry.store.sqlite import SQLiteStore

        path = tmp_path / "c.sqlite"
        context = organised_ctx(SQLiteStore(path), tmp_path, clock, partial(SQLiteStore, path))
    else:
        from consentry.store.postgres import PostgresStore

        url = request.getfixturevalue("pg_url")
        context = organised_ctx(PostgresStore(url), tmp_path, clock, partial(PostgresStore, url))
    yield context
    context.store.close()

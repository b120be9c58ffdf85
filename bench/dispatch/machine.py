"""The machine and the code measured: cores, CPU model, memory, versions, the commit."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return 0


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_mb": memory_mb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }


def postgres_settings(url: str) -> dict[str, str]:
    """The durability settings of the PostgreSQL server the runs use."""
    import psycopg

    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
        return {
            name: str(row[0]) if (row := conn.execute(f"SHOW {name}").fetchone()) else "?"
            for name in ("synchronous_commit", "fsync", "server_version")
        }


def sqlite_settings(path: Path) -> dict[str, str]:
    """journal_mode and synchronous as ``SQLiteStore`` sets them on its connection."""
    from consentry.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    try:
        conn = store._conn  # the store's own connection: its per-connection settings
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        store.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": str(mode), "synchronous": names.get(sync, str(sync))}

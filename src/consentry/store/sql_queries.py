"""Loads the named SQL of a dialect: ``sql/common.sql`` overlaid by ``sql/<dialect>/queries.sql``.

A file holds blocks that start with ``-- name: <name>``; a block may hold several statements,
separated by ``;`` at the end of a line. Files are read when a store opens, never at import.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def _parse(text: str) -> dict[str, list[str]]:
    parts = _NAME.split(text)
    out: dict[str, list[str]] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.splitlines() if not ln.lstrip().startswith("--")]
        statements = [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)]
        out[name] = [s for s in statements if s]
    return out


def load_queries(dialect: str, placeholder: str = "?") -> dict[str, list[str]]:
    """Named statements for ``dialect`` ("sqlite" or "postgres") with '?' placeholders rewritten
    to ``placeholder``."""
    root = resources.files("consentry.store") / "sql"
    queries = _parse((root / "common.sql").read_text("utf-8"))
    queries.update(_parse((root / dialect / "queries.sql").read_text("utf-8")))
    if placeholder != "?":
        queries = {k: [s.replace("?", placeholder) for s in v] for k, v in queries.items()}
    return queries


def migrations_path(dialect: str) -> str:
    return str(resources.files("consentry.store") / "sql" / dialect / "migrations")

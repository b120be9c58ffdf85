"""The SQL stores' admin API tokens (schema 3), mixed into SQLiteStore and PostgresStore.

Tokens are operational rows, not ledger leaves: adding, revoking and touching one writes no leaf,
so these writes take a plain transaction rather than the serialised append lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from consentry.domain.leaves import format_time, parse_time
from consentry.ports import ApiTokenRow


class SQLTokens:
    """Token methods; relies on SQLStore's plumbing (``_exec``, ``_one``, ``_all``, ``_write``)."""

    _exec: Callable[..., Any]
    _all: Callable[..., list[Any]]
    _one: Callable[..., Any]
    _write: Callable[..., Any]

    @staticmethod
    def _token(row: Sequence[Any]) -> ApiTokenRow:
        revoked = parse_time(row[4]) if row[4] is not None else None
        used = parse_time(row[5]) if row[5] is not None else None
        return ApiTokenRow(row[0], row[1], row[2], parse_time(row[3]), revoked, used)

    def add_api_token(self, row: ApiTokenRow) -> bool:
        params = (row.name, row.token_hash, row.scope, format_time(row.created_at))

        def work() -> bool:
            return int(self._exec("add_api_token", params).rowcount or 0) == 1

        added: bool = self._write(work, False)
        return added

    def api_token(self, name: str) -> ApiTokenRow | None:
        row = self._one("api_token", (name,))
        return self._token(row) if row else None

    def api_token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        row = self._one("api_token_by_hash", (token_hash,))
        return self._token(row) if row else None

    def api_tokens(self) -> list[ApiTokenRow]:
        return [self._token(r) for r in self._all("api_tokens")]

    def revoke_api_token(self, name: str, at: datetime) -> bool:
        def work() -> bool:
            return int(self._exec("revoke_api_token", (format_time(at), name)).rowcount or 0) == 1

        revoked: bool = self._write(work, False)
        return revoked

    def touch_api_token(self, name: str, at: datetime) -> None:
        self._write(lambda: self._exec("touch_api_token", (format_time(at), name)), False)

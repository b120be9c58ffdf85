"""The memory store's admin API tokens: the reference for the SQL ones (store/sql_tokens.py)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from consentry.ports import ApiTokenRow


class MemoryTokens:
    """Token rows in a dict by name, made on first use (so MemoryStore's ``__init__`` needs no
    change); guarded by the store's lock."""

    _lock: threading.Lock

    @property
    def _tokens(self) -> dict[str, ApiTokenRow]:
        found: dict[str, ApiTokenRow] = self.__dict__.setdefault("_api_tokens", {})
        return found

    def add_api_token(self, row: ApiTokenRow) -> bool:
        with self._lock:
            tokens = self._tokens
            if row.name in tokens or any(t.token_hash == row.token_hash for t in tokens.values()):
                return False
            tokens[row.name] = replace(row, revoked_at=None, last_used_at=None)
            return True

    def api_token(self, name: str) -> ApiTokenRow | None:
        return self._tokens.get(name)

    def api_token_by_hash(self, token_hash: str) -> ApiTokenRow | None:
        return next((t for t in self._tokens.values() if t.token_hash == token_hash), None)

    def api_tokens(self) -> list[ApiTokenRow]:
        return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.name))

    def revoke_api_token(self, name: str, at: datetime) -> bool:
        with self._lock:
            found = self._tokens.get(name)
            if found is None or found.revoked_at is not None:
                return False
            self._tokens[name] = replace(found, revoked_at=at)
            return True

    def touch_api_token(self, name: str, at: datetime) -> None:
        with self._lock:
            found = self._tokens.get(name)
            if found is not None:
                self._tokens[name] = replace(found, last_used_at=at)

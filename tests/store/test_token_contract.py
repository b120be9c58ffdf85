"""The Store contract for admin API tokens (schema 3): every backend (memory, SQLite, PostgreSQL)
must pass all of it. Tokens are operational rows: they never touch the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from consentry.ports import ApiTokenRow
from tests.support import builders as b

pytestmark = pytest.mark.timeout(120)
T0 = b.T0
HASH_A, HASH_B, HASH_C = "a" * 64, "b" * 64, "c" * 64


def test_a_token_is_stored_and_found_by_name_and_by_hash(store: Any) -> None:
    assert store.add_api_token(ApiTokenRow("crm", HASH_A, "write", T0)) is True
    row = store.api_token("crm")
    assert row == ApiTokenRow("crm", HASH_A, "write", T0, None, None)
    assert store.api_token_by_hash(HASH_A) == row
    assert store.api_token("other") is None and store.api_token_by_hash(HASH_B) is None


def test_names_and_hashes_are_unique_and_a_clash_writes_nothing(store: Any) -> None:
    assert store.add_api_token(ApiTokenRow("crm", HASH_A, "write", T0))
    assert store.add_api_token(ApiTokenRow("crm", HASH_B, "admin", T0)) is False
    assert store.add_api_token(ApiTokenRow("other", HASH_A, "read", T0)) is False
    assert [t.name for t in store.api_tokens()] == ["crm"]
    assert store.api_token("crm").scope == "write"  # type: ignore[union-attr]
    assert store.api_token_by_hash(HASH_B) is None


def test_tokens_are_listed_in_order_of_creation(store: Any) -> None:
    store.add_api_token(ApiTokenRow("zeta", HASH_A, "read", T0))
    store.add_api_token(ApiTokenRow("alpha", HASH_B, "admin", T0 + timedelta(seconds=1)))
    store.add_api_token(ApiTokenRow("beta", HASH_C, "write", T0 + timedelta(seconds=1)))
    assert [(t.name, t.scope) for t in store.api_tokens()] == [
        ("zeta", "read"), ("alpha", "admin"), ("beta", "write"),
    ]  # fmt: skip


def test_revocation_is_recorded_once_and_the_first_time_stays(store: Any) -> None:
    store.add_api_token(ApiTokenRow("crm", HASH_A, "write", T0))
    at = T0 + timedelta(hours=1)
    assert store.revoke_api_token("crm", at) is True
    assert store.revoke_api_token("crm", at + timedelta(hours=1)) is False
    assert store.revoke_api_token("nobody", at) is False
    assert store.api_token("crm").revoked_at == at  # type: ignore[union-attr]
    assert store.api_token_by_hash(HASH_A).revoked_at == at  # type: ignore[union-attr]


def test_last_use_is_recorded_and_tokens_write_no_leaf(store: Any) -> None:
    store.add_api_token(ApiTokenRow("crm", HASH_A, "read", T0))
    at = T0 + timedelta(minutes=5, microseconds=7)
    store.touch_api_token("crm", at)
    store.touch_api_token("nobody", at)  # no such token: nothing happens
    assert store.api_token("crm").last_used_at == at  # type: ignore[union-attr]
    assert store.api_token("nobody") is None
    assert store.size() == 0


def test_an_added_row_starts_unrevoked_and_unused(store: Any) -> None:
    row = ApiTokenRow("crm", HASH_A, "read", T0, revoked_at=T0, last_used_at=T0)
    assert store.add_api_token(row)
    stored = store.api_token("crm")
    assert stored.revoked_at is None and stored.last_used_at is None

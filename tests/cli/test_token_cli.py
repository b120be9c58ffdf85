"""``consentry token create | list | revoke``, run as a user runs them: the secret is printed once
and only its hash is stored; revoked tokens stop verifying at once."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from consentry.bootstrap import open_app
from consentry.cli import token_cmds
from consentry.cli.main import cli
from consentry.services import api_tokens
from consentry.settings import load_settings
from tests.cli.conftest import Runner

if "token" not in cli.commands:  # until cli/main.py registers the token commands itself
    token_cmds.register(cli)

TOKEN = re.compile(r"cst_[A-Za-z0-9_-]{43}")


def _verifies(home: Path, secret: str) -> str | None:
    """The name of the token this secret belongs to, as the API would see it."""
    app = open_app(load_settings({"CONSENTRY_HOME": str(home)}))
    try:
        row = api_tokens.verify_token(app.context, secret)
        return row.name if row else None
    finally:
        app.close()


def test_create_prints_the_token_once_with_a_warning_and_stores_only_its_hash(
    run: Runner, ready: str, home: Path
) -> None:
    made = run("token", "create", "crm", "--scope", "write")
    assert made.code == 0, made.err
    secret = made.out.strip()
    assert TOKEN.fullmatch(secret)
    assert "shown only once" in made.err and "crm" in made.err
    assert _verifies(home, secret) == "crm"
    stored = (home / "consentry.sqlite").read_bytes()
    for wal in home.glob("consentry.sqlite-wal"):
        stored += wal.read_bytes()
    assert secret.encode() not in stored
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored
    listed = run("token", "list")
    assert secret not in listed.out and "crm" in listed.out and "write" in listed.out


def test_create_as_json_gives_the_token_and_its_details(run: Runner, ready: str) -> None:
    made = run("token", "create", "auditor", "--scope", "read", "--json").json()
    assert made["name"] == "auditor" and made["scope"] == "read"
    assert TOKEN.fullmatch(made["token"]) and made["created_at"].endswith("Z")


def test_list_shows_scope_creation_last_use_and_revocation(
    run: Runner, ready: str, home: Path
) -> None:
    assert "no API tokens yet" in run("token", "list").out
    secret = run("token", "create", "crm", "--scope", "write").out.strip()
    run("token", "create", "ops", "--scope", "admin")
    _verifies(home, secret)
    rows = {r["name"]: r for r in run("token", "list", "--json").json()}
    assert set(rows) == {"crm", "ops"}
    assert rows["crm"]["scope"] == "write" and rows["ops"]["scope"] == "admin"
    assert rows["crm"]["last_used_at"] is not None and rows["ops"]["last_used_at"] is None
    assert rows["crm"]["revoked_at"] is None and "token" not in rows["crm"]
    table = run("token", "list").out
    assert "never" in table and "ops" in table


def test_revoke_stops_the_token_at_once_and_is_idempotent(
    run: Runner, ready: str, home: Path
) -> None:
    secret = run("token", "create", "crm", "--scope", "write").out.strip()
    revoked = run("token", "revoke", "crm")
    assert revoked.code == 0 and "revoked" in revoked.out
    assert _verifies(home, secret) is None
    again = run("token", "revoke", "crm")
    assert again.code == 0 and "revoked already" in again.out
    (row,) = run("token", "list", "--json").json()
    assert row["revoked_at"] is not None


def test_names_are_checked_and_never_reused(run: Runner, ready: str) -> None:
    run("token", "create", "crm", "--scope", "write")
    run("token", "revoke", "crm")
    reused = run("token", "create", "crm", "--scope", "read")
    assert reused.code == 3 and "exists already" in reused.err
    bad = run("token", "create", "Not OK", "--scope", "read")
    assert bad.code == 3 and "token name" in bad.err
    scope = run("token", "create", "x", "--scope", "root")
    assert scope.code == 2 and "--scope" in scope.err
    unknown = run("token", "revoke", "nobody")
    assert unknown.code == 52 and "nobody" in unknown.err
    assert [r["name"] for r in run("token", "list", "--json").json()] == ["crm"]

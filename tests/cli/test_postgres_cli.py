"""The same commands against PostgreSQL (--database), end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Runner

pytestmark = pytest.mark.postgres


def test_the_ledger_story_on_postgres(run: Runner, pg_url: str, notice_file: Path) -> None:
    db = ("--database", pg_url)
    assert run(*db, "init", "--controller", "Example Ltd").code == 0
    assert run(*db, "list", "create", "news").code == 0
    notice = run(*db, "notice", "publish", "--list", "news", str(notice_file)).out.strip()
    granted = run(
        *db, "consent", "grant", "Ann@Example.org", "--list", "news", "--basis", "consent",
        "--notice", notice, "--method", "web-form", "--source", "first-party",
        "--evidence", "ip=203.0.113.5", "--confirmed",
    )  # fmt: skip
    assert granted.code == 0, granted.err
    decision = run(*db, "check", "ann@example.org", "--list", "news", "--json")
    assert decision.code == 0 and decision.json()["allowed"] is True
    assert run(*db, "consent", "withdraw", "ann@example.org", "--channel", "web").code == 0
    assert run(*db, "check", "ann@example.org", "--list", "news").code == 5
    assert run(*db, "erase", "ann@example.org").code == 0
    assert run(*db, "subject", "show", "ann@example.org", "--json").json()["address"] is None
    report = run(*db, "ledger", "verify", "--json", "--projections", "--workers", "2")
    assert report.code == 0, report.out
    assert report.json()["tree_size"] == 7
    proof = run(*db, "ledger", "prove", "3", "--json").json()
    assert proof["tree_size"] == 7

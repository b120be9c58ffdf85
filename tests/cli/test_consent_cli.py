"""The consent commands end to end, as a user runs them."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.cli.conftest import Runner, grant


def test_init_makes_private_keys_and_refuses_twice(run: Runner, home: Path) -> None:
    result = run("init", "--controller", "Example Ltd", "--jurisdiction", "uk")
    assert result.code == 0, result.err
    keys = home / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (home / "consentry.sqlite").exists()
    again = run("init", "--controller", "Example Ltd")
    assert again.code == 20
    assert "already initialised" in again.err


def test_a_political_party_cannot_configure_a_soft_opt_in(run: Runner, home: Path) -> None:
    result = run(
        "init", "--controller", "A Party", "--organisation", "political-party",
        "--soft-opt-in", "uk_soft_optin_commercial", "--similar-product", "membership",
    )  # fmt: skip
    assert result.code == 16
    assert "political part" in result.err.lower()
    assert len(result.err.strip().splitlines()) == 1
    assert not home.exists()


def test_grant_check_withdraw_erase(run: Runner, ready: str) -> None:
    assert grant(run, ready, "Alice@Example.ORG", "--confirmed").code == 0
    allowed = run("check", "alice@example.org", "--list", "news", "--json")
    assert allowed.code == 0, allowed.err
    decision = allowed.json()
    assert decision["allowed"] is True
    assert decision["reason"] == "consent-given"
    assert decision["basis"] == "consent"
    assert decision["justifying"]["index"] == 4  # org, list, notice, grant, confirmation
    proof = run("ledger", "prove", "4", "--json").json()
    assert proof["leaf_hash"] == decision["justifying"]["hash"]

    assert run("consent", "withdraw", "alice@example.org", "--channel", "web").code == 0
    denied = run("check", "ALICE@example.org", "--list", "news", "--json")
    assert denied.code == 5
    assert denied.json()["reason"] == "suppressed-withdrawal"

    assert run("erase", "alice@example.org").code == 0
    shown = run("subject", "show", "alice@example.org", "--json").json()
    assert shown["address"] is None
    assert all("evidence" not in e or e["evidence"] is None for e in shown["events"])
    assert run("check", "alice@example.org", "--list", "news").code == 5
    assert run("ledger", "verify").code == 0


def test_unknown_address_is_denied_not_an_error(run: Runner, ready: str) -> None:
    result = run("check", "nobody@example.org", "--list", "news", "--json")
    assert result.code == 5
    assert result.json()["reason"] == "unknown-subject"
    assert result.json()["justifying"] is None


def test_subject_show_lists_history_with_notice_and_evidence(run: Runner, ready: str) -> None:
    grant(run, ready, "bob@example.org")
    run("suppress", "bob@example.org", "--reason", "complaint")
    history = run("subject", "show", "bob@example.org", "--json").json()
    assert history["address"] == "bob@example.org"
    kinds = [e["kind"] for e in history["events"]]
    assert kinds == ["consent-given", "suppressed"]
    assert "Unsubscribe any time" in history["events"][0]["notice_text"]
    assert "203.0.113.5" in history["events"][0]["evidence"]
    table = run("subject", "show", "bob@example.org")
    assert "consent-given" in table.out and "complaint" in table.out


def test_confirm_after_an_unconfirmed_grant(run: Runner, ready: str) -> None:
    grant(run, ready, "carol@example.org")
    assert run("consent", "confirm", "carol@example.org", "--list", "news").code == 0
    again = run("consent", "confirm", "carol@example.org", "--list", "news")
    assert again.code == 19


def test_bad_input_gets_one_line_and_a_distinct_exit_code(
    run: Runner, ready: str, home: Path
) -> None:
    size_before = run("ledger", "verify", "--json").json()["tree_size"]
    cases = [
        (grant(run, ready, "not-an-address"), 10, "'@'"),
        (grant(run, ready, "a@b.example\r\nBcc: x@y.example"), 10, "control character"),
        (run("consent", "grant", "x@example.org", "--list", "nope", "--basis", "consent",
             "--notice", ready, "--method", "m", "--source", "first-party", "--evidence", "a=b"),
         11, "unknown list 'nope'"),
        (run("consent", "grant", "x@example.org", "--list", "news", "--basis", "consent",
             "--notice", "0" * 64, "--method", "m", "--source", "first-party",
             "--evidence", "a=b"), 12, "was not published"),
        (run("consent", "grant", "x@example.org", "--list", "news", "--basis", "consent",
             "--notice", ready, "--method", "m", "--source", "first-party"), 13, "evidence"),
        (grant(run, ready, "x@example.org", "--basis", "us_optout"), 14, "us_optout"),
    ]  # fmt: skip
    for result, code, text in cases:
        assert result.code == code, (result.err, code)
        assert text in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert run("ledger", "verify", "--json").json()["tree_size"] == size_before


def test_a_corrupt_database_is_named(run: Runner, ready: str, home: Path) -> None:
    db = home / "consentry.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"garbage" * 100)
    result = run("check", "a@example.org", "--list", "news")
    assert result.code == 31
    assert "consentry.sqlite is not a consentry database" in result.err


def test_not_initialised_says_so(run: Runner) -> None:
    result = run("check", "a@example.org", "--list", "news")
    assert result.code == 20
    assert "consentry init" in result.err


def test_unreadable_and_unwritable_files_are_named(run: Runner, ready: str, tmp_path: Path) -> None:
    missing = run("notice", "publish", "--list", "news", str(tmp_path / "nope.txt"))
    assert missing.code == 3 and "nope.txt: no such file" in missing.err
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café".encode("latin-1"))
    bad = run("notice", "publish", "--list", "news", str(latin))
    assert bad.code == 3 and "not UTF-8" in bad.err
    nowhere = run("ledger", "export", str(tmp_path / "no-such-dir" / "x.jsonl"))
    assert nowhere.code == 3 and "cannot write the export" in nowhere.err
    assert len(nowhere.err.strip().splitlines()) == 1

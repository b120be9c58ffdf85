"""``consentry signup enable | send | snippet`` as a user runs them, against a real SMTP server on
loopback: confirmations queued by signups leave through the dispatcher, DKIM-signed when the
domain has keys."""

from __future__ import annotations

from pathlib import Path

import dkim

from consentry.bootstrap import open_app
from consentry.services import signup
from consentry.settings import load_settings
from tests.cli.conftest import Runner
from tests.support.smtp_server import RecordingSMTPServer

BASE = "https://consent.example.com"


def _sign_up(home: Path, *emails: str) -> None:
    app = open_app(load_settings({"CONSENTRY_HOME": str(home)}))
    try:
        notice = signup.signup_form(app.context, "news").notice
        for email in emails:
            signup.sign_up(app.context, "news", email, notice, {"ip": "198.51.100.1"})
    finally:
        app.close()


def test_enable_then_send_the_queued_confirmations_signed(
    run: Runner, ready: str, home: Path, tmp_path: Path
) -> None:
    assert run("dkim", "keygen", "--domain", "example.com", "--selector", "s1").code == 0
    enabled = run("signup", "enable", "news", "--from", "news@example.com", "--json")
    assert enabled.code == 0, enabled.err
    assert enabled.json() == {"list": "news", "campaign": "confirm-news", "form": "/s/news"}
    _sign_up(home, "ann@example.org", "bob@example.org")
    with RecordingSMTPServer() as smtp:
        sent = run("signup", "send", "--smtp", smtp.url, "--base-url", BASE, "--json")
        assert sent.code == 0, sent.err
        assert sent.json()["confirm-news"]["sent"] == 2
        messages = smtp.wait_for(2)
    records = {}
    for line in run("dkim", "show", "--json").json():
        records[(line["name"].rstrip(".") + ".").encode()] = line["value"].encode()
    for message in messages:
        assert b"/c/news/" in message.data.replace(b"=\r\n", b"")
        assert dkim.verify(message.data, dnsfunc=lambda name, timeout=5: records.get(name))
    again = run("signup", "send", "--smtp", "smtp://127.0.0.1:9", "--base-url", BASE)
    assert again.code == 0 and "no confirmations queued" in again.out


def test_refusals_name_the_problem(run: Runner, ready: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Hello {{ email }}, no link here\n")
    refused = run("signup", "enable", "news", "--from", "news@example.com", "--text", str(bad))
    assert refused.code != 0 and "confirm_url" in refused.err
    assert run("signup", "enable", "nolist", "--from", "news@example.com").code != 0
    assert "no mail server" in run("signup", "send").err
    assert run("signup", "snippet", "news").code != 0  # not enabled yet


def test_the_snippet_carries_the_current_notice_and_its_hash(run: Runner, ready: str) -> None:
    assert run("signup", "enable", "news", "--from", "news@example.com").code == 0
    snippet = run("signup", "snippet", "news", "--base-url", BASE)
    assert snippet.code == 0
    assert f'value="{ready}"' in snippet.out
    assert "Yes, email me the newsletter." in snippet.out
    assert f'action="{BASE}/s/news"' in snippet.out and "<iframe" in snippet.out

"""The campaign commands end to end, as a user runs them: a real SMTP server on loopback, DKIM
keys made by the CLI, and every received message checked with dkimpy and the header linter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from consentry.bootstrap import local_sink
from consentry.domain.message import lint_headers
from tests.cli.conftest import Runner, grant
from tests.support.smtp_server import RecordingSMTPServer

BASE = "https://consent.example.com"


@pytest.fixture
def templates(tmp_path: Path) -> tuple[Path, Path]:
    text = tmp_path / "spring.txt"
    text.write_text("Hello {{ email }},\n\nSpring is here. News from {{ sender.name }}.\n")
    html = tmp_path / "spring.html"
    html.write_text("<html><body><p>Hello {{ email }}</p><p>Spring is here.</p></body></html>")
    return text, html


def _create(run: Runner, templates: tuple[Path, Path], *extra: str) -> object:
    return run(
        "campaign",
        "create",
        "spring",
        "--list",
        "news",
        "--subject",
        "Spring news",
        "--text",
        str(templates[0]),
        "--html",
        str(templates[1]),
        "--from",
        "news@example.com",
        "--reply-to",
        "help@example.com",
        *extra,
    )


def _dns(run: Runner) -> dict[bytes, bytes]:
    shown = run("dkim", "show", "--json")
    assert shown.code == 0, shown.err
    records = {}
    for key in shown.json():
        records[(key["name"].rstrip(".") + ".").encode()] = key["value"].encode()
    return records


def test_create_preflight_send_with_dual_dkim_and_status(
    run: Runner, ready: str, templates: tuple[Path, Path]
) -> None:
    for n in range(6):
        assert grant(run, ready, f"person{n}@example.org").code == 0
    assert grant(run, ready, "bounce@example.org").code == 0
    assert run("consent", "withdraw", "person5@example.org", "--channel", "web").code == 0
    for algorithm in ("rsa-sha256", "ed25519-sha256"):
        made = run(
            "dkim",
            "keygen",
            "--domain",
            "example.com",
            "--selector",
            algorithm[:3],
            "--algorithm",
            algorithm,
        )
        assert made.code == 0, made.err
        assert "_domainkey.example.com" in made.out
    created = _create(run, templates)
    assert created.code == 0, created.err  # type: ignore[attr-defined]

    report = run("campaign", "preflight", "spring", "--json")
    assert report.code == 0, report.err
    body = report.json()
    assert (body["allowed"], body["denied"]) == (6, 1)
    assert body["by_reason"] == {"suppressed-withdrawal": 1}
    assert body["allowed_without_justifying_record"] == 0

    script = {"bounce@example.org": (550, "5.1.1 no such user")}
    with RecordingSMTPServer(script=script) as server:
        sent = run("campaign", "send", "spring", "--smtp", server.url, "--base-url", BASE, "--json")
        assert sent.code == 0, sent.err
        received = server.wait_for(5)
    summary = sent.json()
    assert summary["dkim"] is True
    assert sent.settled  # a send settles its heap before it starts (consentry.heap)
    assert not status_settled(run)
    status = run("campaign", "status", "spring", "--json").json()
    assert {k: status[k] for k in ("queued", "sent", "denied", "failed", "uncertain")} == {
        "queued": 0,
        "sent": 5,
        "denied": 1,
        "failed": 1,
        "uncertain": 0,
    }
    assert all(isinstance(status[k], int) for k in ("queued", "sent", "denied", "failed"))
    records = _dns(run)
    for message in received:
        assert lint_headers(message.data) == []
        signatures = dkim.DKIM(message.data)
        assert signatures.verify(idx=0, dnsfunc=lambda name, timeout=5: records[name])
        assert signatures.verify(idx=1, dnsfunc=lambda name, timeout=5: records[name])
        assert b"a=rsa-sha256" in message.data and b"a=ed25519-sha256" in message.data
    assert {r for m in received for r in m.rcpt_tos} == {f"person{n}@example.org" for n in range(5)}
    bounced = run("check", "bounce@example.org", "--list", "news", "--json")
    assert bounced.code == 5 and bounced.json()["reason"] == "suppressed-hard-bounce"
    again = run("campaign", "send", "spring", "--smtp", "smtp://127.0.0.1:9", "--base-url", BASE)
    assert again.code == 47 and "done" in again.err
    assert run("ledger", "verify").code == 0


def test_bad_templates_identity_and_headers_are_refused_by_name(
    run: Runner, ready: str, templates: tuple[Path, Path], tmp_path: Path
) -> None:
    unknown = tmp_path / "bad.txt"
    unknown.write_text("Hello {{ first_name }}\n")
    result = run(
        "campaign",
        "create",
        "x",
        "--list",
        "news",
        "--subject",
        "S",
        "--text",
        str(unknown),
        "--from",
        "news@example.com",
    )
    assert result.code == 43 and "first_name" in result.err and "text" in result.err
    result = _create(run, templates, "--jurisdiction", "us")
    assert result.code == 45 and "postal" in result.err.lower()  # type: ignore[attr-defined]
    result = run(
        "campaign",
        "create",
        "y",
        "--list",
        "news",
        "--subject",
        "Hi\r\nBcc: x@evil",
        "--text",
        str(templates[0]),
        "--from",
        "news@example.com",
    )
    assert result.code == 44
    promo = tmp_path / "promo.txt"
    promo.write_text("Your order shipped. Also: 20% off everything in our sale!\n")
    result = run(
        "campaign",
        "create",
        "z",
        "--list",
        "news",
        "--subject",
        "Your order",
        "--text",
        str(promo),
        "--from",
        "news@example.com",
        "--class",
        "service",
    )
    assert result.code == 43 and "R16" in result.err
    assert run("campaign", "list", "--json").json() == []


@pytest.fixture
def sink_url() -> Iterator[str]:
    with local_sink() as sink:
        yield sink.url


def test_send_needs_a_server_an_https_base_and_two_approvals_above_the_threshold(
    run: Runner,
    ready: str,
    templates: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    sink_url: str,
) -> None:
    for n in range(3):
        assert grant(run, ready, f"p{n}@example.org").code == 0
    assert _create(run, templates).code == 0  # type: ignore[attr-defined]
    monkeypatch.delenv("CONSENTRY_SMTP_URL", raising=False)
    assert run("campaign", "send", "spring", "--base-url", BASE).code == 3
    no_https = run(
        "campaign",
        "send",
        "spring",
        "--smtp",
        sink_url,
        "--base-url",
        "http://consent.example.com",
    )
    assert no_https.code == 3 and "HTTPS" in no_https.err
    monkeypatch.setenv("CONSENTRY_APPROVAL_THRESHOLD", "2")
    blocked = run("campaign", "send", "spring", "--smtp", sink_url, "--base-url", BASE)
    assert blocked.code == 48 and "two different people" in blocked.err
    digest = run("campaign", "preflight", "spring", "--json").json()["report_hash"]
    assert run("campaign", "approve", "spring", "--actor", "alice", "--report", digest).code == 0
    assert run("campaign", "approve", "spring", "--actor", "bob", "--report", digest).code == 0
    halted = run("dispatch", "halt", "--reason", "incident 42")
    assert halted.code == 0
    refused = run("campaign", "send", "spring", "--smtp", sink_url, "--base-url", BASE)
    assert refused.code == 51 and "incident 42" in refused.err
    assert run("dispatch", "release").code == 0
    done = run("campaign", "send", "spring", "--smtp", sink_url, "--base-url", BASE, "--json")
    assert done.code == 0, done.err
    assert json.loads(done.out)["status"]["sent"] == 3
    assert run("campaign", "pause", "spring").code == 47


def status_settled(run: Runner) -> bool:
    """Whether a short command (``campaign status``) settles its heap: it need not."""
    return run("campaign", "status", "spring", "--json").settled

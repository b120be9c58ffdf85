"""RFC 8058 one-click unsubscribe at the URL the dispatcher put in the message (R17-R19): POST
unsubscribes durably, GET never does, tampered tokens get a 404 that reveals nothing, repeats
write nothing, no redirects; one test against a real uvicorn server on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from consentry.bootstrap import App, SystemClock
from consentry.domain.leaves import decode_leaf
from consentry.mail.outbox import Outbox
from consentry.services import campaigns, gate
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_campaign
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from consentry.web.app import create_app
from tests.support.audience import campaign_spec, grant_all, organised

BASE = "https://consent.example.com"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    db = path / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), path, SystemClock(), partial(SQLiteStore, db))
    grant_all(ctx, ["ann@example.org", "bob@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    ctx.store.close()
    return path


def _urls(home: Path) -> dict[str, str]:
    """Send the campaign to an outbox and read each message's List-Unsubscribe HTTPS URL."""
    from consentry.bootstrap import open_app

    app = open_app(load_settings({"CONSENTRY_HOME": str(home)}))
    outbox = Outbox()
    try:
        send_campaign(app.context, "spring", outbox, BASE, options=DispatchOptions(batch=10))
    finally:
        app.close()
    urls = {}
    for env in outbox.delivered:
        header = env.data.decode().split("List-Unsubscribe: <", 1)[1]
        urls[env.recipient] = header.split(">", 1)[0].removeprefix(BASE)
    return urls


@pytest.fixture
def client(home: Path) -> Iterator[tuple[TestClient, dict[str, str], Context]]:
    from consentry.bootstrap import open_app

    urls = _urls(home)
    opened: list[App] = []

    def factory() -> App:
        opened.append(open_app(load_settings({"CONSENTRY_HOME": str(home)})))
        return opened[0]

    with TestClient(create_app(factory), follow_redirects=False) as test_client:
        yield test_client, urls, opened[0].context


def _leaves(ctx: Context, kind: str) -> list[Any]:
    return [x for s in ctx.store.iter_leaves() if (x := decode_leaf(s.raw)).kind == kind]


def test_a_one_click_post_unsubscribes_durably_with_evidence_and_repeats_write_nothing(
    client: tuple[TestClient, dict[str, str], Context],
) -> None:
    http, urls, ctx = client
    url = urls["ann@example.org"]
    answer = http.post(url, data={"List-Unsubscribe": "One-Click"},
                       headers={"User-Agent": "Gmail one-click"})  # fmt: skip
    assert answer.status_code == 200 and "unsubscribed" in answer.text
    (withdrawal,) = _leaves(ctx, "consent-withdrawn")
    assert withdrawal.fields["list"] == "news" and withdrawal.fields["method"] == "one-click"
    blob = ctx.store.evidence(withdrawal.fields["subject"], withdrawal.fields["evidence"])
    assert blob is not None and b"Gmail one-click" in blob.blob
    assert gate.check_send(ctx, "ann@example.org", "news").reason == "suppressed-withdrawal"
    assert gate.check_send(ctx, "bob@example.org", "news").allowed
    again = http.post(url, files={"List-Unsubscribe": (None, "One-Click")})  # multipart
    assert again.status_code == 200 and "Already unsubscribed" in again.text
    assert len(_leaves(ctx, "consent-withdrawn")) == 1


def test_a_get_never_unsubscribes_and_offers_one_button(
    client: tuple[TestClient, dict[str, str], Context],
) -> None:
    http, urls, ctx = client
    page = http.get(urls["bob@example.org"])
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert page.text.count("<button") == 1
    assert _leaves(ctx, "consent-withdrawn") == []
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1], lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
    lambda t: "nokey." + t.partition(".")[2], lambda t: "", lambda t: t + "x",
    lambda t: "<script>alert(1)</script>",
])  # fmt: skip
def test_forged_or_tampered_tokens_and_other_lists_get_the_same_plain_404(
    client: tuple[TestClient, dict[str, str], Context], mangle: Any
) -> None:
    http, urls, ctx = client
    url = urls["bob@example.org"]
    prefix, _, token = url.rpartition("/")
    for bad in (f"{prefix}/{mangle(token)}", url.replace("/u/news/", "/u/other/")):
        for answer in (http.get(bad), http.post(bad, data={"List-Unsubscribe": "One-Click"})):
            assert answer.status_code == 404, bad
            assert "not valid" in answer.text and "script" not in answer.text
    assert _leaves(ctx, "consent-withdrawn") == []


def test_no_redirects_wrong_bodies_and_oversized_requests(
    client: tuple[TestClient, dict[str, str], Context],
) -> None:
    http, urls, ctx = client
    url = urls["bob@example.org"]
    assert http.post(url, data={"List-Unsubscribe": "yes"}).status_code == 400
    assert http.post(url).status_code == 400
    huge = http.post(url, content=b"List-Unsubscribe=One-Click&x=" + b"a" * 20_000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert huge.status_code == 413
    assert _leaves(ctx, "consent-withdrawn") == []
    for answer in (http.get(url), http.post(url, data={"List-Unsubscribe": "One-Click"})):
        assert not 300 <= answer.status_code < 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_consentry_serve_answers_a_real_one_click_post(home: Path) -> None:
    urls = _urls(home)
    port = _free_port()
    env = {"CONSENTRY_HOME": str(home), "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen(
        [sys.executable, "-m", "consentry.cli.main", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # poll until the server answers (no fixed sleep)
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
        answer = httpx.post(f"{base}{urls['bob@example.org']}",
                            data={"List-Unsubscribe": "One-Click"}, timeout=10)  # fmt: skip
        assert answer.status_code == 200 and "unsubscribed" in answer.text
        assert "server" not in answer.headers
    finally:
        server.terminate()
        server.communicate(timeout=20)
    from consentry.bootstrap import open_app

    app = open_app(load_settings({"CONSENTRY_HOME": str(home)}))
    try:
        decision = gate.check_send(app.context, "bob@example.org", "news")
    finally:
        app.close()
    assert decision.reason == "suppressed-withdrawal"

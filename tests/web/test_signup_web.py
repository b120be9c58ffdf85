"""Signup with double opt-in over HTTP: the form shows the notice; a POST records the request and
the confirmation email goes out through the dispatcher to a real SMTP server; the link's GET
shows a button, its POST confirms; the receipt downloads; bots get the same page and nothing is
recorded; a flood from one IP gets 429; the answer never says whether an address was known."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consentry.bootstrap import App, SystemClock, open_app
from consentry.domain.leaves import decode_leaf
from consentry.services import gate, signup
from consentry.services.context import Context
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from consentry.web.app import create_app
from consentry.web.confirmation_mailer import ConfirmationMailer
from consentry.web.rate_limit import RateLimiter
from tests.support.audience import LIST, grant_all, notice, organised
from tests.support.smtp_server import RecordingSMTPServer

BASE = "https://consent.example.com"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    db = path / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), path, SystemClock(), partial(SQLiteStore, db))
    notice(ctx)
    signup.enable_signup(ctx, LIST, "news@example.com", "test", reply_to="help@example.com")
    grant_all(ctx, ["known@example.org"])
    ctx.store.close()
    return path


Client = tuple[TestClient, Context, RecordingSMTPServer]


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with RecordingSMTPServer() as smtp:
        settings = load_settings({
            "CONSENTRY_HOME": str(home), "CONSENTRY_SMTP_URL": smtp.url,
            "CONSENTRY_BASE_URL": BASE,
        })  # fmt: skip
        opened: list[App] = []

        def factory() -> App:
            opened.append(open_app(settings))
            return opened[0]

        mailer = ConfirmationMailer(settings, interval=3600)
        app = create_app(factory, mailer, RateLimiter(per_minute=5, burst=5))
        with TestClient(app, follow_redirects=False) as http:
            yield http, opened[0].context, smtp


def _form(http: TestClient) -> dict[str, str]:
    page = http.get(f"/s/{LIST}?source=https://example.com/join")
    assert page.status_code == 200
    notice_hash = re.search(r'name=notice value="([0-9a-f]{64})"', page.text)
    assert notice_hash
    return {"notice": notice_hash.group(1), "source": "https://example.com/join"}


def _leaves(ctx: Context, kind: str) -> list[Any]:
    return [x for s in ctx.store.iter_leaves() if (x := decode_leaf(s.raw)).kind == kind]


def _confirm_path(data: bytes) -> str:
    text = data.decode().replace("=\r\n", "")
    match = re.search(rf"{re.escape(BASE)}(/c/{LIST}/[A-Za-z0-9_.-]+)", text)
    assert match
    return match.group(1)


def test_the_form_shows_the_notice_with_a_labelled_field_and_a_hidden_honeypot(
    client: Client,
) -> None:
    http, _, _ = client
    page = http.get(f"/s/{LIST}")
    assert "Email me the monthly news." in page.text
    assert '<label for="email">' in page.text and 'id="email"' in page.text
    assert "class=hp aria-hidden=true" in page.text and "tabindex=-1" in page.text
    assert page.headers["content-security-policy"] == "frame-ancestors *"  # embeddable
    assert http.get("/s/nolist").status_code == 404


def test_signup_then_confirm_end_to_end(client: Client) -> None:
    http, ctx, smtp = client
    answer = http.post(f"/s/{LIST}", data={**_form(http), "email": "new@example.org"},
                       headers={"User-Agent": "Browser/1.0"})  # fmt: skip
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    (requested,) = _leaves(ctx, "consent-requested")
    blob = ctx.store.evidence(requested.fields["subject"], requested.fields["evidence"])
    assert blob is not None
    assert b"https://example.com/join" in blob.blob and b"Browser/1.0" in blob.blob
    (message,) = smtp.wait_for(1)
    assert message.rcpt_tos == ["new@example.org"]
    path = _confirm_path(message.data)
    page = http.get(path)
    assert "Confirm subscription" in page.text and page.text.count("<button") == 1
    assert _leaves(ctx, "consent-confirmed") == []  # the GET did not confirm
    assert page.headers["x-frame-options"] == "DENY"
    done = http.post(path)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert len(_leaves(ctx, "consent-confirmed")) == 1
    assert gate.check_send(ctx, "new@example.org", LIST).allowed
    receipt_path = re.search(r'href="(/r/[^"]+)"', done.text)
    assert receipt_path
    receipt = http.get(receipt_path.group(1))
    assert receipt.headers["content-disposition"].startswith("attachment;")
    assert receipt.json()["piiPrincipalId"] == "new@example.org"


def test_the_answer_never_reveals_whether_an_address_was_known(client: Client) -> None:
    http, ctx, smtp = client
    form = _form(http)
    known = http.post(f"/s/{LIST}", data={**form, "email": "known@example.org"})
    new = http.post(f"/s/{LIST}", data={**form, "email": "other@example.org"})
    assert known.status_code == new.status_code == 200
    assert known.text.replace("known@", "X@") == new.text.replace("other@", "X@")
    assert len(_leaves(ctx, "consent-requested")) == 1  # the subscriber got nothing new
    smtp.wait_for(1)


def test_a_filled_honeypot_records_nothing_and_looks_the_same(client: Client) -> None:
    http, ctx, _ = client
    bot = http.post(f"/s/{LIST}", data={**_form(http), "email": "bot@example.org",
                                        "website": "http://spam"})  # fmt: skip
    assert bot.status_code == 200 and "Check your inbox" in bot.text
    assert _leaves(ctx, "consent-requested") == []


def test_bad_input_is_answered_on_the_form_and_escaped(client: Client) -> None:
    http, ctx, _ = client
    form = _form(http)
    bad = http.post(f"/s/{LIST}", data={**form, "email": '<script>x</script>"@'})
    assert bad.status_code == 400 and "Enter a valid email address" in bad.text
    assert "<script>x" not in bad.text and "&lt;script&gt;" in bad.text
    stale = http.post(f"/s/{LIST}", data={**form, "notice": "0" * 64, "email": "a@example.org"})
    assert stale.status_code == 400 and "has changed" in stale.text
    assert _leaves(ctx, "consent-requested") == []


def test_a_flood_from_one_address_is_limited(client: Client) -> None:
    http, _, _ = client
    form = _form(http)
    codes = [
        http.post(f"/s/{LIST}", data={**form, "email": f"p{i}@example.org"}).status_code
        for i in range(7)
    ]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]


def test_forged_confirmation_links_are_not_found(client: Client) -> None:
    http, ctx, _ = client
    for path in (f"/c/{LIST}/t1.abc", f"/c/{LIST}/" + "A" * 71, f"/r/{LIST}/x", "/c/nolist/x"):
        assert http.get(path).status_code == 404
        assert http.post(path).status_code in (404, 405)
    assert _leaves(ctx, "consent-confirmed") == []

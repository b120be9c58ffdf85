"""Signup then confirm, in headless Chromium, as a person does it: fill the form on /s/news
with the keyboard, read the confirmation email the server sent through the dispatcher to a real
SMTP server, open its link, press Confirm; the ledger has the request and the confirmation.
The signup and confirmation pages pass the phone, label and contrast checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from consentry.bootstrap import SystemClock, open_app
from consentry.services import gate, signup, subjects
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from tests.support.audience import LIST, notice, organised
from tests.support.browser import (
    MIN_TEXT_CONTRAST,
    PHONE,
    horizontal_overflow,
    screenshot,
    text_contrasts,
    unlabelled_controls,
)
from tests.support.live_server import LiveServer, live_server
from tests.support.smtp_server import RecordingSMTPServer
from tests.web.test_browser import _page, browser  # noqa: F401  (the module's browser fixture)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BASE = "https://consent.example.com"
PERSON = "Priya.Sharma@Example.org"


@dataclass(frozen=True)
class SignupSite:
    server: LiveServer
    home: Path
    smtp: RecordingSMTPServer


def _prepare(home: Path) -> None:
    db = home / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), home, SystemClock(), partial(SQLiteStore, db))
    try:
        notice(ctx)
        signup.enable_signup(ctx, LIST, "news@example.com", "test", reply_to="help@example.com")
    finally:
        ctx.store.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignupSite]:
    home = tmp_path_factory.mktemp("signup") / "home"
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        pool.submit(_prepare, home).result()
    with RecordingSMTPServer() as smtp:
        env = {"CONSENTRY_SMTP_URL": smtp.url, "CONSENTRY_BASE_URL": BASE}
        with live_server(home, env=env) as server:
            yield SignupSite(server, home, smtp)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    yield from _page(browser, {"width": 1280, "height": 800})


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:  # noqa: F811
    yield from _page(browser, PHONE, mobile=True)


def _kinds(site: SignupSite) -> list[str]:
    app = open_app(load_settings({"CONSENTRY_HOME": str(site.home)}))
    try:
        return [e["kind"] for e in subjects.subject_history(app.context, PERSON)["events"]]
    finally:
        app.close()


def _allowed(site: SignupSite) -> bool:
    app = open_app(load_settings({"CONSENTRY_HOME": str(site.home)}))
    try:
        return gate.check_send(app.context, PERSON, LIST).allowed
    finally:
        app.close()


def test_signup_then_confirm_by_keyboard_and_link(site: SignupSite, page: Page) -> None:
    from playwright.sync_api import expect

    page.goto(site.server.url(f"/s/{LIST}?source=https://example.com/join"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Subscribe to Monthly news")
    expect(page.locator(".notice")).to_contain_text("Email me the monthly news.")
    screenshot(page, "signup-1-form")
    page.keyboard.press("Tab")  # the first focusable control is the email field
    page.keyboard.type(PERSON)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    screenshot(page, "signup-2-check-inbox")
    assert _kinds(site)[0] == "consent-requested"
    assert not _allowed(site)

    (message,) = site.smtp.wait_for(1, timeout=30)
    assert message.rcpt_tos == [PERSON.lower()] or message.rcpt_tos == [PERSON]
    text = message.data.decode().replace("=\r\n", "")
    link = re.search(rf"{re.escape(BASE)}(/c/{LIST}/[A-Za-z0-9_.-]+)", text)
    assert link, "no confirmation link in the email"
    page.goto(site.server.url(link.group(1)))
    expect(page.get_by_role("button")).to_have_count(1)
    screenshot(page, "signup-3-confirm-page")
    assert "consent-confirmed" not in _kinds(site)  # opening the link confirms nothing
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Confirm subscription").click()
    assert answer.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed to Monthly news")
    expect(page.get_by_role("link", name="Download your consent receipt")).to_be_visible()
    screenshot(page, "signup-4-confirmed")
    assert _kinds(site)[-1] == "consent-confirmed"  # durable before the answer
    assert _allowed(site)


@pytest.mark.parametrize("path", [f"/s/{LIST}", f"/s/{LIST}?source=x"])
def test_the_signup_page_fits_a_phone_is_labelled_and_readable(
    site: SignupSite, phone: Page, path: str
) -> None:
    phone.goto(site.server.url(path))
    found = horizontal_overflow(phone)
    screenshot(phone, "phone-signup")
    assert found["scroll"] <= found["viewport"] and found["sticking_out"] == [], found
    assert unlabelled_controls(phone) == []
    low = [c for c in text_contrasts(phone) if c.ratio < MIN_TEXT_CONTRAST]
    assert low == [], low

"""The web pages in headless Chromium, as a person uses them, against a real ``consentry serve``
on a free port: the one-click confirmation page (one button, a click unsubscribes, the ledger
shows it), the preference centre (labelled lists, keyboard only, unsubscribe from everything),
and on every page: no horizontal overflow on a 390x844 phone, an accessible name on every
control, text contrast of at least 4.5:1 from the computed styles. Screenshots go to
``$CONSENTRY_TEST_ARTIFACTS/browser/`` (default ``<repo>/test-artifacts/browser/``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from consentry.bootstrap import SystemClock, open_app
from consentry.mail.outbox import Outbox
from consentry.services import campaigns, consent, gate, subjects
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_campaign
from consentry.services.unsubscribe import unsubscribe_by_token
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from tests.support.audience import campaign_spec, grant_all, organised
from tests.support.browser import (
    DESKTOP,
    MIN_TEXT_CONTRAST,
    PHONE,
    horizontal_overflow,
    require_chromium,
    screenshot,
    tab_until,
    text_contrasts,
    unlabelled_controls,
)
from tests.support.live_server import LiveServer, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BASE = "https://consent.example.com"
PEOPLE = ("ann", "bob", "cat", "dan", "eve")
EXTRA_LISTS = {
    "events": "Events near you",
    "partners": "Offers from our partners in the wider Example group of companies",
}
NEWS = "Monthly news"


def email(name: str) -> str:
    return f"{name}@example.org"


@dataclass(frozen=True)
class Site:
    """A running server on a prepared home, and each person's List-Unsubscribe path."""

    server: LiveServer
    home: Path
    paths: dict[str, str]  # name -> /u/news/<token>, from the message they were sent

    def one_click(self, name: str) -> str:
        return self.server.url(self.paths[name])

    def preferences(self, name: str) -> str:
        return self.server.url(self.paths[name].replace("/u/", "/p/", 1))


def _prepare(home: Path) -> dict[str, str]:
    """Everyone on news (and on the extra lists), a campaign sent to an outbox, and each
    message's List-Unsubscribe path; eve then unsubscribes from news with one click."""
    db = home / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), home, SystemClock(), partial(SQLiteStore, db))
    try:
        grant_all(ctx, [email(n) for n in PEOPLE])
        for list_id, purpose in EXTRA_LISTS.items():
            consent.create_list(ctx, list_id, purpose, "test")
            notice = consent.publish_notice(ctx, list_id, f"Tell me about {purpose}.", "test")
            for name in PEOPLE:
                consent.grant_consent(ctx, consent.Grant(
                    email=email(name), list_id=list_id, basis="consent", notice=notice.notice,
                    method="web-form", source="first-party", evidence={"ip": "203.0.113.2"},
                    actor="test",
                ))  # fmt: skip
        campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
        outbox = Outbox()
        send_campaign(ctx, "spring", outbox, BASE, options=DispatchOptions(batch=10))
        paths = {}
        for env in outbox.delivered:
            header = env.data.decode().split("List-Unsubscribe: <", 1)[1]
            paths[env.recipient.split("@")[0]] = header.split(">", 1)[0].removeprefix(BASE)
        token = paths["eve"].rpartition("/")[2]
        unsubscribe_by_token(ctx, "news", token, {"ip": "203.0.113.3"}, "one-click")
    finally:
        ctx.store.close()
    return paths


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("browser") / "home"
    # Playwright's sync API keeps an event loop running in this thread; the dispatcher needs its
    # own, so the site is prepared in another thread.
    with ThreadPoolExecutor(1) as pool:
        paths = pool.submit(_prepare, home).result()
    with live_server(home) as server:
        yield Site(server, home, paths)


def _page(browser: Browser, viewport: dict[str, int], mobile: bool = False) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, PHONE, mobile=True)


def _history(site: Site, name: str, kind: str = "consent-withdrawn") -> list[dict[str, Any]]:
    """The ledger's leaves of ``kind`` about this person, read from the store the server uses."""
    app = open_app(load_settings({"CONSENTRY_HOME": str(site.home)}))
    try:
        found = subjects.subject_history(app.context, email(name))
    finally:
        app.close()
    return [e for e in found["events"] if e["kind"] == kind]


def _allowed(site: Site, name: str, list_id: str) -> bool:
    app = open_app(load_settings({"CONSENTRY_HOME": str(site.home)}))
    ctx: Context = app.context
    try:
        return gate.check_send(ctx, email(name), list_id).allowed
    finally:
        app.close()


def _status_of_post(page: Page, act: Any) -> int:
    """Do ``act()`` (a click or a key press that submits a form) and return the POST's status."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        act()
    status: int = answer.value.status
    return status


# --- the one-click confirmation page ----------------------------------------------------------


def test_the_one_click_page_shows_one_button_and_clicking_it_unsubscribes(
    site: Site, page: Page
) -> None:
    from playwright.sync_api import expect

    assert page.goto(site.one_click("ann")).status == 200  # type: ignore[union-attr]
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Unsubscribe from {NEWS}?")
    expect(page.get_by_role("button")).to_have_count(1)
    screenshot(page, "one-click-1-confirm")
    assert _history(site, "ann") == [], "showing the page must not unsubscribe"

    status = _status_of_post(page, page.get_by_role("button", name="Unsubscribe").click)
    assert status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    expect(page.locator("main")).to_contain_text("Nothing more is sent.")
    screenshot(page, "one-click-2-done")

    (withdrawal,) = _history(site, "ann")
    assert withdrawal["fields"]["list"] == "news"
    assert withdrawal["fields"]["method"] == "one-click"
    evidence = json.loads(withdrawal["evidence"])["items"]
    assert evidence["user_agent"] == page.evaluate("navigator.userAgent")
    assert evidence["ip"] == "127.0.0.1"
    assert not _allowed(site, "ann", "news") and _allowed(site, "ann", "events")

    page.goto(site.one_click("ann"))  # the link opened again: it says so, and writes nothing
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    expect(page.get_by_role("button")).to_have_count(0)
    assert len(_history(site, "ann")) == 1


# --- the preference centre ----------------------------------------------------------------------


def test_the_preference_centre_is_reached_from_the_one_click_page_and_labels_every_list(
    site: Site, page: Page
) -> None:
    from playwright.sync_api import expect

    page.goto(site.one_click("dan"))
    page.get_by_role("link", name="Manage all your email subscriptions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email preferences")
    assert page.url == site.preferences("dan")
    for purpose in (NEWS, *EXTRA_LISTS.values()):
        box = page.get_by_label(f"Unsubscribe from {purpose}", exact=True)
        expect(box).to_have_count(1)
        assert box.get_attribute("type") == "checkbox" and not box.is_checked()
    expect(page.get_by_role("checkbox")).to_have_count(1 + len(EXTRA_LISTS))
    expect(page.get_by_role("button", name="Save")).to_be_visible()
    expect(page.get_by_role("button", name="Unsubscribe from everything")).to_be_visible()
    screenshot(page, "preferences-1-lists")
    assert _history(site, "dan") == []


def test_the_preference_centre_works_with_the_keyboard_alone(site: Site, page: Page) -> None:
    from playwright.sync_api import expect

    page.goto(site.preferences("bob"))
    last = f"u-{list(EXTRA_LISTS)[-1]}"
    box, _ = tab_until(page, lambda f: f["tag"] == "input" and f["id"] == last)
    assert box["type"] == "checkbox" and box["outlined"], box
    page.keyboard.press("Space")
    assert page.get_by_label(f"Unsubscribe from {EXTRA_LISTS['partners']}").is_checked()
    screenshot(page, "preferences-2-keyboard-checked")

    save, presses = tab_until(page, lambda f: f["tag"] == "button")
    assert (save["text"], presses) == ("Save", 1), save
    assert save["outlined"], save
    screenshot(page, "preferences-3-keyboard-save-focused")
    assert _status_of_post(page, partial(page.keyboard.press, "Enter")) == 200

    expect(page.get_by_role("status")).to_have_text("Saved. Unsubscribed from 1 list(s).")
    left = page.locator("h2:text-is('You are unsubscribed from') + ul")
    expect(left).to_contain_text(EXTRA_LISTS["partners"])
    screenshot(page, "preferences-4-keyboard-saved")
    (withdrawal,) = _history(site, "bob")
    assert withdrawal["fields"]["list"] == "partners"
    assert withdrawal["fields"]["method"] == "preference-centre"
    assert not _allowed(site, "bob", "partners")
    assert _allowed(site, "bob", "news") and _allowed(site, "bob", "events")


def test_unsubscribe_from_everything_stops_every_list(site: Site, page: Page) -> None:
    from playwright.sync_api import expect

    page.goto(site.preferences("cat"))
    everything = page.get_by_role("button", name="Unsubscribe from everything")
    assert _status_of_post(page, everything.click) == 200
    expect(page.locator("main")).to_contain_text("You receive none of our marketing email.")
    left = page.locator("h2:text-is('You are unsubscribed from') + ul")
    for purpose in (NEWS, *EXTRA_LISTS.values()):
        expect(left).to_contain_text(purpose)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    screenshot(page, "preferences-5-everything")
    (withdrawal,) = _history(site, "cat")  # one leaf for every list: a global withdrawal
    assert withdrawal["fields"]["method"] == "preference-centre"
    assert withdrawal["fields"].get("list") is None, withdrawal["fields"]
    for list_id in ("news", *EXTRA_LISTS):
        assert not _allowed(site, "cat", list_id), list_id


# --- every page: phone layout, labels, contrast -------------------------------------------------

VIEWS: dict[str, Callable[[Site], str]] = {
    "one-click": lambda s: s.one_click("dan"),
    "one-click-already-unsubscribed": lambda s: s.one_click("eve"),
    "preferences": lambda s: s.preferences("dan"),
    "preferences-partly-unsubscribed": lambda s: s.preferences("eve"),
    "not-found": lambda s: re.sub(r".$", "x", s.one_click("dan")),
}


@pytest.mark.parametrize("view", VIEWS)
def test_on_a_phone_nothing_overflows_horizontally(site: Site, phone: Page, view: str) -> None:
    phone.goto(VIEWS[view](site))
    found = horizontal_overflow(phone)
    screenshot(phone, f"phone-{view}")
    assert found["viewport"] == PHONE["width"], found
    assert found["scroll"] <= found["viewport"] and found["sticking_out"] == [], found


@pytest.mark.parametrize("view", VIEWS)
def test_every_form_control_has_an_accessible_name(site: Site, page: Page, view: str) -> None:
    page.goto(VIEWS[view](site))
    assert unlabelled_controls(page) == []


@pytest.mark.parametrize("view", VIEWS)
def test_text_contrast_is_at_least_4_5_to_1(site: Site, page: Page, view: str) -> None:
    page.goto(VIEWS[view](site))
    found = text_contrasts(page)
    assert found, "no text found on the page"
    low = [c for c in found if c.ratio < MIN_TEXT_CONTRAST]
    assert low == [], low
    if view.startswith("preferences"):  # the focused states too: buttons and links keep theirs
        focused_now, _ = tab_until(page, lambda f: f["tag"] == "button")
        assert focused_now["outlined"], focused_now
        assert [c for c in text_contrasts(page) if c.ratio < MIN_TEXT_CONTRAST] == []


# Signup and double opt-in in the browser: tests/web/test_browser_signup.py.

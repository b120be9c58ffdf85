"""The reports in headless Chromium: they render without script or any request beyond the file,
their text has AA contrast, they fit a desktop and a phone without the page scrolling sideways;
screenshots go to the test artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consentry.services.audit_campaign import campaign_pack
from consentry.services.audit_html import campaign_html, subject_html
from consentry.services.audit_subject import subject_pack
from consentry.store.memory import MemoryStore
from tests.audit.support import LEGACY, build, organised_ctx
from tests.conftest import FixedClock
from tests.support.browser import (
    DESKTOP,
    MIN_TEXT_CONTRAST,
    PHONE,
    horizontal_overflow,
    require_chromium,
    screenshot,
    text_contrasts,
)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("reports")
    clock = FixedClock()
    ctx = organised_ctx(MemoryStore(), tmp, clock)
    build(ctx, clock)
    paths = {"campaign": tmp / "campaign.html", "subject": tmp / "subject.html"}
    paths["campaign"].write_text(campaign_html(campaign_pack(ctx, LEGACY)), encoding="utf-8")
    pack = subject_pack(ctx, "old0@example.org")
    paths["subject"].write_text(subject_html(pack), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def browser(reports: dict[str, Path]) -> Iterator[Any]:
    """Started after the reports are built: Playwright's sync API holds an event loop, and the
    dispatcher that sends the seed campaign runs its own."""
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()


def open_report(browser: Any, path: Path, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport=viewport)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(path.as_uri())
    return page, requested


@pytest.mark.parametrize("name", ["campaign", "subject"])
def test_the_report_is_self_contained_readable_and_fits(
    browser: Any, reports: dict[str, Path], name: str
) -> None:
    page, requested = open_report(browser, reports[name], DESKTOP)
    try:
        assert requested == [reports[name].as_uri()]  # no font, image, style or script fetched
        assert page.locator("script").count() == 0
        low = [c for c in text_contrasts(page) if c.ratio < MIN_TEXT_CONTRAST]
        assert low == []
        assert horizontal_overflow(page)["sticking_out"] == []
        shot = screenshot(page, f"audit-{name}-desktop")
        assert shot.stat().st_size > 10_000
    finally:
        page.close()
    phone, _ = open_report(browser, reports[name], PHONE)
    try:
        overflow = horizontal_overflow(phone)
        assert overflow["scroll"] <= overflow["viewport"]  # wide tables scroll in their box
        screenshot(phone, f"audit-{name}-phone")
    finally:
        phone.close()


def test_the_campaign_report_shows_the_proportion_its_definition_and_the_charts(
    browser: Any, reports: dict[str, Path]
) -> None:
    page, _ = open_report(browser, reports["campaign"], DESKTOP)
    try:
        headline = page.get_by_label("Validly sent")
        assert "of 59 handed off" in headline.inner_text()
        assert "Definition." in headline.inner_text()
        charts = page.get_by_role("img")
        names = [charts.nth(i).get_attribute("aria-labelledby") for i in range(charts.count())]
        assert len(names) == 2 and all(names)  # the timeline and the bases (no one was denied)
        assert "missing-evidence" in page.locator("body").inner_text()
    finally:
        page.close()

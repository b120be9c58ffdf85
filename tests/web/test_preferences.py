"""The preference centre: from a message's token, no login; per-list and everything; CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consentry.bootstrap import App, SystemClock, open_app
from consentry.domain.tokens import make_unsubscribe_token
from consentry.services import consent, gate
from consentry.services.context import Context
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from consentry.web.app import create_app
from tests.support.audience import grant_all, organised


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[TestClient, Context, str]]:
    home = tmp_path / "home"
    ctx = organised(SQLiteStore(home / "consentry.sqlite"), home, SystemClock())
    consent.create_list(ctx, "events", "Events near you", "test")
    grant_all(ctx, ["ann@example.org"])
    notice = consent.publish_notice(ctx, "events", "Tell me about events.", "test").notice
    consent.grant_consent(ctx, consent.Grant(
        email="ann@example.org", list_id="events", basis="consent", notice=notice,
        method="web-form", source="first-party", evidence={"ip": "203.0.113.2"}, actor="test",
    ))  # fmt: skip
    kid, key = ctx.keys.token_key()
    subject = consent.subject_for(ctx, "ann@example.org")[1]
    url = f"/p/news/{make_unsubscribe_token(kid, key, subject, 'news')}"
    ctx.store.close()
    opened: list[App] = []

    def factory() -> App:
        opened.append(open_app(load_settings({"CONSENTRY_HOME": str(home)})))
        return opened[0]

    with TestClient(create_app(factory), follow_redirects=False) as client:
        yield client, opened[0].context, url


def _csrf(page: str) -> str:
    found = re.search(r'name=csrf value="([0-9a-f]{64})"', page)
    assert found, page
    return found.group(1)


def test_the_page_lists_every_list_with_labels_and_one_list_can_be_left(
    web: tuple[TestClient, Context, str],
) -> None:
    client, ctx, url = web
    page = client.get(url)
    assert page.status_code == 200
    assert 'for="u-news"' in page.text and 'for="u-events"' in page.text
    assert "Monthly news" in page.text and "Events near you" in page.text
    saved = client.post(url, data={"csrf": _csrf(page.text), "unsubscribe": ["events"]})
    assert saved.status_code == 200 and "Unsubscribed from 1 list" in saved.text
    assert gate.check_send(ctx, "ann@example.org", "events").reason == "suppressed-withdrawal"
    assert gate.check_send(ctx, "ann@example.org", "news").allowed
    assert "<h2>You are unsubscribed from</h2><ul><li>Events near you</li></ul>" in saved.text


def test_unsubscribe_from_everything_is_one_global_withdrawal(
    web: tuple[TestClient, Context, str],
) -> None:
    client, ctx, url = web
    token = _csrf(client.get(url).text)
    done = client.post(url, data={"csrf": token, "everything": "1"})
    assert done.status_code == 200 and "You receive none" in done.text
    for list_id in ("news", "events"):
        assert not gate.check_send(ctx, "ann@example.org", list_id).allowed
    again = client.post(url, data={"csrf": token, "everything": "1"})
    assert "Nothing changed" in again.text


@pytest.mark.parametrize("form", [
    {"csrf": "0" * 64, "everything": "1"}, {"everything": "1"},
])  # fmt: skip
def test_a_post_without_the_page_csrf_token_changes_nothing(
    web: tuple[TestClient, Context, str], form: dict[str, Any]
) -> None:
    client, ctx, url = web
    size = ctx.store.size()
    answer = client.post(url, data=form)
    assert answer.status_code == 400 and ctx.store.size() == size
    assert gate.check_send(ctx, "ann@example.org", "news").allowed


def test_a_bad_token_or_unknown_list_is_a_plain_404(web: tuple[TestClient, Context, str]) -> None:
    client, ctx, url = web
    assert client.get(url[:-3]).status_code == 404
    token = _csrf(client.get(url).text)
    answer = client.post(url, data={"csrf": token, "unsubscribe": ["nope"]})
    assert answer.status_code == 404
    assert gate.check_send(ctx, "ann@example.org", "news").allowed


def test_the_one_click_page_links_to_the_preference_centre(
    web: tuple[TestClient, Context, str],
) -> None:
    client, _, url = web
    page = client.get(url.replace("/p/", "/u/"))
    assert f'href="{url}"' in page.text

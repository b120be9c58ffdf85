"""The one-click fast path (``web.one_click_fast``) answers exactly as the framework's route:
the same status, headers and page for every kind of request, and it takes only urlencoded
POSTs to ``/u/<list>/<token>`` (multipart and everything else reach the route)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consentry.bootstrap import App, SystemClock
from consentry.domain.leaves import decode_leaf
from consentry.domain.tokens import make_unsubscribe_token
from consentry.services import consent
from consentry.store.sqlite import SQLiteStore
from consentry.web.one_click_fast import OneClickFastPath
from tests.support.audience import LIST, grant_all, organised
from tests.support.web import app_over

FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Mail/1.0"}


def _served(tmp_path: Path, name: str) -> Iterator[tuple[Any, str, App]]:
    home = tmp_path / name
    db = home / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), home, SystemClock(), partial(SQLiteStore, db))
    grant_all(ctx, ["ann@example.org"])
    ctx.store.close()
    asgi, app = app_over(home)
    kid, key = app.context.keys.token_key()
    subject = consent.subject_for(app.context, "ann@example.org")[1]
    token = make_unsubscribe_token(kid, key, subject, LIST)
    try:
        yield asgi, token, app
    finally:
        app.close()


@pytest.fixture
def fast(tmp_path: Path) -> Iterator[tuple[Any, str, App]]:
    yield from _served(tmp_path, "fast")


@pytest.fixture
def route(tmp_path: Path) -> Iterator[tuple[Any, str, App]]:
    yield from _served(tmp_path, "route")


def _withdrawals(app: App) -> int:
    leaves = (decode_leaf(s.raw) for s in app.context.store.iter_leaves())
    return sum(leaf.kind == "consent-withdrawn" for leaf in leaves)


Case = Callable[[str], tuple[str, bytes]]
CASES: dict[str, Case] = {
    "valid": lambda t: (f"/u/{LIST}/{t}", b"List-Unsubscribe=One-Click"),
    "other fields too": lambda t: (f"/u/{LIST}/{t}", b"a=1&List-Unsubscribe=One-Click&b="),
    "wrong value": lambda t: (f"/u/{LIST}/{t}", b"List-Unsubscribe=yes"),
    "empty body": lambda t: (f"/u/{LIST}/{t}", b""),
    "tampered token": lambda t: (f"/u/{LIST}/{t[:-1]}", b"List-Unsubscribe=One-Click"),
    "unknown list": lambda t: (f"/u/other/{t}", b"List-Unsubscribe=One-Click"),
    "escaped token": lambda t: (f"/u/{LIST}/%3Cscript%3E", b"List-Unsubscribe=One-Click"),
}


Answer = tuple[int, dict[str, str], str]


def _answers(served: tuple[Any, str, App], inner: bool) -> tuple[list[Answer], int]:
    """Every case's answer (status, headers, page), and the withdrawals written."""
    asgi, token, app = served
    target = asgi.app.app if inner else asgi  # BodyLimit(OneClickFastPath(FastAPI))
    out = []
    with TestClient(target, follow_redirects=False) as http:
        for name in ("valid", *CASES, "valid"):  # the last one is a repeat
            path, body = CASES[name](token)
            answer = http.post(path, content=body, headers=FORM)
            headers = {k: v for k, v in answer.headers.items() if k != "content-length"}
            out.append((answer.status_code, headers, answer.text.replace(token, "TOKEN")))
        return out, _withdrawals(app)  # before the app's shutdown closes the store


def test_the_fast_path_answers_every_kind_of_request_as_the_route_does(
    fast: tuple[Any, str, App], route: tuple[Any, str, App]
) -> None:
    (by_fast, fast_written), (by_route, route_written) = (
        _answers(fast, inner=False),
        _answers(route, inner=True),
    )
    assert [a[0] for a in by_fast] == [200, 200, 200, 400, 400, 404, 404, 404, 200]
    assert by_fast == by_route
    assert "You are unsubscribed" in by_fast[0][2] and "Already unsubscribed" in by_fast[-1][2]
    assert fast[0].app.taken == len(by_fast)  # every one of them was answered by the fast path
    assert fast_written == route_written == 1


def test_only_urlencoded_one_click_posts_take_the_fast_path(fast: tuple[Any, str, App]) -> None:
    asgi, token, app = fast
    layer: OneClickFastPath = asgi.app
    with TestClient(asgi, follow_redirects=False) as http:
        multipart = http.post(f"/u/{LIST}/{token}", files={"List-Unsubscribe": (None, "One-Click")})
        assert multipart.status_code == 200 and layer.taken == 0  # the route took it
        assert http.get(f"/u/{LIST}/{token}").status_code == 200 and layer.taken == 0
        assert http.post(f"/p/{LIST}/{token}", content=b"x=1", headers=FORM).status_code == 400
        assert layer.taken == 0
        typed = {"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"}
        again = http.post(f"/u/{LIST}/{token}", content=b"List-Unsubscribe=One-Click",
                          headers=typed)  # fmt: skip
        assert again.status_code == 200 and "Already unsubscribed" in again.text
        assert layer.taken == 1
        assert _withdrawals(app) == 1


def test_oversized_bodies_are_refused_before_the_fast_path_reads_them(
    fast: tuple[Any, str, App],
) -> None:
    asgi, token, app = fast
    with TestClient(asgi, follow_redirects=False) as http:
        body = b"List-Unsubscribe=One-Click&x=" + b"a" * 20_000
        declared = http.post(f"/u/{LIST}/{token}", content=body, headers=FORM)
        assert declared.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(5):
                yield b"x" * 5_000
            yield b"&List-Unsubscribe=One-Click"

        streamed = http.post(f"/u/{LIST}/{token}", content=chunks(), headers=FORM)
        assert streamed.status_code == 413
        assert _withdrawals(app) == 0

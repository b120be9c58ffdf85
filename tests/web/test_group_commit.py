"""Group commit of one-click unsubscribes: POSTs that arrive together share one transaction, and
each is answered only after the write that holds it is committed; a bad token fails only its own
request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import httpx
import pytest

from consentry.bootstrap import SystemClock, open_app
from consentry.domain.errors import NotFound
from consentry.domain.leaves import decode_leaf
from consentry.domain.tokens import make_unsubscribe_token
from consentry.services.context import Context
from consentry.services.unsubscribe import UnsubscribeRequest, unsubscribe_many
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from consentry.web.group_commit import GroupCommit
from tests.support.audience import LIST, grant_all, organised
from tests.support.web import app_over

PEOPLE = [f"p{i}@example.org" for i in range(40)]


def test_items_that_arrive_together_are_written_together() -> None:
    calls: list[list[int]] = []

    def work(items: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(items))
        return [ValueError(f"bad {i}") if i == 3 else i * 10 for i in items]

    async def main() -> list[object]:
        commit: GroupCommit[int, int] = GroupCommit(work)
        return await asyncio.gather(*(commit.submit(i) for i in range(6)), return_exceptions=True)

    results = asyncio.run(main())
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], ValueError)  # only its own request fails
    assert sum(len(c) for c in calls) == 6 and len(calls) <= 2


def test_a_failed_write_fails_every_request_of_its_batch() -> None:
    def work(items: Sequence[int]) -> list[int | BaseException]:
        raise OSError("disk full")

    async def main() -> list[object]:
        commit: GroupCommit[int, int] = GroupCommit(work)
        return await asyncio.gather(*(commit.submit(i) for i in range(3)), return_exceptions=True)

    assert all(isinstance(r, OSError) for r in asyncio.run(main()))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    db = path / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), path, SystemClock(), partial(SQLiteStore, db))
    grant_all(ctx, PEOPLE)
    ctx.store.close()
    return path


def _tokens(ctx: Context) -> list[str]:
    from consentry.services.consent import subject_for

    kid, key = ctx.keys.token_key()
    return [make_unsubscribe_token(kid, key, subject_for(ctx, e)[1], LIST) for e in PEOPLE]


def test_unsubscribe_many_writes_one_append_and_answers_each(home: Path) -> None:
    app = open_app(load_settings({"CONSENTRY_HOME": str(home)}))
    try:
        ctx = app.context
        tokens = _tokens(ctx)
        checkpoints = len(ctx.store.checkpoints())
        requests = [
            UnsubscribeRequest(LIST, tokens[0], {"ip": "a"}),
            UnsubscribeRequest(LIST, tokens[1], {"ip": "b"}),
            UnsubscribeRequest(LIST, tokens[0], {"ip": "a"}),  # the same click twice
            UnsubscribeRequest(LIST, tokens[2][:-1], {"ip": "c"}),  # truncated
            UnsubscribeRequest("other", tokens[3], {"ip": "d"}),  # another list
        ]
        results = unsubscribe_many(ctx, requests)
        assert [getattr(r, "recorded", None) for r in results[:3]] == [True, True, False]
        assert isinstance(results[3], NotFound) and isinstance(results[4], NotFound)
        assert len(ctx.store.checkpoints()) == checkpoints + 1  # one append
        again = unsubscribe_many(ctx, requests[:1])
        assert getattr(again[0], "recorded", None) is False
    finally:
        app.close()


def test_concurrent_one_click_posts_share_commits_and_all_are_durable(home: Path) -> None:
    asgi, app = app_over(home)
    ctx = app.context
    paths = [f"/u/{LIST}/{t}" for t in _tokens(ctx)]

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=asgi, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*(
                client.post(p, data={"List-Unsubscribe": "One-Click"}) for p in paths
            ))  # fmt: skip
        return [a.status_code for a in answers]

    try:
        assert asyncio.run(main()) == [200] * len(PEOPLE)
        leaves = [decode_leaf(s.raw) for s in ctx.store.iter_leaves()]
        assert sum(leaf.kind == "consent-withdrawn" for leaf in leaves) == len(PEOPLE)
        inner = asgi.app.app  # BodyLimit(OneClickFastPath(FastAPI))
        assert inner.state.unsubscribes.batches < len(PEOPLE)
    finally:
        app.close()

"""The served app puts every part together: the admin API under /api/v1 with its OpenAPI
schema and bearer tokens, the webhooks under /hooks/ with their larger body limit, the pages
with the 16 KiB one."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consentry.bootstrap import App, SystemClock, open_app
from consentry.services.api_tokens import create_token
from consentry.settings import load_settings
from consentry.store.sqlite import SQLiteStore
from consentry.web.app import create_app
from tests.support.audience import organised


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, App]]:
    home = tmp_path / "home"
    db = home / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), home, SystemClock(), partial(SQLiteStore, db))
    ctx.store.close()
    opened: list[App] = []

    def factory() -> App:
        opened.append(open_app(load_settings({"CONSENTRY_HOME": str(home)})))
        return opened[0]

    with TestClient(create_app(factory)) as http:
        yield http, opened[0]


def test_the_admin_api_is_served_with_its_schema_and_tokens(
    client: tuple[TestClient, App],
) -> None:
    http, app = client
    schema = http.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and "/lists" in schema.json()["paths"]
    assert http.get("/api/v1/lists").status_code == 401
    token = create_token(app.context, "crm", "read").secret
    lists = http.get("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})
    assert lists.status_code == 200 and "news" in lists.text


def test_webhooks_take_bigger_bodies_than_the_pages(client: tuple[TestClient, App]) -> None:
    http, _ = client
    body = b"x" * 100_000
    assert http.post("/u/news/t1.x", content=body).status_code == 413
    # not configured, so 404, but the body was not refused for its size
    assert http.post("/hooks/postmark", content=body).status_code == 404
    assert http.post("/hooks/postmark", content=b"x" * 2_000_000).status_code == 413


def test_the_api_takes_a_long_notice(client: tuple[TestClient, App]) -> None:
    http, app = client
    token = create_token(app.context, "cms", "write").secret
    text = "é" * 10_000  # 20,000 bytes of UTF-8: over the pages' 16 KiB
    answer = http.post("/api/v1/lists/news/notices", json={"text": text},
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code in (200, 201), answer.text


def test_audit_queries_through_the_api(client: tuple[TestClient, App]) -> None:
    http, app = client
    from consentry.services import consent

    notice = consent.publish_notice(app.context, "news", "Email me the news.", "t").notice
    consent.grant_consent(app.context, consent.Grant(
        email="ann@example.org", list_id="news", basis="consent", notice=notice,
        method="web-form", source="first-party", evidence={"ip": "203.0.113.1"}, actor="t",
    ))  # fmt: skip
    token = create_token(app.context, "auditor", "read").secret
    auth = {"Authorization": f"Bearer {token}"}
    pack = http.post("/api/v1/audit/subjects", json={"email": "ann@example.org"}, headers=auth)
    assert pack.status_code == 200, pack.text
    assert "consent-given" in pack.text
    missing = http.get("/api/v1/audit/campaigns/nothing", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]

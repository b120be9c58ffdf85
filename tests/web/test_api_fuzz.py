"""The admin API fuzzed by schemathesis against its own OpenAPI schema, in process (ASGI), with a
valid admin token: whatever it is sent, it never answers 5xx, and every answer conforms to the
schema (status, content type, body). Kept to about a minute: few examples per operation."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic import TypeAdapter, ValidationError

from consentry.services import api_tokens, campaigns
from consentry.services.context import Context
from consentry.store.sqlite import SQLiteStore
from consentry.web.api import create_api
from consentry.web.api_models import Email, Hash, Slug
from tests.conftest import FixedClock
from tests.support.audience import campaign_spec, grant_all, notice, organised

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class CurrentApp:
    """The ASGI app schemathesis calls: it forwards to the app of the test that is running, so
    that the schema can be loaded at collection while each test has its own store."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


CURRENT = CurrentApp()
#: The fixture's notice hash, for the grants that the map_body hook below points at it.
KNOWN: dict[str, str] = {}


@pytest.fixture
def admin_headers(tmp_path: Path, clock: FixedClock) -> Iterator[dict[str, str]]:
    """An organised consentry with a list, a notice, a grant and a campaign behind CURRENT, and
    the header of an admin token."""
    home = tmp_path / "home"
    ctx = organised(SQLiteStore(home / "consentry.sqlite"), home, clock)
    grant_all(ctx, ["ann@example.org"])
    KNOWN["notice"] = notice(ctx)
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    token = api_tokens.create_token(ctx, "fuzz", "admin").secret
    CURRENT.app = create_api(ctx)
    yield {"Authorization": f"Bearer {token}"}
    CURRENT.app = None
    ctx.store.close()


def _served_schema() -> Any:
    """The schema exactly as the API serves it. Building the app touches no store (the context
    is only used by requests), so this runs at collection without opening anything.
    (``schemathesis.pytest.from_fixture`` would load it from a fixture, but it does not work
    with pytest 9: it sets ``Function._nodeid``, which pytest 9 no longer has.)"""
    unused = Context(store=None, keys=None, clock=None)  # type: ignore[arg-type]
    with TestClient(create_api(unused)) as http:
        return http.get("/openapi.json").json()


schema = schemathesis.openapi.from_dict(_served_schema())
#: Every check runs but positive-data acceptance: a request the schema allows may still be
#: refused, with a 4xx naming the reason, by the use case (an address that IDNA refuses, a basis
#: the jurisdiction does not allow, a list that does not exist): no JSON schema can say that.
ACCEPTED_BY_SCHEMA = schemathesis.checks.positive_data_acceptance
#: Negative-data rejection is left out only for the cases that _sends_nothing describes.
REFUSED_OUTSIDE_SCHEMA = schemathesis.checks.negative_data_rejection
schema.app = CURRENT


def _sends_nothing(value: Any) -> bool:
    """A query value that puts no parameter in the URL (``[]``, ``[[]]``, ``{}``...).
    schemathesis counts such a generated parameter as making the query invalid, though nothing
    of it is sent, and then expects the valid request that goes out to be refused; for those
    cases the test leaves that one check out."""
    if isinstance(value, dict):
        return all(_sends_nothing(v) for v in value.values())
    return isinstance(value, list) and all(_sends_nothing(v) for v in value)


#: The grant fields that map_body replaces, checked exactly as the API checks them.
WELL_FORMED = {"list": TypeAdapter(Slug), "notice": TypeAdapter(Hash), "email": TypeAdapter(Email)}


@schema.hook
def map_body(context: Any, body: Any) -> Any:
    """Every other generated grant whose list, notice and address are well-formed is pointed at
    the fixture's list, notice and a real address (which keeps it well-formed, or not, as it
    was), so that the fuzzer gets past them to the policy checks (basis, jurisdiction, facts,
    times) and to the recorded grant's answer."""
    if context.operation is None or context.operation.path != "/consents":
        return body
    if not isinstance(body, dict) or zlib.crc32(repr(sorted(body.items())).encode()) % 2:
        return body
    for name, kind in WELL_FORMED.items():
        try:
            kind.validate_python(body.get(name), strict=True)
        except ValidationError:
            return body
    return {**body, "list": "news", "notice": KNOWN["notice"], "email": "fuzz@example.org"}


@schema.parametrize()
@settings(
    max_examples=100, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip
def test_no_input_makes_the_api_fail_or_break_its_schema(
    case: Any, admin_headers: dict[str, str]
) -> None:
    excluded = [ACCEPTED_BY_SCHEMA]
    if isinstance(case.query, dict) and any(_sends_nothing(v) for v in case.query.values()):
        excluded.append(REFUSED_OUTSIDE_SCHEMA)
    case.call_and_validate(headers=dict(admin_headers), excluded_checks=excluded)

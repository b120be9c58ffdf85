"""The admin API under /api/v1, in process on a SQLite store: every endpoint, the bearer tokens
and their scopes (401 without a valid token, 403 without the scope), revoked tokens, grants with
their evidence in the subject's history, and bad input answered 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consentry.domain.leaves import decode_leaf
from consentry.domain.state import SUPPRESS_REASONS
from consentry.services import api_tokens, campaigns, gate
from consentry.services.context import Context
from consentry.store.sqlite import SQLiteStore
from consentry.web.api import create_api
from consentry.web.api_models import SuppressionIn
from tests.conftest import FixedClock
from tests.support.audience import campaign_spec, grant_all, notice, organised

V1 = "/api/v1"


@dataclass
class Api:
    http: TestClient
    ctx: Context
    notice: str
    tokens: dict[str, str]  # scope -> secret (token names: "<scope>-system")

    def call(self, method: str, path: str, scope: str | None = "admin", **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if scope is not None:
            headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        return self.http.request(method, V1 + path, headers=headers, **kw)


@pytest.fixture
def api(tmp_path: Path, clock: FixedClock) -> Iterator[Api]:
    home = tmp_path / "home"
    ctx = organised(SQLiteStore(home / "consentry.sqlite"), home, clock)
    grant_all(ctx, ["ann@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    tokens = {s: api_tokens.create_token(ctx, f"{s}-system", s).secret for s in api_tokens.SCOPES}
    app = FastAPI()
    app.mount(V1, create_api(ctx))  # as the web app mounts it
    with TestClient(app) as http:
        yield Api(http, ctx, notice(ctx), tokens)
    ctx.store.close()


def _grant(api: Api, email: str = "bob@example.org", **over: Any) -> dict[str, Any]:
    body = {
        "email": email, "list": "news", "basis": "consent", "notice": api.notice,
        "method": "web-form", "source": "third-party:crm",
        "evidence": {"ip": "203.0.113.7", "form": "signup-v3"},
    }  # fmt: skip
    body.update(over)
    return body


def _leaves(ctx: Context, kind: str) -> list[Any]:
    return [x for s in ctx.store.iter_leaves() if (x := decode_leaf(s.raw)).kind == kind]


# --- the schema -----------------------------------------------------------------------------------


def test_the_schema_is_served_under_the_mount_with_a_bearer_scheme_and_a_scope_per_operation(
    api: Api,
) -> None:
    schema = api.http.get(f"{V1}/openapi.json").json()
    assert schema["servers"] == [{"url": V1}]
    scheme = schema["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert len(operations) == 21  # with the two audit queries
    for op in operations:
        assert op["security"] == [{"HTTPBearer": []}], op["operationId"]
        assert op["x-scope"] in ("read", "write", "admin"), op["operationId"]
        assert {"401", "403", "422"} <= set(op["responses"]), op["operationId"]


def test_the_suppression_reasons_offered_are_the_ones_the_service_takes() -> None:
    schema = SuppressionIn.model_json_schema()
    assert set(schema["properties"]["reason"]["enum"]) == SUPPRESS_REASONS


# --- authentication and scopes --------------------------------------------------------------------


def _operations(api: Api) -> list[tuple[str, str, str]]:
    """(method, concrete path, scope) of every operation in the schema."""
    schema = api.http.get(f"{V1}/openapi.json").json()
    fill = {"{list_id}": "news", "{name}": "spring", "{notice}": api.notice}
    out = []
    for path, item in schema["paths"].items():
        for key, value in fill.items():
            path = path.replace(key, value)
        out += [(method.upper(), path, op["x-scope"]) for method, op in item.items()]
    return out


@pytest.mark.parametrize("header", [
    None, "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer cst_short",
    "Bearer cst_" + "A" * 43, "Bearer " + "x" * 5000,
])  # fmt: skip
def test_every_operation_refuses_a_missing_malformed_or_unknown_token_with_401(
    api: Api, header: str | None
) -> None:
    size = api.ctx.store.size()
    for method, path, _ in _operations(api):
        headers = {"Authorization": header} if header else {}
        answer = api.call(method, path, scope=None, headers=headers, json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"].startswith('Bearer realm="consentry"')
    assert api.ctx.store.size() == size


def test_each_scope_reaches_its_operations_and_is_refused_above_with_403(api: Api) -> None:
    order = api_tokens.SCOPES
    checked = 0
    for method, path, needed in _operations(api):
        for scope in order[: order.index(needed)]:
            answer = api.call(method, path, scope=scope, json={})
            assert answer.status_code == 403, (scope, method, path)
            assert answer.json()["error"] == "forbidden"
            assert needed in answer.json()["message"]
            assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
            checked += 1
        for scope in order[order.index(needed) :]:
            answer = api.call(method, path, scope=scope, json={})
            assert answer.status_code not in (401, 403), (scope, method, path)
    assert checked >= 10
    assert _leaves(api.ctx, "subject-erased") == []


def test_a_revoked_token_is_refused_from_the_next_request(api: Api) -> None:
    assert api.call("GET", "/lists", scope="read").status_code == 200
    api_tokens.revoke_token(api.ctx, "read-system")
    refused = api.call("GET", "/lists", scope="read")
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert api.call("GET", "/lists", scope="write").status_code == 200


def test_a_token_records_when_it_was_last_used(api: Api, clock: FixedClock) -> None:
    assert api.ctx.store.api_token("read-system").last_used_at is None  # type: ignore[union-attr]
    api.call("GET", "/ledger", scope="read")
    assert api.ctx.store.api_token("read-system").last_used_at == clock.at  # type: ignore[union-attr]


# --- lists and notices ----------------------------------------------------------------------------


def test_lists_are_created_listed_and_shown_with_their_notices(api: Api) -> None:
    made = api.call("POST", "/lists", scope="write", json={"name": "events", "purpose": "Invites"})
    assert made.status_code == 201
    assert made.json()["list_id"] == "events" and made.json()["purpose"] == "Invites"
    (created,) = _leaves(api.ctx, "list-created")[1:]
    assert created.fields["actor"] == "api:write-system"
    assert [x["list_id"] for x in api.call("GET", "/lists", scope="read").json()] == [
        "events", "news",
    ]  # fmt: skip
    news = api.call("GET", "/lists/news", scope="read").json()
    assert [n["notice"] for n in news["notices"]] == [api.notice]
    again = api.call("POST", "/lists", json={"name": "events", "purpose": "Again"})
    assert again.status_code == 409 and again.json()["error"] == "duplicate-list"
    missing = api.call("GET", "/lists/nope", scope="read")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown-list"


def test_a_notice_is_published_once_and_its_text_can_be_read_back(api: Api) -> None:
    body = {"text": "Yes, email me invitations.\nUnsubscribe any time.", "language": "en-GB"}
    first = api.call("POST", "/lists/news/notices", scope="write", json=body)
    assert first.status_code == 201 and first.json()["created"] is True
    assert first.json()["version"] == 2
    second = api.call("POST", "/lists/news/notices", scope="write", json=body)
    assert second.status_code == 200 and second.json()["created"] is False
    assert second.json()["leaf"] is None and second.json()["notice"] == first.json()["notice"]
    shown = api.call("GET", f"/notices/{first.json()['notice']}", scope="read").json()
    assert shown["text"] == body["text"] and shown["language"] == "en-GB"
    assert api.call("GET", "/notices/" + "0" * 64, scope="read").status_code == 404
    unknown = api.call("POST", "/lists/nope/notices", scope="write", json=body)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown-list"


# --- consent, objections, erasure -----------------------------------------------------------------


def test_a_grant_is_recorded_with_the_callers_evidence_and_token_and_shows_in_the_history(
    api: Api,
) -> None:
    answer = api.call("POST", "/consents", scope="write", json=_grant(api, "Bob@Example.org"))
    assert answer.status_code == 201, answer.text
    (leaf_ref,) = answer.json()["leaves"]
    leaf = decode_leaf(api.ctx.store.leaf(leaf_ref["index"]).raw)
    assert leaf.kind == "consent-given" and leaf.fields["actor"] == "api:write-system"
    assert leaf.fields["source"] == "third-party:crm"
    history = api.call("POST", "/subjects/history", scope="read",
                       json={"email": "bob@example.org"}).json()  # fmt: skip
    assert history["address"] == "Bob@Example.org"
    (event,) = history["events"]
    assert event["index"] == leaf_ref["index"] and event["leaf_hash"] == leaf_ref["hash"]
    assert event["notice_text"] == "Email me the monthly news."
    assert '"ip":"203.0.113.7"' in event["evidence"] and '"form":"signup-v3"' in event["evidence"]
    assert '"api_token":"write-system"' in event["evidence"]
    assert gate.check_send(api.ctx, "bob@example.org", "news").allowed


def test_a_confirmed_grant_with_all_options_is_recorded_as_sent(api: Api) -> None:
    body = _grant(api, confirmed=True, jurisdiction="uk", language="en-GB", form_version="v3",
                  valid_until="2028-01-31T00:00:00+01:00")  # fmt: skip
    answer = api.call("POST", "/consents", scope="write", json=body)
    assert answer.status_code == 201, answer.text
    given, confirmed = (decode_leaf(api.ctx.store.leaf(r["index"]).raw)
                        for r in answer.json()["leaves"])  # fmt: skip
    assert confirmed.kind == "consent-confirmed"
    assert given.fields["valid_until"] == "2028-01-30T23:00:00.000000Z"
    assert (given.fields["language"], given.fields["form_version"]) == ("en-GB", "v3")
    state = api.call("POST", "/subjects/lookup", scope="read",
                     json={"email": "bob@example.org"}).json()["state"]  # fmt: skip
    assert state["consents"]["news"]["confirmed"] is True


def test_withdrawals_and_suppressions_are_recorded_and_the_gate_denies(api: Api) -> None:
    withdrawn = api.call("POST", "/withdrawals", scope="write", json={
        "email": "ann@example.org", "list": "news", "channel": "phone",
        "evidence": {"call": "ticket-123"},
    })  # fmt: skip
    assert withdrawn.status_code == 201, withdrawn.text
    (leaf,) = _leaves(api.ctx, "consent-withdrawn")
    assert (leaf.fields["channel"], leaf.fields["actor"]) == ("phone", "api:write-system")
    blob = api.ctx.store.evidence(leaf.fields["subject"], leaf.fields["evidence"])
    assert blob is not None and b"ticket-123" in blob.blob and b"write-system" in blob.blob
    assert gate.check_send(api.ctx, "ann@example.org", "news").reason == "suppressed-withdrawal"
    suppressed = api.call("POST", "/suppressions", scope="write",
                          json={"email": "new@example.org", "reason": "complaint"})  # fmt: skip
    assert suppressed.status_code == 201
    (sup,) = _leaves(api.ctx, "suppressed")
    assert (sup.fields["scope"], sup.fields["reason"]) == ("*", "complaint")
    everywhere = api.call("POST", "/withdrawals", scope="write",
                          json={"email": "zed@example.org", "channel": "web"})  # fmt: skip
    assert everywhere.status_code == 201
    assert _leaves(api.ctx, "consent-withdrawn")[-1].fields["list"] is None


def test_erasure_needs_admin_and_removes_the_address(api: Api) -> None:
    assert api.call("POST", "/erasures", scope="write",
                    json={"email": "ann@example.org"}).status_code == 403  # fmt: skip
    erased = api.call("POST", "/erasures", scope="admin",
                      json={"email": "ann@example.org", "request": "DSAR-7"})  # fmt: skip
    assert erased.status_code == 201
    (leaf,) = _leaves(api.ctx, "subject-erased")
    assert (leaf.fields["actor"], leaf.fields["request"]) == ("api:admin-system", "DSAR-7")
    looked = api.call("POST", "/subjects/lookup", scope="read", json={"email": "ann@example.org"})
    assert looked.json()["address"] is None and looked.json()["state"]["erased"] is True
    assert "events" not in looked.json()


def test_an_unknown_address_has_no_state_and_no_history(api: Api) -> None:
    looked = api.call("POST", "/subjects/history", scope="read",
                      json={"email": "nobody@example.org"}).json()  # fmt: skip
    assert looked["state"] is None and looked["events"] == [] and looked["address"] is None


# --- campaigns and the ledger ---------------------------------------------------------------------


def test_campaigns_are_listed_with_status_and_preflight(api: Api) -> None:
    (listed,) = api.call("GET", "/campaigns", scope="read").json()
    assert (listed["campaign"], listed["state"], listed["total"]) == ("spring", "draft", 0)
    assert api.call("GET", "/campaigns/spring", scope="read").json() == listed
    report = api.call("GET", "/campaigns/spring/preflight", scope="read").json()
    assert (report["recipients"], report["allowed"], report["denied"]) == (1, 1, 0)
    assert report["by_basis"] == {"consent": 1}
    assert report["report_hash"] == campaigns.report_hash(campaigns.preflight(api.ctx, "spring"))
    missing = api.call("GET", "/campaigns/autumn", scope="read")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown-campaign"


def test_the_ledger_status_proofs_verification_and_checkpoints(api: Api) -> None:
    status = api.call("GET", "/ledger", scope="read").json()
    size = api.ctx.store.size()
    assert status["size"] == size and status["latest_checkpoint"]["size"] == size
    assert status["latest_checkpoint"]["note"] == api.ctx.store.latest_checkpoint().note  # type: ignore[union-attr]
    proof = api.call("GET", "/ledger/inclusion", scope="read", params={"index": 2}).json()
    assert proof["leaf_hash"] == api.ctx.store.leaf(2).hash.hex()
    assert proof["root_hash"] == status["latest_checkpoint"]["root_hash"]
    consistency = api.call("GET", "/ledger/consistency", scope="read",
                           params={"old_size": 2}).json()  # fmt: skip
    assert consistency["new_root"] == proof["root_hash"] and consistency["proof"]
    outside = api.call("GET", "/ledger/inclusion", scope="read", params={"index": size})
    assert outside.status_code == 400 and outside.json()["error"] == "proof-range"
    report = api.call("POST", "/ledger/verify", scope="admin", params={"projections": True})
    assert report.json()["ok"] is True and report.json()["tree_size"] == size
    note = api.call("POST", "/ledger/checkpoints", scope="admin")
    assert note.status_code == 201 and note.json()["note"].splitlines()[1] == str(size)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"evidence": {}}, "body.evidence"),
    ({"evidence": None}, "body.evidence"),
    ({"evidence": {"api_token": "spoof"}}, "body.evidence"),
    ({"evidence": {"ip": "1.2.3.4\r\nX-Injected: 1"}}, "body.evidence.ip"),
    ({"email": "no-at-sign"}, "body.email"),
    ({"list": "News!"}, "body.list"),
    ({"basis": "because"}, "body.basis"),
    ({"notice": "abc"}, "body.notice"),
    ({"source": "somewhere"}, "body.source"),
    ({"confirmed": "yes"}, "body.confirmed"),
    ({"valid_until": "2028-01-31T00:00:00"}, "body.valid_until"),
    ({"valid_until": 1800000000}, "body.valid_until"),
    ({"jurisdiction": "mars"}, "body.jurisdiction"),
    ({"unknown": 1}, "body.unknown"),
])  # fmt: skip
def test_a_bad_grant_is_422_naming_the_field_and_writes_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    size = api.ctx.store.size()
    answer = api.call("POST", "/consents", scope="write", json=_grant(api, **change))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "bad-input" and field in body["message"]
    assert field in [f["field"] for f in body["fields"]]
    assert api.ctx.store.size() == size


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"email": "a..b@example.org"}, 422, "invalid-address"),
    ({"list": "other"}, 404, "unknown-list"),
    ({"notice": "0" * 64}, 404, "unknown-notice"),
    ({"basis": "ca_express"}, 422, "basis-forbidden"),
])  # fmt: skip
def test_a_grant_the_use_case_refuses_answers_its_error_class(
    api: Api, change: dict[str, Any], status: int, code: str
) -> None:
    size = api.ctx.store.size()
    answer = api.call("POST", "/consents", scope="write", json=_grant(api, **change))
    assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert answer.json()["message"]
    assert api.ctx.store.size() == size


@pytest.mark.parametrize(("method", "path", "kw", "field"), [
    ("POST", "/lists", {"json": {"name": "x", "purpose": ""}}, "body.purpose"),
    ("POST", "/lists", {"json": {"name": "-x", "purpose": "p"}}, "body.name"),
    ("POST", "/lists/news/notices", {"json": {"text": "a\x00b"}}, "body.text"),
    ("POST", "/suppressions", {"json": {"email": "a@example.org", "reason": "withdrawal"}},
     "body.reason"),
    ("POST", "/withdrawals", {"json": {"email": "a@example.org"}}, "body.channel"),
    ("POST", "/subjects/lookup", {"content": b"{not json", "headers": {
        "Content-Type": "application/json"}}, "body"),
    ("GET", "/lists/NEWS", {}, "path.list_id"),
    ("GET", "/ledger/inclusion", {"params": {"index": -1}}, "query.index"),
    ("GET", "/ledger/inclusion", {"params": {"index": "x"}}, "query.index"),
    ("GET", "/ledger/consistency", {"params": {"old_size": 2**70}}, "query.old_size"),
    ("GET", "/ledger/inclusion", {"params": {"index": "1.0"}}, "query.index"),
    ("GET", "/ledger/inclusion", {"params": [("index", "1"), ("index", "2")]}, "query.index"),
    ("GET", "/ledger", {"params": {"verbose": "1"}}, "query.verbose"),
    ("POST", "/ledger/verify", {"params": {"projections": "yes"}}, "query.projections"),
])  # fmt: skip
def test_bad_input_elsewhere_is_422_naming_the_field(
    api: Api, method: str, path: str, kw: dict[str, Any], field: str
) -> None:
    answer = api.call(method, path, **kw)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "bad-input"
    assert any(f["field"].startswith(field) for f in answer.json()["fields"]), answer.json()


def test_unknown_paths_and_methods_answer_json_errors(api: Api) -> None:
    missing = api.call("GET", "/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"
    wrong = api.call("DELETE", "/lists")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method-not-allowed"

"""The admin API (``/api/v1``): lists, notices, consents from other systems, withdrawals,
suppressions, erasure, subject lookup and history, campaigns, and audit queries over the ledger.

A FastAPI sub-application with its own OpenAPI schema (``/openapi.json`` under its mount point),
mounted by the web app with ``app.mount("/api/v1", create_api(ctx))``. Thin: each handler checks
the bearer token's scope (``api_auth``), validates the body (``api_models``), calls one use case
and shapes its answer. Every refusal is JSON ``{"error": code, "message": ..., "fields": [...]}``
with the error class's HTTP status; bad input is a 4xx naming the field, never a 500.
``docs/api.md`` describes every endpoint.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run
# time, and the scope dependencies (``reader``, ``writer``, ``admin``) are local to create_api.

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import Match

from consentry.domain.errors import ConsentryError, UnknownNotice
from consentry.domain.leaves import format_time
from consentry.services import audit_projections, campaigns, consent, ledger, subjects
from consentry.services.audit_campaign import campaign_pack
from consentry.services.audit_subject import subject_pack
from consentry.services.context import Context
from consentry.web.api_auth import AuthRefused, Caller, requires
from consentry.web.api_models import (
    HASH_PATTERN,
    SLUG_PATTERN,
    TOKEN_EVIDENCE_KEY,
    CampaignStatusOut,
    ConsistencyOut,
    ErasureIn,
    ErrorOut,
    GrantIn,
    HistoryOut,
    InclusionOut,
    LedgerOut,
    ListCreate,
    ListDetailOut,
    ListOut,
    NoteOut,
    NoticeCreate,
    NoticeTextOut,
    PreflightOut,
    PublishedOut,
    QueryBool,
    QueryInt,
    RecordedOut,
    SubjectIn,
    SubjectOut,
    SuppressionIn,
    VerifyOut,
    WithdrawalIn,
)
from consentry.web.api_views import (
    checkpoint_json,
    error_body,
    leaf_json,
    list_json,
    notice_json,
    recorded_json,
    validation_body,
)

DESCRIPTION = (
    "The admin API of consentry. Authenticate with `Authorization: Bearer <token>`; tokens are "
    "made with `consentry token create NAME --scope read|write|admin`. Scopes are ordered: "
    "*read* (queries), *write* (also lists, notices, grants, withdrawals, suppressions), *admin* "
    "(also erasure and ledger operations). Each operation names its scope in `x-scope`. Errors "
    'are `{"error": code, "message": text, "fields": [...]}`.'
)
Name = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=64)]
NoticeHash = Annotated[str, Path(pattern=HASH_PATTERN)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut} for status in statuses}


#: What any operation may answer besides success: no or a bad token, a token without the scope,
#: a request that fails validation, the database unavailable.
COMMON = _errors(401, 403, 422, 503)


def create_api(ctx: Context) -> FastAPI:
    """The admin API over one opened consentry (its store, keys and clock)."""
    api = FastAPI(
        title="consentry admin API", version="1", description=DESCRIPTION,
        openapi_url="/openapi.json", docs_url=None, redoc_url=None, responses=COMMON,
    )  # fmt: skip
    reader = Annotated[Caller, Depends(requires(ctx, "read"))]
    writer = Annotated[Caller, Depends(requires(ctx, "write"))]
    admin = Annotated[Caller, Depends(requires(ctx, "admin"))]
    _install_error_handlers(api)

    def scope(name: str) -> dict[str, Any]:
        return {"x-scope": name}

    # --- lists and notices ------------------------------------------------------------------

    @api.get("/lists", response_model=list[ListOut], tags=["lists"], openapi_extra=scope("read"))
    def all_lists(caller: reader) -> list[dict[str, Any]]:
        """Every list, with the leaf that created it."""
        return [list_json(info) for info in ctx.store.lists()]

    @api.post(
        "/lists", status_code=201, response_model=ListOut, tags=["lists"],
        responses=_errors(400, 409), openapi_extra=scope("write"),
    )  # fmt: skip
    def create_list(body: ListCreate, caller: writer) -> dict[str, Any]:
        """Create a list (a purpose people consent to). 409 if it exists."""
        consent.create_list(ctx, body.name, body.purpose, caller.actor)
        info = ctx.store.list_info(body.name)
        assert info is not None
        return list_json(info)

    @api.get(
        "/lists/{list_id}", response_model=ListDetailOut, tags=["lists"],
        responses=_errors(404), openapi_extra=scope("read"),
    )  # fmt: skip
    def show_list(list_id: Name, caller: reader) -> dict[str, Any]:
        """One list and the notices published for it, oldest first."""
        consent.require_list(ctx, list_id)
        info = ctx.store.list_info(list_id)
        assert info is not None
        notices = [notice_json(n) for n in ctx.store.notices_for_list(list_id)]
        return {**list_json(info), "notices": notices}

    @api.post(
        "/lists/{list_id}/notices", status_code=201, response_model=PublishedOut,
        tags=["lists"], responses={200: {"model": PublishedOut}, **_errors(400, 404)},
        openapi_extra=scope("write"),
    )  # fmt: skip
    def publish_notice(
        list_id: Name, body: NoticeCreate, caller: writer, response: Response
    ) -> dict[str, Any]:
        """Publish the wording people are shown (201); the same text again changes nothing (200).
        The answer's ``notice`` is the hash a consent names."""
        published = consent.publish_notice(
            ctx, list_id, body.text, caller.actor, body.language, body.media_type
        )
        if published.leaf is None:
            response.status_code = 200
        leaf = published.leaf
        return {
            "notice": published.notice, "version": published.version,
            "created": leaf is not None, "leaf": leaf_json(leaf) if leaf else None,
        }  # fmt: skip

    @api.get(
        "/notices/{notice}", response_model=NoticeTextOut, tags=["lists"],
        responses=_errors(404), openapi_extra=scope("read"),
    )  # fmt: skip
    def show_notice(notice: NoticeHash, caller: reader) -> dict[str, Any]:
        """A published notice: its list, version and the exact text shown."""
        info = ctx.store.notice_info(notice)
        text = ctx.store.notice_text(notice)
        if info is None or text is None:
            raise UnknownNotice(f"no notice {notice} was published")
        return {**notice_json(info), "media_type": text.media_type, "text": text.text}

    # --- consent, objections, erasure -------------------------------------------------------

    @api.post(
        "/consents", status_code=201, response_model=RecordedOut, tags=["consent"],
        responses=_errors(400, 404, 409), openapi_extra=scope("write"),
    )  # fmt: skip
    def grant_consent(body: GrantIn, caller: writer) -> dict[str, Any]:
        """Record a consent collected by another system, with the notice shown and its evidence.
        The evidence is what you send plus ``api_token`` (your token's name); the actor is
        ``api:<token name>``."""
        grant = consent.Grant(
            email=body.email, list_id=body.list, basis=body.basis.value, notice=body.notice,
            method=body.method, source=body.source,
            evidence={**body.evidence, TOKEN_EVIDENCE_KEY: caller.name}, actor=caller.actor,
            confirmed=body.confirmed,
            jurisdiction=body.jurisdiction.value if body.jurisdiction else None,
            language=body.language, form_version=body.form_version,
            valid_until=body.valid_until, facts=body.facts,
        )  # fmt: skip
        return recorded_json(consent.grant_consent(ctx, grant))

    @api.post(
        "/withdrawals", status_code=201, response_model=RecordedOut, tags=["consent"],
        responses=_errors(400, 404), openapi_extra=scope("write"),
    )  # fmt: skip
    def withdraw_consent(body: WithdrawalIn, caller: writer) -> dict[str, Any]:
        """Record a withdrawal (one list, or every list): it also suppresses in that scope, and
        is recorded even for an address never seen before."""
        evidence = {**(body.evidence or {}), TOKEN_EVIDENCE_KEY: caller.name}
        recorded = consent.withdraw_consent(
            ctx, body.email, body.list, body.channel, body.method, body.source, caller.actor,
            evidence,
        )  # fmt: skip
        return recorded_json(recorded)

    @api.post(
        "/suppressions", status_code=201, response_model=RecordedOut, tags=["consent"],
        responses=_errors(400, 404), openapi_extra=scope("write"),
    )  # fmt: skip
    def suppress(body: SuppressionIn, caller: writer) -> dict[str, Any]:
        """Suppress an address globally or for one list (complaint, hard bounce, ...)."""
        recorded = consent.suppress(ctx, body.email, body.reason, body.list, body.source,
                                    caller.actor)  # fmt: skip
        return recorded_json(recorded)

    @api.post(
        "/erasures", status_code=201, response_model=RecordedOut, tags=["consent"],
        responses=_errors(400), openapi_extra=scope("admin"),
    )  # fmt: skip
    def erase_subject(body: ErasureIn, caller: admin) -> dict[str, Any]:
        """Erase a person's data from the side tables (admin). The ledger keeps verifying and the
        global suppression this writes keeps working."""
        return recorded_json(consent.erase_subject(ctx, body.email, caller.actor, body.request))

    # --- subjects ---------------------------------------------------------------------------

    @api.post(
        "/subjects/lookup", response_model=SubjectOut, tags=["subjects"],
        responses=_errors(400), openapi_extra=scope("read"),
    )  # fmt: skip
    def lookup_subject(body: SubjectIn, caller: reader) -> dict[str, Any]:
        """An address's subject ref and current state (null if the ledger knows nothing of it).
        A POST, so that addresses stay out of URLs and access logs."""
        history = subjects.subject_history(ctx, body.email)
        return {k: v for k, v in history.items() if k != "events"}

    @api.post(
        "/subjects/history", response_model=HistoryOut, tags=["subjects"],
        responses=_errors(400), openapi_extra=scope("read"),
    )  # fmt: skip
    def subject_history(body: SubjectIn, caller: reader) -> dict[str, Any]:
        """Every leaf about an address in ledger order, with its evidence and notice text."""
        return subjects.subject_history(ctx, body.email)

    # --- audit ------------------------------------------------------------------------------

    @api.get(
        "/audit/campaigns/{name}", response_model=dict[str, Any], tags=["audit"],
        responses=_errors(404), openapi_extra=scope("read"),
    )  # fmt: skip
    def audit_campaign(name: Name, caller: reader) -> dict[str, Any]:
        """The campaign's evidence pack, re-derived from the ledger against the latest signed
        checkpoint: the validly-sent proportion with its definition, counts by basis,
        jurisdiction and deny reason, sends after an objection (docs/audit.md)."""
        return campaign_pack(ctx, name).to_json()

    @api.post(
        "/audit/subjects", response_model=dict[str, Any], tags=["audit"],
        responses=_errors(400), openapi_extra=scope("read"),
    )  # fmt: skip
    def audit_subject(body: SubjectIn, caller: reader) -> dict[str, Any]:
        """A person's evidence pack: every consent with its notice and evidence, every message
        with its decision, every objection, each with an inclusion proof."""
        return subject_pack(ctx, body.email)

    # --- campaigns --------------------------------------------------------------------------

    @api.get(
        "/campaigns", response_model=list[CampaignStatusOut], tags=["campaigns"],
        openapi_extra=scope("read"),
    )  # fmt: skip
    def all_campaigns(caller: reader) -> list[dict[str, Any]]:
        """Every campaign with its state and message counts."""
        return [campaigns.campaign_status(ctx, c.campaign_id) for c in ctx.store.campaigns()]

    @api.get(
        "/campaigns/{name}", response_model=CampaignStatusOut, tags=["campaigns"],
        responses=_errors(404), openapi_extra=scope("read"),
    )  # fmt: skip
    def campaign_status(name: Name, caller: reader) -> dict[str, Any]:
        """One campaign's state and message counts."""
        return campaigns.campaign_status(ctx, name)

    @api.get(
        "/campaigns/{name}/preflight", response_model=PreflightOut, tags=["campaigns"],
        responses=_errors(404, 409), openapi_extra=scope("read"),
    )  # fmt: skip
    def preflight(name: Name, caller: reader) -> dict[str, Any]:
        """Decide every recipient now, write nothing, and count (R30); ``report_hash`` is what
        an approver signs off."""
        report = campaigns.preflight(ctx, name)
        return {**report, "report_hash": campaigns.report_hash(report)}

    # --- the ledger -------------------------------------------------------------------------

    @api.get("/ledger", response_model=LedgerOut, tags=["ledger"], openapi_extra=scope("read"))
    def ledger_status(caller: reader) -> dict[str, Any]:
        """The ledger's size, its last leaf's time and its latest signed checkpoint."""
        last = ctx.store.last_at()
        latest = ctx.store.latest_checkpoint()
        return {
            "size": ctx.store.size(),
            "last_at": format_time(last) if last else None,
            "latest_checkpoint": checkpoint_json(latest) if latest else None,
        }

    @api.get(
        "/ledger/inclusion", response_model=InclusionOut, tags=["ledger"],
        responses=_errors(400), openapi_extra=scope("read"),
    )  # fmt: skip
    def inclusion_proof(
        caller: reader,
        index: Annotated[QueryInt, Query()],
        size: Annotated[QueryInt | None, Query()] = None,
    ) -> dict[str, Any]:
        """Inclusion proof of leaf ``index`` in the tree of ``size`` (default: now), RFC 9162."""
        return ledger.prove_inclusion(ctx, index, size)

    @api.get(
        "/ledger/consistency", response_model=ConsistencyOut, tags=["ledger"],
        responses=_errors(400), openapi_extra=scope("read"),
    )  # fmt: skip
    def consistency_proof(
        caller: reader,
        old_size: Annotated[QueryInt, Query()],
        new_size: Annotated[QueryInt | None, Query()] = None,
    ) -> dict[str, Any]:
        """Consistency proof from ``old_size`` to ``new_size`` (default: now), RFC 9162."""
        return ledger.prove_consistency(ctx, old_size, new_size)

    @api.post("/ledger/verify", response_model=VerifyOut, tags=["ledger"],
              openapi_extra=scope("admin"))  # fmt: skip
    def verify_ledger(
        caller: admin, projections: Annotated[QueryBool, Query()] = False
    ) -> dict[str, Any]:
        """Recompute every hash, the tree and every signed checkpoint (admin; reads the whole
        ledger). ``ok`` is false and ``first_bad_index`` set when anything was tampered with;
        ``projections=true`` also rebuilds the projections and compares."""
        report = ledger.verify_ledger(ctx, 1)
        if projections and report.ok:
            report.problems.extend(audit_projections.compare_projections(ctx))
        return report.to_json()

    @api.post("/ledger/checkpoints", status_code=201, response_model=NoteOut, tags=["ledger"],
              openapi_extra=scope("admin"))  # fmt: skip
    def sign_checkpoint(caller: admin) -> dict[str, Any]:
        """Sign a checkpoint of the current tree now (admin)."""
        return {"note": ledger.issue_checkpoint(ctx)}

    return api


def _install_error_handlers(api: FastAPI) -> None:
    """Every refusal as JSON ``{"error", "message", "fields"}`` with its HTTP status."""

    @api.exception_handler(ConsentryError)
    async def refused(request: Request, exc: ConsentryError) -> Response:
        return JSONResponse(error_body(exc.code, _public_message(exc)), exc.http_status)

    @api.exception_handler(AuthRefused)
    async def unauthorised(request: Request, exc: AuthRefused) -> Response:
        challenge = 'Bearer realm="consentry"'
        if exc.status == 403:
            challenge += ', error="insufficient_scope"'
        elif request.headers.get("authorization"):
            challenge += ', error="invalid_token"'
        return JSONResponse(
            error_body(exc.code, exc.message), exc.status, headers={"WWW-Authenticate": challenge}
        )

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(validation_body(exc.errors()), 422)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just the first route's
            headers["Allow"] = ", ".join(_methods_of(api, request))
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)


def _methods_of(api: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in api.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and isinstance(route, APIRoute):
            methods |= route.methods or set()
    return sorted(methods)


def _public_message(exc: ConsentryError) -> str:
    """The error's message; for server-side failures only what the class says, so that no
    database detail leaves the server."""
    if exc.http_status < 500:
        return exc.message
    return (type(exc).__doc__ or "the server failed").strip().splitlines()[0]

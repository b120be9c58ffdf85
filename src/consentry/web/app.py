"""The web app (FastAPI): the RFC 8058 one-click unsubscribe at the URL the dispatcher puts in
every message's List-Unsubscribe header, ``/u/<list>/<token>``, the preference centre at
``/p/<list>/<token>`` (``services.preferences``), and signup with double opt-in at ``/s/<list>``,
``/c/<list>/<token>`` and ``/r/<list>/<token>`` (``web.signup_routes``).

* ``POST`` with ``List-Unsubscribe=One-Click`` (urlencoded or multipart; no cookie, no login)
  records the withdrawal, with the client's IP and user agent as evidence, durably before it
  answers 200. Repeats answer 200 and write nothing. Never a redirect.
* ``GET`` never unsubscribes (link scanners fetch URLs): it shows a page with one button, which
  makes the same POST.
* A forged, truncated or tampered token, or an unknown list, gets the same plain 404 page.
* Request bodies over 16 KiB are refused (413); every error is answered without detail.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

from consentry.bootstrap import App, open_app
from consentry.domain.errors import ConsentryError, InputError, NotFound
from consentry.heap import settle_heap
from consentry.services.context import Context
from consentry.services.preferences import Preferences, preferences, update_preferences
from consentry.services.unsubscribe import (
    Unsubscribed,
    UnsubscribeRequest,
    already_unsubscribed,
    subject_of_token,
    unsubscribe_many,
)
from consentry.settings import Settings
from consentry.web.api import create_api
from consentry.web.confirmation_mailer import ConfirmationMailer
from consentry.web.group_commit import GroupCommit
from consentry.web.one_click_fast import OneClickFastPath
from consentry.web.pages import NOT_FOUND, page
from consentry.web.rate_limit import RateLimiter
from consentry.web.signup_routes import signup_router
from consentry.web.webhooks import webhook_router

MAX_BODY = 16 * 1024
#: Provider webhooks post batches: SendGrid up to 768 KB, SNS up to 256 KB double-encoded.
MAX_HOOK_BODY = 1024 * 1024
HOOKS = "/hooks/"
#: The admin API takes notices of up to 10,000 characters (up to 4 bytes each in UTF-8).
MAX_API_BODY = 64 * 1024
API = "/api/"
ONE_CLICK = "One-Click"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, declared or not
    (``hook_limit`` under ``/hooks/``, where providers post batches)."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY, hook_limit: int = MAX_HOOK_BODY
    ) -> None:
        self.app, self.limit, self.hook_limit = app, limit, hook_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = (
            self.hook_limit if path.startswith(HOOKS)
            else MAX_API_BODY if path.startswith(API) else self.limit
        )  # fmt: skip
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await PlainTextResponse("request too large", 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await PlainTextResponse("request too large", 413)(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(
    app_factory: Callable[[], App],
    mailer: ConfirmationMailer | None = None,
    signup_limiter: RateLimiter | None = None,
    on_startup: Sequence[Callable[[], None]] = (),
) -> Any:
    """The ASGI app; ``app_factory`` opens consentry once for the server's lifetime. ``mailer``
    sends double opt-in confirmations (without one they stay queued for ``consentry signup
    send``)."""
    opened = app_factory()
    ctx: Context = opened.context
    api = FastAPI(title="consentry", docs_url=None, redoc_url=None, openapi_url=None)
    api.include_router(signup_router(ctx, mailer.kick if mailer else _nothing, signup_limiter))
    # One-click POSTs that arrive together are written in one transaction (each answered only
    # once its write is durable).
    unsubscribes: GroupCommit[UnsubscribeRequest, Unsubscribed] = GroupCommit(
        lambda requests: unsubscribe_many(ctx, requests)
    )
    api.state.unsubscribes = unsubscribes
    purposes: dict[str, str] = {}  # lists are never deleted nor renamed: a safe cache

    def purpose_of(list_id: str) -> str:
        if list_id not in purposes:
            info = ctx.store.list_info(list_id)
            if info is None:
                return list_id
            purposes[list_id] = info.purpose
        return purposes[list_id]

    api.include_router(webhook_router(ctx, opened.settings.webhooks))
    api.mount("/api/v1", create_api(ctx))  # the admin API, with its own OpenAPI schema

    @api.exception_handler(ConsentryError)
    async def refused(request: Request, exc: ConsentryError) -> Response:
        return refusal(exc)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return page("Not found", NOT_FOUND, 404)
        return page("Not allowed", "<h1>Not allowed</h1>", exc.status_code)

    @api.get("/u/{list_id}/{token}", response_class=HTMLResponse)
    def confirmpage(list_id: str, token: str) -> Response:
        subject = subject_of_token(ctx, list_id, token)
        info = ctx.store.list_info(list_id)
        purpose = html.escape(info.purpose if info else list_id)
        manage = _manage_link(list_id, token)
        if already_unsubscribed(ctx, subject, list_id):
            return page(
                "Unsubscribed",
                f"<h1>You are unsubscribed</h1><p>You no longer receive {purpose}.</p>{manage}",
            )
        return page(
            "Unsubscribe",
            f"<h1>Unsubscribe from {purpose}?</h1>"
            '<form method=post><input type=hidden name="List-Unsubscribe" value="One-Click">'
            "<button type=submit>Unsubscribe</button></form>" + manage,
        )

    async def one_click_answer(
        list_id: str, token: str, value: str | None, client: str, user_agent: str
    ) -> Response:
        """The page for a one-click POST whose ``List-Unsubscribe`` field is ``value``, from
        this route and from the fast path in front of the app (``web.one_click_fast``)."""
        if value != ONE_CLICK:
            return page("Bad request", "<h1>Use the button to unsubscribe</h1>", 400)
        evidence = {"ip": client, "user_agent": user_agent[:300]}
        try:
            done = await unsubscribes.submit(UnsubscribeRequest(list_id, token, evidence))
        except ConsentryError as exc:
            return refusal(exc)
        purpose = html.escape(purpose_of(list_id))  # no store call on the event loop
        title = "You are unsubscribed" if done.recorded else "Already unsubscribed"
        text = f"<h1>{title}</h1><p>You no longer receive {purpose}. Nothing more is sent.</p>"
        return page("Unsubscribed", text + _manage_link(list_id, token))

    @api.post("/u/{list_id}/{token}", response_class=HTMLResponse)
    async def one_click(list_id: str, token: str, request: Request) -> Response:
        form = await request.form()
        value = form.get("List-Unsubscribe")
        client = request.client.host if request.client else ""
        return await one_click_answer(
            list_id, token, value if isinstance(value, str) else None, client,
            request.headers.get("user-agent", ""),
        )  # fmt: skip

    @api.get("/p/{list_id}/{token}", response_class=HTMLResponse)
    def preferencepage(list_id: str, token: str) -> Response:
        text = _preferences_html(preferences(ctx, list_id, token))
        return page("Your email preferences", text)

    @api.post("/p/{list_id}/{token}", response_class=HTMLResponse)
    async def preference_update(list_id: str, token: str, request: Request) -> Response:
        form = await request.form()
        chosen = [str(v) for v in form.getlist("unsubscribe")]
        client = request.client.host if request.client else ""
        evidence = {"ip": client, "user_agent": request.headers.get("user-agent", "")[:300]}
        try:
            done = update_preferences(
                ctx, list_id, token, str(form.get("csrf", "")), chosen,
                form.get("everything") == "1", evidence,
            )  # fmt: skip
        except NotFound:
            raise
        except InputError:
            return page("Expired", "<h1>This form has expired</h1><p>Open the link again.</p>", 400)
        note = "<p role=status class=saved>Saved. " + (
            f"Unsubscribed from {len(done)} list(s).</p>" if done else "Nothing changed.</p>"
        )
        return page("Your email preferences", _preferences_html(preferences(ctx, list_id, token),
                                                               note))  # fmt: skip

    @api.get("/healthz", response_class=PlainTextResponse)
    def health() -> str:
        return "ok"

    if mailer is not None:
        api.router.on_startup.append(mailer.start)
        api.router.on_shutdown.append(mailer.stop)
    api.router.on_startup.extend(on_startup)
    api.router.on_shutdown.append(opened.close)
    return BodyLimit(OneClickFastPath(api, one_click_answer))


def refusal(exc: ConsentryError) -> Response:
    """The page for a refused request: the same 404 for every kind of not found, else the
    error's status without detail."""
    if isinstance(exc, NotFound):
        return page("Not found", NOT_FOUND, 404)
    return page("Something went wrong", "<h1>Something went wrong</h1>", exc.http_status)


def _nothing() -> None:
    return None


def _manage_link(list_id: str, token: str) -> str:
    href = f"/p/{html.escape(list_id)}/{html.escape(token)}"
    return f'<p><a href="{href}">Manage all your email subscriptions</a></p>'


def _preferences_html(prefs: Preferences, note: str = "") -> str:
    """Lists still received (a labelled checkbox each: tick to stop), then the lists already
    left, then "everything". ``note``: the saved-status line, right under the heading."""
    csrf = html.escape(prefs.csrf)
    receiving, left = [], []
    for choice in prefs.lists:
        name = html.escape(choice.purpose)
        value = html.escape(choice.list_id)
        if choice.subscribed:
            receiving.append(
                f'<li><input type=checkbox name=unsubscribe value="{value}" id="u-{value}" '
                f'aria-describedby="hint"><label for="u-{value}">Unsubscribe from {name}</label>'
                "</li>"
            )
        else:
            left.append(f"<li>{name}</li>")
    body = "<h1>Your email preferences</h1>" + note
    if receiving:
        body += (
            f'<h2>You receive</h2><form method=post><input type=hidden name=csrf value="{csrf}">'
            '<p id="hint">Tick each list you want to stop, then save.</p>'
            f"<ul class=choices>{''.join(receiving)}</ul>"
            "<button type=submit>Save</button></form>"
        )
    else:
        body += "<p>You receive none of our marketing email.</p>"
    if left:
        body += f"<h2>You are unsubscribed from</h2><ul>{''.join(left)}</ul>"
    if receiving:
        body += (
            f'<form method=post style=margin-top:2rem><input type=hidden name=csrf value="{csrf}">'
            '<input type=hidden name=everything value="1">'
            "<button type=submit class=secondary>Unsubscribe from everything</button></form>"
        )
    return body


def app_from_settings(settings: Settings) -> Any:
    """The app ``consentry serve`` runs; it sends confirmations when it has a mail server and an
    HTTPS base URL for their links."""
    mailer = None
    if settings.smtp_url and settings.base_url and settings.base_url.startswith("https://"):
        mailer = ConfirmationMailer(settings)
    return create_app(lambda: open_app(settings, serving=True), mailer, on_startup=[settle_heap])

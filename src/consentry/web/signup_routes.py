"""Signup with double opt-in on the web (``services.signup``):

* ``GET /s/<list>``: the signup form with the notice people agree to (embeddable in an iframe;
  ``?source=<page URL>`` names the page it is embedded in);
* ``POST /s/<list>``: records the request with the notice version shown, the time, IP, user agent
  and source page, and queues the confirmation email. The answer is the same page whatever the
  address's history; a filled honeypot field gets that page too and records nothing; more than
  a few posts a minute from one IP get 429;
* ``GET /c/<list>/<token>``: the confirmation page, one button (a GET never confirms: link
  scanners fetch URLs); ``POST`` confirms;
* ``GET /r/<list>/<token>``: the consent receipt (JSON) of the confirmation link's request.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from consentry.domain.errors import InputError, InvalidAddress
from consentry.services import signup
from consentry.services.context import Context
from consentry.web.pages import FRAMES_OK, page, paragraphs
from consentry.web.rate_limit import RateLimiter

MAX_SOURCE = 500
HONEYPOT = "website"


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _evidence(request: Request, source: str) -> dict[str, str]:
    return {
        "ip": _client(request),
        "user_agent": request.headers.get("user-agent", "")[:300],
        "source_page": source[:MAX_SOURCE],
        "form": str(request.url.path)[:200],
    }


def _form_html(form: signup.SignupForm, source: str, email: str = "", error: str = "") -> str:
    list_id = html.escape(form.list_id)
    described = ' aria-describedby="email-error" aria-invalid=true' if error else ""
    alert = f'<p class=error role=alert id="email-error">{html.escape(error)}</p>' if error else ""
    return (
        f"<h1>Subscribe to {html.escape(form.purpose)}</h1>"
        '<section aria-labelledby="notice-h"><h2 id="notice-h">What you agree to</h2>'
        f"<div class=notice>{paragraphs(form.text)}</div></section>"
        f'<form method=post action="/s/{list_id}">'
        f'<input type=hidden name=notice value="{html.escape(form.notice)}">'
        f'<input type=hidden name=source value="{html.escape(source)}">'
        '<label for="email">Your email address</label><br>'
        f'<input id="email" name=email type=email required autocomplete=email '
        f'value="{html.escape(email)}"{described}>{alert}'
        '<div class=hp aria-hidden=true><label for="website">Leave this field empty</label>'
        '<input id="website" name=website tabindex=-1 autocomplete=off></div>'
        "<p><button type=submit>Subscribe</button></p></form>"
        "<p>We will email you a link to confirm. Nothing else is sent until you confirm.</p>"
    )


def _confirm_html(list_id: str, token: str, state: signup.Confirmation) -> str:
    purpose = html.escape(state.purpose)
    if state.status == "pending":
        return (
            f"<h1>Confirm your subscription to {purpose}</h1>"
            "<form method=post><button type=submit>Confirm subscription</button></form>"
            "<p>If you did not ask for this, close this page: nothing will be sent.</p>"
        )
    if state.status == "confirmed":
        receipt = f"/r/{html.escape(list_id)}/{html.escape(token)}"
        return (
            f"<h1>You are subscribed to {purpose}</h1>"
            "<p role=status>Thank you: your subscription is confirmed. Every message has a "
            "link to unsubscribe.</p>"
            f'<p><a href="{receipt}" download>Download your consent receipt</a> (JSON), '
            "the record of what you agreed to, with a proof of it in our ledger.</p>"
        )
    if state.status == "expired":
        return (
            "<h1>This link has expired</h1><p>Confirmation links work for "
            f"{signup.CONFIRM_VALID_DAYS} days. "
            f'<a href="/s/{html.escape(list_id)}">Sign up again</a> to get a new one.</p>'
        )
    return "<h1>There is nothing to confirm</h1><p>This request is no longer open.</p>"


def signup_router(
    ctx: Context, on_request: Callable[[], None], limiter: RateLimiter | None = None
) -> APIRouter:
    """The signup routes. ``on_request`` is called after a confirmation was queued (it wakes the
    confirmation mailer)."""
    router = APIRouter()
    limits = limiter or RateLimiter()

    @router.get("/s/{list_id}")
    def signup_page(list_id: str, request: Request) -> Response:
        form = signup.signup_form(ctx, list_id)
        source = request.query_params.get("source", "")[:MAX_SOURCE]
        return page(f"Subscribe to {form.purpose}", _form_html(form, source), frames=FRAMES_OK)

    @router.post("/s/{list_id}")
    async def signup_post(list_id: str, request: Request) -> Response:
        form = signup.signup_form(ctx, list_id)  # NotFound before anything else
        if not limits.allow(_client(request)):
            return page(
                "Too many attempts",
                "<h1>Too many attempts</h1><p>Please wait a minute and try again.</p>",
                429, frames=FRAMES_OK,
            )  # fmt: skip
        data = await request.form()
        email = str(data.get("email", ""))[:320].strip()
        source = str(data.get("source", "") or request.headers.get("referer", ""))[:MAX_SOURCE]
        if str(data.get(HONEYPOT, "")):
            return _check_inbox(email)  # a bot: the same answer, nothing recorded
        try:
            status = signup.sign_up(
                ctx, list_id, email, str(data.get("notice", "")), _evidence(request, source)
            )
        except InvalidAddress:
            error = "Enter a valid email address, like name@example.com."
            return page("Subscribe", _form_html(form, source, email, error), 400, FRAMES_OK)
        except InputError:
            fresh = signup.signup_form(ctx, list_id)
            error = "The wording on this form has changed: please read it and try again."
            return page("Subscribe", _form_html(fresh, source, email, error), 400, FRAMES_OK)
        if status == "requested":
            on_request()
        return _check_inbox(email)

    def _check_inbox(email: str) -> Response:
        return page(
            "Check your inbox",
            "<h1>Check your inbox</h1><p role=status>If <strong>"
            f"{html.escape(email)}</strong> can receive email, a message with a link to confirm "
            "your subscription is on its way. Nothing is sent until you confirm.</p>",
            frames=FRAMES_OK,
        )

    @router.get("/c/{list_id}/{token}")
    def confirm_page(list_id: str, token: str) -> Response:
        state = signup.confirmation_status(ctx, list_id, token)
        return page("Confirm your subscription", _confirm_html(list_id, token, state))

    @router.post("/c/{list_id}/{token}")
    def confirm_post(list_id: str, token: str, request: Request) -> Response:
        evidence = {
            "ip": _client(request),
            "user_agent": request.headers.get("user-agent", "")[:300],
        }
        state = signup.confirm_signup(ctx, list_id, token, evidence)
        return page("Your subscription", _confirm_html(list_id, token, state))

    @router.get("/r/{list_id}/{token}")
    def receipt(list_id: str, token: str) -> Response:
        body = signup.consent_receipt(ctx, list_id, token)
        name = f"consent-receipt-{body['consentReceiptID']}.json"
        return JSONResponse(
            body,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router

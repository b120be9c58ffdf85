"""Provider webhooks: ``POST /hooks/ses``, ``/hooks/sendgrid``, ``/hooks/mailgun``,
``/hooks/postmark``. Bounces, complaints and unsubscribes become ledger leaves
(``services.provider_events``), durably, before the 200.

Each call is checked first (``webhook_auth``): a provider that is not configured answers 404;
a call without credentials 401; with wrong credentials, a bad or stale signature, an unknown SNS
topic or certificate host, or a replayed identity 403; nothing is recorded for any of them. A
call that passes but whose payload is not the provider's format answers 400, a store failure
503 (the provider retries). An accepted call answers 200 with the counts ``recorded``,
``duplicate``, ``ignored`` and ``rejected`` as JSON. An SNS ``SubscriptionConfirmation`` for a
configured topic is confirmed by fetching its ``SubscribeURL``. Refusals are short plain text.
The routes stay out of the OpenAPI schema (they are not the admin API).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.codecs.webhooks.config import WebhookConfig
from consentry.codecs.webhooks.mailgun import mailgun_events, mailgun_signature
from consentry.codecs.webhooks.postmark import postmark_events
from consentry.codecs.webhooks.sendgrid import sendgrid_events
from consentry.codecs.webhooks.ses import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    parse_sns,
    sns_events,
)
from consentry.domain.errors import ConsentryError, InputError
from consentry.domain.provider_events import ProviderEvent
from consentry.services.context import Context
from consentry.services.provider_events import record_provider_events
from consentry.web.webhook_auth import (
    BAD_SIGNATURE,
    UNSIGNED,
    Fetch,
    Refusal,
    ReplayGuard,
    SendGridVerifier,
    SNSVerifier,
    fetch_https,
    signed_seconds,
    verify_basic_auth,
    verify_mailgun,
)

__all__ = ["WebhookConfig", "webhook_router"]

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"

log = logging.getLogger("consentry.web.webhooks")

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(text, status, headers={**_HEADERS, **(headers or {})})


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as exc:  # also invalid UTF-8
        raise InputError("the body is not JSON") from exc


class _Hooks:
    """The checks and recording behind the routes (synchronous: run in the thread pool)."""

    def __init__(self, ctx: Context, config: WebhookConfig, fetch: Fetch) -> None:
        self.ctx, self.config = ctx, config
        self.guard = ReplayGuard(ctx.clock)
        self.sns = SNSVerifier(config.ses_topic_arns, fetch, ctx.clock)
        key = config.sendgrid_public_key
        self.sendgrid = SendGridVerifier(key) if key is not None else None

    def answer(self, provider: str, work: Callable[[str], Response]) -> Response:
        try:
            return work(provider)
        except InputError as bad:
            log.warning("%s webhook payload refused: %s", provider, bad.message)
            return _plain(400, f"malformed payload: {bad.message}"[:300])
        except ConsentryError as failed:  # store down, clock regressed ...: the provider retries
            log.error("%s webhook not recorded: %s", provider, failed.message)
            status = failed.http_status if failed.http_status >= 500 else 503
            return _plain(status, "not recorded, try again")

    @staticmethod
    def refuse(provider: str, refusal: Refusal) -> Response:
        log.warning("%s webhook refused (%s): %s", provider, refusal.status, refusal.reason)
        challenge = provider == "postmark" and refusal.status == 401
        headers = {"WWW-Authenticate": 'Basic realm="consentry webhooks"'} if challenge else None
        return _plain(refusal.status, refusal.reason, headers)

    def record(
        self,
        provider: str,
        identity: str | None,
        signed_at: datetime | None,
        read: Callable[[], list[ProviderEvent]],
    ) -> Response:
        """Claim the call's identity, read its events and record them; give the identity back
        when anything fails, so that the provider's retry is not taken for a replay."""
        if identity is not None and signed_at is not None:
            refused = self.guard.claim(identity, signed_at)
            if refused is not None:
                return self.refuse(provider, refused)
        done = False
        try:
            counts = record_provider_events(self.ctx, read())
            done = True
        finally:
            if identity is not None and not done:
                self.guard.release(identity)
        return JSONResponse(counts, headers=_HEADERS)

    def ses(self, provider: str, body: bytes) -> Response:
        try:
            payload = _json(body)
        except InputError:
            return self.refuse(provider, UNSIGNED)
        if not isinstance(payload, dict) or "Signature" not in payload:
            return self.refuse(provider, UNSIGNED)
        message = parse_sns(payload)
        refused = (
            self.sns.check_topic(message)
            or self.guard.check_time(message.sent_at)
            or self.sns.verify(message)
        )
        if refused is not None:
            return self.refuse(provider, refused)
        identity = f"sns:{message.message_id}"
        if message.type == NOTIFICATION:
            return self.record(provider, identity, message.sent_at, lambda: sns_events(message))
        refused = self.guard.claim(identity, message.sent_at)
        if refused is None and message.type == SUBSCRIPTION_CONFIRMATION:
            refused = self.sns.confirm(message)
            if refused is not None:
                self.guard.release(identity)
            else:
                log.info("SNS subscription to %s confirmed", message.topic_arn)
        if refused is not None:
            return self.refuse(provider, refused)
        confirmed = int(message.type == SUBSCRIPTION_CONFIRMATION)
        counts = {"recorded": 0, "duplicate": 0, "ignored": 0, "rejected": 0}
        return JSONResponse({**counts, "confirmed": confirmed}, headers=_HEADERS)

    def sendgrid_hook(
        self, provider: str, body: bytes, signature: str | None, timestamp: str | None
    ) -> Response:
        if self.sendgrid is None:
            return _plain(404, "not found")
        if not signature or not timestamp:
            return self.refuse(provider, UNSIGNED)
        signed_at = signed_seconds(timestamp)
        if signed_at is None:
            return self.refuse(provider, BAD_SIGNATURE)
        refused = self.guard.check_time(signed_at) or self.sendgrid.verify(
            signature, timestamp, body
        )
        if refused is not None:
            return self.refuse(provider, refused)
        identity = "sendgrid:" + hashlib.sha256(timestamp.encode() + b"\n" + body).hexdigest()
        return self.record(provider, identity, signed_at, lambda: sendgrid_events(_json(body)))

    def mailgun(self, provider: str, body: bytes) -> Response:
        key = self.config.mailgun_signing_key
        if key is None:
            return _plain(404, "not found")
        try:
            payload = _json(body)
            signed = mailgun_signature(payload)
        except InputError:
            return self.refuse(provider, UNSIGNED)
        signed_at = signed_seconds(signed.timestamp)
        if signed_at is None:
            return self.refuse(provider, BAD_SIGNATURE)
        refused = self.guard.check_time(signed_at) or verify_mailgun(key, signed)
        if refused is not None:
            return self.refuse(provider, refused)
        identity = f"mailgun:{signed.token}"
        return self.record(provider, identity, signed_at, lambda: mailgun_events(payload))

    def postmark(self, provider: str, body: bytes, authorization: str | None) -> Response:
        if self.config.postmark_auth is None:
            return _plain(404, "not found")
        refused = verify_basic_auth(authorization, *self.config.postmark_auth)
        if refused is not None:
            return self.refuse(provider, refused)
        return self.record(provider, None, None, lambda: postmark_events(_json(body)))


def webhook_router(ctx: Context, config: WebhookConfig, fetch: Fetch | None = None) -> APIRouter:
    """The ``/hooks/*`` routes for ``config``; ``fetch`` gets SNS certificates and confirms
    subscriptions (default: ``webhook_auth.fetch_https``)."""
    hooks = _Hooks(ctx, config, fetch or fetch_https)
    router = APIRouter(prefix="/hooks", include_in_schema=False)

    @router.post("/ses")
    async def ses(request: Request) -> Response:
        if not config.ses_topic_arns:
            return _plain(404, "not found")
        body = await request.body()
        return await run_in_threadpool(hooks.answer, "ses", lambda p: hooks.ses(p, body))

    @router.post("/sendgrid")
    async def sendgrid(request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get(SENDGRID_SIGNATURE)
        timestamp = request.headers.get(SENDGRID_TIMESTAMP)
        work = partial(hooks.sendgrid_hook, body=body, signature=signature, timestamp=timestamp)
        return await run_in_threadpool(hooks.answer, "sendgrid", work)

    @router.post("/mailgun")
    async def mailgun(request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(hooks.answer, "mailgun", lambda p: hooks.mailgun(p, body))

    @router.post("/postmark")
    async def postmark(request: Request) -> Response:
        body = await request.body()
        work = partial(
            hooks.postmark, body=body, authorization=request.headers.get("authorization")
        )
        return await run_in_threadpool(hooks.answer, "postmark", work)

    return router

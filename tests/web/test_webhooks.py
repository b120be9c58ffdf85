"""Provider webhooks in process, on a SQLite store, with real signatures made here: an RSA key and a
self-signed certificate served by the injected fetcher for SNS, an ECDSA P-256 key pair for
SendGrid, an HMAC key for Mailgun, basic auth for Postmark. Each provider's bounce, complaint and
unsubscribe (the documented payloads) becomes the right leaf; unsigned, forged, stale, replayed
and wrongly hosted calls are refused with nothing written; SNS subscriptions are confirmed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient

from consentry.codecs.webhooks.config import WebhookConfig
from consentry.domain.errors import InputError, StoreError
from consentry.domain.leaves import decode_leaf
from consentry.services import consent
from consentry.services.context import Context
from consentry.services.gate import check_send
from consentry.store.sqlite import SQLiteStore
from consentry.web import webhooks
from consentry.web.webhook_auth import BUSY, REPLAYED, ReplayGuard, fetch_https
from consentry.web.webhooks import webhook_router
from tests.conftest import FixedClock
from tests.support.audience import LIST, grant_all, organised

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
PEOPLE = [
    "jane@example.com", "richard@example.com", "recipient@example.com", "example@test.com",
    "foo@example.com", "john@example.com", "bounced-address@wildbit.com",
]  # fmt: skip


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Fetcher:
    """The injected fetcher: serves what it was given, records every URL it was asked for."""

    pages: dict[str, bytes] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bytes:
        self.asked.append(url)
        if url not in self.pages:
            raise OSError("no such page")
        return self.pages[url]


@dataclass
class World:
    http: TestClient
    ctx: Context
    clock: FixedClock
    fetcher: Fetcher
    sns_key: rsa.RSAPrivateKey
    sendgrid_key: ec.EllipticCurvePrivateKey

    def leaves(self, start: int) -> list[tuple[str, dict[str, Any]]]:
        return [(x.kind, dict(x.fields)) for s in self.ctx.store.iter_leaves(start)
                if (x := decode_leaf(s.raw))]  # fmt: skip


def _certificate(key: rsa.RSAPrivateKey, now: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM)


def _sendgrid_public(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]:
    return rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())


def _world(
    tmp_path: Path, keys: tuple[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey], **config: Any
) -> Iterator[World]:
    clock = FixedClock()
    db = tmp_path / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), tmp_path / "home", clock, partial(SQLiteStore, db))
    consent.create_list(ctx, "offers", "Offers", "test")
    grant_all(ctx, PEOPLE)
    sns_key, sendgrid_key = keys
    fetcher = Fetcher({CERT_URL: _certificate(sns_key, clock.at)})
    settings = {
        "ses_topic_arns": frozenset({TOPIC}),
        "sendgrid_public_key": _sendgrid_public(sendgrid_key),
        "mailgun_signing_key": MAILGUN_KEY,
        "postmark_auth": ("postmark", "s3cret-pass"),
        **config,
    }
    try:
        app = FastAPI()
        app.include_router(webhook_router(ctx, WebhookConfig(**settings), fetcher))
        with TestClient(app) as http:
            yield World(http, ctx, clock, fetcher, sns_key, sendgrid_key)
    finally:
        ctx.store.close()


@pytest.fixture
def world(tmp_path: Path, keys: Any) -> Iterator[World]:
    yield from _world(tmp_path, keys)


# ---------------------------------------------------------------- Amazon SES through SNS


def _sns_time(at: datetime) -> str:
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


def sign_sns(
    world: World, message: dict[str, Any], version: str = "1", at: datetime | None = None
) -> dict[str, Any]:
    """Sign as SNS does (sent now, or ``at``): name and value of each covered field, in byte
    order, a newline after each."""
    message = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    message["Timestamp"] = _sns_time(at or world.clock.at)
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
    sha1 = hashes.SHA1()  # noqa: S303 (SignatureVersion 1 is SHA1withRSA)
    digest = sha1 if version == "1" else hashes.SHA256()
    signature = world.sns_key.sign(text.encode(), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def notification(
    world: World,
    inner: Any,
    message_id: str = "0b7c6d4e-1",
    at: datetime | None = None,
    **more: Any,
) -> Any:
    envelope = {**load("sns/notification.json"), "MessageId": message_id, **more}
    envelope["Message"] = json.dumps(inner)
    return sign_sns(world, envelope, "1", at)


def post_ses(world: World, message: Any) -> httpx.Response:
    return world.http.post("/hooks/ses", content=json.dumps(message),
                           headers={"Content-Type": "text/plain; charset=UTF-8"})  # fmt: skip


def test_an_ses_permanent_bounce_suppresses_the_address_durably(world: World) -> None:
    start = world.ctx.store.size()
    answer = post_ses(world, notification(world, load("ses/bounce-with-dsn.json")))
    assert answer.status_code == 200
    assert answer.json() == {"recorded": 1, "duplicate": 0, "ignored": 0, "rejected": 0}
    ((kind, leaf),) = world.leaves(start)
    assert (kind, leaf["reason"], leaf["source"]) == ("suppressed", "hard-bounce", "webhook:ses")
    assert not check_send(world.ctx, "jane@example.com", LIST).allowed
    assert check_send(world.ctx, "richard@example.com", LIST).allowed


def test_an_ses_complaint_signed_with_version_2(world: World) -> None:
    start = world.ctx.store.size()
    message = notification(world, load("ses/complaint-with-feedback.json"))
    message = sign_sns(world, message, "2")
    assert post_ses(world, message).json()["recorded"] == 1
    ((kind, leaf),) = world.leaves(start)
    assert (kind, leaf["reason"]) == ("suppressed", "complaint")
    assert check_send(world.ctx, "richard@example.com", LIST).reason == "suppressed-complaint"


def test_an_ses_list_management_unsubscribe_withdraws_every_list(world: World) -> None:
    start = world.ctx.store.size()
    answer = post_ses(world, notification(world, load("ses/event-subscription.json")))
    assert answer.json()["recorded"] == 1
    ((kind, leaf),) = world.leaves(start)
    assert (kind, leaf["list"]) == ("consent-withdrawn", None)
    assert not check_send(world.ctx, "recipient@example.com", "offers").allowed


def test_a_subscription_confirmation_is_confirmed_by_fetching_its_url(world: World) -> None:
    confirmation = sign_sns(world, load("sns/subscription-confirmation.json"))
    start = world.ctx.store.size()
    failed = post_ses(world, confirmation)  # SNS unreachable: not confirmed, may be sent again
    assert failed.status_code == 502
    world.fetcher.pages[confirmation["SubscribeURL"]] = b"<ConfirmSubscriptionResponse/>"
    answer = post_ses(world, confirmation)
    assert answer.status_code == 200 and answer.json()["confirmed"] == 1
    assert world.fetcher.asked.count(confirmation["SubscribeURL"]) == 2
    assert world.ctx.store.size() == start
    unsubscribed = sign_sns(world, load("sns/unsubscribe-confirmation.json"))
    assert post_ses(world, unsubscribed).json()["confirmed"] == 0
    assert world.fetcher.asked.count(unsubscribed["SubscribeURL"]) == 0


def _refused(world: World, answer: httpx.Response, status: int, start: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/plain") and len(answer.text) < 100
    assert world.ctx.store.size() == start
    assert check_send(world.ctx, "jane@example.com", LIST).allowed


def test_unsigned_forged_or_tampered_sns_messages_are_refused(world: World) -> None:
    start = world.ctx.store.size()
    signed = notification(world, load("ses/bounce-with-dsn.json"))
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    _refused(world, post_ses(world, unsigned), 401, start)
    _refused(world, world.http.post("/hooks/ses", content=b"not json"), 401, start)
    other = rsa.generate_private_key(65537, 2048)
    forged = sign_sns(replace(world, sns_key=other), unsigned)
    _refused(world, post_ses(world, forged), 403, start)
    tampered = {**signed, "Message": signed["Message"].replace("Permanent", "Permanent ")}
    _refused(world, post_ses(world, tampered), 403, start)
    _refused(world, post_ses(world, {**signed, "SignatureVersion": "3"}), 403, start)


@pytest.mark.parametrize("minutes", [-6, 6])
def test_stale_sns_messages_are_refused(world: World, minutes: int) -> None:
    start = world.ctx.store.size()
    at = world.clock.at + timedelta(minutes=minutes)
    message = notification(world, load("ses/bounce-with-dsn.json"), at=at)
    _refused(world, post_ses(world, message), 403, start)
    assert world.fetcher.asked == []  # refused before any fetch


def test_a_replayed_sns_message_is_refused(world: World) -> None:
    message = notification(world, load("ses/bounce-with-dsn.json"))
    assert post_ses(world, message).status_code == 200
    start = world.ctx.store.size()
    answer = post_ses(world, message)
    assert answer.status_code == 403 and answer.text == "replayed"
    assert world.ctx.store.size() == start


def test_a_message_for_another_topic_is_refused(world: World) -> None:
    start = world.ctx.store.size()
    other = "arn:aws:sns:us-west-2:123456789012:SomeoneElse"
    message = notification(world, load("ses/bounce-with-dsn.json"), TopicArn=other)
    _refused(world, post_ses(world, message), 403, start)


@pytest.mark.parametrize("url", [
    "http://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem",
    "https://sns.us-west-2.amazonaws.com.evil.example/SimpleNotificationService-test.pem",
    "https://evil.example/sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem",
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
    "https://attacker@sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem",
    "https://sns.us-west-2.amazonaws.com:8443/SimpleNotificationService-test.pem",
    "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.txt",
    "https://s3.amazonaws.com/sns.us-west-2.amazonaws.com/cert.pem",
])  # fmt: skip
def test_a_signing_certificate_from_anywhere_else_is_refused_unfetched(
    world: World, url: str
) -> None:
    start = world.ctx.store.size()
    world.fetcher.pages[url] = world.fetcher.pages[CERT_URL]  # would verify if it were fetched
    message = notification(world, load("ses/bounce-with-dsn.json"))
    _refused(world, post_ses(world, {**message, "SigningCertURL": url}), 403, start)
    assert world.fetcher.asked == []


def test_a_subscribe_url_elsewhere_is_never_visited(world: World) -> None:
    confirmation = load("sns/subscription-confirmation.json")
    confirmation["SubscribeURL"] = "https://evil.example/?Action=ConfirmSubscription"
    answer = post_ses(world, sign_sns(world, confirmation))
    assert answer.status_code == 403
    assert confirmation["SubscribeURL"] not in world.fetcher.asked


def test_an_unreachable_certificate_fails_closed_and_can_be_retried(world: World) -> None:
    start = world.ctx.store.size()
    cert = world.fetcher.pages.pop(CERT_URL)
    message = notification(world, load("ses/bounce-with-dsn.json"))
    _refused(world, post_ses(world, message), 503, start)
    world.fetcher.pages[CERT_URL] = cert
    assert post_ses(world, message).json()["recorded"] == 1  # the retry is not a "replay"
    later = post_ses(world, notification(world, load("ses/bounce-without-dsn.json"), "m-2"))
    assert later.status_code == 200
    assert world.fetcher.asked.count(CERT_URL) == 2  # then cached


# ---------------------------------------------------------------- SendGrid


def post_sendgrid(
    world: World, body: bytes, timestamp: str | None = None, key: Any = None
) -> httpx.Response:
    timestamp = timestamp or str(int(world.clock.at.timestamp()))
    signer = key or world.sendgrid_key
    signature = signer.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    return world.http.post("/hooks/sendgrid", content=body, headers=headers)


def test_a_signed_sendgrid_batch_records_each_objection_once(world: World) -> None:
    start = world.ctx.store.size()
    body = (FIXTURES / "sendgrid/events.json").read_bytes()
    answer = post_sendgrid(world, body)
    assert answer.status_code == 200
    assert answer.json() == {"recorded": 3, "duplicate": 2, "ignored": 6, "rejected": 0}
    kinds = sorted((k, f.get("reason") or f.get("list") or "") for k, f in world.leaves(start))
    assert kinds == [("consent-withdrawn", ""), ("suppressed", "complaint"),
                     ("suppressed", "hard-bounce")]  # fmt: skip
    again = post_sendgrid(world, body, str(int(world.clock.at.timestamp()) + 1))  # re-signed
    assert again.json() == {"recorded": 0, "duplicate": 5, "ignored": 6, "rejected": 0}


def test_a_sendgrid_bounce_is_hard_and_a_block_writes_nothing(world: World) -> None:
    start = world.ctx.store.size()
    blocked = post_sendgrid(world, (FIXTURES / "sendgrid/blocked.json").read_bytes())
    assert blocked.json()["ignored"] == 1 and world.ctx.store.size() == start
    bounced = post_sendgrid(world, (FIXTURES / "sendgrid/bounce.json").read_bytes())
    assert bounced.json()["recorded"] == 1
    assert not check_send(world.ctx, "example@test.com", LIST).allowed


def test_a_sendgrid_group_unsubscribe_names_its_list_through_a_custom_argument(
    world: World,
) -> None:
    start = world.ctx.store.size()
    item = next(e for e in load("sendgrid/events.json") if e["event"] == "group_unsubscribe")
    item["consentry_list"] = "offers"
    assert post_sendgrid(world, json.dumps([item]).encode()).json()["recorded"] == 1
    ((kind, leaf),) = world.leaves(start)
    assert (kind, leaf["list"], leaf["method"]) == (
        "consent-withdrawn", "offers", "sendgrid-group_unsubscribe",
    )  # fmt: skip
    assert check_send(world.ctx, "example@test.com", LIST).allowed


def test_unsigned_forged_tampered_stale_and_replayed_sendgrid_calls_are_refused(
    world: World,
) -> None:
    start = world.ctx.store.size()
    body = (FIXTURES / "sendgrid/bounce.json").read_bytes()
    plain = world.http.post("/hooks/sendgrid", content=body)
    assert plain.status_code == 401 and world.ctx.store.size() == start
    forged = post_sendgrid(world, body, key=ec.generate_private_key(ec.SECP256R1()))
    assert forged.status_code == 403
    now = str(int(world.clock.at.timestamp()))
    good = post_sendgrid(world, body, now)
    signature = good.request.headers["X-Twilio-Email-Event-Webhook-Signature"]
    headers = {**good.request.headers, "X-Twilio-Email-Event-Webhook-Signature": signature}
    tampered = world.http.post(
        "/hooks/sendgrid", content=body.replace(b"5.0.0", b"5.0.1"), headers=headers
    )
    assert tampered.status_code == 403
    stale = post_sendgrid(world, body, str(int(world.clock.at.timestamp()) - 301))
    assert stale.status_code == 403 and stale.text == "stale"
    replayed = world.http.post("/hooks/sendgrid", content=body, headers=good.request.headers)
    assert replayed.status_code == 403 and replayed.text == "replayed"
    assert good.status_code == 200 and len(world.leaves(start)) == 1


# ---------------------------------------------------------------- Mailgun


def mailgun_body(world: World, name: str, token: str = "t" * 50, **data: Any) -> dict[str, Any]:
    payload = load(f"mailgun/{name}.json")
    payload["event-data"].update(data)
    timestamp = str(int(world.clock.at.timestamp()))
    digest = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256)
    payload["signature"] = {"timestamp": timestamp, "token": token, "signature": digest.hexdigest()}
    return payload


@pytest.mark.parametrize(("name", "email", "kind", "detail"), [
    ("failed-permanent", "recipient@example.com", "suppressed", "hard-bounce"),
    ("complained", "foo@example.com", "suppressed", "complaint"),
    ("unsubscribed", "recipient@example.com", "consent-withdrawn", None),
])  # fmt: skip
def test_mailgun_objections_become_leaves(
    world: World, name: str, email: str, kind: str, detail: str | None
) -> None:
    start = world.ctx.store.size()
    answer = world.http.post("/hooks/mailgun", json=mailgun_body(world, name))
    assert answer.status_code == 200 and answer.json()["recorded"] == 1
    ((written, leaf),) = world.leaves(start)
    assert written == kind and leaf.get("reason", leaf.get("list")) == detail
    assert not check_send(world.ctx, email, LIST).allowed


def test_a_mailgun_temporary_failure_writes_nothing(world: World) -> None:
    start = world.ctx.store.size()
    answer = world.http.post("/hooks/mailgun", json=mailgun_body(world, "failed-temporary"))
    assert answer.json()["ignored"] == 1 and world.ctx.store.size() == start


def test_unsigned_forged_stale_and_replayed_mailgun_calls_are_refused(world: World) -> None:
    start = world.ctx.store.size()
    good = mailgun_body(world, "failed-permanent")
    unsigned = {k: v for k, v in good.items() if k != "signature"}
    _refused(world, world.http.post("/hooks/mailgun", json=unsigned), 401, start)
    forged = {**good, "signature": {**good["signature"], "signature": "0" * 64}}
    _refused(world, world.http.post("/hooks/mailgun", json=forged), 403, start)
    world.clock.advance(minutes=6)
    _refused(world, world.http.post("/hooks/mailgun", json=good), 403, start)
    world.clock.advance(minutes=-6)
    assert world.http.post("/hooks/mailgun", json=good).status_code == 200
    other_event = mailgun_body(world, "complained")  # same token, another body: a replay
    answer = world.http.post("/hooks/mailgun", json=other_event)
    assert answer.status_code == 403 and answer.text == "replayed"


def test_a_signed_but_malformed_mailgun_event_is_a_400_and_writes_nothing(world: World) -> None:
    start = world.ctx.store.size()
    body = mailgun_body(world, "failed-permanent")
    del body["event-data"]["recipient"]
    answer = world.http.post("/hooks/mailgun", json=body)
    assert answer.status_code == 400 and "recipient" in answer.text
    assert world.ctx.store.size() == start


def test_a_retry_after_a_store_failure_is_not_taken_for_a_replay(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> dict[str, int]:
        raise StoreError("database is locked")

    body = mailgun_body(world, "failed-permanent")
    with monkeypatch.context() as patched:
        patched.setattr(webhooks, "record_provider_events", broken)
        failed = world.http.post("/hooks/mailgun", json=body)
    assert failed.status_code == 503
    assert world.http.post("/hooks/mailgun", json=body).json()["recorded"] == 1


# ---------------------------------------------------------------- Postmark


def post_postmark(world: World, payload: Any, auth: tuple[str, str] | None) -> httpx.Response:
    return world.http.post("/hooks/postmark", json=payload, auth=auth)


@pytest.mark.parametrize(("name", "email", "reason"), [
    ("bounce", "john@example.com", "hard-bounce"),
    ("spam-complaint", "john@example.com", "complaint"),
    ("subscription-change", "bounced-address@wildbit.com", "hard-bounce"),
])  # fmt: skip
def test_postmark_objections_become_suppressions(
    world: World, name: str, email: str, reason: str
) -> None:
    start = world.ctx.store.size()
    answer = post_postmark(world, load(f"postmark/{name}.json"), ("postmark", "s3cret-pass"))
    assert answer.status_code == 200 and answer.json()["recorded"] == 1
    ((kind, leaf),) = world.leaves(start)
    assert (kind, leaf["reason"], leaf["source"]) == ("suppressed", reason, "webhook:postmark")
    assert not check_send(world.ctx, email, LIST).allowed


def test_a_postmark_unsubscribe_withdraws_the_list_its_metadata_names(world: World) -> None:
    start = world.ctx.store.size()
    change = load("postmark/subscription-change.json")
    change.update(SuppressionReason="ManualSuppression")
    change["Metadata"]["consentry_list"] = "offers"
    assert post_postmark(world, change, ("postmark", "s3cret-pass")).json()["recorded"] == 1
    ((kind, leaf),) = world.leaves(start)
    assert (kind, leaf["list"]) == ("consent-withdrawn", "offers")
    assert check_send(world.ctx, "bounced-address@wildbit.com", LIST).allowed


def test_postmark_calls_without_or_with_wrong_credentials_are_refused(world: World) -> None:
    start = world.ctx.store.size()
    bounce = load("postmark/bounce.json")
    missing = post_postmark(world, bounce, None)
    assert missing.headers["www-authenticate"].startswith("Basic")
    _refused(world, missing, 401, start)
    _refused(world, post_postmark(world, bounce, ("postmark", "guess")), 403, start)
    _refused(world, post_postmark(world, bounce, ("admin", "s3cret-pass")), 403, start)


# ---------------------------------------------------------------- configuration


def test_a_provider_that_is_not_configured_answers_404(tmp_path: Path, keys: Any) -> None:
    off = {"ses_topic_arns": frozenset(), "sendgrid_public_key": None,
           "mailgun_signing_key": None, "postmark_auth": None}  # fmt: skip
    for world in _world(tmp_path, keys, **off):
        for provider in ("ses", "sendgrid", "mailgun", "postmark"):
            answer = world.http.post(f"/hooks/{provider}", json={})
            assert answer.status_code == 404, provider
        assert world.fetcher.asked == []


def test_a_sendgrid_key_that_is_not_p256_is_refused_at_startup(tmp_path: Path, keys: Any) -> None:
    sns_key, _ = keys
    der = sns_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InputError, match="P-256"):
        next(_world(tmp_path, keys, sendgrid_public_key=base64.b64encode(der).decode()))


def test_the_default_fetcher_fetches_https_only() -> None:
    with pytest.raises(ValueError, match="https"):
        fetch_https("http://sns.us-west-2.amazonaws.com/SimpleNotificationService-test.pem")


def test_the_replay_memory_is_bounded_forgets_after_the_window_and_fails_closed() -> None:
    clock = FixedClock()
    guard = ReplayGuard(clock, capacity=2)
    assert guard.claim("a", clock.at) is None and guard.claim("b", clock.at) is None
    assert guard.claim("c", clock.at) is BUSY  # both remembered calls are inside their window
    assert BUSY.status == 503
    assert guard.claim("a", clock.at) is REPLAYED
    clock.advance(minutes=5, seconds=1)
    assert guard.check_time(clock.at - timedelta(minutes=5, seconds=1)) is not None  # stale now
    assert guard.claim("c", clock.at) is None  # a and b forgotten: outside the window
    assert guard.claim("a", clock.at) is None
    guard.release("a")
    assert guard.claim("a", clock.at) is None

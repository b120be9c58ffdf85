"""Is a webhook call from the provider, and from now? The checks behind ``/hooks/*``.

* **Amazon SNS** (SES notifications): the message's ``TopicArn`` must be a configured one; its
  ``SigningCertURL`` must be ``https://sns.<region>.amazonaws.com[.cn]/....pem`` for the topic's
  region (nothing else is ever fetched); the certificate, fetched through the injected
  ``fetch`` and cached, must be current; the ``Signature`` must verify over the string to sign of
  its ``Type`` (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA). ``SubscribeURL`` obeys the
  same host rule before a subscription is confirmed.
* **SendGrid**: ECDSA P-256 / SHA-256 over ``X-Twilio-Email-Event-Webhook-Timestamp`` followed
  by the raw body, checked with the configured public key (base64 DER, as SendGrid shows it).
* **Mailgun**: HMAC-SHA256 of ``timestamp + token`` under the signing key, compared in constant
  time (the parent account's ``parent-signature`` is accepted for subaccounts).
* **Postmark**: HTTP basic auth, user and password compared in constant time.

Replay. Where the provider signs a time (SNS ``Timestamp``, the SendGrid timestamp header,
Mailgun's ``timestamp``), a call signed more than five minutes before or after the server's
clock is refused. Within the window a second call with the same signed identity (SNS
``MessageId``, Mailgun ``token``, the hash of SendGrid's timestamp and body) is refused as a
replay. That memory is a bounded in-process cache and is lost on a restart; the time window is
what covers restarts: nothing signed before the restart's window can be replayed after it, and
an event replayed inside the window is recorded once only, because recording is idempotent
(``services.provider_events``). An identity is remembered only once its call was recorded, so a
provider's retry after a failed attempt is not mistaken for a replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from consentry.codecs.webhooks.mailgun import MailgunSignature
from consentry.codecs.webhooks.ses import NOTIFICATION, SNSMessage
from consentry.domain.errors import InputError
from consentry.ports import Clock

REPLAY_WINDOW = timedelta(minutes=5)
FETCH_TIMEOUT = 5.0
FETCH_LIMIT = 64 * 1024

#: Fetches an https URL and returns its body; raises on any failure.
Fetch = Callable[[str], bytes]

_SNS_HOST = re.compile(r"sns\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\Z")
_SNS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


@dataclass(frozen=True)
class Refusal:
    """Why a call is refused, and the HTTP status that says so; nothing is recorded for it.

    401 when no credentials or signature came with the call; 403 when they came and were wrong,
    stale, replayed or for something not configured; 502/503 when the check itself could not be
    made (the provider should try again). Each check returns one, or None when it passed."""

    status: int
    reason: str


UNSIGNED = Refusal(401, "unsigned")
NO_CREDENTIALS = Refusal(401, "credentials required")
BAD_SIGNATURE = Refusal(403, "bad signature")
WRONG_CREDENTIALS = Refusal(403, "wrong credentials")
STALE = Refusal(403, "stale")
REPLAYED = Refusal(403, "replayed")
UNKNOWN_TOPIC = Refusal(403, "unknown topic")
BAD_SNS_URL = Refusal(403, "bad SNS URL")
BUSY = Refusal(503, "busy")


class ReplayGuard:
    """The time window and the bounded memory of signed identities seen within it."""

    def __init__(
        self, clock: Clock, window: timedelta = REPLAY_WINDOW, capacity: int = 100_000
    ) -> None:
        self.clock, self.window, self.capacity = clock, window, capacity
        self._seen: dict[str, datetime] = {}  # identity -> when it may be forgotten
        self._lock = threading.Lock()

    def check_time(self, signed_at: datetime) -> Refusal | None:
        return STALE if abs(self.clock.now() - signed_at) > self.window else None

    def claim(self, identity: str, signed_at: datetime) -> Refusal | None:
        """Take ``identity`` for this call, or refuse it as a replay. ``release`` gives it back
        when the call fails, so that the provider's retry is accepted."""
        now = self.clock.now()
        with self._lock:
            forget = self._seen.get(identity)
            if forget is not None and forget > now:
                return REPLAYED
            if len(self._seen) >= self.capacity:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                if len(self._seen) >= self.capacity:
                    return BUSY  # fail closed; the provider retries
            self._seen[identity] = signed_at + self.window
        return None

    def release(self, identity: str) -> None:
        with self._lock:
            self._seen.pop(identity, None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an error: only the checked URL is ever fetched


def fetch_https(url: str) -> bytes:
    """The default fetcher: one HTTPS GET with certificate checks, a timeout and a size limit,
    no redirects."""
    if not url.startswith("https://"):
        raise ValueError("only https URLs are fetched")
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )
    # https only (checked above), so S310's file: and custom schemes cannot occur
    request = urllib.request.Request(url, headers={"User-Agent": "consentry-webhooks"})  # noqa: S310
    with opener.open(request, timeout=FETCH_TIMEOUT) as answer:
        body: bytes = answer.read(FETCH_LIMIT + 1)
    if len(body) > FETCH_LIMIT:
        raise ValueError("answer too large")
    return body


def sns_string_to_sign(message: SNSMessage) -> bytes:
    """Name and value of each signed field, in byte order, each followed by a newline."""
    if message.type == NOTIFICATION:
        fields = [("Message", message.message), ("MessageId", message.message_id)]
        if message.subject is not None:
            fields.append(("Subject", message.subject))
        fields += [("Timestamp", message.timestamp), ("TopicArn", message.topic_arn)]
    else:
        fields = [
            ("Message", message.message),
            ("MessageId", message.message_id),
            ("SubscribeURL", message.subscribe_url or ""),
            ("Timestamp", message.timestamp),
            ("Token", message.token or ""),
            ("TopicArn", message.topic_arn),
        ]
    fields.append(("Type", message.type))
    return "".join(f"{name}\n{value}\n" for name, value in fields).encode()


def check_sns_url(url: str, topic_arn: str) -> Refusal | None:
    """None when ``url`` is https on the SNS endpoint of the topic's region, default port, no
    user info."""
    if any(c.isspace() or c in "\\@" for c in url):
        return BAD_SNS_URL
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return BAD_SNS_URL
    host = parts.hostname or ""
    found = _SNS_HOST.match(host)
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else None
    if (
        parts.scheme != "https"
        or port is not None
        or parts.netloc.lower() != host
        or found is None
        or found.group(1) != region
    ):
        return BAD_SNS_URL
    return None


class SNSVerifier:
    """Checks SNS messages for the configured topics; fetches certificates through ``fetch``."""

    def __init__(self, topic_arns: Iterable[str], fetch: Fetch, clock: Clock) -> None:
        self.topics = frozenset(topic_arns)
        self.fetch, self.clock = fetch, clock
        self._certificates: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def check_topic(self, message: SNSMessage) -> Refusal | None:
        return None if message.topic_arn in self.topics else UNKNOWN_TOPIC

    def verify(self, message: SNSMessage) -> Refusal | None:
        """The topic, the certificate's URL and dates, and the signature, in that order: nothing
        is fetched for a message whose URL or topic is wrong."""
        algorithm = _SNS_HASHES.get(message.signature_version)
        if algorithm is None:
            return Refusal(403, "unsupported signature version")
        url = message.signing_cert_url
        refused = self.check_topic(message) or check_sns_url(url, message.topic_arn)
        if refused is not None:
            return refused
        parts = urlsplit(url)
        if not parts.path.endswith(".pem") or parts.query or parts.fragment:
            return BAD_SNS_URL
        certificate = self._certificate(url)
        if isinstance(certificate, Refusal):
            return certificate
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return BAD_SIGNATURE
        try:
            signature = base64.b64decode(message.signature, validate=True)
            key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm())
        except (InvalidSignature, binascii.Error, ValueError):
            return BAD_SIGNATURE
        return None

    def confirm(self, message: SNSMessage) -> Refusal | None:
        """Visit the ``SubscribeURL`` of a verified confirmation (same host rule, this topic)."""
        url = message.subscribe_url or ""
        refused = check_sns_url(url, message.topic_arn)
        query = parse_qs(urlsplit(url).query) if refused is None else {}
        if refused is not None or query.get("Action") != ["ConfirmSubscription"]:
            return BAD_SNS_URL
        if query.get("TopicArn") != [message.topic_arn]:
            return BAD_SNS_URL
        try:
            self.fetch(url)
        except Exception:  # any failure: SNS may send the confirmation again
            return Refusal(502, "confirmation failed")
        return None

    def _certificate(self, url: str) -> x509.Certificate | Refusal:
        with self._lock:
            cached = self._certificates.get(url)
        if cached is None:
            try:
                cached = x509.load_pem_x509_certificate(self.fetch(url))
            except Exception:  # unreachable or not a certificate: cannot verify, try again later
                return Refusal(503, "signing certificate unavailable")
            with self._lock:
                if len(self._certificates) >= 32:
                    self._certificates.clear()
                self._certificates[url] = cached
        if not cached.not_valid_before_utc <= self.clock.now() <= cached.not_valid_after_utc:
            return Refusal(403, "signing certificate not valid now")
        return cached


class SendGridVerifier:
    """The Signed Event Webhook check under one verification key."""

    def __init__(self, public_key: str) -> None:
        try:
            key = load_der_public_key(base64.b64decode(public_key, validate=True))
        except (ValueError, binascii.Error) as exc:
            raise InputError("CONSENTRY_SENDGRID_PUBLIC_KEY is not a public key") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise InputError("CONSENTRY_SENDGRID_PUBLIC_KEY is not an ECDSA P-256 key")
        self.key = key

    def verify(self, signature: str, timestamp: str, body: bytes) -> Refusal | None:
        try:
            raw = base64.b64decode(signature, validate=True)
            self.key.verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            return BAD_SIGNATURE
        return None


def signed_seconds(value: str) -> datetime | None:
    """A signed Unix time (whole seconds) as aware UTC; None when it is not one."""
    if not value.isascii() or not value.isdigit() or len(value) > 11:
        return None
    return datetime.fromtimestamp(int(value), UTC)


def verify_mailgun(signing_key: str, signed: MailgunSignature) -> Refusal | None:
    message = (signed.timestamp + signed.token).encode()
    expected = hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest().encode()
    given = [signed.signature, signed.parent_signature or ""]
    matches = [hmac.compare_digest(expected, g.lower().encode()) for g in given]
    return None if any(matches) else BAD_SIGNATURE


def verify_basic_auth(header: str | None, user: str, password: str) -> Refusal | None:
    """``Authorization: Basic ...`` against the configured pair, in constant time."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return NO_CREDENTIALS
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return NO_CREDENTIALS
    given_user, sep, given_password = decoded.partition(":")
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return None if sep and user_ok and password_ok else WRONG_CREDENTIALS

"""Which provider webhooks are on, and their credentials, from ``CONSENTRY_*`` variables.

* ``CONSENTRY_SES_TOPIC_ARNS``: the SNS topic ARNs (comma separated) whose messages are accepted.
* ``CONSENTRY_SENDGRID_PUBLIC_KEY``: the Signed Event Webhook verification key, base64 DER, as
  SendGrid shows it.
* ``CONSENTRY_MAILGUN_SIGNING_KEY``: the HTTP webhook signing key.
* ``CONSENTRY_POSTMARK_WEBHOOK_AUTH``: ``user:password`` that Postmark sends as basic auth.

A provider without its variable is off (its hook answers 404). Values are checked here as far as
the standard library can (the SendGrid key is loaded as an EC key when the router is built);
errors name the variable, never the secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from consentry.domain.errors import InputError

SES_TOPIC_ARNS = "CONSENTRY_SES_TOPIC_ARNS"
SENDGRID_PUBLIC_KEY = "CONSENTRY_SENDGRID_PUBLIC_KEY"
MAILGUN_SIGNING_KEY = "CONSENTRY_MAILGUN_SIGNING_KEY"
POSTMARK_WEBHOOK_AUTH = "CONSENTRY_POSTMARK_WEBHOOK_AUTH"

_TOPIC_ARN = re.compile(r"arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}\Z")


@dataclass(frozen=True)
class WebhookConfig:
    """Provider webhook credentials; secrets are left out of ``repr``."""

    ses_topic_arns: frozenset[str] = frozenset()
    sendgrid_public_key: str | None = field(default=None, repr=False)
    mailgun_signing_key: str | None = field(default=None, repr=False)
    postmark_auth: tuple[str, str] | None = field(default=None, repr=False)

    def enabled(self) -> list[str]:
        """The providers that are on."""
        on = {
            "ses": bool(self.ses_topic_arns),
            "sendgrid": self.sendgrid_public_key is not None,
            "mailgun": self.mailgun_signing_key is not None,
            "postmark": self.postmark_auth is not None,
        }
        return [name for name, yes in on.items() if yes]


def load_webhook_config(env: Mapping[str, str]) -> WebhookConfig:
    return WebhookConfig(
        ses_topic_arns=_topic_arns(env.get(SES_TOPIC_ARNS, "")),
        sendgrid_public_key=_public_key(env.get(SENDGRID_PUBLIC_KEY, "")),
        mailgun_signing_key=env.get(MAILGUN_SIGNING_KEY, "").strip() or None,
        postmark_auth=_basic_auth(env.get(POSTMARK_WEBHOOK_AUTH, "")),
    )


def _topic_arns(value: str) -> frozenset[str]:
    arns = [part.strip() for part in value.split(",") if part.strip()]
    for arn in arns:
        if not _TOPIC_ARN.match(arn):
            raise InputError(f"{SES_TOPIC_ARNS}: {arn!r} is not an SNS topic ARN")
    return frozenset(arns)


def _public_key(value: str) -> str | None:
    key = "".join(value.split())
    if not key:
        return None
    try:
        base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{SENDGRID_PUBLIC_KEY} is not base64 (paste the key as shown)") from exc
    return key


def _basic_auth(value: str) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise InputError(f"{POSTMARK_WEBHOOK_AUTH} must be user:password, both non-empty")
    return user, password

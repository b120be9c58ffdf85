"""Webhook settings from CONSENTRY_* variables: each provider is on only with its variable, values
are checked, errors name the variable and never echo a secret, and ``repr`` hides secrets."""

from __future__ import annotations

import pytest

from consentry.codecs.webhooks.config import WebhookConfig, load_webhook_config
from consentry.domain.errors import InputError
from consentry.settings import load_settings

KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 88  # base64 of the right shape
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


def test_nothing_configured_means_every_hook_is_off() -> None:
    config = load_settings({}).webhooks
    assert config == WebhookConfig() and config.enabled() == []


def test_every_variable_is_read_into_the_settings() -> None:
    config = load_settings({
        "CONSENTRY_SES_TOPIC_ARNS": f" {TOPIC}, arn:aws-cn:sns:cn-north-1:123456789012:other ",
        "CONSENTRY_SENDGRID_PUBLIC_KEY": KEY,
        "CONSENTRY_MAILGUN_SIGNING_KEY": "key-abc",
        "CONSENTRY_POSTMARK_WEBHOOK_AUTH": "hooks:pa:ss",
    }).webhooks  # fmt: skip
    assert config.ses_topic_arns == {TOPIC, "arn:aws-cn:sns:cn-north-1:123456789012:other"}
    assert config.sendgrid_public_key == KEY and config.mailgun_signing_key == "key-abc"
    assert config.postmark_auth == ("hooks", "pa:ss")  # the password may hold a colon
    assert config.enabled() == ["ses", "sendgrid", "mailgun", "postmark"]
    shown = repr(config)
    assert "key-abc" not in shown and "pa:ss" not in shown and KEY not in shown


@pytest.mark.parametrize(("name", "value"), [
    ("CONSENTRY_SES_TOPIC_ARNS", "arn:aws:sqs:eu-west-1:123456789012:queue"),
    ("CONSENTRY_SES_TOPIC_ARNS", "MyTopic"),
    ("CONSENTRY_SENDGRID_PUBLIC_KEY", "not base64 at all!"),
    ("CONSENTRY_POSTMARK_WEBHOOK_AUTH", "only-a-user"),
    ("CONSENTRY_POSTMARK_WEBHOOK_AUTH", ":password-without-user"),
])  # fmt: skip
def test_bad_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(InputError, match=name) as refused:
        load_webhook_config({name: value})
    if name == "CONSENTRY_POSTMARK_WEBHOOK_AUTH":
        assert value not in str(refused.value)

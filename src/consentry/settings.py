"""Settings: CONSENTRY_* environment variables, each with a CLI flag equivalent.

* ``CONSENTRY_HOME`` (``--home``): where keys live; default ``./.consentry``.
* ``CONSENTRY_DATABASE_URL`` (``--database``): ``sqlite:///path``, ``postgresql://...`` or
  ``memory:``; default ``sqlite:///<home>/consentry.sqlite``.
* ``CONSENTRY_SMTP_URL`` (``campaign send --smtp``): ``smtp://[user:pass@]host:port`` or
  ``smtps://...``.
* ``CONSENTRY_BASE_URL`` (``campaign send --base-url``): the HTTPS origin that unsubscribe links
  and the one-click ``List-Unsubscribe`` URL are built on.
* ``CONSENTRY_PROVIDER``: the provider the SMTP URL belongs to (``smtp`` by default); after an
  import from another provider, marketing through it needs ``consentry transfer cutover``.
* ``CONSENTRY_WITNESSES``: where every signed checkpoint is exported (R6): ``file:PATH``,
  ``dir:PATH`` or an ``https://`` endpoint, comma-separated.
* ``CONSENTRY_APPROVAL_THRESHOLD`` (``--approval-threshold``): campaigns with more recipients need
  two approvals; default 10000.
* ``CONSENTRY_SES_TOPIC_ARNS``, ``CONSENTRY_SENDGRID_PUBLIC_KEY``,
  ``CONSENTRY_MAILGUN_SIGNING_KEY``, ``CONSENTRY_POSTMARK_WEBHOOK_AUTH`` (no flags: secrets stay
  out of command lines): the provider webhooks that are on and their credentials
  (``codecs.webhooks.config``; docs/webhooks.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from consentry.codecs.webhooks.config import WebhookConfig, load_webhook_config
from consentry.domain.errors import InputError

DEFAULT_APPROVAL_THRESHOLD = 10_000


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    smtp_url: str | None = None
    base_url: str | None = None
    approval_threshold: int = DEFAULT_APPROVAL_THRESHOLD
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    #: The provider CONSENTRY_SMTP_URL belongs to (R25: after a migration, marketing through it
    #: needs a recorded cutover).
    provider: str = "smtp"
    #: Where signed checkpoints are exported (R6): comma-separated ``file:PATH``, ``dir:PATH``,
    #: ``https://...`` (docs/audit.md).
    witnesses: str = ""


def load_settings(
    env: Mapping[str, str], home: str | None = None, database: str | None = None
) -> Settings:
    """Flags win over the environment, which wins over the defaults."""
    home_path = Path(home or env.get("CONSENTRY_HOME") or ".consentry")
    url = (
        database
        or env.get("CONSENTRY_DATABASE_URL")
        or f"sqlite:///{home_path / 'consentry.sqlite'}"
    )
    threshold = env.get("CONSENTRY_APPROVAL_THRESHOLD") or str(DEFAULT_APPROVAL_THRESHOLD)
    if not threshold.isdigit():
        raise InputError(f"CONSENTRY_APPROVAL_THRESHOLD={threshold!r} is not a whole number")
    return Settings(
        home=home_path,
        database_url=url,
        smtp_url=env.get("CONSENTRY_SMTP_URL") or None,
        base_url=env.get("CONSENTRY_BASE_URL") or None,
        approval_threshold=int(threshold),
        webhooks=load_webhook_config(env),
        provider=(env.get("CONSENTRY_PROVIDER") or "smtp").strip().lower(),
        witnesses=env.get("CONSENTRY_WITNESSES", ""),
    )

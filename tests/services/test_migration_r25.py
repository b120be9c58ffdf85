"""R25, the synthetic migration: 100,000 entries leave a Mailchimp audience for a new provider;
unsubscribes arrive during the cutover window (late webhooks from the old provider, one-click
clicks on old messages); afterwards nothing is lost and nobody who objected is sent anything."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from consentry.domain.errors import CampaignStateError
from consentry.domain.provider_events import EventKind, ProviderEvent
from consentry.domain.tokens import make_unsubscribe_token
from consentry.mail.outbox import Outbox
from consentry.services import campaigns
from consentry.services.consent import subject_for
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_campaign
from consentry.services.provider_events import record_provider_events
from consentry.services.transfer_import import import_file
from consentry.services.transfer_reconcile import LEDGER, cutover, reconcile
from consentry.services.unsubscribe import UnsubscribeRequest, unsubscribe_many
from consentry.store.sqlite import SQLiteStore
from tests.conftest import FixedClock
from tests.support.audience import LIST, campaign_spec, notice, organised

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROWS = 100_000
HEADER = ["Email Address", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP"]


def _export(path: Path) -> tuple[list[str], list[str]]:
    """The audience zip: 90% subscribed with evidence, 8% unsubscribed, 2% cleaned; returns
    (subscribed, suppressed) addresses."""
    subscribed, suppressed = [], []
    files = {"subscribed": [], "unsubscribed": [], "cleaned": []}  # type: dict[str, list[list[str]]]
    for i in range(ROWS):
        email = f"Member.{i}@Example{i % 13}.org"
        status = "subscribed" if i % 50 >= 5 else ("unsubscribed" if i % 50 >= 1 else "cleaned")
        files[status].append(
            [email, "2026-02-01 10:00:00", "198.51.100.7", "2026-02-01 10:04:00", "198.51.100.7"]
        )
        (subscribed if status == "subscribed" else suppressed).append(email)
    with zipfile.ZipFile(path, "w") as z:
        for status, rows in files.items():
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
            z.writestr(f"{status}_email_audience_export_0a1b2c3d4e.csv", out.getvalue())
    return subscribed, suppressed


def test_a_migration_loses_nothing_and_mails_nobody_who_objected(tmp_path: Path) -> None:
    clock = FixedClock()
    clock.advance(days=95)  # 2026-06-04: after the opt-ins, within their validity
    ctx: Context = organised(SQLiteStore(tmp_path / "s.sqlite", lean=True), tmp_path / "h", clock)
    notice(ctx)
    export = tmp_path / "audience_export_0a1b2c3d4e.zip"
    subscribed, suppressed = _export(export)

    report = import_file(ctx, export, list_id=LIST)
    assert report.read == ROWS and report.rejected == 0
    assert report.by_state["consented"] == len(subscribed)

    # the cutover window: late unsubscribes from the old provider's webhooks, and one-click
    # clicks on links in messages the old provider sent (consentry's own tokens)
    late_webhook = subscribed[:500]
    late_clicks = subscribed[500:1000]
    counts = record_provider_events(
        ctx, [ProviderEvent(EventKind.UNSUBSCRIBE, "mailchimp", email=e) for e in late_webhook]
    )
    assert counts["recorded"] == 500
    kid, key = ctx.keys.token_key()
    clicks = [
        UnsubscribeRequest(LIST, make_unsubscribe_token(kid, key, subject_for(ctx, e)[1], LIST),
                           {"ip": "203.0.113.1"})
        for e in late_clicks
    ]  # fmt: skip
    assert all(getattr(r, "recorded", False) for r in unsubscribe_many(ctx, clicks))

    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    with pytest.raises(CampaignStateError, match="cutover"):
        campaigns.prepare_send(ctx, "spring", ROWS, "sendgrid")
    assert reconcile(ctx, export, LEDGER).missing == []  # zero lost
    cutover(ctx, export, "mailchimp", "sendgrid", "test")
    campaigns.prepare_send(ctx, "spring", ROWS, "sendgrid")

    outbox = Outbox()
    send_campaign(ctx, "spring", outbox, "https://consent.example.com",
                  options=DispatchOptions(batch=5000), prepared=True)  # fmt: skip
    delivered = {env.recipient for env in outbox.delivered}
    objected = {e.lower() for e in [*suppressed, *late_webhook, *late_clicks]}
    assert delivered & objected == set()  # zero sends to anyone who objected
    assert delivered == {e.lower() for e in subscribed[1000:]}

"""A consentry with an organisation, a list, its notice and an audience, for the dispatch tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.keys.ring import FileKeyRing
from consentry.ports import Clock, Store
from consentry.services import consent
from consentry.services.context import Context

LIST = "news"
TEXT = "Hello {{ email }},\n\nThis month's news.\n"
HTML = "<html><body><p>Hello {{ email }}</p><p>This month's news.</p></body></html>"


def organised(store: Store, home: Path, clock: Clock, reader=None) -> Context:  # type: ignore[no-untyped-def]
    keys = FileKeyRing.create(home, "consentry.local/test")
    ctx = Context(store=store, keys=keys, clock=clock, reader=reader)
    org = configure_organisation("Example Ltd", OrganisationType.COMMERCIAL, Jurisdiction.UK)
    consent.configure(ctx, org, "test")
    consent.create_list(ctx, LIST, "Monthly news", "test")
    return ctx


def notice(ctx: Context) -> str:
    return consent.publish_notice(ctx, LIST, "Email me the monthly news.", "test").notice


def grant_all(ctx: Context, emails: Sequence[str], chunk: int = 5000) -> dict[str, str]:
    """Consent for every address (first-party, with evidence); returns address -> subject."""
    text = notice(ctx)
    subjects: dict[str, str] = {}
    for i in range(0, len(emails), chunk):
        grants = [
            consent.Grant(
                email=e,
                list_id=LIST,
                basis="consent",
                notice=text,
                method="web-form",
                source="first-party",
                evidence={"ip": "203.0.113.1"},
                actor="test",
            )
            for e in emails[i : i + chunk]
        ]
        for e, rec in zip(emails[i : i + chunk], consent.grant_many(ctx, grants), strict=True):
            subjects[e] = rec.subject
    return subjects


def campaign_spec(name: str = "spring", **over: object) -> object:
    from consentry.services.campaigns import CampaignSpec

    fields: dict[str, object] = dict(
        name=name,
        list_id=LIST,
        subject="The {{ campaign.name }} news",
        text=TEXT,
        html=HTML,
        from_address="news@example.com",
        reply_to="help@example.com",
    )
    fields.update(over)
    return CampaignSpec(**fields)  # type: ignore[arg-type]

"""The demo's last step: the evidence a regulator would ask for, written next to the demo's
database (the campaign report for ``spring-news`` and bob's subject pack), with where they are."""

from __future__ import annotations

import io
import json
from pathlib import Path

from consentry.bootstrap import open_app
from consentry.cli.audit_cmds import csv_sink, write_text
from consentry.services.audit_campaign import campaign_pack
from consentry.services.audit_html import campaign_html, subject_html
from consentry.services.audit_subject import subject_pack
from consentry.settings import Settings

CAMPAIGN = "spring-news"
SUBJECT = "bob@example.org"


def demo_audit(settings: Settings, directory: Path) -> list[str]:
    """Write the campaign report (HTML, CSV, JSON) and one subject pack (HTML, JSON) into
    ``directory/audit``; returns the lines to print."""
    out = directory / "audit"
    table = io.StringIO()
    app = open_app(settings)
    try:
        pack = campaign_pack(app.context, CAMPAIGN, csv_sink(table))
        subject = subject_pack(app.context, SUBJECT)
    finally:
        app.close()
    campaign_file = out / f"{CAMPAIGN}.html"
    write_text(campaign_file, campaign_html(pack))
    write_text(out / f"{CAMPAIGN}.json", json.dumps(pack.to_json(), indent=2) + "\n")
    write_text(out / f"{CAMPAIGN}.csv", table.getvalue())
    subject_file = out / f"{SUBJECT}.html"
    write_text(subject_file, subject_html(subject))
    write_text(out / f"{SUBJECT}.json", json.dumps(subject, indent=2) + "\n")
    shown = "n/a" if pack.proportion_validly_sent is None else f"{pack.proportion_validly_sent:.0%}"
    return [
        f"campaign evidence pack: {campaign_file} (also .csv and .json)",
        f"  validly sent {shown} ({pack.validly_sent} of {pack.handed_off} handed off), "
        f"{pack.sent_after_objection} sent after an objection, computed against the signed "
        f"checkpoint of {pack.checkpoint['size']} leaves",
        f"subject evidence pack: {subject_file} (also .json): {len(subject['consents'])} "
        f"consents, {len(subject['messages'])} messages, {len(subject['objections'])} "
        "objections, each with its inclusion proof",
    ]

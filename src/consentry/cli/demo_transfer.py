"""The demo's migration step: the organisation arrives from Mailchimp with an audience export;
consentry imports it (suppressions first), reconciles it, and refuses to send marketing until
the cutover is recorded."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from consentry.domain.errors import CampaignStateError
from consentry.services.context import Context
from consentry.services.transfer_import import import_file
from consentry.services.transfer_reconcile import LEDGER, cutover, reconcile, require_cutover

AUDIENCE = "7f3a9c21d4"
SYSTEM = ["MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LEID", "EUID"]


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def mailchimp_export(directory: Path, unsubscribed: list[str]) -> Path:
    """A small audience export zip in Mailchimp's current layout: four status files."""
    path = directory / f"audience_export_{AUDIENCE}.zip"
    subscribed = [
        ["Nadia@Example.net", "Nadia", "4", "2025-09-01 10:00:00", "203.0.113.20",
         "2025-09-01 10:04:00", "203.0.113.20", "1", "a1"],
        ["omar@example.net", "Omar", "3", "2023-11-05 18:30:00", "127.0.0.1",
         "2023-11-05 18:30:00", "127.0.0.1", "2", "a2"],
    ]  # fmt: skip
    unsubs = [
        [email, "", "2", "2023-06-01 09:00:00", "198.51.100.9", "", "", "3", f"u{i}",
         "2025-01-15 12:00:00", "January news", "I no longer want these emails"]
        for i, email in enumerate(unsubscribed)
    ]  # fmt: skip
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            f"subscribed_email_audience_export_{AUDIENCE}.csv",
            _csv(["Email Address", "First Name", *SYSTEM], subscribed),
        )
        z.writestr(
            f"unsubscribed_email_audience_export_{AUDIENCE}.csv",
            _csv(
                [
                    "Email Address",
                    "First Name",
                    *SYSTEM,
                    "UNSUB_TIME",
                    "UNSUB_CAMPAIGN_TITLE",
                    "UNSUB_REASON",
                ],
                unsubs,
            ),
        )
        z.writestr(
            f"cleaned_email_audience_export_{AUDIENCE}.csv",
            _csv(
                ["Email Address", "First Name", *SYSTEM, "CLEAN_TIME"],
                [
                    [
                        "gone@invalid.example",
                        "",
                        "1",
                        "",
                        "",
                        "",
                        "",
                        "9",
                        "c1",
                        "2024-12-01 08:00:00",
                    ]
                ],
            ),
        )
        z.writestr(
            f"nonsubscribed_email_audience_export_{AUDIENCE}.csv",
            _csv(
                ["Email Address", *SYSTEM],
                [["receipts@example.net", "", "", "", "", "", "8", "n1"]],
            ),
        )
    return path


def demo_transfer(
    ctx: Context, directory: Path, list_id: str, unsubscribed: list[str]
) -> list[str]:
    """Import, reconcile, try to send, cut over; returns the lines to print."""
    export = mailchimp_export(directory, unsubscribed)
    lines = [f"the organisation leaves Mailchimp with {export.name}"]
    dry = import_file(ctx, export, list_id=list_id, dry_run=True, actor="demo")
    lines.append(
        f"dry run: read {dry.read} = applied {dry.applied} + duplicate {dry.duplicate} + "
        f"rejected {dry.rejected}; nothing written"
    )
    report = import_file(ctx, export, list_id=list_id, actor="demo")
    states = ", ".join(f"{n} {s}" for s, n in sorted(report.by_state.items()))
    lines.append(
        f"imported ({report.format}): {states}; {report.evidence_less} consent without opt-in "
        f"evidence (127.0.0.1: a bulk import there) is kept but never mailed marketing; "
        f"import-recorded leaf {report.leaf_index}"
    )
    try:
        require_cutover(ctx, "smtp")
    except CampaignStateError as exc:
        lines.append(f"sending marketing now is refused: {str(exc).split(';')[0]}")
    check = reconcile(ctx, export, LEDGER)
    lines.append(
        f"reconcile against consentry: {check.old_suppressed} suppressed at Mailchimp, "
        f"{sum(check.missing_by_state.values())} missing"
    )
    done = cutover(ctx, export, "mailchimp", "smtp", "demo")
    lines.append(f"cutover mailchimp -> smtp recorded in leaf {done['leaf_index']}")
    return lines

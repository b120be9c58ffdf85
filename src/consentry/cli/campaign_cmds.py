"""``campaign create | preflight | approve | send | pause | resume | cancel | status | list`` and
``dispatch halt | release`` (the kill switch)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from consentry.bootstrap import open_signer, open_transport
from consentry.cli.render import console, emit_json, opened, read_option_file
from consentry.domain.errors import InputError
from consentry.heap import settle_heap
from consentry.services import campaigns
from consentry.services.dispatch import DispatchOptions, prepare_send, send_campaign
from consentry.services.dispatch import Progress as SendProgress
from consentry.services.dispatch_records import RetryPolicy
from consentry.settings import Settings


@click.group("campaign")
def campaign_group() -> None:
    """Create, check, approve and send campaigns."""


@campaign_group.command("create")
@click.argument("name")
@click.option("--list", "list_id", required=True, help="The list (and purpose) it goes to.")
@click.option("--subject", required=True, help="Subject line (Jinja2; campaign fields only).")
@click.option("--text", "text_file", required=True, help="Plain-text body template file.")
@click.option("--html", "html_file", help="HTML body template file (autoescaped).")
@click.option("--from", "from_address", required=True, help="From address.")
@click.option("--from-name", help="Display name (default: the controller's name).")
@click.option("--reply-to")
@click.option(
    "--class",
    "template_class",
    type=click.Choice(["marketing", "service"]),
    default="marketing",
    show_default=True,
)
@click.option("--jurisdiction", help="Jurisdiction profile (default: the organisation's).")
@click.option("--postal-address", help="Postal address (required for US and CA).")
@click.option("--contact", help="Phone, email or web contact (required for CA).")
@click.option("--opt-out-email", help="Address for mailto opt-outs (default: reply-to or from).")
@click.option("--product-category", help="For the commercial soft opt-in's similar products.")
@click.option("--sole-purpose-charitable", is_flag=True, help="For the charity soft opt-in.")
@click.option("--actor", default="cli", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def campaign_create(
    settings: Settings,
    name: str,
    list_id: str,
    subject: str,
    text_file: str,
    html_file: str | None,
    from_address: str,
    from_name: str | None,
    reply_to: str | None,
    template_class: str,
    jurisdiction: str | None,
    postal_address: str | None,
    contact: str | None,
    opt_out_email: str | None,
    product_category: str | None,
    sole_purpose_charitable: bool,
    actor: str,
    as_json: bool,
) -> None:
    """Record a campaign after checking its templates and sender identity."""
    spec = campaigns.CampaignSpec(
        name=name,
        list_id=list_id,
        subject=subject,
        text=read_option_file(text_file, "--text") or "",
        html=read_option_file(html_file, "--html"),
        from_address=from_address,
        from_name=from_name,
        reply_to=reply_to,
        template_class=template_class,
        jurisdiction=jurisdiction,
        postal_address=postal_address,
        contact=contact,
        opt_out_email=opt_out_email,
        product_category=product_category,
        sole_purpose_charitable=sole_purpose_charitable,
    )
    with opened(settings) as app:
        row = campaigns.create_campaign(app.context, spec, actor)
    if as_json:
        emit_json(
            {
                "campaign": row.campaign_id,
                "content": row.content_hash,
                "created_index": row.created_index,
                "state": row.state,
            }
        )
    else:
        console.print(
            f"campaign [bold]{row.campaign_id}[/] created for list {row.list_id} "
            f"({row.template_class}, {row.jurisdiction}); content {row.content_hash[:16]}…, "
            f"leaf {row.created_index}"
        )


@campaign_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def campaign_list(settings: Settings, as_json: bool) -> None:
    """Every campaign with its state and counts."""
    with opened(settings) as app:
        rows = [
            campaigns.campaign_status(app.context, c.campaign_id)
            for c in app.context.store.campaigns()
        ]
    if as_json:
        emit_json(rows)
        return
    table = Table("campaign", "state", "list", "queued", "sent", "denied", "failed", "uncertain")
    for r in rows:
        table.add_row(
            r["campaign"],
            r["state"],
            r["list"],
            *(str(r[k]) for k in ("queued", "sent", "denied", "failed", "uncertain")),
        )
    console.print(table)


@campaign_group.command("preflight")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def campaign_preflight(settings: Settings, name: str, as_json: bool) -> None:
    """Decide every recipient now (writing nothing) and report the counts (R30)."""
    with opened(settings) as app:
        report = campaigns.preflight(app.context, name)
    digest = campaigns.report_hash(report)
    if as_json:
        emit_json({**report, "report_hash": digest})
        return
    console.print(
        f"[bold]{name}[/] to list {report['list']} at ledger size "
        f"{report['ledger_size']} (ruleset {report['ruleset']})"
    )
    console.print(
        f"recipients {report['recipients']}: allowed {report['allowed']}, "
        f"denied {report['denied']}; allowed without a justifying record: "
        f"{report['allowed_without_justifying_record']}"
    )
    for title, key in (("lawful basis", "by_basis"), ("deny reason", "by_reason")):
        table = Table(title, "messages")
        for k, v in report[key].items():
            table.add_row(k, str(v))
        if not report[key]:
            table.add_row("(none)", "0")
        console.print(table)
    table = Table("recipient jurisdiction", "allowed", "denied")
    for k, v in report["by_jurisdiction"].items():
        table.add_row(k, str(v.get("allowed", 0)), str(v.get("denied", 0)))
    console.print(table)
    console.print(f"report hash {digest}")


@campaign_group.command("approve")
@click.argument("name")
@click.option(
    "--actor",
    required=True,
    help="Who approves (two different people above the approval threshold).",
)
@click.option("--report", "report", help="The preflight report hash you reviewed.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def campaign_approve(
    settings: Settings, name: str, actor: str, report: str | None, as_json: bool
) -> None:
    """Approve the campaign's current preflight report (a campaign-approved leaf)."""
    with opened(settings) as app:
        approval, current = campaigns.approve_campaign(app.context, name, actor, report)
        count = len({a.actor for a in app.context.store.approvals(name)})
    if as_json:
        emit_json(
            {
                "campaign": name,
                "actor": actor,
                "report": approval.report,
                "recipients": approval.recipients,
                "leaf": approval.leaf_index,
                "approvers": count,
            }
        )
    else:
        console.print(
            f"{actor} approved {name} (report {approval.report[:16]}…, "
            f"{current['allowed']} allowed recipients) at leaf {approval.leaf_index}; "
            f"approvers so far: {count}"
        )


@contextmanager
def _progress_bar(name: str, total: int, hidden: bool) -> Iterator[Any]:
    """A live bar (sent, denied, rate, ETA) fed by the dispatcher's progress; none for --json."""
    if hidden:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("sent {task.fields[sent]} · denied {task.fields[denied]} · "
                   "{task.fields[rate]:.0f}/s"),
        TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(name, total=total, sent=0, denied=0, rate=0.0)

        def update(p: SendProgress) -> None:
            done = p.sent + p.denied + p.failed + p.uncertain
            bar.update(task, completed=done, total=max(total, done), sent=p.sent,
                       denied=p.denied, rate=p.rate)  # fmt: skip

        yield update


def _run_send(
    settings: Settings,
    name: str,
    *,
    smtp: str | None,
    base_url: str | None,
    batch: int,
    connections: int,
    rate: float | None,
    per_domain_rate: float | None,
    retry_seconds: float,
    max_attempts: int,
    wait: bool,
    as_json: bool,
) -> None:
    smtp = smtp or settings.smtp_url
    if not smtp:
        raise InputError("no mail server: give --smtp URL or set CONSENTRY_SMTP_URL")
    base = base_url or settings.base_url
    if not base or not base.startswith("https://"):
        raise InputError(
            "unsubscribe links need an HTTPS origin (RFC 8058): give --base-url https://... "
            "or set CONSENTRY_BASE_URL"
        )
    options = DispatchOptions(
        batch=batch, retry=RetryPolicy(max_attempts, retry_seconds), wait_for_retries=wait
    )
    with opened(settings, lean=True) as app:
        ctx = app.context
        row = campaigns.require_campaign(ctx, name)
        transport = open_transport(
            smtp, connections=connections, rate=rate, per_domain_rate=per_domain_rate
        )
        queued = prepare_send(  # refusals before any bar
            ctx, name, settings.approval_threshold, settings.provider
        )
        signer = open_signer(settings.home, row.spec["from_address"])
        settle_heap()
        try:
            with _progress_bar(name, queued, hidden=as_json) as on_progress:
                result = send_campaign(
                    ctx, name, transport, base, signer, options, on_progress, prepared=True
                )
            status = campaigns.campaign_status(ctx, name)
        finally:
            if signer is not None:
                signer.close()
    summary = {**result.to_json(), "status": status, "dkim": signer is not None}
    if as_json:
        emit_json(summary)
        return
    console.print(
        f"[bold]{name}[/]: {status['state']} — sent {status['sent']}, denied {status['denied']}, "
        f"failed {status['failed']}, uncertain {status['uncertain']}, queued {status['queued']} "
        f"({result.rate:.0f} messages/s; DKIM {'on' if signer else 'off'})"
    )
    if result.stopped_by:
        console.print(f"stopped: the campaign was {result.stopped_by}")
    if status["uncertain"]:
        console.print(
            f"[yellow]{status['uncertain']} uncertain handoffs are not resent; "
            f"'consentry campaign status {name} --uncertain' lists them[/]"
        )


def _send_options(fn: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--smtp", help="smtp://[user:pass@]host:port or smtps://... [CONSENTRY_SMTP_URL]"
            ),
            click.option(
                "--base-url", help="HTTPS origin for unsubscribe links [CONSENTRY_BASE_URL]"
            ),
            click.option(
                "--batch",
                default=1000,
                show_default=True,
                type=click.IntRange(1, 20_000),
                help="Messages per decision.",
            ),
            click.option("--connections", default=8, show_default=True),
            click.option("--rate", type=float, help="Messages per second, all domains."),
            click.option("--per-domain-rate", type=float, help="Messages per second per domain."),
            click.option(
                "--retry-seconds",
                default=60.0,
                show_default=True,
                help="First backoff after a 4xx; doubles each attempt.",
            ),
            click.option("--max-attempts", default=5, show_default=True),
            click.option(
                "--no-wait", is_flag=True, help="Stop when only deferred messages are left."
            ),
            click.option("--json", "as_json", is_flag=True),
        ]
    ):
        fn = option(fn)
    return fn


def _send_command(verb: str, doc: str) -> None:
    """``send`` and ``resume`` are the same run: a resume is a send of a paused campaign."""

    @campaign_group.command(verb, help=doc)
    @click.argument("name")
    @_send_options
    @click.pass_obj
    def command(settings: Settings, /, name: str, no_wait: bool, **options: Any) -> None:
        _run_send(settings, name, wait=not no_wait, **options)


_send_command("send", "Send (or join, or resume) the campaign: every message decided and "
              "recorded first.")  # fmt: skip
_send_command("resume", "Resume a paused or interrupted campaign; nothing already handed off "
              "is sent again.")  # fmt: skip


@campaign_group.command("pause")
@click.argument("name")
@click.pass_obj
def campaign_pause(settings: Settings, name: str) -> None:
    """Stop handing off within a second; the rest stays queued for 'resume'."""
    with opened(settings) as app:
        campaigns.pause_campaign(app.context, name)
    console.print(f"campaign {name} paused")


@campaign_group.command("cancel")
@click.argument("name")
@click.pass_obj
def campaign_cancel(settings: Settings, name: str) -> None:
    """Stop for good; nothing more of it is handed off."""
    with opened(settings) as app:
        campaigns.cancel_campaign(app.context, name)
    console.print(f"campaign {name} cancelled")


@campaign_group.command("status")
@click.argument("name")
@click.option("--uncertain", is_flag=True, help="List the uncertain handoffs.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def campaign_status(settings: Settings, name: str, uncertain: bool, as_json: bool) -> None:
    """Counts of queued, sent, denied, failed and uncertain messages."""
    with opened(settings) as app:
        status = campaigns.campaign_status(app.context, name)
        if uncertain:
            rows = app.context.store.messages_in_state(name, "uncertain")
            status["uncertain_messages"] = [
                {"subject": m.subject, "address": m.literal, "decision": m.decided_index}
                for m in rows
            ]
    if as_json:
        emit_json(status)
        return
    table = Table(
        "campaign", "state", "queued", "in flight", "sent", "denied", "failed", "uncertain"
    )
    table.add_row(
        name,
        status["state"],
        *(str(status[k]) for k in ("queued", "in_flight", "sent", "denied", "failed", "uncertain")),
    )
    console.print(table)
    for m in status.get("uncertain_messages", []):
        console.print(f"uncertain: {m['address'] or m['subject']} (decision {m['decision']})")


@click.group("dispatch")
def dispatch_group() -> None:
    """The global kill switch: halt and release every dispatcher."""


@dispatch_group.command("halt")
@click.option("--reason", required=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_obj
def dispatch_halt(settings: Settings, reason: str, actor: str) -> None:
    """Stop every handoff within a second, until released."""
    with opened(settings) as app:
        campaigns.halt_dispatch(app.context, actor, reason)
    console.print(f"dispatch halted: {reason}")


@dispatch_group.command("release")
@click.option("--reason", default="released", show_default=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_obj
def dispatch_release(settings: Settings, reason: str, actor: str) -> None:
    """Lift the kill switch."""
    with opened(settings) as app:
        campaigns.release_dispatch(app.context, actor, reason)
    console.print("dispatch released")


def register(cli: click.Group) -> None:
    cli.add_command(campaign_group)
    cli.add_command(dispatch_group)

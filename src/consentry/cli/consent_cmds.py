"""``consent``, ``suppress``, ``erase``, ``check``, ``subject``: the people in the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.table import Table

from consentry.cli.render import console, emit_json, opened, pairs
from consentry.cli.subject_export_cmd import subject_export
from consentry.domain.errors import InputError
from consentry.domain.state import SUPPRESS_REASONS
from consentry.services import consent, gate, subjects
from consentry.settings import Settings

DENIED_EXIT = 5


@click.group("consent")
def consent_group() -> None:
    """Record consents, confirmations and withdrawals."""


def _refs(recorded: consent.Recorded) -> list[dict[str, Any]]:
    return [{"index": r.index, "hash": r.hash} for r in recorded.refs]


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"--valid-until {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise InputError(f"--valid-until {value!r} has no time zone (add Z or +00:00)")
    return parsed


@consent_group.command("grant")
@click.argument("email")
@click.option("--list", "list_id", required=True)
@click.option("--basis", required=True, help="Lawful basis, e.g. consent, ca_express.")
@click.option("--notice", required=True, help="Hash printed by 'notice publish'.")
@click.option("--method", required=True, help="How it was collected, e.g. web-form.")
@click.option("--source", required=True, help="first-party, third-party:NAME or import:PROVIDER.")
@click.option("--evidence", multiple=True, help="KEY=VALUE evidence (IP, user agent, form...).")
@click.option("--fact", multiple=True, help="KEY=VALUE facts the basis needs (see docs/policy.md).")
@click.option("--confirmed", is_flag=True, help="Double opt-in already confirmed.")
@click.option("--jurisdiction", help="Recipient's jurisdiction (default: the organisation's).")
@click.option("--language", default="en", show_default=True)
@click.option("--form-version")
@click.option("--valid-until", help="Expiry (ISO 8601 with zone).")
@click.option("--actor", default="cli", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def consent_grant(
    settings: Settings, email: str, list_id: str, basis: str, notice: str, method: str,
    source: str, evidence: tuple[str, ...], fact: tuple[str, ...], confirmed: bool,
    jurisdiction: str | None, language: str, form_version: str | None,
    valid_until: str | None, actor: str, as_json: bool,
) -> None:  # fmt: skip
    """Record that EMAIL consented to a list, with the notice shown and the evidence."""
    facts: dict[str, Any] = {}
    for key, value in pairs(fact, "--fact").items():
        facts[key] = {"true": True, "false": False}.get(value.lower(), value)
    grant = consent.Grant(
        email=email, list_id=list_id, basis=basis, notice=notice, method=method, source=source,
        evidence=pairs(evidence, "--evidence"), actor=actor, confirmed=confirmed,
        jurisdiction=jurisdiction, language=language, form_version=form_version,
        valid_until=_parse_time(valid_until), facts=facts,
    )  # fmt: skip
    with opened(settings) as app:
        recorded = consent.grant_consent(app.context, grant)
    if as_json:
        emit_json(
            {"subject": recorded.subject, "record": recorded.record, "leaves": _refs(recorded)}
        )
        return
    what = "consent given and confirmed" if confirmed else "consent given"
    console.print(f"[green]{what}[/] {email} → {list_id} (leaf {recorded.refs[0].index})")


@consent_group.command("confirm")
@click.argument("email")
@click.option("--list", "list_id", required=True)
@click.option("--evidence", multiple=True, help="KEY=VALUE evidence of the confirmation.")
@click.option("--actor", default="cli", show_default=True)
@click.pass_obj
def consent_confirm(
    settings: Settings, email: str, list_id: str, evidence: tuple[str, ...], actor: str
) -> None:
    """Record the double opt-in confirmation of EMAIL's consent to a list."""
    with opened(settings) as app:
        recorded = consent.confirm_consent(
            app.context, email, list_id, pairs(evidence, "--evidence"), actor
        )
    console.print(f"[green]confirmed[/] {email} → {list_id} (leaf {recorded.refs[0].index})")


@consent_group.command("withdraw")
@click.argument("email")
@click.option("--list", "list_id", help="One list; omit to withdraw from every list.")
@click.option("--channel", required=True, help="Where it came in: web, email, phone, staff...")
@click.option("--method", default="request", show_default=True)
@click.option("--source", default="first-party", show_default=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_obj
def consent_withdraw(
    settings: Settings, email: str, list_id: str | None, channel: str, method: str,
    source: str, actor: str,
) -> None:  # fmt: skip
    """Record that EMAIL withdrew consent; it also suppresses in that scope."""
    with opened(settings) as app:
        recorded = consent.withdraw_consent(
            app.context, email, list_id, channel, method, source, actor
        )
    scope = list_id or "every list"
    console.print(f"[yellow]withdrawn[/] {email} from {scope} (leaf {recorded.refs[0].index})")


@click.command("suppress")
@click.argument("email")
@click.option("--reason", required=True, type=click.Choice(sorted(SUPPRESS_REASONS)))
@click.option("--list", "list_id", help="One list; omit for a global suppression.")
@click.option("--source", default="first-party", show_default=True)
@click.option("--actor", default="cli", show_default=True)
@click.pass_obj
def suppress_cmd(
    settings: Settings, email: str, reason: str, list_id: str | None, source: str, actor: str
) -> None:
    """Suppress EMAIL globally or for one list."""
    with opened(settings) as app:
        recorded = consent.suppress(app.context, email, reason, list_id, source, actor)
    scope = list_id or "global"
    console.print(
        f"[yellow]suppressed[/] {email} ({reason}, {scope}; leaf {recorded.refs[0].index})"
    )


@click.command("erase")
@click.argument("email")
@click.option("--request", help="Reference of the erasure request.")
@click.option("--actor", default="cli", show_default=True)
@click.pass_obj
def erase_cmd(settings: Settings, email: str, request: str | None, actor: str) -> None:
    """Erase EMAIL's personal data; the ledger keeps verifying and the suppression keeps working."""
    with opened(settings) as app:
        recorded = consent.erase_subject(app.context, email, actor, request)
    console.print(f"[yellow]erased[/] {email} (leaf {recorded.refs[0].index}); suppressed globally")


@click.command("check")
@click.argument("email")
@click.option("--list", "list_id", required=True)
@click.option("--service", is_flag=True, help="Check a service (non-marketing) message instead.")
@click.option("--jurisdiction")
@click.option("--product-category")
@click.option("--sole-purpose-charitable", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def check_cmd(
    settings: Settings, email: str, list_id: str, service: bool, jurisdiction: str | None,
    product_category: str | None, sole_purpose_charitable: bool, as_json: bool,
) -> None:  # fmt: skip
    """What the send gate would decide for EMAIL on a list now. Exit 0 allowed, 5 denied."""
    with opened(settings) as app:
        decision = gate.check_send(
            app.context, email, list_id, "service" if service else "marketing",
            jurisdiction, product_category, sole_purpose_charitable,
        )  # fmt: skip
    if as_json:
        emit_json(decision.to_json())
    else:
        verdict = "[green]allowed[/]" if decision.allowed else "[red]denied[/]"
        leaf = decision.justifying
        because = f" by leaf {leaf.index} ({leaf.hash[:16]}…)" if leaf else ""
        console.print(f"{verdict} {email} → {list_id}: {decision.reason}{because}")
    if not decision.allowed:
        raise SystemExit(DENIED_EXIT)


@click.group("subject")
def subject_group() -> None:
    """One person's record."""


@subject_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def subject_show(settings: Settings, email: str, as_json: bool) -> None:
    """EMAIL's whole history: every leaf, with the evidence and the notice text."""
    with opened(settings) as app:
        history = subjects.subject_history(app.context, email)
    if as_json:
        emit_json(history)
        return
    console.print(
        f"[bold]{history['address'] or history['canonical']}[/]  subject {history['subject'][:16]}…"
    )
    table = Table("index", "time", "kind", "list/scope", "detail")
    for ev in history["events"]:
        f = ev["fields"]
        scope = f.get("list") or f.get("scope") or ("every list" if "list" in f else "")
        detail = f.get("basis") or f.get("reason") or f.get("method") or ""
        table.add_row(str(ev["index"]), ev["at"][:19], ev["kind"], str(scope), str(detail))
    console.print(table)
    if not history["events"]:
        console.print("no leaves for this address")


subject_group.add_command(subject_export)


def register(cli: click.Group) -> None:
    for command in (consent_group, suppress_cmd, erase_cmd, check_cmd, subject_group):
        cli.add_command(command)

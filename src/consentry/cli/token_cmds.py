"""``token create | list | revoke``: bearer tokens of the admin API (``docs/api.md``)."""

from __future__ import annotations

import click
from rich.table import Table

from consentry.cli.render import console, emit_json, err_console, opened
from consentry.domain.leaves import format_time
from consentry.ports import ApiTokenRow
from consentry.services import api_tokens
from consentry.settings import Settings


@click.group("token")
def token_group() -> None:
    """Bearer tokens of the admin API (/api/v1)."""


@token_group.command("create")
@click.argument("name")
@click.option(
    "--scope", required=True, type=click.Choice(api_tokens.SCOPES),
    help="read: GETs and lookups; write: also lists, notices, grants, withdrawals, "
    "suppressions; admin: also erasure and operations.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def token_create(settings: Settings, name: str, scope: str, as_json: bool) -> None:
    """Make a token called NAME and print it once: only its hash is kept."""
    with opened(settings) as app:
        issued = api_tokens.create_token(app.context, name, scope)
    if as_json:
        emit_json({"name": issued.name, "scope": issued.scope, "token": issued.secret,
                   "created_at": format_time(issued.created_at)})  # fmt: skip
    else:
        click.echo(issued.secret)
    err_console.print(
        f"[yellow]Store this {scope} token for {name!r} now: it is shown only once and cannot "
        "be recovered (revoke it and make another if it is lost).[/]",
        soft_wrap=True,
    )


def _row_json(row: ApiTokenRow) -> dict[str, str | None]:
    return {
        "name": row.name,
        "scope": row.scope,
        "created_at": format_time(row.created_at),
        "last_used_at": format_time(row.last_used_at) if row.last_used_at else None,
        "revoked_at": format_time(row.revoked_at) if row.revoked_at else None,
    }


@token_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def token_list(settings: Settings, as_json: bool) -> None:
    """Every token: name, scope, when it was made, last used and revoked (never the secret)."""
    with opened(settings) as app:
        rows = api_tokens.list_tokens(app.context)
    if as_json:
        emit_json([_row_json(r) for r in rows])
        return
    if not rows:
        console.print("no API tokens yet; make one with 'consentry token create NAME --scope ...'")
        return
    table = Table("name", "scope", "created", "last used", "revoked")
    for row in rows:
        shown = _row_json(row)
        table.add_row(
            row.name, row.scope, str(shown["created_at"])[:19],
            str(shown["last_used_at"] or "never")[:19], str(shown["revoked_at"] or "no")[:19],
        )  # fmt: skip
    console.print(table)


@token_group.command("revoke")
@click.argument("name")
@click.pass_obj
def token_revoke(settings: Settings, name: str) -> None:
    """Revoke the token called NAME: it is refused from the next request on."""
    with opened(settings) as app:
        row, revoked = api_tokens.revoke_token(app.context, name)
    assert row.revoked_at is not None
    when = format_time(row.revoked_at)
    if revoked:
        console.print(f"[yellow]revoked[/] {name} at {when}")
    else:
        console.print(f"{name} was revoked already, at {when}")


def register(cli: click.Group) -> None:
    cli.add_command(token_group)

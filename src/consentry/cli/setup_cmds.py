"""``init``, ``list``, ``notice``: setting an organisation up."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from consentry.bootstrap import create_keys, open_store
from consentry.cli.render import console, emit_json, opened
from consentry.domain.errors import InputError, SetupError
from consentry.domain.profiles import Basis, Jurisdiction, OrganisationType, configure_organisation
from consentry.services import consent
from consentry.services.context import Context
from consentry.settings import Settings

ACTOR = "cli"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "org"


@click.command("init")
@click.option("--controller", required=True, help="The organisation that controls the data.")
@click.option(
    "--organisation", "org_type", default="commercial", show_default=True,
    type=click.Choice([t.value for t in OrganisationType]),
)  # fmt: skip
@click.option(
    "--jurisdiction", default="uk", show_default=True,
    type=click.Choice([j.value for j in Jurisdiction]), help="Default recipients' jurisdiction.",
)  # fmt: skip
@click.option("--soft-opt-in", multiple=True, type=click.Choice([b.value for b in Basis]))
@click.option("--similar-product", multiple=True, help="Product category for soft opt-in.")
@click.option(
    "--origin", help="Checkpoint origin (log name); default consentry.local/<controller>."
)
@click.pass_obj
def init_cmd(
    settings: Settings, controller: str, org_type: str, jurisdiction: str,
    soft_opt_in: tuple[str, ...], similar_product: tuple[str, ...], origin: str | None,
) -> None:  # fmt: skip
    """Create the keys (in CONSENTRY_HOME, mode 0600) and the database, and record the
    organisation profile as the ledger's first leaf."""
    org = configure_organisation(
        controller, OrganisationType(org_type), Jurisdiction(jurisdiction),
        soft_opt_in=[Basis(b) for b in soft_opt_in], similar_products=similar_product,
    )  # fmt: skip
    if (settings.home / "keys").exists():
        raise SetupError(f"{settings.home} is already initialised (keys exist); nothing changed")
    store = open_store(settings.database_url)
    try:
        if store.size() > 0:
            raise SetupError(f"the database {settings.database_url} already holds a ledger")
        keys = create_keys(settings, origin or f"consentry.local/{_slug(controller)}")
        from consentry.bootstrap import SystemClock

        ctx = Context(store=store, keys=keys, clock=SystemClock())
        consent.configure(ctx, org, ACTOR)
        recipient = _backup_keys(settings.home / "keys")
    finally:
        store.close()
    console.print(f"[green]initialised[/] {controller} ({org_type}, {jurisdiction})")
    console.print(f"  keys:      {settings.home / 'keys'} (mode 0600; back them up apart)")
    console.print(f"  database:  {settings.database_url}")
    console.print(f"  verifier:  {keys.verifier_key()}")
    console.print(f"  backups:   encrypted to {recipient} (keys/backup-recipients.txt)")
    console.print(
        "  [yellow]move keys/backup-identity.txt off this server[/] (it opens the backups); "
        "docs/backups.md says what else to keep apart"
    )


def _backup_keys(keys: Path) -> str:
    """An age identity for backups (0600) and its recipient, beside the other keys."""
    from consentry.backup.age_keys import new_identity
    from consentry.cli.backup_cmds import IDENTITY_FILE, RECIPIENTS_FILE

    secret, recipient = new_identity()
    fd = os.open(keys / IDENTITY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(
            "# consentry backup identity: move it off this server\n"
            f"# public key: {recipient}\n{secret}\n"
        )
    fd = os.open(keys / RECIPIENTS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(
            f"# age recipients that 'consentry backup create' encrypts to by default\n{recipient}\n"
        )
    return recipient


@click.group("list")
def list_group() -> None:
    """Mailing lists (purposes) that people consent to."""


@list_group.command("create")
@click.argument("name")
@click.option("--purpose", default="", help="What the list is for, as people were told.")
@click.pass_obj
def list_create(settings: Settings, name: str, purpose: str) -> None:
    """Create a list."""
    with opened(settings) as app:
        ref = consent.create_list(app.context, name, purpose or name, ACTOR)
    console.print(f"[green]list created[/] {name} (leaf {ref.index})")


@list_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_show(settings: Settings, as_json: bool) -> None:
    """Show the lists and their notices."""
    with opened(settings) as app:
        store = app.context.store
        rows: list[dict[str, Any]] = [
            {"list": li.list_id, "purpose": li.purpose, "leaf_index": li.leaf.index,
             "notices": [{"hash": n.notice, "version": n.version}
                         for n in store.notices_for_list(li.list_id)]}
            for li in store.lists()
        ]  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        console.print(f"{row['list']}: {row['purpose']} ({len(row['notices'])} notices)")


@click.group("notice")
def notice_group() -> None:
    """The wording people are shown when they consent."""


@notice_group.command("publish")
@click.option("--list", "list_id", required=True)
@click.option("--language", default="en", show_default=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def notice_publish(settings: Settings, list_id: str, language: str, file: Path) -> None:
    """Publish FILE as the notice for a list; prints its hash (the --notice of a grant)."""
    try:
        text = file.read_text("utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{file}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{file}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    media = "text/html" if file.suffix.lower() in (".html", ".htm") else "text/plain"
    with opened(settings) as app:
        published = consent.publish_notice(app.context, list_id, text, ACTOR, language, media)
    click.echo(published.notice)


def register(cli: click.Group) -> None:
    from consentry.cli.demo import demo_cmd

    cli.add_command(init_cmd)
    cli.add_command(list_group)
    cli.add_command(notice_group)
    cli.add_command(demo_cmd)

"""``dkim keygen``, ``dkim show``: the keys that sign campaign mail, and their DNS records.

The keys live in ``<CONSENTRY_HOME>/keys/dkim/<domain>/<selector>.pem`` (``docs/keys.md``); the
commands print the TXT record to publish at ``<selector>._domainkey.<domain>.`` as a zone-file
line, the value cut into quoted strings of at most 255 octets.
"""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from consentry.cli.render import console, emit_json
from consentry.domain.errors import InputError
from consentry.keys.dkim_keys import (
    ALGORITHMS,
    StoredDKIMKey,
    dns_record,
    generate_dkim_key,
    list_dkim_keys,
    load_dkim_keys,
    txt_strings,
    zone_line,
)
from consentry.settings import Settings


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys that sign outgoing mail (RFC 6376, RFC 8463)."""


@dkim_group.command("keygen")
@click.option("--domain", required=True, help="The d= domain (the From domain or its parent).")
@click.option("--selector", required=True, help="The s= selector, e.g. 2026a or cs1.")
@click.option(
    "--algorithm", default="rsa-sha256", show_default=True, type=click.Choice(ALGORITHMS),
    help="rsa-sha256 for every receiver; add an ed25519-sha256 key to dual-sign.",
)  # fmt: skip
@click.option("--bits", type=int, help="RSA key size; 2048 (default) to 8192.")
@click.pass_obj
def keygen_cmd(
    settings: Settings, domain: str, selector: str, algorithm: str, bits: int | None
) -> None:
    """Create a DKIM key (mode 0600, never over an existing one) and print its TXT record."""
    if bits is not None and algorithm != "rsa-sha256":
        raise InputError("--bits applies to RSA keys only; Ed25519 keys have a fixed size")
    key = generate_dkim_key(settings.home, domain, selector, algorithm, bits or 2048)
    console.print(
        f"[green]DKIM key created[/] {escape(str(key.path))} ({key.algorithm}, mode 0600)",
        soft_wrap=True,
    )
    console.print("Publish this TXT record, then sign with the key once it resolves:")
    click.echo(zone_line(key))


def _row(key: StoredDKIMKey) -> dict[str, Any]:
    name, value = dns_record(key)
    return {
        "domain": key.domain, "selector": key.selector, "algorithm": key.algorithm,
        "file": str(key.path), "name": name, "value": value, "txt": txt_strings(value),
    }  # fmt: skip


@dkim_group.command("show")
@click.option("--domain", help="Only this domain's keys.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def show_cmd(settings: Settings, domain: str | None, as_json: bool) -> None:
    """List the DKIM keys and the TXT record each one needs."""
    keys = load_dkim_keys(settings.home, domain) if domain else list_dkim_keys(settings.home)
    if as_json:
        emit_json([_row(key) for key in keys])
        return
    if not keys:
        where = f" for {domain}" if domain else ""
        console.print(f"no DKIM keys{where}; create one with 'consentry dkim keygen'")
        return
    for key in keys:
        click.echo(f"{key.domain} {key.selector} {key.algorithm} {key.path}")
        click.echo(f"  {zone_line(key)}")


def register(cli: click.Group) -> None:
    cli.add_command(dkim_group)

"""``consentry inbound``: the SMTP listener for the List-Unsubscribe mailto address, the reply
address and the bounce and feedback-loop addresses (docs/inbound.md)."""

from __future__ import annotations

import contextlib
import signal
from functools import partial

import click

from consentry.bootstrap import open_app
from consentry.settings import Settings


@click.command("inbound")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, type=click.IntRange(0, 65535))
@click.option("--accept", "accept", multiple=True, required=True, metavar="ADDRESS|@DOMAIN",
              envvar="CONSENTRY_INBOUND_ACCEPT",
              help="An address (opt-out, reply, bounce, feedback loop) or a whole @domain "
                   "to take mail for; repeat it [CONSENTRY_INBOUND_ACCEPT].")  # fmt: skip
@click.pass_obj
def inbound_cmd(settings: Settings, host: str, port: int, accept: tuple[str, ...]) -> None:
    """Take unsubscribe mail, replies, bounces (RFC 3464) and abuse reports (RFC 5965) and
    record the objections in the ledger before answering 250."""
    from consentry.mail.inbound import AcceptList, InboundListener, serve_inbound
    from consentry.services.inbound import handle_inbound

    accepted = AcceptList(accept)
    app = open_app(settings)
    try:
        app.context.keys.token_key()  # not initialised: fail now, not on the first message

        def ready(listener: InboundListener) -> None:
            click.echo(f"consentry inbound listening on {listener.address} for {accepted}")

        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly
        try:
            with contextlib.suppress(KeyboardInterrupt):
                serve_inbound(partial(handle_inbound, app.context), accepted, host, port, ready)
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        app.close()


def register(cli: click.Group) -> None:
    cli.add_command(inbound_cmd)

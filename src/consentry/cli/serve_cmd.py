"""``consentry serve``: the web app on uvicorn (127.0.0.1 by default)."""

from __future__ import annotations

import click

from consentry.settings import Settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--access-log", is_flag=True,
    help="Log every request. Off by default: request lines hold people's IPs and tokens.",
)  # fmt: skip
@click.pass_obj
def serve_cmd(settings: Settings, host: str, port: int, access_log: bool) -> None:
    """Serve the web side: one-click unsubscribe (the URL every message's List-Unsubscribe
    names), the preference centre, signup with double opt-in, provider webhooks, the admin API."""
    import uvicorn

    from consentry.web.app import app_from_settings

    uvicorn.run(app_from_settings(settings), host=host, port=port, log_level="info",
                access_log=access_log, server_header=False, proxy_headers=False)  # fmt: skip


def register(cli: click.Group) -> None:
    cli.add_command(serve_cmd)

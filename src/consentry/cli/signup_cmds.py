"""``signup enable | send | snippet``: double opt-in signup for a list (``services.signup``).

``consentry serve`` shows the form at ``/s/<list>`` and sends confirmations itself when it has
``CONSENTRY_SMTP_URL`` and ``CONSENTRY_BASE_URL``; ``signup send`` sends what is queued from the
command line (a cron job, or a server run without a mail server)."""

from __future__ import annotations

import html

import click

from consentry.bootstrap import flush_confirmations
from consentry.cli.render import console, emit_json, opened, read_option_file
from consentry.domain.errors import InputError
from consentry.services import signup
from consentry.settings import Settings


@click.group("signup")
def signup_group() -> None:
    """Signup forms with double opt-in."""


@signup_group.command("enable")
@click.argument("list_id", metavar="LIST")
@click.option("--from", "from_address", required=True, help="From address of confirmations.")
@click.option("--from-name", help="Display name (default: the controller's name).")
@click.option("--reply-to")
@click.option("--subject", help="Subject template (default: a plain confirmation request).")
@click.option("--text", "text_file", help="Text body template file; must use {{ confirm_url }}.")
@click.option("--html", "html_file", help="HTML body template file.")
@click.option("--postal-address", help="Postal address (required for US and CA senders).")
@click.option("--contact", help="Phone, email or web contact (required for CA).")
@click.option("--opt-out-email", help="Address for mailto opt-outs (default: reply-to or from).")
@click.option("--actor", default="cli", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def enable_cmd(
    settings: Settings, list_id: str, from_address: str, from_name: str | None,
    reply_to: str | None, subject: str | None, text_file: str | None, html_file: str | None,
    postal_address: str | None, contact: str | None, opt_out_email: str | None, actor: str,
    as_json: bool,
) -> None:  # fmt: skip
    """Let people sign up to LIST at /s/LIST, confirming by email (double opt-in)."""
    text = read_option_file(text_file, "--text")
    if text is not None and "confirm_url" not in text:
        raise InputError(f"--text {text_file}: the body must contain {{{{ confirm_url }}}}")
    with opened(settings) as app:
        row = signup.enable_signup(
            app.context, list_id, from_address, actor, from_name=from_name, reply_to=reply_to,
            subject=subject, text=text, html=read_option_file(html_file, "--html"),
            postal_address=postal_address, contact=contact, opt_out_email=opt_out_email,
        )  # fmt: skip
    if as_json:
        emit_json({"list": list_id, "campaign": row.campaign_id, "form": f"/s/{list_id}"})
        return
    console.print(
        f"signup enabled for [bold]{list_id}[/]: the form is /s/{list_id} on 'consentry serve'; "
        f"confirmations go out as campaign {row.campaign_id}"
    )


@signup_group.command("send")
@click.option("--smtp", help="smtp://[user:pass@]host:port or smtps://... [CONSENTRY_SMTP_URL]")
@click.option("--base-url", help="HTTPS origin for confirmation links [CONSENTRY_BASE_URL]")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def send_cmd(settings: Settings, smtp: str | None, base_url: str | None, as_json: bool) -> None:
    """Send every queued confirmation (what 'consentry serve' does by itself)."""
    smtp = smtp or settings.smtp_url
    base = base_url or settings.base_url
    if not smtp:
        raise InputError("no mail server: give --smtp URL or set CONSENTRY_SMTP_URL")
    if not base or not base.startswith("https://"):
        raise InputError(
            "confirmation links need an HTTPS origin: give --base-url https://... or set "
            "CONSENTRY_BASE_URL"
        )
    with opened(settings, lean=True) as app:
        done = flush_confirmations(app, smtp, base)
    summary = {name: progress.to_json() for name, progress in done.items()}
    if as_json:
        emit_json(summary)
        return
    if not done:
        console.print("no confirmations queued")
    for name, progress in done.items():
        console.print(
            f"{name}: sent {progress.sent}, denied {progress.denied}, failed {progress.failed}, "
            f"deferred {progress.deferred}"
        )


@signup_group.command("snippet")
@click.argument("list_id", metavar="LIST")
@click.option("--base-url", help="HTTPS origin of 'consentry serve' [CONSENTRY_BASE_URL]")
@click.pass_obj
def snippet_cmd(settings: Settings, list_id: str, base_url: str | None) -> None:
    """Print HTML to embed the signup form in your own pages."""
    base = (base_url or settings.base_url or "https://consent.example.com").rstrip("/")
    with opened(settings) as app:
        form = signup.signup_form(app.context, list_id)
    action = html.escape(f"{base}/s/{list_id}")
    notice = "\n".join(f"  <p>{html.escape(p)}</p>" for p in form.text.split("\n\n") if p.strip())
    click.echo(
        f"<!-- consentry signup for {html.escape(list_id)}: either the frame ... -->\n"
        f'<iframe src="{action}?source=PAGE_URL" title="Subscribe to '
        f'{html.escape(form.purpose)}" style="border:0;width:100%;height:30rem"></iframe>\n\n'
        f"<!-- ... or this form. Show the notice exactly as it is: its hash (notice v"
        f"{form.version}) is recorded as what the person saw. Re-run this command after "
        "publishing a new notice. -->\n"
        f'<form method="post" action="{action}">\n{notice}\n'
        f'  <input type="hidden" name="notice" value="{form.notice}">\n'
        '  <input type="hidden" name="source" value="PAGE_URL">\n'
        '  <label for="consentry-email">Your email address</label>\n'
        '  <input id="consentry-email" name="email" type="email" required '
        'autocomplete="email">\n'
        '  <div style="position:absolute;left:-10000px" aria-hidden="true">'
        '<input name="website" tabindex="-1" autocomplete="off"></div>\n'
        '  <button type="submit">Subscribe</button>\n</form>'
    )


def register(cli: click.Group) -> None:
    cli.add_command(signup_group)

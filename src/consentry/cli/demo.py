"""``consentry demo``: the ledger's story, end to end, on a fresh SQLite file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import socket
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.panel import Panel

from consentry.bootstrap import (
    SystemClock,
    create_keys,
    local_sink,
    open_app,
    open_signer,
    open_store,
)
from consentry.cli.demo_audit import demo_audit
from consentry.cli.demo_backup import demo_backup
from consentry.cli.demo_transfer import demo_transfer
from consentry.cli.render import console
from consentry.domain.merkle import verify_consistency, verify_inclusion
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.domain.tokens import make_unsubscribe_token
from consentry.keys.dkim_keys import dns_record, generate_dkim_key
from consentry.ports import Transport
from consentry.services import campaigns, consent, gate, ledger, signup, subjects
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, Progress, send_campaign
from consentry.settings import Settings

MARKER = ".consentry-demo"
NOTICE = (
    "Yes, I would like Example Campaigns Ltd (1 Example Street, London) to email me its monthly "
    "newsletter about its work and events. I can unsubscribe at any time with the link in every "
    "email or by writing to privacy@example.org.\n"
)


def _step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def _check(ctx: Context, email: str, list_id: str = "newsletter") -> None:
    d = gate.check_send(ctx, email, list_id)
    verdict = "[green]ALLOW[/]" if d.allowed else "[red]DENY [/]"
    leaf = f" justified by leaf {d.justifying.index}" if d.justifying else ""
    console.print(f"  {verdict} {email:<28} {d.reason}{leaf}")


@click.command("demo")
@click.option(
    "--dir", "directory", default="consentry-demo", show_default=True,
    type=click.Path(file_okay=False, path_type=Path), help="Where the demo keeps its files.",
)  # fmt: skip
def demo_cmd(directory: Path) -> None:
    """Tell the ledger's story on a fresh SQLite file and show what to look at."""
    if directory.exists():
        if not (directory / MARKER).exists():
            raise click.ClickException(
                f"{directory} exists and is not a consentry demo; choose --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by consentry demo\n")
    settings = Settings(home=directory, database_url=f"sqlite:///{directory / 'consentry.sqlite'}")

    _step("1. An organisation, its keys and its ledger")
    org = configure_organisation(
        "Example Campaigns Ltd", OrganisationType.COMMERCIAL, Jurisdiction.UK
    )
    store = open_store(settings.database_url)
    keys = create_keys(settings, "consentry.local/example-campaigns")
    ctx0 = Context(store=store, keys=keys, clock=SystemClock())
    consent.configure(ctx0, org, "demo")
    store.close()
    console.print(
        f"  keys in {directory / 'keys'} (0600), ledger in {directory / 'consentry.sqlite'}"
    )
    console.print(f"  checkpoint verifier key: {keys.verifier_key()}")

    app = open_app(settings)
    ctx = app.context
    try:
        _step("2. A list and the exact wording people see")
        consent.create_list(ctx, "newsletter", "Monthly newsletter", "demo")
        notice = consent.publish_notice(ctx, "newsletter", NOTICE, "demo").notice
        console.print(f"  notice hash {notice} (the text is stored; the ledger keeps its hash)")

        _step("3. Consents, with evidence")
        people = {
            "alice@example.org": dict(confirmed=True),
            "Bob@Example.ORG": dict(confirmed=True),
            "carol@bücher.example": dict(confirmed=False),
        }
        for email, extra in people.items():
            consent.grant_consent(ctx, consent.Grant(
                email=email, list_id="newsletter", basis="consent", notice=notice,
                method="web-form", source="first-party", actor="signup-form",
                evidence={"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "form": "signup-v3"},
                confirmed=bool(extra["confirmed"]),
            ))  # fmt: skip
            console.print(f"  consent recorded for {email}")
        _check(ctx, "alice@example.org")
        _check(ctx, "bob@example.org")
        _check(ctx, "dave@example.org")

        _step("4. Objections win: an unsubscribe and an erasure")
        consent.withdraw_consent(
            ctx, "bob@example.org", None, "web", "one-click", "first-party", "demo"
        )
        console.print("  bob unsubscribed from everything")
        _check(ctx, "bob@example.org")
        consent.erase_subject(ctx, "carol@bücher.example", "demo", "DSAR-0001")
        console.print("  carol asked to be erased: her address and evidence are deleted")
        _check(ctx, "CAROL@xn--bcher-kva.example")
        history = subjects.subject_history(ctx, "carol@bücher.example")
        gone = "deleted" if history["address"] is None else "STILL THERE"
        console.print(
            f"  carol's address in the side table: {gone}; her {len(history['events'])} leaves "
            "stay, keyed only by HMAC"
        )
        console.print("  other spellings of bob's address are the same subject, still suppressed:")
        _check(ctx, "BOB@example.org")

        _step("5. Proofs anyone can check")
        alice = subjects.subject_history(ctx, "alice@example.org")["events"][0]
        proof = ledger.prove_inclusion(ctx, alice["index"])
        ok = verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
            [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root_hash"]),
        )  # fmt: skip
        console.print(f"  alice's consent is leaf {alice['index']}; its inclusion proof of "
                      f"{len(proof['proof'])} hashes verifies: {ok}")  # fmt: skip
        cons = ledger.prove_consistency(ctx, 3)
        ok = verify_consistency(
            3, cons["new_size"], bytes.fromhex(cons["old_root"]), bytes.fromhex(cons["new_root"]),
            [bytes.fromhex(h) for h in cons["proof"]],
        )  # fmt: skip
        console.print(f"  the tree of 3 leaves is a prefix of today's {cons['new_size']}: {ok}")
        note = ledger.issue_checkpoint(ctx)
        console.print(Panel(note.rstrip(), title="signed checkpoint (C2SP signed note)"))
        report = ledger.verify_ledger(ctx)
        console.print(f"  ledger verify: ok={report.ok}, {report.size} leaves, "
                      f"{report.checkpoints_checked} checkpoints")  # fmt: skip
    finally:
        app.close()

    _campaign(settings, directory)

    _step("7. Tampering is caught")
    forged = directory / "tampered.sqlite"
    shutil.copyfile(directory / "consentry.sqlite", forged)
    _forge(forged)
    bad = open_app(Settings(home=directory, database_url=f"sqlite:///{forged}"))
    try:
        report = ledger.verify_ledger(bad.context)
    finally:
        bad.close()
    console.print(
        "  in a copy of the file, an attacker with database access drops the append-only "
        "triggers and edits bob's withdrawal leaf (and its stored hash):"
    )
    for problem in report.problems:
        console.print(f"  [red]FAIL[/] {problem} (first bad index {report.first_bad_index})")

    _step("8. Evidence for a regulator: the campaign report and a subject pack")
    for line in demo_audit(settings, directory):
        console.print(f"  {line}", markup=False, soft_wrap=True)

    _step("9. An encrypted backup and a verified restore into a fresh store")
    for line in demo_backup(settings, directory):
        console.print(f"  {line}", soft_wrap=True)

    home = f"CONSENTRY_HOME={directory}"
    _step("What to look at next")
    for line in (
        f"{home} .venv/bin/consentry subject show bob@example.org",
        f"{home} .venv/bin/consentry check alice@example.org --list newsletter --json",
        f"{home} .venv/bin/consentry ledger verify",
        f"{home} .venv/bin/consentry campaign status spring-news",
        f"{home} .venv/bin/consentry audit campaign spring-news --json",
        f"open {directory}/audit/spring-news.html   # the report a regulator reads",
        f"{home} .venv/bin/consentry transfer reconcile "
        f"{directory}/audience_export_7f3a9c21d4.zip consentry",
        f"ls {directory}/sink | head   # the messages the local SMTP sink received",
        f"{home} .venv/bin/consentry ledger prove 3 --json",
        f"{home} .venv/bin/consentry ledger export {directory}/ledger.jsonl",
        f"{home} CONSENTRY_DATABASE_URL=sqlite:///{forged} .venv/bin/consentry ledger verify",
    ):
        console.print(f"  {line}", soft_wrap=True, markup=False)
    console.print("  docs/ledger-format.md: how to verify an export with your own code.")


def _forge(path: Path) -> None:
    """What an attacker with write access to the file could do: drop the append-only triggers
    and rewrite a leaf (and its stored hash) in place."""
    conn = sqlite3.connect(path)
    try:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f'DROP TRIGGER "{name}"')
        seq, raw = conn.execute(
            "SELECT seq, leaf FROM ledger_leaves WHERE kind = 'consent-withdrawn'"
        ).fetchone()
        forged = bytes(raw).replace(b'"method":"one-click"', b'"method":"one-klick"')
        conn.execute(
            "UPDATE ledger_leaves SET leaf = ?, leaf_hash = ? WHERE seq = ?",
            (forged, hashlib.sha256(b"\x00" + forged).digest(), seq),
        )
        conn.commit()
    finally:
        conn.close()


AUDIENCE = 600
LATE = "zoe@example.org"
NEWCOMER = "yusuf@example.net"
#: Readers who had unsubscribed at Mailchimp: the import keeps them from the campaign.
MAILCHIMP_UNSUBSCRIBED = ["reader5@example.net", "Reader7@Example.net"]
PUBLIC = "https://consent.example.org"
TEXT = """Hello {{ email }},

Spring is here, and so is our newsletter: three events near you, and what your support did
this winter.
"""


def _campaign(settings: Settings, directory: Path) -> None:
    app = open_app(settings)
    ctx = app.context
    try:
        notice = ctx.store.notices_for_list("newsletter")[-1].notice
        grants = [
            consent.Grant(
                email=e, list_id="newsletter", basis="consent", notice=notice,
                method="web-form", source="first-party", actor="signup-form",
                evidence={"ip": "198.51.100.4", "form": "signup-v3"}, confirmed=True,
            )
            for e in [f"reader{i}@example.net" for i in range(AUDIENCE)] + [LATE]
        ]  # fmt: skip
        consent.grant_many(ctx, grants)
        console.print(f"  {AUDIENCE + 1} more readers consented on the newsletter's signup form")
        _step("5b. Arriving from Mailchimp: import, reconcile, cut over")
        for line in demo_transfer(ctx, directory, "newsletter", MAILCHIMP_UNSUBSCRIBED):
            console.print(f"  {line}")
        _step("6. A campaign to a local SMTP sink; an unsubscribe lands mid-way")
        key = generate_dkim_key(settings.home, "example.org", "demo2026")
        console.print("  a DKIM key for example.org made")
        name, value = dns_record(key)
        console.print(f'  to publish in DNS: {name} TXT "{value[:32]}…"', soft_wrap=True)
        campaigns.create_campaign(ctx, campaigns.CampaignSpec(
            name="spring-news", list_id="newsletter", subject="Spring news from {{ sender.name }}",
            text=TEXT, html=None, from_address="news@example.org",
            reply_to="privacy@example.org",
        ), "demo")  # fmt: skip
        report = campaigns.preflight(ctx, "spring-news")
        console.print(
            f"  preflight: {report['recipients']} recipients, {report['allowed']} allowed "
            f"({report['by_basis']}), denied {report['by_reason']}, allowed without a "
            f"justifying record: {report['allowed_without_justifying_record']}"
        )
        signup.enable_signup(ctx, "newsletter", "news@example.org", "demo",
                             reply_to="privacy@example.org")  # fmt: skip
        with (
            local_sink(directory / "sink") as sink,
            _web_server(replace(settings, smtp_url=sink.url, base_url=PUBLIC)) as base,
        ):
            console.print(f"  the one-click unsubscribe page is served at {base}/u/… "
                          "(what 'consentry serve' runs)")  # fmt: skip
            late = _unsubscribe_when(settings, base, sink, AUDIENCE // 3)
            signer = open_signer(settings.home, "news@example.org", workers=0)
            try:
                result = send_campaign(
                    ctx,
                    "spring-news",
                    _transport(sink.url),
                    PUBLIC,
                    signer,
                    DispatchOptions(batch=100),
                    _ticker(),
                )
            finally:
                if signer is not None:
                    signer.close()
            late.join()
            received = dict(sink.stats.by_recipient)
            status = campaigns.campaign_status(ctx, "spring-news")
            console.print(
                f"  sent {status['sent']}, denied {status['denied']}, failed {status['failed']}, "
                f"uncertain {status['uncertain']} at {result.rate:.0f} messages/s; the sink holds "
                f"{sum(received.values())} messages, none twice: {max(received.values()) == 1}"
            )
            console.print(
                f"  {LATE} unsubscribed while the campaign ran and received "
                f"{received.get(LATE, 0)} messages; her last leaves:"
            )
            history = subjects.subject_history(ctx, LATE)
            for event in history["events"][-2:]:
                f = event["fields"]
                detail = (
                    f"allowed={f['allowed']} reason={f['reason']} (read the ledger at size "
                    f"{f['checked_size']})"
                    if event["kind"] == "send-decided"
                    else f"via {f['method']}"
                )
                console.print(f"    leaf {event['index']}: {event['kind']}: {detail}")
            console.print(
                "  every message went out only after its send-decided leaf named the consent leaf "
                "that justified it; 'consentry subject show reader1@example.net' shows one"
            )
            _signup(ctx, base, directory / "sink")
    finally:
        app.close()


def _signup(ctx: Context, base: str, sink_dir: Path) -> None:
    """A newcomer signs up on the form, gets the confirmation email (sent by the server through
    the dispatcher to the sink), opens the link and confirms: real HTTP, real SMTP."""
    _step("6b. Signup with double opt-in on the served form")
    with urllib.request.urlopen(f"{base}/s/newsletter", timeout=30) as answer:  # noqa: S310
        form = answer.read().decode()
    notice = re.search(r'name=notice value="([0-9a-f]{64})"', form)
    assert notice is not None
    body = urllib.parse.urlencode({"email": NEWCOMER, "notice": notice.group(1),
                                   "source": "https://example.org/join"}).encode()  # fmt: skip
    with urllib.request.urlopen(f"{base}/s/newsletter", body, timeout=30) as answer:  # noqa: S310
        status = answer.status
    console.print(f"  {NEWCOMER} signed up at /s/newsletter: {status}, 'Check your inbox'; "
                  "a consent-requested leaf holds the notice shown")  # fmt: skip
    _check(ctx, NEWCOMER)
    path = _wait_for_link(sink_dir, NEWCOMER)
    console.print(f"  the server sent the confirmation through the dispatcher: {path[:24]}…")
    with urllib.request.urlopen(f"{base}{path}", b"", timeout=30) as answer:  # noqa: S310
        confirmed = "You are subscribed" in answer.read().decode()
    console.print(f"  {NEWCOMER} pressed Confirm (a POST; a GET never confirms): {confirmed}")
    _check(ctx, NEWCOMER)
    receipt_url = f"{base}/r/{path.removeprefix('/c/')}"
    with urllib.request.urlopen(receipt_url, timeout=30) as answer:  # noqa: S310
        receipt = json.loads(answer.read())
    console.print(f"  consent receipt {receipt['consentReceiptID']} with "
                  f"{len(receipt['proof']['inclusion'])} inclusion proofs")  # fmt: skip


def _wait_for_link(sink_dir: Path, address: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in sorted(sink_dir.glob("*.eml"), reverse=True)[:20]:
            text = path.read_bytes().replace(b"=\r\n", b"").decode("utf-8", "replace")
            found = re.search(r"https://consent\.example\.org(/c/newsletter/[A-Za-z0-9_.-]+)", text)
            if f"To: {address}" in text and found:
                return found.group(1)
        time.sleep(0.05)
    raise click.ClickException(f"no confirmation email for {address} reached the sink")


def _transport(url: str) -> Transport:
    from consentry.bootstrap import open_transport

    return open_transport(url, connections=4)


def _ticker() -> Callable[[Progress], None]:
    shown = [0]

    def tick(p: Progress) -> None:
        if p.sent - shown[0] >= 200:
            shown[0] = p.sent
            console.print(f"  … {p.sent} sent, {p.denied} denied")

    return tick


def _unsubscribe_when(settings: Settings, base: str, sink: Any, count: int) -> threading.Thread:
    """Zoe clicks the one-click link of last month's newsletter once the sink has ``count``
    messages: a real RFC 8058 POST to ``consentry serve``'s app on a local port."""
    app = open_app(settings)
    try:
        kid, key = app.context.keys.token_key()
        subject = consent.subject_for(app.context, LATE)[1]
    finally:
        app.close()
    token = make_unsubscribe_token(kid, key, subject, "newsletter")

    def run() -> None:
        deadline = time.monotonic() + 60
        while sink.stats.messages < count and time.monotonic() < deadline:
            time.sleep(0.005)
        seen = sink.stats.messages
        request = urllib.request.Request(  # noqa: S310 (http on loopback)
            f"{base}/u/newsletter/{token}", data=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "User-Agent": "demo mail client (RFC 8058 one-click)"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            status = answer.status
        console.print(
            f"  [yellow]{LATE} clicked one-click unsubscribe after {seen} messages: "
            f"POST /u/newsletter/{token[:12]}… answered {status}[/]"
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def _web_server(settings: Settings) -> Iterator[str]:
    """``consentry serve``'s app under uvicorn on a free loopback port, in a thread."""
    import uvicorn

    from consentry.web.app import app_from_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app_from_settings(settings), host="127.0.0.1", port=port,
                            log_level="warning", server_header=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)

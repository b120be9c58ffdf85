"""``consentry demo``: the ledger's story, end to end, on a fresh SQLite file."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import click
from rich.panel import Panel

from consentry.bootstrap import SystemClock, create_keys, open_app, open_store
from consentry.cli.render import console
from consentry.domain.merkle import verify_consistency, verify_inclusion
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.services import consent, gate, ledger, subjects
from consentry.services.context import Context
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

    _step("6. Tampering is caught")
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

    home = f"CONSENTRY_HOME={directory}"
    _step("What to look at next")
    for line in (
        f"{home} .venv/bin/consentry subject show bob@example.org",
        f"{home} .venv/bin/consentry check alice@example.org --list newsletter --json",
        f"{home} .venv/bin/consentry ledger verify",
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

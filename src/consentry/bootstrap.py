"""The one place where concrete adapters are chosen and wired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from consentry.domain.errors import InputError
from consentry.keys.ring import FileKeyRing
from consentry.ports import MessageSigner, Store, Transport
from consentry.services.context import Context
from consentry.settings import Settings


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def open_store(url: str, lean: bool = False) -> Store:
    """A store for a database URL: ``sqlite:///path``, ``postgresql://...`` or ``memory:``.
    ``lean``: for long runs (campaign dispatch), keep the process small over speed of big
    scans (SQLite: a 32 MiB page cache and no memory map)."""
    if url == "memory:":
        from consentry.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:///"):
        from consentry.store.sqlite import SQLiteStore

        return SQLiteStore(Path(url.removeprefix("sqlite:///")), lean)
    if url.startswith(("postgresql://", "postgres://")):
        from consentry.store.postgres import PostgresStore

        return PostgresStore(url)
    raise InputError(f"database URL {url!r} is not sqlite:///PATH, postgresql://... or memory:")


@dataclass
class App:
    """An opened consentry: the services' context plus what must be closed."""

    settings: Settings
    context: Context

    def close(self) -> None:
        if self.context.witness is not None:
            self.context.witness.close(10.0)  # flush what was offered, then stop
        self.context.store.close()


def open_app(settings: Settings, lean: bool = False, serving: bool = False) -> App:
    """``serving``: for ``consentry serve``, where commits answer requests: SQLite's WAL
    checkpoints run in a background thread instead of inside whichever commit crosses the
    threshold."""
    keys = FileKeyRing(settings.home)
    store = open_store(settings.database_url, lean)
    if serving:
        from consentry.store.sqlite import SQLiteStore

        if isinstance(store, SQLiteStore):
            store.checkpoint_in_background()
    url = settings.database_url
    reader = None if url == "memory:" else partial(open_store, url, lean)
    witness = None
    if settings.witnesses.strip():
        from consentry.witness.config import parse_witnesses
        from consentry.witness.publisher import WitnessPublisher

        witnesses = parse_witnesses(settings.witnesses)
        if witnesses:
            witness = WitnessPublisher(witnesses)
            latest = store.latest_checkpoint()
            if latest is not None:
                witness.offer(latest.note)
    context = Context(store=store, keys=keys, clock=SystemClock(), reader=reader, witness=witness)
    return App(settings, context)


def create_keys(settings: Settings, origin: str) -> FileKeyRing:
    return FileKeyRing.create(settings.home, origin)


def open_transport(
    url: str,
    connections: int = 8,
    rate: float | None = None,
    per_domain_rate: float | None = None,
) -> Transport:
    """The way out for the dispatcher: an SMTP pool for ``smtp://`` and ``smtps://`` URLs.

    There is deliberately no "dry run" transport here: every handoff is recorded in the ledger as
    sent, so a rehearsal goes to ``consentry sink`` and a preview is ``campaign preflight``."""
    from consentry.mail.smtp_pool import SMTPPool
    from consentry.mail.smtp_url import parse_smtp_url

    return SMTPPool(parse_smtp_url(url), connections, rate, per_domain_rate)


def open_signer(home: Path, from_address: str, workers: int | None = None) -> MessageSigner | None:
    """DKIM for mail from this address's domain, with every key made for it by
    ``consentry dkim keygen`` (RSA, or RSA and Ed25519); None when it has none."""
    from consentry.domain.addresses import parse_address
    from consentry.keys.dkim_keys import load_dkim_keys

    keys = load_dkim_keys(home, parse_address(from_address).domain)
    if not keys:
        return None
    from consentry.mail.signing import DKIMPoolSigner

    return DKIMPoolSigner(keys, workers)


def local_sink(directory: Path | None = None) -> Any:
    """A local SMTP sink in a background thread (a context manager yielding the sink, whose
    ``url`` the dispatcher can send to): for the demo and for trying consentry out."""
    from consentry.mail.sink import SinkThread

    return SinkThread(directory)


def serve_sink(host: str, port: int, directory: Path | None) -> None:
    """Run the local SMTP sink in the foreground until interrupted."""
    import asyncio

    from consentry.mail.sink import SMTPSink

    async def main() -> None:
        sink = SMTPSink(host, port, directory)
        await sink.start()
        print(f"consentry sink listening on {sink.url}", flush=True)
        try:
            await sink.serve_forever()
        finally:
            await sink.close()

    asyncio.run(main())


def flush_confirmations(app: App, smtp_url: str, base_url: str) -> dict[str, Any]:
    """Send every queued double opt-in confirmation, campaign by campaign (each through the
    dispatcher, DKIM-signed in this process when the sender's domain has keys); returns the
    progress of each campaign that had something queued. Deferred messages stay queued for a
    later call."""
    from consentry.services.campaigns import SENDABLE
    from consentry.services.dispatch import DispatchOptions, send_confirmations

    ctx = app.context
    done: dict[str, Any] = {}
    for row in ctx.store.campaigns():
        if not row.spec.get("confirmation") or row.state not in SENDABLE:
            continue
        if not ctx.store.message_counts(row.campaign_id).get("queued", 0):
            continue
        signer = open_signer(app.settings.home, row.spec["from_address"], workers=0)
        try:
            done[row.campaign_id] = send_confirmations(
                ctx, row.campaign_id, open_transport(smtp_url, connections=2), base_url, signer,
                DispatchOptions(batch=100, wait_for_retries=False),
            )  # fmt: skip
        finally:
            if signer is not None:
                signer.close()
    return done

"""The dispatcher: the only door out (invariant 1).

For each batch of claimed recipients it reads their state, decides every message with the policy,
and appends the ``send-decided`` leaves (allow and deny) with the queue updates in one transaction
before anything is handed off (R10). Allowed messages are rendered from the campaign's message
serialised once (per-recipient parts spliced in), DKIM-signed, and handed to the transport, whose
gate asks the :class:`Watcher` immediately before each MAIL FROM whether an objection, the kill
switch or a pause arrived since the decision (R11, R31). Each handoff is recorded in a
``send-handed-off`` leaf with the server's reply.

At most once (invariant 8): a message is handed off only from the ``decided`` state, and a
decided message left behind by a dead worker is recorded as uncertain, never sent again. Work is
pipelined: while one batch is with the mail server, the next is decided and rendered; the store
is used from one thread, the watcher polls on its own connection.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

from consentry.domain.addresses import parse_address
from consentry.domain.errors import ConsentryError, DispatchHalted
from consentry.domain.message import CampaignHeaders, Recipient, SplicedMessage
from consentry.domain.policy_bulk import decide_many
from consentry.domain.tokens import make_unsubscribe_token
from consentry.ports import (
    Batch,
    CampaignRow,
    Envelope,
    Handoff,
    MessageSigner,
    MessageUpdate,
    Store,
    Transport,
)
from consentry.processes import alive
from consentry.services.campaigns import (
    DEFAULT_APPROVAL_THRESHOLD,
    HALT_CONTROL,
    campaign_context,
    compiled_content,
    finish_campaign,
    identity_of,
    prepare_confirmations,
    prepare_send,
    require_campaign,
    require_not_halted,
)
from consentry.services.consent import leaf_time, organisation
from consentry.services.context import Context
from consentry.services.dispatch_options import DispatchOptions, Prepared, Progress
from consentry.services.dispatch_records import (
    Pending,
    decision_leaf,
    outcome_records,
    uncertain_records,
)
from consentry.services.dispatch_support import (
    SharedStore,
    drain,
    message_id,
    no_address,
    worker_id,
)
from consentry.services.dispatch_watch import Watcher

__all__ = [
    "DispatchOptions",
    "Dispatcher",
    "Progress",
    "prepare_send",
    "send_campaign",
    "send_confirmations",
]
from consentry.services.ledger import append_sealed
from consentry.services.signup import confirm_url

T = TypeVar("T")


class Dispatcher:
    """Sends one campaign through one transport; see the module docstring."""

    def __init__(
        self,
        ctx: Context,
        campaign_id: str,
        transport: Transport,
        base_url: str,
        signer: MessageSigner | None = None,
        options: DispatchOptions | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.campaign_id = campaign_id
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.options = options or DispatchOptions()
        self.on_progress = on_progress
        self.worker = worker_id()
        self.progress = Progress(campaign_id)
        self._db = ThreadPoolExecutor(1, thread_name_prefix="consentry-db")
        self._cpu = ThreadPoolExecutor(1, thread_name_prefix="consentry-render")
        self._row: CampaignRow | None = None
        self._confirmation = False
        self._watcher: Watcher | None = None

    # --- plumbing ---------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    @property
    def store(self) -> Store:
        return self.ctx.store

    # --- set-up -----------------------------------------------------------------------------------

    def _setup(self) -> int:
        """Recover what dead workers left, queue the audience; returns the start index for the
        watcher (taken before any decision of this worker)."""
        row = require_campaign(self.ctx, self.campaign_id)
        require_not_halted(self.ctx)
        self._row = row
        self._confirmation = bool(row.spec.get("confirmation"))
        org = organisation(self.ctx)
        self._identity = identity_of(row.spec, org.controller)
        self._from_domain = parse_address(self._identity.from_address).domain
        self._content = compiled_content(self.ctx, row)
        self._message = SplicedMessage.build(
            CampaignHeaders(
                from_name=self._identity.name, from_address=self._identity.from_address,
                reply_to=self._identity.reply_to, subject=self._content.subject,
                list_id=f"{row.list_id} <{row.list_id}.{self._from_domain}>",
                feedback_id=f"{row.campaign_id}:{row.list_id}:{self._from_domain}:consentry",
            ),
            self._content.text, self._content.html,
        )  # fmt: skip
        kid, self._token_key = self.ctx.keys.token_key()
        self._token_kid = kid
        start = self.store.size()
        self.store.heartbeat(self.worker, self.campaign_id, self.ctx.clock.now())
        self._recover()
        return start

    def _recover(self) -> None:
        now = self.ctx.clock.now()
        seen_before = now - timedelta(seconds=self.options.worker_lease)
        dead = [w for w in self.store.stale_workers(self.campaign_id, seen_before)]
        dead += [w for w in self._local_dead_workers() if w not in dead]
        dead = [w for w in dead if w != self.worker]
        if not dead:
            return
        orphans = self.store.orphaned_messages(self.campaign_id, dead)
        if orphans:
            ids = {m.subject: self._message_id(m.subject, m.attempts) for m in orphans}
            leaves, updates = uncertain_records(now, self.campaign_id, orphans, ids)
            append_sealed(self.ctx, Batch(leaves=leaves, messages=updates))
            self.progress.recovered_uncertain += len(orphans)
        self.store.forget_workers(dead)

    def _local_dead_workers(self) -> list[str]:
        """Workers of this host whose process is gone: no need to wait for their lease."""
        host = socket.gethostname()
        seen_before = self.ctx.clock.now() + timedelta(days=1)
        dead = []
        for worker in self.store.stale_workers(self.campaign_id, seen_before):
            name, _, rest = worker.partition(":")
            pid = rest.partition(":")[0]
            if name == host and pid.isdigit() and not alive(int(pid)):
                dead.append(worker)
        return dead

    def _message_id(self, subject: str, attempt: int) -> str:
        """``attempt``: the decision's attempt number (a confirmation's id names it)."""
        return message_id(
            self.campaign_id, subject, self._from_domain, attempt if self._confirmation else None
        )

    # --- decide (store thread) --------------------------------------------------------------------

    def _decide(self) -> tuple[list[Pending], datetime] | None:
        assert self._row is not None
        now = self.ctx.clock.now()
        claimed = self.store.claim_messages(self.campaign_id, self.worker, self.options.batch, now)
        if not claimed:
            return None
        context = campaign_context(self.ctx, self._row)  # reads size, then states
        # A clock behind the ledger denies every message (clock-regressed); the leaves still
        # carry a time that does not go backwards.
        at = max(context.now, context.ledger_last_at or context.now)
        states = self.store.subject_states([c.subject for c in claimed])
        decisions = decide_many(((c.subject, states.get(c.subject)) for c in claimed), context)
        leaves, updates, allowed = [], [], []
        for c, (_, decision) in zip(claimed, decisions, strict=True):
            if decision.allowed and c.literal is None:
                decision = no_address(decision)
            mid = self._message_id(c.subject, c.attempts + 1)
            leaves.append(decision_leaf(at, self.campaign_id, mid, c.subject,
                                        decision, c.attempts + 1))  # fmt: skip
            state = "decided" if decision.allowed else "denied"
            updates.append(MessageUpdate(self.campaign_id, c.subject, state, len(leaves) - 1,
                                         c.attempts + 1))  # fmt: skip
            if decision.allowed:
                allowed.append((c, len(leaves) - 1, mid))
        result = append_sealed(self.ctx, Batch(leaves=leaves, messages=updates))
        self.progress.decided += len(claimed)
        self.progress.denied += len(claimed) - len(allowed)
        pending = [
            Pending(c, result.refs[pos].index, context.ledger_size, c.attempts + 1, mid)
            for c, pos, mid in allowed
        ]
        return pending, now

    def _render(self, pending: list[Pending], now: datetime) -> Prepared:
        date = format_datetime(now)
        envelopes = []
        unbuildable = []
        list_id = self._row.list_id if self._row else ""
        # RFC 2369 mailto: the subject carries the list and the same token as the HTTPS URL, so
        # that ``consentry inbound`` knows whom to unsubscribe whoever sends it.
        mailto = f"mailto:{self._identity.opt_out_email}?subject=unsubscribe%20{list_id}%20"
        for item in pending:
            token = make_unsubscribe_token(
                self._token_kid, self._token_key, item.claimed.subject, list_id
            )
            literal = item.claimed.literal or ""
            values = {"email": literal}
            if self._confirmation:
                values["confirm_url"] = confirm_url(
                    self.ctx, self.base_url, list_id, item.claimed.subject, now.date()
                )
            recipient = Recipient(
                address=literal, message_id=item.message_id,
                unsubscribe_url=f"{self.base_url}/u/{list_id}/{token}",
                unsubscribe_mailto=mailto + token, values=values,
            )  # fmt: skip
            try:
                data = self._message.render(recipient, date)
            except ConsentryError as exc:  # this message only; the rest of the batch goes
                unbuildable.append(
                    Handoff(item, "failed", None, None, f"not built: {exc}", "local", time.time())
                )
                continue
            envelopes.append(Envelope(
                item, self._identity.from_address, item.claimed.canonical or literal, data,
                self._message.needs_smtputf8(recipient),
            ))  # fmt: skip
        return Prepared(envelopes, pending, unbuildable)

    # --- record (store thread) --------------------------------------------------------------------

    def _record(self, handoffs: list[Handoff]) -> None:
        now = leaf_time(
            self.ctx, objection=True
        )  # an outcome is recorded even if the clock went back
        source = f"smtp:{self.campaign_id}"
        leaves, updates, counts = outcome_records(
            now, self.campaign_id, handoffs, self.options.retry, source
        )
        append_sealed(self.ctx, Batch(leaves=leaves, messages=updates))
        p = self.progress
        p.sent += counts.get("sent", 0)
        p.failed += counts.get("failed", 0) + counts.get("rejected", 0)
        p.deferred += counts.get("queued", 0)
        p.uncertain += counts.get("uncertain", 0)
        p.withheld += counts.get("withheld", 0)

    def _beat(self, store: Store) -> None:
        store.heartbeat(self.worker, self.campaign_id, self.ctx.clock.now())

    # --- the gate ---------------------------------------------------------------------------------

    def _gate(self, envelope: Envelope) -> bool:
        item: Pending = envelope.key
        watcher = self._watcher
        return watcher is not None and watcher.may_hand_off(item.claimed.subject, item.checked_size)

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self) -> Progress:
        start = await self._call(self._setup)
        counts = await self._call(self.store.message_counts, self.campaign_id)
        self.progress.queued_at_start = counts.get("queued", 0)
        opener = self.ctx.reader or (lambda: SharedStore(self.store))
        self._watcher = Watcher(
            opener, self.campaign_id, start, interval=self.options.watch_interval,
            max_age=self.options.watch_max_age, halt_control=HALT_CONTROL, on_beat=self._beat,
        )  # fmt: skip
        await asyncio.get_running_loop().run_in_executor(None, self._watcher.start)
        try:
            await self.transport.start()
            try:
                await self._pump()
            finally:
                await self.transport.close()
        finally:
            self._watcher.stop()
            await self._call(self.store.forget_workers, [self.worker])
            self._db.shutdown(wait=True)
            self._cpu.shutdown(wait=True)
        if self.progress.stopped_by == "halted":
            raise DispatchHalted(
                f"the kill switch stopped campaign {self.campaign_id!r}; "
                f"{self.progress.sent} sent before it"
            )
        return self.progress

    async def _pump(self) -> None:
        self._in_flight = 0
        self._recorded = asyncio.Event()
        # Each queued item is a task rendering and signing one decided batch, so that the next
        # batch is decided while this one is signed and the one before is with the server.
        ready: asyncio.Queue[asyncio.Task[Prepared] | None] = asyncio.Queue(
            maxsize=max(1, self.options.ahead)
        )
        producer = asyncio.create_task(self._produce(ready))
        try:
            while (task := await ready.get()) is not None:
                await self._hand_off(await task)
        finally:
            if not producer.done():
                producer.cancel()
            (outcome,) = await asyncio.gather(producer, return_exceptions=True)
            left = [t for t in drain(ready) if t is not None]
            for t in left:  # prepared but never handed off: they go back to the queue later
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            raise outcome  # a store error while deciding: nothing more was handed off
        await self._call(self._finish)

    async def _produce(self, ready: asyncio.Queue[asyncio.Task[Prepared] | None]) -> None:
        try:
            while True:
                if (why := self._stop_reason()) is not None:
                    self.progress.stopped_by = why
                    break
                decided = await self._call(self._decide)
                if decided is None:
                    if self._in_flight:  # its deferred messages may come back to the queue
                        self._recorded.clear()
                        await self._recorded.wait()
                        continue
                    if await self._wait_for_retries():
                        continue
                    break
                self._in_flight += 1
                await ready.put(asyncio.create_task(self._prepare(*decided)))
                self._report()
        finally:
            await ready.put(None)

    async def _prepare(self, pending: list[Pending], now: datetime) -> Prepared:
        """Render (beside the store thread, not on it), then sign in the signing pool."""
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self._cpu, self._render, pending, now)
        if self.signer is not None and prepared.envelopes:
            prepared = await self._sign(prepared)
        return prepared

    async def _sign(self, prepared: Prepared) -> Prepared:
        assert self.signer is not None
        headers = await self.signer.sign_many([e.data for e in prepared.envelopes])
        envelopes = [
            Envelope(e.key, e.sender, e.recipient, h + e.data, e.smtputf8)
            for e, h in zip(prepared.envelopes, headers, strict=True)
        ]
        return Prepared(envelopes, prepared.pending, prepared.unbuildable)

    async def _hand_off(self, prepared: Prepared) -> None:
        try:
            handoffs = list(prepared.unbuildable)
            if prepared.envelopes:
                subjects = [e.key.claimed.subject for e in prepared.envelopes]
                await self._call(self.store.mark_handing, self.campaign_id, subjects)
                handoffs += await self.transport.send(prepared.envelopes, self._gate)
            if handoffs:
                await self._call(self._record, handoffs)
        finally:
            self._in_flight -= 1
            self._recorded.set()
        self._report()

    def _stop_reason(self) -> str | None:
        watcher = self._watcher
        if watcher is None:
            return None
        if watcher.error is not None:
            raise watcher.error
        return watcher.stopping()

    async def _wait_for_retries(self) -> bool:
        """True when deferred messages will fall due and we should wait for them."""
        if not self.options.wait_for_retries:
            return False
        counts = await self._call(self.store.message_counts, self.campaign_id)
        if not counts.get("queued", 0):
            return False
        await asyncio.sleep(min(1.0, self.options.retry.base_seconds / 4))
        return True

    def _finish(self) -> None:
        counts = self.store.message_counts(self.campaign_id)
        busy = sum(counts.get(s, 0) for s in ("queued", "claimed", "decided", "handing"))
        if not busy and self.progress.stopped_by is None:
            finish_campaign(self.ctx, self.campaign_id)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


def send_campaign(
    ctx: Context,
    campaign_id: str,
    transport: Transport,
    base_url: str,
    signer: MessageSigner | None = None,
    options: DispatchOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    approval_threshold: int = DEFAULT_APPROVAL_THRESHOLD,
    prepared: bool = False,
) -> Progress:
    """Run the dispatcher to the end of the campaign (or until paused, cancelled or halted).
    ``prepared``: the caller has run :func:`prepare_send` already."""
    if not prepared:
        prepare_send(ctx, campaign_id, approval_threshold)
    dispatcher = Dispatcher(ctx, campaign_id, transport, base_url, signer, options, on_progress)
    return _run(dispatcher.run())


def send_confirmations(
    ctx: Context,
    campaign_id: str,
    transport: Transport,
    base_url: str,
    signer: MessageSigner | None = None,
    options: DispatchOptions | None = None,
) -> Progress:
    """Send the double opt-in confirmations queued for a confirmation campaign, through the same
    dispatcher (decided, recorded, gated, DKIM-signed) as any campaign; the campaign stays open
    for the next signups."""
    prepare_confirmations(ctx, campaign_id)
    return _run(Dispatcher(ctx, campaign_id, transport, base_url, signer, options).run())


def _run(coro: Any) -> Progress:
    try:
        import uvloop  # a faster event loop where it is installed

        result: Progress = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    return result

"""The dispatcher against the in-memory outbox, on the memory and SQLite stores: decisions are
durable before handoff, objections win at handoff, outcomes are recorded, nothing goes twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consentry.domain.errors import ApprovalRequired, CampaignStateError, DispatchHalted
from consentry.domain.leaves import decode_leaf
from consentry.mail.outbox import Outbox
from consentry.ports import Envelope, Handoff
from consentry.services import campaigns, consent
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_campaign
from consentry.services.dispatch_records import RetryPolicy
from tests.conftest import FixedClock
from tests.support.audience import campaign_spec, grant_all, organised

BASE = "https://example.com"


class Hooked:
    """The outbox, with a hook that runs before each send (in the event loop)."""

    def __init__(self, outbox: Outbox, hook: Callable[[Sequence[Envelope]], Any] | None = None):
        self.outbox = outbox
        self.hook = hook
        self.calls = 0

    async def start(self) -> None:
        await self.outbox.start()

    async def close(self) -> None:
        await self.outbox.close()

    async def send(self, envelopes: Sequence[Envelope], gate: Any) -> list[Handoff]:
        self.calls += 1
        if self.hook is not None:
            result = self.hook(envelopes)
            if asyncio.iscoroutine(result):
                await result
        return await self.outbox.send(envelopes, gate)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ctx(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Context]:
    from functools import partial

    if request.param == "postgres":
        from consentry.store.postgres import PostgresStore

        url = request.getfixturevalue("pg_url")
        context = organised(
            PostgresStore(url), tmp_path / "home", clock, partial(PostgresStore, url)
        )
        yield context
        context.store.close()
        return
    if request.param == "memory":
        from consentry.store.memory import MemoryStore

        yield organised(MemoryStore(), tmp_path / "home", clock)
        return
    from consentry.store.sqlite import SQLiteStore

    path = tmp_path / "c.sqlite"
    context = organised(SQLiteStore(path), tmp_path / "home", clock, partial(SQLiteStore, path))
    yield context
    context.store.close()


def emails(n: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{i}@example.org" for i in range(n)]


def leaves_of(ctx: Context, kind: str) -> list[Any]:
    return [leaf for s in ctx.store.iter_leaves() if (leaf := decode_leaf(s.raw)).kind == kind]


def send(ctx: Context, transport: Any, name: str = "spring", **options: Any) -> Any:
    opts = DispatchOptions(**{"batch": 50, **options})
    return send_campaign(ctx, name, transport, BASE, options=opts)


def test_every_handoff_follows_a_durable_allow_decision_naming_its_consent(ctx: Context) -> None:
    people = grant_all(ctx, emails(120))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    checked: list[int] = []

    def durable_first(envelopes: Sequence[Envelope]) -> None:
        for env in envelopes:
            leaf = decode_leaf(ctx.store.leaf(env.key.decided_index).raw)
            assert leaf.kind == "send-decided" and leaf.fields["allowed"] is True
            assert leaf.fields["subject"] == env.key.claimed.subject
            justifying = ctx.store.leaf(leaf.fields["justifying_index"])
            assert justifying.hash.hex() == leaf.fields["justifying_hash"]
            assert decode_leaf(justifying.raw).fields["subject"] == leaf.fields["subject"]
            checked.append(env.key.decided_index)

    outbox = Outbox()
    progress = send(ctx, Hooked(outbox, durable_first))
    assert progress.sent == 120 and len(checked) == 120
    assert sorted(e.recipient for e in outbox.delivered) == sorted(people)
    status = campaigns.campaign_status(ctx, "spring")
    assert (status["state"], status["sent"], status["queued"]) == ("done", 120, 0)
    decided = leaves_of(ctx, "send-decided")
    assert {d.fields["ruleset"] for d in decided} == {"2026.11.1"}
    assert all(d.fields["checked_size"] <= d.seq for d in decided)
    handed = leaves_of(ctx, "send-handed-off")
    assert len(handed) == 120 and {h.fields["outcome"] for h in handed} == {"accepted"}


def test_a_canary_with_no_consent_and_a_withdrawn_person_receive_nothing(ctx: Context) -> None:
    grant_all(ctx, emails(10))
    text = consent.publish_notice(ctx, "news", "Email me the monthly news.", "test").notice
    canary = "canary@example.org"
    consent.grant_consent(
        ctx,
        consent.Grant(
            email=canary,
            list_id="news",
            basis="consent",
            notice=text,
            method="web-form",
            source="first-party",
            evidence={"ip": "203.0.113.9"},
            actor="test",
            requested=True,
        ),
    )
    consent.withdraw_consent(
        ctx, "p3@example.org", "news", "web", "one-click", "first-party", "test"
    )
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    outbox = Outbox()
    send(ctx, outbox)
    got = {e.recipient for e in outbox.delivered}
    assert canary not in got and "p3@example.org" not in got and len(got) == 9
    status = campaigns.campaign_status(ctx, "spring")
    assert (status["sent"], status["denied"]) == (9, 2)
    reasons = {
        d.fields["reason"] for d in leaves_of(ctx, "send-decided") if not d.fields["allowed"]
    }
    assert reasons == {"consent-requested", "suppressed-withdrawal"}


def test_an_objection_after_the_decision_stops_the_handoff_and_is_redecided(
    ctx: Context,
) -> None:
    grant_all(ctx, emails(30))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    victim = "p7@example.org"
    done = False

    async def unsubscribe_now(envelopes: Sequence[Envelope]) -> None:
        nonlocal done
        if done or victim not in {e.recipient for e in envelopes}:
            return
        done = True
        writer = ctx.reader() if ctx.reader else ctx.store
        other = Context(writer, ctx.keys, ctx.clock)
        consent.withdraw_consent(other, victim, "news", "web", "one-click", "first-party", "test")
        if writer is not ctx.store:
            writer.close()
        await asyncio.sleep(0.3)  # several watcher polls; the gate then knows

    outbox = Outbox()
    progress = send(ctx, Hooked(outbox, unsubscribe_now), batch=30)
    assert victim not in {e.recipient for e in outbox.delivered}
    assert progress.withheld == 1 and progress.sent == 29
    decisions = [d for d in leaves_of(ctx, "send-decided") if d.fields["attempt"] == 2]
    assert [(d.fields["allowed"], d.fields["reason"]) for d in decisions] == [
        (False, "suppressed-withdrawal")
    ]
    assert campaigns.campaign_status(ctx, "spring")["denied"] == 1


def test_outcomes_hard_bounce_suppresses_deferral_retries_uncertain_is_not_resent(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, emails(6))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    outbox = Outbox(
        script={
            "p1@example.org": (550, "5.1.1", "<p1@example.org>: no such user"),
            "p2@example.org": (451, "4.2.0", "try again later"),
            "p3@example.org": "uncertain",
            "p4@example.org": (554, "5.7.1", "content refused"),
        }
    )

    def advance(envelopes: Sequence[Envelope]) -> None:
        if outbox.handoffs:  # a retry round: the 4xx clears
            outbox.script.pop("p2@example.org", None)

    clock.step = timedelta(seconds=1)  # time passes: the deferred message falls due
    progress = send(ctx, Hooked(outbox, advance), retry=RetryPolicy(5, 0.01))
    status = campaigns.campaign_status(ctx, "spring")
    assert (status["sent"], status["failed"], status["uncertain"]) == (3, 2, 1)
    assert status["rejected"] == 1 and progress.deferred == 1
    assert [e.recipient for e in outbox.delivered].count("p3@example.org") == 1
    bounced = consent.subject_for(ctx, "p1@example.org")[1]
    sups = ctx.store.subject_state(bounced).suppressions  # type: ignore[union-attr]
    assert [s.reason for s in sups] == ["hard-bounce"]
    p4 = consent.subject_for(ctx, "p4@example.org")[1]
    assert ctx.store.subject_state(p4).suppressions == ()  # type: ignore[union-attr]
    replies = [h.fields["reply"] for h in leaves_of(ctx, "send-handed-off")]
    assert not any("p1@example.org" in (r or "") for r in replies)  # no address in the ledger
    # a second run sends nothing again
    again = Outbox()
    with pytest.raises(CampaignStateError):
        send(ctx, again)


def test_the_kill_switch_stops_every_handoff_and_blocks_new_sends(ctx: Context) -> None:
    grant_all(ctx, emails(100))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]

    async def halt_after_first(envelopes: Sequence[Envelope]) -> None:
        if outbox.delivered:
            writer = ctx.reader() if ctx.reader else ctx.store
            campaigns.halt_dispatch(Context(writer, ctx.keys, ctx.clock), "ops", "incident")
            if writer is not ctx.store:
                writer.close()
            await asyncio.sleep(0.3)

    outbox = Outbox()
    with pytest.raises(DispatchHalted):
        send(ctx, Hooked(outbox, halt_after_first), batch=20)
    assert len(outbox.delivered) == 20
    status = campaigns.campaign_status(ctx, "spring")
    assert status["sent"] == 20 and status["queued"] == 80 and status["in_flight"] == 0
    with pytest.raises(DispatchHalted):
        send(ctx, Outbox())
    campaigns.release_dispatch(ctx, "ops", "resolved")
    rest = Outbox()
    send(ctx, rest)
    assert len(rest.delivered) == 80
    assert {e.recipient for e in rest.delivered}.isdisjoint(e.recipient for e in outbox.delivered)


def test_pause_then_resume_sends_each_person_once(ctx: Context) -> None:
    grant_all(ctx, emails(90))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]

    async def pause_once(envelopes: Sequence[Envelope]) -> None:
        if len(outbox.delivered) == 30 and not paused:
            paused.append(True)
            writer = ctx.reader() if ctx.reader else ctx.store
            campaigns.pause_campaign(Context(writer, ctx.keys, ctx.clock), "spring")
            if writer is not ctx.store:
                writer.close()
            await asyncio.sleep(0.3)

    paused: list[bool] = []
    outbox = Outbox()
    progress = send(ctx, Hooked(outbox, pause_once), batch=30)
    assert progress.stopped_by == "paused" and len(outbox.delivered) == 30
    assert campaigns.campaign_status(ctx, "spring")["state"] == "paused"
    later = Outbox()
    send(ctx, later)
    everyone = [e.recipient for e in outbox.delivered + later.delivered]
    assert len(everyone) == len(set(everyone)) == 90
    assert campaigns.campaign_status(ctx, "spring")["state"] == "done"


def test_a_big_campaign_needs_two_different_approvers_of_its_current_content(
    ctx: Context,
) -> None:
    grant_all(ctx, emails(12))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    options = DispatchOptions(batch=50)
    with pytest.raises(ApprovalRequired, match="two different people"):
        send_campaign(ctx, "spring", Outbox(), BASE, options=options, approval_threshold=10)
    report = campaigns.report_hash(campaigns.preflight(ctx, "spring"))
    campaigns.approve_campaign(ctx, "spring", "alice", report)
    with pytest.raises(CampaignStateError, match="already"):
        campaigns.approve_campaign(ctx, "spring", "alice", report)
    with pytest.raises(ApprovalRequired):
        send_campaign(ctx, "spring", Outbox(), BASE, options=options, approval_threshold=10)
    with pytest.raises(CampaignStateError, match="not the"):
        campaigns.approve_campaign(ctx, "spring", "bob", "0" * 64)
    campaigns.approve_campaign(ctx, "spring", "bob", report)
    approvals = leaves_of(ctx, "campaign-approved")
    assert [a.fields["report"] for a in approvals] == [report, report]
    outbox = Outbox()
    send_campaign(ctx, "spring", outbox, BASE, options=options, approval_threshold=10)
    assert len(outbox.delivered) == 12


def test_preflight_counts_by_basis_jurisdiction_and_reason(ctx: Context) -> None:
    grant_all(ctx, emails(5))
    consent.suppress(ctx, "p0@example.org", "complaint", None, "first-party", "test")
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    before = ctx.store.size()
    report = campaigns.preflight(ctx, "spring")
    assert ctx.store.size() == before  # nothing written
    assert report["allowed"] == 4 and report["denied"] == 1
    assert report["by_basis"] == {"consent": 4}
    assert report["by_reason"] == {"suppressed-complaint": 1}
    assert report["by_jurisdiction"] == {"uk": {"allowed": 4, "denied": 1}}
    assert report["allowed_without_justifying_record"] == 0


def test_messages_carry_one_click_headers_and_a_working_token(ctx: Context) -> None:
    from consentry.domain.message import lint_headers
    from consentry.domain.tokens import read_unsubscribe_token

    people = grant_all(ctx, emails(3))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    outbox = Outbox()
    send(ctx, outbox)
    kid, key = ctx.keys.token_key()
    for env in outbox.delivered:
        assert lint_headers(env.data) == []
        text = env.data.decode()
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in text
        url = text.split("List-Unsubscribe: <", 1)[1].split(">", 1)[0]
        assert url.startswith(f"{BASE}/u/news/")
        token = url.rsplit("/", 1)[1]
        assert read_unsubscribe_token({kid: key}, token, "news") == people[env.recipient]


def test_status_counts_equal_what_the_leaves_say(ctx: Context) -> None:
    grant_all(ctx, emails(40))
    consent.withdraw_consent(
        ctx, "p1@example.org", "news", "web", "one-click", "first-party", "test"
    )
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    send(ctx, Outbox(script={"p2@example.org": (550, "5.1.1", "unknown")}))
    final: dict[str, str] = {}
    for leaf in leaves_of(ctx, "send-decided"):
        if not leaf.fields["allowed"]:
            final[leaf.fields["subject"]] = "denied"
    for leaf in leaves_of(ctx, "send-handed-off"):
        final[leaf.fields["subject"]] = leaf.fields["outcome"]
    status = campaigns.campaign_status(ctx, "spring")
    counted = {k: list(final.values()).count(k) for k in set(final.values())}
    assert counted == {
        "accepted": status["sent"],
        "denied": status["denied"],
        "rejected": status["failed"],
    }


def test_internationalised_addresses_go_with_smtputf8_only_where_needed(ctx: Context) -> None:
    grant_all(ctx, ["jörg@example.org", "ann@bücher.example", "plain@example.org"])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    outbox = Outbox()
    send(ctx, outbox)
    by_rcpt = {e.recipient: e for e in outbox.delivered}
    assert by_rcpt["jörg@example.org"].smtputf8 is True
    assert "To: jörg@example.org".encode() in by_rcpt["jörg@example.org"].data
    assert by_rcpt["ann@xn--bcher-kva.example"].smtputf8 is False
    assert by_rcpt["plain@example.org"].smtputf8 is False
    refused = Outbox(smtputf8=False)  # a server without SMTPUTF8: those messages fail, no others
    grant_all(ctx, ["zoë@example.org"])
    campaigns.create_campaign(ctx, campaign_spec("summer"), "test")  # type: ignore[arg-type]
    send(ctx, refused, "summer")
    status = campaigns.campaign_status(ctx, "summer")
    assert (status["sent"], status["failed"]) == (2, 2)  # jörg and zoë need SMTPUTF8


def test_a_store_error_while_deciding_stops_the_run_and_is_reported(ctx: Context) -> None:
    from consentry.domain.errors import StoreError

    grant_all(ctx, emails(50))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    real = ctx.store.subject_states
    calls = []

    def failing(subjects: Sequence[str]) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("disk I/O error")
        return real(subjects)

    ctx.store.subject_states = failing  # type: ignore[method-assign]
    outbox = Outbox()
    with pytest.raises(StoreError, match="disk I/O"):
        send(ctx, outbox, batch=20)
    ctx.store.subject_states = real  # type: ignore[method-assign]
    assert len(outbox.delivered) == 20
    assert campaigns.campaign_status(ctx, "spring")["state"] == "sending"
    rest = Outbox()
    send(ctx, rest)
    assert len(rest.delivered) == 30


def test_a_watcher_that_cannot_read_the_ledger_stops_every_handoff(
    ctx: Context, tmp_path: Path
) -> None:
    """Fail closed (invariant 9): if the objections cannot be read, nothing more goes out."""
    from consentry.domain.errors import StoreError

    grant_all(ctx, emails(60))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]

    class Blind:
        def __init__(self) -> None:
            self.polls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(ctx.store, name)

        def objections_since(self, index: int) -> Any:
            self.polls += 1
            if self.polls > 3:
                raise StoreError("connection to the database lost")
            return ctx.store.objections_since(index)

        def close(self) -> None:
            return None

    blind = Context(ctx.store, ctx.keys, ctx.clock, reader=lambda: Blind())  # type: ignore[arg-type,return-value]

    async def slow(envelopes: Sequence[Envelope]) -> None:
        await asyncio.sleep(0.3)  # the watcher fails meanwhile

    outbox = Outbox()
    with pytest.raises(StoreError, match="database lost"):
        send(blind, Hooked(outbox, slow), batch=20)
    assert len(outbox.delivered) == 0
    assert all(h.outcome == "withheld" for h in outbox.handoffs)


def test_a_message_that_cannot_be_built_fails_alone_and_the_campaign_goes_on(
    ctx: Context,
) -> None:
    """An address that is valid mail but no header may carry (an encoded-word look-alike) fails
    that one message, recorded, and never blocks the rest of the campaign."""
    odd = "=?utf-8?q?x?=@example.org"
    grant_all(ctx, [*emails(5), odd])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    outbox = Outbox()
    send(ctx, outbox)
    assert len(outbox.delivered) == 5 and odd not in {e.recipient for e in outbox.delivered}
    status = campaigns.campaign_status(ctx, "spring")
    assert (status["state"], status["sent"], status["failed"]) == ("done", 5, 1)
    (failed,) = [h for h in leaves_of(ctx, "send-handed-off") if h.fields["outcome"] == "failed"]
    assert failed.fields["stage"] == "local" and "not built" in failed.fields["reply"]
    assert odd not in failed.fields["reply"]  # no address in the ledger


def test_a_clock_behind_the_ledger_denies_everything_and_leaf_times_never_go_back(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, emails(5))
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    last = ctx.store.last_at()
    clock.at = clock.at - timedelta(hours=1)  # the clock went back
    outbox = Outbox()
    send(ctx, outbox)
    assert outbox.delivered == []
    decided = leaves_of(ctx, "send-decided")
    assert {d.fields["reason"] for d in decided} == {"clock-regressed"}
    assert all(d.at >= last for d in decided)  # type: ignore[operator]

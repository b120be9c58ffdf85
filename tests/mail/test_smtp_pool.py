"""SMTPPool against a real aiosmtpd server: spreading, reconnects, rate limits."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable

import pytest

from consentry.domain.errors import TransportError
from consentry.mail.smtp import Envelope, Handoff
from consentry.mail.smtp_pool import SMTPPool
from consentry.mail.smtp_url import parse_smtp_url
from tests.support.smtp_server import RecordingSMTPServer, run_in_loop


def body(i: int) -> bytes:
    tail = b"" if i % 7 == 0 else b"\r\n"  # some bodies end without CRLF
    return f"Subject: m{i}\r\n\r\n.dot line {i}\r\n..\r\n.\r\nend {i}".encode() + tail


def envelopes(n: int, domains: int = 1) -> list[Envelope]:
    return [
        Envelope(i, "news@example.org", f"r{i}@d{i % domains}.example", body(i)) for i in range(n)
    ]


def allow(env: Envelope) -> bool:
    return True


async def pool_send(
    url: str,
    envs: list[Envelope],
    gate: Callable[[Envelope], bool] = allow,
    **options: object,
) -> tuple[list[Handoff], dict[str, float]]:
    pool = SMTPPool(parse_smtp_url(url), **options)  # type: ignore[arg-type]
    await pool.start()
    try:
        return await pool.send(envs, gate), pool.stats
    finally:
        await pool.close()


def keys_once(handoffs: list[Handoff], n: int) -> dict[object, Handoff]:
    assert sorted(Counter(h.key for h in handoffs).items()) == [(i, 1) for i in range(n)]
    return {h.key: h for h in handoffs}


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_1000_messages_over_4_connections_received_exactly_once_intact(loop: str) -> None:
    envs = envelopes(1000)
    with RecordingSMTPServer() as server:
        handoffs, stats = run_in_loop(pool_send(server.url, envs, connections=4, batch=50), loop)
        received = server.received()
    got = keys_once(handoffs, 1000)
    assert all(h.outcome == "accepted" for h in got.values())
    assert stats["accepted"] == 1000 and stats["connections_opened"] == 4
    assert len(received) == 1000
    data = {m.rcpt_tos[0]: m.data for m in received}
    assert len(data) == 1000
    for env in envs:
        expected = env.data if env.data.endswith(b"\r\n") else env.data + b"\r\n"
        assert data[env.recipient] == expected
    assert len({m.peer for m in received}) == 4


def test_pool_mixes_rejected_deferred_withheld_and_accepted() -> None:
    script = {"r3@d0.example": (550, "5.1.1 unknown"), "r8@d0.example": (452, "4.2.2 full")}
    with RecordingSMTPServer(script=script) as server:
        handoffs, stats = run_in_loop(
            pool_send(server.url, envelopes(40), lambda e: e.key != 5, connections=3, batch=7)
        )
        received = {m.rcpt_tos[0] for m in server.received()}
    got = keys_once(handoffs, 40)
    assert (got[3].outcome, got[3].enhanced) == ("rejected", "5.1.1")
    assert (got[8].outcome, got[8].enhanced) == ("deferred", "4.2.2")
    assert got[5].outcome == "withheld" and "r5@d0.example" not in received
    assert len(received) == 37 and stats["accepted"] == 37
    assert (stats["rejected"], stats["deferred"], stats["withheld"]) == (1, 1, 1)


def test_drop_after_dot_is_uncertain_others_go_on_a_new_connection() -> None:
    envs = envelopes(60)
    with RecordingSMTPServer(drop_after_dot_for={"r10@d0.example"}) as server:
        handoffs, stats = run_in_loop(
            pool_send(server.url, envs, connections=2, batch=30, backoff=0.01)
        )
        received = server.received()
    got = keys_once(handoffs, 60)
    assert got[10].outcome == "uncertain"
    assert got[11].outcome == "deferred"  # pipelined behind the dot: started, not delivered
    accepted = {k for k, h in got.items() if h.outcome == "accepted"}
    assert accepted == set(range(60)) - {10, 11}  # the never started went to a fresh session
    assert stats["reconnects"] >= 1
    counts = Counter(m.rcpt_tos[0] for m in received)
    assert counts["r10@d0.example"] == 1  # the uncertain message was not resent
    assert all(counts[f"r{k}@d0.example"] == 1 for k in accepted)


def test_a_server_that_went_away_defers_everything() -> None:
    async def main(server: RecordingSMTPServer) -> tuple[list[Handoff], dict[str, float]]:
        pool = SMTPPool(parse_smtp_url(server.url), connections=2, backoff=0.01)
        await pool.start()
        await asyncio.to_thread(server.stop)
        try:
            return await pool.send(envelopes(10), allow), pool.stats
        finally:
            await pool.close()

    server = RecordingSMTPServer().start()
    handoffs, stats = run_in_loop(main(server))
    got = keys_once(handoffs, 10)
    assert {h.outcome for h in got.values()} == {"deferred"}
    assert stats["connect_failures"] >= 2 and stats["accepted"] == 0
    assert server.received() == []


def test_start_raises_transport_error_when_no_connection_opens() -> None:
    with RecordingSMTPServer() as server:
        port = server.port

    async def main() -> None:
        pool = SMTPPool(parse_smtp_url(f"smtp://127.0.0.1:{port}"), connections=3)
        await pool.start()

    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        run_in_loop(main())


class FakeTime:
    """A clock that only moves when the pool sleeps for a token."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_global_rate_spaces_messages_by_one_over_rate(smtp_server: RecordingSMTPServer) -> None:
    fake, asked = FakeTime(), []

    def gate(env: Envelope) -> bool:
        asked.append(fake.now)  # the token wait comes before the gate
        return True

    handoffs, stats = run_in_loop(
        pool_send(
            smtp_server.url, envelopes(20), gate, connections=1, rate=50.0,
            clock=fake.clock, sleep=fake.sleep,
        )
    )  # fmt: skip
    assert [h.outcome for h in handoffs] == ["accepted"] * 20
    assert asked == pytest.approx([i * 0.02 for i in range(20)])
    assert stats["rate_waits"] == 19
    assert stats["rate_wait_seconds"] == pytest.approx(19 * 0.02)


def test_per_domain_rate_limits_each_domain_separately(smtp_server: RecordingSMTPServer) -> None:
    fake, asked = FakeTime(), []

    def gate(env: Envelope) -> bool:
        asked.append((env.recipient.rpartition("@")[2], fake.now))
        return True

    run_in_loop(
        pool_send(
            smtp_server.url, envelopes(12, domains=3), gate, connections=1, per_domain_rate=10.0,
            clock=fake.clock, sleep=fake.sleep,
        )
    )  # fmt: skip
    for domain in ("d0.example", "d1.example", "d2.example"):
        times = [t for d, t in asked if d == domain]
        assert len(times) == 4
        assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times))
    # three domains share the wait: four rounds of 0.1 s, not twelve
    assert fake.now == pytest.approx(0.3)


def test_global_rate_holds_across_connections(smtp_server: RecordingSMTPServer) -> None:
    fake, asked = FakeTime(), []

    def gate(env: Envelope) -> bool:
        asked.append(fake.now)
        return True

    handoffs, stats = run_in_loop(
        pool_send(
            smtp_server.url, envelopes(40), gate, connections=4, batch=5, rate=100.0,
            clock=fake.clock, sleep=fake.sleep,
        )
    )  # fmt: skip
    assert len(handoffs) == 40 and stats["accepted"] == 40
    assert len({m.peer for m in smtp_server.received()}) == 4
    # the k-th message (in time) never starts before k / rate
    assert all(t >= k * 0.01 - 1e-9 for k, t in enumerate(sorted(asked)))
    assert stats["rate_waits"] > 0 and stats["rate_wait_seconds"] > 0


def test_send_before_start_is_an_error() -> None:
    pool = SMTPPool(parse_smtp_url("smtp://127.0.0.1:25"))
    with pytest.raises(RuntimeError):
        run_in_loop(pool.send(envelopes(1), allow))


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        SMTPPool(parse_smtp_url("smtp://127.0.0.1:25"), rate=0)
    with pytest.raises(ValueError, match="rate"):
        SMTPPool(parse_smtp_url("smtp://127.0.0.1:25"), per_domain_rate=-1)

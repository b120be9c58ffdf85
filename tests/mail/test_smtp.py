"""SMTPConnection against a real aiosmtpd server on 127.0.0.1 (pipelined and lock-step)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.errors import TransportError
from consentry.mail.smtp import Envelope, Handoff, SMTPConnection, stuff
from consentry.mail.smtp_url import SMTPTarget, parse_smtp_url
from consentry.mail.smtp_wire import parse_reply
from tests.support.smtp_server import RecordingSMTPServer, run_in_loop

BODIES = [
    b"Subject: plain\r\n\r\nHello.\r\n",
    b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n",
    b".Starts with a dot\r\n\r\nbody\r\n",
    b"Subject: no final newline\r\n\r\nlast line without CRLF",
    b"Subject: empty body\r\n\r\n",
]


def envelopes(n: int, prefix: str = "r", body: bytes | None = None) -> list[Envelope]:
    return [
        Envelope(i, "sender@example.org", f"{prefix}{i}@example.net", body or BODIES[i % 5])
        for i in range(n)
    ]


def allow(env: Envelope) -> bool:
    return True


def expected_data(body: bytes) -> bytes:
    return body if body.endswith(b"\r\n") else body + b"\r\n"


async def session(
    url: str | SMTPTarget,
    envs: list[Envelope],
    gate: Callable[[Envelope], bool] = allow,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[list[Handoff], SMTPConnection]:
    conn = SMTPConnection()
    await conn.connect(parse_smtp_url(url) if isinstance(url, str) else url, ssl_context)
    try:
        return await conn.send(envs, gate), conn
    finally:
        await conn.quit()


def by_key(handoffs: list[Handoff]) -> dict[Any, Handoff]:
    result = {h.key: h for h in handoffs}
    assert len(result) == len(handoffs)
    return result


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("pipelining", [True, False])
def test_session_delivers_every_body_intact_with_dot_stuffing(pipelining: bool, loop: str) -> None:
    with RecordingSMTPServer(advertise_pipelining=pipelining) as server:
        envs = envelopes(20)
        handoffs, conn = run_in_loop(session(server.url, envs), loop)
        assert ("PIPELINING" in conn.extensions) is pipelining
        received = server.received()
    assert [h.outcome for h in handoffs] == ["accepted"] * 20
    assert all(h.code == 250 and h.stage == "dot" and h.enhanced == "2.0.0" for h in handoffs)
    assert [(m.rcpt_tos, m.data) for m in received] == [
        ([e.recipient], expected_data(e.data)) for e in envs
    ]
    assert all(m.mail_from == "sender@example.org" for m in received)


@pytest.mark.parametrize(("pipelining", "writes"), [(True, 11), (False, 40)])
def test_pipelining_sends_one_write_per_message_and_lockstep_one_per_command(
    pipelining: bool, writes: int
) -> None:
    calls: list[bytes] = []

    async def main(url: str) -> list[Handoff]:
        conn = SMTPConnection()
        await conn.connect(parse_smtp_url(url))
        writer: Any = conn._writer
        original = writer.write

        def counting(data: bytes) -> None:
            calls.append(data)
            original(data)

        writer.write = counting
        try:
            return await conn.send(envelopes(10), allow)
        finally:
            await conn.quit()

    with RecordingSMTPServer(advertise_pipelining=pipelining) as server:
        handoffs = run_in_loop(main(server.url))
    assert [h.outcome for h in handoffs] == ["accepted"] * 10
    assert len(calls) == writes + 1  # + QUIT
    if pipelining:
        assert calls[0].count(b"\r\n") == 3  # MAIL, RCPT, DATA together
        size = len(BODIES[1])
        tail = f"MAIL FROM:<sender@example.org> SIZE={size}\r\nRCPT TO:<r1@example.net>\r\nDATA\r\n"
        assert calls[1].endswith(b"\r\n.\r\n" + tail.encode())  # dot, then the next message


@pytest.mark.parametrize("pipelining", [True, False])
def test_rcpt_5xx_is_rejected_with_enhanced_code_and_the_rest_delivered(pipelining: bool) -> None:
    script = {"r3@example.net": (550, "5.1.1 no such user"), "r4@example.net": (553, "bad")}
    with RecordingSMTPServer(advertise_pipelining=pipelining, script=script) as server:
        handoffs, _ = run_in_loop(session(server.url, envelopes(8)))
        received = server.received()
    got = by_key(handoffs)
    assert (got[3].outcome, got[3].code, got[3].enhanced) == ("rejected", 550, "5.1.1")
    assert (got[3].stage, got[3].reply) == ("rcpt", "no such user")
    assert (got[4].outcome, got[4].enhanced, got[4].reply) == ("rejected", None, "bad")
    assert sorted(k for k, h in got.items() if h.outcome == "accepted") == [0, 1, 2, 5, 6, 7]
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(
        f"r{i}@example.net" for i in (0, 1, 2, 5, 6, 7)
    )


@pytest.mark.parametrize("pipelining", [True, False])
def test_rcpt_4xx_is_deferred_and_the_session_stays_usable(pipelining: bool) -> None:
    script = {"r0@example.net": (451, "4.2.0 mailbox busy")}
    with RecordingSMTPServer(advertise_pipelining=pipelining, script=script) as server:
        handoffs, _ = run_in_loop(session(server.url, envelopes(3)))
        received = server.received()
    got = by_key(handoffs)
    assert (got[0].outcome, got[0].code, got[0].enhanced, got[0].stage) == (
        "deferred",
        451,
        "4.2.0",
        "rcpt",
    )
    assert got[1].outcome == got[2].outcome == "accepted"
    assert [m.rcpt_tos for m in received] == [["r1@example.net"], ["r2@example.net"]]


@pytest.mark.parametrize("pipelining", [True, False])
def test_drop_after_dot_is_uncertain_and_nothing_unreceived_is_accepted(pipelining: bool) -> None:
    drop = {"r2@example.net"}
    with RecordingSMTPServer(advertise_pipelining=pipelining, drop_after_dot_for=drop) as server:
        handoffs, conn = run_in_loop(session(server.url, envelopes(6)))
        received = server.wait_for(3)
    got = by_key(handoffs)
    assert set(got) == set(range(6))
    assert got[2].outcome == "uncertain" and got[2].stage == "dot"
    assert [got[i].outcome for i in (3, 4, 5)] == ["deferred"] * 3
    assert not conn.usable
    taken = {m.rcpt_tos[0] for m in received}
    assert all(f"r{k}@example.net" in taken for k, h in got.items() if h.outcome == "accepted")
    assert [m.dropped for m in received] == [False, False, True]


@pytest.mark.parametrize("pipelining", [True, False])
def test_gate_is_asked_just_before_each_message_and_false_withholds(pipelining: bool) -> None:
    blocked = {"r1@example.net"}
    asked: list[int] = []

    def gate(env: Envelope) -> bool:
        asked.append(env.key)
        if env.key == 3:  # an unsubscribe arrives while message 3 is going out
            blocked.add("r6@example.net")
        return env.recipient not in blocked

    with RecordingSMTPServer(advertise_pipelining=pipelining) as server:
        handoffs, _ = run_in_loop(session(server.url, envelopes(8), gate))
        received = server.received()
    got = by_key(handoffs)
    assert asked == list(range(8))
    assert {k for k, h in got.items() if h.outcome == "withheld"} == {1, 6}
    assert got[6].stage == "gate" and got[6].code is None
    assert "r1@example.net" not in {m.rcpt_tos[0] for m in received}
    assert "r6@example.net" not in {m.rcpt_tos[0] for m in received}
    assert len(received) == 6


def test_a_gate_that_raises_withholds_the_message(smtp_server: RecordingSMTPServer) -> None:
    def gate(env: Envelope) -> bool:
        if env.key == 1:
            raise RuntimeError("store down")
        return True

    handoffs, _ = run_in_loop(session(smtp_server.url, envelopes(3), gate))
    got = by_key(handoffs)
    assert got[1].outcome == "withheld" and "store down" in got[1].reply
    assert [m.rcpt_tos[0] for m in smtp_server.received()] == ["r0@example.net", "r2@example.net"]


def test_smtputf8_message_to_a_non_ascii_local_part(smtp_server: RecordingSMTPServer) -> None:
    body = "Subject: grüße\r\n\r\nhé\r\n".encode()
    env = Envelope("u", "sender@example.org", "jörg@example.net", body, smtputf8=True)
    handoffs, _ = run_in_loop(session(smtp_server.url, [env]))
    assert handoffs[0].outcome == "accepted"
    (message,) = smtp_server.received()
    assert message.rcpt_tos == ["jörg@example.net"] and message.data == body
    assert "SMTPUTF8" in message.mail_options and "BODY=8BITMIME" in message.mail_options


def test_smtputf8_needed_but_not_offered_fails_locally() -> None:
    envs = [
        Envelope("u", "sender@example.org", "jörg@example.net", b"x\r\n"),
        Envelope("f", "sender@example.org", "a@example.net", b"x\r\n", smtputf8=True),
        Envelope("ok", "sender@example.org", "b@example.net", b"x\r\n"),
    ]
    with RecordingSMTPServer(smtputf8=False) as server:
        handoffs, _ = run_in_loop(session(server.url, envs))
        received = server.received()
    got = by_key(handoffs)
    assert (got["u"].outcome, got["u"].stage, got["u"].code) == ("failed", "local", None)
    assert "SMTPUTF8" in got["u"].reply and got["f"].outcome == "failed"
    assert got["ok"].outcome == "accepted"
    assert [m.rcpt_tos for m in received] == [["b@example.net"]]


def test_message_over_the_advertised_size_fails_locally() -> None:
    with RecordingSMTPServer(data_size_limit=1000) as server:
        envs = envelopes(2, body=b"Subject: big\r\n\r\n" + b"x" * 2000 + b"\r\n")
        envs.append(Envelope("small", "s@example.org", "t@example.net", b"x\r\n"))
        handoffs, _ = run_in_loop(session(server.url, envs))
        assert len(server.received()) == 1
    got = by_key(handoffs)
    assert got[0].outcome == got[1].outcome == "failed" and "SIZE 1000" in got[0].reply
    assert got["small"].outcome == "accepted"


def test_bare_line_feeds_and_address_injection_fail_locally(
    smtp_server: RecordingSMTPServer,
) -> None:
    envs = [
        Envelope("lf", "s@example.org", "t@example.net", b"a\nb\r\n"),
        Envelope("smuggle", "s@example.org", "t@example.net", b"a\r\n.\nMAIL FROM:<x>\r\n"),
        Envelope("inject", "s@example.org", "t@example.net>\r\nRCPT TO:<u@x", b"a\r\n"),
    ]
    handoffs, _ = run_in_loop(session(smtp_server.url, envs))
    assert [h.outcome for h in handoffs] == ["failed"] * 3
    assert smtp_server.received() == []


def test_connection_refused_raises_transport_error_naming_the_host() -> None:
    with RecordingSMTPServer() as server:
        port = server.port
    with pytest.raises(TransportError) as err:
        run_in_loop(session(f"smtp://127.0.0.1:{port}?timeout=5", envelopes(1)))
    assert f"127.0.0.1:{port}" in str(err.value) and "connect" in str(err.value)


def test_send_on_a_closed_connection_defers_everything(smtp_server: RecordingSMTPServer) -> None:
    async def main() -> list[Handoff]:
        conn = SMTPConnection()
        await conn.connect(parse_smtp_url(smtp_server.url))
        await conn.quit()
        return await conn.send(envelopes(3), allow)

    handoffs = run_in_loop(main())
    assert [(h.outcome, h.stage) for h in handoffs] == [("deferred", "connect")] * 3
    assert smtp_server.received() == []


def test_parse_reply_joins_multiline_text_and_reads_the_enhanced_code() -> None:
    raw = b"550-5.1.1 The account does not exist.\r\n550-5.1.1 Please try\r\n550 5.1.1 again\r\n"
    assert parse_reply(raw) == ("5.1.1", "The account does not exist. Please try again")
    assert parse_reply(b"250 OK\r\n") == (None, "OK")
    assert parse_reply(b"451 5.1.1 mismatched class\r\n") == (None, "5.1.1 mismatched class")


def unstuff(wire: bytes) -> bytes:
    """What an RFC 5321 receiver makes of the data lines up to the lone dot."""
    lines = wire.split(b"\r\n")
    assert lines[-2:] == [b".", b""]
    return b"".join(
        line[1:] + b"\r\n" if line[:1] == b"." else line + b"\r\n" for line in lines[:-2]
    )


@given(st.lists(st.sampled_from([b".", b"..", b"a", b"", b". x", b"\xc3\xa9"]), max_size=12))
def test_stuffing_round_trips_through_a_receiver(parts: list[bytes]) -> None:
    data = b"\r\n".join(parts)
    wire = stuff(data)
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    assert b"\r\n.\r\n" not in wire[:-3]
    assert unstuff(wire) == (expected_data(data) if data else b"")


async def careless_server(
    ehlo: bool, bodies: list[bytes], seen: list[bytes], mute_after_dot: bool = False
) -> asyncio.Server:
    """A raw server that answers 354 to DATA even when the recipient was refused (and, with
    ``mute_after_dot``, never answers the final dot)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 careless\r\n")
        while line := await reader.readline():
            seen.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-careless\r\n250 PIPELINING\r\n" if ehlo else b"502 no\r\n")
            elif verb == b"RCPT" and b"bad@" in line:
                writer.write(b"550 5.1.1 nope\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                lines = []
                while (data := await reader.readline()) not in (b".\r\n", b""):
                    lines.append(data)
                bodies.append(b"".join(lines))
                if mute_after_dot:  # hang: read on, answer nothing
                    while await reader.read(65536):
                        pass
                    break
                writer.write(b"250 2.0.0 taken\r\n")
            else:
                writer.write(b"221 bye\r\n" if verb == b"QUIT" else b"250 ok\r\n")
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("ehlo", [True, False])
def test_no_content_is_sent_after_a_refused_recipient_even_if_data_gets_354(ehlo: bool) -> None:
    bodies: list[bytes] = []
    seen: list[bytes] = []

    async def main() -> tuple[list[Handoff], SMTPConnection]:
        server = await careless_server(ehlo, bodies, seen)
        async with server:
            port = server.sockets[0].getsockname()[1]
            envs = [
                Envelope("bad", "s@example.org", "bad@example.net", b"secret body\r\n"),
                Envelope("ok", "s@example.org", "ok@example.net", b"fine body\r\n"),
            ]
            return await session(f"smtp://127.0.0.1:{port}", envs)

    handoffs, conn = run_in_loop(main())
    got = by_key(handoffs)
    assert (got["bad"].outcome, got["bad"].stage, got["bad"].enhanced) == (
        "rejected",
        "rcpt",
        "5.1.1",
    )
    assert got["ok"].outcome == "accepted"
    assert b"secret body\r\n" not in bodies and b"fine body\r\n" in bodies
    assert b"RSET\r\n" in seen
    assert ("PIPELINING" in conn.extensions) is ehlo
    assert any(line.startswith(b"HELO ") for line in seen) is not ehlo


def test_no_reply_after_the_dot_within_the_timeout_is_uncertain() -> None:
    bodies: list[bytes] = []

    async def main() -> tuple[list[Handoff], SMTPConnection]:
        server = await careless_server(True, bodies, [], mute_after_dot=True)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await session(f"smtp://127.0.0.1:{port}?timeout=0.3", envelopes(3))

    handoffs, conn = run_in_loop(main())
    got = by_key(handoffs)
    assert (got[0].outcome, got[0].stage) == ("uncertain", "dot")
    assert got[1].outcome == "deferred" and got[2].outcome == "deferred"
    assert bodies == [BODIES[0]] and not conn.usable

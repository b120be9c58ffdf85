"""The inbound SMTP listener on a free 127.0.0.1 port, driven by smtplib: a DSN, an ARF and an
unsubscribe-by-token mail are in the ledger by the time the 250 arrives (the handler runs before
the reply; nothing here sleeps); RCPT only for the configured addresses and domains (550 else);
SIZE enforced (552); SMTPUTF8; 554 for unreadable mail, 451 when the handler fails, 250 for mail
understood and ignored; and ``consentry inbound`` as a real process."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import smtplib
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from consentry.bootstrap import SystemClock
from consentry.domain.errors import InputError
from consentry.domain.tokens import make_unsubscribe_token
from consentry.mail.inbound import MAX_MESSAGE_BYTES, AcceptList, InboundServer
from consentry.services import gate
from consentry.services.consent import subject_for
from consentry.services.context import Context
from consentry.services.inbound import handle_inbound
from consentry.store.sqlite import SQLiteStore
from tests.support.audience import grant_all, organised

FIXTURES = Path(__file__).parent.parent / "fixtures" / "inbound"
PLACEHOLDER = b"kid1." + b"FIXTURE0" * 8
ACCEPT = ["unsubscribe@example.com", "help@example.com", "@bounces.example.com"]
MESSAGE = b"Subject: x\r\n\r\nhi\r\n"
PEOPLE = ["ann@example.org", "gone@example.net", "erin@example.net", "gina@example.org",
          "jörg@bücher.example"]  # fmt: skip


@dataclass
class World:
    ctx: Context
    server: InboundServer
    home: Path

    def token(self, email: str) -> bytes:
        kid, key = self.ctx.keys.token_key()
        return make_unsubscribe_token(kid, key, subject_for(self.ctx, email)[1], "news").encode()

    def sample(self, name: str, person: str | None = None) -> bytes:
        data = (FIXTURES / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return data.replace(PLACEHOLDER, self.token(person)) if person else data  # CRLF, as sent

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP(self.server.host, self.server.port, timeout=30)

    def reason(self, email: str) -> str:
        return gate.check_send(self.ctx, email, "news").reason


def _organised(home: Path) -> Context:
    db = home / "consentry.sqlite"
    ctx = organised(SQLiteStore(db), home, SystemClock(), partial(SQLiteStore, db))
    grant_all(ctx, PEOPLE)
    return ctx


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ctx = _organised(tmp_path / "home")
    with InboundServer(partial(handle_inbound, ctx), ACCEPT) as server:
        yield World(ctx, server, tmp_path / "home")
    ctx.store.close()


def test_a_dsn_is_a_suppression_by_the_time_the_250_arrives(world: World) -> None:
    with world.client() as smtp:
        refused = smtp.sendmail("", ["bounces+n1@bounces.example.com"],
                                world.sample("gmail-dsn-no-such-user.eml"))  # fmt: skip
    assert refused == {}
    assert world.reason("gone@example.net") == "suppressed-hard-bounce"


def test_an_arf_complaint_is_a_suppression_by_the_time_the_250_arrives(world: World) -> None:
    with world.client() as smtp:
        smtp.sendmail("feedback@arf.mail.yahoo.com", ["fbl@bounces.example.com"],
                      world.sample("yahoo-arf.eml", "erin@example.net"))  # fmt: skip
    assert world.reason("erin@example.net") == "suppressed-complaint"


def test_an_unsubscribe_by_token_is_a_withdrawal_by_the_time_the_250_arrives(
    world: World,
) -> None:
    with world.client() as smtp:
        smtp.sendmail("ann@example.org", ["unsubscribe@example.com"],
                      world.sample("unsubscribe-mailto-apple.eml", "ann@example.org"))  # fmt: skip
    assert world.reason("ann@example.org") == "suppressed-withdrawal"
    assert world.reason("gina@example.org") == "consent-given"


def test_a_reply_with_an_smtputf8_sender_is_recorded_for_its_canonical_address(
    world: World,
) -> None:
    data = "From: Jörg <JöRG@bücher.example>\r\nSubject: Re: The spring news\r\n\r\nSTOP\r\n"
    with world.client() as smtp:
        smtp.ehlo()
        assert smtp.has_extn("smtputf8")
        smtp.sendmail("JöRG@bücher.example", ["help+reply@example.com"], data.encode(),
                      mail_options=["SMTPUTF8"])  # fmt: skip
    assert world.reason("jörg@xn--bcher-kva.example") == "suppressed-withdrawal"


def test_recipients_outside_the_accepted_addresses_and_domains_get_550(world: World) -> None:
    with world.client() as smtp:
        smtp.ehlo()
        smtp.mail("someone@example.org")
        assert smtp.rcpt("other@example.com")[0] == 550
        assert smtp.rcpt("unsubscribe@sub.bounces.example.com")[0] == 550
        assert smtp.rcpt("Unsubscribe@EXAMPLE.com")[0] == 250  # canonical match
        assert smtp.rcpt("help+anything@example.com")[0] == 250  # +tag ignored
        assert smtp.rcpt("whatever@Bounces.Example.com")[0] == 250  # a whole domain


def test_the_listener_offers_size_smtputf8_and_8bitmime_and_refuses_big_mail(
    world: World,
) -> None:
    big = b"From: a@example.org\r\nSubject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1100
    assert len(big) > MAX_MESSAGE_BYTES
    with world.client() as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == str(MAX_MESSAGE_BYTES)
        assert smtp.has_extn("smtputf8") and smtp.has_extn("8bitmime")
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # SIZE= at MAIL FROM
            smtp.sendmail("a@example.org", ["help@example.com"], big)
        assert declared.value.smtp_code == 552
        smtp.rset()
        smtp.mail("a@example.org")  # no SIZE declared: refused after the data
        smtp.rcpt("help@example.com")
        assert smtp.data(big)[0] == 552


def test_unreadable_mail_gets_554_and_ignored_mail_250(world: World) -> None:
    size = world.ctx.store.size()
    with world.client() as smtp:
        smtp.ehlo()
        smtp.mail("a@example.org")
        smtp.rcpt("help@example.com")
        code, text = smtp.data(b"\x00\x01 not a message")
        assert (code, text[:5]) == (554, b"5.6.0")
        smtp.sendmail("judy@example.org", ["help@example.com"],
                      world.sample("reply-quoted-only-gmail.eml"))  # fmt: skip
    assert world.ctx.store.size() == size


def _stub(handler: object) -> InboundServer:
    return InboundServer(handler, ["help@example.com"])  # type: ignore[arg-type]


def test_a_handler_that_fails_gets_451_and_the_listener_keeps_serving() -> None:
    calls: list[bytes] = []

    def flaky(data: bytes, sender: str, recipients: list[str]) -> str:
        calls.append(data)
        if len(calls) == 1:
            raise RuntimeError("database is down")
        return "ok"

    with _stub(flaky) as server, smtplib.SMTP(server.host, server.port, timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as failed:
            smtp.sendmail("a@example.org", ["help@example.com"], MESSAGE)
        assert failed.value.smtp_code == 451 and failed.value.smtp_error.startswith(b"4.3.0")
        assert smtp.sendmail("a@example.org", ["help@example.com"], MESSAGE) == {}
    assert len(calls) == 2


def test_input_errors_from_the_handler_get_554_with_the_reason() -> None:
    def refuse(data: bytes, sender: str, recipients: list[str]) -> None:
        raise InputError("message/delivery-status part is empty")

    with (
        _stub(refuse) as server,
        smtplib.SMTP(server.host, server.port, timeout=30) as smtp,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        smtp.sendmail("a@example.org", ["help@example.com"], MESSAGE)
    assert refused.value.smtp_code == 554
    assert b"delivery-status part is empty" in refused.value.smtp_error


def test_the_reply_waits_for_the_handler_and_it_runs_off_the_event_loop() -> None:
    entered, release = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def slow(data: bytes, sender: str, recipients: list[str]) -> str:
        seen["thread"] = threading.current_thread().name
        seen["args"] = (sender, recipients)
        entered.set()
        release.wait(30)
        return "done"

    replies: list[dict[str, tuple[int, bytes]]] = []

    def send(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            replies.append(smtp.sendmail("a@example.org", ["help@example.com"], MESSAGE))

    with _stub(slow) as server:
        client = threading.Thread(target=send, args=(server.port,))
        client.start()
        assert entered.wait(30)
        with smtplib.SMTP(server.host, server.port, timeout=30) as other:  # the loop is free
            assert other.noop()[0] == 250
        assert replies == []  # no 250 while the handler has not returned
        release.set()
        client.join(30)
    assert replies == [{}]
    assert str(seen["thread"]).startswith("consentry-inbound")
    assert seen["args"] == ("a@example.org", ["help@example.com"])


@pytest.mark.parametrize("entries", [["not an address"], ["@"], [], ["@localhost"]])
def test_bad_accept_entries_are_input_errors(entries: list[str]) -> None:
    with pytest.raises(InputError):
        AcceptList(entries)


def test_consentry_inbound_runs_as_a_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = _organised(home)
    kid, key = ctx.keys.token_key()
    token = make_unsubscribe_token(kid, key, subject_for(ctx, "gina@example.org")[1], "news")
    ctx.store.close()
    code = ("import os, sys\nfrom consentry.cli.inbound_cmd import inbound_cmd\n"
            "from consentry.settings import load_settings\n"
            "inbound_cmd.main(args=sys.argv[1:], obj=load_settings(os.environ))\n")  # fmt: skip
    env = {**os.environ, "CONSENTRY_HOME": str(home)}
    env.pop("CONSENTRY_DATABASE_URL", None)
    args = [sys.executable, "-c", code, "--port", "0", "--accept", "unsubscribe@example.com"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:", 1)[1].split()[0])
        data = f"From: gina@example.org\r\nSubject: unsubscribe news {token}\r\n\r\n".encode()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("gina@example.org", ["unsubscribe@example.com"], data)
        store = SQLiteStore(home / "consentry.sqlite")
        check = Context(store=store, keys=ctx.keys, clock=SystemClock())
        assert gate.check_send(check, "gina@example.org", "news").reason == "suppressed-withdrawal"
        store.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()


def test_stop_closes_open_sessions_and_waits_for_a_running_handler() -> None:
    entered, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow(data: bytes, sender: str, recipients: list[str]) -> None:
        entered.set()
        release.wait(30)
        finished.append(sender)

    server = _stub(slow).start()
    idle = smtplib.SMTP(server.host, server.port, timeout=30)
    idle.ehlo()
    busy = threading.Thread(target=_send_quietly, args=(server.port,))
    busy.start()
    assert entered.wait(30)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    release.set()
    stopper.join(30)
    busy.join(30)
    assert not stopper.is_alive() and finished == ["a@example.org"]  # the write was not cut off
    with pytest.raises(smtplib.SMTPServerDisconnected):
        idle.noop()
    idle.close()


def _send_quietly(port: int) -> None:
    """Send one message; the server may go away before it answers."""
    with (
        contextlib.suppress(smtplib.SMTPException, OSError),
        smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp,
    ):
        smtp.sendmail("a@example.org", ["help@example.com"], MESSAGE)

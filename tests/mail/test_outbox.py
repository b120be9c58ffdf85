"""Outbox: the in-memory transport records envelopes and plays scripted outcomes."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from consentry.mail.outbox import Outbox
from consentry.mail.smtp import Envelope, Handoff
from consentry.mail.smtp_pool import SMTPPool


def env(key: object, recipient: str, smtputf8: bool = False) -> Envelope:
    return Envelope(key, "news@example.org", recipient, b"Subject: x\r\n\r\nhi\r\n", smtputf8)


def send(outbox: Outbox, envelopes: list[Envelope], gate: object = None) -> list[Handoff]:
    async def main() -> list[Handoff]:
        await outbox.start()
        try:
            return await outbox.send(envelopes, gate or (lambda e: True))  # type: ignore[arg-type]
        finally:
            await outbox.close()

    return asyncio.run(main())


def test_outbox_records_accepted_envelopes_in_order() -> None:
    outbox = Outbox()
    envelopes = [env(i, f"r{i}@example.net") for i in range(3)]
    handoffs = send(outbox, envelopes)
    assert outbox.delivered == envelopes
    assert outbox.recipients() == ["r0@example.net", "r1@example.net", "r2@example.net"]
    assert [(h.key, h.outcome, h.code, h.stage) for h in handoffs] == [
        (i, "accepted", 250, "dot") for i in range(3)
    ]
    assert outbox.handoffs == handoffs


def test_scripted_outcomes_reject_defer_and_leave_uncertain() -> None:
    outbox = Outbox(
        script={
            "bounce@x.test": (550, "5.1.1", "no such user"),
            "later@x.test": (451, "4.2.0", "try again"),
            "lost@x.test": "uncertain",
        }
    )
    handoffs = send(outbox, [env("b", "Bounce@x.test".lower()), env("l", "later@x.test"),
                             env("u", "lost@x.test"), env("ok", "fine@x.test")])  # fmt: skip
    got = {h.key: h for h in handoffs}
    assert (got["b"].outcome, got["b"].code, got["b"].enhanced, got["b"].reply) == (
        "rejected", 550, "5.1.1", "no such user",
    )  # fmt: skip
    assert (got["b"].stage, got["l"].outcome, got["l"].code) == ("rcpt", "deferred", 451)
    assert (got["u"].outcome, got["u"].stage) == ("uncertain", "dot")
    assert got["ok"].outcome == "accepted"
    assert outbox.recipients() == ["lost@x.test", "fine@x.test"]
    assert outbox.stats == {
        "messages": 4, "rejected": 1, "deferred": 1, "uncertain": 1, "accepted": 1,
    }  # fmt: skip


def test_gate_false_withholds_and_records_nothing() -> None:
    outbox = Outbox()
    asked: list[object] = []

    def gate(e: Envelope) -> bool:
        asked.append(e.key)
        return bool(e.key != 1)

    handoffs = send(outbox, [env(0, "a@x.test"), env(1, "b@x.test"), env(2, "c@x.test")], gate)
    assert asked == [0, 1, 2]
    assert [h.outcome for h in handoffs] == ["accepted", "withheld", "accepted"]
    assert handoffs[1].stage == "gate"
    assert outbox.recipients() == ["a@x.test", "c@x.test"]


def test_smtputf8_fails_when_the_outbox_does_not_offer_it() -> None:
    outbox = Outbox(smtputf8=False)
    handoffs = send(outbox, [env(0, "jörg@x.test"), env(1, "a@x.test", smtputf8=True)])
    assert [(h.outcome, h.stage) for h in handoffs] == [("failed", "local")] * 2
    assert outbox.delivered == []


def test_send_outside_start_and_close_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        asyncio.run(Outbox().send([env(0, "a@x.test")], lambda e: True))


def test_bad_script_is_refused() -> None:
    with pytest.raises(ValueError, match="script"):
        Outbox(script={"a@x.test": (354, None, "go ahead")})


def test_outbox_has_the_pool_interface() -> None:
    for name in ("start", "send", "close"):
        ours = inspect.signature(getattr(Outbox, name))
        theirs = inspect.signature(getattr(SMTPPool, name))
        assert list(ours.parameters) == list(theirs.parameters)
    assert "stats" in dir(Outbox)

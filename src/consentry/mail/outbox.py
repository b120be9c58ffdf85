"""An in-memory transport with the pool's interface, for dry runs and tests.

``Outbox.send(envelopes, gate)`` asks the gate for each envelope in order, exactly as the SMTP
transport does just before ``MAIL FROM``, and records what it would have handed over. Outcomes can
be scripted per recipient:

    Outbox(script={"bounce@x.test": (550, "5.1.1", "no such user"),
                   "later@x.test": (451, "4.2.0", "try again"),
                   "lost@x.test": "uncertain"})

A 5xx script rejects at RCPT, a 4xx defers at RCPT, a 2xx accepts, and ``"uncertain"`` stands for
a connection lost after the final dot (the message counts as delivered: it is in ``delivered``).
Without ``smtputf8`` an envelope that needs SMTPUTF8 fails locally, as against a server that does
not offer it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from consentry.mail.smtp import Envelope, Gate, Handoff

Scripted = tuple[int, str | None, str] | Literal["uncertain"]


class Outbox:
    """Records envelopes instead of sending them; see the module docstring."""

    def __init__(
        self,
        script: Mapping[str, Scripted] | None = None,
        *,
        smtputf8: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.script: dict[str, Scripted] = {}
        for address, outcome in (script or {}).items():
            if outcome != "uncertain" and (
                not isinstance(outcome, tuple) or outcome[0] // 100 not in (2, 4, 5)
            ):
                raise ValueError(f"script for {address!r}: a 2xx/4xx/5xx reply or 'uncertain'")
            self.script[address] = outcome
        self.smtputf8 = smtputf8
        self._clock = clock
        self.delivered: list[Envelope] = []  # accepted or uncertain: the "server" has them
        self.handoffs: list[Handoff] = []
        self.started = False
        self.closed = False

    async def start(self) -> None:
        self.started = True
        self.closed = False

    async def close(self) -> None:
        self.closed = True

    @property
    def stats(self) -> dict[str, float]:
        counts: dict[str, float] = {"messages": len(self.handoffs)}
        for handoff in self.handoffs:
            counts[handoff.outcome] = counts.get(handoff.outcome, 0) + 1
        return counts

    def recipients(self) -> list[str]:
        """Recipients of the delivered envelopes, in order."""
        return [env.recipient for env in self.delivered]

    def clear(self) -> None:
        self.delivered.clear()
        self.handoffs.clear()

    def _scripted(self, recipient: str) -> Scripted | None:
        found = self.script.get(recipient)
        return found if found is not None else self.script.get(recipient.lower())

    def _one(self, env: Envelope, gate: Gate) -> Handoff:
        now = self._clock
        needs_utf8 = env.smtputf8 or not (env.sender.isascii() and env.recipient.isascii())
        if needs_utf8 and not self.smtputf8:
            reason = "SMTPUTF8 needed but the server does not offer it"
            return Handoff(env.key, "failed", None, None, reason, "local", now())
        try:
            allowed = gate(env)
        except Exception as exc:  # fail closed, as the SMTP transport does
            return Handoff(env.key, "withheld", None, None, f"gate raised {exc!r}", "gate", now())
        if not allowed:
            reason = "withheld by the gate before MAIL FROM"
            return Handoff(env.key, "withheld", None, None, reason, "gate", now())
        scripted = self._scripted(env.recipient)
        if scripted == "uncertain":
            self.delivered.append(env)
            reason = "no reply after the final dot (scripted)"
            return Handoff(env.key, "uncertain", None, None, reason, "dot", now())
        if scripted is None:
            self.delivered.append(env)
            return Handoff(env.key, "accepted", 250, "2.0.0", "OK (outbox)", "dot", now())
        code, enhanced, text = scripted
        if code // 100 == 2:
            self.delivered.append(env)
            return Handoff(env.key, "accepted", code, enhanced, text, "dot", now())
        outcome = "rejected" if code // 100 == 5 else "deferred"
        return Handoff(env.key, outcome, code, enhanced, text, "rcpt", now())

    async def send(self, envelopes: Sequence[Envelope], gate: Gate) -> list[Handoff]:
        """One ``Handoff`` per envelope, in order; the gate is asked for each just before it."""
        if not self.started or self.closed:
            raise RuntimeError("Outbox.send outside start() ... close()")
        out = [self._one(env, gate) for env in envelopes]
        self.handoffs.extend(out)
        return out

"""What a user would write instead of consentry: the naive baseline.

The standard library and dkimpy, the obvious way: one ``smtplib.SMTP`` connection to the same
sink, and for each recipient, one at a time, an ``email.message.EmailMessage`` built from the
same text template (the two merge fields filled with ``str.replace``), the same headers
consentry sets (From, To, Reply-To, Subject, Date, Message-ID, List-Unsubscribe,
List-Unsubscribe-Post), ``dkim.sign`` with an RSA-2048 key (relaxed/simple, the usual headers),
and ``sendmail``. No consent check, no ledger, nothing durable: it only builds, signs and sends.
It runs in this process on a smaller sample (2,000 messages by default); its rate is compared
with consentry's signed rate.
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.dispatch import workload
from bench.dispatch.sink import Sink

_SIGNED = [
    b"From",
    b"To",
    b"Reply-To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
]


@dataclass(frozen=True)
class NaiveRun:
    messages: int
    seconds: float
    received: int  # by the sink's counter
    mean_size: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "seconds": self.seconds,
            "received": self.received,
            "mean_message_bytes": self.mean_size,
            "rate": self.rate,
        }


def rsa_pem() -> bytes:
    """A fresh RSA-2048 key in the PKCS#1 PEM form dkimpy reads."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _message(text: str, address: str, number: int) -> EmailMessage:
    unsubscribe = f"{workload.BASE_URL}/u/{workload.LIST_ID}/naive-{number}"
    msg = EmailMessage()
    msg["From"] = f"Bench Ltd <{workload.FROM}>"
    msg["To"] = address
    msg["Reply-To"] = workload.REPLY_TO
    msg["Subject"] = workload.SUBJECT
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=workload.DKIM_DOMAIN)
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body = text.replace("{{ email }}", address).replace("{{ unsubscribe_url }}", unsubscribe)
    msg.set_content(body)
    return msg


def run_naive(sink: Sink, text: str, messages: int) -> NaiveRun:
    """Build, sign and send ``messages`` messages one at a time over one connection."""
    pem = rsa_pem()
    before = sink.settled()
    total_bytes = 0
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for i, address in enumerate(workload.emails(messages)):
            raw = _message(text, address, i).as_bytes()
            signature = dkim.sign(
                raw,
                workload.DKIM_SELECTOR.encode(),
                workload.DKIM_DOMAIN.encode(),
                pem,
                include_headers=_SIGNED,
            )
            signed = signature + raw
            total_bytes += len(signed)
            smtp.sendmail(workload.FROM, [address], signed)
    seconds = time.perf_counter() - start
    return NaiveRun(messages, seconds, sink.settled() - before, total_bytes / messages)

"""What is sent: the recipients' addresses and a text template of a given message size.

Addresses are ``reader<i>@mail<i mod 97>.example.com`` (97 domains, so per-domain bookkeeping is
exercised without any per-domain limit). The template is plain 7-bit text in lines of at most 72
characters (no transfer encoding changes its size) with the two per-recipient merge fields,
``{{ email }}`` and ``{{ unsubscribe_url }}``; its filler is sized so that the whole message, as
consentry puts it on the wire (headers, body and the footer consentry adds, before DKIM), is
about the wanted size: :mod:`bench.dispatch.probe` measures consentry's overhead with a few real
messages and :func:`template` subtracts it.
"""

from __future__ import annotations

from collections.abc import Iterator

SUBJECT = "News"
FROM = "news@bench.example"
REPLY_TO = "help@bench.example"
LIST_ID = "news"
BASE_URL = "https://bench.example"
DKIM_DOMAIN = "bench.example"
DKIM_SELECTOR = "s1"
#: A first guess of the bytes consentry adds around the body (headers, footer); the probe
#: replaces it with the measured figure.
DEFAULT_OVERHEAD = 1100

_HEAD = "Hello {{ email }},\n\nThis month's news from Bench Ltd.\n\n"
_TAIL = "\nTo stop these emails: {{ unsubscribe_url }}\n"
_WORDS = (
    "consent",
    "ledger",
    "decision",
    "handoff",
    "recipient",
    "campaign",
    "message",
    "notice",
    "evidence",
    "basis",
    "withdrawal",
    "suppression",
    "checkpoint",
    "signature",
    "pipeline",
    "connection",
    "transaction",
    "durable",
)


def email(i: int) -> str:
    return f"reader{i}@mail{i % 97}.example.com"


def emails(count: int, start: int = 0) -> Iterator[str]:
    return (email(i) for i in range(start, start + count))


def filler(size: int) -> str:
    """ASCII prose in lines of at most 72 characters that comes to ``size`` bytes on the wire,
    where each line ends in CRLF (two bytes)."""
    lines: list[str] = []
    line: list[str] = []
    total, i = 0, 0
    while True:
        word = _WORDS[i % len(_WORDS)]
        i += 1
        candidate = " ".join([*line, word])
        if len(candidate) > 71:
            text = " ".join(line) + "\n"
            if total + len(text) + 1 > size:
                break
            lines.append(text)
            total += len(text) + 1
            line = [word]
        else:
            line.append(word)
    rest = size - total
    if rest > 2:
        lines.append("x" * (rest - 2) + "\n")
    return "".join(lines)


def template(size: int, overhead: int = DEFAULT_OVERHEAD) -> str:
    """A text template whose messages come to about ``size`` bytes with ``overhead`` added."""
    fixed = len(_HEAD) + _HEAD.count("\n") + len(_TAIL) + _TAIL.count("\n")
    return _HEAD + filler(max(0, size - overhead - fixed)) + _TAIL

"""The local SMTP sink: pipelined sessions from the real transport, messages kept as files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consentry.bootstrap import local_sink
from consentry.mail.smtp_pool import SMTPPool
from consentry.mail.smtp_url import parse_smtp_url
from consentry.ports import Envelope


def test_the_sink_takes_pipelined_mail_from_the_pool_and_keeps_each_message(
    tmp_path: Path,
) -> None:
    body = b"Subject: hi\r\n\r\n.leading dot\r\nend\r\n"
    envelopes = [Envelope(i, "news@example.com", f"r{i}@example.org", body) for i in range(200)]

    async def send(url: str) -> list[str]:
        pool = SMTPPool(parse_smtp_url(url), connections=3)
        await pool.start()
        try:
            handoffs = await pool.send(envelopes, lambda e: e.key != 7)
        finally:
            await pool.close()
        return [h.outcome for h in sorted(handoffs, key=lambda h: h.key)]

    with local_sink(tmp_path / "mail") as sink:
        outcomes = asyncio.run(send(sink.url))
        stats = sink.stats
    assert outcomes.count("accepted") == 199 and outcomes[7] == "withheld"
    assert stats.messages == 199 and max(stats.by_recipient.values()) == 1
    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 199
    assert files[0].read_bytes() == body  # dot-stuffing undone, CRLFs kept

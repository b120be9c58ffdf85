"""PostgreSQL: two `campaign send` processes share one campaign's queue (FOR UPDATE SKIP
LOCKED): everyone gets exactly one message, and both workers sent some."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from consentry.bootstrap import SystemClock, open_store
from consentry.services import campaigns
from tests.support.audience import campaign_spec, grant_all, organised
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_workers_share_the_queue_and_nobody_gets_two_copies(
    tmp_path: Path, pg_url: str
) -> None:
    home = tmp_path / "home"
    store = open_store(pg_url)
    ctx = organised(store, home, SystemClock())
    people = grant_all(ctx, [f"w{i}@example.org" for i in range(3000)])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    store.close()
    env = {**os.environ, "CONSENTRY_HOME": str(home), "CONSENTRY_DATABASE_URL": pg_url}
    with RecordingSMTPServer() as server:
        command = [sys.executable, "-m", "consentry.cli.main", "campaign", "send", "spring",
                   "--smtp", server.url, "--base-url", "https://example.com", "--batch", "100",
                   "--json"]  # fmt: skip
        workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE) for _ in range(2)]  # fmt: skip
        results = [w.communicate(timeout=180) for w in workers]
        received = [r for m in server.received() for r in m.rcpt_tos]
    for worker, (_, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err.decode()
    summaries = [json.loads(out) for out, _ in results]
    assert Counter(received) == Counter(list(people))  # each exactly once
    assert all(s["sent"] > 0 for s in summaries), [s["sent"] for s in summaries]
    assert sum(s["sent"] for s in summaries) == len(people)
    check = open_store(pg_url)
    try:
        assert check.message_counts("spring") == {"sent": len(people)}
    finally:
        check.close()

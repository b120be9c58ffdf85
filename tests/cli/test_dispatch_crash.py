"""At most once (invariant 8): a dispatcher killed with SIGKILL at random moments, then resumed,
never hands a second copy to anyone; every recipient ends sent, denied, failed or uncertain, and
the uncertain ones are reported, not resent."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from consentry.bootstrap import open_app
from consentry.services import campaigns
from consentry.settings import load_settings
from tests.support.audience import campaign_spec, grant_all, organised
from tests.support.smtp_server import RecordingSMTPServer

pytestmark = pytest.mark.slow


def _send(env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "consentry.cli.main", "campaign", "send", "spring", "--smtp", url,
         "--base-url", "https://example.com", "--batch", "50", "--connections", "2", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_sigkill_at_random_points_then_resume_sends_nobody_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings({"CONSENTRY_HOME": str(home)})
    from consentry.bootstrap import SystemClock, open_store

    store = open_store(settings.database_url)
    ctx = organised(store, home, SystemClock())
    people = grant_all(ctx, [f"r{i}@example.org" for i in range(1500)])
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    store.close()
    env = {**os.environ, "CONSENTRY_HOME": str(home)}
    env.pop("CONSENTRY_DATABASE_URL", None)
    rng = random.Random(20261130)
    with RecordingSMTPServer() as server:
        for _ in range(4):
            target = len(server.received()) + rng.randrange(50, 300)
            proc = _send(env, server.url)
            try:
                server.wait_for(target, timeout=60)
            finally:
                proc.send_signal(signal.SIGKILL)
                _, err = proc.communicate()
            assert proc.returncode == -signal.SIGKILL, err.decode()  # killed, not failed
        done = _send(env, server.url)
        out, err = done.communicate(timeout=120)
        assert done.returncode == 0, err.decode()
        summary = json.loads(out)
        received = [r for m in server.received() for r in m.rcpt_tos]
    copies = Counter(received)
    assert max(copies.values()) == 1, [a for a, n in copies.items() if n > 1][:5]
    app = open_app(settings)
    try:
        status = campaigns.campaign_status(app.context, "spring")
        sent = {m.canonical for m in app.context.store.messages_in_state("spring", "sent")}
        uncertain = {
            m.canonical for m in app.context.store.messages_in_state("spring", "uncertain")
        }
    finally:
        app.close()
    print("after 4 kills and a resume:", status)
    assert status["queued"] == 0 and status["in_flight"] == 0
    assert status["sent"] + status["uncertain"] + status["denied"] + status["failed"] == len(people)
    assert sent <= set(received)  # a message is "sent" only if the server has it
    assert set(received) <= sent | uncertain  # nothing the server has is unaccounted for
    assert summary["status"]["uncertain"] == status["uncertain"]

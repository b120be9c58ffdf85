"""Witnesses (R6): checkpoints leave the database for a file, a directory or an HTTP endpoint,
from a background thread that a slow witness never holds up; a database restored to an earlier
state is then a consistency failure against what the witnesses kept."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from consentry.domain.errors import InputError, TransportError
from consentry.services.audit_checkpoints import split_notes
from consentry.services.audit_witness import check_witnessed
from consentry.services.context import Context
from consentry.store.sqlite import SQLiteStore
from consentry.witness.config import parse_witnesses
from consentry.witness.endpoint import HTTPWitness
from consentry.witness.files import DirectoryWitness, FileWitness
from consentry.witness.publisher import WitnessPublisher
from consentry.witness.read import read_witnessed
from tests.audit.support import organised_ctx
from tests.cli.conftest import Runner
from tests.conftest import FixedClock
from tests.support.audience import grant_all


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def signed(tmp_path: Path, clock: FixedClock) -> Iterator[Context]:
    """A SQLite consentry whose checkpoints the tests publish."""
    path = tmp_path / "home" / "consentry.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    ctx = organised_ctx(SQLiteStore(path), tmp_path, clock)
    yield ctx
    ctx.store.close()


def latest(ctx: Context) -> str:
    cp = ctx.store.latest_checkpoint()
    assert cp is not None
    return cp.note


def test_the_file_witness_only_appends_and_reads_back_every_note(
    signed: Context, tmp_path: Path
) -> None:
    witness = FileWitness(tmp_path / "w" / "checkpoints.txt")
    first = [cp.note for cp in signed.store.checkpoints()]
    witness.publish(first)
    before = witness.path.read_bytes()
    grant_all(signed, ["a@example.org"])
    witness.publish([latest(signed)])
    assert witness.path.read_bytes().startswith(before)
    assert read_witnessed(witness.path).notes == [*first, latest(signed)]


def test_the_directory_witness_keeps_one_file_per_checkpoint(
    signed: Context, tmp_path: Path
) -> None:
    witness = DirectoryWitness(tmp_path / "dir")
    notes = [cp.note for cp in signed.store.checkpoints()]
    witness.publish(notes)
    witness.publish(notes[-1:])  # again: nothing changes
    files = sorted(p.name for p in witness.path.iterdir())
    assert len(files) == len(notes) and all(f.endswith(".note") for f in files)
    assert read_witnessed(witness.path).notes == notes


class Recorder(BaseHTTPRequestHandler):
    bodies: list[bytes] = []
    status = 204

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"bodies": [], "status": 204})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/checkpoints", handler
    server.shutdown()
    server.server_close()


def test_the_http_witness_posts_the_newest_note_and_refuses_errors(
    signed: Context, endpoint: tuple[str, type[Recorder]]
) -> None:
    url, handler = endpoint
    notes = [cp.note for cp in signed.store.checkpoints()]
    HTTPWitness(url).publish(notes)
    assert handler.bodies == [notes[-1].encode()]
    handler.status = 500
    with pytest.raises(TransportError, match="answered 500"):
        HTTPWitness(url).publish(notes)


def test_witness_settings_are_parsed_and_bad_entries_named() -> None:
    found = parse_witnesses("file:/var/w/cp.txt, dir:/srv/cps ,https://w.example/cp,")
    assert [w.name for w in found] == ["file:/var/w/cp.txt", "dir:/srv/cps", "https://w.example/cp"]
    assert parse_witnesses("") == []
    with pytest.raises(InputError, match=r"entry 2 \('ftp://x'\)"):
        parse_witnesses("file:/a, ftp://x")
    with pytest.raises(InputError, match="must be https"):
        parse_witnesses("http://witness.example/cp")


class Slow:
    """A witness that holds every publish until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls: list[list[str]] = []
        self.name = "slow"

    def publish(self, notes: Sequence[str]) -> None:
        self.calls.append(list(notes))
        self.release.wait(10)


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.kept: list[str] = []
        self.name = "flaky"

    def publish(self, notes: Sequence[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("disk not mounted")
        self.kept.extend(notes)


def test_a_slow_witness_never_blocks_an_offer_and_gets_everything_in_order() -> None:
    slow = Slow()
    publisher = WitnessPublisher([slow])
    try:
        publisher.offer("n0")
        wait_until(lambda: len(slow.calls) == 1)  # the thread is now stuck in the witness
        started = time.monotonic()
        for i in range(1, 2001):
            publisher.offer(f"n{i}")
        assert time.monotonic() - started < 0.5  # 2,000 offers while the witness hangs
        assert not publisher.flush(timeout=0.05)
        slow.release.set()
        assert publisher.flush(timeout=5)
        kept = [n for call in slow.calls for n in call]
        assert kept == [f"n{i}" for i in range(2001)] and len(slow.calls) == 2
    finally:
        slow.release.set()
        publisher.close()


def test_a_failing_witness_is_retried_and_never_stops_the_others(tmp_path: Path) -> None:
    flaky, good = Flaky(failures=2), FileWitness(tmp_path / "good.txt")
    errors: list[str] = []
    publisher = WitnessPublisher([flaky, good], retry=0.01, on_error=lambda n, e: errors.append(n))
    note = "origin\n1\n" + "A" * 43 + "=\n\n\u2014 origin AAAA\n"
    try:
        publisher.offer(note)
        assert publisher.flush(timeout=5)
        assert good.path.read_text(encoding="utf-8") == note + "\n"
        wait_until(lambda: flaky.kept == [note])
        assert errors == ["flaky", "flaky"] and publisher.failing == {}
    finally:
        publisher.close()


def test_the_latest_checkpoint_is_published_again_when_nothing_new_comes() -> None:
    kept = Flaky(failures=0)
    publisher = WitnessPublisher([kept], interval=0.02)
    try:
        publisher.offer("only")
        wait_until(lambda: len(kept.kept) >= 4)
        assert set(kept.kept) == {"only"}
    finally:
        publisher.close()
    count = len(kept.kept)
    time.sleep(0.06)  # closed: the thread has stopped republishing
    assert len(kept.kept) == count


def _backup(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def test_a_database_restored_to_an_earlier_state_is_a_consistency_failure(
    tmp_path: Path, clock: FixedClock, run: Runner, home: Path
) -> None:
    db = home / "consentry.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    ctx = organised_ctx(SQLiteStore(db), tmp_path, clock)
    witness = FileWitness(tmp_path / "witness" / "checkpoints.txt")
    publisher = WitnessPublisher([witness])
    try:
        for i in range(3):  # the proposed wiring: offer each checkpoint after its append
            grant_all(ctx, [f"p{i}@example.org"])
            publisher.offer(latest(ctx))
        _backup(db, tmp_path / "backup.sqlite")
        for i in range(3, 6):
            grant_all(ctx, [f"p{i}@example.org"])
            publisher.offer(latest(ctx))
        assert publisher.flush(5)
    finally:
        publisher.close()
        ctx.store.close()
    clean = run("audit", "witness-check", str(witness.path), "--json")
    assert clean.code == 0, clean.out + clean.err
    assert {w["status"] for w in clean.json()["witnessed"]} == {"consistent"}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "backup.sqlite", db)
    restored = run("audit", "witness-check", str(witness.path), "--json")
    assert restored.code == 40
    problems = restored.json()["problems"]
    assert problems and all("consistency failure" in p for p in problems)
    assert any("restored to an earlier state" in p for p in problems)
    assert run("ledger", "verify").code == 0  # on its own, the restored database looks fine


def test_a_rewritten_history_is_inconsistent_with_the_witness(signed: Context) -> None:
    grant_all(signed, ["a@example.org", "b@example.org"])
    witnessed = [cp.note for cp in signed.store.checkpoints()]
    report = check_witnessed(signed, witnessed)
    assert report.ok and {w["status"] for w in report.witnessed} == {"consistent"}
    # what the witness saw of the first 3 leaves is not what the database holds now
    seen = signed.keys.sign_checkpoint(3, hashlib.sha256(b"the original leaves").digest())
    newest = signed.keys.sign_checkpoint(signed.store.size(), hashlib.sha256(b"x").digest())
    rewritten = check_witnessed(signed, [seen, newest])
    assert [w["status"] for w in rewritten.witnessed] == ["inconsistent", "inconsistent"]
    assert all("history was rewritten" in p for p in rewritten.problems)
    assert split_notes("\n".join(witnessed)).notes == witnessed

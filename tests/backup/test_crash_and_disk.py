"""Crash safety of ``backup create``: killed with SIGKILL at random points it leaves no file
that verifies as complete (only partial files, which the next run removes); on a full file
system it fails with a clear error and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from tests.backup.support import Keys, backup, make_keys, populate, require_pyrage
from tests.support.audience import grant_all

from consentry.backup.read import verify_backup
from consentry.bootstrap import open_store
from consentry.domain.errors import ConsentryError, InputError

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Keys]]:
    """A store whose backup is a few megabytes (6,000 people with evidence)."""
    require_pyrage()
    base = tmp_path_factory.mktemp("big")
    keys = make_keys(base / "home")
    url = f"sqlite:///{base / 'big.sqlite'}"
    store = open_store(url)
    ctx = populate(store, keys.home)
    grant_all(ctx, [f"bulk{i}@example.org" for i in range(6000)])
    store.close()
    yield url, keys


def _create(url: str, keys: Keys, target: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONSENTRY_HOME": str(keys.home), "CONSENTRY_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.backup.cli_entry", "backup", "create", "--to",
         str(target), "--recipient", keys.recipient],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def _progressed(directory: Path, threshold: int, proc: subprocess.Popen[bytes]) -> bool:
    return _largest(directory) >= threshold or proc.poll() is not None


def _partials(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.partial"))


def _largest(directory: Path) -> int:
    sizes = [0]
    for path in _partials(directory):
        with contextlib.suppress(FileNotFoundError):  # a stale one, just removed
            sizes.append(path.stat().st_size)
    return max(sizes)


def test_sigkill_at_random_points_leaves_no_file_that_verifies_as_complete(
    big: tuple[str, Keys], tmp_path: Path
) -> None:
    url, keys = big
    rng = random.Random(20261201)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "backup.age"
    expected = backup(url, tmp_path / "reference.age", keys).bytes
    for round_ in range(8):
        proc = _create(url, keys, target)
        mode = rng.choice(["at-start", "while-writing", "while-writing", "parent-only"])
        if mode != "at-start":
            threshold = rng.randrange(1, expected)
            _wait_until(partial(_progressed, out, threshold, proc))
        workers = _children(proc.pid)
        if mode == "parent-only":
            proc.send_signal(signal.SIGKILL)  # the age worker sees the end of its input
        else:
            os.killpg(proc.pid, signal.SIGKILL)  # everything at once, as in a power cut
        proc.communicate()
        for worker in workers:
            _wait_until(lambda worker=worker: not _running(worker))
        if target.exists():  # it finished before the kill: then it is whole
            assert verify_backup(target, keys.opening, keys.trust()).size > 0
            target.unlink()
        for leftover in _partials(out):
            with pytest.raises(ConsentryError):
                verify_backup(leftover, keys.opening, keys.trust())
        print(f"round {round_}: killed {mode}; partial files: {len(_partials(out))}")
    done = _create(url, keys, target)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err.decode()
    assert verify_backup(target, keys.opening, keys.trust()).size > 0
    assert _partials(out) == []  # the partial files of dead runs were removed


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted by the test (root only)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI runs as root and must run this test")
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_file_system_fails_clearly_and_leaves_no_partial_file(
    big: tuple[str, Keys], tiny_fs: Path
) -> None:
    url, keys = big
    target = tiny_fs / "backup.age"
    with pytest.raises(InputError, match="No space left on device") as caught:
        backup(url, target, keys)
    assert str(target) in str(caught.value)
    assert list(tiny_fs.iterdir()) == []

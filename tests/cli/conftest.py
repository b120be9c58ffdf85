"""Run the real CLI in process, with its own CONSENTRY_HOME and database."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consentry.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str
    settled: bool = False  # the command froze its heap (``consentry.heap.settle_heap``)

    def json(self) -> Any:
        return json.loads(self.out)


Runner = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CONSENTRY_HOME", str(home))
    monkeypatch.delenv("CONSENTRY_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Runner:
    def invoke(*args: str) -> Result:
        capsys.readouterr()
        thresholds = gc.get_threshold()
        gc.unfreeze()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:  # a long-running command settles the heap: the test process must not keep it
            settled = gc.get_freeze_count() > 0
            gc.unfreeze()
            gc.set_threshold(*thresholds)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err, settled)

    return invoke


@pytest.fixture
def notice_file(tmp_path: Path) -> Path:
    path = tmp_path / "notice.txt"
    path.write_text("Yes, email me the newsletter. Unsubscribe any time.\n", encoding="utf-8")
    return path


@pytest.fixture
def ready(run: Runner, notice_file: Path) -> str:
    """An initialised home with list 'news' and a published notice; returns the notice hash."""
    assert run("init", "--controller", "Example Ltd").code == 0
    assert run("list", "create", "news").code == 0
    published = run("notice", "publish", "--list", "news", str(notice_file))
    assert published.code == 0, published.err
    return published.out.strip()


def grant(run: Runner, notice: str, email: str, *extra: str) -> Result:
    return run(
        "consent", "grant", email, "--list", "news", "--basis", "consent", "--notice", notice,
        "--method", "web-form", "--source", "first-party", "--evidence", "ip=203.0.113.5",
        *extra,
    )  # fmt: skip

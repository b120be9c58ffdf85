"""``consentry serve`` settles its garbage collector once it has started: the objects alive then
are frozen out of the collector's walks and the young generation is collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consentry.cli.main import cli
from consentry.heap import YOUNG_THRESHOLD, settle_heap
from consentry.settings import load_settings
from consentry.web.app import app_from_settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settle_heap_freezes_what_is_alive_and_raises_the_young_threshold(
    restored_gc: None,
) -> None:
    alive = [[i] for i in range(1000)]
    settle_heap()
    assert gc.get_freeze_count() >= len(alive)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1  # cycles made afterwards are still collected


def test_the_served_app_settles_the_heap_at_start_up(tmp_path: Path, restored_gc: None) -> None:
    from click.testing import CliRunner

    home = tmp_path / "home"
    init = ["--home", str(home), "init", "--controller", "Example Ltd"]
    assert CliRunner().invoke(cli, init).exit_code == 0
    gc.unfreeze()
    app = app_from_settings(load_settings({"CONSENTRY_HOME": str(home)}))
    assert gc.get_freeze_count() == 0
    with TestClient(app) as http:  # runs the start-up handlers
        assert gc.get_freeze_count() > 0
        assert http.get("/healthz").text == "ok"

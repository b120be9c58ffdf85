"""Scheduled backups: timestamped names in time order, the newest ``keep`` kept, failures
reported and survived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consentry.backup.schedule import Schedule, parse_every, scheduled_files, scheduled_name
from consentry.domain.errors import InputError, StoreError


def test_durations() -> None:
    assert parse_every("30s") == 30 and parse_every("15m") == 900
    assert parse_every("1h") == 3600 and parse_every("2d") == 172800
    for bad in ("0s", "1w", "h", "1.5h", "-1h"):
        with pytest.raises(InputError, match="is not a duration"):
            parse_every(bad)


def test_runs_keep_the_newest_and_sleep_the_rest_of_the_interval(tmp_path: Path) -> None:
    times = iter(datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(hours=h) for h in range(9))
    slept: list[float] = []
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("not a backup")
    lines: list[str] = []

    def make(target: Path) -> str:
        target.write_bytes(b"backup")
        return f"made {target.name}"

    schedule = Schedule(tmp_path, 3600.0, keep=3, runs=5, sleep=slept.append,
                        clock=lambda: next(times))  # fmt: skip
    assert schedule.run(make, lines.append) == 0
    kept = [p.name for p in scheduled_files(tmp_path)]
    assert kept == [scheduled_name(datetime(2026, 3, 1, h, 0, tzinfo=UTC)) for h in (11, 12, 13)]
    assert unrelated.exists()
    assert len(slept) == 4 and all(3590 < s <= 3600 for s in slept)
    assert sum(line.startswith("removed") for line in lines) == 2


def test_a_failed_run_is_reported_and_the_schedule_goes_on(tmp_path: Path) -> None:
    calls = []

    def make(target: Path) -> str:
        calls.append(target)
        if len(calls) == 1:
            raise StoreError("database is locked")
        target.write_bytes(b"ok")
        return "ok"

    lines: list[str] = []
    failures = Schedule(tmp_path, 1.0, keep=2, runs=2, sleep=lambda _s: None).run(
        make, lines.append
    )
    assert failures == 1 and "failed: database is locked" in lines[0]
    assert len(scheduled_files(tmp_path)) == 1


def test_the_directory_must_exist_and_keep_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must be an existing directory"):
        Schedule(tmp_path / "nope", 1.0, keep=1, runs=1).run(lambda p: "", print)
    with pytest.raises(InputError, match="--keep"):
        Schedule(tmp_path, 1.0, keep=0, runs=1).run(lambda p: "", print)

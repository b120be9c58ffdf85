"""This process's side of the age worker (``age_worker``): plaintext into an age file, and an
age file back into a plaintext stream, each through a pipe to a ``python -m
consentry.backup.age_worker`` process."""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from consentry.backup.age_keys import MAX_WORK_FACTOR, Opening, Sealing
from consentry.domain.errors import InputError, SetupError

PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe instead of 64 KiB halves the context switches


def _worker(verb: str, path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "consentry.backup.age_worker", verb, str(path)]
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        bufsize=PIPE_BYTES,
    )  # fmt: skip
    for pipe in (proc.stdin, proc.stdout):
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
    return proc


class AgeFailure(Exception):
    """What the age worker reported: ``stage`` is header, payload, output or setup."""

    def __init__(self, message: str, stage: str, header_bytes: int = 0) -> None:
        super().__init__(message)
        self.stage = stage
        self.header_bytes = header_bytes


def _failure(proc: subprocess.Popen[bytes], err: bytes) -> AgeFailure:
    lines = err.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
        return AgeFailure(report["error"], report["stage"], int(report.get("header_bytes", 0)))
    except (IndexError, ValueError, KeyError, TypeError):
        text = lines[-1] if lines else f"exit status {proc.returncode}"
        return AgeFailure(f"the age process failed: {text}", "setup")


def _raise_setup(failure: AgeFailure) -> None:
    if failure.stage == "setup":
        raise SetupError(f"cannot run age encryption: {failure}")


class AgeWriter:
    """Write plaintext; ``close`` leaves ``path`` a complete age file, or raises and leaves
    nothing there."""

    def __init__(self, path: Path, sealing: Sealing, shown: Path | None = None) -> None:
        self.path = path
        self.shown = shown or path  # the name errors give (the file's final name)
        self._proc = _worker("encrypt", path)
        config: dict[str, Any] = (
            {"passphrase": sealing.passphrase, "work_factor": sealing.work_factor}
            if sealing.passphrase is not None
            else {"recipients": list(sealing.recipients)}
        )
        self.write(json.dumps(config).encode("utf-8") + b"\n")

    def _stdin(self) -> IO[bytes]:
        assert self._proc.stdin is not None
        return self._proc.stdin

    def write(self, data: bytes) -> None:
        try:
            self._stdin().write(data)
        except (BrokenPipeError, ValueError):
            self._fail()

    def _fail(self) -> None:
        _, err = self._proc.communicate()
        failure = _failure(self._proc, err)
        _raise_setup(failure)
        raise InputError(f"cannot write the backup {self.shown}: {failure}")

    def close(self) -> int:
        """Finish the file; returns its size in bytes."""
        try:
            self._stdin().flush()
        except BrokenPipeError:
            self._fail()
        out, err = self._proc.communicate()  # closes standard input: the worker finishes
        if self._proc.returncode != 0:
            self._fail_with(err)
        return int(json.loads(out)["bytes"])

    def _fail_with(self, err: bytes) -> None:
        failure = _failure(self._proc, err)
        _raise_setup(failure)
        raise InputError(f"cannot write the backup {self.shown}: {failure}")

    def abort(self) -> None:
        """Stop the worker (it removes its unfinished file) and make sure nothing is left."""
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(OSError, ValueError):
            self._proc.communicate()
        self.path.unlink(missing_ok=True)


class AgeReader:
    """The plaintext of an age file, read line by line as the worker decrypts it."""

    def __init__(self, path: Path, opening: Opening) -> None:
        if not path.is_file():
            raise InputError(f"backup file {path} does not exist")
        self.path = path
        self._proc = _worker("decrypt", path)
        config: dict[str, Any] = (
            {"passphrase": opening.passphrase, "max_work_factor": MAX_WORK_FACTOR}
            if opening.passphrase is not None
            else {"identities": list(opening.identities)}
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(config).encode("utf-8") + b"\n")
        self._proc.stdin.close()
        self._proc.stdin = None  # communicate() must not flush it again
        self.stream: IO[bytes] = self._proc.stdout

    def failure(self) -> AgeFailure | None:
        """After the stream ended: what went wrong in the worker, if anything."""
        _, err = self._proc.communicate()
        if self._proc.returncode == 0:
            return None
        failure = _failure(self._proc, err)
        _raise_setup(failure)
        return failure

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()

"""The age process: ``python -m consentry.backup.age_worker encrypt|decrypt FILE``.

A backup streams through a separate process that does only the age part with pyrage, so that
encryption runs on one core while the database is read (or written) on the other. The first
line on standard input is a JSON object saying what to do:

* ``encrypt FILE``: ``{"recipients": ["age1..."]}`` or ``{"passphrase": "...",
  "work_factor": 18}``; the rest of standard input is the plaintext. FILE is created (mode 0600,
  never overwritten), fsync'ed and closed; on any error it is removed.
* ``decrypt FILE``: ``{"identities": ["AGE-SECRET-KEY-1..."]}`` or ``{"passphrase": "...",
  "max_work_factor": 22}``; the plaintext goes to standard output.

Success exits 0 (encrypt prints ``{"bytes": N}``); failure prints one JSON line ``{"error": ...,
"stage": "header"|"payload"|"output"|"setup", "header_bytes": N}`` on standard error and exits 1.
Secrets travel on the pipe, never in the command line or the environment.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from typing import Any

from consentry.backup.age_header import (
    HeaderProblem,
    check_mac,
    format_header,
    read_header,
    scrypt_unwrap,
    scrypt_wrap,
    x25519_unwrap,
    x25519_wrap,
)
from consentry.backup.age_keys import new_identity, parse_identity, parse_recipient

BUFFER = 1 << 20


class Failed(Exception):
    def __init__(self, message: str, stage: str, header_bytes: int = 0) -> None:
        super().__init__(message)
        self.stage = stage
        self.header_bytes = header_bytes


def _pyrage() -> Any:
    try:
        import pyrage  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as exc:
        raise Failed("the pyrage package is not installed (pip install pyrage)", "setup") from exc
    return pyrage


class _HeaderSwap(io.RawIOBase):
    """Takes pyrage's output for a throw-away X25519 identity and writes it with the header
    replaced by an scrypt one wrapping the same file key."""

    def __init__(self, out: Any, secret: bytes, passphrase: str, work_factor: int) -> None:
        self._out = out
        self._secret = secret
        self._passphrase = passphrase
        self._work_factor = work_factor
        self._pending = bytearray()
        self.swapped = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.swapped:
            self._out.write(data)
            return len(data)
        self._pending += data
        mark = self._pending.find(b"\n--- ")
        end = self._pending.find(b"\n", mark + 1) if mark >= 0 else -1
        if end < 0:
            return len(data)
        lines = iter(bytes(self._pending[: end + 1]).splitlines(keepends=True))
        stanzas, covered, mac = read_header(lambda: next(lines, b""))
        # rage may add "grease" stanzas; the one for our identity is among them
        keys = (x25519_unwrap(stanza, self._secret) for stanza in stanzas)
        file_key = next((k for k in keys if k is not None), None)
        if file_key is None:
            raise HeaderProblem("pyrage's header does not open with its own identity")
        check_mac(covered, mac, file_key)
        stanza = scrypt_wrap(file_key, self._passphrase, self._work_factor)
        self._out.write(format_header([stanza], file_key))
        self._out.write(bytes(self._pending[end + 1 :]))
        self._pending.clear()
        self.swapped = True
        return len(data)


class _Chain(io.RawIOBase):
    """``head`` then the rest of ``tail``."""

    def __init__(self, head: bytes, tail: Any) -> None:
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _encrypt(path: str, config: dict[str, Any], stdin: Any) -> int:
    pyrage = _pyrage()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    out = os.fdopen(fd, "wb", buffering=BUFFER)
    try:
        if "passphrase" in config:
            secret, recipient = new_identity()
            sink: Any = _HeaderSwap(
                out, parse_identity(secret, "key"), config["passphrase"], config["work_factor"]
            )
        else:
            sink, recipient = out, None
        recipients = [pyrage.x25519.Recipient.from_str(r) for r in config.get("recipients", [])]
        if recipient is not None:
            recipients = [pyrage.x25519.Recipient.from_str(recipient)]
        try:
            pyrage.encrypt_io(stdin, sink, recipients)
        except Exception as exc:
            raise Failed(_reason(exc), "output") from exc
        if isinstance(sink, _HeaderSwap) and not sink.swapped:
            raise Failed("pyrage wrote no age header", "output")
        try:
            out.flush()
            os.fsync(out.fileno())
            size = os.fstat(out.fileno()).st_size
        except OSError as exc:
            raise Failed(_reason(exc), "output") from exc
        out.close()
        return size
    except BaseException:
        with contextlib.suppress(OSError):  # flushing may fail again (a full disk)
            out.close()
        os.unlink(path)
        raise


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith(("OSError: ", "IOError: ")) else text


def _decrypt(path: str, config: dict[str, Any]) -> None:
    pyrage = _pyrage()
    try:
        src = open(path, "rb", buffering=BUFFER)  # noqa: SIM115
    except OSError as exc:
        raise Failed(f"cannot read {path}: {exc.strerror}", "setup") from exc
    with src:
        try:
            stanzas, covered, mac = read_header(lambda: src.readline(1024))
        except HeaderProblem as exc:
            raise Failed(str(exc), "header") from exc
        header_bytes = src.tell()
        if "passphrase" in config:
            try:
                file_key = scrypt_unwrap(stanzas, config["passphrase"], config["max_work_factor"])
                check_mac(covered, mac, file_key)
            except HeaderProblem as exc:
                raise Failed(str(exc), "header", header_bytes) from exc
            secret, recipient = new_identity()
            header = format_header([x25519_wrap(file_key, parse_recipient(recipient))], file_key)
            reader: Any = _Chain(header, src)
            identities = [pyrage.x25519.Identity.from_str(secret)]
        else:
            if any(s.args[:1] == ("scrypt",) for s in stanzas):
                raise Failed("the backup is passphrase-encrypted; use --passphrase-file", "header")
            secrets = [parse_identity(i, "identity") for i in config["identities"]]
            if not any(x25519_unwrap(s, k) for s in stanzas for k in secrets):
                raise Failed(
                    "none of the identities given opens this backup (it was encrypted to other "
                    "recipients)", "header", header_bytes,
                )  # fmt: skip
            src.seek(0)
            reader = src
            identities = [pyrage.x25519.Identity.from_str(i) for i in config["identities"]]
        out = open(1, "wb", buffering=BUFFER, closefd=False)  # noqa: SIM115
        try:
            pyrage.decrypt_io(reader, out, identities)
            out.flush()
        except BrokenPipeError:
            return  # the reader stopped reading: its own error is the one that matters
        except Exception as exc:
            raise Failed(_reason(exc), "payload", header_bytes) from exc


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("encrypt", "decrypt"):
        print("usage: python -m consentry.backup.age_worker encrypt|decrypt FILE", file=sys.stderr)
        return 2
    stdin = open(0, "rb", buffering=BUFFER, closefd=False)  # noqa: SIM115
    try:
        config = json.loads(stdin.readline())
        if argv[0] == "encrypt":
            print(json.dumps({"bytes": _encrypt(argv[1], config, stdin)}), flush=True)
        else:
            _decrypt(argv[1], config)
    except Failed as exc:
        error = {"error": str(exc), "stage": exc.stage, "header_bytes": exc.header_bytes}
        print(json.dumps(error), file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # anything else: say what, in the same form
        error = {"error": f"{type(exc).__name__}: {exc}", "stage": "setup", "header_bytes": 0}
        print(json.dumps(error), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

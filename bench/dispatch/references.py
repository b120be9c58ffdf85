"""The references measured in the same run: ``smtp-source`` and raw RSA-2048 signing.

* ``smtp-source -s 10 -m N -l SIZE -f from@x -t to@x 127.0.0.1:PORT`` (Postfix's own load
  generator, C, 10 parallel sessions, one message per session) to the same sink, timed with
  ``time.perf_counter`` around the subprocess: the messages/s a mail client can push into this
  sink on this machine.
* RSA-2048 signatures/s of one core, times the cores: ``openssl speed -seconds 3 rsa2048``
  (its ``sign/s`` column), or, without the openssl command, PKCS#1 v1.5 SHA-256 signatures with
  ``cryptography`` in one process for the same 3 seconds. The result says which.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from bench.dispatch.sink import Sink

SOURCE = "/usr/sbin/smtp-source"
#: ``rsa 2048 bits 0.000246s 0.000017s   4057.0  58795.0``: sign s, verify s, sign/s, verify/s.
_RSA_LINE = re.compile(r"^rsa\s+2048\s+bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", re.MULTILINE)


@dataclass(frozen=True)
class SourceRun:
    messages: int
    size: int
    seconds: float
    received: int  # by the sink's counter
    cpu_source_s: float  # smtp-source's user + system CPU seconds
    cpu_sink_s: float  # the sink's, over the same time

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "size": self.size,
            "seconds": self.seconds,
            "received": self.received,
            "rate": self.rate,
            "cpu_s": {"sender": self.cpu_source_s, "sink": self.cpu_sink_s},
        }


def smtp_source(sink: Sink, messages: int, size: int, sessions: int = 10) -> SourceRun:
    """One timed ``smtp-source`` run of ``messages`` messages of ``size`` payload bytes."""
    binary = shutil.which("smtp-source") or SOURCE
    cmd = [
        binary,
        "-s",
        str(sessions),
        "-m",
        str(messages),
        "-l",
        str(size),
        "-f",
        "from@x",
        "-t",
        "to@x",
        sink.address,
    ]
    before, sink_cpu = sink.settled(), sink.cpu_seconds()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, timeout=3600, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sink_cpu = sink.cpu_seconds() - sink_cpu
    if done.returncode != 0:
        raise RuntimeError(f"smtp-source failed ({done.returncode}): {done.stderr[-500:]!r}")
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    return SourceRun(messages, size, seconds, sink.settled() - before, cpu, sink_cpu)


@dataclass(frozen=True)
class SigningRef:
    """Raw RSA-2048 signatures per second: one core, and times the cores."""

    per_core: float
    cores: int
    tool: str  # the command or library that measured it

    @property
    def all_cores(self) -> float:
        return self.per_core * self.cores

    def to_json(self) -> dict[str, Any]:
        return {
            "per_core_sign_per_s": self.per_core,
            "cores": self.cores,
            "all_cores_sign_per_s": self.all_cores,
            "tool": self.tool,
        }


def _openssl_sign_rate(openssl: str, seconds: int) -> tuple[float, str]:
    done = subprocess.run(
        [openssl, "speed", "-seconds", str(seconds), "rsa2048"],
        capture_output=True,
        text=True,
        timeout=seconds * 10 + 60,
        check=True,
    )
    found = _RSA_LINE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"no 'rsa 2048 bits' line in openssl speed output: {done.stdout!r}")
    version = subprocess.run(
        [openssl, "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return float(found.group(1)), f"openssl speed -seconds {seconds} rsa2048 ({version})"


def _cryptography_sign_rate(seconds: int) -> tuple[float, str]:
    import cryptography
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data, pad, algo = b"x" * 64, padding.PKCS1v15(), hashes.SHA256()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            key.sign(data, pad, algo)
        count += 50
    return count / elapsed, f"cryptography {cryptography.__version__} RSA-2048 PKCS#1 v1.5 sign"


def signing_reference(seconds: int = 3) -> SigningRef:
    """One core's RSA-2048 sign/s by openssl (or ``cryptography``) times ``os.cpu_count()``."""
    cores = os.cpu_count() or 1
    openssl = shutil.which("openssl")
    if openssl:
        per_core, tool = _openssl_sign_rate(openssl, seconds)
    else:
        per_core, tool = _cryptography_sign_rate(seconds)
    return SigningRef(per_core, cores, tool)

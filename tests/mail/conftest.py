"""Fixtures for the mail tests: a recording SMTP server on 127.0.0.1 and TLS material."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smtp_server import RecordingSMTPServer, self_signed_cert


@pytest.fixture
def smtp_server() -> Iterator[RecordingSMTPServer]:
    """A plain SMTP server that advertises PIPELINING and accepts every recipient."""
    with RecordingSMTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 / localhost: (certfile, keyfile)."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))

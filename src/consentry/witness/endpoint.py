"""An HTTP witness: each publish POSTs the newest signed note to an endpoint.

The body is the note itself (``text/plain; charset=utf-8``); any 2xx answer means the witness
kept it. Only the newest of the notes handed over is sent: a later checkpoint commits to every
earlier leaf, and the witness can ask for a consistency proof between any two it holds. Only
``https://`` URLs are accepted, and ``http://`` to the loopback interface (a local relay).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

from consentry.domain.errors import InputError, TransportError

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_witness_url(url: str) -> str:
    """The URL if it may be used, else InputError saying why."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return url
    raise InputError(
        f"witness URL {url!r} must be https://..., or http:// to 127.0.0.1, localhost or ::1"
    )


class HTTPWitness:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = check_witness_url(url)
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self.url

    def publish(self, notes: Sequence[str]) -> None:
        if not notes:
            return
        request = urllib.request.Request(  # noqa: S310 (https, or http to loopback: checked)
            self.url,
            data=notes[-1].encode("utf-8"),
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8", "User-Agent": "consentry"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise TransportError(f"witness {self.url} answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TransportError(f"witness {self.url} cannot be reached: {exc}") from None
        if not 200 <= status < 300:
            raise TransportError(f"witness {self.url} answered {status}")

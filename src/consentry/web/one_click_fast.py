"""The one-click POST's fast path: the request every unsubscribing mail client makes, answered
without the web framework's routing, dependency solving and form parser.

Under load the framework's machinery cost several times what the unsubscribe itself costs on
the event loop, and every request waiting on a group commit waited for it too. This ASGI layer
takes only ``POST /u/<list>/<token>`` with an ``application/x-www-form-urlencoded`` body (the
form RFC 8058's receivers and the confirmation page's button send), parses the body with the
standard library and hands it to the same ``answer`` the framework's route calls: the same
checks, the same group commit, the same pages and status codes. Everything else, multipart
bodies included, goes on to the app unchanged. The route in ``web.app`` stays the reference, and
the tests hold the two to the same answers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``answer(list_id, token, form_value, client_ip, user_agent)``: the page for a one-click POST
#: whose ``List-Unsubscribe`` field is ``form_value`` (None when absent).
Answer = Callable[[str, str, "str | None", str, str], Awaitable[Response]]

PATH = re.compile(r"/u/([^/]+)/([^/]+)")  # the route's own {list_id}/{token} segments
URLENCODED = "application/x-www-form-urlencoded"


def _content_type(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str:
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return ""


class OneClickFastPath:
    """ASGI middleware in front of the app; see the module docstring."""

    def __init__(self, app: ASGIApp, answer: Answer) -> None:
        self.app = app
        self.answer = answer
        self.taken = 0  # requests answered here, for tests and benchmarks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        matched = PATH.fullmatch(scope["path"])
        headers = scope["headers"]
        if matched is None or _content_type(headers) != URLENCODED:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        fields = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        client = scope.get("client")
        self.taken += 1
        response = await self.answer(
            matched.group(1), matched.group(2), fields.get("List-Unsubscribe"),
            client[0] if client else "", _header(headers, b"user-agent"),
        )  # fmt: skip
        await response(scope, receive, send)

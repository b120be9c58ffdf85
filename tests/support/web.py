"""The web app over a home, as ``consentry serve`` builds it, for in-process HTTP tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consentry.bootstrap import App, open_app
from consentry.settings import load_settings
from consentry.web.app import create_app


def app_over(home: Path) -> tuple[Any, App]:
    """The ASGI app over ``home`` and the App it opened (its context, for checks). The app's
    shutdown (the end of a ``TestClient`` block) closes the App."""
    opened: list[App] = []

    def factory() -> App:
        opened.append(open_app(load_settings({"CONSENTRY_HOME": str(home)})))
        return opened[0]

    asgi = create_app(factory)
    return asgi, opened[0]

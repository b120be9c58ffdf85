"""Rendering helpers shared by the commands: JSON, one-line errors, rich tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from rich.console import Console

from consentry.bootstrap import App, open_app
from consentry.settings import Settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[bold red]consentry: error:[/] {message}", markup=True, soft_wrap=True)
    sys.exit(code)


@contextmanager
def opened(settings: Settings, lean: bool = False) -> Iterator[App]:
    app = open_app(settings, lean)
    try:
        yield app
    finally:
        app.close()


def pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """KEY=VALUE options into a dict, refusing malformed ones by name."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = value
    return out

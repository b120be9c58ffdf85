"""Rendering helpers shared by the commands: JSON, one-line errors, rich tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from consentry.bootstrap import App, open_app
from consentry.domain.errors import InputError
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


def read_option_file(path: str | None, option: str) -> str | None:
    """The UTF-8 text of the file an option names (None when the option was not given);
    InputError naming the option and the file otherwise."""
    if path is None:
        return None
    try:
        return Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{option} {path}: cannot read it as UTF-8 text: {exc}") from exc


def pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """KEY=VALUE options into a dict, refusing malformed ones by name."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = value
    return out

"""Every codec, by ``--format`` name, and detection from content.

A codec module registers itself by being listed here; adding a provider is adding a module and
a line."""

from __future__ import annotations

import importlib

from consentry.codecs.transfer.base import Reader, Writer
from consentry.codecs.transfer.source import Source
from consentry.domain.errors import InputError

#: Modules of codecs; each defines READERS and WRITERS (lists of instances).
MODULES = (
    "mailchimp",
    "sendgrid",
    "ses",
    "mailgun",
    "postmark",
    "brevo",
    "campaign_monitor",
    "listmonk",
    "mautic",
    "constant_contact",
    "hubspot",
    "consentry_jsonl",
)

#: A format is taken from content only when the best sniff is at least this sure.
SURE = 60


def _loaded() -> tuple[list[Reader], list[Writer]]:
    readers: list[Reader] = []
    writers: list[Writer] = []
    for module in MODULES:
        try:
            mod = importlib.import_module(f"consentry.codecs.transfer.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"consentry.codecs.transfer.{module}":
                continue  # not written yet
            raise
        readers.extend(getattr(mod, "READERS", []))
        writers.extend(getattr(mod, "WRITERS", []))
    return readers, writers


def readers() -> list[Reader]:
    return _loaded()[0]


def writers() -> list[Writer]:
    return _loaded()[1]


def reader(name: str) -> Reader:
    for r in readers():
        if r.name == name:
            return r
    known = ", ".join(sorted(r.name for r in readers()))
    raise InputError(f"unknown import format {name!r}; known formats: {known}")


def writer(name: str) -> Writer:
    for w in writers():
        if w.name == name:
            return w
    known = ", ".join(sorted(w.name for w in writers()))
    raise InputError(f"unknown export format {name!r}; known formats: {known}")


def detect(source: Source) -> Reader:
    """The format of ``source`` from its content; InputError naming the candidates when no
    format is sure or two are equally sure (then ``--format`` decides)."""
    scored = sorted(((r.sniff(source), r.name, r) for r in readers()), key=lambda s: -s[0])
    if not scored or scored[0][0] < SURE:
        near = ", ".join(f"{name} ({score})" for score, name, _ in scored[:3] if score > 0)
        raise InputError(
            f"{source.name}: cannot tell its format from its content"
            + (f" (closest: {near})" if near else "")
            + "; give --format"
        )
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        raise InputError(f"{source.name}: could be {scored[0][1]} or {scored[1][1]}; give --format")
    return scored[0][2]

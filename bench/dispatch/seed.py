"""Building the stores the campaigns are sent from, through the product's own services.

A seeded store is what ``tests/support/audience.py`` builds: keys (``FileKeyRing.create``), the
organisation (Bench Ltd, commercial, UK), the list ``news`` with its notice, and one first-party
web-form consent with evidence per recipient, recorded by ``consent.grant_many`` in chunks of
10,000. A SQLite store lives in ``<home>/consentry.sqlite``, the CLI's default place, so a whole
seeded home (keys and database) is copied for each measured run and every run starts from the
same queue state. PostgreSQL stores live in their own schema and are seeded afresh per run.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.dispatch import workload
from consentry.bootstrap import SystemClock, open_store
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.keys.ring import FileKeyRing
from consentry.services import consent
from consentry.services.context import Context

CHUNK = 10_000
ORIGIN = "bench.local/dispatch"

Log = Callable[[str], None]


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'consentry.sqlite'}"


@dataclass(frozen=True)
class Seeded:
    """A seeded home (keys, and the SQLite file for SQLite) and its database URL."""

    home: Path
    url: str
    recipients: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "seed_seconds": self.seconds,
            "grants_per_s": self.recipients / self.seconds if self.seconds else None,
        }


@contextmanager
def opened(url: str, home: Path) -> Iterator[Context]:
    """The services' context on an existing home, as ``bootstrap.open_app`` builds it."""
    store = open_store(url)
    try:
        yield Context(store, FileKeyRing(home), SystemClock(), partial(open_store, url))
    finally:
        store.close()


def seed(home: Path, url: str, recipients: int, log: Log, start: int = 0) -> Seeded:
    """Keys in ``home``, then the organisation, the list, its notice and ``recipients`` grants."""
    began = time.perf_counter()
    FileKeyRing.create(home, ORIGIN)
    with opened(url, home) as ctx:
        org = configure_organisation("Bench Ltd", OrganisationType.COMMERCIAL, Jurisdiction.UK)
        consent.configure(ctx, org, "bench")
        consent.create_list(ctx, workload.LIST_ID, "News", "bench")
        notice = consent.publish_notice(ctx, workload.LIST_ID, "text", "bench").notice
        step = max(1, recipients // 10)
        for at in range(start, start + recipients, CHUNK):
            count = min(CHUNK, start + recipients - at)
            grants = [
                consent.Grant(
                    email=address,
                    list_id=workload.LIST_ID,
                    basis="consent",
                    notice=notice,
                    method="web-form",
                    source="first-party",
                    evidence={"ip": "203.0.113.1"},
                    actor="bench",
                )
                for address in workload.emails(count, at)
            ]
            consent.grant_many(ctx, grants)
            done = at + count - start
            if recipients >= 50_000 and (done % step < CHUNK or done == recipients):
                rate = done / (time.perf_counter() - began)
                log(f"    seeded {done:,} / {recipients:,} ({rate:,.0f} grants/s)")
    return Seeded(home, url, recipients, time.perf_counter() - began)


def copy_home(seeded: Seeded, dest: Path) -> Seeded:
    """A copy of a seeded SQLite home (the store must be closed: no WAL left behind)."""
    shutil.copytree(seeded.home, dest)
    return Seeded(dest, sqlite_url(dest), seeded.recipients, 0.0)


def create_campaign(seeded: Seeded, name: str, text: str) -> None:
    """``campaigns.create_campaign`` with the benchmark's sender and the given text template."""
    from consentry.services.campaigns import CampaignSpec, create_campaign

    spec = CampaignSpec(
        name=name,
        list_id=workload.LIST_ID,
        subject=workload.SUBJECT,
        text=text,
        html=None,
        from_address=workload.FROM,
        reply_to=workload.REPLY_TO,
    )
    with opened(seeded.url, seeded.home) as ctx:
        create_campaign(ctx, spec, "bench")


def dkim_keygen(cli: Path, seeded: Seeded) -> None:
    """``consentry dkim keygen --domain bench.example --selector s1`` in the run's home: from
    then on the dispatcher signs the campaign's mail (RSA-2048)."""
    subprocess.run(
        [
            str(cli),
            "--home",
            str(seeded.home),
            "--database",
            seeded.url,
            "dkim",
            "keygen",
            "--domain",
            workload.DKIM_DOMAIN,
            "--selector",
            workload.DKIM_SELECTOR,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def drop_schemas(url: str, schemas: list[str]) -> None:
    """Drop the PostgreSQL schemas this benchmark made."""
    import psycopg

    with psycopg.connect(url.split("?", 1)[0], autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

"""Realistic ledger data for the benchmarks, built the way ``services.consent`` builds it.

Each person gets a real subject ref (HMAC of the canonical address under the run's subject key),
and each grant carries the same fields, address row and evidence blob as ``grant_consent``
writes. Nothing here is timed; the benchmarks build their batches before they start the clock.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consentry.domain.addresses import parse_address, subject_ref
from consentry.domain.leaves import LeafDraft, canonical_json, format_time
from consentry.ports import AddressRow, Batch, EvidenceBlob

LIST_ID = "newsletter"
CONTROLLER = "Example Campaigns Ltd"
NOTICE_TEXT = (
    "Yes, I would like Example Campaigns Ltd (1 Example Street, London) to email me its monthly "
    "newsletter about its work and events. I can unsubscribe at any time with the link in every "
    "email or by writing to privacy@example.org.\n"
)
NOTICE = hashlib.sha256(NOTICE_TEXT.encode("utf-8")).hexdigest()
_DOMAINS = ("Example.org", "example.com", "mail.example.net", "EXAMPLE.co.uk", "post.example")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
)


@dataclass(frozen=True, slots=True)
class Person:
    """One address and its subject ref, as ``services.consent.subject_for`` computes it."""

    literal: str
    canonical: str
    subject: str


def make_people(key: bytes, count: int, start: int = 0) -> list[Person]:
    """``count`` distinct people, numbered from ``start``; subject refs under ``key``."""
    out: list[Person] = []
    for n in range(start, start + count):
        domain = _DOMAINS[n % len(_DOMAINS)]
        address = parse_address(f"Reader.{n:08d}+news@{domain}")
        out.append(Person(address.literal, address.canonical, subject_ref(key, address)))
    return out


def _record() -> str:
    return uuid.uuid4().hex


def evidence_blob(person: Person, n: int, at: datetime) -> EvidenceBlob:
    """The evidence of a web-form signup, with the random nonce ``_evidence`` adds."""
    items = {
        "form": "signup-v3",
        "ip": f"203.0.{(n >> 8) & 255}.{n & 255}",
        "page": "https://example.org/newsletter",
        "user_agent": _AGENTS[n % len(_AGENTS)],
    }
    blob = canonical_json(
        {"items": items, "nonce": secrets.token_hex(16), "recorded_at": format_time(at)}
    )
    return EvidenceBlob(hashlib.sha256(blob).hexdigest(), person.subject, blob)


def consent_given(person: Person, evidence: str, at: datetime) -> LeafDraft:
    fields: dict[str, Any] = {
        "record": _record(), "subject": person.subject, "controller": CONTROLLER,
        "list": LIST_ID, "channel": "email", "basis": "consent", "jurisdiction": "uk",
        "language": "en", "notice": NOTICE, "form_version": "signup-v3", "method": "web-form",
        "valid_until": None, "actor": "signup-form", "source": "first-party",
        "evidence": evidence, "facts": {},
    }  # fmt: skip
    return LeafDraft("consent-given", at, fields)


def consent_confirmed(person: Person, grant: LeafDraft, at: datetime) -> LeafDraft:
    fields = {
        "record": _record(), "subject": person.subject, "list": LIST_ID,
        "confirms": grant.fields["record"], "method": "double-opt-in", "evidence": None,
        "actor": "signup-form",
    }  # fmt: skip
    return LeafDraft("consent-confirmed", at, fields)


def consent_withdrawn(person: Person, at: datetime) -> LeafDraft:
    fields = {
        "record": _record(), "subject": person.subject, "list": LIST_ID, "channel": "web",
        "method": "one-click", "actor": "unsubscribe-page", "source": "first-party",
        "evidence": None,
    }  # fmt: skip
    return LeafDraft("consent-withdrawn", at, fields)


def suppressed(person: Person, reason: str, scope: str, at: datetime) -> LeafDraft:
    fields = {
        "record": _record(), "subject": person.subject, "scope": scope, "reason": reason,
        "channel": "email", "actor": "feedback-loop", "source": "first-party", "evidence": None,
    }  # fmt: skip
    return LeafDraft("suppressed", at, fields)


def address_row(person: Person) -> AddressRow:
    return AddressRow(person.subject, person.literal, person.canonical)


def grant_batch(
    people: Sequence[Person], at: datetime, *, confirmed: bool = False, first: int = 0
) -> Batch:
    """One batch of web-form grants (what ``grant_consent`` writes, for many people): a
    ``consent-given`` leaf (and its ``consent-confirmed`` leaf when ``confirmed``), an address
    row and an evidence blob per person. ``first`` numbers the people for their evidence."""
    batch = Batch()
    for i, person in enumerate(people):
        blob = evidence_blob(person, first + i, at)
        grant = consent_given(person, blob.hash, at)
        batch.leaves.append(grant)
        if confirmed:
            batch.leaves.append(consent_confirmed(person, grant, at))
        batch.addresses.append(address_row(person))
        batch.evidence.append(blob)
    return batch


def grant_batches(
    people: Sequence[Person], size: int, at: datetime, *, confirmed: bool = False
) -> Iterator[Batch]:
    """``grant_batch`` over ``people``, ``size`` people at a time."""
    for i in range(0, len(people), size):
        yield grant_batch(people[i : i + size], at, confirmed=confirmed, first=i)


@dataclass(frozen=True)
class AudiencePlan:
    """Who in an audience has which state: most a confirmed consent, some suppressed (after
    consenting), some withdrawn (after consenting), some never seen."""

    consented: list[Person]
    suppressed: list[Person]
    withdrawn: list[Person]
    unknown: list[Person]


def plan_audience(
    people: Sequence[Person],
    suppressed_share: float = 0.05,
    withdrawn_share: float = 0.02,
    unknown_share: float = 0.01,
    seed: int = 9162,
) -> AudiencePlan:
    """Split ``people`` at random (but reproducibly) into the plan's groups."""
    rng = random.Random(seed)
    plan = AudiencePlan([], [], [], [])
    for person in people:
        r = rng.random()
        if r < unknown_share:
            plan.unknown.append(person)
            continue
        plan.consented.append(person)
        if r < unknown_share + withdrawn_share:
            plan.withdrawn.append(person)
        elif r < unknown_share + withdrawn_share + suppressed_share:
            plan.suppressed.append(person)
    return plan


_SUPPRESS_MIX = (("unsubscribe", "newsletter"), ("complaint", "*"), ("hard-bounce", "*"))


def objection_batches(plan: AudiencePlan, size: int, at: datetime) -> Iterator[Batch]:
    """The suppressions and withdrawals of ``plan``, ``size`` leaves per batch, each with the
    address row the services write beside an objection."""
    leaves: list[tuple[Person, LeafDraft]] = []
    for n, person in enumerate(plan.suppressed):
        reason, scope = _SUPPRESS_MIX[n % len(_SUPPRESS_MIX)]
        leaves.append((person, suppressed(person, reason, scope, at)))
    leaves.extend((person, consent_withdrawn(person, at)) for person in plan.withdrawn)
    for i in range(0, len(leaves), size):
        chunk = leaves[i : i + size]
        yield Batch(
            leaves=[draft for _, draft in chunk],
            addresses=[address_row(person) for person, _ in chunk],
        )

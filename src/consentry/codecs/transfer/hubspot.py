"""HubSpot: subscription statuses (v3 and v1) and the v1 subscriptions timeline, as API JSON;
with ``hubspot_csv`` (the contacts export and the opt-out import) the HubSpot codecs
(esp-formats.md §1.11, §2.2).

What was relied on (developers.hubspot.com):

* v3 ``GET /communication-preferences/v3/status/email/{email}``: ``{recipient,
  subscriptionStatuses: [{id, name, description, status: SUBSCRIBED|NOT_SUBSCRIBED,
  sourceOfStatus: PORTAL_WIDE_STATUS|BRAND_WIDE_STATUS|SUBSCRIPTION_STATUS, brandId,
  preferenceGroupName, legalBasis, legalBasisExplanation}]}`` (also HubSpot/hubspot-api-python
  ``public_subscription_status.py``). One document per address: a file holds many, one per
  line, concatenated, or in an array.
* v1 ``GET /email/public/v1/subscriptions/{email}``: ``{subscribed, markedAsSpam, portalId,
  bounced, email, status, subscriptionStatuses: [{id, subscribed, updatedAt, optState:
  OPT_IN|OPT_OUT|NOT_OPTED, legalBasis, legalBasisExplanation}]}``; ``updatedAt`` and every
  timeline time are epoch **milliseconds**.
* v1 ``GET /email/public/v1/subscriptions/timeline``: ``{hasMore, offset, timeline:
  [{timestamp, portalId, recipient, changes: [{change, changeType, source, subscriptionId,
  causedByEvent: {id, created}}]}]}``; change types ``SUBSCRIPTION_STATUS``,
  ``PORTAL_STATUS``, ``PORTAL_BOUNCE``, ``PORTAL_SPAM_REPORT``. A lifting change
  (``SUBSCRIBED`` portal-wide, ``UNBOUNCED``, ``UNREPORTED_SPAM``) is read as ``unknown``:
  an import never lifts a suppression.
* The contacts export (CSV) and the opt-out list import are in ``hubspot_csv``.

Mapping (§2.2): ``SUBSCRIBED``/``OPT_IN`` consented per subscription type (``legalBasis``
kept: a legitimate-interest basis is not consent, the policy decides); a portal-wide opt-out
unsubscribed portal-wide, a brand-wide one widened to the portal; v3 ``NOT_SUBSCRIBED`` on a
single type does not say whether the person opted out or never opted in: unsubscribed from
that type with ``review``; ``OPT_OUT`` unsubscribed; ``NOT_OPTED`` unknown; spam reports
complained; bounces hard-bounced; a contact row with none of these is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from consentry.codecs.transfer.cells import evidence, text
from consentry.codecs.transfer.hubspot_csv import HubSpotContactsReader, HubSpotOptOutWriter
from consentry.codecs.transfer.json_stream import JsonProblem, json_head, json_records
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.times import parse_time
from consentry.domain.transfer import (
    Item,
    RejectedRow,
    Scope,
    State,
    TransferRecord,
)

PROVIDER = "hubspot"
PORTAL = Scope("portal")
Actor = Literal["recipient", "admin", "system", "unknown"]


def _topic(value: dict[str, Any], key: str = "id") -> Scope:
    ident = text(value.get(key))
    return Scope("topic", ident or None, text(value.get("name")) or None)


def _basis(value: dict[str, Any]) -> dict[str, str]:
    return evidence(
        legal_basis=text(value.get("legalBasis")),
        permission_text=text(value.get("legalBasisExplanation")),
    )


def _problem(label: str, item: JsonProblem) -> RejectedRow:
    return RejectedRow(label, item.number, item.reason, item.raw)


class _Doc:
    """The records of one JSON document, each (state, scope) once."""

    def __init__(self, email: str, label: str, number: int) -> None:
        self.email, self.label, self.number = email, label, number
        self.seen: set[tuple[State, Scope]] = set()
        self.items: list[Item] = []

    def add(
        self, state: State, scope: Scope, status: str, actor: Actor = "unknown",
        when: str = "", review: bool = False, found: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        if (state, scope) in self.seen:
            return
        self.seen.add((state, scope))
        self.items.append(TransferRecord(
            email=self.email, state=state, scope=scope, file=self.label, line=self.number,
            original_status=status, occurred=parse_time(when) if when else None, actor=actor,
            review=review, evidence=found or {},
        ))  # fmt: skip

    def reject(self, reason: str) -> None:
        self.items.append(RejectedRow(self.label, self.number, reason))


class HubSpotStatusReader:
    name = "hubspot-v3-status-json"
    provider = PROVIDER
    description = (
        "HubSpot v3 subscription statuses, one document per address (recipient, "
        "subscriptionStatuses); NOT_SUBSCRIBED on a type is ambiguous: unsubscribed + review"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"markedAsSpam"' in head or '"optState"' in head or '"subscriptionStatuses"' not in head:
            return 0
        return 90 if '"sourceOfStatus"' in head or '"recipient"' in head else 60

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as stream:
            for item in json_records(stream, label, [("results",)]):
                if isinstance(item, JsonProblem):
                    yield _problem(label, item)
                else:
                    yield from _v3(item.value, label, item.number)


V3_SOURCES = ("PORTAL_WIDE_STATUS", "BRAND_WIDE_STATUS", "SUBSCRIPTION_STATUS")


def _v3(value: Any, label: str, number: int) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RejectedRow(label, number, "a status document that is not a JSON object")
        return
    email = text(value.get("recipient"))
    if not email:
        yield RejectedRow(label, number, "no 'recipient'", str(value)[:300])
        return
    doc = _Doc(email, label, number)
    statuses = value.get("subscriptionStatuses")
    for entry in statuses if isinstance(statuses, list) else []:
        if not isinstance(entry, dict):
            doc.reject("a subscription status that is not a JSON object")
            continue
        status, source = text(entry.get("status")), text(entry.get("sourceOfStatus"))
        said = f"{status} ({source})" if source else status
        if source and source not in V3_SOURCES:
            doc.reject(f"unknown sourceOfStatus {source!r}")
        elif status == "SUBSCRIBED":
            doc.add(State.CONSENTED, _topic(entry), said, "recipient", found=_basis(entry))
        elif status != "NOT_SUBSCRIBED":
            doc.reject(f"subscription {text(entry.get('id'))!r}: unknown status {status!r}")
        elif source == "PORTAL_WIDE_STATUS":
            doc.add(State.UNSUBSCRIBED, PORTAL, said, found=_basis(entry))
        elif source == "BRAND_WIDE_STATUS":
            # A brand is wider than any subscription type: widened to the portal.
            brand = text(entry.get("brandId"))
            scope = Scope("portal", f"brand:{brand}" if brand else None)
            doc.add(State.UNSUBSCRIBED, scope, said, found=_basis(entry))
        else:
            doc.add(
                State.UNSUBSCRIBED, _topic(entry), said, review=True,
                found={**_basis(entry), "note": "NOT_SUBSCRIBED: opted out or never opted in"},
            )  # fmt: skip
    if not doc.items:
        doc.add(State.UNKNOWN, PORTAL, "no subscription status")
    yield from doc.items


class HubSpotV1Reader:
    name = "hubspot-v1-subscriptions-json"
    provider = PROVIDER
    description = (
        "HubSpot v1 email subscription status per address (subscribed, markedAsSpam, bounced, "
        "subscriptionStatuses with optState OPT_IN|OPT_OUT|NOT_OPTED; epoch-ms times)"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"optState"' in head or ('"markedAsSpam"' in head and '"email"' in head):
            return 90
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as stream:
            for item in json_records(stream, label, []):
                if isinstance(item, JsonProblem):
                    yield _problem(label, item)
                else:
                    yield from _v1(item.value, label, item.number)


OPT_STATES: dict[str, State] = {
    "OPT_IN": State.CONSENTED,
    "OPT_OUT": State.UNSUBSCRIBED,
    "NOT_OPTED": State.UNKNOWN,
}


def _v1(value: Any, label: str, number: int) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RejectedRow(label, number, "a subscription document that is not a JSON object")
        return
    email = text(value.get("email"))
    if not email:
        yield RejectedRow(label, number, "no 'email'", str(value)[:300])
        return
    doc = _Doc(email, label, number)
    if value.get("markedAsSpam") is True:
        doc.add(State.COMPLAINED, PORTAL, "markedAsSpam", "recipient")
    if value.get("bounced") is True:
        doc.add(State.HARD_BOUNCED, PORTAL, "bounced", "system")
    if value.get("unsubscribeFromPortal") is True:
        doc.add(State.UNSUBSCRIBED, PORTAL, "unsubscribeFromPortal")
    elif text(value.get("status")).lower() == "unsubscribed":
        doc.add(State.UNSUBSCRIBED, PORTAL, "status unsubscribed")
    statuses = value.get("subscriptionStatuses")
    for entry in statuses if isinstance(statuses, list) else []:
        if not isinstance(entry, dict):
            doc.reject("a subscription status that is not a JSON object")
            continue
        opt, when = text(entry.get("optState")), text(entry.get("updatedAt"))
        scope, found = _topic(entry), _basis(entry)
        if opt in OPT_STATES:
            state = OPT_STATES[opt]
            if state is State.CONSENTED:
                found = {**found, **evidence(optin_time=when)}
            doc.add(state, scope, opt, "recipient", when, found=found)
        elif opt:
            doc.reject(f"subscription {text(entry.get('id'))!r}: unknown optState {opt!r}")
        elif entry.get("subscribed") is False:
            note = {"note": "subscribed=false without optState: opted out or never opted in"}
            doc.add(State.UNSUBSCRIBED, scope, "subscribed=false", when=when, review=True,
                    found={**found, **note})  # fmt: skip
        else:
            # subscribed=true without optState: HubSpot's default, not a recorded opt-in.
            doc.add(State.UNKNOWN, scope, "subscribed=true (no optState)", when=when, found=found)
    if not doc.items:
        doc.add(State.UNKNOWN, PORTAL, text(value.get("status")) or "no status")
    yield from doc.items


class HubSpotTimelineReader:
    name = "hubspot-v1-timeline-json"
    provider = PROVIDER
    description = (
        "HubSpot v1 subscriptions timeline pages (timeline items with their changes, "
        "epoch-ms times): the opt-out history"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"changeType"' in head or ('"timeline"' in head and '"changes"' in head):
            return 90
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as stream:
            for item in json_records(stream, label, [("timeline",)]):
                if isinstance(item, JsonProblem):
                    yield _problem(label, item)
                else:
                    yield from _timeline(item.value, label, item.number)


#: (changeType, change): (state, portal-wide). A lifting change reads as unknown.
CHANGES: dict[tuple[str, str], tuple[State, bool]] = {
    ("SUBSCRIPTION_STATUS", "SUBSCRIBED"): (State.CONSENTED, False),
    ("SUBSCRIPTION_STATUS", "UNSUBSCRIBED"): (State.UNSUBSCRIBED, False),
    ("PORTAL_STATUS", "UNSUBSCRIBED"): (State.UNSUBSCRIBED, True),
    ("PORTAL_STATUS", "SUBSCRIBED"): (State.UNKNOWN, True),
    ("PORTAL_BOUNCE", "BOUNCED"): (State.HARD_BOUNCED, True),
    ("PORTAL_BOUNCE", "UNBOUNCED"): (State.UNKNOWN, True),
    ("PORTAL_SPAM_REPORT", "REPORTED_SPAM"): (State.COMPLAINED, True),
    ("PORTAL_SPAM_REPORT", "UNREPORTED_SPAM"): (State.UNKNOWN, True),
}
SOURCES: dict[str, Actor] = {
    "SOURCE_RECIPIENT": "recipient",
    "SOURCE_SPAM_REPORT": "recipient",
    "SOURCE_NON_DELIVERY_REPORT": "system",
    "SOURCE_IMPORT": "admin",
    "SOURCE_HUBSPOT_CUSTOMER": "admin",
}


def _timeline(value: Any, label: str, number: int) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RejectedRow(label, number, "a timeline item that is not a JSON object")
        return
    email = text(value.get("recipient"))
    if not email:
        yield RejectedRow(label, number, "no 'recipient'", str(value)[:300])
        return
    changes = value.get("changes")
    if not isinstance(changes, list) or not changes:
        yield RejectedRow(label, number, "a timeline item without changes", str(value)[:300])
        return
    for change in changes:
        if not isinstance(change, dict):
            yield RejectedRow(label, number, "a change that is not a JSON object")
            continue
        kind, what = text(change.get("changeType")), text(change.get("change"))
        if (kind, what) not in CHANGES:
            yield RejectedRow(label, number, f"unknown change {what!r} of type {kind!r}")
            continue
        state, portal = CHANGES[(kind, what)]
        source = text(change.get("source"))
        caused = change.get("causedByEvent")
        when = text(change.get("timestamp")) or text(value.get("timestamp"))
        if not when and isinstance(caused, dict):
            when = text(caused.get("created"))
        found = evidence(source=source, optin_time=when if state is State.CONSENTED else "")
        yield TransferRecord(
            email=email, state=state,
            scope=PORTAL if portal else _topic(change, "subscriptionId"),
            file=label, line=number, original_status=f"{kind} {what}",
            occurred=parse_time(when), actor=SOURCES.get(source, "unknown"), evidence=found,
        )  # fmt: skip


READERS = [
    HubSpotStatusReader(),
    HubSpotV1Reader(),
    HubSpotTimelineReader(),
    HubSpotContactsReader(),
]
WRITERS = [HubSpotOptOutWriter()]

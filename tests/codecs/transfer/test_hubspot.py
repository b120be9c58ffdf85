"""HubSpot: v3 statuses (NOT_SUBSCRIBED on a type is ambiguous: unsubscribed for review;
portal- and brand-wide opt-outs), v1 optState, the v1 timeline in epoch milliseconds (lifting
changes never read as consent), the contacts CSV export, and the opt-out list written and read
back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.hubspot import (
    READERS,
    HubSpotContactsReader,
    HubSpotOptOutWriter,
    HubSpotStatusReader,
    HubSpotTimelineReader,
    HubSpotV1Reader,
)
from consentry.domain.errors import InputError
from consentry.domain.transfer import ExportRecord, Scope, State

from .contacts_support import (
    check_sniffing,
    export_records,
    golden,
    read,
    read_bytes,
    records,
    rejected,
    sniff_bytes,
    suppressions,
    triples,
    write,
)

V3, V1, TIMELINE = HubSpotStatusReader(), HubSpotV1Reader(), HubSpotTimelineReader()
CSV, WRITER = HubSpotContactsReader(), HubSpotOptOutWriter()
PORTAL = Scope("portal")


def test_v3_statuses_map_sources_and_flag_the_ambiguous_not_subscribed() -> None:
    items = read(V3, golden("hubspot", "status_v3.jsonl"))
    assert triples(items) == [
        ("subscribed@example.com", State.CONSENTED, Scope("topic", "7", "Newsletter")),
        ("subscribed@example.com", State.UNSUBSCRIBED, Scope("topic", "8", "Offers")),
        ("Portal.Out@Example.com", State.UNSUBSCRIBED, PORTAL),  # once, not per type
        ("brand.out@bücher.example", State.UNSUBSCRIBED, Scope("portal", "brand:123")),
        ("nothing@example.com", State.UNKNOWN, PORTAL),
    ]
    assert rejected(items) == [(4, "subscription '7': unknown status 'MAYBE'")]
    consent, ambiguous, portal, *_ = records(items)
    assert consent.evidence["legal_basis"] == "CONSENT_WITH_NOTICE"
    assert consent.evidence["permission_text"] == "Ticked the box on the signup form"
    assert ambiguous.review and not portal.review


def test_v1_opt_states_spam_and_bounce_flags_and_epoch_milliseconds() -> None:
    items = read(V1, golden("hubspot", "subscriptions_v1.json"))
    assert triples(items) == [
        ("jerry@example.org", State.UNSUBSCRIBED, PORTAL),
        ("Opted@Example.org", State.CONSENTED, Scope("topic", "2849")),
        ("Opted@Example.org", State.UNSUBSCRIBED, Scope("topic", "230318")),
        ("Opted@Example.org", State.UNKNOWN, Scope("topic", "5")),  # NOT_OPTED
        ("Opted@Example.org", State.UNKNOWN, Scope("topic", "6")),  # subscribed, no optState
        ("spam@example.org", State.COMPLAINED, PORTAL),
        ("spam@example.org", State.HARD_BOUNCED, PORTAL),
        ("spam@example.org", State.UNSUBSCRIBED, PORTAL),
    ]
    assert rejected(items) == [(4, "subscription '9': unknown optState 'PERHAPS'")]
    opt_in = records(items)[1]
    assert opt_in.occurred is not None and opt_in.occurred.raw == "1400255007763"
    assert opt_in.occurred.at == datetime(2014, 5, 16, 15, 43, 27, 763000, tzinfo=UTC)
    assert opt_in.evidence["optin_time"] == "1400255007763"


def test_the_timeline_maps_changes_and_never_reads_a_lifting_change_as_consent() -> None:
    items = read(TIMELINE, golden("hubspot", "timeline.json"))
    assert [(r.email, r.state, r.scope, r.actor) for r in records(items)] == [
        ("bounce@example.com", State.HARD_BOUNCED, PORTAL, "system"),
        ("tim@example.com", State.CONSENTED, Scope("topic", "2849"), "recipient"),
        ("tim@example.com", State.UNKNOWN, PORTAL, "recipient"),  # PORTAL_STATUS SUBSCRIBED
        ("Leaver@Example.com", State.UNSUBSCRIBED, PORTAL, "recipient"),
        ("Leaver@Example.com", State.COMPLAINED, PORTAL, "recipient"),
    ]
    assert rejected(items) == [(3, "unknown change 'VANISHED' of type 'PORTAL_STATUS'")]
    bounce = records(items)[0]
    assert bounce.occurred is not None and bounce.occurred.assumption == "explicit"
    assert bounce.occurred.at == datetime(2014, 6, 5, 13, 33, 27, tzinfo=UTC)


def test_contacts_export_reads_opt_out_properties_and_carries_no_consent() -> None:
    items = read(CSV, golden("hubspot", "contacts_export.csv"))  # BOM, CRLF in quotes
    assert triples(items) == [
        ("ann@example.com", State.UNSUBSCRIBED, PORTAL),
        ("Bob.Typed@Example.com", State.UNSUBSCRIBED, Scope("topic", None, "Newsletter")),
        ("cy@bücher.example", State.HARD_BOUNCED, PORTAL),  # bad address and bounce: once
        ("di@example.com", State.UNKNOWN, PORTAL),
    ]
    assert rejected(items) == [
        (7, "column 'Unsubscribed from all email' holds 'perhaps', not true or false"),
    ]
    cy = records(items)[2]
    assert cy.evidence["reason_text"] == "550 5.1.1\r\nno such user"
    assert records(items)[3].line == 6


@pytest.mark.parametrize("sep", [b";", b"\t"])
def test_contacts_export_internal_names_and_bad_bytes(sep: bytes) -> None:
    rows = [
        [b"email", b"hs_email_optout", b"hs_email_optout_42", b"firstname"],
        [b"A@Example.org", b"false", b"true", b"A"],
        [b"b@example.org", b"false", b"", b"B\xe9"],
    ]
    items = read_bytes(CSV, b"\n".join(sep.join(r) for r in rows) + b"\n")
    assert triples(items) == [("A@Example.org", State.UNSUBSCRIBED, Scope("topic", "42"))]
    assert rejected(items) == [(3, "column 'firstname' is not UTF-8 (byte 0xE9)")]


def test_wrong_formats_are_refused() -> None:
    with pytest.raises(InputError, match="not a HubSpot contacts export"):
        read(CSV, golden("constant-contact", "contacts_export.csv"))
    with pytest.raises(InputError, match="not JSON"):
        read(V3, golden("hubspot", "contacts_export.csv"))


def test_sniffing_is_sure_of_its_own_files_only() -> None:
    check_sniffing(READERS, "hubspot")


def test_the_opt_out_list_opts_every_suppression_out_of_all_email() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    data, report = write(WRITER, [
        ExportRecord("Ann@Example.org", State.UNSUBSCRIBED, None, at, "unsubscribe"),
        ExportRecord("bob@example.org", State.COMPLAINED, "news", at, "complaint"),
        ExportRecord("cy@example.org", State.CONSENTED, "news", at, "consent"),
    ])  # fmt: skip
    assert data.decode().splitlines() == [
        "Email,Unsubscribed from all email", "Ann@Example.org,true", "bob@example.org,true",
    ]  # fmt: skip
    assert report.widened == {
        "complained -> unsubscribed from all email": 1,
        "list suppression -> unsubscribed from all email": 1,
    }
    assert sum(report.dropped.values()) == 1
    assert sniff_bytes(CSV, data) >= 60


@settings(max_examples=60, deadline=None)
@given(st.lists(export_records, max_size=25))
def test_round_trip_keeps_every_suppression_as_a_portal_opt_out(
    exported: list[ExportRecord],
) -> None:
    data, report = write(WRITER, exported)
    items = read_bytes(CSV, data)
    assert rejected(items) == []
    assert set(triples(items)) == {
        (r.email, State.UNSUBSCRIBED, PORTAL) for r in suppressions(exported)
    }
    assert report.written + sum(report.dropped.values()) == len(exported)

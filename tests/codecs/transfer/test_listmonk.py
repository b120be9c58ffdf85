"""listmonk: the subscribers CSV export (subscriber status only, Go times; lossy, so enabled is
unknown and flagged), the API JSON with each list's subscription status, and the blocklist
import written and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.listmonk import (
    ListmonkBlocklistWriter,
    ListmonkCsvReader,
    ListmonkJsonReader,
    go_time,
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

CSV, JSON, WRITER = ListmonkCsvReader(), ListmonkJsonReader(), ListmonkBlocklistWriter()
INSTANCE = Scope("instance")


def test_the_csv_description_says_it_loses_per_list_unsubscribes() -> None:
    assert "LOSES per-list unsubscribes" in CSV.description


def test_csv_export_maps_subscriber_status_and_never_reads_enabled_as_consent() -> None:
    items = read(CSV, golden("listmonk", "subscribers.csv"))
    assert triples(items) == [
        ("john@example.com", State.UNKNOWN, INSTANCE),
        ("Blocked@Example.com", State.UNSUBSCRIBED, INSTANCE),
        ("disabled@example.com", State.MANUALLY_SUPPRESSED, INSTANCE),
        ("søren@bücher.example", State.UNKNOWN, INSTANCE),
    ]
    john = records(items)[0]
    assert john.review and "per-list" in john.evidence["note"]


def test_go_timestamps_keep_their_raw_text_and_offset() -> None:
    blocked = records(read(CSV, golden("listmonk", "subscribers.csv")))[1]
    assert blocked.occurred is not None
    assert blocked.occurred.raw == "2024-06-01 09:30:00.000001 +0530 +0530"
    assert blocked.occurred.assumption == "explicit"
    assert blocked.occurred.at == datetime(2024, 6, 1, 4, 0, 0, 1, tzinfo=UTC)
    named = go_time("2024-05-03 10:00:00 +0000 UTC")
    assert named is not None and named.at == datetime(2024, 5, 3, 10, tzinfo=UTC)
    monotonic = go_time("2024-05-03 10:00:00.5 +0200 CEST m=+0.000123")
    assert monotonic is not None
    assert monotonic.at == datetime(
        2024, 5, 3, 10, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2))
    )


def test_csv_bad_rows_are_rejected_by_line() -> None:
    data = (
        b"\xef\xbb\xbfuuid,email,name,attributes,status,created_at,updated_at\r\n"
        b'1,a@example.com,"Multi\r\nline",{},enabled,,\r\n'
        b"2,b@example.com,B\xe4r,{},enabled,,\r\n"
        b"3,c@example.com,C,{},paused,,\r\n"
        b"4,,D,{},enabled,,\r\n"
        b"5,e@example.com,E,{},blocklisted,,\r\n"
    )
    items = read_bytes(CSV, data)
    assert rejected(items) == [
        (4, "column 'name' is not UTF-8 (byte 0xE4)"),
        (5, "unknown status 'paused'"),
        (6, "no address in column 'email'"),
    ]
    assert triples(items) == [
        ("a@example.com", State.UNKNOWN, INSTANCE),
        ("e@example.com", State.UNSUBSCRIBED, INSTANCE),
    ]


def test_api_json_maps_each_lists_subscription_status() -> None:
    items = read(JSON, golden("listmonk", "subscribers_api.json"))
    default, weekly = Scope("list", "1", "Default list"), Scope("list", "2", "Weekly")
    offers, single = Scope("list", "3", "Offers"), Scope("list", "4", "Single")
    legacy = Scope("list", "5", "Legacy")
    assert triples(items) == [
        ("john@example.com", State.CONSENTED, default),
        ("john@example.com", State.PENDING, weekly),  # unconfirmed, double opt-in
        ("john@example.com", State.UNSUBSCRIBED, offers),
        ("john@example.com", State.CONSENTED, single),  # unconfirmed, single opt-in
        ("john@example.com", State.PENDING, legacy),  # opt-in kind unknown: never consent
        # Blocklisted: the global suppression and the list unsubscribe, not the list consent.
        ("Quadri@Example.com", State.UNSUBSCRIBED, INSTANCE),
        ("Quadri@Example.com", State.UNSUBSCRIBED, offers),
        ("sugar@bücher.example", State.UNKNOWN, INSTANCE),
    ]
    assert rejected(items) == [(4, "list 'Default list': unknown subscription_status 'paused'")]
    confirmed = records(items)[0]
    assert confirmed.evidence["optin_time"] == "2024-02-10T23:07:16.199433+01:00"
    assert confirmed.occurred is not None and confirmed.occurred.assumption == "explicit"


def test_one_subscriber_document_is_read_too() -> None:
    items = read(JSON, golden("listmonk", "subscriber_one.json"))
    assert {r.email for r in records(items)} == {"john@example.com"}
    assert len(records(items)) == 5


def test_wrong_formats_are_refused() -> None:
    with pytest.raises(InputError, match="not a listmonk subscribers CSV"):
        read(CSV, golden("hubspot", "contacts_export.csv"))
    with pytest.raises(InputError, match="not JSON"):
        read(JSON, golden("listmonk", "subscribers.csv"))


def test_sniffing_is_sure_of_its_own_files_only() -> None:
    check_sniffing([CSV, JSON], "listmonk")


def test_the_blocklist_import_names_everyone_and_widens_to_the_instance() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    data, report = write(WRITER, [
        ExportRecord("Ann@Example.org", State.UNSUBSCRIBED, "news", at, "unsubscribe"),
        ExportRecord("bob@example.org", State.HARD_BOUNCED, None, at, "hard-bounce"),
        ExportRecord("cy@example.org", State.CONSENTED, "news", at, "consent"),
    ])  # fmt: skip
    assert data.decode().splitlines() == [
        "email,name,attributes,status",
        "Ann@Example.org,Ann,{},blocklisted",
        "bob@example.org,bob,{},blocklisted",
    ]
    assert report.widened == {
        "list suppression -> blocklisted (instance-wide)": 1,
        "hard-bounced -> blocklisted (no reason kept)": 1,
    }
    assert sum(report.dropped.values()) == 1
    assert sniff_bytes(CSV, data) >= 60


@settings(max_examples=60, deadline=None)
@given(st.lists(export_records, max_size=25))
def test_round_trip_keeps_every_suppression_as_a_blocklisting(
    exported: list[ExportRecord],
) -> None:
    data, report = write(WRITER, exported)
    items = read_bytes(CSV, data)
    assert rejected(items) == []
    assert set(triples(items)) == {
        (r.email, State.UNSUBSCRIBED, INSTANCE) for r in suppressions(exported)
    }
    assert report.written + sum(report.dropped.values()) == len(exported)

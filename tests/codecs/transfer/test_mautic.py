"""Mautic: contacts with their do-not-contact entries (API JSON keyed by id, CSV with DNC
columns or doNotEmail), complaints found in the comments, no DNC read as unknown (never
consent), and the doNotEmail import written and read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.mautic import (
    MauticContactsWriter,
    MauticCsvReader,
    MauticJsonReader,
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

CSV, JSON, WRITER = MauticCsvReader(), MauticJsonReader(), MauticContactsWriter()
EMAIL, SMS = Scope("channel", "email"), Scope("channel", "sms")


def test_api_contacts_keyed_by_id_map_each_dnc_entry() -> None:
    items = read(JSON, golden("mautic", "contacts_api.json"))
    assert triples(items) == [
        ("jim@example.com", State.HARD_BOUNCED, EMAIL),
        ("Unsub@Example.com", State.UNSUBSCRIBED, EMAIL),
        ("fbl@example.com", State.COMPLAINED, EMAIL),  # reason 1 with "complaint: abuse"
        ("manual@bücher.example", State.MANUALLY_SUPPRESSED, EMAIL),
        ("manual@bücher.example", State.UNSUBSCRIBED, SMS),  # kept with its channel
        ("clean@example.com", State.UNKNOWN, EMAIL),  # no DNC entry: never consent
    ]
    assert rejected(items) == [(6, "unknown doNotContact reason '9'")]
    unsub = records(items)[1]
    assert unsub.evidence == {"reason_text": "User unsubscribed.", "channel_id": "12"}
    assert unsub.occurred is not None and unsub.occurred.assumption == "explicit"


def test_one_contact_document_is_read_too() -> None:
    assert triples(read(JSON, golden("mautic", "contact_one.json"))) == [
        ("Unsub@Example.com", State.UNSUBSCRIBED, EMAIL)
    ]


def test_csv_dnc_columns_map_reasons_and_complaint_comments() -> None:
    items = read(CSV, golden("mautic", "contacts_dnc.csv"))
    assert triples(items) == [
        ("jim@example.com", State.HARD_BOUNCED, EMAIL),
        ("Unsub@Example.com", State.UNSUBSCRIBED, EMAIL),
        ("fbl@example.com", State.COMPLAINED, EMAIL),  # "Complaint via\nfeedback loop"
        ("manual@bücher.example", State.MANUALLY_SUPPRESSED, EMAIL),
        ("clean@example.com", State.UNKNOWN, EMAIL),
    ]
    assert rejected(items) == [(8, "unknown DNC reason '7'")]
    assert [r.line for r in records(items)] == [2, 3, 4, 6, 7]
    jim = records(items)[0]
    assert jim.occurred is not None and jim.occurred.assumption == "local_assumed"
    assert jim.evidence["reason_text"] == "550 5.1.1 user unknown"


def test_do_not_email_flags_are_manual_dnc_and_bad_flags_rejected() -> None:
    items = read(CSV, golden("mautic", "contacts_donotemail.csv"))  # semicolons
    assert triples(items) == [
        ("jim@example.com", State.MANUALLY_SUPPRESSED, EMAIL),
        ("clean@example.com", State.UNKNOWN, EMAIL),
        ("yes@example.com", State.MANUALLY_SUPPRESSED, EMAIL),
    ]
    assert rejected(items) == [(5, "column 'doNotEmail' holds 'sometimes', not yes or no")]


@pytest.mark.parametrize("sep", [b",", b"\t"])
def test_csv_quirks_non_utf8_repeated_headers_and_words_for_reasons(sep: bytes) -> None:
    rows = [
        [b"email", b"email", b"dnc_reason", b"dnc_comments"],
        [b"", b"A@Example.org", b"Unsubscribed", b"spam report"],
        [b"b@example.org", b"", b"1", b"caf\xe9"],
        [b"c@example.org", b"", b"3.0", b""],
    ]
    items = read_bytes(CSV, b"\n".join(sep.join(r) for r in rows) + b"\n")
    assert triples(items) == [
        ("A@Example.org", State.COMPLAINED, EMAIL),
        ("c@example.org", State.MANUALLY_SUPPRESSED, EMAIL),
    ]
    assert rejected(items) == [(3, "column 'dnc_comments' is not UTF-8 (byte 0xE9)")]


def test_wrong_formats_are_refused() -> None:
    with pytest.raises(InputError, match="not a Mautic contacts CSV"):
        read(CSV, golden("campaign-monitor", "subscribers.csv"))
    with pytest.raises(InputError, match="not JSON"):
        read(JSON, golden("mautic", "contacts_dnc.csv"))


def test_sniffing_is_sure_of_its_own_files_only() -> None:
    check_sniffing([CSV, JSON], "mautic")


def test_the_import_marks_suppressions_do_not_email_and_consents_as_plain_contacts() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    data, report = write(WRITER, [
        ExportRecord("Ann@Example.org", State.UNSUBSCRIBED, None, at, "unsubscribe"),
        ExportRecord("bob@example.org", State.MANUALLY_SUPPRESSED, "news", at, "manual"),
        ExportRecord("cy@example.org", State.CONSENTED, "news", at, "consent"),
        ExportRecord("dee@example.org", State.PENDING, "news", at, "consent"),
    ])  # fmt: skip
    assert data.decode().splitlines() == [
        "email,doNotEmail", "Ann@Example.org,1", "bob@example.org,1", "cy@example.org,0",
    ]  # fmt: skip
    assert report.widened == {
        "unsubscribed -> DNC reason 3 (manual)": 1,
        "list suppression -> email channel DNC": 1,
        "consented -> contact without DNC (Mautic records no consent)": 1,
    }
    assert report.written == 3 and sum(report.dropped.values()) == 1
    assert sniff_bytes(CSV, data) >= 60


@settings(max_examples=60, deadline=None)
@given(st.lists(export_records, max_size=25))
def test_round_trip_keeps_every_suppression_as_a_dnc(exported: list[ExportRecord]) -> None:
    data, report = write(WRITER, exported)
    items = read_bytes(CSV, data)
    assert rejected(items) == []
    expected = {(r.email, State.MANUALLY_SUPPRESSED, EMAIL) for r in suppressions(exported)}
    expected |= {(r.email, State.UNKNOWN, EMAIL) for r in exported if r.state is State.CONSENTED}
    assert set(triples(items)) == expected
    assert report.written + sum(report.dropped.values()) == len(exported)

"""Constant Contact: permission_to_send from the v3 API JSON and the CSV export (implicit is not
consent; temp_hold and not_set are unknown for review; opt-out source says who), and the
unsubscribed-addresses upload written and read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.constant_contact import (
    ConstantContactCsvReader,
    ConstantContactJsonReader,
    ConstantContactUnsubscribeWriter,
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

CSV, JSON = ConstantContactCsvReader(), ConstantContactJsonReader()
WRITER = ConstantContactUnsubscribeWriter()
ACCOUNT = Scope("account")


def test_api_contacts_map_permission_to_send() -> None:
    items = read(JSON, golden("constant-contact", "contacts.json"))
    assert triples(items) == [
        ("explicit@example.com", State.CONSENTED,
         Scope("list", "07936f78-662a-11eb-af0a-fa163e56c9b9")),
        ("Implicit@Example.com", State.UNKNOWN, ACCOUNT),  # implied permission: not consent
        ("pending@example.com", State.PENDING, ACCOUNT),
        ("leaver@example.com", State.UNSUBSCRIBED, ACCOUNT),
        ("removed-by-admin@bücher.example", State.UNSUBSCRIBED, ACCOUNT),
        ("held@example.com", State.UNKNOWN, ACCOUNT),
        ("notset@example.com", State.UNKNOWN, ACCOUNT),
    ]  # fmt: skip
    assert rejected(items) == [(8, "unknown permission_to_send 'maybe'")]
    by_email = {r.email: r for r in records(items)}
    assert by_email["held@example.com"].review and by_email["notset@example.com"].review
    assert not by_email["Implicit@Example.com"].review


def test_opt_out_source_names_the_actor_and_the_opt_out_date_is_the_state_time() -> None:
    items = records(read(JSON, golden("constant-contact", "contacts.json")))
    leaver, admin = items[3], items[4]
    assert (leaver.actor, admin.actor) == ("recipient", "admin")
    assert leaver.evidence["reason_text"] == "Too many emails"
    assert admin.occurred is not None and admin.occurred.at == datetime(2024, 1, 21, 13, tzinfo=UTC)
    explicit = items[0]
    assert explicit.evidence["optin_time"] == "2023-06-01T14:21:05Z"
    assert explicit.evidence["confirm_status"] == "confirmed"


def test_csv_export_reads_ui_words_and_quoted_newlines() -> None:
    items = read(CSV, golden("constant-contact", "contacts_export.csv"))
    assert triples(items) == [
        ("explicit@example.com", State.CONSENTED, ACCOUNT),
        ("Implicit@Example.com", State.UNKNOWN, ACCOUNT),
        ("pending@example.com", State.PENDING, ACCOUNT),
        ("leaver@example.com", State.UNSUBSCRIBED, ACCOUNT),
        ("held@bücher.example", State.UNKNOWN, ACCOUNT),
    ]
    assert rejected(items) == [(8, "unknown permission_to_send 'Maybe'")]
    leaver = records(items)[3]
    assert leaver.line == 5 and leaver.evidence["reason_text"] == "Too many\r\nemails"
    assert leaver.occurred is not None and leaver.occurred.assumption == "local_assumed"


@pytest.mark.parametrize("sep", [b";", b"\t"])
def test_csv_dotted_names_repeated_columns_and_bad_bytes(sep: bytes) -> None:
    rows = [
        [b"email_address.address", b"email_address.permission_to_send", b"note", b"note"],
        [b"A@Example.org", b"unsubscribed", b"x", b"y"],
        [b"b@example.org", b"explicit", b"\xff", b""],
        [b"", b"explicit", b"", b""],
    ]
    items = read_bytes(CSV, b"\n".join(sep.join(r) for r in rows) + b"\n")
    assert triples(items) == [("A@Example.org", State.UNSUBSCRIBED, ACCOUNT)]
    assert rejected(items) == [
        (3, "column 'note' is not UTF-8 (byte 0xFF)"),
        (4, "no address in column 'email_address.address'"),
    ]


def test_wrong_formats_are_refused() -> None:
    with pytest.raises(InputError, match="not a Constant Contact contacts export"):
        read(CSV, golden("mautic", "contacts_dnc.csv"))
    with pytest.raises(InputError, match="not JSON"):
        read(JSON, golden("constant-contact", "contacts_export.csv"))


def test_sniffing_is_sure_of_its_own_files_only() -> None:
    check_sniffing([CSV, JSON], "constant-contact")


def test_the_upload_unsubscribes_every_suppression_account_wide() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    data, report = write(WRITER, [
        ExportRecord("Ann@Example.org", State.UNSUBSCRIBED, None, at, "unsubscribe"),
        ExportRecord("bob@example.org", State.HARD_BOUNCED, "news", at, "hard-bounce"),
        ExportRecord("cy@example.org", State.CONSENTED, "news", at, "consent"),
    ])  # fmt: skip
    assert data.decode().splitlines() == [
        "email_address,permission_to_send,opt_out_reason",
        "Ann@Example.org,unsubscribed,unsubscribe",
        "bob@example.org,unsubscribed,hard-bounce",
    ]
    assert report.widened == {
        "hard-bounced -> unsubscribed": 1,
        "list suppression -> unsubscribed (account-wide)": 1,
    }
    assert sum(report.dropped.values()) == 1
    assert sniff_bytes(CSV, data) >= 60


@settings(max_examples=60, deadline=None)
@given(st.lists(export_records, max_size=25))
def test_round_trip_keeps_every_suppression_as_an_unsubscribe(
    exported: list[ExportRecord],
) -> None:
    data, report = write(WRITER, exported)
    items = read_bytes(CSV, data)
    assert rejected(items) == []
    assert set(triples(items)) == {
        (r.email, State.UNSUBSCRIBED, ACCOUNT) for r in suppressions(exported)
    }
    assert report.written + sum(report.dropped.values()) == len(exported)

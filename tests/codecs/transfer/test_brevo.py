"""Brevo: the contacts export (blocklist flag, list membership, per-list unsubscribes, dates in
the account's zone), the transactional blocked contacts per sender and reason code, and the
blocklist import written and read back."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.brevo import (
    BrevoBlockedReader,
    BrevoBlocklistWriter,
    BrevoContactsReader,
)
from consentry.codecs.transfer.source import Source
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

CONTACTS, BLOCKED, WRITER = BrevoContactsReader(), BrevoBlockedReader(), BrevoBlocklistWriter()
ACCOUNT = Scope("account")


def test_contacts_export_maps_blocklist_lists_and_list_unsubscribes() -> None:
    items = read(CONTACTS, golden("brevo", "contacts_export.csv"))  # BOM, semicolons
    assert triples(items) == [
        ("anna.schmidt@example.com", State.CONSENTED, Scope("list", "2")),
        ("anna.schmidt@example.com", State.CONSENTED, Scope("list", "4")),
        ("Blocked.User@Example.COM", State.UNSUBSCRIBED, ACCOUNT),
        ("leaver@example.com", State.UNSUBSCRIBED, Scope("list", "4")),
        ("leaver@example.com", State.CONSENTED, Scope("list", "2")),
        ("nolist@example.com", State.UNKNOWN, ACCOUNT),
        ("jürgen@bücher.example", State.CONSENTED, Scope("list", "7")),
    ]
    assert rejected(items) == []
    # The blocklisted row holds a CRLF inside a quoted field: it starts on line 3 and the next
    # row on line 5.
    assert [r.line for r in records(items)] == [2, 2, 3, 5, 5, 6, 7]


def test_a_blocklisted_contact_is_not_read_as_consented_on_its_lists() -> None:
    blocked = [r for r in records(read(CONTACTS, golden("brevo", "contacts_export.csv")))
               if r.email == "Blocked.User@Example.COM"]  # fmt: skip
    assert [(r.state, r.scope) for r in blocked] == [(State.UNSUBSCRIBED, ACCOUNT)]
    assert blocked[0].occurred is None  # Brevo exports no blocklist date
    assert blocked[0].original_status == "EMAIL_BLACKLISTED=Yes"


def test_export_dates_without_a_zone_are_marked_local_assumed() -> None:
    anna = records(read(CONTACTS, golden("brevo", "contacts_export.csv")))[0]
    assert anna.occurred is not None and anna.occurred.assumption == "local_assumed"
    assert anna.occurred.raw == "2023-11-02 09:14:03"
    assert anna.evidence["added_time"] == "2023-11-02 09:14:03"
    assert "optin_time" not in anna.evidence  # ADDED_TIME is when the contact was created


def test_bad_rows_are_rejected_by_line_and_the_rest_read() -> None:
    items = read(CONTACTS, golden("brevo", "contacts_quirks.csv"))
    assert rejected(items) == [
        (3, "column 'FIRSTNAME' is not UTF-8 (byte 0xFC)"),
        (4, "column 'EMAIL_BLACKLISTED' holds 'perhaps', not yes or no"),
        (5, "no address in column 'EMAIL'"),
        (6, "2 fields where the header has 3"),
    ]
    assert triples(items) == [
        ("ok@example.com", State.UNKNOWN, ACCOUNT),
        ("last@example.com", State.UNSUBSCRIBED, ACCOUNT),
    ]


@pytest.mark.parametrize("sep", [b",", b"\t"])
def test_comma_and_tab_delimiters_and_repeated_headers(sep: bytes) -> None:
    data = sep.join([b"EMAIL", b"EMAIL", b"BLACKLISTED"]) + b"\r\n"
    data += sep.join([b"", b"Second@Example.org", b"true"]) + b"\r\n"
    items = read_bytes(CONTACTS, data)
    assert triples(items) == [("Second@Example.org", State.UNSUBSCRIBED, ACCOUNT)]


def test_blocked_contacts_map_reason_codes_to_states_per_sender() -> None:
    items = read(BLOCKED, golden("brevo", "blocked_contacts.json"))
    news, billing = (
        Scope("sender", "news@example.org", "news@example.org"),
        Scope("sender", "billing@example.org", "billing@example.org"),
    )
    assert [(r.email, r.state, r.scope, r.actor) for r in records(items)] == [
        ("john.smith@example.com", State.UNSUBSCRIBED, news, "recipient"),
        ("Ops@Example.net", State.UNSUBSCRIBED, news, "system"),
        ("api@example.com", State.UNSUBSCRIBED, billing, "admin"),
        ("blocked@example.com", State.MANUALLY_SUPPRESSED, billing, "admin"),
        ("gone@bücher.example", State.HARD_BOUNCED, news, "system"),
        # No sender: widened to the whole account, never dropped.
        ("angry@example.com", State.COMPLAINED, ACCOUNT, "recipient"),
    ]
    first = records(items)[0]
    assert first.occurred is not None and first.occurred.assumption == "explicit"
    assert first.occurred.at == datetime(2024, 2, 10, 9, 30, tzinfo=UTC)
    assert first.evidence["reason_text"] == "Contact unsubscribed via email"
    naive = records(items)[2].occurred
    assert naive is not None and naive.assumption == "local_assumed"


def test_blocked_pages_one_per_line_stream_and_unknown_codes_are_rejected() -> None:
    items = read(BLOCKED, golden("brevo", "blocked_contacts_pages.jsonl"))
    assert [r.email for r in records(items)] == ["john.smith@example.com", "one@example.com"]
    assert rejected(items) == [(3, "unknown reason.code 'softBounce'")]


def test_a_blocked_contact_without_address_or_json_is_rejected_by_record() -> None:
    data = b'{"contacts": [{"senderEmail": "a@example.org", "reason": {"code": "hardBounce"}},'
    data += b' {"email": "b@example.com", "reason": {"code": "hardBounce"}}, {"email": x}]}'
    items = read_bytes(BLOCKED, data, "blocked.json")
    assert [line for line, _ in rejected(items)] == [1, 3]
    assert "no 'email'" in rejected(items)[0][1]
    assert [r.email for r in records(items)] == ["b@example.com"]


def test_wrong_formats_are_refused() -> None:
    with pytest.raises(InputError, match="not a Brevo contacts export"):
        read(CONTACTS, golden("campaign-monitor", "subscribers.csv"))
    with pytest.raises(InputError, match="not JSON"):
        read(BLOCKED, golden("brevo", "contacts_export.csv"))
    with pytest.raises(InputError):
        read_bytes(CONTACTS, b"")


def test_sniffing_is_sure_of_its_own_files_only() -> None:
    check_sniffing([CONTACTS, BLOCKED], "brevo")
    assert sniff_bytes(CONTACTS, b"email,name\na@example.org,A\n") == 0


def test_the_blocklist_import_is_semicolon_separated_and_widens_everything_to_the_account() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    data, report = write(WRITER, [
        ExportRecord("Ann@Example.org", State.UNSUBSCRIBED, None, at, "unsubscribe"),
        ExportRecord("bob@example.org", State.HARD_BOUNCED, None, at, "hard-bounce"),
        ExportRecord("cy@bücher.example", State.UNSUBSCRIBED, "news", at, "unsubscribe"),
        ExportRecord("dee@example.org", State.CONSENTED, "news", at, "consent"),
    ])  # fmt: skip
    assert data.decode() == (
        "EMAIL;BLACKLISTED\r\nAnn@Example.org;true\r\nbob@example.org;true\r\n"
        "cy@bücher.example;true\r\n"
    )
    assert report.written == 3
    assert report.widened == {
        "hard-bounced -> blocklisted (Brevo keeps no reason)": 1,
        "list suppression -> account blocklist": 1,
    }
    assert sum(report.dropped.values()) == 1
    assert sniff_bytes(CONTACTS, data) >= 60 and sniff_bytes(BLOCKED, data) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(export_records, max_size=25))
def test_round_trip_keeps_every_suppression_as_an_account_blocklisting(
    exported: list[ExportRecord],
) -> None:
    data, report = write(WRITER, exported)
    items = read_bytes(CONTACTS, data)
    assert rejected(items) == []
    expected = {(r.email, State.UNSUBSCRIBED, ACCOUNT) for r in suppressions(exported)}
    assert set(triples(items)) == expected
    assert report.written == len(suppressions(exported))
    assert report.written + sum(report.dropped.values()) == len(exported)


def test_the_blocked_json_reader_reads_one_record_at_a_time() -> None:
    page = {"count": 3, "contacts": [
        {"email": f"u{i}@example.com", "senderEmail": "s@example.org",
         "reason": {"code": "hardBounce", "message": "x" * 1000}, "blockedAt": "2024-01-01"}
        for i in range(3)
    ]}  # fmt: skip
    items = read_bytes(BLOCKED, json.dumps(page).encode(), "page.json")
    assert [r.line for r in records(items)] == [1, 2, 3]


def test_a_zip_is_not_sniffed_but_its_csv_members_are_read_when_asked(tmp_path: Path) -> None:
    archive = tmp_path / "brevo_export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(golden("brevo", "contacts_export.csv"), "part1.csv")
        zf.writestr("readme.pdf", b"%PDF")
    source = Source(archive)
    try:
        assert CONTACTS.sniff(source) == 0 and BLOCKED.sniff(source) == 0
        items = list(CONTACTS.read(source))
    finally:
        source.close()
    assert len(records(items)) == 7
    assert records(items)[0].file == "brevo_export.zip:part1.csv"


def test_an_export_without_the_blocklist_column_never_yields_consent() -> None:
    items = read_bytes(CONTACTS, b"EMAIL;_listIds;listUnsubscribed\na@example.org;2,4;4\n")
    assert triples(items) == [
        ("a@example.org", State.UNSUBSCRIBED, Scope("list", "4")),
        ("a@example.org", State.UNKNOWN, ACCOUNT),
    ]
    assert records(items)[1].review

"""Campaign Monitor: list subscribers by state and the client suppression list (API pages and
CSV), Deleted kept as a suppression for review, naive times, the suppression list written and
read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.campaign_monitor import (
    CampaignMonitorCsvReader,
    CampaignMonitorJsonReader,
    CampaignMonitorSuppressionWriter,
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

JSON, CSV, WRITER = (
    CampaignMonitorJsonReader(),
    CampaignMonitorCsvReader(),
    CampaignMonitorSuppressionWriter(),
)
LIST, CLIENT = Scope("list"), Scope("client")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("active_subscribers.json", [
            ("subscriber.one@example.com", State.CONSENTED, LIST),
            ("Mixed.Case@Example.COM", State.CONSENTED, LIST),
        ]),
        ("unconfirmed_subscribers.json", [("waiting@example.com", State.PENDING, LIST)]),
        ("unsubscribed_subscribers.json", [
            ("leaver@example.com", State.UNSUBSCRIBED, LIST),
            ("müller@bücher.example", State.UNSUBSCRIBED, LIST),
        ]),
        ("bounced_subscribers.json", [("bounced@example.com", State.HARD_BOUNCED, LIST)]),
        ("suppressionlist.json", [
            ("example+1@example.com", State.UNSUBSCRIBED, CLIENT),
            ("example+2@example.com", State.HARD_BOUNCED, CLIENT),
            ("example+3@example.com", State.MANUALLY_SUPPRESSED, CLIENT),
        ]),
    ],
)  # fmt: skip
def test_each_state_page_maps_to_its_canonical_state(
    name: str, expected: list[tuple[str, State, Scope]]
) -> None:
    items = read(JSON, golden("campaign-monitor", name))
    assert triples(items) == expected
    assert rejected(items) == []


def test_deleted_is_a_suppression_for_review_spam_a_complaint_and_unknown_states_rejected() -> None:
    items = read(JSON, golden("campaign-monitor", "deleted_subscribers.json"))
    deleted, spam = records(items)
    assert (deleted.state, deleted.review, deleted.actor) == (
        State.MANUALLY_SUPPRESSED, True, "admin",
    )  # fmt: skip
    assert (spam.state, spam.review) == (State.COMPLAINED, False)
    assert rejected(items) == [(3, "unknown State 'Paused'")]


def test_an_undocumented_suppression_reason_is_kept_as_manual_for_review() -> None:
    *_, odd = records(read(JSON, golden("campaign-monitor", "suppressionlist.json")))
    assert odd.review and odd.evidence["reason_text"] == "Something New"
    assert odd.original_status == "Suppressed: Something New"


def test_the_state_date_is_the_change_time_marked_local_and_the_join_is_evidence() -> None:
    active = records(read(JSON, golden("campaign-monitor", "active_subscribers.json")))[0]
    assert active.occurred is not None and active.occurred.raw == "2023-10-25 10:28:00"
    assert active.occurred.assumption == "local_assumed"
    assert active.evidence["optin_time"] == "2023-10-24 10:28:00"
    assert active.evidence["consent_to_track"] == "Yes"  # tracking consent, kept as evidence
    old = records(read(JSON, golden("campaign-monitor", "unsubscribed_subscribers.json")))[1]
    assert old.occurred is not None and old.occurred.raw == "2010-10-26 10:56:00"  # ``Date``


def test_csv_with_quoted_newlines_reads_like_the_pages() -> None:
    items = read(CSV, golden("campaign-monitor", "subscribers.csv"))
    assert triples(items) == [
        ("active@example.com", State.CONSENTED, LIST),
        ("leaver@example.com", State.UNSUBSCRIBED, LIST),
        ("removed@example.com", State.MANUALLY_SUPPRESSED, LIST),
    ]
    assert [r.line for r in records(items)] == [2, 3, 5]


@pytest.mark.parametrize("sep", [b";", b"\t"])
def test_csv_bad_rows_are_rejected_by_line(sep: bytes) -> None:
    rows = [
        [b"EmailAddress", b"State", b"State", b"Date"],
        [b"ok@example.com", b"", b"Active", b"2024-01-01 10:00:00"],
        [b"latin@example.com", b"Active", b"", b"caf\xe9"],
        [b"", b"Active", b"", b"2024-01-01 10:00:00"],
        [b"odd@example.com", b"Sleeping", b"", b""],
    ]
    items = read_bytes(CSV, b"\r\n".join(sep.join(r) for r in rows) + b"\r\n")
    assert triples(items) == [("ok@example.com", State.CONSENTED, LIST)]  # repeated State
    assert rejected(items) == [
        (3, "column 'Date' is not UTF-8 (byte 0xE9)"),
        (4, "no 'EmailAddress'"),
        (5, "unknown State 'Sleeping'"),
    ]


def test_wrong_formats_are_refused() -> None:
    with pytest.raises(InputError, match="not a Campaign Monitor CSV"):
        read(CSV, golden("listmonk", "subscribers.csv"))
    with pytest.raises(InputError, match="not JSON"):
        read(JSON, golden("campaign-monitor", "subscribers.csv"))


def test_sniffing_is_sure_of_its_own_files_only() -> None:
    check_sniffing([JSON, CSV], "campaign-monitor")


def test_the_suppression_list_takes_every_suppression_client_wide_without_reasons() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    data, report = write(WRITER, [
        ExportRecord("Ann@Example.org", State.UNSUBSCRIBED, None, at, "unsubscribe"),
        ExportRecord("bob@example.org", State.COMPLAINED, "news", at, "complaint"),
        ExportRecord("cy@example.org", State.PENDING, "news", at, "consent"),
    ])  # fmt: skip
    assert data.decode().splitlines() == [
        "EmailAddress,SuppressionReason,State",
        "Ann@Example.org,Unsubscribed,Suppressed",
        "bob@example.org,Unsubscribed,Suppressed",
    ]
    assert report.widened == {
        "complained -> suppressed (no reason kept)": 1,
        "list suppression -> client suppression list": 1,
    }
    assert report.written == 2 and sum(report.dropped.values()) == 1
    assert sniff_bytes(CSV, data) >= 60


@settings(max_examples=60, deadline=None)
@given(st.lists(export_records, max_size=25))
def test_round_trip_keeps_every_suppression_on_the_client_list(
    exported: list[ExportRecord],
) -> None:
    data, report = write(WRITER, exported)
    items = read_bytes(CSV, data)
    assert rejected(items) == []
    assert set(triples(items)) == {
        (r.email, State.UNSUBSCRIBED, CLIENT) for r in suppressions(exported)
    }
    assert report.written + sum(report.dropped.values()) == len(exported)


def test_a_cut_off_page_keeps_what_came_before_and_reports_where_it_stopped() -> None:
    whole = golden("campaign-monitor", "active_subscribers.json").read_bytes()
    cut = whole[: whole.index(b"Mixed.Case") + 20]
    items = read_bytes(JSON, cut, "active.json")
    assert [r.email for r in records(items)] == ["subscriber.one@example.com"]
    ((line, reason),) = rejected(items)
    assert line == 2 and "cannot be read past record 1" in reason

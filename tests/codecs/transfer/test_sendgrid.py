"""SendGrid: every suppression list read from the v3 API's documented examples and the UI CSV
exports (status by list: 5.x.x bounces hard, 4.x.x bounces and blocks never a suppression, spam
reports complaints, groups scoped by their id), the dirty exports rejected by line, and the two
files SendGrid can import written and read back, with every widening counted."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.sendgrid import READERS, WRITERS
from consentry.codecs.transfer.sendgrid_times import created_time
from consentry.domain.errors import InputError
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    Scope,
    State,
    TimeValue,
    TransferRecord,
)
from tests.codecs.transfer.suppression_support import (
    emails,
    expected,
    export_records,
    golden,
    golden_files,
    others_golden,
    read,
    read_bytes,
    records,
    rejected,
    round_trip,
    sniffs,
    sure_of,
)

BY_NAME = {r.name: r for r in READERS}
WRITER = {w.name: w for w in WRITERS}
ACCOUNT = Scope("account")
EXPECTED_FORMAT = {
    "unsubscribes.json": "sendgrid-unsubscribes-json",
    "unsubscribes.csv": "sendgrid-unsubscribes-csv",
    "asm_suppressions.json": "sendgrid-group-unsubscribes-json",
    "group_103_suppressions.json": "sendgrid-group-unsubscribes-json",
    "group_unsubscribes.csv": "sendgrid-group-unsubscribes-csv",
    "bounces.json": "sendgrid-bounces-json",
    "bounces.csv": "sendgrid-bounces-csv",
    "bounces_dirty.csv": "sendgrid-bounces-csv",
    "blocks.json": "sendgrid-blocks-json",
    "blocks.csv": "sendgrid-blocks-csv",
    "spam_reports.json": "sendgrid-spam-reports-json",
    "spam_reports.csv": "sendgrid-spam-reports-csv",
    "invalid_emails.json": "sendgrid-invalid-emails-json",
    "invalid_emails.csv": "sendgrid-invalid-emails-csv",
}


def _golden(name: str) -> list[TransferRecord]:
    items = read(BY_NAME[EXPECTED_FORMAT[name]], golden("sendgrid", name))
    assert rejected(items) == []
    return records(items)


def test_global_unsubscribes_are_unsubscribed_account_wide_at_their_unix_time() -> None:
    for name in ("unsubscribes.json", "unsubscribes.csv"):
        first, second = _golden(name)
        assert (first.email, first.state, first.scope) == (
            "user1@example.com", State.UNSUBSCRIBED, ACCOUNT,
        )  # fmt: skip
        assert first.occurred is not None and first.occurred.raw == "1443651141"
        assert first.occurred.at == datetime(2015, 9, 30, 22, 12, 21, tzinfo=UTC)
        assert first.occurred.assumption == "explicit"
        assert (first.line, second.line) == ((1, 2) if name.endswith(".json") else (2, 3))
        assert first.original_status == "global unsubscribe" and first.file == name


def test_group_unsubscribes_are_scoped_by_group_id_and_name() -> None:
    found = [(r.email, r.scope) for r in _golden("asm_suppressions.json")]
    assert found == [
        ("test1@example.com", Scope("group", "1", "Weekly News")),
        ("test1@example.com", Scope("group", "2", "Daily News")),
        ("test2@example.com", Scope("group", "2", "Daily News")),
    ]
    # the per-group endpoint and the UI group export name no group: no id, never global
    for name in ("group_103_suppressions.json", "group_unsubscribes.csv"):
        assert {(r.state, r.scope) for r in _golden(name)} == {(State.UNSUBSCRIBED, Scope("group"))}


def test_bounces_are_hard_with_status_and_diagnostic_as_evidence() -> None:
    for name in ("bounces.json", "bounces.csv"):
        first = _golden(name)[0]
        assert (first.state, first.actor, first.scope) == (State.HARD_BOUNCED, "system", ACCOUNT)
        assert first.evidence["smtp_status"] == "5.1.1"
        assert first.evidence["diagnostic"].startswith("550 5.1.1 The email account")


def test_blocks_are_never_a_suppression() -> None:
    for name in ("blocks.json", "blocks.csv"):
        found = _golden(name)
        assert [r.state for r in found] == [State.UNKNOWN, State.UNKNOWN]
        assert found[0].original_status == "block" and found[0].evidence["smtp_status"] == "4.0.0"


def test_spam_reports_are_complaints_and_invalid_emails_hard_bounces() -> None:
    for name in ("spam_reports.json", "spam_reports.csv"):
        report = _golden(name)[0]
        assert (report.state, report.actor) == (State.COMPLAINED, "recipient")
        assert report.evidence == {"sending_ip": "10.63.202.100"}  # the sender's IP, not theirs
    for name in ("invalid_emails.json", "invalid_emails.csv"):
        invalid = _golden(name)[0]
        assert invalid.state is State.HARD_BOUNCED
        assert (
            invalid.evidence["reason_text"] == "Mail domain mentioned in email address is unknown"
        )


def test_a_dirty_export_keeps_every_good_row_and_rejects_the_rest_by_line() -> None:
    items = read(BY_NAME["sendgrid-bounces-csv"], golden("sendgrid", "bounces_dirty.csv"))
    assert rejected(items) == [
        (2, "'email' value '#02232014' is not an address"),
        (3, "'email' value 'gmail.com' is not an address"),
        (4, "'email' value 'To' is not an address"),
        (8, "'status' value 'bounced' is not an enhanced status code"),
        (9, "column 'reason' is not UTF-8 (byte 0xE9)"),
    ]
    idn, soft, no_status, untimed = records(items)
    # the BOM is gone, the IDN mixed-case address kept literally, the quoted CRLF kept
    assert (idn.email, idn.line, idn.state) == ("Ann.Smith@Bücher.Example", 5, State.HARD_BOUNCED)
    assert idn.evidence["diagnostic"] == "550 5.1.1 user unknown\r\nsecond line"
    assert (soft.line, soft.state) == (7, State.UNKNOWN)  # 4.x.x: temporary
    assert (no_status.state, no_status.review) == (State.HARD_BOUNCED, False)  # 5.1.1 in reason
    # a legacy naive time is US Pacific (PDT in June): 19:41:39 -07:00
    assert no_status.occurred is not None and no_status.occurred.assumption == "local_assumed"
    assert no_status.occurred.at == datetime(2009, 6, 2, 2, 41, 39, tzinfo=UTC)
    assert no_status.evidence["time_zone_assumed"] == "America/Los_Angeles"
    # a time that cannot be read never costs the suppression
    assert (untimed.line, untimed.state) == (11, State.HARD_BOUNCED)
    assert untimed.occurred is not None and untimed.occurred.at is None
    assert untimed.occurred.raw == "yesterday"
    assert untimed.evidence["time_unreadable"] == "'created' value 'yesterday' is not a time"


def test_naive_times_follow_pacific_daylight_saving() -> None:
    winter = created_time("2015-01-10 12:00:00")
    summer = created_time("2015-07-10 12:00:00")
    old_rules = created_time("2005-04-02 12:00:00")  # before the first Sunday of April 2005
    assert winter is not None and winter.at == datetime(2015, 1, 10, 20, tzinfo=UTC)
    assert summer is not None and summer.at == datetime(2015, 7, 10, 19, tzinfo=UTC)
    assert old_rules is not None and old_rules.at == datetime(2005, 4, 2, 20, tzinfo=UTC)
    us = created_time("8/27/2015 3:05 PM")
    assert us is not None and us.at == datetime(2015, 8, 27, 22, 5, tzinfo=UTC)
    assert us.assumption == "local_assumed"
    assert created_time("8/27/2015") == TimeValue(
        "8/27/2015", datetime(2015, 8, 27, 7, tzinfo=UTC), "local_assumed"
    )
    bad = created_time("13/45/2015")
    assert bad is not None and bad.at is None


def test_a_bounce_without_status_is_hard_and_flagged_unless_its_reason_says_temporary() -> None:
    data = b"email,created,status,reason\na@example.org,1443651141,,\nb@example.org,,,421 later\n"
    a, b = records(read_bytes(BY_NAME["sendgrid-bounces-csv"], data, "bounces.csv"))
    assert (a.state, a.review) == (State.HARD_BOUNCED, True)
    assert b.state is State.UNKNOWN


def test_semicolons_from_excel_and_repeated_headers_are_read() -> None:
    data = b"email;created;email\r\n;1443651141;Mixed@Example.ORG\r\n"
    (only,) = read_bytes(BY_NAME["sendgrid-unsubscribes-csv"], data, "unsubscribes.csv")
    assert isinstance(only, TransferRecord) and only.email == "Mixed@Example.ORG"
    tabbed = b"email\tcreated\tip\nx@example.org\t1443651141\t10.0.0.1\n"
    (spam,) = read_bytes(BY_NAME["sendgrid-spam-reports-csv"], tabbed, "spam_reports.csv")
    assert isinstance(spam, TransferRecord) and spam.state is State.COMPLAINED


def test_json_records_that_are_not_objects_or_not_utf8_are_rejected_by_number() -> None:
    data = b'[{"email": "a@example.org"}, 7, {"created": 1443651141, "email": "b\xff@x.org"}]'
    items = read_bytes(BY_NAME["sendgrid-unsubscribes-json"], data, "unsubscribes.json")
    assert rejected(items) == [
        (2, "the record is not a JSON object"), (3, "field 'email' is not UTF-8"),
    ]  # fmt: skip
    assert [r.email for r in records(items)] == ["a@example.org"]


def test_files_of_another_format_are_refused() -> None:
    with pytest.raises(InputError, match="no 'email' column"):
        read(BY_NAME["sendgrid-bounces-csv"], golden("mailgun", "bounces.csv"))
    with pytest.raises(InputError, match="not a JSON array"):
        read(BY_NAME["sendgrid-bounces-json"], golden("sendgrid", "bounces.csv"))
    with pytest.raises(InputError, match="not a JSON array"):
        read(BY_NAME["sendgrid-unsubscribes-json"], golden("postmark", "suppressions_dump.json"))


def test_each_golden_file_is_recognised_by_exactly_one_format() -> None:
    for path in golden_files("sendgrid"):
        assert sure_of(path) == {EXPECTED_FORMAT[path.name]}, path.name


def test_no_sendgrid_format_is_sure_of_another_providers_files() -> None:
    for path in others_golden("sendgrid"):
        scores = sniffs(READERS, path)
        assert max(scores.values()) < 60, (path, scores)


def test_a_blocks_export_is_told_from_bounces_by_its_name_and_defaults_to_bounces() -> None:
    data = b"email,created,status,reason\na@example.org,1443651141,5.7.1,550 5.7.1 blocked\n"
    for name, fmt in (
        ("blocks_export.csv", "sendgrid-blocks-csv"),
        ("x.csv", "sendgrid-bounces-csv"),
    ):
        found = {r.name for r in READERS if _sniff_bytes(r, data, name) >= 60}
        assert found == {fmt}


def _sniff_bytes(reader: object, data: bytes, name: str) -> int:
    import tempfile
    from pathlib import Path

    from consentry.codecs.transfer.source import Source

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        source = Source(path)
        return reader.sniff(source)  # type: ignore[attr-defined,no-any-return]


# ---------------------------------------------------------------------------- writers


def test_the_global_csv_writes_every_suppression_and_counts_each_widening() -> None:
    batch = [
        ExportRecord("a@example.org", State.UNSUBSCRIBED, None, None, "unsubscribe"),
        ExportRecord("b@example.org", State.HARD_BOUNCED, None, None, "hard-bounce"),
        ExportRecord("c@example.org", State.UNSUBSCRIBED, "news", None, "unsubscribe"),
        ExportRecord("d@example.org", State.CONSENTED, "news", None, "consent"),
    ]
    out = io.BytesIO()
    report = WRITER["sendgrid-unsubscribes-csv"].write(batch, out)
    assert out.getvalue() == b"email\r\na@example.org\r\nb@example.org\r\nc@example.org\r\n"
    assert report.written == 3
    assert report.widened == {
        "hard-bounced -> global unsubscribe (SendGrid cannot create it)": 1,
        "list-scoped unsubscribed -> global unsubscribe": 1,
    }
    assert report.dropped == {"consented (SendGrid suppression lists hold no consent)": 1}


def test_the_requests_file_sends_list_unsubscribes_to_their_group() -> None:
    batch = [
        ExportRecord(f"u{i}@example.org", State.UNSUBSCRIBED, "news", None, "x") for i in range(501)
    ]
    batch.append(ExportRecord("c@example.org", State.COMPLAINED, None, None, "complaint"))
    out = io.BytesIO()
    report = WRITER["sendgrid-asm-requests-jsonl"].write(batch, out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # 500 + 1 for the group, 1 global
    assert lines[0].startswith(
        b'{"method": "POST", "path": "/v3/asm/groups/{group_id}/suppressions", '
        b'"group_name": "news", "body": {"recipient_emails": ["u0@example.org"'
    )
    assert lines[2] == (
        b'{"method": "POST", "path": "/v3/asm/suppressions/global", '
        b'"body": {"recipient_emails": ["c@example.org"]}}'
    )
    assert report.written == 502
    assert report.widened == {"complained -> global unsubscribe (SendGrid cannot create it)": 1}


def _global(record: ExportRecord) -> tuple[str, State, Scope] | None:
    if record.state not in SUPPRESSING:
        return None
    return (record.email, State.UNSUBSCRIBED, ACCOUNT)


def _grouped(record: ExportRecord) -> tuple[str, State, Scope] | None:
    if record.state not in SUPPRESSING:
        return None
    if record.state is State.UNSUBSCRIBED and record.scope is not None:
        return (record.email, State.UNSUBSCRIBED, Scope("group", None, record.scope))
    return (record.email, State.UNSUBSCRIBED, ACCOUNT)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(export_records, max_size=25))
def test_round_trip_global_csv(batch: list[ExportRecord]) -> None:
    found, report, items = round_trip(
        WRITER["sendgrid-unsubscribes-csv"], BY_NAME["sendgrid-unsubscribes-csv"], batch, "u.csv"
    )
    assert rejected(items) == []
    assert found == expected(batch, _global)
    assert report.written == sum(r.state in SUPPRESSING for r in batch)
    assert sum(report.dropped.values()) == len(batch) - report.written


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(export_records, max_size=25))
def test_round_trip_group_requests(batch: list[ExportRecord]) -> None:
    found, report, items = round_trip(
        WRITER["sendgrid-asm-requests-jsonl"], BY_NAME["sendgrid-asm-requests-jsonl"], batch,
        "r.jsonl",
    )  # fmt: skip
    assert rejected(items) == []
    assert found == expected(batch, _grouped)
    assert report.written == sum(r.state in SUPPRESSING for r in batch)


@given(emails)
def test_addresses_are_written_literally(email: str) -> None:
    out = io.BytesIO()
    WRITER["sendgrid-unsubscribes-csv"].write(
        [ExportRecord(email, State.UNSUBSCRIBED, None, None, "unsubscribe")], out
    )
    (record,) = records(read_bytes(BY_NAME["sendgrid-unsubscribes-csv"], out.getvalue(), "u.csv"))
    assert record.email == email


def test_a_zip_of_exports_is_read_member_by_member_but_never_sniffed_as_one() -> None:
    import tempfile
    import zipfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "suppressions.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.write(golden("sendgrid", "spam_reports.csv"), "spam_reports.csv")
        assert max(sniffs(READERS, archive).values()) == 0
        found = records(read(BY_NAME["sendgrid-spam-reports-csv"], archive))
    assert [(r.file, r.line) for r in found] == [
        ("suppressions.zip:spam_reports.csv", 2), ("suppressions.zip:spam_reports.csv", 3),
    ]  # fmt: skip

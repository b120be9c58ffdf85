"""Amazon SES: the account suppression list (API and CLI shapes), the bulk-import CSV (with or
without a header) and JSON Lines, SNS notifications by line (permanent bounces hard, transient
never, complaints, list unsubscribes), and the import files written with unsubscribes and
manual suppressions widened to COMPLAINT."""

from __future__ import annotations

import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.ses import READERS, WRITERS
from consentry.domain.errors import InputError
from consentry.domain.transfer import SUPPRESSING, ExportRecord, Scope, State, TransferRecord
from tests.codecs.transfer.suppression_support import (
    FIXTURES,
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
REGION = Scope("region")
EXPECTED_FORMAT = {
    "suppressed_destinations.json": "ses-suppressed-destinations-json",
    "suppressed_destinations_cli.json": "ses-suppressed-destinations-json",
    "import.csv": "ses-import-csv",
    "import.jsonl": "ses-import-jsonl",
    "notifications.jsonl": "ses-sns-jsonl",
}


def test_the_suppression_list_maps_bounce_and_complaint_with_their_update_time() -> None:
    items = read(
        BY_NAME["ses-suppressed-destinations-json"], golden("ses", "suppressed_destinations.json")
    )
    bounce, complaint = records(items)
    assert (bounce.email, bounce.state, bounce.scope, bounce.actor) == (
        "recipient1@example.com", State.HARD_BOUNCED, REGION, "system",
    )  # fmt: skip
    assert bounce.occurred is not None and bounce.occurred.raw == "1586554230.541"
    assert bounce.occurred.at == datetime(2020, 4, 10, 21, 30, 30, 541000, tzinfo=UTC)
    assert (complaint.state, complaint.actor, complaint.line) == (State.COMPLAINED, "recipient", 2)


def test_the_cli_shape_keeps_iso_times_attributes_and_rejects_unknown_reasons() -> None:
    items = read(
        BY_NAME["ses-suppressed-destinations-json"],
        golden("ses", "suppressed_destinations_cli.json"),
    )
    assert rejected(items) == [(2, "reason 'UNSUBSCRIBE' is not BOUNCE or COMPLAINT")]
    mixed, complaint = records(items)
    assert mixed.email == "Recipient3@Example.com"  # kept literally
    assert mixed.occurred is not None and mixed.occurred.assumption == "explicit"
    assert complaint.evidence == {
        "message_id": "0100017164d5a1c0-EXAMPLE", "feedback_id": "0100017164d5a1c0-FEEDBACK",
    }  # fmt: skip


def test_the_documented_import_files_read_with_the_space_after_the_comma() -> None:
    for name, fmt in (("import.csv", "ses-import-csv"), ("import.jsonl", "ses-import-jsonl")):
        items = read(BY_NAME[fmt], golden("ses", name))
        assert [(r.email, r.state, r.line) for r in records(items)] == [
            ("recipient1@example.com", State.HARD_BOUNCED, 1),
            ("recipient2@example.com", State.COMPLAINED, 2),
        ]


def test_an_import_csv_with_a_header_bom_and_bad_rows() -> None:
    data = (
        b"\xef\xbb\xbfemailAddress,reason\r\n"
        b"Ann@B\xc3\xbccher.example,bounce\r\n"
        b"x@example.org,UNSUBSCRIBE\r\n"
        b"caf\xe9@example.org,BOUNCE\r\n"
        b"no-at-sign,COMPLAINT\r\n"
    )
    items = read_bytes(BY_NAME["ses-import-csv"], data, "suppress.csv")
    assert [(r.email, r.state, r.line) for r in records(items)] == [
        ("Ann@Bücher.example", State.HARD_BOUNCED, 2)
    ]
    assert rejected(items) == [
        (3, "reason 'UNSUBSCRIBE' is not BOUNCE or COMPLAINT"),
        (4, "column 'emailAddress' is not UTF-8 (byte 0xE9)"),
        (5, "email address 'no-at-sign' is not an address"),
    ]


def test_a_headerless_csv_with_a_bom_counts_lines_from_one() -> None:
    data = b"\xef\xbb\xbfa@example.org,BOUNCE\nb@example.org,SOMETHING\n"
    items = read_bytes(BY_NAME["ses-import-csv"], data, "s.csv")
    assert [(r.email, r.line) for r in records(items)] == [("a@example.org", 1)]
    assert rejected(items) == [(2, "reason 'SOMETHING' is not BOUNCE or COMPLAINT")]


def test_notifications_by_line() -> None:
    items = read(BY_NAME["ses-sns-jsonl"], golden("ses", "notifications.jsonl"))
    assert rejected(items) == []
    bounce, complaint, unsubscribe = records(items)  # the delivery and confirmation: no state
    assert (bounce.email, bounce.state, bounce.line) == ("jane@example.com", State.HARD_BOUNCED, 1)
    assert bounce.evidence["smtp_status"] == "5.1.1"
    assert bounce.original_status == "hard-bounce (Permanent)"
    assert bounce.occurred is not None and bounce.occurred.raw == "2016-01-27T14:59:38.237Z"
    assert (complaint.email, complaint.state, complaint.actor) == (
        "richard@example.com", State.COMPLAINED, "recipient",
    )  # fmt: skip
    assert complaint.evidence["feedback_type"] == "abuse" and not complaint.review
    assert (unsubscribe.state, unsubscribe.scope, unsubscribe.line) == (
        State.UNSUBSCRIBED, REGION, 4,
    )  # fmt: skip


def _bounce(kind: str, sub: str, feedback: str | None = None) -> str:
    if feedback is not None:
        body = {"complaintFeedbackType": feedback, "timestamp": "2024-01-01T00:00:00.000Z",
                "complainedRecipients": [{"emailAddress": "c@example.org"}]}  # fmt: skip
        return json.dumps({"notificationType": "Complaint", "complaint": body, "mail": {}})
    recipients = [{"emailAddress": "a@example.org"}, {"emailAddress": "b@example.org"}]
    body = {"bounceType": kind, "bounceSubType": sub, "timestamp": "2024-01-01T00:00:00.000Z",
            "bouncedRecipients": recipients}  # fmt: skip
    return json.dumps({"notificationType": "Bounce", "bounce": body, "mail": {}})


def test_transient_bounces_are_never_suppressions_and_echoes_and_not_spam_are_marked() -> None:
    lines = [
        _bounce("Transient", "MailboxFull"),
        _bounce("Permanent", "OnAccountSuppressionList"),
        _bounce("", "", feedback="not-spam"),
        '{"notificationType": "Bounce", "bounce": {"bounceType": "Sideways"}, "mail": {}}',
        "not json",
    ]
    items = read_bytes(BY_NAME["ses-sns-jsonl"], "\n".join(lines).encode(), "n.jsonl")
    found = records(items)
    assert [(r.email, r.state) for r in found] == [
        ("a@example.org", State.UNKNOWN), ("b@example.org", State.UNKNOWN),
        ("a@example.org", State.HARD_BOUNCED), ("b@example.org", State.HARD_BOUNCED),
        ("c@example.org", State.COMPLAINED),
    ]  # fmt: skip
    assert found[2].evidence["note"] == "echo of an existing account suppression"
    assert found[4].review  # "not-spam": kept a complaint, for a person to look at
    (bad_type, line), (not_json, _) = rejected(items)
    assert bad_type == 4 and "bounceType" in line
    assert not_json == 5


def test_a_list_unsubscribe_tagged_with_a_consentry_list_keeps_its_list() -> None:
    event = json.loads(
        (FIXTURES.parent / "webhooks" / "ses" / "event-subscription.json").read_text()
    )
    event["mail"]["tags"] = {"consentry_list": ["news"]}
    items = read_bytes(BY_NAME["ses-sns-jsonl"], json.dumps(event).encode(), "n.jsonl")
    (unsubscribe,) = records(items)
    assert unsubscribe.scope == Scope("list", "news", "news")


def test_files_of_another_format_are_refused() -> None:
    with pytest.raises(InputError, match="SuppressedDestinationSummaries"):
        read(
            BY_NAME["ses-suppressed-destinations-json"],
            golden("postmark", "suppressions_dump.json"),
        )
    with pytest.raises(InputError, match="neither a header naming 'reason'"):
        read(BY_NAME["ses-import-csv"], golden("mailgun", "bounces.csv"))


def test_each_golden_file_is_recognised_by_exactly_one_format() -> None:
    for path in golden_files("ses"):
        assert sure_of(path) == {EXPECTED_FORMAT[path.name]}, path.name


def test_no_ses_format_is_sure_of_another_providers_files() -> None:
    for path in others_golden("ses"):
        scores = sniffs(READERS, path)
        assert max(scores.values()) < 60, (path, scores)


# ---------------------------------------------------------------------------- writers


def test_the_import_files_widen_unsubscribes_to_complaint_and_count_it() -> None:
    batch = [
        ExportRecord("a@example.org", State.HARD_BOUNCED, None, None, "hard-bounce"),
        ExportRecord("b@example.org", State.UNSUBSCRIBED, "news", None, "unsubscribe"),
        ExportRecord("c@example.org", State.COMPLAINED, None, None, "complaint"),
        ExportRecord("d@example.org", State.PENDING, "news", None, "consent"),
    ]
    csv_out, jsonl_out = io.BytesIO(), io.BytesIO()
    report = WRITER["ses-import-csv"].write(batch, csv_out)
    WRITER["ses-import-jsonl"].write(batch, jsonl_out)
    assert csv_out.getvalue() == (
        b"a@example.org,BOUNCE\nb@example.org,COMPLAINT\nc@example.org,COMPLAINT\n"
    )
    assert jsonl_out.getvalue().splitlines()[1] == (
        b'{"emailAddress": "b@example.org", "reason": "COMPLAINT"}'
    )
    assert report.written == 3
    assert report.widened == {
        "list-scoped unsubscribed -> account-wide (SES: account and region)": 1,
        "unsubscribed -> COMPLAINT (SES has no unsubscribe reason)": 1,
    }
    assert report.dropped == {"pending-confirmation (the SES suppression list holds no consent)": 1}


def _ses(record: ExportRecord) -> tuple[str, State, Scope] | None:
    if record.state not in SUPPRESSING:
        return None
    state = State.HARD_BOUNCED if record.state is State.HARD_BOUNCED else State.COMPLAINED
    return (record.email, state, REGION)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(export_records, max_size=25), st.sampled_from(["ses-import-csv", "ses-import-jsonl"])
)
def test_round_trip_import_files(batch: list[ExportRecord], fmt: str) -> None:
    found, report, items = round_trip(WRITER[fmt], BY_NAME[fmt], batch, "out")
    assert rejected(items) == []
    assert found == expected(batch, _ses)
    assert report.written == len(records(items)) == sum(r.state in SUPPRESSING for r in batch)


def test_written_csv_is_recognised_as_the_import_format() -> None:
    out = io.BytesIO()
    WRITER["ses-import-csv"].write(
        [ExportRecord("a@example.org", State.MANUALLY_SUPPRESSED, None, None, "manual")], out
    )
    (record,) = records(read_bytes(BY_NAME["ses-import-csv"], out.getvalue(), "x.csv"))
    assert isinstance(record, TransferRecord) and record.state is State.COMPLAINED


def test_a_junk_first_line_is_a_rejected_record_not_a_header() -> None:
    data = b"To,BOUNCE\na@example.org,BOUNCE\n"
    items = read_bytes(BY_NAME["ses-import-csv"], data, "s.csv")
    assert rejected(items) == [(1, "email address 'To' is not an address")]
    assert [r.line for r in records(items)] == [2]


def test_a_notification_longer_than_the_sniffed_head_is_still_recognised() -> None:
    bounce = json.loads(_bounce("Permanent", "General"))
    bounce["mail"]["headers"] = [{"name": f"X-Pad-{i}", "value": "x" * 100} for i in range(300)]
    data = json.dumps(bounce).encode() + b"\n"
    assert len(data) > 16384
    assert sniffs(READERS, _write(data))["ses-sns-jsonl"] >= 60


def _write(data: bytes) -> Path:
    directory = Path(tempfile.mkdtemp())
    path = directory / "events.jsonl"
    path.write_bytes(data)
    return path


def test_an_unreadable_update_time_keeps_the_suppression() -> None:
    data = b'{"SuppressedDestinationSummaries": [{"EmailAddress": "a@example.org", '
    data += b'"Reason": "BOUNCE", "LastUpdateTime": "later"}]}'
    (record,) = records(read_bytes(BY_NAME["ses-suppressed-destinations-json"], data, "s.json"))
    assert record.state is State.HARD_BOUNCED
    assert record.occurred is not None and record.occurred.at is None
    assert record.evidence["time_unreadable"] == "'LastUpdateTime' value 'later' is not a time"

"""Postmark: the documented suppression dump (hard bounce, spam complaint, manual suppression by
the recipient = unsubscribe, by the customer or Postmark staff = manual), unknown reasons and
origins rejected by record, and the create-suppressions bodies written 50 to a line, every
reason and list scope widened to ManualSuppression for the whole stream, counted."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.postmark import READERS, WRITERS
from consentry.domain.errors import InputError
from consentry.domain.transfer import SUPPRESSING, ExportRecord, Scope, State
from tests.codecs.transfer.suppression_support import (
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

(READER,) = READERS
(WRITER,) = WRITERS
STREAM = Scope("stream")


def test_the_documented_dump() -> None:
    items = read(READER, golden("postmark", "suppressions_dump.json"))
    assert rejected(items) == []
    found = [(r.email, r.state, r.actor, r.original_status, r.line) for r in records(items)]
    assert found == [
        ("address@wildbit.com", State.UNSUBSCRIBED, "recipient", "ManualSuppression/Recipient", 1),
        ("bounce.address@wildbit.com", State.HARD_BOUNCED, "system", "HardBounce/Recipient", 2),
        ("spam.complaint.address@wildbit.com", State.COMPLAINED, "recipient",
         "SpamComplaint/Recipient", 3),
    ]  # fmt: skip
    first = records(items)[0]
    assert first.scope == STREAM
    assert first.occurred is not None and first.occurred.raw == "2019-12-17T08:58:33-05:00"
    assert first.occurred.at == datetime(2019, 12, 17, 13, 58, 33, tzinfo=UTC)


def test_customer_and_admin_suppressions_are_manual_and_bad_records_rejected() -> None:
    items = read(READER, golden("postmark", "suppressions_all_origins.json"))
    assert [(r.email, r.state, r.actor) for r in records(items)] == [
        ("customer@example.com", State.MANUALLY_SUPPRESSED, "admin"),
        ("staff@example.com", State.MANUALLY_SUPPRESSED, "admin"),
        ("Mixed.Case@Bücher.example", State.HARD_BOUNCED, "system"),
    ]
    assert rejected(items) == [
        (4, "'SuppressionReason' value 'Blocked' is unknown"), (5, "no 'EmailAddress'"),
    ]  # fmt: skip


def test_a_request_body_reads_as_what_postmark_makes_of_it() -> None:
    items = read(READER, golden("postmark", "create_request.json"))
    assert {(r.state, r.original_status) for r in records(items)} == {
        (State.MANUALLY_SUPPRESSED, "ManualSuppression/Customer")
    }


def test_odd_records_bom_and_bad_bytes() -> None:
    data = (
        b'\xef\xbb\xbf{"Suppressions": ['
        b'{"EmailAddress": "a@example.org", "SuppressionReason": "ManualSuppression"},'
        b'{"EmailAddress": "b@x.org", "SuppressionReason": "ManualSuppression", "Origin": "Robot"},'
        b'{"EmailAddress": "c\xe9@example.org", "SuppressionReason": "HardBounce"},'
        b'{"EmailAddress": "d@x.org", "SuppressionReason": "HardBounce", "CreatedAt": "soon"},'
        b"[1]]}"
    )
    items = read_bytes(READER, data, "dump.json")
    no_origin, untimed = records(items)
    assert (no_origin.state, no_origin.review) == (State.MANUALLY_SUPPRESSED, True)
    assert (untimed.state, untimed.line) == (State.HARD_BOUNCED, 4)
    assert untimed.evidence["time_unreadable"] == "'CreatedAt' value 'soon' is not a time"
    assert rejected(items) == [
        (2, "'Origin' value 'Robot' is unknown"),
        (3, "field 'EmailAddress' is not UTF-8"),
        (5, "the suppression is not a JSON object"),
    ]


def test_files_of_another_format_are_refused() -> None:
    with pytest.raises(InputError, match="with a 'Suppressions' array"):
        read(READER, golden("ses", "suppressed_destinations.json"))
    with pytest.raises(InputError, match="not a postmark-suppressions-json file"):
        read(READER, golden("sendgrid", "unsubscribes.csv"))


def test_each_golden_file_is_recognised_by_exactly_one_format() -> None:
    for path in golden_files("postmark"):
        assert sure_of(path) == {"postmark-suppressions-json"}, path.name


def test_the_postmark_format_is_not_sure_of_another_providers_files() -> None:
    for path in others_golden("postmark"):
        assert sniffs(READERS, path)[READER.name] < 60, path


def test_the_writer_batches_50_and_counts_each_widening() -> None:
    batch = [
        ExportRecord(f"u{i}@example.org", State.UNSUBSCRIBED, None, None, "x") for i in range(50)
    ]
    batch += [
        ExportRecord("m@example.org", State.MANUALLY_SUPPRESSED, "news", None, "manual"),
        ExportRecord("c@example.org", State.CONSENTED, None, None, "consent"),
    ]
    out = io.BytesIO()
    report = WRITER.write(batch, out)
    first, second = out.getvalue().splitlines()
    assert len(json.loads(first)["Suppressions"]) == 50
    assert json.loads(second) == {"Suppressions": [{"EmailAddress": "m@example.org"}]}
    assert report.written == 51
    assert report.widened == {
        "unsubscribed -> ManualSuppression (origin Customer)": 50,
        "list-scoped manually-suppressed -> the whole message stream": 1,
    }
    assert report.dropped == {"consented (Postmark suppressions hold no consent)": 1}


def _manual(record: ExportRecord) -> tuple[str, State, Scope] | None:
    if record.state not in SUPPRESSING:
        return None
    return (record.email, State.MANUALLY_SUPPRESSED, STREAM)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(export_records, max_size=120))
def test_round_trip(batch: list[ExportRecord]) -> None:
    found, report, items = round_trip(WRITER, READER, batch, "out.jsonl")
    assert rejected(items) == []
    assert found == expected(batch, _manual)
    assert report.written == len(records(items)) == sum(r.state in SUPPRESSING for r in batch)

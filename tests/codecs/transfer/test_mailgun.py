"""Mailgun: bounces, unsubscribes (``*`` = the whole domain, any other tag its own scope) and
complaints from the documented API pages (the domain taken from their paging links) and the
import CSVs (``tags`` and the older ``tag`` header); RFC 2822 times; the three import CSVs
written, each complete on its own, every widening counted."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.mailgun import READERS, WRITERS
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

BY_NAME = {r.name: r for r in READERS}
WRITER = {w.name: w for w in WRITERS}
DOMAIN = Scope("domain", "samples.mailgun.org", "samples.mailgun.org")
NO_DOMAIN = Scope("domain")
EXPECTED_FORMAT = {
    "bounces.json": "mailgun-bounces-json",
    "unsubscribes.json": "mailgun-unsubscribes-json",
    "complaints.json": "mailgun-complaints-json",
    "bounces.csv": "mailgun-bounces-csv",
    "unsubscribes.csv": "mailgun-unsubscribes-csv",
    "unsubscribes_tag_header.csv": "mailgun-unsubscribes-csv",
    "complaints.csv": "mailgun-complaints-csv",
}
GMT = datetime(2011, 10, 21, 11, 2, 55, tzinfo=UTC)


def _golden(name: str) -> list:  # type: ignore[type-arg]
    items = read(BY_NAME[EXPECTED_FORMAT[name]], golden("mailgun", name))
    assert rejected(items) == []
    return records(items)


def test_api_pages_take_the_domain_from_their_paging_links() -> None:
    (bounce,) = _golden("bounces.json")
    assert (bounce.email, bounce.state, bounce.scope) == (
        "alice@example.com", State.HARD_BOUNCED, DOMAIN,
    )  # fmt: skip
    assert bounce.evidence == {
        "domain": "samples.mailgun.org", "smtp_status": "550", "diagnostic": "No such mailbox",
    }  # fmt: skip
    assert bounce.occurred is not None and bounce.occurred.at == GMT
    assert bounce.occurred.assumption == "explicit"
    (complaint,) = _golden("complaints.json")
    assert (complaint.state, complaint.scope, complaint.actor) == (
        State.COMPLAINED, DOMAIN, "recipient",
    )  # fmt: skip


def test_unsubscribes_with_star_are_domain_wide_and_other_tags_scoped_by_tag() -> None:
    found = [(r.email, r.scope, r.original_status) for r in _golden("unsubscribes.json")]
    assert found == [
        ("alice@example.com", DOMAIN, "unsubscribe (*)"),
        ("bob@example.com", Scope("tag", "some tag", "some tag"), "unsubscribe (tag some tag)"),
        ("carol@example.com", DOMAIN, "unsubscribe (*)"),  # the older singular "tag"
    ]


def test_import_csvs_read_with_their_optional_columns_empty() -> None:
    bounces = _golden("bounces.csv")
    assert [(r.email, r.evidence.get("smtp_status")) for r in bounces] == [
        ("alice@example.com", "550"), ("bob@example.com", "550"),
        ("carol@example.com", "550"), ("dan@example.com", None),
    ]  # fmt: skip
    assert bounces[0].occurred is not None and bounces[0].occurred.raw.endswith("UTC")
    assert {r.scope for r in bounces} == {NO_DOMAIN}  # a CSV does not name its domain
    unsubscribes = _golden("unsubscribes.csv")
    assert [r.scope for r in unsubscribes] == [
        Scope("tag", "some tag", "some tag"), NO_DOMAIN, NO_DOMAIN,
    ]  # fmt: skip
    (old,) = _golden("unsubscribes_tag_header.csv")
    assert old.scope == NO_DOMAIN and old.occurred is not None and old.occurred.at == GMT


def test_several_tags_in_one_field_give_one_record_each_and_star_wins() -> None:
    data = (
        b"address,tags,created_at\n"
        b'a@example.org,"news, offers",\n'
        b'b@example.org,"[""news"", ""*""]",\n'
    )
    found = [
        (r.email, r.scope)
        for r in records(read_bytes(BY_NAME["mailgun-unsubscribes-csv"], data, "u.csv"))
    ]
    assert found == [
        ("a@example.org", Scope("tag", "news", "news")),
        ("a@example.org", Scope("tag", "offers", "offers")),
        ("b@example.org", NO_DOMAIN),
    ]


def test_bad_rows_are_rejected_by_line_and_4xx_bounces_flagged() -> None:
    data = (
        b"\xef\xbb\xbfaddress,code,error,created_at\r\n"
        b'Ann@B\xc3\xbccher.Example,550,"two\r\nlines","Fri, 21 Oct 2011 11:02:55 +0200"\r\n'
        b"x@example.org,bounced,,\r\n"
        b"y@example.org,550,,not a date\r\n"
        b",550,,\r\n"
        b"z@example.org,421,,\r\n"
        b"w@example.org,550,caf\xe9,\r\n"
    )
    items = read_bytes(BY_NAME["mailgun-bounces-csv"], data, "bounces.csv")
    assert rejected(items) == [
        (4, "'code' value 'bounced' is not an SMTP reply code"),
        (6, "no address in 'address'"),
        (8, "column 'error' is not UTF-8 (byte 0xE9)"),
    ]
    idn, untimed, soft = records(items)
    assert untimed.occurred is not None and untimed.occurred.at is None
    assert untimed.evidence["time_unreadable"] == "'created_at' value 'not a date' is not a time"
    assert (idn.email, idn.line) == ("Ann@Bücher.Example", 2)
    assert idn.evidence["diagnostic"] == "two\r\nlines"
    assert idn.occurred is not None and idn.occurred.at == datetime(
        2011, 10, 21, 9, 2, 55, tzinfo=UTC
    )
    assert (soft.state, soft.review) == (State.HARD_BOUNCED, True)


def test_json_items_that_are_not_objects_or_not_utf8_are_rejected_by_number() -> None:
    data = (
        b'{"items": [{"address": "a@example.org"}, "x", {"address": "\xff@x.org"}], "paging": {}}'
    )
    items = read_bytes(BY_NAME["mailgun-complaints-json"], data, "complaints.json")
    assert rejected(items) == [
        (2, "the item is not a JSON object"),
        (3, "field 'address' is not UTF-8"),
    ]
    assert [r.scope for r in records(items)] == [NO_DOMAIN]


def test_files_of_another_format_are_refused() -> None:
    with pytest.raises(InputError, match="no 'address' column"):
        read(BY_NAME["mailgun-bounces-csv"], golden("sendgrid", "bounces.csv"))
    with pytest.raises(InputError, match="with a 'items' array"):
        read(BY_NAME["mailgun-bounces-json"], golden("postmark", "suppressions_dump.json"))


def test_each_golden_file_is_recognised_by_exactly_one_format() -> None:
    for path in golden_files("mailgun"):
        assert sure_of(path) == {EXPECTED_FORMAT[path.name]}, path.name


def test_no_mailgun_format_is_sure_of_another_providers_files() -> None:
    for path in others_golden("mailgun"):
        scores = sniffs(READERS, path)
        assert max(scores.values()) < 60, (path, scores)


# ---------------------------------------------------------------------------- writers

BOUNCED_AT = datetime(2011, 10, 21, 11, 2, 55, tzinfo=UTC)
BATCH = [
    ExportRecord("a@example.org", State.HARD_BOUNCED, None, BOUNCED_AT, "hard-bounce",
                 {"smtp_status": "5.1.1", "diagnostic": "550 5.1.1 unknown user"}),
    ExportRecord("b@example.org", State.UNSUBSCRIBED, "news", None, "unsubscribe"),
    ExportRecord("c@example.org", State.COMPLAINED, None, None, "complaint"),
    ExportRecord("d@example.org", State.CONSENTED, None, None, "consent"),
]  # fmt: skip


def test_the_bounces_file_keeps_code_error_and_time_and_widens_the_rest() -> None:
    out = io.BytesIO()
    report = WRITER["mailgun-bounces-csv"].write(BATCH, out)
    assert out.getvalue().decode().splitlines() == [
        "address,code,error,created_at",
        'a@example.org,550,550 5.1.1 unknown user,"Fri, 21 Oct 2011 11:02:55 GMT"',
        "b@example.org,550,suppressed in consentry: unsubscribed,",
        "c@example.org,550,suppressed in consentry: complained,",
    ]
    assert report.written == 3
    assert report.widened == {
        "unsubscribed -> bounces (Mailgun mailgun-bounces-csv)": 1,
        "list-scoped unsubscribed -> the whole domain": 1,
        "complained -> bounces (Mailgun mailgun-bounces-csv)": 1,
    }
    assert report.dropped == {"consented (Mailgun suppression lists hold no consent)": 1}


def test_the_unsubscribes_and_complaints_files() -> None:
    unsubscribes, complaints = io.BytesIO(), io.BytesIO()
    WRITER["mailgun-unsubscribes-csv"].write(BATCH, unsubscribes)
    WRITER["mailgun-complaints-csv"].write(BATCH, complaints)
    assert unsubscribes.getvalue().decode().splitlines() == [
        "address,tags,created_at",
        'a@example.org,*,"Fri, 21 Oct 2011 11:02:55 GMT"',
        "b@example.org,*,",
        "c@example.org,*,",
    ]
    assert complaints.getvalue().decode().splitlines()[0] == "address,created_at"


_STATE = {
    "mailgun-bounces-csv": State.HARD_BOUNCED,
    "mailgun-unsubscribes-csv": State.UNSUBSCRIBED,
    "mailgun-complaints-csv": State.COMPLAINED,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(export_records, max_size=25), st.sampled_from(sorted(_STATE)))
def test_round_trip_each_import_csv(batch: list[ExportRecord], fmt: str) -> None:
    found, report, items = round_trip(WRITER[fmt], BY_NAME[fmt], batch, "out.csv")
    assert rejected(items) == []

    def widened(record: ExportRecord) -> tuple[str, State, Scope] | None:
        if record.state not in SUPPRESSING:
            return None
        return (record.email, _STATE[fmt], NO_DOMAIN)

    assert found == expected(batch, widened)
    assert report.written == sum(r.state in SUPPRESSING for r in batch)
    timed = [r for r in records(items) if r.occurred is not None]
    assert all(r.occurred is not None and r.occurred.at is not None for r in timed)

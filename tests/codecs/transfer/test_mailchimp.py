"""The Mailchimp codec on golden audience-export CSVs, a zip built from them, and API member
JSON: status from the file name, the audience scope, evidence, the quirks (BOM, delimiters,
repeated headers, quoted line breaks, IDN and mixed-case addresses, bytes that are not UTF-8,
Excel apostrophes, truncated archives and documents), sniff scores, and the import CSVs."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.codecs.transfer.base import Reader
from consentry.codecs.transfer.mailchimp import READERS, WRITERS, MailchimpStatusCsvWriter
from consentry.codecs.transfer.mailchimp_api import JsonStream
from consentry.codecs.transfer.mailchimp_fields import audience_id, clean, status_of_name
from consentry.codecs.transfer.source import Source
from consentry.domain.errors import InputError
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    Item,
    RejectedRow,
    Scope,
    State,
    TransferRecord,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "transfer"
GOLDEN = FIXTURES / "mailchimp"
LIST = "1a2b3c4d5e"
AUDIENCE = Scope("audience", LIST)
STATUSES = ("subscribed", "unsubscribed", "cleaned", "nonsubscribed")
ZIP, CSV, API = READERS
UNSUBSCRIBED_CSV, CLEANED_CSV = WRITERS


def golden(status: str) -> Path:
    return GOLDEN / f"{status}_email_audience_export_{LIST}.csv"


def read(reader: Reader, path: Path) -> list[Item]:
    source = Source(path)
    try:
        return list(reader.read(source))
    finally:
        source.close()


def records(items: list[Item]) -> list[TransferRecord]:
    return [i for i in items if isinstance(i, TransferRecord)]


def rejected(items: list[Item]) -> list[RejectedRow]:
    return [i for i in items if isinstance(i, RejectedRow)]


def by_email(items: list[Item]) -> dict[str, TransferRecord]:
    return {r.email: r for r in records(items)}


def sniffs(path: Path) -> list[int]:
    source = Source(path)
    try:
        return [r.sniff(source) for r in READERS]
    finally:
        source.close()


def audience_zip(path: Path, names: dict[str, str]) -> Path:
    """A zip holding the golden CSVs of ``names`` (status -> member name)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for status, member in names.items():
            archive.writestr(member, golden(status).read_bytes())
    return path


# --- the status CSVs -------------------------------------------------------------------------


def test_the_subscribed_file_gives_consents_with_their_opt_in_evidence() -> None:
    items = read(CSV, golden("subscribed"))
    found = by_email(items)
    assert [(r.email, r.line) for r in records(items)] == [
        ("Alice.Example@Example.org", 2), ("bulk@example.com", 4),
        ("josé@bücher.example", 5), ("ops@example.net", 7),
    ]  # fmt: skip
    assert all(r.state is State.CONSENTED and r.scope == AUDIENCE for r in records(items))
    alice = found["Alice.Example@Example.org"]
    assert alice.original_status == "subscribed" and alice.file == golden("subscribed").name
    assert {k: v for k, v in alice.evidence.items() if k != "tags"} == {
        "optin_time": "2024-01-01 09:00:00", "optin_ip": "192.0.2.10",
        "confirm_time": "2024-01-01 09:05:00", "confirm_ip": "192.0.2.11",
        "last_changed": "2024-01-02 10:00:00", "euid": "c2cb0681af", "leid": "44877845",
    }  # fmt: skip
    assert json.loads(alice.evidence["tags"]) == ["Newsletter", "Early bird, 2024"]
    assert alice.occurred is not None and alice.occurred.raw == "2024-01-01 09:05:00"
    assert alice.occurred.at == datetime(2024, 1, 1, 9, 5, tzinfo=UTC)
    assert alice.occurred.assumption == "utc_assumed"
    (no_address,) = rejected(items)
    assert (no_address.line, no_address.reason) == (6, "no address in 'Email Address'")


def test_a_bulk_import_ip_is_marked_and_a_lone_confirmation_is_the_opt_in() -> None:
    found = by_email(read(CSV, golden("subscribed")))
    bulk = found["bulk@example.com"].evidence
    assert bulk["optin_ip"] == "127.0.0.1" and bulk["optin_ip_note"] == "bulk-import"
    assert "confirm_time" not in bulk and "confirm_note" in bulk  # same second: not a 2nd step
    lone = found["josé@bücher.example"].evidence
    assert lone["optin_time"] == "2013-06-25 17:38:27" and "confirm_time" not in lone


def test_excel_apostrophes_go_and_garbage_ips_are_not_evidence() -> None:
    ops = by_email(read(CSV, golden("subscribed")))["ops@example.net"].evidence
    assert ops["optin_ip"] == "203.0.113.7"  # was '203.0.113.7
    assert "confirm_ip" not in ops and ops["confirm_ip_invalid"] == "2024-06-25 09:26:27"
    assert clean("'+44 20 7946 0000") == "+44 20 7946 0000" and clean("'quoted") == "'quoted"


def test_unsubscribes_read_the_last_of_repeated_headers_and_name_the_admin() -> None:
    found = by_email(read(CSV, golden("unsubscribed")))
    assert {r.state for r in found.values()} == {State.UNSUBSCRIBED}
    bob = found["Bob@Example.COM"]
    assert bob.evidence["reason_text"] == "I no longer want to receive these emails"
    assert bob.actor == "recipient" and bob.evidence["campaign_id"] == "c0ffee1234"
    assert bob.occurred is not None and bob.occurred.raw == "2024-03-05 17:45:10"
    assert found["carol@example.net"].actor == "admin"  # "... by an admin"
    assert found["dave@example.org"].actor == "admin"  # "... by admin" (API v3 spelling)
    eve = found["eve@example.org"]  # the admin text sits in the merge field, not the system one
    assert eve.actor == "unknown" and "reason_text" not in eve.evidence
    assert eve.evidence["reason_other"] == "too many emails"


def test_cleaned_addresses_are_hard_bounces_and_keep_an_unreadable_time() -> None:
    found = by_email(read(CSV, golden("cleaned")))
    frank = found["frank@invalid.example"]
    assert frank.state is State.HARD_BOUNCED and frank.actor == "system"
    assert frank.evidence["campaign_title"] == "Bounce Campaign"
    grace = found["grace@example.org"]  # never rejected: the time is not required
    assert grace.occurred is not None and (grace.occurred.raw, grace.occurred.at) == (
        "yesterday", None,
    )  # fmt: skip


def test_nonsubscribed_contacts_are_not_consent() -> None:
    (shopper,) = records(read(CSV, golden("nonsubscribed")))
    assert shopper.state is State.UNKNOWN and shopper.original_status == "nonsubscribed"


def test_idn_and_mixed_case_addresses_are_kept_literally() -> None:
    emails = {r.email for s in STATUSES for r in records(read(CSV, golden(s)))}
    assert {"josé@bücher.example", "Bob@Example.COM", "Alice.Example@Example.org"} <= emails


@pytest.mark.parametrize(("bom", "sep"), [(b"\xef\xbb\xbf", b","), (b"", b";"), (b"", b"\t")])
def test_bom_semicolons_and_tabs_read_as_the_golden_file(
    tmp_path: Path, bom: bytes, sep: bytes
) -> None:
    text = golden("unsubscribed").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    out = io.StringIO()
    csv.writer(out, delimiter=sep.decode(), lineterminator="\r\n").writerows(rows)
    path = tmp_path / golden("unsubscribed").name
    path.write_bytes(bom + out.getvalue().encode())
    assert CSV.sniff(Source(path)) >= 60
    expected = read(CSV, golden("unsubscribed"))
    got = read(CSV, path)
    assert [(r.email, r.actor, dict(r.evidence)) for r in records(got)] == [
        (r.email, r.actor, dict(r.evidence)) for r in records(expected)
    ]


def test_bytes_that_are_not_utf8_reject_their_row_only(tmp_path: Path) -> None:
    data = golden("unsubscribed").read_bytes().replace(b"Carol", b"Car\xe9l")
    path = tmp_path / golden("unsubscribed").name
    path.write_bytes(data)
    items = read(CSV, path)
    (bad,) = rejected(items)
    assert bad.line == 3 and bad.reason == "column 'First Name' is not UTF-8 (byte 0xE9)"
    assert [r.email for r in records(items)] == [
        "Bob@Example.COM", "dave@example.org", "eve@example.org",
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "status", "list_id"), [
    ("subscribed_email_audience_export_9c62c33314.csv", "subscribed", "9c62c33314"),
    ("unsubscribed_email_audience_export_9c62c33314.csv", "unsubscribed", "9c62c33314"),
    ("nonsubscribed_email_audience_export_9c62c33314.csv", "nonsubscribed", "9c62c33314"),
    ("Non-Subscribed Email Audience Export 9c62c33314.csv", "nonsubscribed", "9c62c33314"),
    ("Subscribed Email Audience Export 9c62c33314.csv", "subscribed", "9c62c33314"),
    ("UNSUBSCRIBED_MEMBERS_EXPORT_ab12cd34ef.CSV", "unsubscribed", "ab12cd34ef"),
    ("cleaned_members_export_ab12cd34ef.csv", "cleaned", "ab12cd34ef"),
    ("audience_export_9c62c33314/Cleaned Email Audience Export 9c62c33314 (1).csv", "cleaned",
     "9c62c33314"),
    ("contacts.csv", None, None),
    ("resubscribed.csv", None, None),
])  # fmt: skip
def test_status_and_audience_come_from_the_name_longest_prefix_first(
    name: str, status: str | None, list_id: str | None
) -> None:
    assert status_of_name(name) == status and audience_id(name) == list_id


def test_a_renamed_file_keeps_its_status_and_audience(tmp_path: Path) -> None:
    path = tmp_path / "Unsubscribed Email Audience Export 9c62c33314.csv"
    path.write_bytes(golden("unsubscribed").read_bytes())
    got = records(read(CSV, path))
    assert len(got) == 4 and {r.scope for r in got} == {Scope("audience", "9c62c33314")}
    assert {r.state for r in got} == {State.UNSUBSCRIBED}


def test_a_file_named_otherwise_is_placed_by_its_columns_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(golden("cleaned").read_bytes())
    assert {r.state for r in records(read(CSV, path))} == {State.HARD_BOUNCED}
    path.write_bytes(golden("subscribed").read_bytes())  # subscribed or nonsubscribed? refuse
    with pytest.raises(InputError, match="cannot tell the Mailchimp status"):
        read(CSV, path)


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "subscribed_email_audience_export_x.csv"
    path.write_text("email,created\na@example.org,1709290800\n")
    assert sniffs(path) == [0, 0, 0]
    with pytest.raises(InputError, match="no 'Email Address' column"):
        read(CSV, path)
    with pytest.raises(InputError, match="not a zip"):
        read(ZIP, path)
    with pytest.raises(InputError, match="not JSON"):
        read(API, path)


# --- the zip ---------------------------------------------------------------------------------


def test_the_four_file_audience_zip_reads_every_status(tmp_path: Path) -> None:
    names = {s: f"audience_export_{LIST}/{s}_email_audience_export_{LIST}.csv" for s in STATUSES}
    path = audience_zip(tmp_path / f"audience_export_{LIST}.zip", names)
    assert sniffs(path)[0] == 100 and sniffs(path)[1:] == [0, 0]
    items = read(ZIP, path)
    assert Counter(r.state for r in records(items)) == {
        State.CONSENTED: 4, State.UNSUBSCRIBED: 4, State.HARD_BOUNCED: 2, State.UNKNOWN: 1,
    }  # fmt: skip
    assert {r.scope for r in records(items)} == {AUDIENCE}
    (no_address,) = rejected(items)
    assert no_address.file == f"{path.name}:{names['subscribed']}" and no_address.line == 6
    bob = by_email(items)["Bob@Example.COM"]
    assert bob.file == f"{path.name}:{names['unsubscribed']}" and bob.line == 2
    zipped = [r for r in records(items) if r.original_status == "unsubscribed"]
    single = records(read(CSV, golden("unsubscribed")))
    assert [(r.email, r.line, r.actor, dict(r.evidence)) for r in zipped] == [
        (r.email, r.line, r.actor, dict(r.evidence)) for r in single
    ]


def test_a_zip_member_that_is_not_an_export_is_rejected_at_line_1(tmp_path: Path) -> None:
    path = tmp_path / f"audience_export_{LIST}.zip"
    audience_zip(path, {"cleaned": golden("cleaned").name})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(f"unsubscribed_email_audience_export_{LIST}.csv", b"mail,when\nx,y\n")
    items = read(ZIP, path)
    (bad,) = rejected(items)
    assert bad.line == 1 and bad.file.endswith(f"unsubscribed_email_audience_export_{LIST}.csv")
    assert "'Email Address'" in bad.reason and len(records(items)) == 2


def test_a_legacy_zip_with_renamed_members_and_mac_litter(tmp_path: Path) -> None:
    path = tmp_path / "members_export_ab12cd34ef.zip"
    audience_zip(path, {
        "subscribed": "Subscribed Members Export ab12cd34ef.csv",
        "unsubscribed": "UNSUBSCRIBED_MEMBERS_EXPORT_AB12CD34EF.CSV",
        "cleaned": "cleaned_members_export_ab12cd34ef.csv",
    })  # fmt: skip
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("__MACOSX/._cleaned_members_export_ab12cd34ef.csv", b"\x00\x05junk")
        archive.writestr("readme.txt", b"exported by Mailchimp\n")
    assert sniffs(path)[0] >= 60
    items = read(ZIP, path)
    assert {r.scope for r in records(items)} == {Scope("audience", "ab12cd34ef")}
    assert Counter(r.original_status for r in records(items)) == {
        "subscribed": 4, "unsubscribed": 4, "cleaned": 2,
    }  # fmt: skip
    readme = [r for r in rejected(items) if r.file.endswith("readme.txt")]
    assert len(readme) == 1 and "not a Mailchimp status file" in readme[0].reason


def test_a_truncated_zip_is_refused_naming_the_file(tmp_path: Path) -> None:
    whole = audience_zip(tmp_path / "whole.zip", {s: golden(s).name for s in STATUSES})
    cut = tmp_path / f"audience_export_{LIST}.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(InputError) as caught:
        Source(cut)
    assert cut.name in str(caught.value) and "cut off" in str(caught.value)


def test_a_zip_member_with_a_bad_crc_is_refused_naming_the_member(tmp_path: Path) -> None:
    path = tmp_path / "audience_export_x.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("cleaned_email_audience_export_x.csv", golden("cleaned").read_bytes())
    data = bytearray(path.read_bytes())
    data[data.index(b"frank@") + 1] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"cleaned_email_audience_export_x\.csv"):
        Source(path)


def test_a_zip_without_status_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cat.jpg", b"\xff\xd8\xff")
    assert sniffs(path) == [0, 0, 0]
    with pytest.raises(InputError, match="no Mailchimp status CSV"):
        read(ZIP, path)


# --- API JSON --------------------------------------------------------------------------------


def test_a_members_page_document() -> None:
    items = read(API, GOLDEN / f"members_{LIST}.json")
    found = by_email(items)
    assert {(r.email, r.state, r.line) for r in records(items)} == {
        ("Kendall@Example.org", State.CONSENTED, 1), ("roy@example.com", State.CONSENTED, 2),
        ("newname@example.com", State.UNSUBSCRIBED, 3),
        ("bounced@invalid.example", State.HARD_BOUNCED, 4),
        ("waiting@example.net", State.PENDING, 5), ("buyer@shop.example", State.UNKNOWN, 6),
        ("hidden@example.org", State.MANUALLY_SUPPRESSED, 7),
        ("nogdpr@example.org", State.CONSENTED, 8),
    }  # fmt: skip
    assert {r.scope for r in records(items)} == {AUDIENCE}
    assert [(r.line, r.reason) for r in rejected(items)] == [
        (9, "unknown status 'deleted' in 'status'"), (10, "no address in 'email_address'"),
    ]  # fmt: skip
    kendall = found["Kendall@Example.org"]  # single opt-in: timestamp_opt is the opt-in
    assert kendall.evidence["optin_time"] == "2021-06-01T15:31:36+00:00"
    assert "confirm_time" not in kendall.evidence
    assert kendall.evidence["permission_text"] == "Email" and not kendall.review
    assert json.loads(kendall.evidence["tags"]) == ["vip", "Early bird, 2024"]
    assert kendall.occurred is not None and kendall.occurred.assumption == "explicit"
    roy = found["roy@example.com"]  # double opt-in: sign-up, then a later confirmation
    assert roy.evidence["optin_ip"] == "198.51.100.20"
    assert roy.evidence["confirm_time"] == "2021-06-01T15:10:00+00:00"
    assert found["newname@example.com"].actor == "admin"
    assert found["bounced@invalid.example"].actor == "system"
    assert found["hidden@example.org"].review  # archived hides the previous status
    assert found["nogdpr@example.org"].review  # every marketing permission refused


def test_json_lines_reject_a_bad_line_and_read_on() -> None:
    items = read(API, GOLDEN / "members.jsonl")
    assert [(r.email, r.state, r.line) for r in records(items)] == [
        ("Line.One@Example.org", State.CONSENTED, 1), ("zoë@exämple.org", State.UNSUBSCRIBED, 2),
        ("line.four@example.org", State.HARD_BOUNCED, 4),
    ]  # fmt: skip
    (bad,) = rejected(items)
    assert bad.line == 3 and bad.reason.startswith("line 3 is not JSON")
    assert by_email(items)["line.four@example.org"].scope == Scope("audience", "9z8y7x6w5v")


def test_json_lines_with_a_garbage_line_and_non_utf8_bytes(tmp_path: Path) -> None:
    member = {"email_address": "a@example.org", "status": "cleaned", "list_id": LIST}
    lines = [
        json.dumps(member).encode(),
        b"not json at all",
        b'{"email_address": "b\xff@x.org", "status": "unsubscribed", "list_id": "1a2b3c4d5e"}',
        json.dumps(member).encode(),
    ]
    path = tmp_path / "members.jsonl"
    path.write_bytes(b"\n".join(lines))
    items = read(API, path)
    assert [(r.line, r.reason.split(":")[0]) for r in rejected(items)] == [
        (2, "line 2 is not JSON"), (3, "'email_address' or 'status' is not UTF-8"),
    ]  # fmt: skip
    assert [r.line for r in records(items)] == [1, 4]


def test_a_cut_off_document_is_refused_naming_the_line(tmp_path: Path) -> None:
    text = (GOLDEN / f"members_{LIST}.json").read_text(encoding="utf-8")
    path = tmp_path / "members.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(InputError, match=r"members.json: unreadable JSON at line \d+"):
        read(API, path)


def test_a_bare_array_and_an_array_of_pages(tmp_path: Path) -> None:
    page = json.loads((GOLDEN / f"members_{LIST}.json").read_text(encoding="utf-8"))
    path = tmp_path / "members.json"
    path.write_text(json.dumps(page["members"]))
    bare = read(API, path)
    path.write_text(json.dumps([page, page]))
    paged = read(API, path)
    assert len(records(bare)) == 8 and len(records(paged)) == 16
    assert [r.line for r in rejected(paged)] == [9, 10, 19, 20]


def test_tiny_buffers_read_the_same_values() -> None:
    data = (GOLDEN / f"members_{LIST}.json").read_bytes()
    whole = json.loads(data)

    def walk(chunk: int) -> list[object]:
        stream = JsonStream(io.BytesIO(data), chunk)
        stream.take("{")
        assert stream.value() == "members"
        stream.take(":")
        return list(stream.array())

    assert walk(3) == walk(1 << 16) == whole["members"]


def test_a_large_document_streams_in_bounded_memory(tmp_path: Path) -> None:
    member = json.loads((GOLDEN / f"members_{LIST}.json").read_text(encoding="utf-8"))
    one = json.dumps(member["members"][0])
    path = tmp_path / "members.json"
    count = 4_000
    with path.open("w", encoding="utf-8") as out:
        out.write('{"members": [')
        out.write(",".join(one for _ in range(count)))
        out.write(f'], "list_id": "{LIST}", "total_items": {count}}}')
    assert path.stat().st_size > 4_000_000
    source = Source(path)
    tracemalloc.start()
    try:
        seen = sum(1 for _ in API.read(source))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        source.close()
    assert seen == count and peak < 1_500_000  # a third of the file, and flat in its size


# --- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "sure"), [
    *((golden(s).name, CSV.name) for s in STATUSES),
    (f"members_{LIST}.json", API.name), ("members.jsonl", API.name),
])  # fmt: skip
def test_each_golden_file_is_sure_for_exactly_its_reader(name: str, sure: str) -> None:
    scores = dict(zip((r.name for r in READERS), sniffs(GOLDEN / name), strict=True))
    assert scores[sure] >= 60 and all(s < 60 for n, s in scores.items() if n != sure)


def test_no_other_providers_golden_file_looks_like_mailchimp() -> None:
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or path.parent.name == "mailchimp" or path.suffix == ".md":
            continue
        try:
            scores = sniffs(path)
        except InputError:
            continue  # a deliberately broken fixture of another codec
        assert max(scores) < 60, (path, scores)


# --- writing ---------------------------------------------------------------------------------


def test_the_unsubscribed_csv_holds_every_suppression_and_counts_widenings() -> None:
    recs = [
        ExportRecord("Bob@Example.COM", State.UNSUBSCRIBED, "news", None, "unsubscribe"),
        ExportRecord("x@example.org", State.COMPLAINED, None, None, "complaint"),
        ExportRecord("y@bücher.example", State.MANUALLY_SUPPRESSED, "news", None, "legal"),
        ExportRecord("z@example.org", State.HARD_BOUNCED, "news", None, "hard-bounce"),
        ExportRecord("ok@example.org", State.CONSENTED, "news", None, "consent"),
        ExportRecord("p@example.org", State.PENDING, "news", None, "consent"),
    ]
    out = io.BytesIO()
    report = UNSUBSCRIBED_CSV.write(recs, out)
    assert out.getvalue().decode("utf-8") == (
        "Email Address\r\nBob@Example.COM\r\nx@example.org\r\ny@bücher.example\r\nz@example.org\r\n"
    )
    assert report.written == 4
    assert report.widened == {
        "complained -> unsubscribed": 1, "manually-suppressed -> unsubscribed": 1,
        "hard-bounced -> unsubscribed": 1,
        "global -> the audience it is imported into (import into each)": 1,
    }  # fmt: skip
    assert report.dropped == {
        "consented: Mailchimp's import carries no opt-in evidence": 1,
        "pending-confirmation: Mailchimp's import cannot start a confirmation": 1,
    }  # fmt: skip
    assert not out.closed  # the caller's stream stays open


def test_the_cleaned_csv_widens_other_suppressions_to_cleaned() -> None:
    recs = [
        ExportRecord("z@example.org", State.HARD_BOUNCED, None, None, "hard-bounce"),
        ExportRecord("u@example.org", State.UNSUBSCRIBED, "news", None, "withdrawal"),
    ]
    out = io.BytesIO()
    report = CLEANED_CSV.write(recs, out)
    assert out.getvalue() == b"Email Address\r\nz@example.org\r\nu@example.org\r\n"
    assert report.written == 2 and report.widened["unsubscribed -> cleaned"] == 1


def test_writer_names_and_suffixes() -> None:
    assert [(w.name, w.provider, w.suffix) for w in WRITERS] == [
        ("mailchimp-unsubscribed-csv", "mailchimp", ".csv"),
        ("mailchimp-cleaned-csv", "mailchimp", ".csv"),
    ]  # fmt: skip
    assert [r.name for r in READERS] == [
        "mailchimp-audience-zip", "mailchimp-audience-csv", "mailchimp-api-json",
    ]  # fmt: skip


_EMAILS = st.from_regex(
    r"[A-Za-z0-9'][A-Za-z0-9._+'-]{0,12}@(?:[a-z0-9]{1,8}|bücher|exämple|xn--bcher-kva)"
    r"\.(?:example|test|ORG)",
    fullmatch=True,
)
_RECORDS = st.lists(
    st.builds(
        ExportRecord, email=_EMAILS, state=st.sampled_from(list(State)),
        scope=st.one_of(st.none(), st.sampled_from(["news", "offers"])), at=st.none(),
        reason=st.sampled_from(["unsubscribe", "complaint", "hard-bounce", "manual", "consent"]),
    ),
    max_size=25,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(recs=_RECORDS)
def test_write_then_read_gives_the_same_suppressions(
    tmp_path_factory: pytest.TempPathFactory, recs: list[ExportRecord]
) -> None:
    folder = tmp_path_factory.mktemp("roundtrip")
    members = {}
    expected: set[tuple[str, State, Scope]] = set()
    for writer in WRITERS:
        assert isinstance(writer, MailchimpStatusCsvWriter)
        out = io.BytesIO()
        report = writer.write(recs, out)
        path = folder / f"{writer.status}_email_audience_export_{LIST}.csv"
        path.write_bytes(out.getvalue())
        members[path.name] = out.getvalue()
        wanted = {(r.email, writer.state, AUDIENCE) for r in recs if r.state in SUPPRESSING}
        items = read(CSV, path)
        assert not rejected(items)
        assert {(r.email, r.state, r.scope) for r in records(items)} == wanted
        assert report.written == sum(1 for r in recs if r.state in SUPPRESSING)
        assert sum(report.dropped.values()) == len(recs) - report.written
        expected |= wanted
    archive = folder / f"audience_export_{LIST}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    assert {(r.email, r.state, r.scope) for r in records(read(ZIP, archive))} == expected

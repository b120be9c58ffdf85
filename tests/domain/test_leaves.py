"""Leaf encoding v1: canonical, versioned, schema-checked, and the same bytes every time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.errors import InvalidLeaf
from consentry.domain.leaves import (
    SCHEMAS,
    LeafDraft,
    canonical_json,
    decode_leaf,
    encode_leaf,
    format_time,
    parse_time,
    place,
)
from tests.support import builders as b


def test_encoding_is_sorted_compact_utf8_with_the_envelope() -> None:
    raw = encode_leaf(b.list_created("nouvelles-é"), 7)
    text = raw.decode("utf-8")
    assert text.startswith('{"actor":"t","at":"2026-03-01T09:00:00.000000Z","kind":"list-created"')
    assert '"seq":7' in text and text.endswith('"v":1}')
    assert "é" in text  # UTF-8, not \\u escapes
    assert " " not in text.replace("nouvelles-é purpose", "")
    obj = json.loads(raw)
    assert list(obj) == sorted(obj)


def test_decode_round_trips_and_checks_canonical_form() -> None:
    draft = b.given(b.subject(1))
    leaf = place(draft, 3)
    decoded = decode_leaf(leaf.raw)
    assert (decoded.seq, decoded.kind, decoded.at, dict(decoded.fields)) == (
        3, "consent-given", draft.at, dict(draft.fields),
    )  # fmt: skip
    spaced = json.dumps(json.loads(leaf.raw), sort_keys=True).encode()
    with pytest.raises(InvalidLeaf, match="canonical"):
        decode_leaf(spaced)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"list": "x", "purpose": "p"}, "field 'actor' is missing"),
        ({"list": "x", "purpose": "p", "actor": "a", "extra": 1}, "unexpected field 'extra'"),
        ({"list": "", "purpose": "p", "actor": "a"}, "field 'list'"),
        ({"list": None, "purpose": "p", "actor": "a"}, "field 'list' is required"),
        ({"list": 3, "purpose": "p", "actor": "a"}, "field 'list' has the wrong type"),
    ],
)
def test_schema_errors_name_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidLeaf, match=message):
        encode_leaf(LeafDraft("list-created", b.T0, fields), 0)


def test_subject_must_be_a_hash_not_an_address() -> None:
    fields = b.consent_fields("alice@example.org")
    with pytest.raises(InvalidLeaf, match="field 'subject'"):
        encode_leaf(LeafDraft("consent-given", b.T0, fields), 0)


def test_floats_unknown_kinds_envelope_clashes_and_naive_times_are_refused() -> None:
    fields = b.consent_fields(b.subject(1), facts={"score": 0.5})
    with pytest.raises(InvalidLeaf, match="floating-point"):
        encode_leaf(LeafDraft("consent-given", b.T0, fields), 0)
    with pytest.raises(InvalidLeaf, match="unknown leaf kind"):
        encode_leaf(LeafDraft("consent-maybe", b.T0, {}), 0)
    with pytest.raises(InvalidLeaf, match="naive"):
        encode_leaf(
            LeafDraft(
                "list-created", datetime(2026, 1, 1), {"list": "x", "purpose": "p", "actor": "a"}
            ),
            0,
        )


def test_times_have_one_spelling() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert (
        format_time(datetime(2026, 3, 1, 11, 0, tzinfo=plus_two)) == "2026-03-01T09:00:00.000000Z"
    )
    assert parse_time("2026-03-01T09:00:00.000000Z") == datetime(2026, 3, 1, 9, tzinfo=UTC)
    for bad in (
        "2026-03-01T09:00:00Z",
        "2026-03-01 09:00:00.000000Z",
        "2026-03-01T09:00:00.000000+00:00",
    ):
        with pytest.raises(InvalidLeaf):
            parse_time(bad)


def test_kinds_are_kebab_case_and_no_field_shadows_the_envelope() -> None:
    import re

    from consentry.domain.leaves import ENVELOPE

    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", kind) for kind in SCHEMAS)
    assert not any(ENVELOPE & set(fields) for fields in SCHEMAS.values())


any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=any_json)
def test_the_fast_encoder_equals_the_standard_library(value: object) -> None:
    from consentry.domain.leaves import canonical_json_reference

    try:
        expected = canonical_json_reference(value)
    except UnicodeEncodeError:  # lone surrogates are not UTF-8: both must refuse
        with pytest.raises(InvalidLeaf):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_every_kind_in_the_schema_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ledger-format.md").read_text()
    for kind, fields in SCHEMAS.items():
        assert f"`{kind}`" in doc, kind
        for name in fields:
            assert f"`{name}`" in doc, (kind, name)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(facts=st.dictionaries(st.text(), json_values, max_size=5), seq=st.integers(0, 2**40))
def test_any_facts_round_trip_byte_for_byte(facts: dict[str, object], seq: int) -> None:
    draft = LeafDraft("consent-given", b.T0, b.consent_fields(b.subject(seq), facts=facts))
    raw = encode_leaf(draft, seq)
    leaf = decode_leaf(raw)
    assert leaf.fields["facts"] == facts
    assert encode_leaf(LeafDraft(leaf.kind, leaf.at, leaf.fields), leaf.seq) == raw
    assert b"\n" not in raw
    assert canonical_json(json.loads(raw)) == raw

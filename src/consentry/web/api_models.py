"""The admin API's request and response models (pydantic), which are also its OpenAPI schema.

Requests are strict (JSON types only, no coercion, unknown fields refused) and tight: names and
hashes by pattern, every free text bounded and free of control characters, so bad input is a 422
naming the field before any use case runs. Responses mirror what the services return.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from consentry.domain.profiles import Basis, Jurisdiction

# --- field types ----------------------------------------------------------------------------------

SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
#: One line of printable text (no C0 controls, no DEL).
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
#: Text that may span lines (tab, LF and CR allowed; other controls not).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
HASH_PATTERN = r"^[0-9a-f]{64}$"
Hash = Annotated[str, StringConstraints(pattern=HASH_PATTERN)]
#: Some characters, an @, a domain of at least two labels; the rest is consentry's to check.
EMAIL_PATTERN = r"^[^\x00-\x20\x7f@]+@[^\x00-\x20\x7f@.]+(\.[^\x00-\x20\x7f@.]+)+$"
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254, pattern=EMAIL_PATTERN),
    Field(
        description="An email address (canonicalised by consentry).", examples=["ann@example.org"]
    ),
]
Line = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE_PATTERN)]
Language = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$"), Field(examples=["en"])
]
#: Where a consent came from: ``first-party``, ``third-party:NAME`` or ``import:PROVIDER``.
GrantSource = Annotated[
    str,
    StringConstraints(
        pattern=r"^(first-party|third-party:[A-Za-z0-9._-]{1,64}|import:[A-Za-z0-9._-]{1,64})$"
    ),
]
#: Where an objection came from, e.g. ``first-party`` or ``third-party:crm``.
Source = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}(:[A-Za-z0-9._-]{1,64})?$")
]
EvidenceKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
EvidenceValue = Annotated[str, StringConstraints(max_length=2000, pattern=LINE_PATTERN)]
#: The evidence key consentry adds (the calling token's name); a caller may not send it.
TOKEN_EVIDENCE_KEY = "api_token"  # noqa: S105 (a key name, not a secret)
#: The reasons ``consent.suppress`` takes (``domain.state.SUPPRESS_REASONS``; a test holds them
#: equal).
SuppressReason = Literal["complaint", "hard-bounce", "legal", "manual", "unsubscribe"]


def _no_token_key(value: dict[str, str] | None) -> dict[str, str] | None:
    if value and TOKEN_EVIDENCE_KEY in value:
        raise ValueError(f"'{TOKEN_EVIDENCE_KEY}' is recorded by consentry; do not send it")
    return value


def _text_only(value: object) -> object:
    """A time must come as RFC 3339 text, not as a number of seconds."""
    if value is not None and not isinstance(value, str):
        raise ValueError("a time must be an RFC 3339 string, e.g. 2027-01-31T00:00:00Z")
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not 1970 <= utc.year <= 9998:
        raise ValueError("the time must be between 1970 and 9998")
    return utc


def _digits(value: object) -> object:
    """A query integer is written in digits (no ``1.0``, ``1e3`` or ``+1``)."""
    if isinstance(value, str) and not re.fullmatch(r"-?[0-9]{1,20}", value):
        raise ValueError("must be a whole number written in digits")
    return value


def _true_or_false(value: object) -> object:
    """A query flag is ``true`` or ``false`` (no ``yes``, ``on`` or ``1``)."""
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value


#: Leaf indexes and tree sizes in a query string, read strictly; flags likewise.
MAX_INDEX = 2**62
QueryInt = Annotated[int, Field(ge=0, le=MAX_INDEX), BeforeValidator(_digits)]
QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]

Evidence = Annotated[
    dict[EvidenceKey, EvidenceValue],
    Field(
        min_length=1, max_length=32, json_schema_extra={"additionalProperties": False},
        description="What the calling system holds as proof (IP, user agent, form, page...). "
        f"consentry adds '{TOKEN_EVIDENCE_KEY}': the calling token's name.",
        examples=[{"ip": "203.0.113.9", "form": "signup-v3"}],
    ),
    AfterValidator(_no_token_key),
]  # fmt: skip
FactValue = bool | Annotated[str, StringConstraints(max_length=64, pattern=LINE_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- requests -------------------------------------------------------------------------------------


class ListCreate(Strict):
    name: Slug
    purpose: Line


class NoticeCreate(Strict):
    text: Annotated[str, StringConstraints(min_length=1, max_length=10_000, pattern=TEXT_PATTERN)]
    language: Language = "en"
    media_type: Literal["text/plain", "text/html", "text/markdown"] = "text/plain"


class GrantIn(Strict):
    email: Email
    list: Slug
    basis: Basis = Field(strict=False)
    notice: Hash = Field(description="The hash returned when the notice was published.")
    method: Slug = Field(examples=["web-form"], description="How the consent was collected.")
    source: GrantSource
    evidence: Evidence
    confirmed: bool = Field(False, description="Double opt-in already confirmed.")
    jurisdiction: Jurisdiction | None = Field(
        None, strict=False, description="The recipient's (default: the organisation's)."
    )
    language: Language = "en"
    form_version: Slug | None = None
    valid_until: Annotated[
        AwareDatetime | None, BeforeValidator(_text_only), AfterValidator(_utc)
    ] = Field(None, strict=False, examples=["2028-01-31T00:00:00Z"])
    facts: dict[EvidenceKey, FactValue] = Field(
        default_factory=dict, max_length=16, json_schema_extra={"additionalProperties": False},
        description="What the basis rests on (docs/policy.md), e.g. {\"refusal_offered\": true}.",
    )  # fmt: skip


class WithdrawalIn(Strict):
    email: Email
    list: Slug | None = Field(None, description="One list; null or absent: every list.")
    channel: Slug = Field(examples=["web"], description="Where it came in: web, email, phone...")
    method: Slug = "request"
    source: Source = "first-party"
    evidence: Annotated[
        dict[EvidenceKey, EvidenceValue] | None,
        Field(max_length=32, json_schema_extra={"additionalProperties": False}),
        AfterValidator(_no_token_key),
    ] = None


class SuppressionIn(Strict):
    email: Email
    reason: SuppressReason
    list: Slug | None = Field(None, description="One list; null or absent: global.")
    source: Source = "first-party"


class ErasureIn(Strict):
    email: Email
    request: Line | None = Field(None, description="Reference of the erasure request.")


class SubjectIn(Strict):
    email: Email


# --- responses ------------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorOut(BaseModel):
    error: str = Field(description="The error's code, e.g. unknown-list or bad-input.")
    message: str
    fields: list[FieldProblem] = Field(default_factory=list)


class LeafRefOut(BaseModel):
    index: int
    hash: str


class ListOut(BaseModel):
    list_id: str
    purpose: str
    leaf: LeafRefOut


class NoticeOut(BaseModel):
    notice: str
    list_id: str
    version: int
    language: str
    leaf: LeafRefOut


class NoticeTextOut(NoticeOut):
    media_type: str
    text: str


class ListDetailOut(ListOut):
    notices: list[NoticeOut]


class PublishedOut(BaseModel):
    notice: str
    version: int
    created: bool = Field(description="False when this exact text was published already.")
    leaf: LeafRefOut | None


class RecordedOut(BaseModel):
    subject: str
    record: str
    leaves: list[LeafRefOut]


class ConsentStateOut(BaseModel):
    status: str
    basis: str
    confirmed: bool
    given_at: str
    source: str
    grant_index: int
    justifying_index: int | None


class SuppressionStateOut(BaseModel):
    scope: str
    reason: str
    leaf_index: int
    at: str


class SubjectStateOut(BaseModel):
    erased: bool
    consents: dict[str, ConsentStateOut]
    suppressions: list[SuppressionStateOut]


class SubjectOut(BaseModel):
    subject: str
    canonical: str
    address: str | None
    state: SubjectStateOut | None


class EventOut(BaseModel):
    index: int
    leaf_hash: str
    kind: str
    at: str
    fields: dict[str, Any]
    evidence: str | None = Field(None, description="The evidence blob (JSON), if any is left.")
    notice_text: str | None = None


class HistoryOut(SubjectOut):
    events: list[EventOut]


class CampaignStatusOut(BaseModel):
    campaign: str
    state: str
    list: str
    queued: int
    in_flight: int
    sent: int
    denied: int
    failed: int
    rejected: int
    uncertain: int
    total: int


class PreflightOut(BaseModel):
    campaign: str
    list: str
    content: str
    template_class: str
    jurisdiction_profile: str
    ruleset: str
    ledger_size: int
    recipients: int
    allowed: int
    denied: int
    allowed_without_justifying_record: int
    by_basis: dict[str, int]
    by_jurisdiction: dict[str, dict[str, int]]
    by_reason: dict[str, int]
    report_hash: str = Field(description="What an approver signs off (campaign approve).")


class CheckpointOut(BaseModel):
    size: int
    root_hash: str
    note: str
    created_at: str


class LedgerOut(BaseModel):
    size: int
    last_at: str | None
    latest_checkpoint: CheckpointOut | None


class VerifyOut(BaseModel):
    ok: bool
    tree_size: int
    root_hash: str
    checkpoints_checked: int
    first_bad_index: int | None
    problems: list[str]


class InclusionOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]


class NoteOut(BaseModel):
    note: str = Field(description="The signed checkpoint (C2SP signed note).")

"""The canonical model of provider migration (issue 5; reference/esp-formats.md §2).

Every provider codec (``consentry.codecs.transfer``) reads its files into
:class:`TransferRecord` values, one per (address, scope, state) observation, never merging or
overwriting, and :class:`RejectedRow` values for rows it cannot read (with the file, the line and
the reason). The import service applies records to the ledger; the export service turns the
ledger's state into :class:`ExportRecord` values that a codec writes in a provider's format.

Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal


class State(StrEnum):
    """esp-formats.md §2.1. Precedence for display: complained > unsubscribed >
    manually-suppressed > hard-bounced > pending-confirmation > consented > unknown."""

    CONSENTED = "consented"
    PENDING = "pending-confirmation"
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCED = "hard-bounced"
    COMPLAINED = "complained"
    MANUALLY_SUPPRESSED = "manually-suppressed"
    UNKNOWN = "unknown"  # not consent: transactional, implicit, "no DNC row", ...


#: States that block sending in their scope; an import applies them first and never lifts one.
SUPPRESSING: Final = frozenset(
    {State.UNSUBSCRIBED, State.HARD_BOUNCED, State.COMPLAINED, State.MANUALLY_SUPPRESSED}
)

ScopeKind = Literal[
    "global", "account", "region", "domain", "stream", "list", "group", "topic", "tag",
    "sender", "channel", "audience", "portal", "instance", "client",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the provider attached the state: its kind and the provider's id and name for it."""

    kind: str
    id: str | None = None
    name: str | None = None

    @property
    def is_global(self) -> bool:
        """Covers every list of ours: account-wide at the provider, or a scope consentry has no
        counterpart for and which spans lists (a sending domain, a message stream, a sender, a
        channel): those are widened to global, never narrowed to one list."""
        return self.kind in (
            "global", "account", "region", "portal", "instance", "client", "domain", "stream",
            "sender", "channel",
        )  # fmt: skip


GLOBAL: Final = Scope("global")

TzAssumption = Literal["explicit", "utc_assumed", "local_assumed"]


@dataclass(frozen=True, slots=True)
class TimeValue:
    """A timestamp as found (``raw``), the instant it was read as (UTC, or None when it could
    not be read) and the time-zone assumption made: ``explicit`` (the value carried its zone),
    ``utc_assumed`` (a naive value read as UTC) or ``local_assumed``."""

    raw: str
    at: datetime | None
    assumption: TzAssumption


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """One observation read from a provider file.

    ``email`` is the address as found (trimmed only; checked and canonicalised on import).
    ``evidence`` keys (all optional): ``optin_time``, ``optin_ip``, ``confirm_time``,
    ``confirm_ip``, ``legal_basis``, ``permission_text``, ``source``, ``reason_text``,
    ``smtp_status``, ``diagnostic`` (times as their raw text; ``occurred`` is the state's own
    time). ``review``: the state hides something a person should look at (Mailchimp
    ``archived``, Campaign Monitor ``Deleted``, HubSpot ``NOT_SUBSCRIBED``).
    ``original_status`` is the provider's own word for the state; ``file`` and ``line`` say
    where it was read (``line`` is the 1-based physical line where the row starts, or the
    1-based record number in a JSON document)."""

    email: str
    state: State
    scope: Scope
    file: str
    line: int
    original_status: str
    occurred: TimeValue | None = None
    actor: Literal["recipient", "admin", "system", "unknown"] = "unknown"
    evidence: Mapping[str, str] = field(default_factory=_empty)
    review: bool = False


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that could not be read: quarantined with where it was and why, never dropped
    silently. ``raw`` is the row's text, cut to a few hundred characters."""

    file: str
    line: int
    reason: str
    raw: str = ""


Item = TransferRecord | RejectedRow


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One suppression or consent to write for a target provider, from the ledger's state.

    ``scope`` is ``None`` for every list (a global suppression) or a list name. ``at`` is when
    the state began; ``reason`` the ledger's suppression reason (``unsubscribe``, ``withdrawal``,
    ``complaint``, ``hard-bounce``, ``manual``, ``legal``, ``erasure``) or ``consent``."""

    email: str
    state: State
    scope: str | None
    at: datetime | None
    reason: str
    evidence: Mapping[str, str] = field(default_factory=_empty)


@dataclass
class ExportReport:
    """What a codec wrote and what the target could not represent: each widening names the
    state or scope and what it became, with a count."""

    written: int = 0
    widened: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # consents a target cannot take

    def widen(self, what: str) -> None:
        self.widened[what] = self.widened.get(what, 0) + 1

    def drop(self, what: str) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + 1

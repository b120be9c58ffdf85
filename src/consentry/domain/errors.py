"""The one error tree of consentry.

Every error the product raises on purpose is a ``ConsentryError``. Each class carries the exit code
the CLI ends with and the HTTP status the web app answers with, so both front ends map errors the
same way and the codes are documented in one place (``docs/exit-codes.md`` is generated from it).

    ConsentryError (1, 500)
    ├── InputError (3, 400)                 bad input from a user or a file
    │   ├── InvalidAddress (10, 422)        an email address that cannot be canonicalised
    │   ├── UnknownList (11, 404)
    │   ├── UnknownNotice (12, 404)
    │   ├── MissingEvidence (13, 422)       a consent without its evidence
    │   ├── BasisForbidden (14, 422)        a lawful basis the profiles do not allow
    │   ├── InvalidLeaf (15, 422)           a leaf that breaks the ledger format
    │   ├── ProfileError (16, 422)          an organisation/jurisdiction profile that is unlawful
    │   ├── DuplicateList (17, 409)
    │   ├── UnknownSubject (18, 404)
    │   ├── NothingToConfirm (19, 409)
    │   ├── ProofRangeError (41, 400)       a proof asked for outside the tree
    │   ├── TemplateError (43, 422)         a template that does not compile or names unknown fields
    │   ├── HeaderInjection (44, 422)       a header value with CR, LF or NUL
    │   ├── SenderIdentityMissing (45, 422) what the jurisdiction asks the sender to show is missing
    │   ├── UnknownCampaign (46, 404)
    │   ├── CampaignStateError (47, 409)    a campaign verb its current state does not allow
    │   ├── ApprovalRequired (48, 409)      a campaign above the size limit without two approvals
    │   ├── InvalidMailURL (49, 400)        an SMTP URL or mail setting that cannot be used
    │   └── NotFound (52, 404)              a link or token that is not ours (never says why)
    ├── SetupError (20, 409)                ``consentry init`` missing or incomplete
    │   └── KeyMaterialError (21, 500)      a key file that is missing, unreadable or too open
    ├── StoreError (30, 503)                the database failed; the operation did nothing
    │   ├── CorruptStore (31, 500)          the file is not a consentry database
    │   └── AppendOnlyViolation (32, 500)   something tried to change or delete a ledger row
    ├── TransportError (50, 502)            the mail server cannot be reached or refused the session
    ├── DispatchHalted (51, 409)            the kill switch is engaged; nothing is handed off
    ├── VerificationFailed (40, 1)          the ledger does not verify; carries the first bad index
    └── ClockRegressed (42, 503)            the clock went backwards past the ledger's last time
"""

from __future__ import annotations


class ConsentryError(Exception):
    """Base of every error consentry raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ConsentryError):
    """Bad input from a user or a file; nothing was written."""

    exit_code = 3
    http_status = 400
    code = "bad-input"


class InvalidAddress(InputError):
    """An email address that cannot be canonicalised."""

    exit_code = 10
    http_status = 422
    code = "invalid-address"


class UnknownList(InputError):
    """A list that was never created."""

    exit_code = 11
    http_status = 404
    code = "unknown-list"


class UnknownNotice(InputError):
    """A notice hash that was not published for the list."""

    exit_code = 12
    http_status = 404
    code = "unknown-notice"


class MissingEvidence(InputError):
    """A consent without its evidence."""

    exit_code = 13
    http_status = 422
    code = "missing-evidence"


class BasisForbidden(InputError):
    """A lawful basis that the organisation or jurisdiction profile does not allow."""

    exit_code = 14
    http_status = 422
    code = "basis-forbidden"


class InvalidLeaf(InputError):
    """A leaf that breaks the ledger format."""

    exit_code = 15
    http_status = 422
    code = "invalid-leaf"


class ProfileError(InputError):
    """An organisation profile that the law does not allow (e.g. soft opt-in for a party)."""

    exit_code = 16
    http_status = 422
    code = "profile-error"


class DuplicateList(InputError):
    """A list that already exists."""

    exit_code = 17
    http_status = 409
    code = "duplicate-list"


class UnknownSubject(InputError):
    """An address the ledger knows nothing about."""

    exit_code = 18
    http_status = 404
    code = "unknown-subject"


class NothingToConfirm(InputError):
    """No unconfirmed consent or request to confirm."""

    exit_code = 19
    http_status = 409
    code = "nothing-to-confirm"


class ProofRangeError(InputError):
    """A proof asked for outside the tree."""

    exit_code = 41
    http_status = 400
    code = "proof-range"


class TemplateError(InputError):
    """A campaign template that does not compile, or names merge fields that do not exist."""

    exit_code = 43
    http_status = 422
    code = "template-error"


class HeaderInjection(InputError):
    """A header value from data containing CR, LF or NUL (R27); refused, nothing was sent."""

    exit_code = 44
    http_status = 422
    code = "header-injection"


class SenderIdentityMissing(InputError):
    """The sender identity lacks what the jurisdiction requires (R29)."""

    exit_code = 45
    http_status = 422
    code = "sender-identity-missing"


class UnknownCampaign(InputError):
    """No campaign of that name."""

    exit_code = 46
    http_status = 404
    code = "unknown-campaign"


class CampaignStateError(InputError):
    """A campaign verb that the campaign's current state does not allow."""

    exit_code = 47
    http_status = 409
    code = "campaign-state"


class ApprovalRequired(InputError):
    """A campaign above the approval threshold has not been approved by two people (R30)."""

    exit_code = 48
    http_status = 409
    code = "approval-required"


class InvalidMailURL(InputError):
    """An SMTP URL or mail setting that cannot be used."""

    exit_code = 49
    http_status = 400
    code = "invalid-mail-url"


class SetupError(ConsentryError):
    """consentry is not initialised here (no keys or organisation)."""

    exit_code = 20
    http_status = 409
    code = "not-initialised"


class KeyMaterialError(SetupError):
    """A key file that is missing, unreadable, malformed or readable by others."""

    exit_code = 21
    http_status = 500
    code = "key-material"


class StoreError(ConsentryError):
    """The database failed; the operation did nothing."""

    exit_code = 30
    http_status = 503
    code = "store-error"


class CorruptStore(StoreError):
    """The file is not a usable consentry database."""

    exit_code = 31
    http_status = 500
    code = "corrupt-store"


class AppendOnlyViolation(StoreError):
    """Something tried to change or delete a ledger row."""

    exit_code = 32
    http_status = 500
    code = "append-only"


class NotFound(InputError):
    """A link or token that is not ours; the answer never says why."""

    exit_code = 52
    http_status = 404
    code = "not-found"


class TransportError(ConsentryError):
    """The mail server cannot be reached, or refused the session (greeting, TLS, AUTH)."""

    exit_code = 50
    http_status = 502
    code = "transport-error"


class DispatchHalted(ConsentryError):
    """The global kill switch is engaged: no message is handed off until it is released."""

    exit_code = 51
    http_status = 409
    code = "dispatch-halted"


class VerificationFailed(ConsentryError):
    """The ledger does not verify; carries the first bad leaf index where it can be told.

    ``first_bad_index`` is ``None`` when only a whole range is known to be wrong."""

    exit_code = 40
    http_status = 409
    code = "verification-failed"

    def __init__(self, message: str, first_bad_index: int | None = None) -> None:
        super().__init__(message)
        self.first_bad_index = first_bad_index


class ClockRegressed(ConsentryError):
    """The clock went backwards past the ledger's last leaf; refused (fail closed)."""

    exit_code = 42
    http_status = 503
    code = "clock-regressed"


def all_error_classes() -> list[type[ConsentryError]]:
    """Every error class, depth first, for documentation and for the uniqueness test."""
    out: list[type[ConsentryError]] = []

    def walk(cls: type[ConsentryError]) -> None:
        out.append(cls)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(ConsentryError)
    return out

"""What Mailchimp's fields mean, shared by its export-file and API readers (esp-formats.md §1.1,
§2.2): status words to canonical states, the audience id in a file name, the opt-in evidence
(times and IPs as raw text), the admin-unsubscribe marker and the Excel artefacts to remove.

Decisions where the reference is unsure (each verified or marked in the module that uses it):

* ``archived`` hides the contact's previous status (§0.5): it becomes ``manually-suppressed``
  with ``review=True`` (the safer of §0.5 and §2.2's "unknown + review": an archived contact
  may have been an unsubscribe, and Mailchimp sends it nothing).
* A confirmation is recorded only when it is a separate, later event: Mailchimp fills
  ``CONFIRM_TIME`` / ``timestamp_opt`` for single opt-in and admin-added contacts too (a 2013
  export row has ``CONFIRM_TIME`` with no ``OPTIN_TIME``; the API returns ``timestamp_opt`` with
  an empty ``timestamp_signup`` for single opt-in members). When there is no earlier opt-in
  time, or both times are equal, the one time is the opt-in time and ``confirm_note`` says so,
  so a single opt-in is never imported as a double opt-in.
* An IP that does not parse (a real export had timestamps in ``CONFIRM_IP``) is kept under
  ``<key>_invalid``, never as evidence; a loopback opt-in IP (``127.0.0.1``: Mailchimp's mark of
  a bulk import) adds ``optin_ip_note = "bulk-import"``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Final, Literal

from consentry.domain.transfer import Scope, State

PROVIDER: Final = "mailchimp"

Actor = Literal["recipient", "admin", "system", "unknown"]

#: The status of an export file, from its name (a prefix, case-insensitive; longest first, so
#: ``unsubscribed_`` and ``nonsubscribed_`` are never read as ``subscribed_``).
FILE_STATUSES: Final = (
    ("non_subscribed", "nonsubscribed"),
    ("nonsubscribed", "nonsubscribed"),
    ("unsubscribed", "unsubscribed"),
    ("subscribed", "subscribed"),
    ("cleaned", "cleaned"),
)

#: Export file statuses and API statuses to canonical states (§2.2; ``transactional`` and the
#: nonsubscribed file are not consent).
STATES: Final = {
    "subscribed": State.CONSENTED,
    "unsubscribed": State.UNSUBSCRIBED,
    "cleaned": State.HARD_BOUNCED,
    "nonsubscribed": State.UNKNOWN,
    "transactional": State.UNKNOWN,
    "pending": State.PENDING,
    "archived": State.MANUALLY_SUPPRESSED,
}
API_STATUSES: Final = frozenset(STATES) - {"nonsubscribed"}

#: The reason Mailchimp gives an unsubscribe done by an account user. Seen as
#: "N/A (Unsubscribed by an admin)" (CruGlobal MPDX code) and "N/A (Unsubscribed by admin)" (a
#: stored API v3 response), so both spellings match.
_ADMIN_REASON = re.compile(r"n/a \(unsubscribed by (an )?admin\)\Z")
_SLUG = re.compile(r"[^0-9a-z]+")
_EXPORT_ID = re.compile(r"(?:^|_)export_([0-9a-z]+)")
#: A leading apostrophe that Excel puts before a number-like value to keep it text.
_EXCEL_QUOTE = re.compile(r"'(?=[+\d])")
SURROGATE: Final = re.compile("[\udc80-\udcff]")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z")


def slug(name: str) -> str:
    """A file name folded for matching: the last path part, lower-case, every run of other
    characters than letters and digits made one ``_`` (``Subscribed Email Audience Export
    9c62.csv`` -> ``subscribed_email_audience_export_9c62_csv``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _SLUG.sub("_", base.lower()).strip("_")


def status_of_name(name: str) -> str | None:
    """The export status a file's name starts with (``subscribed``, ``unsubscribed``,
    ``cleaned``, ``nonsubscribed``), or None."""
    folded = slug(name)
    for prefix, status in FILE_STATUSES:
        if folded.startswith(prefix + "_"):
            return status
    return None


def audience_id(*names: str) -> str | None:
    """The id after ``export_`` in the first of ``names`` that has one (``members_export_<id>``,
    ``..._audience_export_<id>``); Mailchimp names an export after its audience (list) id."""
    for name in names:
        found = _EXPORT_ID.search(slug(name))
        if found:
            return found.group(1)
    return None


def audience(list_id: str | None) -> Scope:
    return Scope("audience", list_id or None)


def clean(value: object) -> str:
    """A field as text, trimmed, with Excel's leading apostrophe removed from number-like
    values (``'+44 20 ...``, ``'2024-06-25 ...``); None and non-text values are empty."""
    if isinstance(value, str):
        text = value.strip()
        return _EXCEL_QUOTE.sub("", text, count=1) if text[:1] == "'" else text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def unsubscribe_actor(reason: str, campaign_id: str = "") -> Actor:
    """``admin`` for Mailchimp's admin marker; ``recipient`` when the unsubscribe came from a
    campaign (the link in it); otherwise unknown."""
    if _ADMIN_REASON.match(" ".join(reason.lower().split())):
        return "admin"
    return "recipient" if campaign_id else "unknown"


def opt_in_evidence(
    optin_time: str, optin_ip: str, confirm_time: str, confirm_ip: str
) -> dict[str, str]:
    """The opt-in and confirmation evidence (raw text; see the module docstring)."""
    evidence: dict[str, str] = {}
    if confirm_time and (not optin_time or confirm_time == optin_time):
        evidence["confirm_note"] = (
            f"confirmation time {confirm_time!r} has no earlier opt-in time: "
            "taken as the opt-in, not as a separate confirmation"
        )
        optin_time = optin_time or confirm_time
        optin_ip = optin_ip or confirm_ip
        if confirm_ip and confirm_ip != optin_ip:
            evidence["confirm_note"] += f" (confirmation IP {confirm_ip!r})"
        confirm_time = confirm_ip = ""
    for key, value in (
        ("optin_time", optin_time), ("optin_ip", optin_ip),
        ("confirm_time", confirm_time), ("confirm_ip", confirm_ip),
    ):  # fmt: skip
        if not value:
            continue
        if key.endswith("_ip") and not _is_ip(value):
            evidence[f"{key}_invalid"] = value
        else:
            evidence[key] = value
    optin_ip = evidence.get("optin_ip", "")
    if optin_ip.startswith("127.") or (
        ":" in optin_ip and ipaddress.ip_address(optin_ip).is_loopback
    ):
        evidence["optin_ip_note"] = "bulk-import"
    return evidence


def tags_text(tags: Iterable[str]) -> str:
    """Tag names as one evidence value (a JSON array, so commas and quotes stay exact)."""
    names = [t for t in tags if t]
    return json.dumps(names, ensure_ascii=False) if names else ""


def put(evidence: dict[str, str], **values: str) -> None:
    """Add the non-empty values."""
    evidence.update({k: v for k, v in values.items() if v})


def _is_ip(value: str) -> bool:
    if _IPV4.match(value):
        return True
    if ":" not in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True

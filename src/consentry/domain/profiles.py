"""Organisation and jurisdiction profiles (``reference/requirements.md`` §2.6), lawful bases,
and the grant-time checks: what the grant and the send (``domain.policy``) must agree on.

:data:`RULESET_VERSION` is written into every send decision. Bump it whenever a change could turn
any decision the other way (a new or removed basis, a changed window or default, a new condition):
``YYYY.MM.N``, the year and month of the change and a counter within the month. Wording, docs and
refactors that keep every decision the same do not bump it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from consentry.domain.business_days import add_months, utc_date
from consentry.domain.errors import BasisForbidden, InvalidLeaf, ProfileError
from consentry.domain.leaves import parse_time

RULESET_VERSION: Final = "2026.11.1"


class OrganisationType(StrEnum):
    COMMERCIAL = "commercial"
    CHARITY = "charity"
    POLITICAL_PARTY = "political-party"


class Jurisdiction(StrEnum):
    UK = "uk"
    EU = "eu"
    CA = "ca"
    US = "us"


class TemplateClass(StrEnum):
    MARKETING = "marketing"
    SERVICE = "service"


class Basis(StrEnum):
    CONSENT = "consent"
    UK_SOFT_OPTIN_COMMERCIAL = "uk_soft_optin_commercial"
    UK_SOFT_OPTIN_CHARITY = "uk_soft_optin_charity"
    EU_SOFT_OPTIN = "eu_soft_optin"
    CA_EXPRESS = "ca_express"
    CA_IMPLIED_EBR_PURCHASE = "ca_implied_ebr_purchase"
    CA_IMPLIED_EBR_INQUIRY = "ca_implied_ebr_inquiry"
    CA_IMPLIED_NBR = "ca_implied_nbr"
    US_OPTOUT = "us_optout"


#: The facts (each must be ``true``) a soft opt-in rests on (PECR reg 22(3), 22(3A); Art 13(2)).
SOFT_OPT_IN_FACTS: Final[Mapping[Basis, tuple[str, ...]]] = MappingProxyType(
    {
        Basis.UK_SOFT_OPTIN_COMMERCIAL: ("sale_or_negotiation", "refusal_offered"),
        Basis.UK_SOFT_OPTIN_CHARITY: ("charitable_interest", "refusal_offered"),
        Basis.EU_SOFT_OPTIN: ("sale_or_negotiation", "refusal_offered"),
    }
)
SOFT_OPT_IN_BASES: Final = frozenset(SOFT_OPT_IN_FACTS)
#: Soft opt-ins that rest on a sale and may only cover "similar products and services".
PRODUCT_SOFT_OPT_INS: Final = frozenset({Basis.UK_SOFT_OPTIN_COMMERCIAL, Basis.EU_SOFT_OPTIN})
CASL_IMPLIED_BASES: Final = frozenset(
    {Basis.CA_IMPLIED_EBR_PURCHASE, Basis.CA_IMPLIED_EBR_INQUIRY, Basis.CA_IMPLIED_NBR}
)
BASES_BY_JURISDICTION: Final[Mapping[Jurisdiction, frozenset[Basis]]] = MappingProxyType(
    {
        Jurisdiction.UK: frozenset(
            {Basis.CONSENT, Basis.UK_SOFT_OPTIN_COMMERCIAL, Basis.UK_SOFT_OPTIN_CHARITY}
        ),
        Jurisdiction.EU: frozenset({Basis.CONSENT, Basis.EU_SOFT_OPTIN}),
        Jurisdiction.CA: frozenset({Basis.CONSENT, Basis.CA_EXPRESS} | CASL_IMPLIED_BASES),
        Jurisdiction.US: frozenset({Basis.CONSENT, Basis.US_OPTOUT}),
    }
)
#: The organisation type each soft opt-in is for (PECR reg 22(3), 22(3A); ePrivacy Art 13(2)).
SOFT_OPT_IN_OWNER: Final[Mapping[Basis, OrganisationType]] = MappingProxyType(
    {
        Basis.UK_SOFT_OPTIN_COMMERCIAL: OrganisationType.COMMERCIAL,
        Basis.UK_SOFT_OPTIN_CHARITY: OrganisationType.CHARITY,
        Basis.EU_SOFT_OPTIN: OrganisationType.COMMERCIAL,
    }
)
#: PECR reg 22(3A), in force 5 February 2026 and not retrospective.
CHARITY_SOFT_OPT_IN_FROM: Final = date(2026, 2, 5)
#: CASL s.10(10) and (13): implied consent lasts while the send day is within this many calendar
#: months after the day of the last qualifying transaction (2 years, or 6 months for an inquiry).
CASL_WINDOW_MONTHS: Final[Mapping[Basis, int]] = MappingProxyType(
    {Basis.CA_IMPLIED_EBR_PURCHASE: 24, Basis.CA_IMPLIED_EBR_INQUIRY: 6, Basis.CA_IMPLIED_NBR: 24}
)
SOURCE_TYPES: Final = ("first-party", "third-party", "import")
#: Consent age-out in days per source type; third-party follows the ICO's historic 6 months.
DEFAULT_MAX_AGE_DAYS: Final[Mapping[str, int | None]] = MappingProxyType(
    {"first-party": 730, "third-party": 183, "import": 730}
)
POLITICAL_SOFT_OPT_IN: Final = "political parties cannot use any soft opt-in (PECR reg 22; Hansard)"
#: Keys `Organisation.from_settings` accepts; ``ruleset``, ``origin`` and ``actor`` are ignored.
_SETTINGS: Final = frozenset(
    {"controller", "organisation", "jurisdiction", "soft_opt_in", "max_age_days"}
    | {"ruleset", "origin", "actor"}
)


@dataclass(frozen=True)
class Organisation:
    """Build it with :func:`configure_organisation`; the policy re-checks every rule anyway."""

    controller: str
    type: OrganisationType
    jurisdiction: Jurisdiction
    soft_opt_in: frozenset[Basis] = frozenset()
    similar_products: frozenset[str] = frozenset()
    max_age_days: Mapping[str, int | None] = field(
        default_factory=lambda: DEFAULT_MAX_AGE_DAYS, hash=False
    )

    def to_settings(self) -> dict[str, Any]:
        """JSON-able settings; keys match the ``organisation-configured`` leaf where they can."""
        return {
            "controller": self.controller,
            "organisation": self.type.value,
            "jurisdiction": self.jurisdiction.value,
            "soft_opt_in": {
                "enabled": sorted(b.value for b in self.soft_opt_in),
                "similar_products": sorted(self.similar_products),
            },
            "max_age_days": {k: self.max_age_days[k] for k in sorted(self.max_age_days)},
            "ruleset": RULESET_VERSION,
        }

    @classmethod
    def from_settings(cls, d: Mapping[str, Any]) -> Organisation:
        """Inverse of :meth:`to_settings`, validated again; ``max_age_days`` may be absent."""
        if not isinstance(d, Mapping):
            raise ProfileError("organisation settings must be an object")
        unknown = sorted(set(d) - _SETTINGS)
        if unknown:
            raise ProfileError(f"unknown organisation setting '{unknown[0]}'")
        soft = d.get("soft_opt_in", {})
        if not isinstance(soft, Mapping) or set(soft) - {"enabled", "similar_products"}:
            raise ProfileError("soft_opt_in may only hold 'enabled' and 'similar_products'")
        try:
            return configure_organisation(
                controller=d["controller"],
                type=d["organisation"],
                jurisdiction=d["jurisdiction"],
                soft_opt_in=soft.get("enabled", ()),
                similar_products=soft.get("similar_products", ()),
                max_age_days=d.get("max_age_days"),
            )
        except KeyError as exc:
            raise ProfileError(f"organisation setting {exc.args[0]!r} is missing") from exc


def _member(enum: type[StrEnum], value: Any, what: str) -> Any:
    if value not in enum._value2member_map_:
        raise ProfileError(f"unknown {what} {value!r}; use one of {[m.value for m in enum]}")
    return enum(value)


def _strings(values: Iterable[Any], what: str) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ProfileError(f"{what} must be a list of strings")
    out = list(values)
    if not all(isinstance(v, str) and v for v in out):
        raise ProfileError(f"{what} must be a list of non-empty strings")
    return out


def _max_ages(given: Mapping[str, Any] | None) -> Mapping[str, int | None]:
    ages = dict(DEFAULT_MAX_AGE_DAYS)
    if not isinstance(given, Mapping | None):
        raise ProfileError("max_age_days must map source types to days or null")
    for key, value in (given or {}).items():
        if key not in SOURCE_TYPES:
            raise ProfileError(f"unknown source type {key!r} in max_age_days; use {SOURCE_TYPES}")
        if value is not None and (type(value) is not int or value < 0):
            raise ProfileError(f"max_age_days[{key!r}] must be a whole number >= 0, or null")
        ages[key] = value
    return MappingProxyType(ages)


def configure_organisation(
    controller: str,
    type: OrganisationType | str,
    jurisdiction: Jurisdiction | str,
    soft_opt_in: Iterable[Basis | str] = (),
    similar_products: Iterable[str] = (),
    max_age_days: Mapping[str, int | None] | None = None,
) -> Organisation:
    """A validated :class:`Organisation`; raises ProfileError saying what is unlawful or wrong."""
    if not isinstance(controller, str) or not controller.strip():
        raise ProfileError("controller must be a non-empty name")
    org_type: OrganisationType = _member(OrganisationType, type, "organisation type")
    where: Jurisdiction = _member(Jurisdiction, jurisdiction, "jurisdiction")
    enabled: set[Basis] = set()
    for name in _strings(soft_opt_in, "soft_opt_in"):
        basis = Basis(name) if name in Basis._value2member_map_ else None
        if basis not in SOFT_OPT_IN_BASES:
            choices = sorted(map(str, SOFT_OPT_IN_FACTS))
            raise ProfileError(f"{name!r} is not a soft opt-in; use one of {choices}")
        enabled.add(basis)
    products = frozenset(_strings(similar_products, "similar_products"))
    if enabled and org_type is OrganisationType.POLITICAL_PARTY:
        raise ProfileError(POLITICAL_SOFT_OPT_IN)
    for basis in sorted(enabled):
        owner = SOFT_OPT_IN_OWNER[basis]
        if org_type is not owner:
            raise ProfileError(f"{basis} is only for {owner} organisations, not {org_type}")
        if basis in PRODUCT_SOFT_OPT_INS and not products:
            raise ProfileError(f"{basis} needs similar_products: the product categories it covers")
    return Organisation(
        controller=controller,
        type=org_type,
        jurisdiction=where,
        soft_opt_in=frozenset(enabled),
        similar_products=products,
        max_age_days=_max_ages(max_age_days),
    )


def source_type(source: str) -> str:
    """The age-out class of ``first-party``, ``third-party:<name>`` or ``import:<provider>``.
    Anything else raises ProfileError (no age-out rule); the policy denies ``unknown-source``."""
    if source == "first-party":
        return "first-party"
    if isinstance(source, str):
        kind, sep, name = source.partition(":")
        if sep and name and kind in ("third-party", "import"):
            return kind
    raise ProfileError(f"source {source!r} is not first-party, third-party:<x> or import:<x>")


def basis_refusal(
    org: Organisation, basis: Basis, jurisdiction: Jurisdiction, facts: Mapping[str, Any]
) -> str | None:
    """Why this organisation may not use ``basis`` in ``jurisdiction`` at all, or None."""
    if basis not in BASES_BY_JURISDICTION[jurisdiction]:
        return f"{basis} is not a lawful basis in the {jurisdiction} profile"
    if basis in SOFT_OPT_IN_BASES:
        if org.type is OrganisationType.POLITICAL_PARTY:
            return f"{basis}: {POLITICAL_SOFT_OPT_IN}"
        if org.type is not SOFT_OPT_IN_OWNER[basis]:
            return f"{basis} is only for {SOFT_OPT_IN_OWNER[basis]} organisations"
        if basis not in org.soft_opt_in:
            return f"{basis} is not enabled for this organisation"
    if basis is Basis.CA_IMPLIED_NBR and not (
        org.type in (OrganisationType.CHARITY, OrganisationType.POLITICAL_PARTY)
        or facts.get("membership") is True
    ):
        return f"{basis} needs a charity or political party, or facts.membership (CASL s.10(13))"
    return None


def reference_time(facts: Mapping[str, Any], given_at: datetime) -> datetime:
    """The last qualifying transaction: ``facts.transaction_at`` when present, else ``given_at``.
    Raises InvalidLeaf for a transaction_at that is not RFC 3339 UTC."""
    value = facts.get("transaction_at")
    return given_at if value is None else parse_time(value)


def casl_window_end(basis: Basis, reference: date) -> date:
    """The last send day on which a CASL implied consent from ``reference`` still holds."""
    return add_months(reference, CASL_WINDOW_MONTHS[basis])


def check_grant(
    org: Organisation, basis: str, jurisdiction: str, facts: Mapping[str, Any], given_at: datetime
) -> None:
    """Reject, with BasisForbidden naming the basis and the reason, a grant the rules forbid.
    ``facts.transaction_at`` (soft opt-ins, CASL implied) is optional and defaults to
    ``given_at``; if present it must be RFC 3339 UTC and not after ``given_at``, and a CASL
    implied consent must not have lapsed already."""
    if basis not in Basis._value2member_map_:
        raise BasisForbidden(f"unknown lawful basis {basis!r}")
    if jurisdiction not in Jurisdiction._value2member_map_:
        raise BasisForbidden(f"{basis}: unknown jurisdiction {jurisdiction!r}")
    b, where = Basis(basis), Jurisdiction(jurisdiction)
    if not isinstance(facts, Mapping):
        raise BasisForbidden(f"{b}: facts must be an object")
    why = basis_refusal(org, b, where, facts)
    if why is not None:
        raise BasisForbidden(why)
    day = utc_date(given_at)
    if b is Basis.UK_SOFT_OPTIN_CHARITY and day < CHARITY_SOFT_OPT_IN_FROM:
        why = f"contacts collected before {CHARITY_SOFT_OPT_IN_FROM} do not qualify"
        raise BasisForbidden(f"{b}: {why} (PECR reg 22(3A) is not retrospective)")
    for key in SOFT_OPT_IN_FACTS.get(b, ()):
        if facts.get(key) is not True:
            raise BasisForbidden(f"{b} needs facts.{key} = true")
    category = facts.get("product_category")
    if b in PRODUCT_SOFT_OPT_INS and not (isinstance(category, str) and category):
        raise BasisForbidden(f"{b} needs facts.product_category: what was sold or negotiated")
    if b in SOFT_OPT_IN_BASES or b in CASL_IMPLIED_BASES:
        try:
            ref = reference_time(facts, given_at)
        except InvalidLeaf as exc:
            raise BasisForbidden(f"{b}: facts.transaction_at: {exc}") from None
        if ref > given_at:
            raise BasisForbidden(f"{b}: facts.transaction_at is after the grant")
        if b in CASL_IMPLIED_BASES and day > casl_window_end(b, utc_date(ref)):
            raise BasisForbidden(f"{b}: the implied consent had already lapsed when recorded")

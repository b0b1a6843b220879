"""Data categories: what kind of information a field carries, and what a score may make of it.

Declared once here, for every stage: the categories a source spec may give a field, which of
them are protected, which may feed a score factor (an allowlist: a category not listed as
``value`` or ``dating`` is refused, and so is any name that is not a category at all), which
the ledger keeps out of its events, and the words the factor guard refuses each with.
``unknown`` is the category of a field nobody has declared yet (``openbureau spec draft`` starts
every field there): a feed may be loaded with it, but no factor may derive from it until a
person sets the field's real category.
docs/ingest.md's table of categories is written from ``CATEGORIES`` (``ingest.docgen``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DataCategory(StrEnum):
    """What kind of information a field carries."""

    identity = "identity"
    location = "location"
    contact = "contact"
    reference = "reference"  # account numbers, case numbers, dates a record was reported
    credit = "credit"
    payment = "payment"
    inquiry = "inquiry"
    public_record = "public_record"
    purchase = "purchase"
    # Protected categories (GDPR Art. 9, ECOA): storable, never a score factor.
    political_opinion = "political_opinion"
    religion_or_belief = "religion_or_belief"
    race_or_ethnicity = "race_or_ethnicity"
    national_origin = "national_origin"
    health = "health"
    sex_life_or_orientation = "sex_life_or_orientation"
    trade_union_membership = "trade_union_membership"
    genetic_or_biometric = "genetic_or_biometric"
    sex = "sex"
    marital_status = "marital_status"
    # Not declared yet: loadable, never a factor until a person sets the real category.
    unknown = "unknown"

    @property
    def protected(self) -> bool:
        return CATEGORIES[self].protected


class FactorUse(StrEnum):
    """What a score factor may make of a field of a category."""

    value = "value"  # credit behaviour: a factor may derive from it
    dating = "dating"  # identifies or dates records: a factor may only date its rows by it
    never = "never"  # no factor may derive from it


PROTECTED_WHY = "a protected category that a credit score may never use"


@dataclass(frozen=True)
class CategoryRule:
    """How openbureau treats the fields of one category.

    Attributes:
        meaning: what the category holds (one line, for the docs).
        factor: what a score factor may make of it.
        why: for a category no factor may use, why (the factor guard's words).
        protected: a protected category (GDPR Art. 9, ECOA, the EU AI Act).
        in_ledger: its values may become ledger event columns; False: a field of it that a
            feed maps onto one is kept out of the event (counted per batch, see ledger.lineage).
    """

    meaning: str
    factor: FactorUse = FactorUse.never
    why: str = ""
    protected: bool = False
    in_ledger: bool = True


def _protected(meaning: str) -> CategoryRule:
    return CategoryRule(meaning, why=PROTECTED_WHY, protected=True, in_ledger=False)


CATEGORIES: dict[DataCategory, CategoryRule] = {
    DataCategory.identity: CategoryRule(
        "who a person is: names, date of birth, national ID, phone, email",
        why="who a person is never counts in a credit score",
    ),
    DataCategory.location: CategoryRule(
        "where a person lives: address, city, region, postcode, geohash, coordinates",
        why="where a person lives never counts in a credit score (it stands in for race and "
        "national origin)",
    ),
    DataCategory.contact: CategoryRule(
        "how a person is reached or addressed: salutation, preferred channel, social activity",
        why="how a person is reached or addressed never counts in a credit score",
    ),
    DataCategory.reference: CategoryRule(
        "identifies or dates a record: account and case numbers, the date a row was reported",
        FactorUse.dating,
        why="reference data may date a factor's rows, never be its value",
    ),
    DataCategory.credit: CategoryRule(
        "accounts: product, limit, balance, status, days past due", FactorUse.value
    ),
    DataCategory.payment: CategoryRule(
        "bills: amounts due and paid, due and paid dates, days late", FactorUse.value
    ),
    DataCategory.inquiry: CategoryRule("applications for credit", FactorUse.value),
    DataCategory.public_record: CategoryRule(
        "judgments, bankruptcies, liens: filing, amount, resolution", FactorUse.value
    ),
    DataCategory.purchase: CategoryRule(
        "what a person buys: purchases, merchants, spending categories",
        why="openbureau never scores what people buy",
        in_ledger=False,
    ),
    DataCategory.political_opinion: _protected("political opinions"),
    DataCategory.religion_or_belief: _protected("religious or philosophical beliefs"),
    DataCategory.race_or_ethnicity: _protected("racial or ethnic origin"),
    DataCategory.national_origin: _protected("national origin, citizenship, country of birth"),
    DataCategory.health: _protected("physical or mental health, medical debt and care"),
    DataCategory.sex_life_or_orientation: _protected("sex life or sexual orientation"),
    DataCategory.trade_union_membership: _protected("trade-union membership"),
    DataCategory.genetic_or_biometric: _protected("genetic or biometric data"),
    DataCategory.sex: _protected("sex or gender, and what reveals it (a title such as Mrs)"),
    DataCategory.marital_status: _protected("marital or civil status"),
    DataCategory.unknown: CategoryRule(
        "not declared yet: where `openbureau spec draft` starts every field, until a person "
        "sets its category",
        why="nobody has declared its data category yet (`openbureau spec draft` starts every "
        "field as unknown): a person must set it before a factor may derive from it",
    ),
}
assert set(CATEGORIES) == set(DataCategory), "every category needs its rule"

PROTECTED_CATEGORIES: frozenset[DataCategory] = frozenset(
    c for c, rule in CATEGORIES.items() if rule.protected
)
# What a factor may derive from (its value), and what it may only date its rows by.
FACTOR_CATEGORIES: frozenset[DataCategory] = frozenset(
    c for c, rule in CATEGORIES.items() if rule.factor is FactorUse.value
)
DATING_CATEGORIES: frozenset[DataCategory] = frozenset(
    c for c, rule in CATEGORIES.items() if rule.factor is FactorUse.dating
)
# Kept out of the ledger's event columns when a feed maps a field of them onto one.
KEPT_OUT_OF_LEDGER: frozenset[DataCategory] = frozenset(
    c for c, rule in CATEGORIES.items() if not rule.in_ledger
)


def rule_of(category: str) -> CategoryRule | None:
    """The rule of ``category`` (a name as stored or declared); None for an unknown name."""
    try:
        return CATEGORIES[DataCategory(category)]
    except ValueError:
        return None


def listing(categories: frozenset[DataCategory]) -> str:
    """``categories`` in declaration order, comma-separated (for messages)."""
    return ", ".join(c.value for c in DataCategory if c in categories)

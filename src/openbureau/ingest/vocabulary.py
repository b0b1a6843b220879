"""The canonical vocabularies: every value a coded canonical field may hold, declared once;
and the type of every canonical target the ledger reads as a number or a date.

A furnisher's codes are mapped onto these values by the ``codes`` table of a spec field; a table
that maps to a value outside its target's vocabulary is refused when the spec is loaded, and a
value the table lacks is quarantined (``unknown_code``). The ledger reads the same declarations
(the delinquency rank of each account status, the kinds of payments and public records), and
docs/ingest.md lists them from here (``python -m openbureau.ingest.docgen``).

A target the ledger reads as an amount, a count of days or a date (``TYPED_TARGETS``) has a
fixed type, as identity fields do: a spec giving it another type is refused when it is loaded,
so its values are always read with the type's strict syntax and bounds (a ``string`` would load
``-5`` as a credit limit, and ``N/A`` would stop the ledger).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One canonical value and what it means."""

    value: str
    meaning: str
    shown: str = ""  # how a person's file shows it, when the value itself reads badly


@dataclass(frozen=True)
class Vocabulary:
    """The values a canonical field may hold, and which fields they govern."""

    name: str
    title: str
    terms: tuple[Term, ...]
    targets: tuple[str, ...] = ()  # canonical targets whose values it governs
    also_governs: str = ""  # in words: what else takes its values (a ledger block's kind ...)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(t.value for t in self.terms)

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    @property
    def label(self) -> str:
        """The vocabulary's name in a sentence: "account status"."""
        return self.title.split(" (")[0].lower()

    def listing(self) -> str:
        """The values as a reader sees them in an error message."""
        return ", ".join(self.values)

    def sql_list(self) -> str:
        """The values as a SQL list, for ``IN (...)``."""
        return ", ".join("'" + v + "'" for v in self.values)


ACCOUNT_STATUS = Vocabulary(
    "account_status",
    "Account status (payment status of a month)",
    (
        Term("current", "paid as agreed; not past due", "paid as agreed"),
        Term("dpd30", "30 to 59 days past due", "30 days late"),
        Term("dpd60", "60 to 89 days past due", "60 days late"),
        Term("dpd90", "90 to 119 days past due", "90 days late"),
        Term("dpd120", "120 to 149 days past due", "120 days late"),
        Term("dpd150", "150 or more days past due", "150+ days late"),
        Term("chargeoff", "charged off: the lender wrote the debt off as a loss", "charged off"),
        Term("closed", "closed in good standing (paid off, or closed by either side)", "closed"),
    ),
    # (payment_rating: Metro 2's Payment Rating, the standing of an account in the month it
    # was closed or paid; see ingest.accuracy, which checks it against the status)
    targets=("payment_status", "payment_rating"),
)

PRODUCT = Vocabulary(
    "product",
    "Product (kind of credit account)",
    (
        Term("card", "credit card: revolving credit with a limit"),
        Term("auto_loan", "car loan: instalments, secured on the vehicle"),
        Term("personal_loan", "unsecured instalment loan"),
        Term("mortgage", "loan secured on a home"),
    ),
    targets=("product",),
)

INQUIRY_PURPOSE = Vocabulary(
    "inquiry_purpose",
    "Inquiry purpose (what the applicant applied for)",
    (
        Term("card", "an application for a credit card"),
        Term("auto_loan", "an application for a car loan"),
        Term("personal_loan", "an application for a personal loan"),
        Term("mortgage", "an application for a mortgage"),
    ),
    targets=("inquiry_type",),
)

PUBLIC_RECORD_KIND = Vocabulary(
    "public_record_kind",
    "Public record kind",
    (
        Term("civil_judgment", "a court ordered the person to pay a debt"),
        Term("bankruptcy_ch7", "bankruptcy with liquidation of assets (US Chapter 7)"),
        Term("bankruptcy_ch11", "bankruptcy with a reorganisation plan (US Chapter 11)"),
        Term("bankruptcy_ch12", "bankruptcy of a family farmer or fisherman (US Chapter 12)"),
        Term("bankruptcy_ch13", "bankruptcy with a repayment plan (US Chapter 13)"),
        Term(
            "bankruptcy_undesignated",
            "bankruptcy whose chapter the report does not say (Metro 2 indicator Z)",
        ),
        Term("tax_lien", "a tax authority's claim on the person's property for unpaid tax"),
    ),
    targets=("case_type",),
    also_governs="a public_record feed's `ledger.kind`, and the target its `ledger.kind_from` "
    "names",
)

PAYMENT_KIND = Vocabulary(
    "payment_kind",
    "Payment kind (alternative data)",
    (
        Term("utility", "a utility bill: water, power, gas"),
        Term("telecom", "a telephone, mobile or internet bill"),
        Term("rent", "rent due on a lease"),
    ),
    also_governs="a payment feed's `ledger.kind`",
)

ACCOUNT_ROLE = Vocabulary(
    "account_role",
    "Account role (the consumer's relationship to the account; Metro 2's ECOA code)",
    (
        Term("individual", "only this consumer is liable"),
        Term("joint", "liable jointly with the other consumers of the account"),
        Term("authorised_user", "may use the account, but is not liable for it"),
        Term("co_signer", "co-maker or co-signer: liable if the maker does not pay"),
        Term("maker", "liable, with a co-maker or co-signer"),
        Term("terminated", "no longer associated with the account"),
        Term("business", "a business account the consumer is personally liable for"),
        Term("deceased", "the consumer has died"),
        Term("delete_consumer", "the furnisher asks to remove this consumer from the account"),
    ),
    targets=("account_role",),
)

BOOLEAN = Vocabulary(
    "boolean",
    "Boolean",
    (Term("true", "yes"), Term("false", "no")),
    also_governs="the `codes` of every field of `type: boolean`",
)

VOCABULARIES: tuple[Vocabulary, ...] = (
    ACCOUNT_STATUS,
    PRODUCT,
    INQUIRY_PURPOSE,
    PUBLIC_RECORD_KIND,
    PAYMENT_KIND,
    ACCOUNT_ROLE,
    BOOLEAN,
)

_BY_TARGET = {t: v for v in VOCABULARIES for t in v.targets}


def for_target(target: str) -> Vocabulary | None:
    """The vocabulary a canonical target's values must come from, if it has one."""
    return _BY_TARGET.get(target)


# How bad each account status is: the ledger's ``status_rank``, what "worse" means for the
# delinquency features. A row with no status is ranked from its days past due: the rank of the
# worst status whose fewest days it reaches (``current`` below 30).
STATUS_RANK: dict[str, int] = {
    "current": 0,
    "closed": 0,
    "dpd30": 1,
    "dpd60": 2,
    "dpd90": 3,
    "dpd120": 4,
    "dpd150": 5,
    "chargeoff": 6,
}
DAYS_PAST_DUE: dict[str, int] = {
    "dpd30": 30,
    "dpd60": 60,
    "dpd90": 90,
    "dpd120": 120,
    "dpd150": 150,
}
CHARGED_OFF = "chargeoff"
CURRENT = "current"  # paid as agreed
CLOSED = "closed"  # closed in good standing
REVOLVING = "card"  # the product whose balance over its limit is a utilisation
# Statuses of an account in good standing (rank 0): what a lender's summary counts as not late.
GOOD_STANDING: tuple[str, ...] = tuple(s for s in ACCOUNT_STATUS if STATUS_RANK[s] == 0)
# Public record kinds that are a bankruptcy: a default for the training outcome.
BANKRUPTCIES: tuple[str, ...] = tuple(k for k in PUBLIC_RECORD_KIND if k.startswith("bankruptcy"))

if set(STATUS_RANK) != set(ACCOUNT_STATUS.values) or not set(DAYS_PAST_DUE) <= set(STATUS_RANK):
    raise AssertionError("every account status needs a rank (vocabulary.STATUS_RANK)")
if not {CHARGED_OFF, CURRENT, CLOSED} <= set(ACCOUNT_STATUS.values):
    raise AssertionError("vocabulary.CHARGED_OFF, CURRENT and CLOSED must be account statuses")
if not set(BANKRUPTCIES) <= set(PUBLIC_RECORD_KIND.values):
    raise AssertionError("vocabulary.BANKRUPTCIES must be public record kinds")


@dataclass(frozen=True)
class TypedTarget:
    """A canonical target the ledger reads as a number or a date, and the types it may have."""

    target: str
    types: tuple[str, ...]  # field types a spec may give it; the first is the usual one
    meaning: str


_DATE = ("date", "month")
_MONTH = ("month", "date")

# Every canonical target the ledger reads with a type (ledger/_schema.py checks its columns
# against this). A spec must give each the type listed; a string would bypass the strict syntax
# and the bounds of its values.
TYPED_TARGETS: tuple[TypedTarget, ...] = (
    TypedTarget("balance", ("amount",), "amount owed on the account"),
    TypedTarget("amount_past_due", ("amount",), "amount of the balance that is past due"),
    TypedTarget(
        "charge_off_amount",
        ("amount",),
        "original charge-off amount (Metro 2): the amount the lender wrote off as a loss",
    ),
    TypedTarget("credit_limit", ("amount",), "credit limit of the account"),
    TypedTarget("original_amount", ("amount",), "amount lent at the start of a loan"),
    TypedTarget("amount_due", ("amount",), "amount a bill asked for"),
    TypedTarget("amount_paid", ("amount",), "amount paid against a bill"),
    TypedTarget("amount", ("amount",), "amount of a judgment or lien"),
    TypedTarget("days_past_due", ("integer",), "days an account is past due"),
    TypedTarget("days_late", ("integer",), "days a bill was paid after its due date"),
    TypedTarget("period", _MONTH, "the month a row reports"),
    TypedTarget("opened_date", _DATE, "day the account was opened"),
    TypedTarget("closed_date", _DATE, "day the account was closed"),
    TypedTarget(
        "first_delinquency_date",
        _DATE,
        "date of first delinquency (Metro 2 DOFD): the day the delinquency that led to the "
        "account's late status or charge-off began; ageing-off counts from it",
    ),
    TypedTarget("last_payment_date", _DATE, "day of the account's most recent payment"),
    TypedTarget("due_date", _DATE, "day a bill was due"),
    TypedTarget("paid_date", _DATE, "day a bill was paid"),
    TypedTarget("inquiry_date", _DATE, "day of an application for credit"),
    TypedTarget("filed_date", _DATE, "day a public record was filed"),
    TypedTarget("satisfied_date", _DATE, "day a judgment was satisfied"),
    TypedTarget("released_date", _DATE, "day a lien was released"),
    TypedTarget("resolved_date", _DATE, "day a public record was resolved"),
    TypedTarget("reported_date", _DATE, "day the furnisher reported the row"),
)

_TYPES = {t.target: t.types for t in TYPED_TARGETS}
DATE_TYPES = _DATE  # the types of a target a ledger block names as a date (event_date ...)


def types_of(target: str) -> tuple[str, ...] | None:
    """The field types a canonical target may have, if the ledger fixes them."""
    return _TYPES.get(target)

"""Metro 2 (character format), declared once: where each field sits, what its codes mean.

Metro 2 is the US credit industry's standard furnisher format (the CDIA's Credit Reporting
Resource Guide, CRRG). A file is a header record, one record per account and reporting month,
and a trailer record. Every record starts with a four-character record descriptor word (RDW):
the record's length. An account's record is a 426-character base segment (the account and its
primary consumer), followed in a variable-length file by any number of appended segments, each
known by its first two characters: J1 and J2 (associated consumers: joint holders, authorised
users, co-signers), K1 (original creditor), K2 (purchased from or sold to), K3 (mortgage
information), K4 (specialised payment), L1 (account number change) and N1 (employment).

Positions are the CRRG's: 1-based, inclusive, checked against the CFPB's open Metro 2 evaluator
(cfpb/Metro2, ``parse_m2/fields.py``) and moov-io/metro2 (``pkg/lib/specifications.go``),
whose tables agree. Nothing here is copied from them: the tables are written from the positions.

``format: metro2`` in a source spec takes its fields, record key and ledger mapping from here
(``builtin_spec``); ``ingest._metro2_records`` reads a file with them; docs/ingest.md's Metro 2
tables are written from here (``ingest.docgen``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openbureau.ingest import vocabulary

BASE_LENGTH = 426
# Appended segments: identifier -> length (the identifier's two characters included).
SEGMENTS: dict[str, int] = {
    "J1": 100,
    "J2": 200,
    "K1": 34,
    "K2": 34,
    "K3": 40,
    "K4": 30,
    "L1": 54,
    "N1": 146,
}
SEGMENT_MEANING: dict[str, str] = {
    "J1": "associated consumer at the base consumer's address",
    "J2": "associated consumer at another address",
    "K1": "original creditor",
    "K2": "purchased from or sold to",
    "K3": "mortgage information",
    "K4": "specialised payment information",
    "L1": "account number or identification number change",
    "N1": "employment of the base consumer",
}
# What tells a record's kind: the header and trailer say so from position 5; a base segment
# has its processing indicator there, always 1.
HEADER_ID = (5, "HEADER")
TRAILER_ID = (5, "TRAILER")
BASE_ID = (5, "1")
# Portfolio types (position 73) whose highest credit is the amount lent: installment, mortgage.
LOAN_PORTFOLIOS = ("I", "M")
DATE_FORMAT = "%m%d%Y"  # Metro 2 writes dates MMDDYYYY, zero-filled when there is none


@dataclass(frozen=True)
class Field:
    """One field of a segment, as the source spec's field it becomes."""

    column: str  # the CRRG's name
    start: int
    end: int
    target: str
    type: str = "string"
    category: str = "credit"
    read: str = "text"  # how the characters become the value (see _metro2_records.READS)
    required: bool = False

    def spec(self) -> dict[str, Any]:
        """The field as a source spec writes it."""
        data: dict[str, Any] = {
            "column": self.column,
            "start": self.start,
            "end": self.end,
            "target": self.target,
            "type": self.type,
            "category": self.category,
        }
        if self.type in ("date", "month"):
            data["formats"] = [DATE_FORMAT]
        if self.required:
            data["required"] = True
        if self.target == "payment_status":
            data["codes"] = status_codes()
        if self.target == "account_role":
            data["codes"] = dict(ECOA)
        if self.target == "payment_rating":  # (the month's standing, the status's scale)
            data["codes"] = {k: v for k, (v, _) in RATING.items()}
        return data


# The base segment's fields that are loaded (the others are counted, not kept: time stamp,
# cycle identifier, terms, interest type, reserved, address indicator, residence code).
BASE_FIELDS: tuple[Field, ...] = (
    Field("Identification Number", 21, 40, "identification_number", category="reference"),
    Field("Consumer Account Number", 43, 72, "account_id", category="reference", required=True),
    Field("Portfolio Type", 73, 73, "portfolio_type"),
    Field("Account Type", 74, 75, "account_type"),
    Field("Account Type (product)", 74, 75, "product", read="product"),
    Field("Date Opened", 76, 83, "opened_date", "date", read="date"),
    Field("Credit Limit", 84, 92, "credit_limit", "amount"),
    Field("Highest Credit or Original Loan Amount", 93, 101, "highest_credit", "amount"),
    Field("Original Loan Amount (portfolio I or M)", 93, 101, "original_amount", "amount",
          read="loan_amount"),
    Field("Scheduled Monthly Payment Amount", 106, 114, "scheduled_payment", "amount"),
    Field("Actual Payment Amount", 115, 123, "actual_payment", "amount"),
    Field("Account Status", 124, 125, "metro2_status"),
    Field("Payment Rating", 126, 126, "payment_rating", "code"),
    Field("Account Status and Payment Rating", 124, 126, "payment_status", "code", read="status"),
    Field("Payment History Profile", 127, 150, "payment_history_profile"),
    Field("Special Comment", 151, 152, "special_comment"),
    Field("Compliance Condition Code", 153, 154, "compliance_condition", category="reference"),
    Field("Current Balance", 155, 163, "balance", "amount"),
    Field("Amount Past Due", 164, 172, "amount_past_due", "amount"),
    Field("Original Charge-off Amount", 173, 181, "charge_off_amount", "amount"),
    Field("Date of Account Information", 182, 189, "reported_date", "date", "reference",
          read="date", required=True),
    Field("Date of Account Information (month)", 182, 189, "period", "month", read="date",
          required=True),
    Field("Date of First Delinquency", 190, 197, "first_delinquency_date", "date", read="date"),
    Field("Date Closed", 198, 205, "closed_date", "date", read="date"),
    Field("Date of Last Payment", 206, 213, "last_payment_date", "date", read="date"),
    Field("Surname", 232, 256, "last_name", category="identity"),
    Field("First Name", 257, 276, "first_name", category="identity"),
    Field("Middle Name", 277, 296, "middle_name", category="identity"),
    Field("Generation Code", 297, 297, "name_suffix", category="identity", read="generation"),
    Field("Social Security Number", 298, 306, "national_id", category="identity", read="ssn"),
    Field("Date of Birth", 307, 314, "dob", "date", "identity", read="date"),
    Field("Telephone Number", 315, 324, "phone", category="identity", read="phone"),
    Field("ECOA Code", 325, 325, "account_role", "code"),
    Field("Consumer Information Indicator", 326, 327, "consumer_information"),
    Field("First Line of Address", 330, 361, "address_line1", category="location"),
    Field("Second Line of Address", 362, 393, "address_line2", category="location"),
    Field("City", 394, 413, "city", category="location"),
    Field("State", 414, 415, "region", category="location"),
    Field("Postal/Zip Code", 416, 424, "postcode", category="location"),
)  # fmt: skip

# Values taken from the appended segments of a record (the first of its kind), as fields of the
# base row: positions inside the segment.
SEGMENT_FIELDS: tuple[tuple[str, Field], ...] = (
    ("K1", Field("K1 Original Creditor Name", 3, 32, "original_creditor", category="reference")),
    ("K1", Field("K1 Creditor Classification", 33, 34, "creditor_classification")),
    ("K2", Field("K2 Purchased From/Sold To Indicator", 3, 3, "sale_indicator",
                 category="reference")),
    ("K2", Field("K2 Purchased From/Sold To Name", 4, 33, "sale_party", category="reference")),
    ("K2", Field("K2 Sold To Name (indicator 2)", 4, 33, "sold_to", category="reference",
                 read="sold_to")),
    ("L1", Field("L1 Change Indicator", 3, 3, "change_indicator", category="reference")),
    ("L1", Field("L1 New Consumer Account Number", 4, 33, "new_account_id", "string",
                 "reference")),
    ("L1", Field("L1 New Identification Number", 34, 53, "new_identification_number",
                 category="reference")),
)  # fmt: skip

# An associated consumer (J1 or J2), in the J2 segment's layout: a J1 consumer lives at the
# base consumer's address, so its positions 100-198 are the base segment's 328-426.
ASSOCIATED_FIELDS: tuple[Field, ...] = (
    Field("Surname", 4, 28, "last_name", category="identity"),
    Field("First Name", 29, 48, "first_name", category="identity"),
    Field("Middle Name", 49, 68, "middle_name", category="identity"),
    Field("Generation Code", 69, 69, "name_suffix", category="identity", read="generation"),
    Field("Social Security Number", 70, 78, "national_id", category="identity", read="ssn"),
    Field("Date of Birth", 79, 86, "dob", "date", "identity", read="date"),
    Field("Telephone Number", 87, 96, "phone", category="identity", read="phone"),
    Field("ECOA Code", 97, 97, "account_role", "code", required=True),
    Field("Consumer Information Indicator", 98, 99, "consumer_information"),
    Field("First Line of Address", 102, 133, "address_line1", category="location"),
    Field("Second Line of Address", 134, 165, "address_line2", category="location"),
    Field("City", 166, 185, "city", category="location"),
    Field("State", 186, 187, "region", category="location"),
    Field("Postal/Zip Code", 188, 196, "postcode", category="location"),
)  # fmt: skip
J1_ADDRESS_FROM_BASE = (328, 99)  # base positions 328-426 are J2 positions 100-198

# ECOA codes (CRRG Exhibit 10) -> the canonical account role (vocabulary.ACCOUNT_ROLE).
ECOA: dict[str, str] = {
    "1": "individual",
    "2": "joint",
    "3": "authorised_user",
    "5": "co_signer",
    "7": "maker",
    "T": "terminated",
    "W": "business",
    "X": "deceased",
    "Z": "delete_consumer",
}
# Roles that end a consumer's association with the account (T: terminated, Z: delete the
# consumer): the record's month is no report on that consumer's file (the ledger maps it onto
# no event of theirs).
ENDED_ROLES: tuple[str, ...] = (ECOA["T"], ECOA["Z"])
# The role that also takes back what was reported: Z says the consumer was reported on the
# account in error, so the account, its earlier months included, leaves their file (T keeps
# the months before the association ended).
DELETED_ROLE = ECOA["Z"]

# Account status codes (CRRG field 17A) -> the canonical account status. Codes whose status is
# read with the payment rating (field 17B) say so: the rating then says how late the account
# was in the month (13 with rating 2: closed or paid while 60-89 days late).
STATUS: dict[str, tuple[str, str]] = {
    "05": ("by_rating", "account transferred to another office"),
    "11": ("current", "current account (0-29 days past the due date)"),
    "13": ("by_rating", "paid or closed account, zero balance"),
    "61": ("chargeoff", "paid in full, was a voluntary surrender"),
    "62": ("chargeoff", "paid in full, was a collection account"),
    "63": ("chargeoff", "paid in full, was a repossession"),
    "64": ("chargeoff", "paid in full, was a charge-off"),
    "65": ("chargeoff", "paid in full, a foreclosure was started"),
    "71": ("dpd30", "30-59 days past the due date"),
    "78": ("dpd60", "60-89 days past the due date"),
    "80": ("dpd90", "90-119 days past the due date"),
    "82": ("dpd120", "120-149 days past the due date"),
    "83": ("dpd150", "150-179 days past the due date"),
    "84": ("dpd150", "180 days or more past the due date"),
    "88": ("chargeoff", "claim filed with the government for the insured portion of the balance"),
    "89": ("chargeoff", "deed received in lieu of foreclosure on a defaulted mortgage"),
    "93": ("chargeoff", "account assigned to internal or external collections"),
    "94": ("chargeoff", "foreclosure completed; there may be a balance due"),
    "95": ("chargeoff", "voluntary surrender; there may be a balance due"),
    "96": ("chargeoff", "merchandise repossessed; there may be a balance due"),
    "97": ("chargeoff", "unpaid balance reported as a loss (charge-off)"),
}
# What a by_rating status is with no rating, or rating 0.
STATUS_UNRATED: dict[str, str] = {"05": "current", "13": "closed"}
# Statuses that end the account at this furnisher whatever its rating (which says how late it
# was then) and whether a Date Closed is sent: paid or closed (13), transferred to another
# office (05), which reports it from then on. From such a report the account is not open, nor
# past due now (ledger._pit); a later report that says otherwise opens it again.
TRANSFERRED = "05"
ENDED_STATUSES: tuple[str, ...] = (TRANSFERRED, "13")
# Delete requests (not statuses): the furnisher asks for the account's reports to go.
DELETES: dict[str, str] = {
    "DA": "delete the entire account (not for fraud)",
    "DF": "delete the entire account because of confirmed fraud",
}
# The suppression reason (ledger) a delete request gives the account's reports.
DELETE_REASON: dict[str, str] = {"DA": "deleted_by_furnisher", "DF": "fraud"}
# Payment rating (CRRG field 17B) -> the canonical account status.
RATING: dict[str, tuple[str, str]] = {
    "0": ("current", "current (0-29 days past the due date)"),
    "1": ("dpd30", "30-59 days past the due date"),
    "2": ("dpd60", "60-89 days past the due date"),
    "3": ("dpd90", "90-119 days past the due date"),
    "4": ("dpd120", "120-149 days past the due date"),
    "5": ("dpd150", "150-179 days past the due date"),
    "6": ("dpd150", "180 days or more past the due date"),
    "G": ("chargeoff", "collection"),
    "L": ("chargeoff", "charge-off"),
}

# Payment History Profile (CRRG field 18): one character per month, the month before the Date of
# Account Information first, then back to 24 months before it -> the canonical account status of
# that month; None: the character says there is no history for the month (none is made up).
HISTORY_MONTHS = 24
HISTORY: dict[str, tuple[str | None, str]] = {
    "0": ("current", "0 payments past due (current account)"),
    "1": ("dpd30", "30-59 days past the due date"),
    "2": ("dpd60", "60-89 days past the due date"),
    "3": ("dpd90", "90-119 days past the due date"),
    "4": ("dpd120", "120-149 days past the due date"),
    "5": ("dpd150", "150-179 days past the due date"),
    "6": ("dpd150", "180 days or more past the due date"),
    "B": (None, "no payment history available before this month"),
    "D": (None, "no payment history reported or available this month"),
    "E": ("current", "zero balance and current account"),
    "G": ("chargeoff", "collection"),
    "H": ("chargeoff", "foreclosure completed"),
    "J": ("chargeoff", "voluntary surrender"),
    "K": ("chargeoff", "repossession"),
    "L": ("chargeoff", "charge-off"),
}

# Compliance Condition Code (CRRG field 20): a condition the furnisher reports once and the
# bureau keeps on the account until another code, or XR (removal), is reported -> what every
# reader of the account is told (None: nothing, the condition removed).
COMPLIANCE: dict[str, str | None] = {
    "XA": "closed at the consumer's request",
    "XB": "disputed by the consumer (FCRA): the furnisher is investigating",
    "XC": "the furnisher completed its investigation of the consumer's dispute (FCRA); the "
    "consumer disagrees",
    "XD": "closed at the consumer's request, and disputed by the consumer (FCRA)",
    "XE": "closed at the consumer's request; the furnisher completed its investigation of the "
    "consumer's dispute and the consumer disagrees",
    "XF": "in dispute under the Fair Credit Billing Act",
    "XG": "the dispute under the Fair Credit Billing Act was resolved; the consumer disagrees",
    "XH": "previously disputed by the consumer; the furnisher completed its investigation",
    "XJ": "closed at the consumer's request, and in dispute under the Fair Credit Billing Act",
    "XR": None,  # removes the condition reported before
}
# The codes that say the consumer disputes the account, or disagrees with the investigation of
# their dispute (FCRA s.623(a)(3), s.611(c)): a lender is told the account is disputed.
COMPLIANCE_DISPUTED = ("XB", "XC", "XD", "XE", "XF", "XG", "XJ")

# Consumer Information Indicator (CRRG field 38; J1/J2 field 11): the codes that say the
# consumer is in a bankruptcy under the US Code -> (the public record kind, what the latest
# report says of the case, the CRRG's meaning). The ledger makes one bankruptcy public record
# per consumer and chapter of them (ledger._bankruptcy). Z names no chapter.
BANKRUPTCY_STAGES = ("petitioned", "discharged", "dismissed", "withdrawn")
BANKRUPTCY: dict[str, tuple[str, str, str]] = {
    **{
        code: (f"bankruptcy_ch{chapter}", stage, what.format(chapter))
        for stage, what, codes in (
            ("petitioned", "petition for Chapter {} bankruptcy", "ABCD"),
            ("discharged", "discharged through Chapter {} bankruptcy", "EFGH"),
            ("dismissed", "Chapter {} bankruptcy dismissed", "IJKL"),
            ("withdrawn", "Chapter {} bankruptcy withdrawn", "MNOP"),
        )
        for code, chapter in zip(codes, (7, 11, 12, 13), strict=True)
    },
    "Z": ("bankruptcy_undesignated", "petitioned", "bankruptcy, chapter not designated"),
}
# Q removes the bankruptcy (and personal receivership) indicator the account reported before:
# its earlier months no longer say the consumer is in a bankruptcy.
BANKRUPTCY_REMOVED = "Q"
# Codes that say no bankruptcy under the US Code is open: kept on the report
# (``consumer_information``), no public record; as is any other code.
NOT_BANKRUPTCY: dict[str, str] = {
    "1A": "personal receivership",
    "R": "reaffirmation of debt",
    "S": "removes a reaffirmation of debt reported before",
    "T": "the credit grantor cannot locate the consumer",
    "U": "the consumer is located again",
    "V": "Chapter 7 reaffirmation of debt rescinded",
}

# Account type (CRRG Exhibit 1) -> the canonical product, for the types it names; another
# account type leaves the product empty (the type itself is kept as account_type).
PRODUCT: dict[str, str] = {
    "18": "card",  # credit card
    "00": "auto_loan",  # auto
    "01": "personal_loan",  # unsecured
    "19": "mortgage",  # FHA real estate mortgage
    "25": "mortgage",  # VA real estate mortgage
    "26": "mortgage",  # conventional real estate mortgage
}

# Generation code -> the name suffix as the identity stage reads it.
GENERATION: dict[str, str] = {
    "J": "JR",
    "S": "SR",
    **{str(n): roman for n, roman in zip(range(2, 10), ("II", "III", "IV", "V", "VI", "VII",
                                                         "VIII", "IX"), strict=True)},
}  # fmt: skip


@dataclass(frozen=True)
class TrailerTotal:
    """A trailer total reconciled against the records read."""

    name: str
    start: int  # 9 digits each
    counts: str  # "base" (base records), a status code, or a segment identifier


TRAILER_TOTALS: tuple[TrailerTotal, ...] = (
    TrailerTotal("Total Base Records", 12, "base"),
    TrailerTotal("Total of Status Code DF", 30, "DF"),
    TrailerTotal("Total J1 Segments", 39, "J1"),
    TrailerTotal("Total J2 Segments", 48, "J2"),
    TrailerTotal("Total of Status Code DA", 66, "DA"),
    *(
        TrailerTotal(f"Total of Status Code {code}", start, code)
        for code, start in zip(
            ("05", "11", "13", "61", "62", "63", "64", "65", "71", "78", "80", "82", "83",
             "84", "88", "89", "93", "94", "95", "96", "97"),
            range(75, 264, 9),
            strict=True,
        )
    ),
    TrailerTotal("Total N1 Segments", 273, "N1"),
    TrailerTotal("Total K1 Segments", 282, "K1"),
    TrailerTotal("Total K2 Segments", 291, "K2"),
    TrailerTotal("Total K3 Segments", 300, "K3"),
    TrailerTotal("Total K4 Segments", 309, "K4"),
    TrailerTotal("Total L1 Segments", 318, "L1"),
)  # fmt: skip
TOTAL_WIDTH = 9


def status_codes() -> dict[str, str]:
    """The payment_status code table: an account status, with the payment rating after it for
    the statuses read with one (``131``: 13 rated 1), onto the canonical statuses."""
    table: dict[str, str] = {}
    for code, (status, _) in STATUS.items():
        if status != "by_rating":
            table[code] = status
            continue
        table[code] = STATUS_UNRATED[code]
        for rating, (rated, _) in RATING.items():
            table[code + rating] = STATUS_UNRATED[code] if rating == "0" else rated
    return table


def builtin_spec() -> dict[str, Any]:
    """The keys ``format: metro2`` fills in a source spec: fields, record key, identifier
    groups and ledger mapping."""
    fields = [f.spec() for f in BASE_FIELDS]
    fields += [f.spec() for _, f in SEGMENT_FIELDS]
    fields.append(
        {
            "column": "J1/J2 Segments (digest)",
            "target": "associated_consumers",
            "category": "reference",
            "description": "a digest of the record's associated consumers: a change in them "
            "makes the account's report a new version",
        }
    )
    return {
        "record_key": ["account_id", "period"],
        "require_one_of": [["national_id"], ["last_name", "dob"]],
        "fields": fields,
        "ledger": {
            "event": "account_status",
            "event_date": "period",
            "reported_date": "reported_date",
        },
    }


BUILTIN_KEYS = ("fields", "record_key", "require_one_of", "ledger", "layout")

# (The tables above spell canonical values as a furnisher's spec does: each must be one.)
for _table, _vocab in (
    (status_codes(), vocabulary.ACCOUNT_STATUS),
    ({k: v for k, (v, _) in RATING.items()}, vocabulary.ACCOUNT_STATUS),
    (STATUS_UNRATED, vocabulary.ACCOUNT_STATUS),
    ({k: v for k, (v, _) in HISTORY.items() if v}, vocabulary.ACCOUNT_STATUS),
    (ECOA, vocabulary.ACCOUNT_ROLE),
    (PRODUCT, vocabulary.PRODUCT),
    ({k: v for k, (v, _, _) in BANKRUPTCY.items()}, vocabulary.PUBLIC_RECORD_KIND),
):
    if not set(_table.values()) <= set(_vocab.values):
        raise AssertionError(f"metro2: {set(_table.values()) - set(_vocab.values)} not canonical")

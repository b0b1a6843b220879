"""The two lenders: Northbank (Metro 2 style CSV) and Crestline (nested JSON lines)."""

from __future__ import annotations

from openbureau.ingest.vocabulary import ACCOUNT_STATUS, PRODUCT
from openbureau.synth._layout import Col, Feed
from openbureau.synth._noise import NoiseProfile

ID = "identity"
LOC = "location"
REF = "reference"
CREDIT = "credit"
INQ = "inquiry"

# Canonical values in the order of the generator's codes (_activity: CARD, AUTO, ...; CURRENT,
# DPD30, ...), from the vocabularies that ingest checks the specs' code tables against.
PRODUCTS = tuple(PRODUCT.values)
STATUSES = tuple(ACCOUNT_STATUS.values)
if PRODUCTS[0] != "card" or STATUSES[-2:] != ("chargeoff", "closed"):
    raise AssertionError("the generator's codes follow the vocabularies' order")

NB_PRODUCT = ("18", "00", "01", "26")  # Metro 2 account types
NB_STATUS = ("11", "71", "78", "80", "82", "83", "97", "13")  # Metro 2 account status
CL_PRODUCT = ("REVOLVING", "AUTO", "PERSONAL", "MORTGAGE")
CL_STATUS = (
    "CURRENT",
    "LATE_30",
    "LATE_60",
    "LATE_90",
    "LATE_120",
    "LATE_150_PLUS",
    "CHARGED_OFF",
    "PAID_CLOSED",
)


def pick(expr: str, values: tuple[str, ...]) -> str:
    """SQL choosing ``values[expr]`` for a small integer column."""
    arms = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"CASE {expr} {arms} END"


def codes(values: tuple[str, ...], canonical: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(values, canonical, strict=True))


def money(expr: str) -> str:
    return f"printf('%.2f', {expr})"


def day(expr: str, fmt: str) -> str:
    return f"strftime({expr}, '{fmt}')"


SSN_DASHED = "left(ssn, 3) || '-' || substr(ssn, 4, 2) || '-' || substr(ssn, 6)"
STREET_LINE = "street || coalesce(' ' || unit, '')"


def _northbank_identity() -> tuple[Col, ...]:
    iso = ("%Y-%m-%d",)
    return (
        Col("FIRST_NM", "first_name", "first_name", ID, defects=("name",)),
        Col("MIDDLE_NM", "middle_name", "middle_name", ID),
        Col("LAST_NM", "last_name", "last_name", ID, defects=("ident",)),
        Col("GEN_CD", "upper(name_suffix)", "name_suffix", ID),
        Col("BIRTH_DT", day("dob", iso[0]), "dob", ID, "date", iso),
        Col("SSN", SSN_DASHED, "national_id", ID, defects=("ident",)),
        Col("ADDR_LINE1", STREET_LINE, "address_line1", LOC, defects=("split",)),
        Col("CITY", "city", "city", LOC),
        Col("STATE_CD", "state", "region", LOC),
        Col("ZIP_CD", "zip", "postcode", LOC),
    )


def _crestline_borrower() -> tuple[Col, ...]:
    name = (
        "last_name || ', ' || first_name || coalesce(' ' || middle_name, '')"
        " || coalesce(' ' || name_suffix, '')"
    )
    return (
        Col("borrower.name", name, "full_name", ID, defects=("ident", "name")),
        Col("borrower.birth_date", day("dob", "%m/%d/%Y"), "dob", ID, "date", ("%m/%d/%Y",)),
        Col("borrower.tax_id", "ssn", "national_id", ID, defects=("ident",)),
        Col("borrower.address.line1", STREET_LINE, "address_line1", LOC),
        Col("borrower.address.city", "city", "city", LOC),
        Col("borrower.address.state", "state", "region", LOC),
        Col("borrower.address.postal", "zip", "postcode", LOC),
    )


NORTHBANK_NOISE = NoiseProfile(strip_accents=1.0, upper=0.1, middle=(0.6, 0.3, 0.1))
CRESTLINE_NOISE = NoiseProfile(strip_accents=1.0, upper=1.0, middle=(0.2, 0.7, 0.1), nickname=0.05)
# A row is usable for linking with any one of these; furnishers drop fields now and then.
IDENT_GROUPS = (("national_id",), ("last_name", "dob"), ("last_name", "address_line1", "postcode"))
CL_IDENT_GROUPS = (
    ("national_id",),
    ("full_name", "dob"),
    ("full_name", "address_line1", "postcode"),
)

NORTHBANK_ACCOUNTS = Feed(
    name="northbank_accounts",
    furnisher="Northbank",
    feed="accounts",
    description="Monthly tradeline snapshot per account (Metro 2 style codes).",
    path="northbank/accounts.csv",
    format="csv",
    noise=NORTHBANK_NOISE,
    bad_date="2024-13-45",
    record_key=("account_id", "period"),
    require_one_of=IDENT_GROUPS,
    columns=(
        Col("ACCT_NO", "account::VARCHAR", "account_id", REF, required=True),
        Col(
            "PRODUCT_CD",
            pick("product", NB_PRODUCT),
            "product",
            CREDIT,
            "code",
            codes=codes(NB_PRODUCT, PRODUCTS),
        ),
        Col("OPEN_DT", day("open_date", "%Y-%m-%d"), "opened_date", CREDIT, "date", ("%Y-%m-%d",)),
        Col(
            "CREDIT_LIMIT",
            f"CASE WHEN product = 0 THEN {money('amount')} END",
            "credit_limit",
            CREDIT,
            "amount",
        ),
        Col(
            "ORIG_AMT",
            f"CASE WHEN product <> 0 THEN {money('amount')} END",
            "original_amount",
            CREDIT,
            "amount",
        ),
        Col(
            "PERIOD",
            day("month_date", "%Y-%m"),
            "period",
            CREDIT,
            "month",
            ("%Y-%m",),
            required=True,
        ),
        Col("CUR_BAL", money("balance"), "balance", CREDIT, "amount", defects=("amount",)),
        Col(
            "ACCT_STATUS",
            pick("status", NB_STATUS),
            "payment_status",
            CREDIT,
            "code",
            codes=codes(NB_STATUS, STATUSES),
            required=True,
        ),
        Col(
            "CLOSE_DT", day("closed_date", "%Y-%m-%d"), "closed_date", CREDIT, "date", ("%Y-%m-%d",)
        ),
        # Metro 2 "Date of First Delinquency", on late and charged-off rows (Crestline's JSON
        # feed sends none: the ledger derives it from the status history)
        Col(
            "DOFD",
            day("dofd", "%Y-%m-%d"),
            "first_delinquency_date",
            CREDIT,
            "date",
            ("%Y-%m-%d",),
        ),
        Col(
            "RPT_DT",
            day("reported", "%Y-%m-%d"),
            "reported_date",
            REF,
            "date",
            ("%Y-%m-%d",),
            defects=("date",),
        ),
        *_northbank_identity(),
    ),
)

NORTHBANK_INQUIRIES = Feed(
    name="northbank_inquiries",
    furnisher="Northbank",
    feed="inquiries",
    description="Credit inquiries made by Northbank, with the applicant's identity.",
    path="northbank/inquiries.csv",
    format="csv",
    noise=NORTHBANK_NOISE,
    bad_date="2024-02-30",
    record_key=("inquiry_id",),
    require_one_of=IDENT_GROUPS,
    columns=(
        Col("INQ_ID", "'Q' || inquiry::VARCHAR", "inquiry_id", REF, required=True),
        Col(
            "INQ_DT",
            day("date", "%Y-%m-%d"),
            "inquiry_date",
            INQ,
            "date",
            ("%Y-%m-%d",),
            required=True,
            defects=("date",),
        ),
        Col(
            "INQ_PURPOSE",
            pick("purpose", NB_PRODUCT),
            "inquiry_type",
            INQ,
            "code",
            codes=codes(NB_PRODUCT, PRODUCTS),
        ),
        *_northbank_identity(),
    ),
)

CRESTLINE_TRADELINES = Feed(
    name="crestline_tradelines",
    furnisher="Crestline",
    feed="tradelines",
    description="Monthly loan status per account, nested borrower block.",
    path="crestline/tradelines.jsonl",
    format="jsonl",
    noise=CRESTLINE_NOISE,
    bad_date="13/45/2024",
    record_key=("account_id", "period"),
    require_one_of=CL_IDENT_GROUPS,
    columns=(
        Col("loanNumber", "'CL' || account::VARCHAR", "account_id", REF, required=True),
        Col(
            "productType",
            pick("product", CL_PRODUCT),
            "product",
            CREDIT,
            "code",
            codes=codes(CL_PRODUCT, PRODUCTS),
        ),
        Col("openedOn", day("open_date", "%m/%d/%Y"), "opened_date", CREDIT, "date", ("%m/%d/%Y",)),
        Col(
            "creditLimit",
            f"CASE WHEN product = 0 THEN {money('amount')} END",
            "credit_limit",
            CREDIT,
            "amount",
            number=True,
        ),
        Col(
            "originalAmount",
            f"CASE WHEN product <> 0 THEN {money('amount')} END",
            "original_amount",
            CREDIT,
            "amount",
            number=True,
        ),
        Col(
            "reportingPeriod",
            day("month_date", "%m/%Y"),
            "period",
            CREDIT,
            "month",
            ("%m/%Y",),
            required=True,
        ),
        Col(
            "currentBalance",
            money("balance"),
            "balance",
            CREDIT,
            "amount",
            number=True,
            defects=("amount",),
        ),
        Col("dpd", "dpd::VARCHAR", "days_past_due", CREDIT, "integer", number=True),
        Col(
            "status",
            pick("status", CL_STATUS),
            "payment_status",
            CREDIT,
            "code",
            codes=codes(CL_STATUS, STATUSES),
            required=True,
        ),
        Col(
            "closedOn", day("closed_date", "%m/%d/%Y"), "closed_date", CREDIT, "date", ("%m/%d/%Y",)
        ),
        Col(
            "reportedOn",
            day("reported", "%m/%d/%Y"),
            "reported_date",
            REF,
            "date",
            ("%m/%d/%Y",),
            defects=("date",),
        ),
        *_crestline_borrower(),
    ),
)

CRESTLINE_INQUIRIES = Feed(
    name="crestline_inquiries",
    furnisher="Crestline",
    feed="inquiries",
    description="Credit inquiries made by Crestline, nested borrower block.",
    path="crestline/inquiries.jsonl",
    format="jsonl",
    noise=CRESTLINE_NOISE,
    bad_date="00/00/0000",
    record_key=("inquiry_id",),
    require_one_of=CL_IDENT_GROUPS,
    columns=(
        Col("inquiryId", "'CQ' || inquiry::VARCHAR", "inquiry_id", REF, required=True),
        Col(
            "inquiryDate",
            day("date", "%m/%d/%Y"),
            "inquiry_date",
            INQ,
            "date",
            ("%m/%d/%Y",),
            required=True,
            defects=("date",),
        ),
        Col(
            "purpose",
            pick("purpose", CL_PRODUCT),
            "inquiry_type",
            INQ,
            "code",
            codes=codes(CL_PRODUCT, PRODUCTS),
        ),
        *_crestline_borrower(),
    ),
)

"""Alternative data and public records: utility, telecom, rent, court judgments, tax liens."""

from __future__ import annotations

from openbureau.synth._layout import Col, Feed
from openbureau.synth._lenders import ID, LOC, REF, STREET_LINE, codes, day, money, pick
from openbureau.synth._noise import NoiseProfile

PAY = "payment"
PUBLIC = "public_record"

SHORT_NAME = (
    "first_name || coalesce(' ' || left(middle_name, 1) || '.', '') || ' ' || last_name"
    " || coalesce(' ' || name_suffix, '')"
)
LAST_FIRST = (
    "last_name || ', ' || first_name || coalesce(' ' || left(middle_name, 1), '')"
    " || coalesce(' ' || name_suffix, '')"
)
ONE_LINE_ADDRESS = f"{STREET_LINE} || ', ' || city || ', ' || state || coalesce(' ' || zip, '')"


def comma_money(expr: str) -> str:
    return f"replace({money(expr)}, '.', ',')"


BRIGHTWATER_UTILITY = Feed(
    name="brightwater_utility",
    furnisher="Brightwater Utilities",
    feed="bills",
    description="Monthly utility bills and payments; name and service address as single strings.",
    path="brightwater/bills.csv",
    format="csv",
    encoding="latin-1",
    delimiter=";",
    newline="\r\n",
    bad_date="31.02.2024",
    bad_byte=b"\x00",
    noise=NoiseProfile(strip_accents=0.1, upper=0.05, middle=(0.0, 0.8, 0.2)),
    record_key=("account_id", "bill_date"),
    require_one_of=(("full_name", "address_full"),),
    columns=(
        Col("Account Number", "account::VARCHAR", "account_id", REF, required=True),
        Col("Customer Name", SHORT_NAME, "full_name", ID, defects=("ident", "name")),
        Col("Service Address", ONE_LINE_ADDRESS, "address_full", LOC, defects=("split",)),
        Col(
            "Bill Date",
            day("bill_date", "%d.%m.%Y"),
            "bill_date",
            PAY,
            "date",
            ("%d.%m.%Y",),
            required=True,
            defects=("date",),
        ),
        Col("Due Date", day("due_date", "%d.%m.%Y"), "due_date", PAY, "date", ("%d.%m.%Y",)),
        Col(
            "Amount Due",
            comma_money("amount_due"),
            "amount_due",
            PAY,
            "amount",
            decimal_comma=True,
            defects=("amount",),
        ),
        Col(
            "Amount Paid",
            comma_money("amount_paid"),
            "amount_paid",
            PAY,
            "amount",
            decimal_comma=True,
        ),
        Col("Paid Date", day("paid_date", "%d.%m.%Y"), "paid_date", PAY, "date", ("%d.%m.%Y",)),
    ),
)

PHONE = """CASE phone_style
  WHEN 0 THEN '(' || left(phone, 3) || ') ' || substr(phone, 4, 3) || '-' || substr(phone, 7)
  WHEN 1 THEN left(phone, 3) || '.' || substr(phone, 4, 3) || '.' || substr(phone, 7)
  WHEN 2 THEN '+1' || phone
  ELSE left(phone, 3) || '-' || substr(phone, 4, 3) || '-' || substr(phone, 7) END"""
TITLE = (
    "CASE WHEN title_u < 0.02 THEN 'Mx' WHEN sex = 0 THEN 'Mr' "
    "WHEN title_u < 0.45 THEN 'Mrs' ELSE 'Ms' END"
)

METROTEL_TELECOM = Feed(
    name="metrotel_telecom",
    furnisher="Metrotel",
    feed="billing",
    description="Monthly mobile bills; contact details and a salutation.",
    path="metrotel/billing.parquet",
    format="parquet",
    noise=NoiseProfile(lower=0.08, middle=(0.0, 0.0, 1.0), id_missing=0.0, id_typo=0.0),
    record_key=("contract_id", "period"),
    require_one_of=(("last_name", "dob"), ("phone",)),
    columns=(
        Col("contract_id", "'MT' || contract::VARCHAR", "contract_id", REF, required=True),
        Col("contract_start", "contract_start", "opened_date", REF, "date"),
        Col(
            "bill_month",
            day("month_date", "%Y%m"),
            "period",
            PAY,
            "month",
            ("%Y%m",),
            required=True,
        ),
        Col("amount_due", "amount_due", "amount_due", PAY, "amount"),
        Col("due_date", "due_date", "due_date", PAY, "date"),
        Col("paid_date", "paid_date", "paid_date", PAY, "date"),
        Col("days_late", "days_late::INTEGER", "days_late", PAY, "integer"),
        Col("given_name", "first_name", "first_name", ID),
        Col("family_name", "last_name", "last_name", ID),
        Col("birth_date", "dob", "dob", ID, "date"),
        Col("phone", PHONE, "phone", ID),
        Col("email", "CASE WHEN email_missing THEN NULL ELSE email END", "email", ID),
        Col("title", TITLE, "title", "sex"),
    ),
)

RENTRIGHT_RENT = Feed(
    name="rentright_rent",
    furnisher="RentRight",
    feed="rent",
    description="Monthly rent due and paid per lease, from a property-management platform.",
    path="rentright/rent.csv",
    format="csv",
    encoding="utf-8-sig",
    bom=True,
    bad_date="02/30/2024",
    noise=NoiseProfile(strip_accents=0.2, nickname=0.12),
    record_key=("lease_id", "period"),
    require_one_of=(("last_name", "dob"), ("last_name", "address_line1", "postcode")),
    columns=(
        Col("LeaseId", "'L' || lease::VARCHAR", "lease_id", REF, required=True),
        Col("TenantFirstName", "first_name", "first_name", ID, defects=("name",)),
        Col("TenantLastName", "last_name", "last_name", ID, defects=("ident",)),
        Col("TenantDOB", day("dob", "%m/%d/%Y"), "dob", ID, "date", ("%m/%d/%Y",)),
        Col("StreetAddress", "street", "address_line1", LOC, defects=("split",)),
        Col("Unit", "unit", "address_line2", LOC),
        Col("City", "city", "city", LOC),
        Col("State", "state", "region", LOC),
        Col("ZipCode", "zip", "postcode", LOC),
        Col(
            "RentMonth",
            day("month_date", "%m/%Y"),
            "period",
            PAY,
            "month",
            ("%m/%Y",),
            required=True,
        ),
        Col("RentAmount", money("amount"), "amount_due", PAY, "amount", defects=("amount",)),
        Col(
            "PaidDate",
            day("paid_date", "%m/%d/%Y"),
            "paid_date",
            PAY,
            "date",
            ("%m/%d/%Y",),
            defects=("date",),
        ),
        Col("DaysLate", "days_late::VARCHAR", "days_late", PAY, "integer"),
    ),
)

CASE_TYPES = ("CJ", "BK7", "BK13")
COUNTY_COURT = Feed(
    name="county_court_records",
    furnisher="County Court",
    feed="judgments",
    description="Civil judgments and bankruptcy filings, one row per case.",
    path="court/judgments.tsv",
    format="csv",
    delimiter="\t",
    bad_date="20241345",
    noise=NoiseProfile(strip_accents=1.0, upper=1.0, middle=(0.0, 0.9, 0.1)),
    record_key=("case_id",),
    require_one_of=(("full_name", "dob"), ("full_name", "address_full")),
    columns=(
        Col(
            "case-no",
            "year(filed)::VARCHAR || CASE WHEN kind = 0 THEN '-CV-' ELSE '-BK-' END"
            " || lpad(\"case\"::VARCHAR, 6, '0')",
            "case_id",
            REF,
            required=True,
        ),
        Col(
            "case-type",
            pick("kind", CASE_TYPES),
            "case_type",
            PUBLIC,
            "code",
            codes=codes(CASE_TYPES, ("civil_judgment", "bankruptcy_ch7", "bankruptcy_ch13")),
        ),
        Col(
            "filed",
            day("filed", "%Y%m%d"),
            "filed_date",
            PUBLIC,
            "date",
            ("%Y%m%d",),
            required=True,
            defects=("date",),
        ),
        Col("amount", money("amount"), "amount", PUBLIC, "amount", defects=("amount",)),
        Col("satisfied", day("satisfied", "%Y%m%d"), "satisfied_date", PUBLIC, "date", ("%Y%m%d",)),
        Col("defendant", LAST_FIRST, "full_name", ID, defects=("ident", "name")),
        Col("defendant-dob", day("dob", "%Y%m%d"), "dob", ID, "date", ("%Y%m%d",)),
        Col("defendant-address", ONE_LINE_ADDRESS, "address_full", LOC, defects=("split",)),
    ),
)

STATE_TAX = Feed(
    name="state_tax_liens",
    furnisher="State Revenue Department",
    feed="liens",
    description="State tax liens filed and released.",
    path="tax/liens.csv",
    format="csv",
    encoding="cp1252",
    delimiter="|",
    newline="\r\n",
    bad_date="31-Foo-2024",
    bad_byte=b"\x81",
    noise=NoiseProfile(strip_accents=0.1, upper=0.5, id_missing=0.05),
    record_key=("lien_id",),
    require_one_of=(("national_id",), ("full_name", "address_line1")),
    columns=(
        Col("Lien_ID", "'TX' || lien::VARCHAR", "lien_id", REF, required=True),
        Col(
            "Taxpayer_Name",
            "first_name || coalesce(' ' || middle_name, '') || ' ' || last_name"
            " || coalesce(' ' || name_suffix, '')",
            "full_name",
            ID,
            defects=("ident", "name"),
        ),
        Col(
            "TIN",
            "CASE WHEN tin_dashes THEN left(ssn, 3) || '-' || substr(ssn, 4, 2) || '-' "
            "|| substr(ssn, 6) ELSE ssn END",
            "national_id",
            ID,
            defects=("ident",),
        ),
        Col("Street", STREET_LINE, "address_line1", LOC, defects=("split",)),
        Col("City", "city", "city", LOC),
        Col("State", "state", "region", LOC),
        Col("Zip", "zip", "postcode", LOC),
        Col(
            "Filed_Date",
            day("filed", "%d-%b-%Y"),
            "filed_date",
            PUBLIC,
            "date",
            ("%d-%b-%Y",),
            required=True,
            defects=("date",),
        ),
        Col("Lien_Amount", money("amount"), "amount", PUBLIC, "amount", defects=("amount",)),
        Col(
            "Release_Date",
            day("released", "%d-%b-%Y"),
            "released_date",
            PUBLIC,
            "date",
            ("%d-%b-%Y",),
        ),
    ),
)

"""Accuracy rules on dates, on facts an account keeps for life, on the consumer a record
names, and on inquiries, bills and public records (see ``_accuracy_rule``).

"After the report" means after the row's report date (``report_date``): the date the
furnisher reported it, else the last day of the month it reports, else the day the batch was
loaded. A date after the day of loading itself is quarantined at ingest (see ``bounds``).
"""

from __future__ import annotations

from openbureau.ingest._accuracy_rule import Rule
from openbureau.ingest.vocabulary import CLOSED

_AGE = "Scores read the age of the consumer's accounts; a wrong date makes it wrong."
_WRONG_PERSON = (
    "One consumer's accounts can land on another's file (a mixed file), or a file can be "
    "split in two."
)

ACCOUNT_DATES = (
    Rule(
        "closed-without-date",
        "account dates",
        "medium",
        "An account reported closed without the date it was closed.",
        "The account may read as open credit, and how long it stays on file is unknown.",
        ("payment_status", "closed_date"),
        f"payment_status = '{CLOSED}'",
        "closed_date IS NULL",
        ("payment_status",),
    ),
    Rule(
        "closed-before-open",
        "account dates",
        "medium",
        "A date closed before the date opened.",
        _AGE,
        ("closed_date", "opened_date"),
        "closed_date IS NOT NULL AND opened_date IS NOT NULL",
        "closed_date < opened_date",
        ("opened_date", "closed_date"),
    ),
    Rule(
        "closed-after-report",
        "account dates",
        "medium",
        "A date closed after the date of the report that carries it.",
        "The account is reported closed on a day that has not come.",
        ("closed_date",),
        "closed_date IS NOT NULL",
        "closed_date > report_date",
        ("closed_date", "report_date"),
    ),
    Rule(
        "opened-after-report",
        "account dates",
        "high",
        "A date opened after the date of the report that carries it.",
        "An account the consumer had not opened yet when reported is likely someone else's, "
        "or misdated: " + _AGE[:-1].lower() + ".",
        ("opened_date",),
        "opened_date IS NOT NULL",
        "opened_date > report_date",
        ("opened_date", "report_date"),
    ),
    Rule(
        "last-payment-after-report",
        "account dates",
        "medium",
        "A date of last payment after the date of the report that carries it.",
        "A payment is dated before it could have been made.",
        ("last_payment_date",),
        "last_payment_date IS NOT NULL",
        "last_payment_date > report_date",
        ("last_payment_date", "report_date"),
    ),
    Rule(
        "last-payment-before-open",
        "account dates",
        "low",
        "A date of last payment before the account was opened.",
        "The account's payment dates cannot be trusted.",
        ("last_payment_date", "opened_date"),
        "last_payment_date IS NOT NULL AND opened_date IS NOT NULL",
        "last_payment_date < opened_date",
        ("opened_date", "last_payment_date"),
    ),
    Rule(
        "reported-before-period",
        "account dates",
        "medium",
        "A report dated before the start of the month it reports on.",
        "A month's standing is reported before the month began: it cannot be what happened.",
        ("reported_date", "period"),
        "reported_date IS NOT NULL AND period IS NOT NULL",
        "reported_date < month",
        ("period", "reported_date"),
    ),
)

LIFELONG = (
    Rule(
        "opened-date-changed",
        "account history",
        "medium",
        "The date opened differs from the account's previous report.",
        _AGE,
        ("opened_date",),
        "opened_date IS NOT NULL AND prev_opened_date IS NOT NULL",
        "opened_date <> prev_opened_date",
        ("prev_opened_date", "opened_date"),
        history=True,
    ),
    Rule(
        "product-changed",
        "account history",
        "low",
        "The kind of account (product) differs from the account's previous report.",
        "A loan read as a card (or the reverse) changes the consumer's utilisation and credit mix.",
        ("product",),
        "product IS NOT NULL AND prev_product IS NOT NULL",
        "product <> prev_product",
        ("prev_product", "product"),
        history=True,
    ),
    Rule(
        "original-amount-changed",
        "account history",
        "low",
        "The original amount of the loan differs from the account's previous report.",
        "How much of the loan is paid down is misread.",
        ("original_amount",),
        "original_amount IS NOT NULL AND prev_original_amount IS NOT NULL",
        "original_amount <> prev_original_amount",
        ("prev_original_amount", "original_amount"),
        history=True,
    ),
)

CONSUMER = (
    Rule(
        "account-several-consumers",
        "consumer",
        "high",
        "One account number reported with more than one national ID across its reports.",
        _WRONG_PERSON,
        ("national_id",),
        "national_id IS NOT NULL",
        "consumers > 1",
        ("consumers",),
        history=True,
    ),
    Rule(
        "account-several-birth-dates",
        "consumer",
        "medium",
        "One account number reported with more than one date of birth across its reports.",
        _WRONG_PERSON,
        ("dob",),
        "dob IS NOT NULL",
        "birth_dates > 1",
        ("birth_dates",),
        history=True,
    ),
    Rule(
        "born-after-report",
        "consumer",
        "high",
        "A date of birth after the date of the report that carries it.",
        "An impossible birth date keeps the record from its consumer's file, or matches it to "
        "someone else.",
        ("dob",),
        "dob IS NOT NULL",
        "dob > report_date",
        ("report_date",),
    ),
)

OTHER_RECORDS = (
    Rule(
        "inquiry-after-report",
        "inquiries",
        "medium",
        "An inquiry dated after the date of the report that carries it.",
        "An inquiry dated ahead counts against the consumer's score for longer.",
        ("inquiry_date",),
        "inquiry_date IS NOT NULL",
        "inquiry_date > report_date",
        ("inquiry_date", "report_date"),
    ),
    Rule(
        "inquiry-repeated",
        "inquiries",
        "medium",
        "The same consumer (national ID) with more than one inquiry of the same kind on the "
        "same day, among the feed's reports.",
        "One application counted as several inquiries lowers the consumer's score more than once.",
        ("national_id", "inquiry_date"),
        "national_id IS NOT NULL AND inquiry_date IS NOT NULL",
        "same_day_inquiries > 1",
        ("inquiry_date", "inquiry_type", "same_day_inquiries"),
    ),
    Rule(
        "days-late-contradict-dates",
        "bills",
        "high",
        "The days late of a paid bill differ from the days between its due date and the day "
        "it was paid.",
        "The consumer is reported late on a bill paid on time, or the reverse.",
        ("due_date", "paid_date", "days_late"),
        "due_date IS NOT NULL AND paid_date IS NOT NULL AND days_late IS NOT NULL",
        "days_late <> greatest(paid_date - due_date, 0)",
        ("due_date", "paid_date", "days_late"),
    ),
    Rule(
        "paid-without-date",
        "bills",
        "medium",
        "An amount paid on a bill without the date it was paid.",
        "The payment cannot be dated, so the bill may read as unpaid or late.",
        ("amount_paid", "paid_date"),
        "amount_paid > 0",
        "paid_date IS NULL",
        ("amount_paid",),
    ),
    Rule(
        "paid-after-loading",
        "bills",
        "medium",
        "A bill paid on a date after the day the batch was loaded.",
        "A payment dated ahead cannot have been made; the bill's lateness is unknown.",
        ("paid_date",),
        "paid_date IS NOT NULL",
        "paid_date > load_date",
        ("paid_date", "load_date"),
    ),
    Rule(
        "resolved-before-filed",
        "public records",
        "medium",
        "A public record satisfied, released or resolved before it was filed.",
        "How long the record stays on the consumer's file, and whether it reads as open, "
        "cannot be trusted.",
        ("filed_date", "satisfied_date|released_date|resolved_date"),
        "filed_date IS NOT NULL AND resolved_date IS NOT NULL",
        "resolved_date < filed_date",
        ("filed_date", "resolved_date"),
    ),
    Rule(
        "filed-after-report",
        "public records",
        "high",
        "A public record filed after the date of the report that carries it.",
        "A record dated ahead stays on the consumer's file longer than the law allows.",
        ("filed_date",),
        "filed_date IS NOT NULL",
        "filed_date > report_date",
        ("filed_date", "report_date"),
    ),
)

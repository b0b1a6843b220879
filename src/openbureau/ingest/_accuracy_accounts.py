"""Accuracy rules on account status reports: delinquency dates, statuses, balances and amounts,
account dates, and how a report follows the account's previous one.

In the spirit of the checks the CFPB's open Metro 2 evaluator makes on furnisher data, written
over openbureau's canonical targets (see ``_accuracy_rule``), so that they hold for any feed.
"""

from __future__ import annotations

from openbureau.ingest._accuracy_rule import (
    DELINQUENT,
    DEROGATORY,
    LOANS,
    STATUS,
    Rule,
    days_contradict_status,
    in_list,
)
from openbureau.ingest._metro2 import HISTORY
from openbureau.ingest.vocabulary import (
    CHARGED_OFF,
    CLOSED,
    CURRENT,
    GOOD_STANDING,
    REVOLVING,
    STATUS_RANK,
)

DOFD = "first_delinquency_date"
PROFILE = "payment_history_profile"
# the status rank of the profile's first character (the month before the report), if a status
_FIRST_RANK = (
    f"CASE left({PROFILE}, 1) "
    + " ".join(f"WHEN '{c}' THEN {STATUS_RANK[s]}" for c, (s, _) in HISTORY.items() if s)
    + " END"
)
_REAGED = (
    "A date of first delinquency that is later than the true one keeps the delinquency on the "
    "consumer's file past the seven years the law allows (re-ageing); an earlier one drops it "
    "too soon."
)

DELINQUENCY_DATES = (
    Rule(
        "dofd-missing",
        "date of first delinquency",
        "high",
        "A past-due or charged-off account without a date of first delinquency.",
        "Ageing-off counts from this date: without it the bureau must guess when the "
        "delinquency began, and may keep it on the consumer's file too long.",
        (STATUS, DOFD),
        f"status IN {in_list(DEROGATORY)}",
        f"{DOFD} IS NULL",
        ("status",),
    ),
    Rule(
        "dofd-on-current",
        "date of first delinquency",
        "medium",
        "A current account with a date of first delinquency.",
        "The account reads as carrying a delinquency its status does not report, which a "
        "lender may count against the consumer.",
        (STATUS, DOFD),
        f"status = '{CURRENT}'",
        f"{DOFD} IS NOT NULL",
        ("status", DOFD),
    ),
    Rule(
        "dofd-after-report",
        "date of first delinquency",
        "high",
        "A date of first delinquency after the date of the report that carries it.",
        _REAGED,
        (DOFD,),
        f"{DOFD} IS NOT NULL",
        f"{DOFD} > report_date",
        (DOFD, "report_date"),
    ),
    Rule(
        "dofd-before-open",
        "date of first delinquency",
        "medium",
        "A date of first delinquency before the account was opened.",
        _REAGED,
        (DOFD, "opened_date"),
        f"{DOFD} IS NOT NULL AND opened_date IS NOT NULL",
        f"{DOFD} < opened_date",
        (DOFD, "opened_date"),
    ),
    Rule(
        "dofd-moved",
        "date of first delinquency",
        "high",
        "The date of first delinquency differs from the previous month's while the account "
        "stayed delinquent.",
        _REAGED,
        (STATUS, DOFD),
        f"prev_consecutive AND status_rank > 0 AND prev_rank > 0 AND {DOFD} IS NOT NULL "
        f"AND prev_{DOFD} IS NOT NULL",
        f"{DOFD} <> prev_{DOFD}",
        (f"prev_{DOFD}", DOFD),
        history=True,
    ),
)

STATUSES = (
    Rule(
        "days-contradict-status",
        "account status",
        "high",
        "The days past due fall outside the band the account status names (current with 45 "
        "days past due, 60 days late with 10).",
        "Two fields disagree on how late the consumer is; a lender may read the worse one.",
        ("payment_status", "days_past_due"),
        f"payment_status IS NOT NULL AND days_past_due IS NOT NULL "
        f"AND payment_status <> '{CHARGED_OFF}'",
        days_contradict_status(),
        ("payment_status", "days_past_due"),
    ),
    Rule(
        "rating-contradicts-status",
        "account status",
        "high",
        "The payment rating contradicts the account status (closed in good standing with a "
        "late rating, or a rating other than the status of an open account).",
        "The account's standing when it was closed or paid is misreported: a late payment "
        "the consumer never made, or one that is hidden.",
        ("payment_status", "payment_rating"),
        "payment_status IS NOT NULL AND payment_rating IS NOT NULL",
        f"CASE WHEN payment_status IN {in_list(GOOD_STANDING)} "
        f"THEN payment_rating NOT IN {in_list(GOOD_STANDING)} "
        "ELSE payment_rating <> payment_status END",
        ("payment_status", "payment_rating"),
    ),
    Rule(
        "status-jump",
        "account history",
        "medium",
        "The account is more than one step of 30 days later than the month before (current, "
        "then 60 days late; 30, then 90): a delinquency deepens by one month a month.",
        "Months of delinquency the consumer never had are reported, or the months before "
        "were misreported as better than they were.",
        (STATUS,),
        f"prev_consecutive AND prev_rank IS NOT NULL AND status IN {in_list(DELINQUENT[1:])}",
        "status_rank - prev_rank > 1",
        ("prev_status", "status"),
        history=True,
    ),
    Rule(
        "open-after-chargeoff",
        "account history",
        "medium",
        "An account reported charged off is reported open (current or past due) in a later month.",
        "A written-off debt that starts a new run of late months re-ages the delinquency, or "
        "two accounts share an account number.",
        (STATUS,),
        f"prev_status = '{CHARGED_OFF}'",
        f"status NOT IN ('{CHARGED_OFF}', '{CLOSED}')",
        ("prev_status", "status"),
        history=True,
    ),
    Rule(
        "history-code-unknown",
        "account history",
        "medium",
        "A Metro 2 payment history profile holding a character that is no code of the CRRG's "
        f"({', '.join(HISTORY)}).",
        "The months it stands for cannot be read onto the consumer's file: an account's record "
        "of paying on time (or late) goes missing.",
        (PROFILE,),
        f"trim({PROFILE}) <> ''",
        f"regexp_matches({PROFILE}, '[^{''.join(HISTORY)} ]')",
        (PROFILE,),
    ),
    Rule(
        "history-contradicts-report",
        "account history",
        "high",
        "The payment history profile's first month (the month before the report) says another "
        "standing than the account's report of that month.",
        "The month-by-month history a lender reads disagrees with the furnisher's own report; "
        "a lender may read the worse of the two.",
        (STATUS, PROFILE),
        f"prev_consecutive AND prev_rank IS NOT NULL AND {_FIRST_RANK} IS NOT NULL",
        f"{_FIRST_RANK} <> prev_rank",
        ("prev_status", PROFILE),
        history=True,
    ),
    Rule(
        "open-after-closed",
        "account history",
        "medium",
        "An account reported closed is reported open or late in a later month.",
        "A closed account comes back as open credit (or as late), or two accounts share an "
        "account number.",
        (STATUS,),
        f"prev_status = '{CLOSED}'",
        f"status <> '{CLOSED}'",
        ("prev_status", "status"),
        history=True,
    ),
)

AMOUNTS = (
    Rule(
        "balance-on-closed",
        "balance and amounts",
        "high",
        "A balance owed on an account reported closed in good standing (paid or closed).",
        "A debt the consumer paid off still shows as owed, raising their debt and utilisation.",
        ("payment_status", "balance"),
        f"payment_status = '{CLOSED}'",
        "balance > 0",
        ("payment_status", "balance"),
    ),
    Rule(
        "no-balance-delinquent",
        "balance and amounts",
        "medium",
        "A past-due account with no balance owed.",
        "A delinquency on an account that owes nothing cannot be true, yet it counts against "
        "the consumer's score.",
        (STATUS, "balance"),
        f"status IN {in_list(DELINQUENT)}",
        "balance <= 0",
        ("status", "balance"),
    ),
    Rule(
        "past-due-on-current",
        "balance and amounts",
        "high",
        "An amount past due on an account reported current or closed in good standing.",
        "The account can be read as delinquent although its status says it is not.",
        ("payment_status", "amount_past_due"),
        f"payment_status IN {in_list(GOOD_STANDING)}",
        "amount_past_due > 0",
        ("payment_status", "amount_past_due"),
    ),
    Rule(
        "no-past-due-delinquent",
        "balance and amounts",
        "medium",
        "A past-due or charged-off account with no amount past due.",
        "The status and the amounts disagree; a lender cannot tell how much the consumer is "
        "behind, and may assume the worst.",
        (STATUS, "amount_past_due"),
        f"status IN {in_list(DEROGATORY)}",
        "coalesce(amount_past_due, 0) = 0",
        ("status", "amount_past_due"),
    ),
    Rule(
        "past-due-over-balance",
        "balance and amounts",
        "medium",
        "An amount past due greater than the balance owed.",
        "The consumer is reported as more behind than they owe in all.",
        ("amount_past_due", "balance"),
        "amount_past_due > 0 AND balance IS NOT NULL",
        "amount_past_due > balance",
        ("amount_past_due", "balance"),
    ),
    Rule(
        "chargeoff-no-amount",
        "balance and amounts",
        "medium",
        "A charged-off account without the original charge-off amount.",
        "The loss the consumer is reported for cannot be checked, and a later payment of it "
        "cannot be shown against it.",
        ("payment_status", "charge_off_amount"),
        f"payment_status = '{CHARGED_OFF}'",
        "coalesce(charge_off_amount, 0) = 0",
        ("payment_status", "charge_off_amount"),
    ),
    Rule(
        "chargeoff-amount-on-open",
        "balance and amounts",
        "high",
        "A charge-off amount on an account reported current or past due, not charged off.",
        "An account reads as written off as a loss, the worst mark short of bankruptcy, "
        "while its status says otherwise.",
        (STATUS, "charge_off_amount"),
        f"status IN {in_list((CURRENT, *DELINQUENT))}",
        "charge_off_amount > 0",
        ("status", "charge_off_amount"),
    ),
    Rule(
        "card-without-limit",
        "balance and amounts",
        "medium",
        "A credit card without a credit limit.",
        "Utilisation cannot be worked out, or is read against the balance alone, making the "
        "consumer look fully drawn.",
        ("product", "credit_limit"),
        f"product = '{REVOLVING}'",
        "credit_limit IS NULL",
        ("product", "credit_limit"),
    ),
    Rule(
        "loan-without-amount",
        "balance and amounts",
        "low",
        "An instalment loan without its original amount.",
        "How much of the loan is paid down cannot be worked out.",
        ("product", "original_amount"),
        f"product IN {in_list(LOANS)}",
        "original_amount IS NULL",
        ("product", "original_amount"),
    ),
    Rule(
        "balance-far-over-limit",
        "balance and amounts",
        "low",
        "A card balance more than twice its credit limit (amounts in cents, or a wrong limit).",
        "The consumer looks far over their limit, which weighs heavily in a score.",
        ("product", "balance", "credit_limit"),
        f"product = '{REVOLVING}' AND credit_limit > 0 AND balance IS NOT NULL",
        "balance > 2 * credit_limit",
        ("balance", "credit_limit"),
    ),
)

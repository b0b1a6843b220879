"""Point-in-time features per person, grouped the way lenders know them.

``compute_features(engine, as_of, into, known_at=K)`` writes one row per person in the person
index with every feature as of ``as_of``, as the bureau knew it at K (default: now), computed
set-wise in the engine from the ``pit_*`` tables (see ``_pit``): nothing reported after ``as_of``
nor learned after K can reach a feature. ``NULL`` means "no data"
(no revolving account, never delinquent...), which scorecards bin on its own.

Each feature names the ledger columns it is derived from (its lineage, checked by the factor
guard) and the evidence query that returns the records that put a person where they are
(used for reason codes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.ledger._pit import create_pit_views, date_literal, persons_sql
from openbureau.warehouse.identity import PERSON_INDEX

GROUPS = {
    "payment_history": "Payment history",
    "amounts_owed": "Amounts owed",
    "length_of_history": "Length of credit history",
    "new_credit": "New credit",
    "credit_mix": "Credit mix",
    "alternative_data": "Utility, telecom and rent payments",
}


@dataclass(frozen=True)
class Feature:
    """A candidate score factor.

    Attributes:
        trend: expected direction of the default rate as the value grows (optbinning
            ``monotonic_trend``): ``ascending``, ``descending``, ``auto_asc_desc``...
        source: the per-person aggregate it is computed in (acc, inq, pub, pay)
        sql: aggregate expression over that source's ``pit_*`` table; ``{d}`` is the as-of date
        zero_if_absent: a person with no rows in the source has 0, not "no data"
        lineage: ``event.column`` pairs the value is derived from
        evidence: key of the query listing the records behind the value
    """

    name: str
    code: str
    group: str
    description: str
    statement: str
    source: str
    sql: str
    trend: str
    lineage: tuple[str, ...]
    evidence: str
    zero_if_absent: bool = False
    missing_statement: str = ""  # the reason when "no data" is what cost the points

    @property
    def statement_if_missing(self) -> str:
        return self.missing_statement or f"No information on file: {self.description.lower()}"


_STATUS = (
    "account_status.payment_status",
    "account_status.days_past_due",
    "account_status.event_date",
)
_OPEN = (
    "account_status.closed_date",
    "account_status.event_date",
    "account_status.payment_status",
    "account_status.metro2_status",
)
_CARD = ("account_status.balance", "account_status.credit_limit", "account_status.product", *_OPEN)
_LOAN = (
    "account_status.balance",
    "account_status.original_amount",
    "account_status.product",
    *_OPEN,
)
_ALT = ("payment.due_date", "payment.paid_date", "payment.days_late")

FEATURES: tuple[Feature, ...] = (
    # -- payment history -------------------------------------------------------------------
    Feature(
        "worst_status_12m",
        "PH01",
        "payment_history",
        "Worst status on any account in the last 12 months (0 current .. 6 charged off)",
        "Serious delinquency on one or more accounts in the last 12 months",
        "acc",
        "max(worst_rank_12m)",
        "ascending",
        _STATUS,
        "delinquent_12m",
        missing_statement="No credit account reported in the last 12 months",
    ),
    Feature(
        "months_since_delinquency",
        "PH02",
        "payment_history",
        "Months since the most recent payment 30 or more days late",
        "Time since the most recent late payment is too short",
        "acc",
        "date_diff('month', max(last_30), {d})",
        "descending",
        _STATUS,
        "last_delinquency",
    ),
    Feature(
        "months_since_serious_delinquency",
        "PH03",
        "payment_history",
        "Months since the most recent payment 90 or more days late or a charge-off",
        "Time since a serious delinquency or charge-off is too short",
        "acc",
        "date_diff('month', max(last_90), {d})",
        "descending",
        _STATUS,
        "last_serious_delinquency",
    ),
    Feature(
        "accounts_past_due",
        "PH04",
        "payment_history",
        "Accounts past due in their latest report",
        "Accounts currently past due",
        "acc",
        "count(*) FILTER (WHERE current_rank >= 1 AND NOT is_closed)",
        "ascending",
        _STATUS + _OPEN,
        "past_due_now",
        zero_if_absent=True,
    ),
    Feature(
        "accounts_delinquent_24m",
        "PH05",
        "payment_history",
        "Accounts with a payment 30 or more days late in the last 24 months",
        "Too many accounts with late payments in the last 24 months",
        "acc",
        "count(*) FILTER (WHERE last_30_24m IS NOT NULL)",
        "ascending",
        _STATUS,
        "delinquent_24m",
        zero_if_absent=True,
    ),
    Feature(
        "delinquent_months_24m",
        "PH07",
        "payment_history",
        "Monthly reports 30 or more days late, on any account, in the last 24 months",
        "Too many late payments in the last 24 months",
        "acc",
        "sum(late_months_24m)",
        "ascending",
        _STATUS,
        "delinquent_rows_24m",
        zero_if_absent=True,
    ),
    Feature(
        "late_month_share_24m",
        "PH08",
        "payment_history",
        "Share of monthly account reports in the last 24 months that were 30 or more days late",
        "Proportion of late payments on accounts in the last 24 months is too high",
        "acc",
        "sum(late_months_24m) / nullif(sum(months_24m), 0)",
        "ascending",
        _STATUS,
        "delinquent_rows_24m",
    ),
    Feature(
        "public_records",
        "PH06",
        "payment_history",
        "Civil judgments, bankruptcies and tax liens unresolved or filed in the last 7 years",
        "Derogatory public record (judgment, bankruptcy or tax lien)",
        "pub",
        "count(*) FILTER (WHERE resolved_asof IS NULL OR filed_date > {d} - INTERVAL 7 YEAR)",
        "ascending",
        (
            "public_record.record_kind",
            "public_record.filed_date",
            "public_record.resolved_date",
            "account_status.consumer_information",
        ),
        "public_records",
        zero_if_absent=True,
    ),
    # -- amounts owed ----------------------------------------------------------------------
    Feature(
        "revolving_utilisation",
        "AO01",
        "amounts_owed",
        "Balances on open revolving accounts as a share of their credit limits",
        "Proportion of balances to credit limits on revolving accounts is too high",
        "acc",
        "sum(balance) FILTER (WHERE revolving AND is_open) / "
        "nullif(sum(credit_limit) FILTER (WHERE revolving AND is_open), 0)",
        "ascending",
        _CARD,
        "open_cards",
        missing_statement="No open revolving account with a balance and limit on file",
    ),
    Feature(
        "utilisation_trend_12m",
        "AO06",
        "amounts_owed",
        "Average over the last 12 months of revolving balances as a share of limits (trended data)",
        "Balances on revolving accounts have been high relative to limits over the last 12 months",
        "acc",
        "sum(util_sum_12m) / nullif(sum(util_months_12m), 0)",
        "ascending",
        _CARD,
        "cards_12m",
        missing_statement="No recent balance information on revolving accounts",
    ),
    Feature(
        "max_card_utilisation",
        "AO02",
        "amounts_owed",
        "Highest balance-to-limit share on any open revolving account",
        "Balance is too close to the credit limit on one or more revolving accounts",
        "acc",
        "max(balance / nullif(credit_limit, 0)) FILTER (WHERE revolving AND is_open)",
        "ascending",
        _CARD,
        "open_cards",
        missing_statement="No recent balance information on revolving accounts",
    ),
    Feature(
        "total_balance",
        "AO03",
        "amounts_owed",
        "Total balance on open accounts",
        "Amount owed on accounts is too high",
        "acc",
        "sum(balance) FILTER (WHERE is_open)",
        "auto_asc_desc",
        ("account_status.balance", *_OPEN),
        "open_accounts",
        missing_statement="No open account with a balance on file",
    ),
    Feature(
        "available_revolving_credit",
        "AO05",
        "amounts_owed",
        "Credit limits minus balances on open revolving accounts",
        "Not enough available credit on revolving accounts",
        "acc",
        "sum(credit_limit - balance) FILTER (WHERE revolving AND is_open)",
        "descending",
        _CARD,
        "open_cards",
        missing_statement="No recent balance information on revolving accounts",
    ),
    Feature(
        "installment_balance_ratio",
        "AO04",
        "amounts_owed",
        "Balances on open loans as a share of the amounts borrowed",
        "Proportion of loan balances to loan amounts is too high",
        "acc",
        "sum(balance) FILTER (WHERE NOT revolving AND is_open) / "
        "nullif(sum(original_amount) FILTER (WHERE NOT revolving AND is_open), 0)",
        "ascending",
        _LOAN,
        "open_loans",
        missing_statement="No open loan on file",
    ),
    # -- length of history -----------------------------------------------------------------
    Feature(
        "oldest_account_months",
        "LH01",
        "length_of_history",
        "Months since the oldest account was opened",
        "Length of time accounts have been established is too short",
        "acc",
        "date_diff('month', min(opened_date), {d})",
        "descending",
        ("account_status.opened_date",),
        "oldest_account",
        missing_statement="No credit account on file",
    ),
    Feature(
        "average_account_months",
        "LH02",
        "length_of_history",
        "Average months since each account was opened",
        "Average age of accounts is too short",
        "acc",
        "avg(date_diff('month', opened_date, {d}))",
        "descending",
        ("account_status.opened_date",),
        "all_accounts",
        missing_statement="No credit account on file",
    ),
    # -- new credit ------------------------------------------------------------------------
    Feature(
        "inquiries_6m",
        "NC01",
        "new_credit",
        "Credit inquiries in the last 6 months",
        "Too many inquiries in the last 6 months",
        "inq",
        "count(*) FILTER (WHERE event_date > {d} - INTERVAL 6 MONTH)",
        "ascending",
        ("inquiry.event_date",),
        "inquiries_6m",
        zero_if_absent=True,
    ),
    Feature(
        "inquiries_12m",
        "NC02",
        "new_credit",
        "Credit inquiries in the last 12 months",
        "Too many inquiries in the last 12 months",
        "inq",
        "count(*) FILTER (WHERE event_date > {d} - INTERVAL 12 MONTH)",
        "ascending",
        ("inquiry.event_date",),
        "inquiries_12m",
        zero_if_absent=True,
    ),
    Feature(
        "inquiries_24m",
        "NC05",
        "new_credit",
        "Credit inquiries in the last 24 months",
        "Too many inquiries in the last 24 months",
        "inq",
        "count(*) FILTER (WHERE event_date > {d} - INTERVAL 24 MONTH)",
        "ascending",
        ("inquiry.event_date",),
        "inquiries_24m",
        zero_if_absent=True,
    ),
    Feature(
        "new_accounts_12m",
        "NC03",
        "new_credit",
        "Accounts opened in the last 12 months",
        "Too many accounts opened in the last 12 months",
        "acc",
        "count(*) FILTER (WHERE opened_date > {d} - INTERVAL 12 MONTH)",
        "ascending",
        ("account_status.opened_date",),
        "new_accounts_12m",
        zero_if_absent=True,
    ),
    Feature(
        "months_since_newest_account",
        "NC04",
        "new_credit",
        "Months since the most recent account was opened",
        "Time since the most recent account opening is too short",
        "acc",
        "date_diff('month', max(opened_date), {d})",
        "descending",
        ("account_status.opened_date",),
        "newest_account",
        missing_statement="No credit account on file",
    ),
    # -- credit mix ------------------------------------------------------------------------
    Feature(
        "open_accounts",
        "CM01",
        "credit_mix",
        "Accounts open and reporting",
        "Too few accounts currently open",
        "acc",
        "count(*) FILTER (WHERE is_open)",
        "descending",
        _OPEN,
        "open_accounts",
        zero_if_absent=True,
    ),
    Feature(
        "product_types",
        "CM02",
        "credit_mix",
        "Kinds of credit open (card, auto loan, personal loan, mortgage)",
        "Lack of a mix of credit types",
        "acc",
        "count(DISTINCT product) FILTER (WHERE is_open)",
        "descending",
        ("account_status.product", *_OPEN),
        "open_accounts",
        zero_if_absent=True,
    ),
    # -- alternative data ------------------------------------------------------------------
    Feature(
        "alt_on_time_share_12m",
        "AP01",
        "alternative_data",
        "Share of utility, telecom and rent bills due in the last 12 months paid on time",
        "Utility, telecom or rent payments not made on time",
        "pay",
        "avg(CASE WHEN days_late_asof = 0 THEN 1.0 ELSE 0.0 END) "
        "FILTER (WHERE due_date > {d} - INTERVAL 12 MONTH)",
        "descending",
        _ALT,
        "alt_late_12m",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
    Feature(
        "alt_late_payments_12m",
        "AP02",
        "alternative_data",
        "Utility, telecom and rent bills 30 or more days late in the last 12 months",
        "Utility, telecom or rent payments 30 or more days late",
        "pay",
        "count(*) FILTER (WHERE days_late_asof >= 30 AND due_date > {d} - INTERVAL 12 MONTH)",
        "ascending",
        _ALT,
        "alt_late_12m",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
    Feature(
        "alt_max_days_late_12m",
        "AP03",
        "alternative_data",
        "Most days late on a utility, telecom or rent bill in the last 12 months",
        "A utility, telecom or rent payment was seriously late",
        "pay",
        "max(days_late_asof) FILTER (WHERE due_date > {d} - INTERVAL 12 MONTH)",
        "ascending",
        _ALT,
        "alt_late_12m",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
    Feature(
        "alt_late_payments_24m",
        "AP05",
        "alternative_data",
        "Utility, telecom and rent bills paid late (any days) in the last 24 months",
        "Too many late utility, telecom or rent payments in the last 24 months",
        "pay",
        "count(*) FILTER (WHERE days_late_asof > 0 AND due_date > {d} - INTERVAL 24 MONTH)",
        "ascending",
        _ALT,
        "alt_late_24m",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
    Feature(
        "alt_late_share_24m",
        "AP06",
        "alternative_data",
        "Share of utility, telecom and rent bills due in the last 24 months paid late",
        "Proportion of utility, telecom or rent bills paid late is too high",
        "pay",
        "avg(CASE WHEN days_late_asof > 0 THEN 1.0 ELSE 0.0 END) "
        "FILTER (WHERE due_date > {d} - INTERVAL 24 MONTH)",
        "ascending",
        _ALT,
        "alt_late_24m",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
    Feature(
        "alt_past_due_days",
        "AP07",
        "alternative_data",
        "Days the oldest utility, telecom or rent bill still unpaid on the as-of date is "
        "past its due date (0: none unpaid)",
        "A utility, telecom or rent bill is unpaid past its due date",
        "pay",
        "coalesce(max(days_late_asof) FILTER (WHERE paid_date IS NULL OR paid_date > {d}), 0)",
        "ascending",
        ("payment.due_date", "payment.paid_date"),
        "alt_past_due_now",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
    Feature(
        "alt_months_history",
        "AP04",
        "alternative_data",
        "Months with a utility, telecom or rent bill on file",
        "Length of utility, telecom or rent payment history is too short",
        # the eligibility fact alt_months, computed once (DuckDB reuses a select alias)
        "pay",
        "alt_months",
        "descending",
        ("payment.due_date",),
        "alt_accounts",
        missing_statement="No utility, telecom or rent payment history on file",
    ),
)

FEATURES_BY_NAME = {f.name: f for f in FEATURES}

# Facts about a file that decide whether it can be scored at all (not score factors).
ELIGIBILITY = {
    "tradelines": ("acc", "count(*)"),
    "alt_months": ("pay", "count(DISTINCT date_trunc('month', due_date))"),
}

_SOURCES = {
    "acc": "pit_accounts",
    "inq": "pit_inquiries",
    "pub": "pit_public",
    "pay": "pit_payments",
}

# Evidence: (person_id, record_id) of the records behind a feature's value as of {d}: the
# point-in-time table read ({src} in the SELECT) and the SELECT.
EVIDENCE: dict[str, tuple[str, str]] = {
    "delinquent_12m": (
        "pit_status",
        "SELECT person_id, record_id FROM {src} WHERE status_rank >= 1 AND event_date "
        "> {d} - INTERVAL 12 MONTH",
    ),
    "last_delinquency": (
        "pit_status",
        "SELECT person_id, record_id FROM {src} WHERE status_rank >= 1 QUALIFY "
        "event_date = max(event_date) OVER (PARTITION BY person_id)",
    ),
    "last_serious_delinquency": (
        "pit_status",
        "SELECT person_id, record_id FROM {src} WHERE status_rank >= 3 QUALIFY "
        "event_date = max(event_date) OVER (PARTITION BY person_id)",
    ),
    "past_due_now": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} WHERE current_rank >= 1 AND NOT is_closed",
    ),
    "delinquent_24m": (
        "pit_status",
        "SELECT person_id, record_id FROM {src} WHERE status_rank >= 1 AND event_date "
        "> {d} - INTERVAL 24 MONTH QUALIFY row_number() OVER (PARTITION BY person_id, "
        "account_id ORDER BY event_date DESC) = 1",
    ),
    "public_records": (
        "pit_public",
        "SELECT person_id, record_id FROM {src} WHERE resolved_asof IS NULL OR "
        "filed_date > {d} - INTERVAL 7 YEAR",
    ),
    "open_cards": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} WHERE revolving AND is_open",
    ),
    "open_accounts": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} WHERE is_open",
    ),
    "open_loans": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} WHERE NOT revolving AND is_open",
    ),
    "oldest_account": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} QUALIFY opened_date = "
        "min(opened_date) OVER (PARTITION BY person_id)",
    ),
    "all_accounts": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src}",
    ),
    "newest_account": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} QUALIFY opened_date = "
        "max(opened_date) OVER (PARTITION BY person_id)",
    ),
    "new_accounts_12m": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} WHERE opened_date > {d} - INTERVAL 12 MONTH",
    ),
    "inquiries_6m": (
        "pit_inquiries",
        "SELECT person_id, record_id FROM {src} WHERE event_date > {d} - INTERVAL 6 MONTH",
    ),
    "inquiries_12m": (
        "pit_inquiries",
        "SELECT person_id, record_id FROM {src} WHERE event_date > {d} - INTERVAL 12 MONTH",
    ),
    "cards_12m": (
        "pit_accounts",
        "SELECT person_id, latest_record_id FROM {src} WHERE revolving AND util_months_12m > 0",
    ),
    "inquiries_24m": (
        "pit_inquiries",
        "SELECT person_id, record_id FROM {src} WHERE event_date > {d} - INTERVAL 24 MONTH",
    ),
    "delinquent_rows_24m": (
        "pit_status",
        "SELECT person_id, record_id FROM {src} WHERE status_rank >= 1 AND event_date "
        "> {d} - INTERVAL 24 MONTH",
    ),
    "alt_late_24m": (
        "pit_payments",
        "SELECT person_id, record_id FROM {src} WHERE days_late_asof > 0 AND due_date "
        "> {d} - INTERVAL 24 MONTH",
    ),
    "alt_late_12m": (
        "pit_payments",
        "SELECT person_id, record_id FROM {src} WHERE days_late_asof > 0 AND due_date "
        "> {d} - INTERVAL 12 MONTH",
    ),
    "alt_past_due_now": (
        "pit_payments",
        "SELECT person_id, record_id FROM {src} WHERE days_late_asof > 0 AND "
        "(paid_date IS NULL OR paid_date > {d})",
    ),
    "alt_accounts": (
        "pit_payments",
        "SELECT person_id, record_id FROM {src} QUALIFY row_number() OVER (PARTITION "
        "BY person_id, account_id ORDER BY due_date DESC) = 1",
    ),
}


def features_sql(
    as_of: dt.date, features: tuple[Feature, ...] = FEATURES, persons: list[str] | None = None
) -> str:
    """SELECT of one row per indexed person (``persons``: of these only): every feature and
    eligibility fact as of D."""
    d = date_literal(as_of)
    # Every source counts its rows, so "has any record" needs no extra pass over the ledger.
    per_source: dict[str, list[str]] = {s: [f"count(*) AS n_{s}"] for s in _SOURCES}
    for name, (src, expr) in ELIGIBILITY.items():
        per_source[src].append(f"{expr} AS {name}")
    for f in features:
        per_source[f.source].append(f"{f.sql.format(d=d)} AS {f.name}")
    scope = f" WHERE person_id IN ({persons_sql(persons)})" if persons is not None else ""
    ctes = [f"persons AS (SELECT DISTINCT person_id FROM {PERSON_INDEX.name}{scope})"]
    for src, cols in per_source.items():
        ctes.append(
            f"{src} AS (SELECT person_id, {', '.join(cols)} "
            f"FROM {_SOURCES[src]} GROUP BY person_id)"
        )
    select = [f"{d} AS as_of"]
    for f in features:
        col = f"{f.source}.{f.name}"
        value = f"coalesce({col}, 0)" if f.zero_if_absent else col
        select.append(f"CAST({value} AS DOUBLE) AS {f.name}")
    records = " + ".join(f"coalesce({s}.n_{s}, 0)" for s in _SOURCES)
    select += [
        "coalesce(acc.tradelines, 0) AS tradelines",
        "coalesce(pay.alt_months, 0) AS alt_months",
        f"{records} AS records",
    ]
    joins = " ".join(f"LEFT JOIN {src} USING (person_id)" for src in per_source)
    return f"WITH {', '.join(ctes)} SELECT person_id, {', '.join(select)} FROM persons {joins}"


def compute_features(
    engine: Engine,
    as_of: dt.date,
    into: str = "person_features",
    *,
    temp: bool = True,
    known_at: dt.datetime | None = None,
    ageing: AgeingSection | None = None,
    persons: list[str] | None = None,
) -> str:
    """Write features as of ``as_of``, as known at ``known_at`` (None: now), into table
    ``into`` (one row per person; ``persons``: of these only, a person-level rescore);
    returns it.

    Items aged off by ``as_of`` under ``ageing`` (bureau.toml's ``[ageing]``; default: the
    law's periods) never count. Leaves the ``pit_*`` tables for ``as_of`` (of ``persons``) in
    place for evidence queries.
    """
    create_pit_views(engine, as_of, known_at, ageing, persons)
    kind = "TEMP TABLE" if temp else "TABLE"
    engine.execute(f"CREATE OR REPLACE {kind} {into} AS {features_sql(as_of, persons=persons)}")
    return into


def evidence_sql(as_of: dt.date, wanted: str, features: list[str] | None = None) -> str:
    """Records behind each (person_id, feature) pair listed in table ``wanted``.

    Requires the ``pit_*`` tables for ``as_of`` (``compute_features`` leaves them). Returns
    (person_id, feature, record_ids) with record ids sorted.

    Each point-in-time source is read once, for the persons one of its features is a reason
    for (a materialised CTE), however many features read it: its views (``pit_status`` over
    every status row, the suppression and ageing anti joins) are not evaluated per feature.
    """
    d = date_literal(as_of)
    chosen = [f for f in FEATURES if features is None or f.name in features]
    by_source: dict[str, list[str]] = {}
    for f in chosen:
        by_source.setdefault(EVIDENCE[f.evidence][0], []).append(f.name)
    ctes = [
        f"ev_{src} AS MATERIALIZED (SELECT * FROM {src} WHERE person_id IN "
        f"(SELECT person_id FROM {wanted} WHERE feature IN "
        f"({', '.join(repr(n) for n in names)})))"
        for src, names in by_source.items()
    ]
    parts = []
    for f in chosen:
        src, select = EVIDENCE[f.evidence]
        q = select.format(d=d, src="ev_" + src)
        # Only the persons this feature is a reason for: the filter reaches the scans.
        parts.append(
            f"SELECT {literal(f.name)} AS feature, e.person_id, e.rid "
            f"FROM ({q}) AS e(person_id, rid) WHERE e.person_id IN "
            f"(SELECT person_id FROM {wanted} WHERE feature = {literal(f.name)})"
        )
    if not parts:
        parts = [
            "SELECT NULL::VARCHAR AS feature, NULL::VARCHAR AS person_id, "
            "NULL::VARCHAR AS rid WHERE false"
        ]
    union = " UNION ALL ".join(parts)
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    # (each part keeps to its feature's persons already: no join back to ``wanted``)
    return f"""{with_}SELECT person_id, feature,
            list_sort(list_distinct(list(rid))) AS record_ids
        FROM ({union}) GROUP BY person_id, feature"""

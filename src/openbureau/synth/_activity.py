"""What happens to each person month by month: accounts, bills, inquiries, public records.

Each function returns a row table (a dict of equal-length numpy arrays) in the order the
furnisher writes it. Every table has ``person`` (0-based), ``month`` (which address and surname
apply) and ``src`` (the furnisher account the identity noise belongs to, numbered 0..k-1).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from openbureau.synth._config import Calendar
from openbureau.synth._ids import Numbering
from openbureau.synth._population import NEVER
from openbureau.synth._risk import (
    BILL_LATE_A,
    BILL_LATE_B,
    COURT_A,
    COURT_B,
    INQ_B,
    INQ_RATE,
    LATE_A,
    LATE_B,
    TAX_A,
    TAX_B,
    UTIL_A,
    UTIL_B,
    Risk,
    sigmoid,
)

Rows = dict[str, np.ndarray]


class Residents(Protocol):
    """What the activity needs of a population: its size and when each person moves (``moves``:
    (n, 2) months of the 1st and 2nd move, ``NEVER`` if none; address slots 0..2)."""

    n: int
    moves: np.ndarray


# Canonical codes used between phases; each furnisher maps them to its own.
CURRENT, DPD30, DPD60, DPD90, DPD120, DPD150, CHARGEOFF, CLOSED = range(8)
CARD, AUTO, PERSONAL, MORTGAGE = range(4)
CIVIL, BK7, BK13 = range(3)


def expand(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per month from first to last (inclusive) of every source."""
    lens = np.maximum(last - first + 1, 0)
    src = np.repeat(np.arange(len(first)), lens)
    offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return src, first[src] + offs


def _order(rows: Rows, *keys: str) -> Rows:
    idx = np.lexsort(tuple(rows[k] for k in reversed(keys)))
    return {k: v[idx] for k, v in rows.items()}


def _days(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    return rng.integers(lo, hi, n).astype("timedelta64[D]")


def _renumber(src: np.ndarray) -> np.ndarray:
    _, inv = np.unique(src, return_inverse=True)
    return inv


def tradelines(
    rng: np.random.Generator,
    pop: Residents,
    risk: Risk,
    has_trade: np.ndarray,
    cal: Calendar,
    ids: Numbering,
) -> Rows:
    """Monthly tradeline rows of both lenders, ordered by lender, account number and month."""
    n_acc = np.where(has_trade, 1 + np.minimum(rng.poisson(1.1, pop.n), 5), 0)
    owner = np.repeat(np.arange(pop.n), n_acc)
    k = len(owner)
    primary = np.r_[True, owner[1:] != owner[:-1]] if k else np.zeros(0, bool)
    product = np.where(primary, CARD, rng.choice(4, k, p=[0.45, 0.2, 0.2, 0.15]))
    lender = (rng.random(k) >= 0.55).astype(np.int8)  # 0 northbank, 1 crestline
    open_m = np.where(primary, -rng.integers(1, 120, k), rng.integers(-96, cal.months, k))
    term = np.select(
        [product == AUTO, product == PERSONAL, product == MORTGAGE],
        [rng.integers(36, 73, k), rng.integers(24, 61, k), np.full(k, 360)],
        0,
    )
    card_close = np.where(rng.random(k) < 0.15, open_m + rng.integers(12, 60, k), NEVER)
    close_m = np.where(product == CARD, np.where(primary, NEVER, card_close), open_m + term)
    d = risk.default_month[owner]
    rolling = (d < NEVER) & (close_m >= d - 2)
    close_m = np.where(rolling, NEVER, close_m)
    keep = (close_m >= 0) & (primary | (open_m <= d - 3))
    first, last = np.maximum(open_m, 0), np.minimum(close_m, cal.months - 1)
    keep &= first <= last
    z = risk.z[owner]
    amount = np.select(
        [product == CARD, product == AUTO, product == PERSONAL],
        [
            np.clip(np.exp(rng.normal(8.4 - 0.35 * z, 0.6)), 300, 50_000),
            np.exp(rng.normal(10.0, 0.4, k)),
            np.exp(rng.normal(8.9, 0.6, k)),
        ],
        np.exp(rng.normal(12.4, 0.5, k)),
    ).round(-2)
    util = sigmoid(UTIL_A + UTIL_B * z + rng.normal(0, 0.7, k))
    acct = ids.take("tradeline", k)
    open_date = (cal.start.astype("datetime64[M]") + open_m).astype("datetime64[D]")
    open_date = open_date + _days(rng, 0, 28, k)
    report_day = rng.integers(0, 10, k)
    sel = np.flatnonzero(keep)
    order = sel[np.lexsort((acct[sel], lender[sel]))]
    src, month = expand(first[order], last[order])
    a = order[src]
    n = len(a)

    status = np.zeros(n, dtype=np.int8)
    late = rng.random(n) < sigmoid(LATE_A + LATE_B * z[a])
    two = late & (rng.random(n) < 0.3)
    status[late] = DPD30
    follow = np.r_[False, two[:-1] & (a[1:] == a[:-1])] if n else np.zeros(0, bool)
    status[follow] = DPD60
    status[month == close_m[a]] = CLOSED
    since = month - d[a]
    roll = since >= -2
    status[roll] = np.minimum(since[roll] + 3, CHARGEOFF)
    dpd = np.select(
        [status == CURRENT, status == CLOSED, status == CHARGEOFF],
        # in int64: 30 * dpd150 overflows status's int8 (the file said -100 days past due)
        [0, 0, 180 + 30 * (since - 3)],
        30 * status.astype(np.int64) + rng.integers(0, 30, n),
    )
    age = month - open_m[a]
    frozen_age = np.where(roll, d[a] - 3 - open_m[a], age)
    remaining = np.clip(1 - frozen_age / np.maximum(term[a], 1), 0.05, 1)
    card_util = np.where(
        roll,
        np.minimum(util[a] + 0.1 * np.minimum(since + 3, 6), 1.15),
        np.clip(util[a] * np.exp(rng.normal(0, 0.25, n)), 0, 1),
    )
    balance = np.where(product[a] == CARD, amount[a] * card_util, amount[a] * remaining)
    balance = np.where(status == CLOSED, 0.0, balance).round(2)
    month_start = cal.month_start
    # a roll to default began 30 days late two months before the default month, perhaps
    # before the window: Metro 2 still reports that day
    dofd = _first_delinquency(a, month, status, np.where(roll, d[a] - 2, NEVER), cal)
    return {
        "person": owner[a],
        "month": month,
        "src": src,
        "lender": lender[a],
        "account": acct[a],
        "product": product[a],
        "open_date": open_date[a],
        "amount": amount[a],
        "period": month,
        "balance": balance,
        "status": status,
        "dpd": dpd,
        "reported": month_start[month + 1] + report_day[a].astype("timedelta64[D]"),
        "closed_date": np.where(
            status == CLOSED, month_start[month] + 14, np.datetime64("NaT", "D")
        ),
        "dofd": dofd,
    }


def _first_delinquency(
    account: np.ndarray, month: np.ndarray, status: np.ndarray, rolled: np.ndarray, cal: Calendar
) -> np.ndarray:
    """Metro 2's date of first delinquency of each late or charged-off row: the day the account
    became 30 days past due in the run of late months the row belongs to (mid-month of the
    run's first late month); NaT on a row in good standing. Rows are in account and month
    order; ``rolled``: the first late month of a roll to default (NEVER for other rows)."""
    late = (status >= DPD30) & (status <= CHARGEOFF)
    n = len(late)
    if not n:
        return np.zeros(0, "datetime64[D]")
    same = np.r_[False, account[1:] == account[:-1]]
    after_late = np.r_[False, late[:-1]] & same
    starts = late & ~after_late
    # index of the latest run start at or before each row
    idx = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    first = np.where(rolled < NEVER, rolled, month[idx])
    began = (cal.start.astype("datetime64[M]") + first).astype("datetime64[D]")
    began = began + np.timedelta64(14, "D")
    return np.where(late, began, np.datetime64("NaT", "D"))


def inquiries(
    rng: np.random.Generator,
    pop: Residents,
    risk: Risk,
    has_trade: np.ndarray,
    cal: Calendar,
    ids: Numbering,
) -> Rows:
    """Credit inquiries of both lenders, ordered by lender, date and inquiry id."""
    lam = INQ_RATE * np.exp(INQ_B * risk.z) * np.where(has_trade, 1.0, 0.6)
    cnt = rng.poisson(lam)
    who = np.repeat(np.arange(pop.n), cnt)
    k = len(who)
    span = int((cal.month_start[-1] - cal.month_start[0]).astype(int))
    date = cal.month_start[0] + _days(rng, 0, span, k)
    month = (date.astype("datetime64[M]") - cal.start.astype("datetime64[M]")).astype(np.int64)
    rows = {
        "person": who,
        "month": month,
        "date": date,
        "purpose": rng.choice(4, k, p=[0.5, 0.2, 0.18, 0.12]),
        "lender": (rng.random(k) >= 0.55).astype(np.int8),
        "inquiry": ids.take("inquiry", k),
    }
    rows = {key: v[month <= risk.default_month[who]] for key, v in rows.items()}
    rows = _order(rows, "lender", "date", "inquiry")
    rows["src"] = np.arange(len(rows["person"]))
    return rows


def _slots(pop: Residents, members: np.ndarray, cal: Calendar) -> tuple[np.ndarray, ...]:
    """Per member and address slot: (person, slot, first month, last month) of slots lived in."""
    mv = pop.moves[members]
    starts = np.c_[np.zeros(len(members), np.int64), mv]
    ends = np.c_[mv - 1, np.full(len(members), cal.months - 1)]
    valid = starts <= cal.months - 1
    person = np.repeat(members, 3).reshape(-1, 3)[valid]
    slot = np.tile(np.arange(3), (len(members), 1))[valid]
    return person, slot, starts[valid], np.minimum(ends[valid], cal.months - 1)


def _bill_payment(
    rng: np.random.Generator,
    z: np.ndarray,
    since_default: np.ndarray,
    due: np.ndarray,
    cal: Calendar,
    max_late: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Paid date (NaT when unpaid at extraction) and days late as of extraction."""
    n = len(z)
    late = rng.random(n) < sigmoid(BILL_LATE_A + BILL_LATE_B * z)
    days_late = np.where(late, np.minimum(1 + rng.geometric(0.12, n), max_late), 0)
    early = rng.integers(0, 10, n)
    paid = due + np.where(late, days_late, -early).astype("timedelta64[D]")
    unpaid = (since_default >= -2) | (paid > cal.extract_date)
    paid = np.where(unpaid, np.datetime64("NaT", "D"), paid)
    overdue = (cal.extract_date - due).astype(np.int64)
    days_late = np.where(unpaid, np.maximum(overdue, 0), days_late)
    return paid, days_late


def utility_bills(
    rng: np.random.Generator,
    pop: Residents,
    risk: Risk,
    members: np.ndarray,
    cal: Calendar,
    ids: Numbering,
) -> Rows:
    person, slot, first, last = _slots(pop, members, cal)
    k = len(person)
    acct = ids.take("utility", k)
    base = np.exp(rng.normal(4.6, 0.45, k))
    bill_day = rng.integers(0, 28, k)
    order = np.argsort(acct)
    src, month = expand(first[order], last[order])
    s = order[src]
    p = person[s]
    bill = cal.month_start[month] + bill_day[s].astype("timedelta64[D]")
    due = bill + np.timedelta64(21, "D")
    season = 1 + 0.25 * np.cos(2 * np.pi * (month % 12) / 12)
    amount = (base[s] * season * np.exp(rng.normal(0, 0.1, len(s)))).round(2)
    paid, _ = _bill_payment(rng, risk.z[p], month - risk.default_month[p], due, cal, 60)
    partial = rng.random(len(s)) < 0.03
    amount_paid = np.where(partial, (amount * rng.uniform(0.3, 0.9, len(s))).round(2), amount)
    amount_paid = np.where(np.isnat(paid), np.nan, amount_paid)
    return {
        "person": p,
        "month": month,
        "src": src,
        "slot": slot[s],
        "account": acct[s],
        "bill_date": bill,
        "due_date": due,
        "amount_due": amount,
        "amount_paid": amount_paid,
        "paid_date": paid,
    }


def telecom_bills(
    rng: np.random.Generator,
    pop: Residents,
    risk: Risk,
    members: np.ndarray,
    cal: Calendar,
    ids: Numbering,
) -> Rows:
    k = len(members)
    start_m = np.where(
        rng.random(k) < 0.7, -rng.integers(1, 60, k), rng.integers(0, cal.months - 6, k)
    )
    contract = ids.take("telecom", k)
    start_date = (cal.start.astype("datetime64[M]") + start_m).astype("datetime64[D]") + _days(
        rng, 0, 28, k
    )
    base = np.exp(rng.normal(4.2, 0.4, k))
    order = np.argsort(contract)
    src, month = expand(np.maximum(start_m, 0)[order], np.full(k, cal.months - 1))
    c = order[src]
    p = members[c]
    due = cal.month_start[month] + np.timedelta64(20, "D")
    paid, days_late = _bill_payment(rng, risk.z[p], month - risk.default_month[p], due, cal, 60)
    return {
        "person": p,
        "month": month,
        "src": src,
        "contract": contract[c],
        "contract_start": start_date[c],
        "amount_due": (base[c] + rng.normal(0, 3, len(c))).clip(10).round(2),
        "due_date": due,
        "paid_date": paid,
        "days_late": days_late,
        "phone_style": rng.integers(0, 4, k)[src],
        "email_missing": (rng.random(k) < 0.25)[src],
        "title_u": rng.random(k)[src],
    }


def rent_payments(
    rng: np.random.Generator,
    pop: Residents,
    risk: Risk,
    members: np.ndarray,
    cal: Calendar,
    ids: Numbering,
) -> Rows:
    person, slot, first, last = _slots(pop, members, cal)
    k = len(person)
    lease = ids.take("lease", k)
    rent = (np.exp(rng.normal(7.2, 0.35, k)) / 5).round() * 5
    order = np.argsort(lease)
    src, month = expand(first[order], last[order])
    s = order[src]
    p = person[s]
    due = cal.month_start[month]
    paid, days_late = _bill_payment(rng, risk.z[p], month - risk.default_month[p], due, cal, 30)
    return {
        "person": p,
        "month": month,
        "src": src,
        "slot": slot[s],
        "lease": lease[s],
        "rent_month": month,
        "amount": rent[s],
        "paid_date": paid,
        "days_late": days_late,
    }


def court_cases(
    rng: np.random.Generator, pop: Residents, risk: Risk, cal: Calendar, ids: Numbering
) -> Rows:
    n = pop.n
    base = rng.random(n) < sigmoid(COURT_A + COURT_B * risk.z)
    d = risk.default_month
    sued = (d < cal.months - 4) & (rng.random(n) < 0.25)
    who = np.r_[np.flatnonzero(base), np.flatnonzero(sued)]
    k = len(who)
    kind = np.r_[rng.choice(3, int(base.sum()), p=[0.6, 0.25, 0.15]), np.zeros(int(sued.sum()))]
    filed_m = np.r_[
        rng.integers(-24, cal.months, int(base.sum())),
        d[sued] + rng.integers(3, 10, int(sued.sum())),
    ]
    keep = filed_m < cal.months
    who, kind, filed_m = who[keep], kind[keep].astype(np.int8), filed_m[keep]
    k = len(who)
    filed = (cal.start.astype("datetime64[M]") + filed_m).astype("datetime64[D]") + _days(
        rng, 0, 28, k
    )
    amount = np.where(
        kind == CIVIL, np.exp(rng.normal(8.3, 0.8, k)), np.exp(rng.normal(10.5, 0.7, k))
    ).round(2)
    after = np.select(
        [kind == CIVIL, kind == BK7],
        [rng.integers(60, 720, k), np.full(k, 120)],
        rng.integers(1100, 1800, k),
    ).astype("timedelta64[D]")
    done = rng.random(k) < np.select([kind == CIVIL, kind == BK7], [0.45, 0.9], 0.3)
    satisfied = np.where(
        done & (filed + after <= cal.extract_date), filed + after, np.datetime64("NaT", "D")
    )
    case = ids.take("court", k)
    rows = {
        "person": who,
        "month": np.maximum(filed_m, 0),
        "case": case,
        "kind": kind,
        "filed": filed,
        "amount": amount,
        "satisfied": satisfied,
    }
    rows = _order(rows, "filed", "case")
    rows["src"] = np.arange(k)
    return rows


def tax_liens(
    rng: np.random.Generator, pop: Residents, risk: Risk, cal: Calendar, ids: Numbering
) -> Rows:
    who = np.flatnonzero(rng.random(pop.n) < sigmoid(TAX_A + TAX_B * risk.z))
    k = len(who)
    filed_m = rng.integers(-24, cal.months, k)
    filed = (cal.start.astype("datetime64[M]") + filed_m).astype("datetime64[D]") + _days(
        rng, 0, 28, k
    )
    release = filed + _days(rng, 90, 900, k)
    released = np.where(
        (rng.random(k) < 0.4) & (release <= cal.extract_date), release, np.datetime64("NaT", "D")
    )
    lien = ids.take("lien", k)
    rows = {
        "person": who,
        "month": np.maximum(filed_m, 0),
        "lien": lien,
        "filed": filed,
        "amount": np.exp(rng.normal(8.5, 0.9, k)).round(2),
        "released": released,
        "tin_dashes": rng.random(k) < 0.3,
    }
    rows = _order(rows, "lien")
    rows["src"] = np.arange(k)
    return rows

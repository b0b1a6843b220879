"""Harbor Bank: a third lender, which furnishes its accounts as a Metro 2 file.

The file is Metro 2's character format, variable length, CRLF: a header, one base segment per
account and month, and a trailer whose totals match. Fields sit where ``ingest._metro2``
declares them (the one table of positions). Besides plain accounts it holds what a real
lender's file does and the rest of the pipeline must handle:

- joint accounts: a J1 segment (the joint holder lives at the account holder's address: the
  household partner of a twin or a Jr/Sr pair) or a J2 segment (another person, at their own
  address), with ECOA code 2 on both consumers;
- one account sold: its last month has status 05 (transferred), a zero balance and a K2
  segment naming the purchaser (indicator 2, sold to); the lender reports it no more;
- one account renumbered: the month of the change carries an L1 segment with the new number,
  and the months after it are reported under that number.

The truth lists every consumer of a record: the base consumer (``seq`` 0) and each associated
consumer (``seq`` 1), so that linkage is scored on the joint holders too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np

from openbureau.ingest import _metro2
from openbureau.synth import _activity as act
from openbureau.synth._config import Calendar
from openbureau.synth._ids import Numbering
from openbureau.synth._layout import Col, Feed, _encode, _string_bytes, to_arrow
from openbureau.synth._noise import IDENTITY_VIEW, NoiseProfile, draw_source_noise
from openbureau.synth._population import Population
from openbureau.synth._risk import Risk

PERSON_SHARE = 0.25  # of the persons with a tradeline, who also bank with Harbor
JOINT_SHARE = 0.05  # of Harbor's accounts, joint with another person (J2)
PARTNER_SHARE = 0.5  # of the accounts of a twin or a Jr/Sr, joint with the other (J1)
PURCHASER = "SEAGATE CAPITAL LLC"
IDENTIFICATION = "HARBOR0001"
TRANSFERRED = 8  # a synth status code beyond CLOSED: Metro 2 status 05, account transferred
STATUS = ("11", "71", "78", "80", "82", "83", "97", "13", "05")
ACCOUNT_TYPE = ("18", "00", "01", "26")  # card, auto, personal, mortgage (CRRG Exhibit 1)
PORTFOLIO = ("R", "I", "I", "M")
GENERATION = {"JR": "J", "SR": "S", "II": "2", "III": "3"}
# A stream of its own (not one spawned from the seed's list), so the other feeds stay as
# they were.
STREAM = 0x4D32

HARBOR_ACCOUNTS = Feed(
    name="harbor_accounts",
    furnisher="Harbor Bank",
    feed="accounts",
    description="Monthly Metro 2 file (character format, variable length).",
    path="harbor/accounts.metro2",
    format="metro2",
    # (only the defects these declare are drawn: a bad Date of Account Information, a record
    # without SSN and surname, a record sent twice)
    columns=(
        Col("Date of Account Information", "", "reported_date", "reference", defects=("date",)),
        Col("Social Security Number", "", "national_id", "identity", defects=("ident",)),
    ),
    record_key=("account_id", "period"),
    require_one_of=(("national_id",), ("last_name", "dob")),
    # (a Metro 2 lender always has the SSN: a record lacking it would, with a birth date left
    # out, identify no one)
    noise=NoiseProfile(strip_accents=1.0, upper=1.0, middle=(0.3, 0.6, 0.1), id_missing=0.0),
    encoding="latin-1",
    newline="\r\n",
    bad_date="13452024",
)

SPEC_YAML = """\
# Harbor Bank's monthly Metro 2 file (character format). The fields, the record key and the
# ledger mapping are built in: see docs/ingest.md, Metro 2.
spec_version: 1
name: harbor_accounts
furnisher: Harbor Bank
feed: accounts
description: Monthly Metro 2 file (character format, variable length).
format: metro2
parse:
  encoding: latin-1
"""


class Holders(act.Residents, Protocol):
    """What Harbor's accounts need of a population: its size, moves, twins and Jr/Sr pairs
    (``twin_of``, ``jr_sr_of``: the other's person_id, 0 for none)."""

    twin_of: np.ndarray
    jr_sr_of: np.ndarray


def draw_rows(
    rng: np.random.Generator,
    pop: Holders,
    risk: Risk,
    has_trade: np.ndarray,
    cal: Calendar,
    ids: Numbering,
    sell: bool = True,
) -> act.Rows:
    """Harbor's account months, with each account's joint holder (``joint``: person, -1 for
    none; ``joint_seg``: 1 J1, 2 J2), the sale (``sold``) and the renumbering (``new_account``,
    0 for none); ``sell``: whether to sell and renumber an account among these (a file has one
    of each: the first block of persons that can, does)."""
    chosen = has_trade & (rng.random(pop.n) < PERSON_SHARE)
    rows = act.tradelines(rng, pop, risk, chosen, cal, ids)
    src = rows["src"]
    n_src = int(src.max()) + 1 if len(src) else 0
    owner = np.zeros(n_src, np.int64)
    owner[src] = rows["person"]
    partner = np.maximum(pop.twin_of, pop.jr_sr_of)[owner] - 1
    household = (partner >= 0) & (rng.random(n_src) < PARTNER_SHARE)
    others = np.flatnonzero(has_trade)
    other = others[rng.integers(0, max(len(others), 1), n_src)] if len(others) else owner
    joint = (rng.random(n_src) < JOINT_SHARE) & (other != owner)
    holder = np.where(household, partner, np.where(joint, other, -1))
    rows["joint"] = holder[src]
    rows["joint_seg"] = np.where(household, 1, np.where(joint, 2, 0))[src].astype(np.int8)
    rows["status"] = rows["status"].astype(np.int8)
    rows["new_account"] = np.zeros(len(src), np.int64)
    rows["sold"] = np.zeros(len(src), bool)
    rows["after_sale"] = np.zeros(len(src), bool)
    if sell:
        _sell_and_renumber(rng, rows, cal)
    keep = ~rows.pop("after_sale")
    return {k: v[keep] for k, v in rows.items()}


def _sell_and_renumber(rng: np.random.Generator, rows: act.Rows, cal: Calendar) -> None:
    """One account sold and one renumbered, in the month before ``as_of``: accounts in good
    standing, without a joint holder, reported from six months before to the window's end."""
    src, month = rows["src"], rows["month"]
    change = cal.as_of_month - 1
    first = np.full(int(src.max()) + 1 if len(src) else 0, 10_000)
    np.minimum.at(first, src, month)
    last = np.zeros_like(first)
    np.maximum.at(last, src, month)
    bad = np.zeros_like(first, dtype=bool)
    bad[src[(rows["status"] != act.CURRENT) | (rows["joint"] >= 0)]] = True
    fit = np.flatnonzero((first <= change - 6) & (last == cal.months - 1) & ~bad)
    if len(fit) < 2:
        return
    sold, renumbered = rng.choice(fit, 2, replace=False)
    at_sale = (src == sold) & (month == change)
    rows["status"][at_sale] = TRANSFERRED
    rows["balance"][at_sale] = 0.0
    rows["sold"][at_sale] = True
    rows["after_sale"] = (src == sold) & (month > change)
    new = 100_000_000 + int(rows["account"][src == renumbered][0])
    rows["new_account"][(src == renumbered) & (month == change)] = new
    rows["account"][(src == renumbered) & (month > change)] = new


def _field(target: str) -> tuple[int, int]:
    f = next(f for f in _metro2.BASE_FIELDS if f.target == target)
    return f.start, f.end - f.start + 1


def _assoc(target: str) -> tuple[int, int]:
    f = next(f for f in _metro2.ASSOCIATED_FIELDS if f.target == target)
    return f.start, f.end - f.start + 1


def _text(expr: str) -> str:
    return f"coalesce(CAST(({expr}) AS VARCHAR), '')"


def _number(expr: str, width: int) -> str:
    return f"lpad(CAST(coalesce(round({expr}), 0) AS BIGINT)::VARCHAR, {width}, '0')"


def _date(expr: str) -> str:
    return f"coalesce(strftime({expr}, '%m%d%Y'), '00000000')"


def _lay(length: int, pieces: list[tuple[int, int, str]]) -> str:
    """SQL of a ``length``-character segment: each (start, width, SQL text) at its place,
    cut or padded with spaces to its width; spaces between."""
    parts, at = [], 1
    for start, width, expr in sorted(pieces):
        if start > at:
            parts.append(f"repeat(' ', {start - at})")
        parts.append(f"rpad(left({expr}, {width}), {width}, ' ')")
        at = start + width
    if at <= length:
        parts.append(f"repeat(' ', {length - at + 1})")
    return " || ".join(parts)


def _generation(expr: str) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in GENERATION.items())
    return f"CASE upper({expr}) {whens} ELSE '' END"


def _identity(prefix: str, at: Any) -> list[tuple[int, int, str]]:
    """The consumer's name, SSN, birth date, phone and ECOA code (``at``: where a target sits)."""
    ssn = f"CASE WHEN {prefix}defect = 3 THEN '' ELSE {prefix}ssn END"
    surname = f"CASE WHEN {prefix}defect = 3 THEN '' ELSE {prefix}last_name END"
    return [
        (*at("last_name"), _text(surname)),
        (*at("first_name"), _text(f"{prefix}first_name")),
        (*at("middle_name"), _text(f"{prefix}middle_name")),
        (*at("name_suffix"), _text(_generation(f"{prefix}name_suffix"))),
        (*at("national_id"), f"coalesce(nullif({ssn}, ''), '000000000')"),
        (*at("dob"), _date(f"{prefix}dob")),
        (*at("phone"), _text(f"{prefix}phone")),
        (*at("account_role"), "CASE WHEN joint >= 0 THEN '2' ELSE '1' END"),
    ]


def _address(prefix: str, at: Any) -> list[tuple[int, int, str]]:
    return [
        (*at("address_line1"), _text(f"{prefix}street || coalesce(' ' || {prefix}unit, '')")),
        (*at("city"), _text(f"{prefix}city")),
        (*at("region"), _text(f"{prefix}state")),
        (*at("postcode"), _text(f"{prefix}zip")),
    ]


def _base_sql() -> str:
    status = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(STATUS))
    account_type = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(ACCOUNT_TYPE))
    portfolio = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(PORTFOLIO))
    # Date of Account Information: the last day of the month reported (its month is the period)
    dai = "last_day(month_date)"
    pieces = [
        (5, 1, "'1'"),
        (*_field("identification_number"), f"'{IDENTIFICATION}'"),
        (*_field("account_id"), "account::VARCHAR"),
        (*_field("portfolio_type"), f"CASE product {portfolio} END"),
        (*_field("account_type"), f"CASE product {account_type} END"),
        (*_field("opened_date"), _date("open_date")),
        (*_field("credit_limit"), _number("CASE WHEN product = 0 THEN amount END", 9)),
        (*_field("highest_credit"), _number("amount", 9)),
        (*_field("metro2_status"), f"CASE status {status} END"),
        (*_field("payment_rating"), "CASE WHEN status IN (7, 8) THEN '0' ELSE ' ' END"),
        (*_field("payment_history_profile"), "profile"),
        (*_field("balance"), _number("balance", 9)),
        (*_field("amount_past_due"), _number("CASE WHEN status BETWEEN 1 AND 6 THEN "
                                             "balance * 0.05 * status END", 9)),
        (*_field("charge_off_amount"), _number("CASE WHEN status = 6 THEN balance END", 9)),
        (*_field("reported_date"),
         f"CASE WHEN defect = 1 THEN '{HARBOR_ACCOUNTS.bad_date}' ELSE {_date(dai)} END"),
        (*_field("first_delinquency_date"), _date("dofd")),
        (*_field("closed_date"), _date("closed_date")),
        *_identity("", _field),
        *_address("", _field),
    ]  # fmt: skip
    return _lay(_metro2.BASE_LENGTH, pieces)


# The payment history profile's character of a month, by synth status (STATUS's order): the
# days-late statuses their digit, a charge-off L, a closed or transferred month current.
HISTORY = ("0", "1", "2", "3", "4", "5", "L", "0", "0")


def _profile_sql(rows: str) -> str:
    """``rows`` with each month's ``profile``: the account's standing in the 24 months before
    it, the month before first; ``B`` before the account's first reported month, ``D`` a
    month it was not reported (the account's months, whatever number it had then)."""
    char = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(HISTORY))
    n = _metro2.HISTORY_MONTHS
    return f"""SELECT * EXCLUDE (before, first), array_to_string(list_transform(range(1, {n + 1}),
          lambda k: coalesce(list_filter(before, lambda b: b.m = month - k)[1].c,
                        CASE WHEN month - k < first THEN 'B' ELSE 'D' END)), '') AS profile
        FROM (SELECT *,
          list({{'m': month, 'c': CASE status {char} END}}) OVER (PARTITION BY src ORDER BY month
            RANGE BETWEEN {n} PRECEDING AND 1 PRECEDING) AS before,
          min(month) OVER (PARTITION BY src) AS first
          FROM {rows})"""


def _segments_sql() -> str:
    def assoc(seg: str, pieces: list[tuple[int, int, str]]) -> str:
        return _lay(_metro2.SEGMENTS[seg], [(1, 2, f"'{seg}'"), *pieces])

    j1 = assoc("J1", [p for p in _identity("j.", _assoc) if p[0] < 100])
    j2 = assoc("J2", [*_identity("j.", _assoc), *_address("j.", _assoc)])
    k2 = _lay(_metro2.SEGMENTS["K2"], [(1, 2, "'K2'"), (3, 1, "'2'"), (4, 30, f"'{PURCHASER}'")])
    l1 = _lay(
        _metro2.SEGMENTS["L1"],
        [(1, 2, "'L1'"), (3, 1, "'1'"), (4, 30, "new_account::VARCHAR")],
    )
    return (
        f"CASE joint_seg WHEN 1 THEN {j1} WHEN 2 THEN {j2} ELSE '' END"
        f" || CASE WHEN sold THEN {k2} ELSE '' END"
        f" || CASE WHEN new_account > 0 THEN {l1} ELSE '' END"
    )


def _control(kind: str, totals: dict[int, int]) -> str:
    """A header or trailer record (426 characters with its descriptor word)."""
    chars = list(f"{_metro2.BASE_LENGTH:04d}{kind}".ljust(_metro2.BASE_LENGTH))
    for start, value in totals.items():
        chars[start - 1 : start - 1 + _metro2.TOTAL_WIDTH] = f"{value:09d}"
    return "".join(chars)


def joint_rows(rng: np.random.Generator, rows: act.Rows, pop: Population) -> act.Rows:
    """The joint holders of Harbor's prepared rows (those with one), with the standard
    generator's identity noise: ``ord`` says which row each belongs to."""
    n = len(rows["ord"])
    holder = rows["joint"]
    noise = draw_source_noise(rng, int(rows["src"].max()) + 1 if n else 0, HARBOR_ACCOUNTS.noise)
    joint = {k: v[rows["src"]] for k, v in noise.items()}
    joint.update(
        {
            "ord": rows["ord"],
            "person_id": np.maximum(holder, 0) + 1,
            "slot": pop.address_slot(np.maximum(holder, 0), rows["month"]),
            "married": pop.is_married(np.maximum(holder, 0), rows["month"]),
            "rmiss": np.zeros(n, np.int8),
            "defect": np.zeros(n, np.int8),
        }
    )
    return {k: v[holder >= 0] for k, v in joint.items()}


class Metro2File:
    """Harbor's Metro 2 file, written a part at a time: the header when opened, the records of
    each part, and on ``close`` the trailer, whose totals count every part's records."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._fh = path.open("wb")
        self._fh.write((_control("HEADER", {}) + "\r\n").encode("latin-1"))
        self._counts: dict[str, int] = {}

    def write(
        self,
        con: duckdb.DuckDBPyConnection,
        rows: act.Rows,
        joint: act.Rows,
        identity_view: str = IDENTITY_VIEW,
    ) -> dict[str, np.ndarray]:
        """Write Harbor's prepared rows (see ``_generate._prepare``) and their joint holders'
        (``joint_rows``), the identities as ``identity_view`` gives them (see
        ``_layout.write_feed``); return the truth: line, person and ``seq`` (0 the account
        holder, 1 the joint holder) per consumer of each record."""
        n = len(rows["ord"])
        holder = rows["joint"]
        con.register("m2_table", to_arrow(rows))
        con.execute(f"CREATE OR REPLACE TEMP VIEW m2_rows AS {_profile_sql('m2_table')}")
        con.register("m2_joint", to_arrow(joint))
        record = f"({_base_sql()}) || ({_segments_sql()})"
        lines = con.sql(f"""
            SELECT lpad((length(rec) + 4)::VARCHAR, 4, '0') || rec || '\r\n' AS line,
                   status, joint_seg, sold, new_account > 0 AS renumbered
            FROM (SELECT *, substr({record}, 5) AS rec FROM (
                  SELECT b.*, j FROM ({identity_view.format(rows="m2_rows")}) b
                  LEFT JOIN ({identity_view.format(rows="m2_joint")}) j USING (ord)))
            ORDER BY ord""").to_arrow_table()
        con.execute("DROP VIEW m2_rows")
        con.unregister("m2_table")
        con.unregister("m2_joint")
        self._fh.write(_encode(_string_bytes(lines.column("line")), HARBOR_ACCOUNTS))
        for key, count in _counts(lines).items():
            self._counts[key] = self._counts.get(key, 0) + count
        with_joint = holder >= 0
        truth = {
            "line_no": np.r_[rows["line_no"], rows["line_no"][with_joint]],
            "person_id": np.r_[rows["person_id"], holder[with_joint] + 1],
            "seq": np.r_[np.zeros(n, np.int64), np.ones(int(with_joint.sum()), np.int64)],
        }
        # in line order (so the truth of a file written in parts is that of it written whole)
        order = np.lexsort((truth["seq"], truth["line_no"]))
        return {k: v[order] for k, v in truth.items()}

    def close(self) -> None:
        totals = {t.start: self._counts.get(t.counts, 0) for t in _metro2.TRAILER_TOTALS}
        self._fh.write((_control("TRAILER", totals) + "\r\n").encode("latin-1"))
        self._fh.close()

    def discard(self) -> None:
        """Close the file without its trailer and remove it (a generation that failed)."""
        self._fh.close()
        self._path.unlink(missing_ok=True)


def write_metro2(
    con: duckdb.DuckDBPyConnection,
    rows: act.Rows,
    joint: act.Rows,
    path: Path,
    identity_view: str = IDENTITY_VIEW,
) -> dict[str, np.ndarray]:
    """Harbor's whole Metro 2 file in one part (see ``Metro2File.write``)."""
    file = Metro2File(path)
    truth = file.write(con, rows, joint, identity_view)
    file.close()
    return truth


def _counts(lines: Any) -> dict[str, int]:
    """Records, segments and statuses among the records written, by the trailer's names."""
    status = np.asarray(lines.column("status"))
    seg = np.asarray(lines.column("joint_seg"))
    counts = {"base": len(status), "J1": int((seg == 1).sum()), "J2": int((seg == 2).sum())}
    counts["K2"] = int(np.asarray(lines.column("sold")).sum())
    counts["L1"] = int(np.asarray(lines.column("renumbered")).sum())
    for i, code in enumerate(STATUS):
        counts[code] = int((status == i).sum())
    return counts


def write_spec(folder: Path) -> Path:
    """Harbor's source spec: ``format: metro2`` needs no field table."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{HARBOR_ACCOUNTS.name}.yaml"
    path.write_text(SPEC_YAML, encoding="utf-8")
    return path

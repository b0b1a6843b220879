"""``generate``: draw the population, write every furnisher file, its spec and the truth."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from openbureau.synth import _activity as act
from openbureau.synth import _metro2_writer as metro2
from openbureau.synth._alternative import (
    BRIGHTWATER_UTILITY,
    COUNTY_COURT,
    METROTEL_TELECOM,
    RENTRIGHT_RENT,
    STATE_TAX,
)
from openbureau.synth._config import Calendar, Progress, SynthConfig, SynthResult, validate
from openbureau.synth._layout import Feed, number_lines, to_arrow, write_feed
from openbureau.synth._lenders import (
    CRESTLINE_INQUIRIES,
    CRESTLINE_TRADELINES,
    NORTHBANK_ACCOUNTS,
    NORTHBANK_INQUIRIES,
)
from openbureau.synth._names import load_tables
from openbureau.synth._noise import draw_row_noise, draw_source_noise, install_macros
from openbureau.synth._population import Population, draw_population, load_population
from openbureau.synth._protected import draw_protected
from openbureau.synth._risk import draw_risk, oracle_auc
from openbureau.synth._specs import write_spec
from openbureau.synth._truth import write_defects, write_manifest, write_persons, write_records

FEEDS: tuple[Feed, ...] = (
    NORTHBANK_ACCOUNTS,
    NORTHBANK_INQUIRIES,
    CRESTLINE_TRADELINES,
    CRESTLINE_INQUIRIES,
    BRIGHTWATER_UTILITY,
    METROTEL_TELECOM,
    RENTRIGHT_RENT,
    COUNTY_COURT,
    STATE_TAX,
)
TRADELINE_SHARE = 0.85
UTILITY_SHARE, TELECOM_SHARE, RENT_SHARE = 0.40, 0.60, 0.25
# Share of persons who consent to their utility, telecom and rent payments counting in their
# score (``consents_alternative_data`` in the truth). Boost products are the reference: Experian
# reported some 15 million US consumers connected to Experian Boost by 2023, against about 220
# million credit files it holds, i.e. about 7 % (figures as Experian stated them in its press
# releases; we have not audited them). Drawn independently of risk and with its own generator,
# so the rest of the population is the same with or without it.
CONSENT_SHARE = 0.07


def _prepare(
    rng: np.random.Generator,
    feed: Feed,
    rows: act.Rows,
    pop: Population,
    cal: Calendar,
    defect_rate: float,
) -> act.Rows:
    """Add identity noise, address slot, surname state and defects; number the lines."""
    n = len(rows["person"])
    n_src = int(rows["src"].max()) + 1 if n else 0
    for key, values in draw_source_noise(rng, n_src, feed.noise).items():
        rows[key] = values[rows["src"]]
    rows["rmiss"] = draw_row_noise(rng, n, feed.noise)
    person, month = rows["person"], rows["month"]
    if "slot" not in rows:
        rows["slot"] = pop.address_slot(person, month)
    rows["married"] = pop.is_married(person, month)
    rows["month_date"] = cal.month_start[np.clip(month, 0, cal.months)]
    rows["person_id"] = person + 1
    return number_lines(rng, feed, rows, defect_rate)


def draw_events(
    rngs: list[np.random.Generator], pop: act.Residents, cal: Calendar, risk: act.Risk
) -> tuple[dict[str, act.Rows], dict[str, np.ndarray]]:
    """Who has which accounts, bills and public records (8 generators): the row table of each
    feed, and the truth's participation flags per person."""
    n = pop.n
    part = rngs[0].random((n, 4))
    has_trade = part[:, 0] < TRADELINE_SHARE
    util = np.flatnonzero(part[:, 1] < UTILITY_SHARE)
    tel = np.flatnonzero(part[:, 2] < TELECOM_SHARE)
    rent = np.flatnonzero(part[:, 3] < RENT_SHARE)
    trade = act.tradelines(rngs[1], pop, risk, has_trade, cal)
    inq = act.inquiries(rngs[2], pop, risk, has_trade, cal)
    court = act.court_cases(rngs[6], pop, risk, cal)
    tax = act.tax_liens(rngs[7], pop, risk, cal)

    def part_of(rows: act.Rows, mask: np.ndarray) -> act.Rows:
        out = {k: v[mask] for k, v in rows.items()}
        out["src"] = np.unique(out["src"], return_inverse=True)[1]
        return out

    events = {
        "northbank_accounts": part_of(trade, trade["lender"] == 0),
        "northbank_inquiries": part_of(inq, inq["lender"] == 0),
        "crestline_tradelines": part_of(trade, trade["lender"] == 1),
        "crestline_inquiries": part_of(inq, inq["lender"] == 1),
        "brightwater_utility": act.utility_bills(rngs[3], pop, risk, util, cal),
        "metrotel_telecom": act.telecom_bills(rngs[4], pop, risk, tel, cal),
        "rentright_rent": act.rent_payments(rngs[5], pop, risk, rent, cal),
        "county_court_records": court,
        "state_tax_liens": tax,
    }
    has_alt = np.zeros(n, bool)
    has_alt[np.r_[util, tel, rent]] = True
    has_tl = np.zeros(n, bool)
    has_tl[trade["person"]] = True
    has_any = has_tl | has_alt
    for key in (
        "northbank_inquiries",
        "crestline_inquiries",
        "county_court_records",
        "state_tax_liens",
    ):
        has_any[events[key]["person"]] = True
    flags = {"has_tradeline": has_tl, "has_alternative_data": has_alt, "has_any_record": has_any}
    return events, flags


def _write_metro2(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    pop: Population,
    risk: act.Risk,
    cal: Calendar,
    has_tradeline: np.ndarray,
    defect_rate: float,
    out: Path,
    result: SynthResult,
    records: list[dict],
    defects: list[dict],
) -> None:
    """Harbor Bank's accounts, as a Metro 2 file (see ``_metro2_writer``)."""
    feed = metro2.HARBOR_ACCOUNTS
    rows = metro2.draw_rows(rng, pop, risk, has_tradeline, cal)
    rows = _prepare(rng, feed, rows, pop, cal, defect_rate)
    rows["line_no"] = rows["ord"] + 2  # (after the header record)
    path = out / feed.path
    truth = metro2.write_metro2(con, rows, metro2.joint_rows(rng, rows, pop), path)
    result.files[feed.name] = path
    result.rows[feed.name] = len(rows["ord"])
    records.append({"feed": feed.name, "file": feed.path, **truth})
    bad = rows["defect"] > 0
    defects.append(
        {
            "feed": feed.name,
            "file": feed.path,
            "line_no": rows["line_no"][bad],
            "kind": [feed.defect_name(int(k)) for k in rows["defect"][bad]],
        }
    )


def generate(
    out: Path, config: SynthConfig = SynthConfig(), progress: Progress | None = None
) -> SynthResult:
    """Write a synthetic population's furnisher files, their specs and the truth into ``out``.

    Args:
        out: Output folder, created if missing.
        config: Size, seed and reporting window.
        progress: Called as ``progress(step, done, total)`` while work advances.

    Returns:
        Paths of every file and spec, row counts per feed and the oracle AUC.

    Raises:
        UserError: A setting is out of range or ``out`` cannot be written.
    """
    out = Path(out)
    cal = validate(config, out)
    total = 6 + len(FEEDS)
    step = 0

    def report(what: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(what, step, total)

    # Streams are only ever added at the end (spawning more leaves the earlier ones as they
    # were), so a seed's population stays the same as the generator grows.
    seeds = np.random.SeedSequence(config.seed).spawn(25)
    rngs = [np.random.default_rng(s) for s in seeds]
    tables = load_tables()
    pop = draw_population(rngs[0], tables, cal, config.persons)
    risk = draw_risk(rngs[1], config.persons, cal)
    report("Drew persons and latent risk")
    events, flags = draw_events(rngs[2:10], pop, cal, risk)
    flags["consents_alternative_data"] = rngs[23].random(config.persons) < CONSENT_SHARE
    protected = draw_protected(rngs[24], pop, tables, cal, risk.z)
    report("Drew accounts, bills and public records")

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    install_macros(con)
    load_population(con, pop, tables)
    report("Loaded identities")

    result = SynthResult(out=out, truth_dir=out / "truth")
    records, defects = [], []
    for i, feed in enumerate(FEEDS):
        rows = _prepare(rngs[12 + i], feed, events[feed.name], pop, cal, config.defect_rate)
        con.register("feed_rows", to_arrow(rows))
        path = out / feed.path
        write_feed(con, feed, "feed_rows", path)
        con.unregister("feed_rows")
        result.files[feed.name] = path
        result.rows[feed.name] = len(rows["ord"])
        records.append(
            {
                "feed": feed.name,
                "file": feed.path,
                "line_no": rows["line_no"],
                "person_id": rows["person_id"],
            }
        )
        bad = rows["defect"] > 0
        defects.append(
            {
                "feed": feed.name,
                "file": feed.path,
                "line_no": rows["line_no"][bad],
                "kind": [feed.defect_name(int(k)) for k in rows["defect"][bad]],
            }
        )
        report(f"Wrote {feed.path}")

    _write_metro2(
        con,
        np.random.default_rng([config.seed, metro2.STREAM]),
        pop,
        risk,
        cal,
        flags["has_tradeline"],
        config.defect_rate,
        out,
        result,
        records,
        defects,
    )
    report(f"Wrote {metro2.HARBOR_ACCOUNTS.path}")

    for feed in FEEDS:
        result.specs[feed.name] = write_spec(feed, out / "specs")
    result.specs[metro2.HARBOR_ACCOUNTS.name] = metro2.write_spec(out / "specs")
    report("Wrote specs")

    truth = result.truth_dir
    truth.mkdir(parents=True, exist_ok=True)
    write_persons(con, pop, risk, flags, protected, cal, truth / "persons.parquet")
    write_records(records, truth / "records.parquet")
    write_defects(defects, truth / "defects.parquet")
    result.oracle_auc = oracle_auc(risk)
    alive = ~risk.defaulted_before_as_of
    figures = {
        "oracle_auc": result.oracle_auc,
        "default_rate_12m": float(risk.default_12m[alive].mean()) if alive.any() else 0.0,
        "defaulted_before_as_of": float(risk.defaulted_before_as_of.mean()),
        "share_with_tradeline": float(flags["has_tradeline"].mean()),
        "share_without_any_record": float(1 - flags["has_any_record"].mean()),
    }
    paths = {f.name: f.path for f in (*FEEDS, metro2.HARBOR_ACCOUNTS)}
    write_manifest(config, result.rows, paths, figures, truth / "manifest.json")
    con.close()
    report("Wrote truth")
    return result

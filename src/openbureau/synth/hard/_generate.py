"""``generate``: the hard population's furnisher files, specs and truth.

The persons and their noise are this package's own; what the persons do (accounts, bills,
inquiries, public records, the risk behind them) and how files, specs and the truth are written
are the standard generator's, so every stage reads a hard folder as it reads a standard one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from openbureau.synth import _metro2_writer as metro2
from openbureau.synth._block import CONSENT_SHARE, draw_events
from openbureau.synth._config import Calendar, Progress, SynthConfig, SynthResult, validate
from openbureau.synth._generate import FEEDS
from openbureau.synth._ids import Numbering
from openbureau.synth._layout import number_lines, to_arrow, write_feed
from openbureau.synth._noise import install_macros as install_layout_macros
from openbureau.synth._population import NEVER
from openbureau.synth._risk import Risk, draw_risk, oracle_auc
from openbureau.synth._specs import write_spec
from openbureau.synth._truth import write_defects, write_manifest
from openbureau.synth.hard._lists import ORIGINS, ROMANISED, Lists, load_lists
from openbureau.synth.hard._noise import draw_noise
from openbureau.synth.hard._people import HardPopulation, draw_people
from openbureau.synth.hard._rates import BIT, PERSON_TAGS, Difficulties, check
from openbureau.synth.hard._tables import IDENTITY_VIEW, install_macros, load_people
from openbureau.synth.hard._truth import draw_protected, write_persons, write_records

GENERATOR = "openbureau.synth.hard"
VERSION = "1"
# Mixed into the seed, so a seed's hard population shares no random stream with the standard
# generator's population of that seed.
STREAM = 0x48415244


def person_tags(con: duckdb.DuckDBPyConnection, pop: HardPopulation) -> np.ndarray:
    """Each person's own difficulties as a bit mask (``shared_email`` read from ``hg_persons``)."""
    size = np.bincount(pop.household)[pop.household]
    shared_email = np.zeros(pop.n, bool)
    ids = con.sql("""SELECT person_id FROM hg_persons WHERE email IN
                     (SELECT email FROM hg_persons GROUP BY email HAVING count(*) > 1)""")
    shared_email[np.asarray(ids.fetchnumpy()["person_id"], np.int64) - 1] = True
    on = {
        "household": size >= 2,
        "jr_sr": pop.jr_sr_of > 0,
        "twin": pop.twin_of > 0,
        "namesake": pop.namesake_of > 0,
        "married": pop.marry_month < NEVER,
        "transliterated": np.isin(pop.origin, [ORIGINS.index(o) for o in ROMANISED]),
        "hyphenated": pop.fam2 >= 0,
        "nickname": pop.nickname,
        "moved": pop.moves[:, 0] < NEVER,
        "shared_phone": pop.shared_phone,
        "shared_email": shared_email,
    }
    if set(on) != set(PERSON_TAGS):
        raise AssertionError("every person difficulty has its test")
    tags = np.zeros(pop.n, np.int64)
    for name, mask in on.items():
        tags |= np.where(mask, BIT[name], 0)
    return tags


def _shares(tags: np.ndarray, pop: HardPopulation) -> dict[str, float]:
    """Observed share of persons with each difficulty (shared_phone: of households of 2+)."""
    out = {t: float(((tags & BIT[t]) != 0).mean()) if pop.n else 0.0 for t in PERSON_TAGS}
    size = np.bincount(pop.household)
    together = np.flatnonzero(size >= 2)
    shared = np.zeros(len(size), bool)
    shared[pop.household[pop.shared_phone]] = True
    out["shared_phone"] = float(shared[together].mean()) if len(together) else 0.0
    return out


def _harbor(
    con: duckdb.DuckDBPyConnection,
    rng: np.random.Generator,
    pop: HardPopulation,
    risk: Risk,
    has_tradeline: np.ndarray,
    lists: Lists,
    d: Difficulties,
    cal: Calendar,
    tags: np.ndarray,
    ids: Numbering,
    defect_rate: float,
    out: Path,
    result: SynthResult,
    defects: list[dict[str, Any]],
) -> dict[str, Any]:
    """Harbor Bank's Metro 2 file (the standard generator's accounts and layout), with this
    package's persons and noise, its joint holders' too; the records' truth."""
    feed = metro2.HARBOR_ACCOUNTS
    rows = metro2.draw_rows(rng, pop, risk, has_tradeline, cal, ids)
    rows = draw_noise(rng, feed, rows, pop, lists, d, cal, tags)
    rows = number_lines(rng, feed, rows, defect_rate)
    rows["line_no"] = rows["ord"] + 2  # (after the header record)
    with_joint = rows["joint"] >= 0
    joint = {
        "person": rows["joint"][with_joint],
        "month": rows["month"][with_joint],
        "src": np.unique(rows["src"][with_joint], return_inverse=True)[1],
    }
    joint = draw_noise(rng, feed, joint, pop, lists, d, cal, tags)
    joint["ord"] = rows["ord"][with_joint]
    joint["defect"] = np.zeros(len(joint["ord"]), np.int8)
    path = out / feed.path
    truth = metro2.write_metro2(con, rows, joint, path, IDENTITY_VIEW)
    result.files[feed.name] = path
    result.rows[feed.name] = len(rows["ord"])
    bad = rows["defect"] > 0
    defects.append(
        {
            "feed": feed.name,
            "file": feed.path,
            "line_no": rows["line_no"][bad],
            "kind": [feed.defect_name(int(k)) for k in rows["defect"][bad]],
        }
    )
    return {
        "feed": feed.name,
        "file": feed.path,
        **truth,
        "tags": np.r_[rows["tags"], joint["tags"]],
    }


def generate(
    out: Path,
    config: SynthConfig = SynthConfig(),
    difficulties: Difficulties = Difficulties(),
    progress: Progress | None = None,
) -> SynthResult:
    """Write a hard population's furnisher files, their specs and the truth into ``out``.

    Args:
        out: Output folder, created if missing.
        config: Size, seed, reporting window and defect rate (as for the standard generator).
        difficulties: How often each difficulty occurs (``Difficulties``' documented defaults).
        progress: Called as ``progress(step, done, total)`` while work advances.

    Returns:
        Paths of every file and spec, row counts per feed and the oracle AUC.

    Raises:
        UserError: A setting or rate is out of range, or ``out`` cannot be written.
    """
    out = Path(out)
    d = check(difficulties)
    cal = validate(config, out)
    total, step = 5 + len(FEEDS), 0

    def report(what: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(what, step, total)

    # Streams are only ever added at the end, so a seed's population stays what it was.
    rngs = [
        np.random.default_rng(s) for s in np.random.SeedSequence([config.seed, STREAM]).spawn(24)
    ]
    lists = load_lists()
    pop = draw_people(rngs[0], lists, d, cal, config.persons)
    risk = draw_risk(rngs[1], pop.n, cal)
    # (one numbering for the whole population: the hard generator draws it whole)
    ids = Numbering(config.seed, STREAM)
    events, flags = draw_events(rngs[2:10], pop, cal, risk, ids)
    flags["consents_alternative_data"] = rngs[10].random(pop.n) < CONSENT_SHARE
    protected = draw_protected(rngs[11], pop, cal)
    report("Drew households, persons and what they do")

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    install_layout_macros(con)  # (the file writer's own: CSV quoting)
    install_macros(con)
    load_people(con, pop, lists)
    tags = person_tags(con, pop)
    report("Loaded identities")

    result = SynthResult(out=out, truth_dir=out / "truth")
    records, defects = [], []
    for i, feed in enumerate(FEEDS):
        rng = rngs[12 + i]
        rows = draw_noise(rng, feed, events[feed.name], pop, lists, d, cal, tags)
        rows = number_lines(rng, feed, rows, config.defect_rate)
        con.register("feed_rows", to_arrow(rows))
        path = out / feed.path
        write_feed(con, feed, "feed_rows", path, IDENTITY_VIEW)
        con.unregister("feed_rows")
        result.files[feed.name] = path
        result.rows[feed.name] = len(rows["ord"])
        part = {"feed": feed.name, "file": feed.path, "line_no": rows["line_no"]}
        records.append({**part, "person_id": rows["person_id"], "tags": rows["tags"]})
        bad = rows["defect"] > 0
        defects.append(
            {
                **part,
                "line_no": rows["line_no"][bad],
                "kind": [feed.defect_name(int(k)) for k in rows["defect"][bad]],
            }
        )
        report(f"Wrote {feed.path}")

    records.append(
        _harbor(
            con,
            np.random.default_rng([config.seed, STREAM, metro2.STREAM]),
            pop,
            risk,
            flags["has_tradeline"],
            lists,
            d,
            cal,
            tags,
            ids,
            config.defect_rate,
            out,
            result,
            defects,
        )
    )
    report(f"Wrote {metro2.HARBOR_ACCOUNTS.path}")

    for feed in FEEDS:
        # (its furnishers mistype birth years: such a date is emptied, not the row lost)
        result.specs[feed.name] = write_spec(feed, out / "specs", empty_bad_birth_dates=True)
    result.specs[metro2.HARBOR_ACCOUNTS.name] = metro2.write_spec(out / "specs")
    report("Wrote specs")

    truth = result.truth_dir
    truth.mkdir(parents=True, exist_ok=True)
    write_persons(con, pop, risk, flags, protected, tags, cal, truth / "persons.parquet")
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
    write_manifest(
        config,
        result.rows,
        {f.name: f.path for f in (*FEEDS, metro2.HARBOR_ACCOUNTS)},
        figures,
        truth / "manifest.json",
        generator=GENERATOR,
        version=VERSION,
        extra={
            "difficulties": dataclasses.asdict(d),
            "persons_with_difficulty": _shares(tags, pop),
        },
    )
    con.close()
    report("Wrote truth")
    return result

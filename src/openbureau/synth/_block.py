"""One block of persons: who they are and everything they do, drawn from the block's streams.

A population is drawn ``BLOCK`` persons at a time, each block from random streams spawned from
(seed, block number), so the same seed gives the same persons and rows whether the blocks are
written one at a time or many together. What ties persons together stays inside a block: twins
and Jr/Sr pairs, and a Harbor Bank account's joint holder. Unique ids come from the shared
``Numbering``, which numbers them in block order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openbureau.synth import _activity as act
from openbureau.synth import _metro2_writer as metro2
from openbureau.synth._config import BLOCK, Calendar, SynthConfig
from openbureau.synth._ids import Numbering
from openbureau.synth._layout import Feed, number_lines
from openbureau.synth._names import NameTables
from openbureau.synth._noise import draw_row_noise, draw_source_noise
from openbureau.synth._population import Population, draw_population
from openbureau.synth._protected import draw_protected
from openbureau.synth._risk import Risk, draw_risk

TRADELINE_SHARE = 0.85
UTILITY_SHARE, TELECOM_SHARE, RENT_SHARE = 0.40, 0.60, 0.25
# Share of persons who consent to their utility, telecom and rent payments counting in their
# score (``consents_alternative_data`` in the truth). Boost products are the reference: Experian
# reported some 15 million US consumers connected to Experian Boost by 2023, against about 220
# million credit files it holds, i.e. about 7 % (figures as Experian stated them in its press
# releases; we have not audited them). Drawn independently of risk and with its own generator,
# so the rest of the population is the same with or without it.
CONSENT_SHARE = 0.07


@dataclass
class Block:
    """A block's persons (indexes 0..n-1 here; ``first``: the index of its first person in the
    population) and the prepared rows of every feed, Harbor's included."""

    first: int
    pop: Population
    risk: Risk
    flags: dict[str, np.ndarray]
    protected: dict[str, np.ndarray]
    rows: dict[str, act.Rows]
    harbor_joint: act.Rows


def prepare(
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
    rngs: list[np.random.Generator],
    pop: act.Residents,
    cal: Calendar,
    risk: act.Risk,
    ids: Numbering,
) -> tuple[dict[str, act.Rows], dict[str, np.ndarray]]:
    """Who has which accounts, bills and public records (8 generators): the row table of each
    feed, and the truth's participation flags per person."""
    n = pop.n
    part = rngs[0].random((n, 4))
    has_trade = part[:, 0] < TRADELINE_SHARE
    util = np.flatnonzero(part[:, 1] < UTILITY_SHARE)
    tel = np.flatnonzero(part[:, 2] < TELECOM_SHARE)
    rent = np.flatnonzero(part[:, 3] < RENT_SHARE)
    trade = act.tradelines(rngs[1], pop, risk, has_trade, cal, ids)
    inq = act.inquiries(rngs[2], pop, risk, has_trade, cal, ids)
    court = act.court_cases(rngs[6], pop, risk, cal, ids)
    tax = act.tax_liens(rngs[7], pop, risk, cal, ids)

    def part_of(rows: act.Rows, mask: np.ndarray) -> act.Rows:
        out = {k: v[mask] for k, v in rows.items()}
        out["src"] = np.unique(out["src"], return_inverse=True)[1]
        return out

    events = {
        "northbank_accounts": part_of(trade, trade["lender"] == 0),
        "northbank_inquiries": part_of(inq, inq["lender"] == 0),
        "crestline_tradelines": part_of(trade, trade["lender"] == 1),
        "crestline_inquiries": part_of(inq, inq["lender"] == 1),
        "brightwater_utility": act.utility_bills(rngs[3], pop, risk, util, cal, ids),
        "metrotel_telecom": act.telecom_bills(rngs[4], pop, risk, tel, cal, ids),
        "rentright_rent": act.rent_payments(rngs[5], pop, risk, rent, cal, ids),
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


def draw_block(
    config: SynthConfig,
    first: int,
    n: int,
    feeds: tuple[Feed, ...],
    cal: Calendar,
    tables: NameTables,
    mix: tuple[np.ndarray, np.ndarray],
    ids: Numbering,
    sell: bool,
) -> Block:
    """The ``n`` persons from index ``first`` on (``first`` a multiple of ``BLOCK``) and their
    rows in ``feeds`` and Harbor's file (``sell``: whether Harbor's sale and renumbering is
    still to be drawn)."""
    number = first // BLOCK
    # Streams are only ever added at the end (spawning more leaves the earlier ones as they
    # were), so a seed's population stays the same as the generator grows.
    seeds = np.random.SeedSequence([config.seed, number]).spawn(25)
    rngs = [np.random.default_rng(s) for s in seeds]
    pop = draw_population(rngs[0], tables, cal, n, ids)
    risk = draw_risk(rngs[1], n, cal)
    events, flags = draw_events(rngs[2:10], pop, cal, risk, ids)
    flags["consents_alternative_data"] = rngs[23].random(n) < CONSENT_SHARE
    protected = draw_protected(rngs[24], pop, mix, cal, risk.z)
    rows = {
        feed.name: prepare(rngs[12 + i], feed, events.pop(feed.name), pop, cal, config.defect_rate)
        for i, feed in enumerate(feeds)
    }
    # (a stream of its own, so the other feeds are the same with or without Harbor)
    rng = np.random.default_rng([config.seed, metro2.STREAM, number])
    harbor = metro2.HARBOR_ACCOUNTS
    m2 = metro2.draw_rows(rng, pop, risk, flags["has_tradeline"], cal, ids, sell)
    m2 = prepare(rng, harbor, m2, pop, cal, config.defect_rate)
    m2["line_no"] = m2["ord"] + 2  # (after the header record)
    rows[harbor.name] = m2
    joint = metro2.joint_rows(rng, m2, pop)
    return Block(first, pop, risk, flags, protected, rows, joint)

"""Fairness per protected group: the figures against hand computations, and the model
report's Fairness section after `openbureau train`, with attributes loaded and without."""

from __future__ import annotations

import html
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from openbureau.errors import ConfigError
from openbureau.governance._fairness_html import body_html
from openbureau.governance.fairness import (
    ALL,
    AUC,
    NO_WORKSPACE,
    NOT_LOADED,
    PERSONS,
    PURPOSE,
    SCORED,
    SMALL,
    UNKNOWN,
    Fairness,
    GroupMetrics,
    air_column,
    approval_column,
    assess,
    band_persons_column,
    band_rate_column,
    flag_column,
    group_metrics,
    report_section,
)
from openbureau.governance.protected_attributes import READ_ACTION

# 12 persons, two groups of six. Approval at 620: A 4/6, B 2/6 (AIR 0.5, flagged); at 580:
# A 5/6, B 4/6 (one scoring 580 exactly: at the cut-off is approved; AIR exactly 0.8: passes).
SCORES = [700, 680, 650, 630, 600, 560, 690, 640, 610, 580, 570, 550]
BAD = [0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1]
GROUPS = ["A"] * 6 + ["B"] * 6
BANDS = [("poor", 300, 599), ("fair", 600, 669), ("good", 670, 850)]


def test_the_figures_match_a_hand_computation() -> None:
    m = group_metrics(
        SCORES, GROUPS, [580, 620], outcomes=BAD, bands=BANDS, min_persons=5, attribute="sex"
    )
    t = m.table
    assert list(t.index) == ["A", "B", ALL]
    assert t.loc["A", PERSONS] == 6 and t.loc[ALL, PERSONS] == 12 and t.loc["B", SCORED] == 6
    assert t.loc["A", approval_column(620)] == pytest.approx(4 / 6)
    assert t.loc["B", approval_column(620)] == pytest.approx(2 / 6)
    assert t.loc[ALL, approval_column(620)] == pytest.approx(6 / 12)
    assert t.loc["A", approval_column(580)] == pytest.approx(5 / 6)
    assert t.loc["B", approval_column(580)] == pytest.approx(4 / 6)
    assert m.reference == {580: "A", 620: "A"}
    assert t.loc["A", air_column(620)] == 1.0
    assert t.loc["B", air_column(620)] == pytest.approx(0.5)
    assert t.loc["B", air_column(580)] == pytest.approx(0.8)
    assert bool(t.loc["B", flag_column(620)]) and not bool(t.loc["B", flag_column(580)])
    assert not t[flag_column(620)].loc[["A", ALL]].any()
    assert math.isnan(t.loc[ALL, air_column(620)])
    assert m.flagged() == [("B", 620, pytest.approx(0.5))]
    # AUC: A's goods 700 680 650 600 against bads 630 560: 7 of 8 pairs ranked right;
    # B's goods 690 640 580 against bads 610 570 550: 8 of 9
    assert t.loc["A", AUC] == pytest.approx(7 / 8)
    assert t.loc["B", AUC] == pytest.approx(8 / 9)
    # default rate per band: A poor 1/1, fair 1/3, good 0/2; B poor 2/3, fair 1/2, good 0/1
    rates = {
        (g, b): (t.loc[g, band_rate_column(b)], t.loc[g, band_persons_column(b)])
        for g in ("A", "B")
        for b, _, _ in BANDS
    }
    assert rates == {
        ("A", "poor"): (1.0, 1),
        ("A", "fair"): (pytest.approx(1 / 3), 3),
        ("A", "good"): (0.0, 2),
        ("B", "poor"): (pytest.approx(2 / 3), 3),
        ("B", "fair"): (0.5, 2),
        ("B", "good"): (0.0, 1),
    }


def test_the_section_shows_the_flags_and_the_exact_four_fifths_passing() -> None:
    m = group_metrics(SCORES, GROUPS, [580, 620], outcomes=BAD, bands=BANDS, min_persons=5)
    page = body_html(Fairness([m], (580, 620), 5, "twelve persons", with_outcomes=True))
    assert "1 fail(s) the four-fifths rule" in page and "AIR 0.500 at 620" in page
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page.split("<tbody>")[1].split("</tbody>")[0])
    b = cells[cells.index("B") :]
    # persons, scored, approval and AIR at 580, at 620, AUC, note
    assert b[1:8] == ["6", "6", "66.7%", "0.800", "33.3%", "0.500 \u26a0", "0.889"]
    assert cells[cells.index("A") + 4] == "1.000 ref"
    slightly_under = GroupMetrics("sex", "core", m.table.assign(air_620=0.7999), m.reference)
    page = body_html(Fairness([slightly_under], (620,), 5))
    assert "0.799" in page and "0.800" not in page  # rounded down: never shows as passing


def test_small_and_unknown_groups_are_shown_but_never_flagged_nor_the_reference() -> None:
    # C: two persons, all approved; the unknown person is unscorable (not approved)
    scores = [*SCORES, 800, 810, np.nan]
    groups = [*GROUPS, "C", "C", None]
    m = group_metrics(scores, groups, [620], outcomes=[*BAD, 0, 0, 1], min_persons=5)
    t = m.table
    assert list(t.index) == ["A", "B", "C", UNKNOWN, ALL]
    assert bool(t.loc["C", SMALL]) and not bool(t.loc["A", SMALL])
    assert m.reference == {620: "A"}  # not C, whose 100 % rests on two persons
    assert t.loc["C", air_column(620)] == pytest.approx(1.5)
    assert not bool(t.loc["C", flag_column(620)])
    assert t.loc[UNKNOWN, PERSONS] == 1 and t.loc[UNKNOWN, SCORED] == 0
    assert t.loc[UNKNOWN, approval_column(620)] == 0.0
    assert math.isnan(t.loc[UNKNOWN, air_column(620)])
    assert math.isnan(t.loc[UNKNOWN, AUC])  # one outcome only
    assert t.loc[ALL, PERSONS] == 15 and t.loc[ALL, SCORED] == 14
    # with min_persons 7 no group is large enough: no reference, no ratio, no flag
    none = group_metrics(scores, groups, [620], min_persons=7)
    assert none.reference == {620: None} and none.flagged() == []
    assert none.table[air_column(620)].isna().all()
    assert AUC not in none.table.columns  # no outcomes: no AUC, no bands


def test_no_group_approved_gives_no_ratio() -> None:
    m = group_metrics(SCORES, GROUPS, [800], min_persons=5)
    assert m.table[approval_column(800)].eq(0).all()
    assert m.table[air_column(800)].isna().all() and m.flagged() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": GROUPS[:-1]}, "differ in length"),
        ({"cutoffs": []}, "no cut-off"),
        ({"outcomes": [2] * 12}, "0 or 1"),
        ({"outcomes": BAD[:-1]}, "0 or 1"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"scores": SCORES, "groups": GROUPS, "cutoffs": [620]}
    with pytest.raises(ValueError, match=message):
        group_metrics(**(args | kwargs))  # type: ignore[arg-type]


def test_assess_aligns_persons_and_puts_scorecards_side_by_side() -> None:
    ids = [f"P{i:02d}" for i in range(12)]
    attrs = pd.DataFrame(
        {"sex": GROUPS[:11], "ethnicity": [None] * 11},
        index=pd.Index(ids[:11], name="person_id"),
    )[::-1]  # (order does not matter: persons are matched by ID)
    core = np.array(SCORES, dtype=float)
    core[0] = np.nan  # not scorable by the core scorecard
    f = assess(
        attrs, ids, {"core": core, "alternative": SCORES}, [620, 620], outcomes=BAD, min_persons=5
    )
    assert f.cutoffs == (620,) and f.unsupplied == ("ethnicity",)
    assert [(m.attribute, m.scorecard) for m in f.metrics] == [
        ("sex", "core"),
        ("sex", "alternative"),
    ]
    core_t, alt_t = f.metrics[0].table, f.metrics[1].table
    assert core_t.loc[UNKNOWN, PERSONS] == 1  # P11 is not in the store
    assert core_t.loc["A", approval_column(620)] == pytest.approx(3 / 6)
    assert alt_t.loc["A", approval_column(620)] == pytest.approx(4 / 6)
    assert core_t.loc["A", SCORED] == 5
    page = body_html(f)
    assert "<td>core</td>" in page and "<td>alternative</td>" in page and "ethnicity" in page


def test_not_run_says_why() -> None:
    without = html.unescape(report_section(None, None, [], {}, None, [], ""))
    assert "not run" in without and NO_WORKSPACE in without
    source = object()  # any source: what matters is that it found nothing loaded
    none_loaded = report_section(source, None, [], {}, None, [], "")  # type: ignore[arg-type]
    assert "not run" in none_loaded and "audit-attributes load" in none_loaded


def test_group_names_are_escaped() -> None:
    f = assess(
        pd.DataFrame({"sex": ["<b>x</b>"] * 6 + ["y"] * 6}, index=[str(i) for i in range(12)]),
        [str(i) for i in range(12)],
        {"core": SCORES},
        [620],
        min_persons=5,
    )
    page = body_html(f)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("fairness_cutoffs = [620, 900]", "model_risk.fairness_cutoffs: 900 is not a score"),
        ("fairness_cutoffs = [620, 620]", "a cut-off appears twice"),
        ("fairness_cutoffs = []", "model_risk.fairness_cutoffs"),
        ("fairness_min_group = 0", "model_risk.fairness_min_group"),
    ],
)
def test_bad_model_risk_settings_are_one_line(tmp_path: Path, toml: str, message: str) -> None:
    from openbureau.config import load_settings

    path = tmp_path / "bureau.toml"
    path.write_text(f"[model_risk]\n{toml}\n")
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_settings(path)
    assert "\n" not in str(err.value)


def test_cutoffs_are_sorted(tmp_path: Path) -> None:
    from openbureau.config import load_settings

    path = tmp_path / "bureau.toml"
    path.write_text("[model_risk]\nfairness_cutoffs = [660, 600]\n")
    assert load_settings(path).model_risk.fairness_cutoffs == [600, 660]


# -- the model report after `openbureau train` ---------------------------------------------------
def _section(report: Path) -> str:
    text = report.read_text(encoding="utf-8")
    found = re.search(r'<section id="fairness">.*?</section>', text, re.S)
    assert found, "no Fairness section"
    return found.group(0)


def _reads(ws: Path) -> list[tuple[str, str | None, str]]:
    from openbureau.service.app import service_config
    from openbureau.service.store import AuditEntry, open_store
    from openbureau.workspace import Workspace

    with open_store(service_config(Workspace.open(ws)).store_url)() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.purpose, AuditEntry.detail).where(
                AuditEntry.action == READ_ACTION
            )
        ).all()
    return [tuple(r) for r in rows]


def _reports(ws: Path) -> dict[str, Path]:
    found = sorted((ws / "reports").glob("model-*.html"))
    return {"alternative" if "-alternative-" in p.name else "core": p for p in found}


def test_train_reports_fairness_on_held_out_persons(copy_population, cli) -> None:
    ws, pop = copy_population
    csv = ws / "attributes.csv"
    for args in (
        ("audit-attributes", "from-truth", pop / "truth", csv),
        ("audit-attributes", "load", csv),
    ):
        res = cli(*args, "-w", ws)
        assert res.exit_code == 0, res.output
    res = cli("train", "--as-of", "2024-12-31", "-w", ws)
    assert res.exit_code == 0, res.output
    held = [int(n.replace(",", "")) for n in re.findall(r"held-out ([\d,]+):", res.output)]
    reports = _reports(ws)
    core = _section(reports["core"])
    assert "not run" not in core and "never features" in core
    for attribute in ("sex", "age_band", "ethnicity", "national_origin"):
        assert f"<h3>{attribute}</h3>" in core
    # the overall row counts every held-out person; rates are real percentages
    overall = re.findall(r"<tr><td[^>]*>\(all persons\)</td><td[^>]*>([\d,]+)</td>", core)
    assert overall and {int(n.replace(",", "")) for n in overall} == {held[0]}
    rates = [float(x) for x in re.findall(r">(\d+\.\d)%<", core)]
    assert rates and all(0 <= r <= 100 for r in rates) and len(set(rates)) > 5
    assert "Score \u2265 730" in core and "Default rate by score band" in core
    # the alternative report: core and alternative side by side, on its own held-out persons
    alt = _section(reports["alternative"])
    assert "<td>core</td>" in alt and "<td>alternative</td>" in alt and "AUC" in alt
    overall = re.findall(r"<tr><td[^>]*>\(all persons\)</td><td[^>]*>([\d,]+)</td>", alt)
    assert {int(n.replace(",", "")) for n in overall} == {held[1]}
    # one audited read for fairness, of the held-out persons, with the stated purpose (the
    # proxy test reads the training persons on record too, with its own purpose)
    ((actor, purpose, detail),) = [r for r in _reads(ws) if r[1] == PURPOSE]
    assert purpose == PURPOSE and "@" in actor and f"{held[1]:,} asked" in detail


def test_train_without_attributes_says_why_not(linked_population, tmp_path, cli) -> None:
    ws = Path(shutil.copytree(linked_population[0], tmp_path / "ws"))
    res = cli("train", "--as-of", "2024-12-31", "-w", ws)
    assert res.exit_code == 0, res.output
    for report in _reports(ws).values():
        section = _section(report)
        assert "The fairness analysis was not run" in section
        assert NOT_LOADED in html.unescape(section) and "<table" not in section
    assert _reads(ws) == []  # nothing loaded: nothing read

"""Protected attributes in the truth: only there, in realistic shares, associated with where
people live (ethnicity, national origin), the telecom title (sex) and, modestly, latent risk
(ethnicity), and with nothing else."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import chi2_contingency
from scipy.stats.contingency import crosstab

from openbureau.governance.protected_attributes import ATTRIBUTES
from openbureau.ingest.spec import load_spec
from openbureau.synth import FEED_NAMES, SynthConfig, SynthResult, generate
from openbureau.synth._protected import AGE_BANDS, ETHNICITIES, ETHNICITY_SHARES

CONFIG = SynthConfig(persons=3000, seed=7)
# Values no furnisher writes as a whole field ("white" and "black" are surnames too).
DISTINCT_VALUES = {
    "female",
    "male",
    *AGE_BANDS,
    "hispanic",
    "asian",
    "domestic",
    "foreign_born",
    "engaged",
    "not_engaged",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("protected") / "out", CONFIG)


@pytest.fixture(scope="module")
def persons(run: SynthResult) -> pd.DataFrame:
    p = pq.read_table(run.truth_dir / "persons.parquet").to_pandas()
    # where each person lives at the as-of date: the last address moved into by then
    as_of = pd.Timestamp(CONFIG.as_of)
    p["zip"] = [
        [a for a in addrs if a["moved_in"] is None or pd.Timestamp(a["moved_in"]) <= as_of][-1][
            "zip"
        ]
        for addrs in p["addresses"]
    ]
    p["zip3"] = p["zip"].str[:3]
    p["risk_decile"] = pd.qcut(p["latent_risk"], 10, labels=False)
    return p


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Cramér's V with Bergsma's bias correction (about 0 for independent variables, however
    many categories; the plain V of a 100-category variable is not)."""
    table = crosstab(np.asarray(a), np.asarray(b)).count
    n = table.sum()
    chi2 = chi2_contingency(table, correction=False).statistic
    r, k = table.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_, k_ = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    return float(np.sqrt(phi2 / min(k_ - 1, r_ - 1)))


def independent(a: pd.Series, b: pd.Series) -> bool:
    """A chi-square test finds no association (p > 0.001)."""
    return bool(chi2_contingency(crosstab(np.asarray(a), np.asarray(b)).count).pvalue > 0.001)


def _tokens(run: SynthResult, feed: str) -> set[str]:
    """Every field name and value of a furnisher file, lower case."""
    path = run.files[feed]
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        values = {str(v) for c in table.columns for v in c.to_pylist()}
        return {t.strip().lower() for t in values | set(table.column_names)}
    text = path.read_bytes().decode(load_spec(run.specs[feed]).parse.encoding, errors="replace")
    return {t.strip().lower() for t in re.split(r'[,;|\t"\r\n{}\[\]:]', text)}


def test_the_attributes_are_in_the_truth_and_in_no_furnisher_file(
    run: SynthResult, persons: pd.DataFrame
) -> None:
    assert set(ATTRIBUTES) <= set(persons.columns)
    assert persons[list(ATTRIBUTES)].notna().all().all()
    forbidden = set(ATTRIBUTES) | DISTINCT_VALUES
    for feed in FEED_NAMES:
        found = _tokens(run, feed) & forbidden
        assert not found, (feed, found)
    assert "mr" in _tokens(run, "metrotel_telecom")  # (the check reads what files hold)


def test_shares_are_realistic(persons: pd.DataFrame) -> None:
    assert 0.46 < (persons["sex"] == "female").mean() < 0.56
    bands = persons["age_band"].value_counts(normalize=True)
    assert set(bands.index) == set(AGE_BANDS)
    assert bands.idxmin() == "18-24" and 0.04 < bands["18-24"] < 0.12
    eth = persons["ethnicity"].value_counts(normalize=True)
    for group, expected in zip(ETHNICITIES, ETHNICITY_SHARES, strict=True):
        assert abs(eth[group] - expected) < 0.05, (group, eth[group])
    assert 0.10 < (persons["national_origin"] == "foreign_born").mean() < 0.18
    assert 0.36 < (persons["political_engagement"] == "engaged").mean() < 0.44
    foreign = persons.groupby("ethnicity")["national_origin"].apply(
        lambda s: (s == "foreign_born").mean()
    )
    assert foreign["asian"] > foreign["hispanic"] > foreign["white"]


def test_the_age_band_is_the_age_at_as_of(persons: pd.DataFrame) -> None:
    as_of = pd.Timestamp(CONFIG.as_of)
    dob = pd.to_datetime(persons["dob"])
    before_birthday = (dob.dt.month > as_of.month) | (
        (dob.dt.month == as_of.month) & (dob.dt.day > as_of.day)
    )
    age = as_of.year - dob.dt.year - before_birthday.astype(int)
    floors = [int(b[:2]) for b in AGE_BANDS]
    expected = [AGE_BANDS[sum(a >= f for f in floors[1:])] for a in age]
    assert (persons["age_band"] == expected).all()
    assert age.min() >= 18


def test_where_people_live_is_a_strong_proxy_for_ethnicity(persons: pd.DataFrame) -> None:
    assert cramers_v(persons["zip3"], persons["ethnicity"]) > 0.35
    assert cramers_v(persons["zip"], persons["ethnicity"]) > 0.3
    assert cramers_v(persons["zip3"], persons["national_origin"]) > 0.1
    # (the corrected V of the same zip codes against a shuffled ethnicity is about 0)
    shuffled = persons["ethnicity"].sample(frac=1, random_state=0).to_numpy()
    assert cramers_v(persons["zip3"], pd.Series(shuffled)) < 0.05
    assert independent(persons["zip3"], persons["political_engagement"])


def test_the_telecom_title_follows_sex(run: SynthResult, persons: pd.DataFrame) -> None:
    records = pq.read_table(run.truth_dir / "records.parquet").to_pandas()
    tel = records[records["feed"] == "metrotel_telecom"].sort_values("line_no")
    titles = pq.read_table(run.files["metrotel_telecom"], columns=["title"]).column(0)
    sex = persons.set_index("person_id").loc[tel["person_id"], "sex"].to_numpy()
    title = np.array(titles.to_pylist())
    assert set(sex[title == "Mr"]) == {"male"} and set(sex[np.isin(title, ["Mrs", "Ms"])]) == {
        "female"
    }
    assert cramers_v(pd.Series(title), pd.Series(sex)) > 0.9


def test_ethnicity_is_modestly_associated_with_risk_and_nothing_else_is(
    persons: pd.DataFrame,
) -> None:
    v = cramers_v(persons["risk_decile"], persons["ethnicity"])
    assert 0.02 < v < 0.15, v
    mean = persons.groupby("ethnicity")["latent_risk"].mean()
    assert 0.1 < mean["black"] - mean["white"] < 0.6
    for attribute in ("political_engagement", "sex"):
        assert cramers_v(persons["risk_decile"], persons[attribute]) < 0.05, attribute
        assert independent(persons["risk_decile"], persons[attribute]), attribute
    assert independent(persons["age_band"], persons["political_engagement"])


def test_twins_share_ethnicity_and_birthplace(persons: pd.DataFrame) -> None:
    p = persons.set_index("person_id")
    twins = p[p["twin_of"].notna()]
    assert len(twins) >= 10
    other = p.loc[twins["twin_of"].astype(int)]
    assert (twins["ethnicity"].to_numpy() == other["ethnicity"].to_numpy()).all()
    assert (twins["national_origin"].to_numpy() == other["national_origin"].to_numpy()).all()


def test_the_files_do_not_depend_on_them(run: SynthResult, tmp_path, monkeypatch) -> None:
    """The attributes are drawn from a stream of their own: drawing none at all leaves every
    furnisher file as it was (so a seed's population, linkage and scores are unchanged)."""
    from openbureau.synth import _block

    def no_draws(rng, pop, mix, cal, risk_z):  # type: ignore[no-untyped-def]
        return {a: np.full(pop.n, "unknown", dtype=object) for a in ATTRIBUTES}

    monkeypatch.setattr(_block, "draw_protected", no_draws)
    plain = generate(tmp_path / "plain", CONFIG)
    for feed in FEED_NAMES:
        assert plain.files[feed].read_bytes() == run.files[feed].read_bytes(), feed

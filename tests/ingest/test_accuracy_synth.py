"""The accuracy rules on the synthetic population's feeds: clean but for the generator's known
quirks, each counted here again independently of the rules' SQL."""

from __future__ import annotations

import pandas as pd
import pytest

from openbureau.ingest import load_spec
from openbureau.ingest.accuracy import AccuracyReport
from openbureau.ingest.load import ingest_file
from openbureau.synth import FEED_NAMES, SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace

# Rules the generator's own quirks trip (docs/accuracy.md, "On the synthetic population").
QUIRKS = {"dofd-moved", "dofd-before-open", "inquiry-repeated"}
DEROGATORY = {"dpd30", "dpd60", "dpd90", "dpd120", "dpd150", "chargeoff"}


@pytest.fixture(scope="module")
def checked(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Workspace, dict[str, AccuracyReport]]:
    root = tmp_path_factory.mktemp("synth")
    ws = init_workspace(root / "ws")
    result = generate(root / "incoming", SynthConfig(persons=2000, seed=42))
    reports = {}
    with ws.engine() as engine:
        for feed, spec_path in result.specs.items():
            report = ingest_file(
                engine, load_spec(spec_path), result.files[feed], key=ws.national_id_key()
            )
            assert report.accuracy is not None
            reports[feed] = report.accuracy
    return ws, reports


def _frame(ws: Workspace, sql: str) -> pd.DataFrame:
    with ws.engine(read_only=True) as engine:
        return engine.arrow(sql).to_pandas()


def test_the_synthetic_feeds_are_clean_but_for_known_quirks(checked) -> None:
    _, reports = checked
    assert len(reports) == len(FEED_NAMES)
    for feed, report in reports.items():
        assert report.rows > 0
        for f in report.findings:
            if f.applicable and f.rule.id not in QUIRKS:
                assert f.offending == 0, (feed, f.rule.id, f.examples)
    # a rule the feed cannot feed is counted as not applicable, never as clean
    crestline = {f.rule.id: f for f in reports["crestline_tradelines"].findings}
    assert not crestline["dofd-missing"].applicable
    assert crestline["dofd-missing"].not_applicable == "the feed has no first_delinquency_date"
    assert crestline["days-contradict-status"].checked
    northbank = {f.rule.id: f for f in reports["northbank_accounts"].findings}
    assert northbank["dofd-missing"].checked > 0 and northbank["status-jump"].checked > 0
    assert not northbank["days-contradict-status"].applicable


def test_the_quirks_counted_independently(checked) -> None:
    ws, reports = checked
    rows = _frame(
        ws,
        "SELECT account_id, period, payment_status AS status, first_delinquency_date AS dofd, "
        "opened_date FROM src_northbank_accounts",
    )
    for date in ("period", "dofd", "opened_date"):
        rows[date] = pd.to_datetime(rows[date])
    rows = rows.sort_values(["account_id", "period"])
    prev = rows.groupby("account_id").shift(1)
    consecutive = prev["period"] + pd.DateOffset(months=1) == rows["period"]
    moved = (
        consecutive
        & rows["status"].isin(DEROGATORY)
        & prev["status"].isin(DEROGATORY)
        & rows["dofd"].notna()
        & prev["dofd"].notna()
        & (rows["dofd"] != prev["dofd"])
    )
    before_open = rows["dofd"].notna() & (rows["dofd"] < rows["opened_date"])
    inquiries = _frame(
        ws,
        "SELECT national_id_token, inquiry_date, inquiry_type FROM src_northbank_inquiries "
        "WHERE national_id_token IS NOT NULL",
    )
    sizes = inquiries.groupby(
        ["national_id_token", "inquiry_date", "inquiry_type"], dropna=False
    ).transform("size")
    found = {f.rule.id: f.offending for f in reports["northbank_accounts"].findings}
    assert found["dofd-moved"] == int(moved.sum()) > 0
    assert found["dofd-before-open"] == int(before_open.sum()) > 0
    repeated = {f.rule.id: f.offending for f in reports["northbank_inquiries"].findings}
    assert repeated["inquiry-repeated"] == int((sizes > 1).sum())

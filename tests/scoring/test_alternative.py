"""Alternative data counts only with consent, and only when it helps: the served score is the
core score without consent, the better of both with it; a core scorecard using alternative data
is refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openbureau.errors import UserError
from openbureau.scoring.alternative import check_pair, served
from openbureau.scoring.scorecard import Bin, Factor, MinimumCriteria, Scorecard

scores = st.one_of(st.none(), st.integers(300, 850))


def _row(core: int | None, alt: int | None) -> dict[str, Any]:
    return {
        "person_id": "P1",
        "score": core,
        "band": "core-band" if core is not None else None,
        "unscorable_reason": None if core is not None else "insufficient_history",
        "unscorable_text": None if core is not None else "No credit account on file",
        "reasons": [{"code": "CORE"}],
        "scorecard_version": "core-v",
        "alt_score": alt,
        "alt_band": "alt-band" if alt is not None else None,
        "alt_unscorable_reason": None if alt is not None else "insufficient_history",
        "alt_unscorable_text": None,
        "alt_reasons": [{"code": "ALT"}],
        "alt_scorecard_version": "alt-v",
    }


@given(core=scores, alt=scores)
def test_opting_in_never_lowers_a_score_and_withdrawing_returns_the_core_one(
    core: int | None, alt: int | None
) -> None:
    row = _row(core, alt)
    without, with_ = served(row, consent=False), served(row, consent=True)
    assert without["score"] == core and without["reasons"] == [{"code": "CORE"}]
    assert without["served_from"] == "core"
    if core is not None:
        assert with_["score"] is not None and with_["score"] >= core
    expected = max(s for s in (core, alt) if s is not None) if (core or alt) else None
    assert with_["score"] == expected
    # the reasons, band and version are those of the score served, never a mix
    src = "ALT" if with_["served_from"] == "alternative" else "CORE"
    assert with_["reasons"] == [{"code": src}]
    assert with_["scorecard_version"] == ("alt-v" if src == "ALT" else "core-v")
    assert not any(k.startswith("alt_") for k in with_)


def test_a_person_without_alternative_data_loses_nothing() -> None:
    assert served(_row(640, None), consent=True)["score"] == 640
    assert served(_row(640, 610), consent=True)["score"] == 640


def _card(group: str, field: str, alt_months: int | None = None) -> Scorecard:
    return Scorecard(
        name="c",
        version="v1",
        minimum_criteria=MinimumCriteria(alt_months=alt_months),
        factors=[
            Factor(
                name="f",
                code="X1",
                group=group,
                statement="s",
                fields=[{"field": field, "category": "payment"}],
                bins=[Bin(points=10.0), Bin(missing=True, points=5.0)],
            )
        ],
    )


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (_card("alternative_data", "payment.due_date"), "uses alternative data \\(f\\)"),
        (_card("other", "payment.paid_date"), "uses alternative data \\(f\\)"),
        (_card("credit_mix", "account_status.product", 6), "alt_months makes a file scorable"),
    ],
)
def test_a_core_scorecard_with_alternative_data_is_refused(card: Scorecard, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_pair(card, None)


def test_a_core_scorecard_on_credit_data_is_accepted() -> None:
    check_pair(_card("credit_mix", "account_status.product"), _card("x", "payment.due_date", 6))

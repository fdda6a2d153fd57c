"""Interim-outcome contracts priced on a fitted fuzzy RD: the reduced-form labels (``credential[reduced_form]``),
the RD subgroup labels (``credential[low_income=1]``) an equity premium and floor find by the default pattern, and
the control-side level the results report for gross vs impact, from the fitted result and from its record."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cteimpact.pricing import price_contract
from cteimpact.pricing.engine import control_levels
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.results import ResultsRecord


@pytest.fixture(scope="module")
def fuzzy_fit() -> Any:
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.uniform(-1, 1, n)
    low = rng.integers(0, 2, n).astype(float)
    t = ((x >= 0) & (rng.uniform(size=n) < 0.8)) | ((x < 0) & (rng.uniform(size=n) < 0.1))
    credential = (rng.uniform(size=n) < np.clip(0.25 + 0.1 * x + 0.15 * t + 0.05 * low * t, 0, 1)).astype(float)
    completer = (rng.uniform(size=n) < np.clip(0.3 + 0.2 * t, 0, 1)).astype(float)
    d = pd.DataFrame({"x": x, "credential": credential, "completer": completer, "low_income": low,
                      "t": t.astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RegressionDiscontinuity(d, ["credential", "completer"], "x", 0.0, fuzzy="t",
                                       subgroups=["low_income"]).fit()


CONTRACT: dict[str, Any] = {
    "contract": {"name": "rd interim"},
    "payors": [{"name": "state", "level": "state"}],
    "cohorts": [{"name": "a", "students": 1000}],
    "outcomes": [
        {"name": "credential", "estimate": "credential[reduced_form]", "direction": "increase",
         "payment": {"kind": "rate_card", "price": 1000.0,
                     "equity_premium": {"group": "low_income=1", "rate": 0.5, "share": 0.5}}},
        {"name": "completion", "estimate": "completer[reduced_form]", "direction": "increase",
         "payment": {"kind": "schedule", "per": "student", "tiers": [{"at": 0.01, "pay": 100.0}]}},
    ],
    "conditions": [{"kind": "equity_floor", "group": "low_income=1", "outcome": "credential", "floor": -1.0}],
}


def test_rd_reduced_form_and_subgroup_labels_price_end_to_end(fuzzy_fit: Any) -> None:
    dist = fuzzy_fit.sampling_distribution()
    centre = dict(zip(dist.labels, dist.mean, strict=True))
    res = price_contract(CONTRACT, fuzzy_fit, draws=2000, seed=1)
    assert [e["label"] for e in res.estimates] == ["credential[reduced_form]", "completer[reduced_form]"]
    prem = res.equity["premiums"][0]
    assert prem["label"] == "credential[low_income=1]"
    assert res.equity["floors"][0]["label"] == "credential[low_income=1]"
    g, g_low = centre["credential[reduced_form]"], centre["credential[low_income=1]"]
    assert g > 0 and g_low > 0
    want = 1000.0 * 1000 * (g + 0.5 * 0.5 * g_low)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == pytest.approx(want, rel=1e-12)
    # the fuzzy RD's subgroup row is a LATE, the priced row an ITT: a note says so
    assert any("'credential[reduced_form]' and its group estimate on 'credential[low_income=1]'" in n
               for n in res.notes)
    # no baseline in the contract: the level for gross vs impact is the RD control-side local fit
    level = fuzzy_fit.primary_fit("credential").baseline.local_fit
    gvi = res.gross_vs_impact["credential"]
    assert gvi["level_without_program"] == level and "fits[].baseline.local_fit" in gvi["level_source"]
    assert gvi["at_estimate"]["gross_outcomes"] == pytest.approx((level + g) * 1000, rel=1e-12)
    assert gvi["at_estimate"]["deadweight_outcomes"] == pytest.approx(level * 1000, rel=1e-12)
    assert res.gross_vs_impact["completion"]["price_per_outcome"] is None


def test_the_results_record_gives_the_same_levels_and_prices(fuzzy_fit: Any) -> None:
    record = ResultsRecord.from_dict(fuzzy_fit.to_dict())
    assert control_levels(record) == control_levels(fuzzy_fit)
    level = fuzzy_fit.primary_fit("credential").baseline.local_fit
    assert control_levels(record)["credential[reduced_form]"][0] == level
    a = price_contract(CONTRACT, fuzzy_fit, draws=2000, seed=4).to_dict()
    b = price_contract(CONTRACT, record, draws=2000, seed=4).to_dict()
    assert a["gross_vs_impact"] == b["gross_vs_impact"] and a["equity"] == b["equity"]
    assert a["expected_payment"] == b["expected_payment"]

"""PricingResults honours its contract: immutable, fixed tidy schema, JSON-ready to_dict, a text summary, plots."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from pricing_helpers import make_estimates

from cteimpact.errors import OptionError
from cteimpact.plotting import save_figure
from cteimpact.pricing import PRICING_TIDY_COLUMNS, example_contract, price_contract
from cteimpact.results import dumps_json

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def chicago_res():
    est = make_estimates(["graduated", "dropout"], [0.04, -0.03], [[1e-4, -5e-5], [-5e-5, 1e-4]])
    return price_contract(example_contract("two_payor_chicago_cpc"), est, draws=4000, seed=7)


def test_immutable(chicago_res) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        chicago_res.draws = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        chicago_res.payment_draws[0] = 1.0


def test_to_dict_is_json_and_leads_with_the_cli_keys(chicago_res) -> None:
    d = chicago_res.to_dict()
    keys = list(d)
    assert keys[1:11] == ["expected_payment", "payment_quantiles", "p_any_payment", "thresholds", "irr",
                          "p_investor_loss", "break_even_effect", "payors", "benefit_cost_ratio", "contract"]
    text = dumps_json(d)
    assert "NaN" not in text and "Infinity" not in text
    assert d["benefits"]["wsipp_cte_academies"]["benefit_cost_ratio"] == 2.94
    assert d["outcomes"]["graduation"]["gross_outcomes"] > d["outcomes"]["graduation"]["impact_outcomes"]
    assert d["contract_spec"]["contract"]["name"].startswith("Two-payor")
    assert len(d["payments"]["by_year_at_estimate"]) == d["contract"]["years"]


def test_tidy_schema(chicago_res) -> None:
    t = chicago_res.tidy()
    assert tuple(t.columns) == PRICING_TIDY_COLUMNS
    assert t["value"].dtype == np.float64
    row = t[(t["quantity"] == "payment") & (t["statistic"] == "expected") & (t["group"] == "total")]
    assert row["value"].iloc[0] == chicago_res.expected_payment
    assert set(t["quantity"]) >= {"payment", "payor", "irr", "investors", "benefits", "break_even", "mde"}


def test_summary_mentions_the_essentials(chicago_res) -> None:
    s = chicago_res.summary()
    for phrase in ("Payors (present values)", "city (local)", "pays more than its own benefit", "Investors",
                   "Break-even effect", "Benefit–cost", "WSIPP", "assumed:"):
        assert phrase in s, phrase


def test_plots(chicago_res, tmp_path) -> None:
    for kind in ("curve", "distribution", "payors"):
        fig = chicago_res.plot(kind)
        assert isinstance(fig, Figure)
        path = save_figure(fig, tmp_path / f"{kind}.png")
        assert path.stat().st_size > 1000
    with pytest.raises(OptionError, match="plot kind"):
        chicago_res.plot("pie")


def test_figures_are_byte_identical_for_identical_results(tmp_path) -> None:
    est = make_estimates(["graduated", "dropout"], [0.04, -0.03], [[1e-4, -5e-5], [-5e-5, 1e-4]])
    a = price_contract(example_contract("two_payor_chicago_cpc"), est, draws=2000, seed=1)
    b = price_contract(example_contract("two_payor_chicago_cpc"), est, draws=2000, seed=1)
    pa = save_figure(a.plot("curve"), tmp_path / "a.svg")
    pb = save_figure(b.plot("curve"), tmp_path / "b.svg")
    assert pa.read_bytes() == pb.read_bytes()

"""Each payment mechanism, its timing and its payor split against hand computations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cteimpact.errors import SpecificationError
from cteimpact.pricing import load_contract, npv, price_contract
from cteimpact.pricing.engine import compile_contract
from cteimpact.results import ExternalEstimate


def _compiled(payment: dict[str, Any], *, direction: str = "increase", baseline: float | None = None,
              lag: int = 0, spread: list[float] | None = None, **extra: Any):
    outcome: dict[str, Any] = {"name": "y", "estimate": "y", "direction": direction, "lag_years": lag,
                               "payment": payment}
    if baseline is not None:
        outcome["baseline"] = baseline
    if spread is not None:
        outcome["spread"] = spread
    contract = {
        "contract": {"name": "m", "discount_rate": 0.05},
        "payors": [{"name": "state", "level": "state", "share": 0.75},
                   {"name": "district", "level": "district", "share": 0.25, "discount_rate": 0.0}],
        "cohorts": [{"name": "a", "students": 100, "year": 0}, {"name": "b", "students": 300, "year": 2}],
        "outcomes": [outcome],
        **extra,
    }
    spec = load_contract(contract)
    return compile_contract(spec, ExternalEstimate(label="y", effect=0.0, std_error=0.01))


def test_rate_card_timing_by_cohort_lag_spread_and_years() -> None:
    c = _compiled({"kind": "rate_card", "price": 1000.0, "years": 2}, lag=1, spread=[0.5, 0.5])
    sc = c.scenario_at("y", np.array([0.1]))
    # cohort a: 100 x 0.1 x 1000 = 10,000 a year in years 1-2, each spread half/half: years 1..3
    # cohort b: 300 x 0.1 x 1000 = 30,000 a year in years 3-4, spread: years 3..5
    expected = np.array([0, 5000, 10000, 5000 + 15000, 30000, 15000], dtype=float)
    np.testing.assert_allclose(sc.payments[0], expected, rtol=1e-12)
    assert sc.payment_total[0] == pytest.approx(80_000.0, rel=1e-12)
    assert sc.payment_npv[0] == pytest.approx(npv(0.05, expected), rel=1e-12)
    by_year = c.payor_payments_by_year(sc)
    np.testing.assert_allclose(by_year["state"], 0.75 * expected, rtol=1e-12)
    # payors discount at their own rate: the district at 0%
    assert sc.payor_pv[0, 1] == pytest.approx(0.25 * expected.sum(), rel=1e-12)
    assert sc.payor_pv[0, 0] == pytest.approx(0.75 * npv(0.05, expected), rel=1e-12)


def test_gross_basis_for_a_decrease_outcome() -> None:
    # gross rate card on a 'decrease' outcome pays for every student without the bad outcome: (1 - (base + effect))
    c = _compiled({"kind": "rate_card", "price": 10.0, "basis": "gross"}, direction="decrease", baseline=0.2)
    sc = c.scenario_at("y", np.array([-0.05, 0.0, 0.9]))
    np.testing.assert_allclose(sc.payment_total, 10.0 * 400 * np.array([0.85, 0.8, 0.0]), rtol=1e-12)
    np.testing.assert_allclose(sc.gross_units[:, 0], 400 * np.array([0.85, 0.8, 0.0]), rtol=1e-12)
    np.testing.assert_allclose(sc.impact_units[:, 0], 400 * np.array([0.05, 0.0, -0.9]), rtol=1e-12)


def test_linear_schedule_per_student_and_relative() -> None:
    tiers = [{"at": 0.1, "pay": 100.0}, {"at": 0.3, "pay": 300.0}]
    c = _compiled({"kind": "schedule", "tiers": tiers, "interpolation": "linear", "per": "student",
                   "measure": "relative", "pay_year": 3}, baseline=0.2)
    # relative improvements 0.05, 0.1, 0.2, 0.3, 0.5 of a 0.2 baseline
    sc = c.scenario_at("y", 0.2 * np.array([0.05, 0.1, 0.2, 0.3, 0.5]))
    per_student = np.array([0.0, 100.0, 200.0, 300.0, 300.0])
    np.testing.assert_allclose(sc.payment_total, per_student * 400, rtol=1e-12)
    assert sc.payments.shape[1] == 4 and np.all(sc.payments[:, :3] == 0)  # paid in year 3 only


def test_savings_share_and_earnings_linked() -> None:
    c = _compiled({"kind": "savings_share", "savings_per_outcome": 5000.0, "share": 0.4, "min_effect": 0.02})
    sc = c.scenario_at("y", np.array([0.01, 0.02, 0.05]))
    np.testing.assert_allclose(sc.payment_total, [0.0, 0.4 * 5000 * 0.02 * 400, 0.4 * 5000 * 0.05 * 400],
                               rtol=1e-12)
    e = _compiled({"kind": "earnings_linked", "rate": 0.1, "years": 3, "cap_per_student": 450.0}, lag=1)
    sc2 = e.scenario_at("y", np.array([1000.0, 2000.0, -500.0]))
    # 10% of a $1,000 gain for 3 years = $300 a student; $2,000 would be $600, capped at $450; harm pays nothing
    np.testing.assert_allclose(sc2.payment_total, [300.0 * 400, 450.0 * 400, 0.0], rtol=1e-12)
    # cohort a (year 0) paid in years 1-3, cohort b (year 2) in years 3-5: $100 a student a year at $1,000
    np.testing.assert_allclose(sc2.payments[0], [0, 10000, 10000, 10000 + 30000, 30000, 30000], rtol=1e-12)


def test_outcome_cap_and_significance() -> None:
    c = _compiled({"kind": "rate_card", "price": 1000.0, "cap": 20_000.0, "require_significance": True})
    # SE 0.01: significant when the effect is at least 1.96 x 0.01
    sc = c.scenario_at("y", np.array([0.019, 0.0196, 0.04, 0.1]))
    np.testing.assert_allclose(sc.payment_total, [0.0, 0.0196 * 400 * 1000, 16_000.0, 20_000.0], rtol=1e-9)
    assert list(sc.cap_binding[:, 0]) == [False, False, False, True]


def test_recoverable_grant_is_repaid_last_and_kept_out_of_investor_returns() -> None:
    c = _compiled({"kind": "rate_card", "price": 1000.0}, financing={"tranches": [
        {"name": "loan", "kind": "senior_loan", "amount": 30_000.0, "return_cap": 0.0},
        {"name": "grant", "kind": "recoverable_grant", "amount": 10_000.0},
        {"name": "equity", "kind": "equity", "amount": 5_000.0}]})
    assert [t.name for t in c.tranches if t.name in c.investor_tranches] == ["loan", "equity"]
    # effect 0.15: cohort a pays 15,000 in year 0, cohort b 45,000 in year 2
    sc = c.scenario_at("y", np.array([0.15]))
    assert sc.tranche_received["loan"][0] == pytest.approx(30_000.0)  # repaid first, no return (cap 0)
    assert sc.tranche_received["grant"][0] == pytest.approx(10_000.0)  # then the grant, without return
    assert sc.tranche_received["equity"][0] == pytest.approx(20_000.0)  # equity takes what is left
    # investors (loan + equity): 35,000 in, 50,000 back
    assert sc.invested == 35_000.0
    assert sc.received[0] == pytest.approx(50_000.0)
    sc2 = c.scenario_at("y", np.array([0.1]))  # 40,000: the grant is repaid, equity gets nothing
    assert sc2.tranche_received["grant"][0] == pytest.approx(10_000.0)
    assert sc2.tranche_received["equity"][0] == pytest.approx(0.0)


def test_several_results_are_combined_as_independent() -> None:
    contract = {
        "contract": {"name": "two sources"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": 100}],
        "outcomes": [
            {"name": "d", "estimate": "dropout", "direction": "decrease",
             "payment": {"kind": "rate_card", "price": 1.0}},
            {"name": "e", "estimate": "earnings", "direction": "increase",
             "payment": {"kind": "earnings_linked", "rate": 0.1}},
        ],
    }
    a = ExternalEstimate(label="dropout", effect=-0.02, std_error=0.01)
    b = ExternalEstimate(label="earnings", effect=500.0, std_error=200.0)
    res = price_contract(contract, [a, b], draws=2000)
    assert res.to_dict()["simulation"]["joint"] is False
    assert any("independent" in n for n in res.notes)
    with pytest.raises(SpecificationError, match="estimate label 'dropout' appears in two of the results"):
        price_contract(contract, [a, ExternalEstimate(label="dropout", effect=0.0, std_error=1.0)], draws=2000)

"""The investors' largest possible loss is a contractual quantity (issue 11, item 8): what they lose if no outcome
payment is made, after guarantees — recorded apart from the largest loss among the draws and the probability of
any loss."""

from __future__ import annotations

from typing import Any

import pytest

from cteimpact.pricing import example_contract, price_contract
from cteimpact.results import ExternalEstimate


def _contract(guarantees: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "contract": {"name": "loss"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": 10_000.0, "year": 0}],
        "outcomes": [{"name": "d", "estimate": "dropout", "direction": "decrease", "baseline": 0.085,
                      "lag_years": 2, "payment": {"kind": "rate_card", "price": 25_000.0}}],
        "financing": {"tranches": [
            {"name": "senior", "kind": "senior_loan", "amount": 4e6, "return_cap": 0.05},
            {"name": "junior", "kind": "junior_loan", "amount": 2e6, "return_cap": 0.08},
            {"name": "grant", "kind": "recoverable_grant", "amount": 1e6}],
            "guarantees": guarantees or []},
    }


def test_rikers_maximum_loss_is_the_quarter_the_guarantee_leaves_uncovered() -> None:
    # an estimate so far beyond the top tier that no draw loses: the simulation sees no loss, the terms still allow
    # losing 25% of $9.6M ($7.2M floor from Bloomberg Philanthropies)
    res = price_contract(example_contract("schedule_rikers"), ExternalEstimate(label="dropout", effect=-0.05,
                                                                               std_error=0.001), draws=5000, seed=1)
    inv = res.investors
    assert inv["max_loss"] == pytest.approx(2.4e6, abs=1e-6)
    assert inv["received_without_payments"] == pytest.approx(7.2e6, abs=1e-6)
    assert inv["max_simulated_loss"] == 0.0
    assert inv["p_loss"] == 0.0 and res.p_investor_loss == 0.0
    assert inv["tranches"]["senior_lender"]["max_loss"] == pytest.approx(2.4e6, abs=1e-6)
    basis = inv["max_loss_basis"]
    assert "no outcome payment" in basis and "largest loss among the simulated draws" in basis
    text = res.summary()
    assert "maximum loss under the terms 2,400,000" in text and "largest loss in the draws 0" in text


def test_without_guarantee_investors_can_lose_everything_they_put_in() -> None:
    res = price_contract(_contract(), ExternalEstimate(label="dropout", effect=-0.03, std_error=0.005), draws=5000,
                         seed=2)
    inv = res.investors
    # the recoverable grant is not investors' capital
    assert inv["invested"] == 6e6
    assert inv["max_loss"] == 6e6 and inv["received_without_payments"] == 0.0
    assert inv["tranches"]["senior"]["max_loss"] == 4e6
    assert inv["tranches"]["junior"]["max_loss"] == 2e6
    assert inv["tranches"]["grant"]["max_loss"] == 1e6
    # with an effect of 3 +/- 0.5 points the draws repay the loans (7.5M paid on average): no simulated loss
    assert inv["max_simulated_loss"] < inv["max_loss"]


@pytest.mark.parametrize(("mode", "amount", "senior_loss"), [("first_loss", 1.5e6, 2.5e6), ("floor", 3e6, 1e6),
                                                              ("first_loss", 9e6, 0.0)])
def test_guarantees_reduce_the_maximum_loss(mode: str, amount: float, senior_loss: float) -> None:
    # a guarantee of the $4M senior loan: first loss covers its shortfall up to the amount; a floor tops its
    # receipts up to the amount. The $2M junior loan is not covered.
    g = [{"name": "g", "covers": "senior", "amount": amount, "mode": mode}]
    res = price_contract(_contract(g), ExternalEstimate(label="dropout", effect=-0.001, std_error=0.001), draws=2000,
                         seed=3)
    inv = res.investors
    assert inv["tranches"]["senior"]["max_loss"] == pytest.approx(senior_loss, abs=1e-6)
    assert inv["tranches"]["junior"]["max_loss"] == 2e6
    assert inv["max_loss"] == pytest.approx(senior_loss + 2e6, abs=1e-6)
    # an estimate near zero loses in most draws; the worst draw cannot exceed the contractual maximum
    assert inv["max_simulated_loss"] <= inv["max_loss"] + 1e-6
    assert inv["p_loss"] > 0.5

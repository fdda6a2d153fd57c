"""The payment curve shows step functions as steps (issue 11, item 4): the record lists each jump (where
significance, a minimum effect or a step tier switches payments on or up) with the payment just below and at it;
the curve polyline and the figure rise vertically there, and no plotted segment ramps across a jump."""

from __future__ import annotations

import itertools
from typing import Any

import matplotlib
import numpy as np
import pytest
from scipy import stats

from cteimpact.pricing import example_contract, load_contract, price_contract
from cteimpact.pricing.plots import plot_payment_curve
from cteimpact.results import ExternalEstimate

matplotlib.use("Agg")

Z975 = stats.norm.ppf(0.975)


def _rate_card(**payment: Any) -> dict[str, Any]:
    return {
        "contract": {"name": "steps"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": 10_000.0, "year": 0}],
        "outcomes": [{"name": "dropout_prevented", "estimate": "dropout", "direction": "decrease", "baseline": 0.085,
                      "payment": {"kind": "rate_card", "price": 25_000.0, **payment}}],
        "financing": {"tranches": [{"name": "loan", "kind": "senior_loan", "amount": 6e6, "return_cap": 0.05}]},
    }


def _payment_line(fig: Any) -> np.ndarray:
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_label() == "total payment"]
    return np.asarray(line.get_xydata(), dtype=float)


def _assert_steps(xy: np.ndarray, breaks: list[dict[str, Any]], div: float) -> None:
    """No segment between two distinct effects spans a break; at each break the line is vertical, from the payment
    just short of it to the payment at it."""
    xs = [b["effect"] for b in breaks]
    for (x0, _), (x1, _) in itertools.pairwise(xy):
        if x0 == x1:
            continue
        lo, hi = min(x0, x1), max(x0, x1)
        assert not any(lo < b < hi for b in xs), (x0, x1)
    for b in breaks:
        at = np.flatnonzero(xy[:, 0] == b["effect"])
        assert at.size == 2, b  # the break's effect appears twice: a vertical segment
        ys = sorted(xy[at, 1])
        np.testing.assert_allclose(ys, sorted([b["payment_below"] / div, b["payment_at"] / div]), rtol=1e-12)
        assert at[1] == at[0] + 1


def test_significance_jump_is_recorded_and_drawn_vertically() -> None:
    se = 0.0146914
    res = price_contract(_rate_card(require_significance=True), ExternalEstimate(label="dropout", effect=-0.0282,
                                                                                 std_error=se), draws=2000, seed=1)
    (brk,) = res.curve["breaks"]
    bound = Z975 * se  # the improvement at which the estimate becomes significant
    assert brk["causes"] == ["significance"]
    assert brk["effect"] == pytest.approx(-bound, rel=1e-12)
    assert brk["improvement"] == pytest.approx(bound, rel=1e-12)
    assert brk["payment_below"] == 0.0
    assert brk["payment_at"] == pytest.approx(25_000 * 10_000 * bound, rel=1e-12)
    assert brk["payment_npv_below"] == 0.0 and brk["payment_npv_at"] > 0
    # paid in year 0, when the loan is drawn: the loan is repaid at par, nothing has accrued
    assert brk["investor_multiple_below"] == 0.0 and brk["investor_multiple_at"] == pytest.approx(1.0, rel=1e-12)
    # the recorded polyline: the break's effect twice; a decrease outcome lists the paid side first
    eff = np.asarray(res.curve["effect"])
    pay = np.asarray(res.curve["payment"])
    (i, j) = np.flatnonzero(eff == brk["effect"])
    assert (pay[i], pay[j]) == (brk["payment_at"], brk["payment_below"])
    assert np.all(np.diff(eff) >= 0)
    # no payment is recorded below the bound outside the break itself: nothing ramps up to it
    short = (-eff < bound * (1 - 1e-9))
    assert np.all(pay[short] == 0.0)
    fig = plot_payment_curve(res)
    xy = _payment_line(fig)
    _assert_steps(xy, res.curve["breaks"], 1e6)
    np.testing.assert_allclose(xy[:, 0], eff, rtol=0, atol=0)


def test_the_old_linear_ramp_is_gone() -> None:
    # between the last grid point short of the bound and the bound itself, the old curve drew a straight line from
    # $0 to the payment at the bound; the midpoint of every drawn segment must now be a payment of the contract
    se = 0.0146914
    res = price_contract(_rate_card(require_significance=True), ExternalEstimate(label="dropout", effect=-0.0282,
                                                                                 std_error=se), draws=2000, seed=1)
    xy = _payment_line(plot_payment_curve(res))
    bound = Z975 * se
    for (x0, y0), (x1, y1) in itertools.pairwise(xy):
        if x0 == x1:
            continue
        mid = 0.5 * (x0 + x1)
        expected = 0.0 if -mid < bound else min(25_000 * 10_000 * -mid, 1e12) / 1e6
        assert 0.5 * (y0 + y1) == pytest.approx(expected, rel=1e-9, abs=1e-9), (x0, x1)


def test_rikers_tiers_are_the_recorded_breaks() -> None:
    contract = load_contract(example_contract("schedule_rikers"))
    res = price_contract(contract, ExternalEstimate(label="dropout", effect=-0.018, std_error=0.008), draws=2000,
                         seed=2)
    tiers = contract.outcomes[0].payment.tiers
    base = contract.outcomes[0].baseline
    breaks = res.curve["breaks"]
    assert [b["causes"] for b in breaks] == [[f"tier {i}"] for i in range(len(tiers))]
    np.testing.assert_allclose([b["effect"] for b in breaks], [-t.at * base for t in tiers], rtol=1e-12)
    assert [b["payment_at"] for b in breaks] == [t.pay for t in tiers]
    assert [b["payment_below"] for b in breaks] == [0.0] + [t.pay for t in tiers[:-1]]
    # the guarantee: the investor's multiple is 0.75 (the floor) below the first tier
    assert breaks[0]["investor_multiple_below"] == pytest.approx(0.75, rel=1e-12)
    _assert_steps(_payment_line(plot_payment_curve(res)), breaks, 1e6)


def test_linear_schedule_jumps_only_at_its_first_tier_and_a_tier_below_significance_is_no_break() -> None:
    contract = {
        "contract": {"name": "linear"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": 100.0}],
        "outcomes": [{"name": "g", "estimate": "g", "direction": "increase", "scale": "proportion",
                      "payment": {"kind": "schedule", "interpolation": "linear",
                                  "tiers": [{"at": 0.02, "pay": 1e5}, {"at": 0.06, "pay": 3e5}]}}],
    }
    res = price_contract(contract, ExternalEstimate(label="g", effect=0.04, std_error=0.01), draws=2000, seed=3)
    (brk,) = res.curve["breaks"]
    assert brk["causes"] == ["tier 0"] and brk["effect"] == 0.02
    assert (brk["payment_below"], brk["payment_at"]) == (0.0, 1e5)
    # an increase outcome lists the unpaid side first
    eff = np.asarray(res.curve["effect"])
    (i, j) = np.flatnonzero(eff == 0.02)
    assert (res.curve["payment"][i], res.curve["payment"][j]) == (0.0, 1e5)
    # with significance required (bound 1.96 x 0.01 = 0.0196 < 0.02) the tier stays the only break; with a larger
    # standard error the tier falls below the bound and the jump moves to significance, from 0 to the tier's pay
    contract["outcomes"][0]["payment"]["require_significance"] = True
    res2 = price_contract(contract, ExternalEstimate(label="g", effect=0.04, std_error=0.015), draws=2000, seed=3)
    (brk2,) = res2.curve["breaks"]
    assert brk2["causes"] == ["significance"]
    assert brk2["effect"] == pytest.approx(Z975 * 0.015, rel=1e-12)
    assert brk2["payment_below"] == 0.0
    assert brk2["payment_at"] == pytest.approx(1e5 + (Z975 * 0.015 - 0.02) / 0.04 * 2e5, rel=1e-12)


def test_continuous_contract_has_no_breaks_and_the_curve_stays_admissible() -> None:
    res = price_contract(_rate_card(), ExternalEstimate(label="dropout", effect=-0.05, std_error=0.02), draws=2000,
                         seed=4)
    assert res.curve["breaks"] == []
    eff = np.asarray(res.curve["effect"])
    assert len(np.unique(eff)) == len(eff)
    # a dropout rate of 8.5% can fall by at most 8.5 points or rise to 100%
    assert res.curve["admissible_effect"] == {"lower": -0.085, "upper": pytest.approx(0.915)}
    assert eff.min() == -0.085 and eff.max() <= 0.915

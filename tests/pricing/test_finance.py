"""NPV, IRR, multiples and the repayment waterfall against hand-computed closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cteimpact.errors import OptionError
from cteimpact.pricing.finance import (
    GuaranteeSpec,
    IRRStatus,
    TrancheSpec,
    annuity_factor,
    irr,
    irr_solution,
    moic,
    npv,
    run_waterfall,
    sign_changes,
)

TOL = 1e-12


def test_rikers_loan_irr_closed_form() -> None:
    # Issue 5: "a loan of 9.6M repaid 11.712M after 4 years is 5.1%": (11.712 / 9.6) ** (1/4) - 1 = 1.22 ** 0.25 - 1
    r = irr([-9.6e6, 0, 0, 0, 11.712e6])
    assert r == pytest.approx(1.22 ** 0.25 - 1, abs=TOL)
    assert round(r * 100, 1) == 5.1


def test_one_period_and_quadratic_closed_forms() -> None:
    assert irr([-100.0, 110.0]) == pytest.approx(0.10, abs=TOL)
    # -100 + 60 x + 60 x^2 = 0 with x = 1/(1+r): x = (-60 + sqrt(60^2 + 4*60*100)) / 120
    x = (-60 + math.sqrt(60**2 + 4 * 60 * 100)) / 120
    assert irr([-100.0, 60.0, 60.0]) == pytest.approx(1 / x - 1, abs=TOL)


def test_level_annuity_priced_at_a_known_rate_returns_that_rate() -> None:
    rate, n, pay = 0.07, 5, 250.0
    price = pay * (1 - (1 + rate) ** -n) / rate
    assert irr([-price] + [pay] * n) == pytest.approx(rate, abs=TOL)


def test_quarter_loss_over_four_years() -> None:
    # the Rikers floor: 9.6M in, 7.2M back after 4 years
    assert irr([-9.6e6, 0, 0, 0, 7.2e6]) == pytest.approx(0.75 ** 0.25 - 1, abs=TOL)


def test_irr_conventions_and_flags() -> None:
    sol = irr_solution(np.array([
        [-100.0, 230.0, -132.0],  # roots 10% and 20%
        [-1.0, 0.0, 0.0],  # total loss
        [0.0, 1.0, 1.0],  # no outflow
        [0.0, 0.0, 0.0],
    ]))
    assert sol.rate[0] == pytest.approx(0.10, abs=1e-10)
    assert sol.status[0] == IRRStatus.MULTIPLE
    assert sol.rate[1] == -1.0 and sol.status[1] == IRRStatus.TOTAL_LOSS
    assert np.isnan(sol.rate[2]) and sol.status[2] == IRRStatus.UNDEFINED
    assert np.isnan(sol.rate[3]) and sol.status[3] == IRRStatus.UNDEFINED
    assert sol.n_multiple == 1 and sol.n_undefined == 2


def test_irr_below_minus_99_percent() -> None:
    # (1e-12)^(1/3) - 1 = -0.9999
    assert irr([-1.0, 0.0, 0.0, 1e-12]) == pytest.approx(-0.9999, abs=1e-10)


def test_vectorised_irr_matches_row_by_row() -> None:
    rng = np.random.default_rng(3)
    cf = np.zeros((500, 7))
    cf[:, 0] = -rng.uniform(1, 10, 500)
    cf[:, 1] = -rng.uniform(0, 2, 500)
    cf[:, 3:] = rng.uniform(0, 4, (500, 4))
    vec = irr(cf)
    rows = np.array([irr(row) for row in cf])
    np.testing.assert_allclose(vec, rows, rtol=0, atol=1e-12)
    np.testing.assert_allclose(npv(vec, cf), 0.0, atol=1e-9)


def test_npv_and_annuity_factor_closed_forms() -> None:
    r = 0.05
    assert npv(r, [100.0, 100.0, 100.0]) == pytest.approx(100 + 100 / 1.05 + 100 / 1.05**2, abs=1e-12)
    # sum_{t=0}^{n-1} (1+r)^-(t+s) = (1+r)^-s * (1 - (1+r)^-n) / (1 - 1/(1+r))
    n, s = 40, 7
    closed = (1 + r) ** -s * (1 - (1 + r) ** -n) / (1 - 1 / (1 + r))
    assert annuity_factor(r, n, start=s) == pytest.approx(closed, rel=1e-13)
    assert annuity_factor(r, 3, growth=r) == pytest.approx(3.0, rel=1e-14)  # growth equal to the discount rate
    with pytest.raises(OptionError):
        annuity_factor(-1.5, 3)


def test_moic_and_sign_changes() -> None:
    assert moic(100.0, 150.0) == 1.5
    assert np.isnan(moic(0.0, 10.0))
    np.testing.assert_array_equal(sign_changes(np.array([[-1, 0, 2, 0, -1], [-1, -1, 0, 3, 3]])), [2, 1])


def test_waterfall_priority_caps_and_residual() -> None:
    # senior 100 at a 10% cap, junior 50 uncapped; payments 60 in year 1 and 100 in year 2
    senior = TrancheSpec("senior", "senior_loan", np.array([100.0, 0, 0]), 0.10, 1)
    junior = TrancheSpec("junior", "junior_loan", np.array([50.0, 0, 0]), None, 2)
    wf = run_waterfall(np.array([[0.0, 60.0, 100.0]]), [junior, senior])
    # year 1: senior owed 110, takes 60, 50 left; year 2: owed 55, takes 55; junior gets the other 45
    np.testing.assert_allclose(wf.receipts["senior"][0], [0.0, 60.0, 55.0], atol=1e-12)
    np.testing.assert_allclose(wf.receipts["junior"][0], [0.0, 0.0, 45.0], atol=1e-12)
    np.testing.assert_allclose(wf.residual[0], 0.0, atol=1e-12)


def test_waterfall_pari_passu_and_capped_residual() -> None:
    a = TrancheSpec("a", "senior_loan", np.array([30.0, 0]), 0.0, 1)
    b = TrancheSpec("b", "senior_loan", np.array([10.0, 0]), 0.0, 1)
    wf = run_waterfall(np.array([[0.0, 20.0], [0.0, 100.0]]), [a, b])
    np.testing.assert_allclose(wf.receipts["a"][:, 1], [15.0, 30.0], atol=1e-12)  # 3:1 pro rata, then full
    np.testing.assert_allclose(wf.receipts["b"][:, 1], [5.0, 10.0], atol=1e-12)
    np.testing.assert_allclose(wf.residual[:, 1], [0.0, 60.0], atol=1e-12)


def test_guarantee_floor_and_first_loss() -> None:
    loan = TrancheSpec("loan", "senior_loan", np.array([9.6, 0, 0, 0, 0]), None, 1)
    pay = np.array([[0, 0, 0, 0, 0.0], [0, 0, 0, 0, 4.8], [0, 0, 0, 0, 9.6]])
    floor = run_waterfall(pay, [loan], [GuaranteeSpec("g", "loan", 7.2, "floor")])
    np.testing.assert_allclose(floor.guarantee_payments["g"][:, -1], [7.2, 2.4, 0.0], atol=1e-12)
    first = run_waterfall(pay, [loan], [GuaranteeSpec("g", "loan", 7.2, "first_loss")])
    np.testing.assert_allclose(first.guarantee_payments["g"][:, -1], [7.2, 4.8, 0.0], atol=1e-12)

"""Pre-trend test power (Roth 2022): exact single-period case and simulation checks of the multi-period slopes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from cteimpact.did import pretrend_power
from cteimpact.did.pretest import rejection_probability_any, wald_pretest

Z = stats.norm.ppf(0.975)


def test_single_pre_period_slope_is_exact() -> None:
    """One pre-coefficient at e = -2 (reference -1): power(γ) = Φ(γ/σ − z) + Φ(−γ/σ − z)."""
    sigma = 0.03
    p = pretrend_power(np.array([[sigma ** 2]]), [-2.0], reference=-1.0)
    exact = optimize.brentq(lambda g: stats.norm.cdf(g / sigma - Z) + stats.norm.cdf(-g / sigma - Z) - 0.8, 0, 1,
                            xtol=1e-14)
    assert p.slope_any == pytest.approx(exact, rel=1e-9)
    assert p.slope_wald == pytest.approx(exact, rel=1e-9)  # one restriction: the two tests coincide


def test_multi_period_slopes_have_the_target_power_by_simulation() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T / 4 * 1e-3 + np.eye(4) * 2e-4
    e = np.array([-5.0, -4.0, -3.0, -2.0])
    p = pretrend_power(cov, e, reference=-1.0)
    draws = rng.multivariate_normal(np.zeros(4), cov, size=100_000)
    sd = np.sqrt(np.diag(cov))
    any_rej = np.mean(np.any(np.abs(draws + p.slope_any * (e + 1)) > Z * sd, axis=1))
    assert any_rej == pytest.approx(0.8, abs=0.005)
    shifted = draws + p.slope_wald * (e + 1)
    w = np.einsum("ij,jk,ik->i", shifted, np.linalg.inv(cov), shifted)
    assert np.mean(w > stats.chi2.ppf(0.95, 4)) == pytest.approx(0.8, abs=0.005)
    # power against a hypothesised trend is reported for both tests
    q = pretrend_power(cov, e, reference=-1.0, hypothesised_trend=list(0.5 * p.slope_any * (e + 1)))
    assert q.power_any is not None and 0.05 < q.power_any < 0.8
    assert rejection_probability_any(np.zeros(4), cov) == pytest.approx(
        1 - stats.multivariate_normal(cov=cov).cdf(Z * sd, lower_limit=-Z * sd), abs=1e-4)


def test_wald_pretest_formula_and_unavailability() -> None:
    att = np.array([0.1, -0.2, 0.3])
    cov = np.diag([0.01, 0.04, 0.09])
    pre = np.array([True, True, False])
    w = wald_pretest(att, cov, pre, [(1, 0), (1, 1), (1, 2)])
    assert w is not None
    assert w.statistic == pytest.approx(0.1 ** 2 / 0.01 + 0.2 ** 2 / 0.04)
    assert w.df == 2
    assert w.p_value == pytest.approx(stats.chi2.sf(2.0, 2))
    with pytest.warns(Warning, match="no pre-treatment"):
        assert wald_pretest(att, cov, np.zeros(3, dtype=bool), []) is None

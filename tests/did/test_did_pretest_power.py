"""Pre-trend test power (Roth 2022): exact single-period case and simulation checks of the multi-period slopes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from cteimpact.did import pretrend_power
from cteimpact.did.pretest import rejection_probability_any, wald_pretest
from cteimpact.errors import OptionError

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


def _equicorrelated_box(mean: np.ndarray, sd: np.ndarray, rho: float, half: np.ndarray) -> float:
    """Exact ``P(|X_j| <= half_j)`` for equicorrelated ``X``: ``X_j = mean_j + sd_j (√ρ W + √(1-ρ) ε_j)``, a
    one-dimensional integral over ``W`` (adaptive quadrature to 1e-12)."""
    s = sd * np.sqrt(1 - rho)

    def integrand(w: float) -> float:
        centre = mean + sd * np.sqrt(rho) * w
        inside = stats.norm.cdf((half - centre) / s) - stats.norm.cdf((-half - centre) / s)
        return float(stats.norm.pdf(w) * np.prod(inside))

    return float(integrate.quad(integrand, -12, 12, limit=500, epsabs=1e-13, epsrel=1e-12)[0])


@pytest.mark.parametrize(("k", "rho"), [(2, 0.5), (5, 0.9), (8, 0.3), (10, 0.9), (6, 0.999)])
def test_any_significant_power_matches_the_exact_equicorrelated_value(k: int, rho: float) -> None:
    """Against an exact reference (equicorrelated normals with unequal variances: a one-dimensional integral): the
    power at the 80%-power slope is 0.8 to 1e-5, and the power elsewhere (no trend, half the slope) is within the
    documented 6e-5."""
    sd = np.linspace(1.0, 2.5, k)
    cov = (rho * np.ones((k, k)) + (1 - rho) * np.eye(k)) * np.outer(sd, sd)
    e = -np.arange(k + 1, 1, -1.0)  # -k-1 .. -2, reference -1
    p = pretrend_power(cov, e, reference=-1.0)
    at_slope = p.slope_any * (e + 1)
    assert 1 - _equicorrelated_box(at_slope, sd, rho, Z * sd) == pytest.approx(0.8, abs=1e-5)
    assert rejection_probability_any(at_slope, cov) == pytest.approx(
        1 - _equicorrelated_box(at_slope, sd, rho, Z * sd), abs=1e-5)
    for mean in (np.zeros(k), 0.5 * at_slope):
        exact = 1 - _equicorrelated_box(mean, sd, rho, Z * sd)
        assert rejection_probability_any(mean, cov) == pytest.approx(exact, abs=6e-5)


def test_power_calculations_are_deterministic_to_the_bit() -> None:
    rng = np.random.default_rng(11)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T / 6 + np.eye(6) * 0.1
    e = -np.arange(7.0, 1.0, -1.0)
    first = pretrend_power(cov, e, reference=-1.0, hypothesised_trend=list(0.2 * (e + 1)))
    again = pretrend_power(cov.copy(), e.copy(), reference=-1.0, hypothesised_trend=list(0.2 * (e + 1)))
    assert first.slope_any.hex() == again.slope_any.hex()
    assert first.power_any is not None and again.power_any is not None
    assert first.power_any.hex() == again.power_any.hex()


def test_singular_covariance_of_identical_coefficients() -> None:
    """Two copies of one coefficient: 'any significant' is the single coefficient's test (zero Cholesky pivot)."""
    cov = np.array([[4.0, 4.0], [4.0, 4.0]])
    for m in (0.0, 3.0, -5.0):
        exact = stats.norm.sf(Z - m / 2) + stats.norm.cdf(-Z - m / 2)
        assert rejection_probability_any(np.array([m, m]), cov) == pytest.approx(exact, abs=1e-12)


def test_target_power_that_needs_no_trend_is_an_option_error() -> None:
    with pytest.raises(OptionError, match=r"target power 0\.05 must exceed the size .*0\.05"):
        pretrend_power(np.eye(3), [-4.0, -3.0, -2.0], reference=-1.0, target_power=0.05)
    # 20 independent pre-periods: the 'any significant' test rejects 64% of the time without a trend
    with pytest.raises(OptionError, match=r"target power 0\.6 is below .*without a trend \(0\.64\d, 20 pre-periods"):
        pretrend_power(np.eye(20), -np.arange(21.0, 1.0, -1.0), reference=-1.0, target_power=0.6)

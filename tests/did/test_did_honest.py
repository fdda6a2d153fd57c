"""HonestDiD-style sensitivity (Rambachan & Roth 2023) against the HonestDiD README example, plus exact cases.

Inputs: ``results/honestdid_ehec_inputs.json`` (event-study β̂ and Σ of the README's Medicaid example, computed
by ``results/make_honestdid_inputs.py``). Expected values: the README of github.com/asheshrambachan/HonestDiD,
printed to three significant digits. Tolerances (see results/README.md):

* Δ^SD FLCI: half a unit in the last printed digit plus 0.3% of the interval half-length, because HonestDiD
  computes the folded-normal quantile from 10^6 simulated draws (our quantile is exact);
* Δ^RM C-LF: half a unit in the last printed digit plus two grid steps (HonestDiD reports the extreme accepted
  points of a 1000-point grid on ±20 standard deviations, one step = 0.04 SD; its least-favourable critical value
  is the 99.5% quantile of 1000 simulated draws (R's RNG, seed 0), ours of 1000 draws from our seeded generator,
  which moves the endpoints by up to about one more step). Compared on the same grid (``refine=False``) and
  after endpoint refinement. This validates the C-LF intervals to about 0.1 standard deviation, not to many
  digits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cteimpact.did import CallawaySantAnna, honest_sensitivity
from cteimpact.did.honest import flci_smoothness, rm_confidence_set

INPUTS = json.loads((Path(__file__).with_name("results") / "honestdid_ehec_inputs.json").read_text())
BETA = np.array(INPUTS["betahat"])
SIGMA = np.array(INPUTS["sigma"])

# HonestDiD README, createSensitivityResults(..., numPrePeriods = 5, numPostPeriods = 2, Mvec = seq(0, .05, .01))
README_SD = [(0.00, 0.0259, 0.0607), (0.01, 0.0132, 0.0787), (0.02, 0.00286, 0.0907), (0.03, -0.00714, 0.101),
             (0.04, -0.0171, 0.111), (0.05, -0.0271, 0.121)]
# createSensitivityResults_relativeMagnitudes(..., Mbarvec = seq(0.5, 2, by = 0.5))
README_RM = [(0.5, 0.0241, 0.0673), (1.0, 0.0171, 0.0720), (1.5, 0.00859, 0.0796), (2.0, -0.00107, 0.0883)]


def _half_unit(printed: float) -> float:
    """Half a unit in the last of three significant digits of ``printed``."""
    if printed == 0:
        return 5e-6
    return 0.5 * 10 ** (math.floor(math.log10(abs(printed))) - 2)


@pytest.mark.reference
@pytest.mark.parametrize(("m", "lb", "ub"), README_SD)
def test_flci_smoothness_matches_honestdid_readme(m: float, lb: float, ub: float) -> None:
    lo, hi, _ = flci_smoothness(BETA, SIGMA, 5, np.array([1.0, 0.0]), m)
    half = (hi - lo) / 2
    assert abs(lo - lb) <= _half_unit(lb) + 0.003 * half, (m, lo, lb)
    assert abs(hi - ub) <= _half_unit(ub) + 0.003 * half, (m, hi, ub)


@pytest.mark.reference
@pytest.mark.parametrize(("mbar", "lb", "ub"), README_RM)
@pytest.mark.parametrize("refine", [False, True])
def test_relative_magnitudes_match_honestdid_readme(mbar: float, lb: float, ub: float, refine: bool) -> None:
    lo, hi = rm_confidence_set(BETA, SIGMA, 5, np.array([1.0, 0.0]), mbar, refine=refine)
    step = 40 * math.sqrt(SIGMA[5, 5]) / 999
    assert abs(lo - lb) <= _half_unit(lb) + 2 * step, (mbar, lo, lb)
    assert abs(hi - ub) <= _half_unit(ub) + 2 * step, (mbar, hi, ub)


@pytest.mark.reference
def test_breakdown_values_bracket_the_readme_statements() -> None:
    """README: significant up to M̄ just below 2 (interval at 2 crosses 0) and for M between 0.02 and 0.03."""
    rm = honest_sensitivity(BETA, SIGMA, n_pre=5, restriction="relative_magnitude", values=[0.5, 1, 1.5, 2])
    assert rm.breakdown is not None and 1.5 < rm.breakdown < 2.0
    sd = honest_sensitivity(BETA, SIGMA, n_pre=5, restriction="smoothness", values=[0, 0.01, 0.02, 0.03])
    assert sd.breakdown is not None and 0.02 < sd.breakdown < 0.03
    lo, _, _ = flci_smoothness(BETA, SIGMA, 5, np.array([1.0, 0.0]), sd.breakdown)
    assert lo > 0 and lo < 1e-4  # at the breakdown value the interval just touches 0
    z = 1.959963984540054
    est, se = BETA[5], math.sqrt(SIGMA[5, 5])
    assert rm.original == pytest.approx((est - z * se, est + z * se), abs=1e-15)


def test_flci_m0_is_least_variance_unbiased_for_linear_trends() -> None:
    """With M = 0 the FLCI is the minimum-variance affine estimator that removes any linear trend, ± z sd."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    sig = a @ a.T / 6 + np.eye(6) * 0.1
    beta = rng.normal(size=6)
    lo, hi, w = flci_smoothness(beta, sig, 4, np.array([1.0, 0.0]), 0.0)
    # linear-trend unbiasedness: weights on t = -4..-1, 1, 2 annihilate t
    t = np.array([-4, -3, -2, -1, 1, 2], dtype=float)
    assert abs(w @ t) <= 1e-12
    assert w[4:] == pytest.approx([1.0, 0.0])
    sd = math.sqrt(w @ sig @ w)
    assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * sd, rel=1e-12)
    # no other unbiased weight vector has a smaller variance (random feasible perturbations)
    for _ in range(200):
        p = rng.normal(size=4)
        p -= (p @ t[:4]) / (t[:4] @ t[:4]) * t[:4]
        w2 = w.copy()
        w2[:4] += 0.1 * p
        assert w2 @ sig @ w2 >= w @ sig @ w - 1e-12


def test_single_pre_period_smoothness_closed_form() -> None:
    """One pre-period: the estimator is fixed (β_1 − ... linear extrapolation), bias M·(Σ t l_t) terms only."""
    sig = np.array([[0.04, 0.01], [0.01, 0.09]])
    beta = np.array([0.1, 0.5])
    m = 0.05
    lo, hi, w = flci_smoothness(beta, sig, 1, np.array([1.0]), m)
    assert w == pytest.approx([1.0, 1.0])  # β_post − (−1)·β_pre: removes the trend through the reference period
    sd = math.sqrt(w @ sig @ w)
    bias = m * 1.0
    from cteimpact.did.honest import _folded_normal_cv

    half = _folded_normal_cv(bias / sd, 0.05) * sd
    assert (lo, hi) == pytest.approx((0.6 - half, 0.6 + half), abs=1e-14)
    z = np.random.default_rng(0).normal(size=400_000)
    assert np.mean(np.abs(z + bias / sd) <= half / sd) == pytest.approx(0.95, abs=2e-3)


def test_relative_magnitudes_zero_is_parallel_trends_after_reference() -> None:
    """M̄ = 0 imposes δ_post = 0: the interval is centred on the estimate and (without pre-trend information in the
    post-period moments) close to the conventional one."""
    beta = np.array([0.0, 0.0, 0.2])
    sig = np.diag([0.01, 0.01, 0.01])
    lo, hi = rm_confidence_set(beta, sig, 2, np.array([1.0]), 0.0)
    assert lo < 0.2 < hi
    assert lo > 0.2 - 3 * 0.1 and hi < 0.2 + 3 * 0.1


def test_honest_did_from_results(mpdta) -> None:
    res = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                           base_period="universal").fit()
    out = res.honest_did(restriction="smoothness", values=[0.0, 0.01], breakdown=False)
    assert out.n_pre == 3 and out.n_post == 4
    assert list(out.table["value"]) == [0.0, 0.01]
    assert (out.table["ub"] - out.table["lb"]).is_monotonic_increasing
    rm = res.honest_did(restriction="relative_magnitude", values=[0.0, 1.0], breakdown=False, target="average")
    assert rm.l_vec == pytest.approx((0.25, 0.25, 0.25, 0.25))
    assert np.all(rm.table["lb"] <= rm.table["ub"])


def test_relative_magnitudes_with_dollar_scale_coefficients() -> None:
    """Regression: coefficients in dollars (standard errors in the hundreds) beside order-1 constraint
    coefficients made every dual basis look singular, and the critical value failed on an empty array."""
    import numpy as np

    from cteimpact.did.honest import honest_sensitivity

    rng = np.random.default_rng(0)
    k_pre, k_post = 9, 7  # the shape of the synthetic district panel's event study (fails with few periods only)
    a = rng.normal(size=(k_pre + k_post, k_pre + k_post))
    sigma = (a @ a.T / (k_pre + k_post) + np.eye(k_pre + k_post)) * 300.0**2
    beta = np.concatenate([rng.normal(0, 300.0, k_pre), np.linspace(900.0, 1500.0, k_post)])
    dollars = honest_sensitivity(beta, sigma, n_pre=k_pre, values=[0.0, 0.5, 1.0], breakdown=False)
    units = honest_sensitivity(beta / 1000.0, sigma / 1000.0**2, n_pre=k_pre, values=[0.0, 0.5, 1.0],
                               breakdown=False)
    for d, u in zip(dollars.to_dict()["table"], units.to_dict()["table"], strict=True):
        # the robust confidence set is equivariant to the outcome's units
        assert d["lb"] == pytest.approx(1000.0 * u["lb"], rel=1e-6, abs=1e-6)
        assert d["ub"] == pytest.approx(1000.0 * u["ub"], rel=1e-6, abs=1e-6)

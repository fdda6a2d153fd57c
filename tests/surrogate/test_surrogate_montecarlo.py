"""Monte Carlo validation of the surrogate index on data where the truth is known (``surrogate_dgp``).

* Surrogacy true by construction: over 500 seeded draws the long-run estimate is unbiased and the 95% intervals
  of the three paths (analytic two-sample variance, two-sample bootstrap, the design-agnostic path fed with the
  effects on the surrogates) cover the true effect in 92–98% of draws. The design makes the index's own
  uncertainty about 40% of the variance, so an interval that ignored it (experimental term only) under-covers:
  the test checks that too, so it would fail if the model term were dropped.
* Surrogacy violated by construction (a direct effect ``δ = 0.25`` of treatment on earnings, about 4 standard
  errors of the check): the older-cohort check flags it in at least 80% of draws; with ``δ = 0`` it flags at about
  the nominal 5% (2–8% over 500 draws).

The quick tests (unmarked) check the interval and test formulas, the variance decomposition and the bootstrap's
determinism on single draws.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from surrogate_dgp import Design, experiment, observational

from cteimpact.surrogate import (
    SurrogateIndex,
    SurrogateModel,
    from_surrogate_effects,
    surrogate_effect,
    validate_on_older_cohorts,
)

SURROGATES = ["credits", "credential"]
COVARIATES = ["baseline_score"]
# the index's uncertainty matters: noisy earnings, a small observational sample, sizeable effects on the surrogates
COVERAGE_DESIGN = Design(gamma_credits=0.5, gamma_credential=0.5, noise_sd=4.0)
N_OBS, N_EXP = 500, 2000
DRAWS = 500
Z95 = float(stats.norm.ppf(0.975))


def _fit(obs_frame: pd.DataFrame) -> SurrogateModel:
    return SurrogateIndex(obs_frame, outcome="earnings_26", surrogates=SURROGATES, covariates=COVARIATES).fit()


# -- quick checks (one draw each) -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interval_and_test_follow_the_standard_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = _fit(observational(N_OBS, rng, COVERAGE_DESIGN))
    res = surrogate_effect(model, experiment(N_EXP, rng, COVERAGE_DESIGN), treatment="treat", level=0.9)
    row = res.estimate("earnings_26")
    parts = res.variance
    assert row.std_error == pytest.approx(math.sqrt(parts.experimental + parts.model + parts.product), rel=1e-12)
    z90 = float(stats.norm.ppf(0.95))
    assert row.ci_lower == pytest.approx(res.effect - z90 * row.std_error, rel=1e-12)
    assert row.ci_upper == pytest.approx(res.effect + z90 * row.std_error, rel=1e-12)
    assert row.ci_level == pytest.approx(0.9)
    assert row.statistic == pytest.approx(res.effect / row.std_error, rel=1e-12)
    assert row.p_value == pytest.approx(2 * stats.norm.sf(abs(res.effect / row.std_error)), rel=1e-9)
    assert 0 < parts.product < parts.model < parts.experimental
    # the estimate is the difference in means of the index between the arms
    trial = experiment(N_EXP, np.random.default_rng(seed + 100), COVERAGE_DESIGN)
    again = surrogate_effect(model, trial, treatment="treat")
    index = model.index(trial).values
    treated = trial["treat"].to_numpy() == 1
    assert again.effect == pytest.approx(index[treated].mean() - index[~treated].mean(), rel=1e-10)


def test_bootstrap_agrees_with_the_analytic_standard_error_and_is_deterministic() -> None:
    rng = np.random.default_rng(7)
    model = _fit(observational(N_OBS, rng, COVERAGE_DESIGN))
    trial = experiment(N_EXP, rng, COVERAGE_DESIGN)
    res = surrogate_effect(model, trial, treatment="treat", n_boot=999, seed=5)
    boot = res.bootstrap
    assert boot is not None
    assert boot.draws.size == 999
    assert boot.n_failed == 0
    assert boot.std_error == pytest.approx(res.std_error, rel=0.1)
    row = res.estimate("earnings_26[bootstrap]")
    assert row.estimate == res.effect
    assert row.std_error == boot.std_error
    assert row.ci_lower == pytest.approx(res.effect - Z95 * boot.std_error, rel=1e-12)
    same = surrogate_effect(model, trial, treatment="treat", n_boot=999, seed=5)
    assert same.bootstrap is not None
    np.testing.assert_array_equal(same.bootstrap.draws, boot.draws)
    other = surrogate_effect(model, trial, treatment="treat", n_boot=999, seed=6)
    assert other.bootstrap is not None
    assert not np.array_equal(other.bootstrap.draws, boot.draws)
    # the replicates centre on the estimate (the estimator is a product of unbiased means)
    assert abs(float(np.mean(boot.draws)) - res.effect) < 4 * boot.std_error / math.sqrt(999)


def test_design_agnostic_path_is_coefficients_times_effects() -> None:
    rng = np.random.default_rng(8)
    model = _fit(observational(N_OBS, rng, COVERAGE_DESIGN))
    res = surrogate_effect(model, experiment(N_EXP, rng, COVERAGE_DESIGN), treatment="treat")
    dist = res.sampling_distribution().subset(SURROGATES)
    agnostic = from_surrogate_effects(model, dist)
    beta, cov_beta = model.surrogate_block()
    tau, cov_tau = dist.mean, dist.cov
    assert agnostic.effect == pytest.approx(float(beta @ tau), rel=1e-12)
    expected = beta @ cov_tau @ beta + tau @ cov_beta @ tau + np.trace(cov_beta @ cov_tau)
    assert agnostic.std_error == pytest.approx(math.sqrt(expected), rel=1e-12)
    by_name = from_surrogate_effects(model, dict(zip(SURROGATES, tau, strict=True)), cov_tau)
    assert by_name.effect == agnostic.effect
    assert by_name.std_error == agnostic.std_error


def test_older_cohort_check_formula() -> None:
    rng = np.random.default_rng(9)
    model = _fit(observational(2000, rng))
    older = experiment(1000, rng, Design(direct=1.0), with_outcome=True)
    check = validate_on_older_cohorts(model, older, treatment="treat")
    assert check.difference == pytest.approx(check.index_effect - check.realised, rel=1e-12)
    assert check.statistic == pytest.approx(check.difference / check.difference_se, rel=1e-12)
    assert check.p_value == pytest.approx(2 * stats.norm.sf(abs(check.statistic)), rel=1e-9)
    assert check.flagged
    assert check.p_value < 0.05
    assert "FLAGGED at the 5% level" in check.verdict()
    assert check.difference == pytest.approx(-1.0, abs=4 * check.difference_se)


# -- Monte Carlo ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_coverage_when_surrogacy_holds() -> None:
    truth = COVERAGE_DESIGN.true_effect
    est, covered, naive, boot_cov, pct_cov, agn_cov, share = [], [], [], [], [], [], []
    for r in range(DRAWS):
        rng = np.random.default_rng(10_000 + r)
        model = _fit(observational(N_OBS, rng, COVERAGE_DESIGN))
        res = surrogate_effect(model, experiment(N_EXP, rng, COVERAGE_DESIGN), treatment="treat", n_boot=199,
                               seed=r)
        row, brow = res.estimate("earnings_26"), res.estimate("earnings_26[bootstrap]")
        agn = from_surrogate_effects(model, res.sampling_distribution().subset(SURROGATES)).estimate("earnings_26")
        assert res.bootstrap is not None
        lo, hi = res.bootstrap.percentile_interval
        est.append(res.effect)
        covered.append(row.ci_lower <= truth <= row.ci_upper)
        naive.append(abs(res.effect - truth) <= Z95 * math.sqrt(res.variance.experimental))
        boot_cov.append(brow.ci_lower <= truth <= brow.ci_upper)
        pct_cov.append(lo <= truth <= hi)
        agn_cov.append(agn.ci_lower <= truth <= agn.ci_upper)
        share.append(res.variance.model_share)
    bias = float(np.mean(est)) - truth
    mcse = float(np.std(est, ddof=1)) / math.sqrt(DRAWS)
    print(f"\nsurrogacy holds, {DRAWS} draws: truth {truth:.4f}, bias {bias:+.4f} (MC SE {mcse:.4f}); coverage: "
          f"analytic {np.mean(covered):.3f}, bootstrap-SE {np.mean(boot_cov):.3f}, bootstrap percentile "
          f"{np.mean(pct_cov):.3f}, design-agnostic {np.mean(agn_cov):.3f}, experimental term only "
          f"{np.mean(naive):.3f}; model share of variance {np.mean(share):.2f}")
    assert abs(bias) < 3 * mcse
    assert 0.92 <= np.mean(covered) <= 0.98
    assert 0.92 <= np.mean(boot_cov) <= 0.98
    assert 0.92 <= np.mean(agn_cov) <= 0.98
    assert np.mean(share) > 0.3
    assert np.mean(naive) < 0.92  # ignoring the index's uncertainty would under-cover


@pytest.mark.slow
def test_coverage_in_a_school_randomised_experiment() -> None:
    """40 schools randomised (half treated): CR1 standard errors and the cluster bootstrap (schools resampled
    within arms) cover the truth at about the nominal rate over 300 draws."""
    draws = 300
    truth = COVERAGE_DESIGN.true_effect
    est, covered, boot_cov = [], [], []
    for r in range(draws):
        rng = np.random.default_rng(30_000 + r)
        model = _fit(observational(N_OBS, rng, COVERAGE_DESIGN))
        trial = experiment(N_EXP, rng, COVERAGE_DESIGN, schools=40)
        res = surrogate_effect(model, trial, treatment="treat", cluster="school", n_boot=199, seed=r)
        assert res.bootstrap is not None
        assert res.bootstrap.scheme.endswith("experimental sample: clusters within each arm")
        row, brow = res.estimate("earnings_26"), res.estimate("earnings_26[bootstrap]")
        est.append(res.effect)
        covered.append(row.ci_lower <= truth <= row.ci_upper)
        boot_cov.append(brow.ci_lower <= truth <= brow.ci_upper)
    bias = float(np.mean(est)) - truth
    mcse = float(np.std(est, ddof=1)) / math.sqrt(draws)
    print(f"\nschool-randomised (40 schools), {draws} draws: bias {bias:+.4f} (MC SE {mcse:.4f}); coverage: analytic "
          f"CR1 {np.mean(covered):.3f}, cluster-bootstrap SE {np.mean(boot_cov):.3f}")
    assert abs(bias) < 3 * mcse
    assert 0.92 <= np.mean(covered) <= 0.98
    assert 0.92 <= np.mean(boot_cov) <= 0.98


@pytest.mark.slow
@pytest.mark.parametrize(("direct", "low", "high"), [(0.25, 0.80, 1.0), (0.0, 0.02, 0.08)],
                         ids=["surrogacy-violated", "surrogacy-holds"])
def test_older_cohort_check_rejection_rate(direct: float, low: float, high: float) -> None:
    design = Design(direct=direct)
    flagged, diffs = [], []
    for r in range(DRAWS):
        rng = np.random.default_rng(20_000 + r)
        model = _fit(observational(2000, rng, design))
        check = validate_on_older_cohorts(model, experiment(1000, rng, design, with_outcome=True),
                                          treatment="treat")
        flagged.append(check.flagged)
        diffs.append(check.difference)
    rate = float(np.mean(flagged))
    print(f"\nolder-cohort check, direct effect {direct}: flagged in {rate:.3f} of {DRAWS} draws at the 5% level; "
          f"mean difference {np.mean(diffs):+.4f}")
    assert low <= rate <= high
    assert np.mean(diffs) == pytest.approx(-direct, abs=4 * float(np.std(diffs)) / math.sqrt(DRAWS))

"""Designs CTE evaluations have: multiple cutoffs, subgroups, donut, clustered assignment, local randomisation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cteimpact.rd import LocalRandomizationOptions, RegressionDiscontinuity
from cteimpact.rd.adapters import fit_rdrobust
from cteimpact.rd.local_randomization import local_randomization


def two_round_data(seed: int = 0, n: int = 12000, consortia: int = 240) -> pd.DataFrame:
    """Grant rounds with cutoffs 50 (round 1) and 55 (round 2); scores and awards at the consortium level."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, consortia, n)
    score_c = rng.uniform(20, 85, consortia)
    round_c = np.where(np.arange(consortia) < consortia // 2, 1, 2)
    cut_c = np.where(round_c == 1, 50.0, 55.0)
    score, cut = score_c[g], cut_c[g]
    award = (score >= cut).astype(float)
    u = rng.normal(scale=0.05, size=consortia)[g]
    y = 0.3 + 0.004 * (score - cut) - 0.08 * award + u + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"g": g, "score": score, "cutoff": cut, "round": round_c[g], "y": y,
                         "female": rng.integers(0, 2, n), "cohort": rng.integers(2012, 2018, n),
                         "award_year": np.where(round_c[g] == 1, 2014, 2015)})


@pytest.fixture(scope="module")
def multi():
    d = two_round_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(d, "y", "score", cutoff_column="cutoff", cluster="g",
                                     where=["cohort >= award_year"])
        return d, rd.fit()


def test_pooled_estimate_uses_normalised_running_variable(multi):
    d, res = multi
    keep = d["cohort"] >= d["award_year"]
    dk = d[keep]
    codes = pd.factorize(dk["g"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fit_rdrobust(dk["y"].to_numpy(float), (dk["score"] - dk["cutoff"]).to_numpy(float), cluster=codes,
                           vce="cr1")
    fit = res.primary_fit().fit
    assert fit.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert fit.se_robust == pytest.approx(ref.se_robust, rel=1e-12)
    assert res.running == "score - cutoff"
    steps = [s.reason for s in res.sample_flow.steps]
    assert steps[0] == "restriction: cohort >= award_year"
    assert res.sample_flow.steps[0].excluded == int((~keep).sum())


def test_cutoff_specific_estimates_and_equality_test(multi):
    d, res = multi
    labels = res.labels
    assert "y[cutoff=50]" in labels and "y[cutoff=55]" in labels
    dk = d[(d["cohort"] >= d["award_year"]) & (d["cutoff"] == 55)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fit_rdrobust(dk["y"].to_numpy(float), dk["score"].to_numpy(float), cutoff=55.0,
                           cluster=pd.factorize(dk["g"])[0], vce="cr1")
    fit55 = res.fit_for("y[cutoff=55]").fit
    assert fit55.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert fit55.cutoff == 55.0
    test = res.cutoff_tests[0]
    e = np.array([res.fit_for(f"y[cutoff={c}]").fit.estimate_bc for c in (50, 55)])
    s = np.array([res.fit_for(f"y[cutoff={c}]").fit.se_robust for c in (50, 55)])
    w = 1 / s**2
    chi2 = float(np.sum(w * (e - np.sum(w * e) / np.sum(w)) ** 2))
    assert test.statistic == pytest.approx(chi2, rel=1e-12)
    assert test.df == 1
    assert test.p_value == pytest.approx(float(stats.chi2.sf(chi2, 1)), rel=1e-12)


def test_donut_excludes_rows_near_cutoff(simulate):
    d = simulate(4000, seed=2)
    n_inside = int((d["x"].abs() < 0.05).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(d, "y", "x", 0.0, donut=0.05)
    step = next(s for s in rd.sample.flow.steps if s.reason.startswith("donut"))
    assert step.excluded == n_inside
    assert np.all(np.abs(rd.sample.x) >= 0.05)


def test_subgroups_without_clusters_are_independent(simulate):
    d = simulate(6000, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0, subgroups=["female"]).fit()
    comp = res.subgroup_comparisons[0]
    assert comp.covariance == 0.0 and comp.method.startswith("independent")
    a, b = res.fit_for("y[female=1]").fit, res.fit_for("y[female=0]").fit
    assert comp.se == pytest.approx(math.hypot(a.se_robust, b.se_robust), rel=1e-12)
    flow = res.fit_for("y[female=1]").flow
    assert flow.steps[-1].reason == "subgroup female=1"
    assert flow.rows_used == int((d["female"] == 1).sum())


def test_local_randomization_permutes_clusters():
    """With the score assigned to consortia, labels are re-randomised across consortia: the null distribution
    must be much wider than a row-level permutation would make it when outcomes are correlated within consortia."""
    rng = np.random.default_rng(4)
    consortia = 60
    g = np.repeat(np.arange(consortia), 50)
    xc = rng.uniform(-1, 1, consortia)
    x = xc[g]
    y = rng.normal(size=consortia)[g] + rng.normal(scale=0.2, size=g.size)  # no effect, strong cluster effect
    clustered = local_randomization(x, y, 0.0, window=0.5, codes=g, unit="units of 'g'", reps=2000, seed=1)
    rows = local_randomization(x, y, 0.0, window=0.5, reps=2000, seed=1)
    assert clustered.units[0] + clustered.units[1] == len(np.unique(g[np.abs(x) <= 0.5]))
    assert clustered.estimate == pytest.approx(rows.estimate, rel=1e-12)
    assert clustered.se_asymptotic > 3 * rows.se_asymptotic
    assert rows.p_value < 0.001 < clustered.p_value  # row-level permutation wrongly "finds" the cluster noise
    assert clustered.ci is not None and clustered.ci[0] < clustered.estimate < clustered.ci[1]


@pytest.mark.slow
def test_cluster_randomization_test_has_correct_size():
    """Under the sharp null with consortium-level assignment and strong within-consortium correlation, the test
    rejects at 5% in about 5% of 300 simulated designs (binomial 99% band around 0.05: 0.018 to 0.085)."""
    rejections = 0
    for rep in range(300):
        rng = np.random.default_rng(1000 + rep)
        consortia = 60
        g = np.repeat(np.arange(consortia), 20)
        x = rng.uniform(-1, 1, consortia)[g]
        y = rng.normal(size=consortia)[g] + rng.normal(scale=0.2, size=g.size)
        res = local_randomization(x, y, 0.0, window=0.5, codes=g, reps=200, seed=rep, ci=False)
        rejections += res.p_value <= 0.05
    assert 0.018 <= rejections / 300 <= 0.085


def test_local_randomization_ci_covers_the_estimate_and_is_deterministic(senate):
    d = senate.dropna(subset=["vote"])
    a = local_randomization(d["margin"].to_numpy(float), d["vote"].to_numpy(float), 0.0, window=2.0, reps=1000,
                            seed=3)
    b = local_randomization(d["margin"].to_numpy(float), d["vote"].to_numpy(float), 0.0, window=2.0, reps=1000,
                            seed=3)
    assert a == b
    assert a.ci is not None and a.ci[0] < a.estimate < a.ci[1]


def test_window_selection_by_covariate_balance(simulate):
    d = simulate(3000, seed=5)
    rng = np.random.default_rng(0)
    # a covariate balanced near the cutoff but trending away from it: wide windows fail balance
    d["trend"] = 3 * d["x"] + rng.normal(scale=0.3, size=len(d))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=["trend"]).fit(
            local_randomization=LocalRandomizationOptions(reps=300))
    lr = res.local_randomization["y"]
    assert lr.window_selection
    chosen = lr.window[1]
    assert chosen < 0.2
    assert all(w.min_p >= 0.15 for w in lr.window_selection if w.half_width <= chosen)

"""The control-side baseline of every RD estimate, its relative change and Cox index (issue 11, item 1).

The report's "relative change" once divided by the covariate-adjusted intercept (6.4% dropout just below the cutoff,
−41.6%) while the data in the bandwidth gave about 9% (relative change about −29%; the synthetic truth −23.8%). The
baseline is now the outcome's unadjusted local fit at the cutoff from below, recorded with the in-bandwidth mean.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import OptionError
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.adapters.rdrobust import fit_rdrobust
from cteimpact.rd.baseline import BASELINE_SOURCE, local_intercept
from cteimpact.results.effect_sizes import COX_SCALE, cox_index, hedges_omega


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _analysis_sample(synth) -> pd.DataFrame:
    d = synth.students
    d = d[(d["cohort"] >= d["award_year"]) & (d["cohort"] <= d["award_year"] + 3)].copy()
    d["x"] = d["rubric_score"] - d["cutoff"]
    return d


def test_baseline_matches_the_raw_data_and_the_truth_not_the_adjusted_intercept(synth_quarter, synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    truth = synth_quarter.truth["rd"]["estimands"]["dropout"]["pooled"]
    f = res.primary_fit("dropout")
    base = f.baseline
    assert base is not None and base.source == BASELINE_SOURCE == "local_fit" and base.binary
    # the in-bandwidth mean, recomputed from the data frame: the students below the cutoff within h
    d = _analysis_sample(synth_quarter).dropna(subset=["dropout"])
    h = f.fit.h[0]
    inside = d[(d["x"] < 0) & (d["x"] >= -h)]
    assert base.n_in_bandwidth == len(inside) == f.fit.n_h[0]
    assert base.mean_in_bandwidth == pytest.approx(inside["dropout"].mean(), abs=1e-12)
    assert base.clusters_in_bandwidth == inside["consortium_id"].nunique()
    # the local fit is within sampling error of the raw mean and of the true control-side rate ...
    assert abs(base.value - base.mean_in_bandwidth) < 3 * base.local_fit_se
    assert abs(base.value - truth["control_mean"]) < 3 * base.local_fit_se
    # ... unlike the covariate-adjusted intercept the report used (6.4% in the demo, the truth is 8.5%)
    adjusted = f.reduced_form.limits[0]
    assert abs(base.value - truth["control_mean"]) < abs(adjusted - truth["control_mean"])
    assert abs(base.value - base.mean_in_bandwidth) < abs(adjusted - base.mean_in_bandwidth)
    assert 0.08 < base.value < 0.10 and adjusted < 0.07


def test_relative_change_of_the_itt_recovers_the_truth_and_is_estimate_over_baseline(synth_quarter, synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    truth = synth_quarter.truth["rd"]["estimands"]["dropout"]["pooled"]
    f = res.primary_fit("dropout")
    sizes = {e.label: e for e in f.effect_sizes}
    assert set(sizes) == {"dropout[reduced_form]", "dropout"}
    itt = sizes["dropout[reduced_form]"]
    row = res.estimate("dropout[reduced_form]")
    assert itt.estimand == "intention_to_treat" and itt.estimate == row.estimate
    assert itt.relative_change == pytest.approx(row.estimate / f.baseline.value, rel=1e-12)
    assert itt.relative_ci == pytest.approx((row.ci_lower / f.baseline.value, row.ci_upper / f.baseline.value))
    # z-score against the true relative effect (−23.8%): the robust SE scaled by the baseline
    z = (itt.relative_change - truth["relative_itt"]) / (row.std_error / f.baseline.value)
    assert abs(z) < 3, (itt.relative_change, truth["relative_itt"], z)
    assert -0.45 < itt.relative_change < -0.15
    late = sizes["dropout"]
    assert late.estimand == "late" and late.note is not None and "compliers" in late.note
    # the LATE is a change from the compliers' untreated level, which the run does not estimate: no relative change
    # or Cox index against every student's level (that would read -84% beside a -29% intention-to-treat change)
    assert late.relative_change is None and late.cox is None
    assert "compliers' untreated level" in late.relative_reason


def test_cox_index_is_the_wwc_formula_with_that_baseline(synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    checked = 0
    for f in res.fits:
        for e in f.effect_sizes:
            p, eff, n = f.baseline.value, e.estimate, e.n
            assert n == res.estimate(e.label).n_effective
            if e.estimand == "late":
                assert e.cox is None  # needs the compliers' untreated level
                continue
            assert e.cox is not None  # dropout and graduated are 0/1 outcomes
            if 0 < p + eff < 1:
                omega = 1 - 3 / (4 * n - 9)
                assert e.cox.value == pytest.approx(omega * (_logit(p + eff) - _logit(p)) / 1.65, rel=1e-12)
                assert e.cox.reason is None
                checked += 1
            else:
                assert e.cox.value is None and "not strictly between 0 and 1" in e.cox.reason
    assert checked >= 2


def test_every_fit_has_the_unadjusted_local_fit_of_rdrobust_at_its_own_bandwidth(synth_quarter, synth_fuzzy_fit):
    """Main, subgroup and cutoff-specific fits: the baseline is rdrobust's left limit of the outcome without
    covariates (and without the fuzzy treatment) at the fit's own bandwidths, kernel and order."""
    rd, res = synth_fuzzy_fit
    s = rd.sample
    kinds = set()
    for f in res.fits:
        if f.outcome != "dropout":
            continue
        osample = s.outcome("dropout")
        mask = osample.keep.copy()
        x, cutoff = s.x, s.cutoff
        if f.kind == "subgroup":
            col, level = f.group
            mask &= s.frame[col].to_numpy() == float(level)
        elif f.kind == "cutoff":
            mask &= s.row_cutoffs == f.cutoff_value
            x, cutoff = s.raw_running, f.cutoff_value
        ref = fit_rdrobust(osample.y[mask], x[mask], cutoff=cutoff, h=f.fit.h, b=f.fit.b, p=f.fit.p,
                           kernel=f.fit.kernel, cluster=s.cluster[mask], vce="cr1")
        assert f.baseline.local_fit == pytest.approx(ref.limits[0], abs=1e-10), f.label
        assert f.baseline.h == f.fit.h[0] and f.baseline.n_in_bandwidth == f.fit.n_h[0]
        kinds.add(f.kind)
    assert kinds == {"main", "subgroup", "cutoff"}


def test_sharp_design_records_one_sharp_effect_size_per_fit(simulate):
    d = simulate(3000, seed=3)
    res = RegressionDiscontinuity(d, "y", "x", 0.0, subgroups=["female"]).fit()
    for f in res.fits:
        assert [e.estimand for e in f.effect_sizes] == ["sharp"]
        e = f.effect_sizes[0]
        assert e.label == f.label and e.cox is None  # y is continuous: no Cox index
        assert e.relative_change == pytest.approx(res.estimate(f.label).estimate / f.baseline.value, rel=1e-12)
    main = res.primary_fit("y")
    # truth: E[y | x -> 0-] = 1
    assert abs(main.baseline.value - 1.0) < 3 * main.baseline.local_fit_se
    record = res.to_dict()["details"]["fits"][0]
    assert record["baseline"]["source"] == "local_fit"
    assert record["baseline"]["local_fit"]["value"] == main.baseline.value
    assert record["effect_sizes"][0]["relative_change"] == main.effect_sizes[0].relative_change
    assert record["effect_sizes"][0]["cox_index"] is None


def test_local_intercept_standard_errors_match_weighted_least_squares(simulate):
    sm = pytest.importorskip("statsmodels.api")
    d = simulate(1500, seed=11, clusters=120, cluster_sd=0.3)
    x, y, g = d["x"].to_numpy(), d["y"].to_numpy(), d["g"].to_numpy()
    h, p = 0.4, 1
    for cluster in (None, g):
        value, se, n, ncl = local_intercept(y, x, 0.0, h=h, p=p, kernel="triangular", cluster=cluster)
        use = (x < 0) & (np.abs(x) < h)
        w = 1 - np.abs(x[use]) / h
        design = np.column_stack([np.ones(use.sum()), x[use]])
        model = sm.WLS(y[use], design, weights=w)
        fitted = model.fit(cov_type="HC1") if cluster is None else model.fit(cov_type="cluster",
                                                                              cov_kwds={"groups": g[use]})
        assert n == use.sum()
        assert value == pytest.approx(fitted.params[0], rel=1e-10)
        assert se == pytest.approx(fitted.bse[0], rel=1e-8)
        assert ncl == (None if cluster is None else np.unique(g[use]).size)


def test_a_suppressed_fit_publishes_no_baseline(synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    shown = res.with_min_cell(10**6)
    for f in shown.to_dict()["details"]["fits"]:
        assert f["suppressed"] is True and f["baseline"] is None and f["effect_sizes"] is None
    assert all(f.baseline is None and f.effect_sizes == () for f in shown.fits)


# -- the one Cox index ---------------------------------------------------------------------------------------------


def test_cox_index_formula_and_its_one_edge_convention():
    c = cox_index(0.10, -0.02, n=1000)
    omega = 1 - 3 / (4 * 1000 - 9)
    assert c.omega == pytest.approx(omega, rel=1e-15)
    assert c.value == pytest.approx(omega * (_logit(0.08) - _logit(0.10)) / COX_SCALE, rel=1e-14)
    assert c.reason is None and c.p_treated == pytest.approx(0.08)
    # p + effect outside (0, 1): undefined with the reason, never clipped
    low = cox_index(0.02, -0.05, n=1000)
    assert low.value is None and "p + effect = -0.03" in low.reason and "not strictly between 0 and 1" in low.reason
    high = cox_index(0.95, 0.05, n=1000)
    assert high.value is None and "p + effect = 1" in high.reason
    assert cox_index(0.0, 0.1, n=1000).value is None
    assert "comparison proportion p = 0" in cox_index(0.0, 0.1, n=1000).reason
    assert "not a finite number" in cox_index(float("nan"), 0.1, n=100).reason
    small = cox_index(0.3, 0.1, n=2)
    assert small.value is None and small.omega is None and "N = 2" in small.reason
    with pytest.raises(OptionError, match=r"n_total = 2\.25"):  # a plain number cannot say "undefined": refused
        hedges_omega(2.25)
    assert hedges_omega(3) == pytest.approx(1 - 3 / 3)
    record = c.to_dict()
    assert record["value"] == c.value and record["scale"] == 1.65 and record["reason"] is None


def test_cox_index_is_the_did_effect_size_helper_and_agrees_with_its_treated_proportion_form():
    from cteimpact.did.effect_sizes import cox_index as did_cox

    assert did_cox is cox_index  # one Cox index (cteimpact.stats.effect_sizes)
    for p, eff, n_t, n_c in ((0.3, 0.05, 400, 600), (0.85, -0.1, 50, 70), (0.02, 0.01, 5000, 5000)):
        assert cox_index(p, eff, n=n_t + n_c).value == pytest.approx(
            did_cox(p, p_treated=p + eff, n=n_t + n_c).value, rel=1e-12)


def test_covariate_balance_uses_the_one_cox_index(simulate):
    """A binary covariate's standardized difference is the shared Cox index of the covariate's RD fit."""
    from cteimpact.rd.diagnostics import DiagnosticOptions

    d = simulate(4000, seed=2)
    res = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=["female"]).fit(
        diagnostics=DiagnosticOptions(checks=("covariate_balance",)))
    row = res.diagnostics["y"].check("covariate_balance").rows[0]
    assert row["effect_size_measure"] == "cox_index" and row["effect_size_note"] == ""
    fit = fit_rdrobust(d["female"].to_numpy(float), d["x"].to_numpy(float), cutoff=0.0,
                       h=(row["h_left"], row["h_right"]), b=res.primary_fit("y").fit.b)
    x = d["x"].to_numpy()
    n = int(((x < 0) & (x >= -row["h_left"])).sum() + ((x >= 0) & (x <= row["h_right"])).sum())
    expected = cox_index(fit.limits[0], fit.limits[1] - fit.limits[0], n=n).value
    assert row["effect_size"] == pytest.approx(expected, rel=1e-9)

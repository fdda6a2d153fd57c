"""Diagnostic checks: each verdict responds to the defect it is meant to catch, and the fast window fits give the
same numbers as fits on all the data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from cteimpact.rd import DiagnosticOptions, RegressionDiscontinuity
from cteimpact.rd.adapters import fit_rdrobust
from cteimpact.rd.diagnostics import default_placebo_cutoffs, holm_adjust


def _diag(data, checks, *, baseline=(), outcome="y", **design):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(data, outcome, "x", 0.0, baseline_covariates=baseline, **design)
        res = rd.fit(diagnostics=DiagnosticOptions(checks=checks), n_jobs=1)
    return res.diagnostics[outcome], res


def test_holm_adjustment_known_values():
    # p = (0.01, 0.04, 0.03, NaN): sorted 0.01*3, max(0.03*2, 0.03), max(0.04*1, 0.06)
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, math.nan])[:3], [0.03, 0.06, 0.06])
    assert math.isnan(holm_adjust([0.01, 0.04, 0.03, math.nan])[3])


@pytest.mark.parametrize("vce", ["nn", "hc1", "cr1"])
def test_window_fit_equals_full_fit_at_fixed_bandwidths(simulate, vce):
    d = simulate(5000, seed=2, clusters=300 if vce == "cr1" else None, cluster_sd=0.3)
    x, y, g = d["x"].to_numpy(), d["y"].to_numpy(), d["g"].to_numpy()
    cl = g if vce == "cr1" else None
    h, b = (0.2, 0.25), (0.3, 0.35)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = fit_rdrobust(y, x, h=h, b=b, vce=vce, cluster=cl)
        w = (x >= -0.3) & (x <= 0.35)
        win = fit_rdrobust(y[w], x[w], h=h, b=b, vce=vce, cluster=None if cl is None else cl[w])
    # identical up to the order of floating-point sums (ties of the running variable may be visited in another
    # order): 1e-12 relative
    for attr in ("estimate", "estimate_bc", "se", "se_robust"):
        assert getattr(win, attr) == pytest.approx(getattr(full, attr), rel=1e-12, abs=0), attr
    for attr in ("n_h", "n_b", "n_clusters_side", "h", "b"):
        assert getattr(win, attr) == getattr(full, attr), attr


def test_clean_design_passes(simulate):
    d = simulate(6000, seed=11)
    diag, _ = _diag(d, ("density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity",
                        "polynomial_order", "donut", "attrition"), baseline=("female",))
    verdicts = diag.verdicts
    assert verdicts == {"density_test": "pass", "covariate_balance": "pass", "placebo_cutoffs": "pass",
                        "bandwidth_sensitivity": "pass", "polynomial_order": "pass", "donut": "pass",
                        "attrition": "pass"}
    for check in diag.checks:
        assert isinstance(check.plot(), Figure)
        assert check.evidence
    assert diag.standards is not None
    assert diag.standards.item("attrition").status == "met"  # no missing outcome at all


def test_manipulation_is_flagged(simulate):
    d = simulate(6000, seed=11, manipulation=0.6)
    diag, _ = _diag(d, ("density_test",))
    check = diag.check("density_test")
    assert check.verdict == "flag"
    assert check.rows[0]["p_value"] < 0.001
    assert check.rows[0]["density_right"] > check.rows[0]["density_left"]


def test_covariate_jump_is_flagged_in_sd_units(simulate):
    d = simulate(8000, seed=4)
    rng = np.random.default_rng(0)
    d["pretest"] = rng.normal(size=len(d)) + 0.6 * (d["x"] >= 0)
    diag, _ = _diag(d, ("covariate_balance",), baseline=("pretest", "female"))
    check = diag.check("covariate_balance")
    assert check.verdict == "flag"
    row = {r["covariate"]: r for r in check.rows}
    assert row["pretest"]["effect_size_measure"] == "hedges_g"
    assert row["pretest"]["effect_size"] == pytest.approx(0.6, abs=0.2)
    assert row["pretest"]["p_holm"] < 0.05
    assert row["female"]["effect_size_measure"] == "cox_index"
    assert diag.standards.item("baseline_equivalence").status == "not_met"


def test_adjusted_covariate_between_thresholds_satisfies_equivalence(simulate):
    """WWC rule: 0.05 < |g| <= 0.25 satisfies equivalence only if the analysis adjusts for the characteristic."""
    from cteimpact.rd.diagnostics import DiagnosticCheck
    from cteimpact.rd.standards import review_standards

    row = {"covariate": "pretest", "effect_size": 0.12, "p_robust": 0.4}
    check = DiagnosticCheck("covariate_balance", "pass", "", (row,))
    d = simulate(2000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = RegressionDiscontinuity(d, "y", "x", 0.0).fit().primary_fit().fit
    assert review_standards(fit=fit, checks=[check], design="sharp").item("baseline_equivalence").status == "not_met"
    adj = review_standards(fit=fit, checks=[check], design="sharp", adjusted_covariates=["pretest"])
    assert adj.item("baseline_equivalence").status == "met"
    big = DiagnosticCheck("covariate_balance", "flag", "", ({**row, "effect_size": 0.3},))
    assert review_standards(fit=fit, checks=[big], design="sharp",
                            adjusted_covariates=["pretest"]).item("baseline_equivalence").status == "not_met"
    small = DiagnosticCheck("covariate_balance", "pass", "", ({**row, "effect_size": -0.04},))
    assert review_standards(fit=fit, checks=[small], design="sharp").item("baseline_equivalence").status == "met"


def test_false_jump_flags_placebo(simulate):
    d = simulate(8000, seed=6)
    d.loc[d["x"] >= 0.5, "y"] += 0.8  # a discontinuity at a placebo cutoff on the treated side
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(d, "y", "x", 0.0)
        res = rd.fit(diagnostics=DiagnosticOptions(checks=("placebo_cutoffs",), placebo_cutoffs=(-0.5, 0.5)),
                     n_jobs=1)
    rows = {r["cutoff"]: r for r in res.diagnostics["y"].check("placebo_cutoffs").rows}
    assert rows[0.5]["p_holm"] < 0.05
    assert rows[-0.5]["p_robust"] > 0.05
    assert res.diagnostics["y"].check("placebo_cutoffs").verdict == "flag"


def test_differential_attrition_is_flagged(simulate):
    d = simulate(8000, seed=8)
    rng = np.random.default_rng(3)
    miss = rng.uniform(size=len(d)) < np.where(d["x"] >= 0, 0.35, 0.10)
    d.loc[miss, "y"] = np.nan
    diag, _ = _diag(d, ("attrition",))
    check = diag.check("attrition")
    assert check.verdict == "flag"
    assert check.details["jump"] == pytest.approx(0.25, abs=0.08)
    assert check.details["differential_rate"] == pytest.approx(0.25, abs=0.05)
    assert diag.standards.item("attrition").status == "needs_human_review"


def test_misspecification_flags_bandwidth_sensitivity(simulate):
    d = simulate(20000, seed=9)
    d["y"] = d["y"] + 1.5 * (d["x"] > 0.2)  # a second jump inside wide bandwidths biases their estimates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0).fit(
            h=0.1, diagnostics=DiagnosticOptions(checks=("bandwidth_sensitivity",),
                                                 bandwidth_multipliers=(0.5, 4.0, 6.0)), n_jobs=1)
    check = res.diagnostics["y"].check("bandwidth_sensitivity")
    assert check.verdict == "flag"
    assert [r["multiplier"] for r in check.rows] == [0.5, 1.0, 4.0, 6.0]


def test_density_uses_one_score_per_assignment_unit(simulate):
    d = simulate(5000, seed=12, clusters=150, cluster_sd=0.2)
    diag, _ = _diag(d, ("density_test",), cluster="g")
    row = diag.check("density_test").rows[0]
    assert row["unit"] == "units of 'g'"
    assert row["n_left"] + row["n_right"] == d["g"].nunique()


def test_default_placebo_cutoffs_are_side_terciles():
    x = np.linspace(-1, 1, 2001)
    cuts = default_placebo_cutoffs(x, 0.0)
    np.testing.assert_allclose(cuts, [-2 / 3, -1 / 3, 1 / 3, 2 / 3], atol=2e-3)


def test_balance_with_own_bandwidths_and_fixed_h_sensitivity(simulate):
    """Covariate balance with an MSE-optimal bandwidth per covariate equals a direct rdrobust call; with a fixed h
    the polynomial-order and donut fits keep that h."""
    d = simulate(4000, seed=13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=["prior"]).fit(
            diagnostics=DiagnosticOptions(checks=("covariate_balance",), balance_bandwidth="own"), n_jobs=1)
        ref = fit_rdrobust(d["prior"].to_numpy(float), d["x"].to_numpy(float))
        fixed = RegressionDiscontinuity(d, "y", "x", 0.0).fit(
            h=0.3, diagnostics=DiagnosticOptions(checks=("polynomial_order", "donut")), n_jobs=1)
    row = res.diagnostics["y"].check("covariate_balance").rows[0]
    assert row["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    assert row["h_left"] == pytest.approx(ref.h[0], rel=1e-12)
    for name in ("polynomial_order", "donut"):
        rows = fixed.diagnostics["y"].check(name).rows
        assert all(r["h_left"] == pytest.approx(0.3) for r in rows if math.isfinite(r["h_left"])), name


def test_balance_batch_equals_single_fits(simulate):
    """The five-covariate batch at the estimate's bandwidths gives each covariate's rdrobust numbers."""
    d = simulate(5000, seed=14, clusters=250, cluster_sd=0.2)
    rng = np.random.default_rng(1)
    covs = [f"z{k}" for k in range(3)]
    for c in covs:
        d[c] = rng.normal(size=len(d)) + 0.1 * d["x"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(d, "y", "x", 0.0, cluster="g", baseline_covariates=covs).fit(
            diagnostics=DiagnosticOptions(checks=("covariate_balance",)), n_jobs=1)
        fit = res.primary_fit().fit
        import pandas as pd

        codes = pd.factorize(d["g"])[0]
        for row in res.diagnostics["y"].check("covariate_balance").rows:
            ref = fit_rdrobust(d[row["covariate"]].to_numpy(float), d["x"].to_numpy(float), h=fit.h, b=fit.b,
                               cluster=codes, vce="cr1")
            assert row["estimate"] == pytest.approx(ref.estimate, rel=1e-9)
            assert row["se_robust"] == pytest.approx(ref.se_robust, rel=1e-9)
            assert row["p_robust"] == pytest.approx(ref.p_value[2], rel=1e-9)


def test_student_data_input_continues_its_flow(simulate):
    from cteimpact.data import StudentData

    d = simulate(1500, seed=15)
    d.loc[:9, "x"] = np.nan
    sd = StudentData.from_frame(d, {"score": "x"}, source="students.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RegressionDiscontinuity(sd, "y", "x", 0.0).fit()
    flow = res.sample_flow
    assert flow.source == "students.csv" and flow.rows_read == 1500
    assert {s.reason: s.excluded for s in flow.steps}["running variable 'x' missing"] == 10

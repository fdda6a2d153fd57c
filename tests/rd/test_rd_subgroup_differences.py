"""Subgroup differences in the estimator family of the subgroup estimates (issue 11, item 2).

The report's table of differences once showed female − male graduation 10.5 pp (the difference of the
bias-corrected estimates) under a table of subgroup estimates of 11.0 and 4.2 pp (the conventional estimates of the
rows): 6.8 pp apart. Each comparison is now of the rows' family, labelled, with its SE stated.
"""

from __future__ import annotations

import math

import pytest

from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.results import SUBGROUP_DIFFERENCE_ESTIMATOR


def _check_family(res) -> int:
    """Every comparison of ``res``: the difference of the two subgroup rows, its robust SE and interval."""
    details = {c["label"]: c for c in res.to_dict()["details"]["subgroup_comparisons"]}
    n = 0
    for comp in res.subgroup_comparisons:
        a, b = res.estimate(comp.label_a), res.estimate(comp.label_b)
        fa, fb = res.fit_for(comp.label_a).fit, res.fit_for(comp.label_b).fit
        row = res.estimate(comp.label)
        record = details[comp.label]
        # the difference is that of the two rows the subgroup table shows ...
        assert record["difference"] == pytest.approx(a.estimate - b.estimate, abs=1e-12, rel=0)
        assert row.estimate == pytest.approx(a.estimate - b.estimate, abs=1e-12, rel=0)
        assert record["estimate_a"] == a.estimate and record["estimate_b"] == b.estimate
        # ... with the interval and test of the rows' robust bias-corrected inference
        assert record["difference_bc"] == pytest.approx(fa.estimate_bc - fb.estimate_bc, abs=1e-12, rel=0)
        assert record["se_a"] == a.std_error and record["se_b"] == b.std_error
        se = math.sqrt(a.std_error**2 + b.std_error**2 - 2 * record["covariance"])
        assert record["se"] == pytest.approx(se, rel=1e-12) and row.std_error == record["se"]
        assert sum(record["ci"]) / 2 == pytest.approx(record["difference_bc"], abs=1e-12)
        assert record["z"] == pytest.approx(record["difference_bc"] / record["se"], rel=1e-12)
        assert row.p_value == pytest.approx(record["p_value"], rel=1e-9)
        assert record["estimator"] == SUBGROUP_DIFFERENCE_ESTIMATOR
        assert "conventional point estimate" in record["estimator"] and "robust bias-corrected" in record["estimator"]
        n += 1
    return n


def test_clustered_differences_are_the_differences_of_the_subgroup_rows(synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    assert _check_family(res) == 2
    comp = next(c for c in res.subgroup_comparisons if c.outcome == "graduated")
    # the demo's numbers: rows 11.0 and 4.2 pp, difference 6.7 pp (the bias-corrected 10.5 pp is the CI's centre)
    assert comp.difference == pytest.approx(0.0674, abs=5e-4)
    assert comp.difference_bc == pytest.approx(0.1047, abs=5e-4)
    assert comp.covariance != 0.0 and "clusters shared" in comp.method
    record = res.to_dict()["details"]["subgroup_comparisons"][1]
    assert record["se_formula"] == "sqrt(se_a^2 + se_b^2 - 2 covariance)"


def test_independent_subgroups_add_their_variances(simulate):
    d = simulate(4000, seed=9)
    d["band"] = (d["prior"] > 0).astype(int) + (d["prior"] > 1).astype(int)
    res = RegressionDiscontinuity(d, "y", "x", 0.0, subgroups=["female", "band"]).fit()
    assert _check_family(res) == 3  # female 1 vs 0; band 1 vs 0 and 2 vs 0
    for comp in res.subgroup_comparisons:
        assert comp.covariance == 0.0 and comp.method == "independent samples (no cluster shared)"
        assert comp.se == pytest.approx(math.hypot(comp.se_a, comp.se_b), rel=1e-12)
    # two levels compared with one reference: their differences share its variance (the joint distribution is a
    # proper one, which a run with a three-level subgroup needs to be written at all)
    dist = res.sampling_distribution()
    i = dist.labels.index
    d1, d2 = "y[band=1 vs band=0]", "y[band=2 vs band=0]"
    assert dist.cov[i(d1), i(d2)] == pytest.approx(dist.cov[i("y[band=0]"), i("y[band=0]")], rel=1e-12)
    assert dist.cov[i(d1), i("y[band=1]")] == pytest.approx(dist.cov[i("y[band=1]"), i("y[band=1]")], rel=1e-12)
    assert dist.cov[i(d1), i(d1)] == pytest.approx(res.estimate(d1).std_error ** 2, rel=1e-12)
    text = res.summary()
    comp = res.subgroup_comparisons[0]
    assert "Subgroup differences (conventional estimate; robust bias-corrected SE and p)" in text
    assert f"{comp.label}: {comp.difference:,.4f}" in text


def test_a_suppressed_comparison_keeps_its_label_and_estimator_but_no_number(synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    shown = res.with_min_cell(10**6)
    for record in shown.to_dict()["details"]["subgroup_comparisons"]:
        assert record["suppressed"] is True and record["estimator"] == SUBGROUP_DIFFERENCE_ESTIMATOR
        for key in ("difference", "difference_bc", "estimate_a", "estimate_b", "se", "covariance", "ci"):
            assert record[key] is None

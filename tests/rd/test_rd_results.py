"""The RD results honour the shared results contract: labels, tidy, to_dict round trip, sampling distribution,
summary, plots, determinism."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from cteimpact.rd import RDResults, RegressionDiscontinuity
from cteimpact.results import TIDY_COLUMNS, ResultsRecord, dumps_json


@pytest.fixture(scope="module")
def fuzzy_result(senate) -> RDResults:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(senate, ["vote", "presdemvoteshlag1"], "margin", 0.0, fuzzy="takeup",
                                     cluster="state", subgroups=["dmidterm"])
        return rd.fit()


def test_labels_and_rows(fuzzy_result):
    labels = fuzzy_result.labels
    assert len(set(labels)) == len(labels)
    for y in ("vote", "presdemvoteshlag1"):
        for lab in (y, f"{y}[conventional]", f"{y}[bias_corrected]", f"{y}[first_stage]", f"{y}[reduced_form]",
                    f"{y}[dmidterm=0]", f"{y}[dmidterm=1]", f"{y}[dmidterm=1 vs dmidterm=0]"):
            assert lab in labels
    assert fuzzy_result.estimate("vote").ci_type == "robust_bias_corrected"
    assert fuzzy_result.estimate("vote[conventional]").ci_type == "conventional"
    assert fuzzy_result.estimate("vote[bias_corrected]").ci_type == "bias_corrected"


def test_reduced_form_equals_sharp_fit_at_the_same_bandwidths(senate, fuzzy_result):
    fit = fuzzy_result.primary_fit("vote")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sharp = RegressionDiscontinuity(senate, "vote", "margin", 0.0, cluster="state").fit(h=fit.fit.h, b=fit.fit.b)
    assert fit.reduced_form is not None
    assert fit.reduced_form.estimate == pytest.approx(sharp.primary_fit().fit.estimate, rel=1e-12)
    # Wald ratio: reduced form / first stage = fuzzy conventional estimate
    assert fit.reduced_form.estimate / fit.fit.first_stage.estimate == pytest.approx(fit.fit.estimate, rel=1e-10)


def test_tidy_schema(fuzzy_result):
    t = fuzzy_result.tidy()
    assert tuple(t.columns) == TIDY_COLUMNS
    assert len(t) == len(fuzzy_result.estimates)


def test_to_dict_is_json_and_round_trips(fuzzy_result):
    d = fuzzy_result.to_dict()
    text = dumps_json(d)
    back = ResultsRecord.from_dict(json.loads(text))
    assert back.labels == fuzzy_result.labels
    for a, b in zip(back.estimates, fuzzy_result.estimates, strict=True):
        assert a.estimate == b.estimate and a.std_error == b.std_error and a.ci_lower == b.ci_lower
    assert back.sampling_distribution().labels == fuzzy_result.sampling_distribution().labels
    np.testing.assert_array_equal(back.sampling_distribution().cov, fuzzy_result.sampling_distribution().cov)
    det = d["details"]
    fit = det["fits"][0]
    assert fit["fit"]["h"] == list(fuzzy_result.primary_fit("vote").fit.h)
    assert d["options"]["versions"]["rdrobust"] == "2.1.1"
    assert d["options"]["vce_used"] == "cr1"


def test_sampling_distribution_centre_and_scale(fuzzy_result):
    dist = fuzzy_result.sampling_distribution()
    assert "bias-corrected" in dist.centre and "robust" in dist.scale
    fit = fuzzy_result.primary_fit("vote").fit
    centre, se = dist.marginal("vote")
    assert centre == fit.estimate_bc
    assert se == pytest.approx(fit.se_robust, rel=1e-12)
    assert "vote[conventional]" not in dist.labels
    # the subgroup difference's variance is implied by the subgroup covariance
    i = dist.labels.index
    a, b, dlab = "vote[dmidterm=1]", "vote[dmidterm=0]", "vote[dmidterm=1 vs dmidterm=0]"
    implied = dist.cov[i(a), i(a)] + dist.cov[i(b), i(b)] - 2 * dist.cov[i(a), i(b)]
    assert dist.cov[i(dlab), i(dlab)] == pytest.approx(implied, rel=1e-10)
    draws = dist.draw(20000, np.random.default_rng(0))
    diff = draws[:, i(a)] - draws[:, i(b)]
    assert np.allclose(diff, draws[:, i(dlab)], atol=1e-6 * (1 + np.abs(diff).max()))


def test_subgroup_difference_uses_shared_cluster_covariance(fuzzy_result):
    comp = next(c for c in fuzzy_result.subgroup_comparisons if c.outcome == "vote")
    assert "clusters shared" in comp.method
    assert comp.covariance != 0.0
    a = fuzzy_result.fit_for(comp.label_a).fit
    b = fuzzy_result.fit_for(comp.label_b).fit
    assert comp.difference_bc == pytest.approx(a.estimate_bc - b.estimate_bc, rel=1e-12)
    assert comp.se == pytest.approx(math.sqrt(a.se_robust**2 + b.se_robust**2 - 2 * comp.covariance), rel=1e-12)


def test_multiple_outcome_flows(fuzzy_result):
    flows = {f.label: f.flow for f in fuzzy_result.fits if f.kind == "main"}
    assert flows["vote"].exclusions()[-1].reason == "outcome 'vote' missing"
    assert flows["vote"].rows_used == 1390 - 93
    last = flows["presdemvoteshlag1"].steps[-1]
    assert (last.reason, last.excluded, last.remaining) == ("outcome 'presdemvoteshlag1' missing", 3, 1387)
    assert fuzzy_result.sample_flow.rows_used == 1390  # the common flow when there are several outcomes


def test_summary_and_plots(fuzzy_result):
    text = fuzzy_result.summary()
    assert "vote[first_stage]" in text and "Sample flow" in text and "effective N" in text
    assert "clusters" in text and "first stage" in text
    fig = fuzzy_result.plot("vote")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) >= 2  # the two fitted local polynomials
    fig2 = fuzzy_result.plot(label="vote[dmidterm=1]")
    assert isinstance(fig2, Figure)


def test_weak_first_stage_warning(simulate):
    from cteimpact.errors import WeakFirstStageWarning
    from cteimpact.rd import RegressionDiscontinuity as RD

    d = simulate(3000, seed=5)
    rng = np.random.default_rng(1)
    d["d"] = (rng.uniform(size=len(d)) < 0.30 + 0.03 * (d["x"] >= 0)).astype(float)
    with pytest.warns(WeakFirstStageWarning, match="weak first stage for outcome 'y'"):
        RD(d, "y", "x", 0.0, fuzzy="d").fit()


def test_deterministic_and_independent_of_jobs(simulate):
    d = simulate(30000, seed=7, clusters=400, cluster_sd=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(d, "y", "x", 0.0, cluster="g", baseline_covariates=["prior"])
        from cteimpact.rd import DiagnosticOptions

        opts = DiagnosticOptions(checks=("density_test", "covariate_balance", "bandwidth_sensitivity",
                                         "placebo_cutoffs"))
        r1 = rd.fit(diagnostics=opts, n_jobs=1)
        r2 = rd.fit(diagnostics=opts, n_jobs=2)
    assert dumps_json(r1.to_dict()) == dumps_json(r2.to_dict())


def test_results_pickle(fuzzy_result):
    import pickle

    back = pickle.loads(pickle.dumps(fuzzy_result))
    assert dumps_json(back.to_dict()) == dumps_json(fuzzy_result.to_dict())

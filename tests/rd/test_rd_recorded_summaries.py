"""Summaries the report used to compute from RD records, now recorded by the RD layer (issue 11: derived
quantities are computed in the estimation layer and recorded, never in reporting)."""

from __future__ import annotations

import numpy as np
import pytest

from cteimpact.errors import WeakFirstStageWarning
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.estimator import WEAK_FIRST_STAGE_F


def test_verdict_and_status_counts(simulate):
    d = simulate(3000, seed=12, manipulation=0.6)  # bunching above the cutoff: the density test flags it
    res = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=["prior"]).fit(diagnostics=True)
    diag = res.diagnostics["y"]
    record = res.to_dict()["details"]["diagnostics"]["y"]
    verdicts = [c.verdict for c in diag.checks]
    counts = record["verdict_counts"]
    assert counts == {"pass": verdicts.count("pass"), "flag": verdicts.count("flag"),
                      "not_run": verdicts.count("not_run"), "ran": len(verdicts) - verdicts.count("not_run"),
                      "total": len(verdicts)}
    assert counts["total"] == 7 and counts["flag"] >= 1 and diag.check("density_test").verdict == "flag"
    review = record["standards_review"]
    statuses = [i["status"] for i in review["items"]]
    assert review["status_counts"] == {s: statuses.count(s)
                                       for s in ("met", "not_met", "needs_human_review", "not_applicable")}
    assert sum(review["status_counts"].values()) == len(statuses)


def test_weak_first_stage_is_recorded_with_its_threshold(simulate):
    d = simulate(3000, seed=5)
    rng = np.random.default_rng(1)
    d["strong"] = (rng.uniform(size=len(d)) < 0.2 + 0.6 * (d["x"] >= 0)).astype(float)
    d["weak"] = (rng.uniform(size=len(d)) < 0.30 + 0.03 * (d["x"] >= 0)).astype(float)
    with pytest.warns(WeakFirstStageWarning, match="weak first stage for outcome 'y'"):
        weak = RegressionDiscontinuity(d, "y", "x", 0.0, fuzzy="weak").fit()
    strong = RegressionDiscontinuity(d, "y", "x", 0.0, fuzzy="strong").fit()
    for res, is_weak in ((weak, True), (strong, False)):
        record = res.to_dict()["details"]["fits"][0]["weak_first_stage"]
        f = res.primary_fit("y").fit.first_stage.f_statistic
        assert record["f_statistic"] == f and record["threshold"] == WEAK_FIRST_STAGE_F == 10.0
        assert record["weak"] is is_weak and (f < 10.0) is is_weak
    sharp = RegressionDiscontinuity(d, "y", "x", 0.0).fit()
    assert sharp.to_dict()["details"]["fits"][0]["weak_first_stage"] is None

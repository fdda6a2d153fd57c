"""Monte Carlo validation on a staggered design with heterogeneous, exposure-growing effects (slow).

* Callaway–Sant'Anna: bias ≈ 0 and 95% intervals cover ≈ 95% (simple, group, dynamic aggregates).
* TWFE is biased downwards, by the amount the Goodman-Bacon decomposition of the noise-free design predicts.
* Few clusters (39 treated + 8 never-treated clusters, no true effect): the restricted wild cluster bootstrap
  rejects at about 5%. The larger run is ``tests/did/montecarlo_wild.py`` (its output is in the report).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna, bacon_decomposition, bacon_from_prepared, simulate_staggered

pytestmark = pytest.mark.slow

REPS = 300


def _design(seed: int):
    return simulate_staggered(seed=seed, n_clusters=300, n_never_clusters=60, units_per_cluster=2,
                              periods=range(2010, 2020), cluster_sd=0.0, noise_sd=0.6, rho=0.5,
                              effect_growth=0.08)


def test_cs_unbiased_with_nominal_coverage_and_twfe_bias_as_bacon_predicts() -> None:
    keys = ["y", "y[group=overall]", "y[event=overall]", "y[event=2]"]
    est = {k: [] for k in keys}
    cover = {k: [] for k in keys}
    twfe_est = []
    truth = None
    for r in range(REPS):
        df, tr = _design(1000 + r)
        truth = tr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cs = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort")
            res = cs.fit(aggregations=("simple", "group", "dynamic"))
            # the TWFE coefficient (equal to linearmodels' PanelOLS to 1e-12, see test_did_bacon_sunab.py)
            twfe_est.append(bacon_from_prepared(cs.prepared).twfe)
        true_vals = {"y": tr.simple, "y[group=overall]": tr.group_overall, "y[event=overall]": tr.dynamic_overall,
                     "y[event=2]": tr.dynamic[2.0]}
        for k in keys:
            e = res.estimate(k)
            est[k].append(e.estimate - true_vals[k])
            cover[k].append(e.ci_lower <= true_vals[k] <= e.ci_upper)
    for k in keys:
        b = np.array(est[k])
        mc_se = b.std(ddof=1) / math.sqrt(REPS)
        assert abs(b.mean()) < 3.5 * mc_se, (k, b.mean(), mc_se)
        cov = float(np.mean(cover[k]))
        assert 0.92 <= cov <= 0.98, (k, cov)
    # TWFE: the noise-free design (outcome = true effect; fixed effects drop out) gives the TWFE estimand, and the
    # decomposition of that design says why it is biased: later-vs-earlier comparisons subtract growing effects
    assert truth is not None
    df0, _ = _design(1000)
    tau = truth.att_gt.set_index(["group", "time"])["att"]
    df0["y0"] = [tau.get((float(g), float(t)), 0.0) if g > 0 else 0.0
                 for g, t in zip(df0["cohort"], df0["time"], strict=True)]
    bd = bacon_decomposition(df0, outcome="y0", unit="unit", time="time", cohort="cohort")
    predicted = bd.twfe
    later = bd.summary.set_index("type").loc["Later vs Earlier Treated", "avg_estimate"]
    assert later < 0 < truth.simple
    assert predicted < truth.simple - 0.05  # sizeable downward bias
    tw = np.array(twfe_est)
    assert abs(tw.mean() - predicted) < 4 * tw.std(ddof=1) / math.sqrt(REPS) + 1e-3, (tw.mean(), predicted)
    assert np.sign(tw.mean() - truth.simple) == np.sign(predicted - truth.simple) == -1


def test_wild_cluster_bootstrap_size_with_8_never_treated_clusters() -> None:
    from montecarlo_wild import run  # type: ignore[import-not-found]

    rates = run(reps=150, draws=199, units=5, seed=3)
    mc_se = math.sqrt(0.05 * 0.95 / 150)
    assert abs(rates["cs_wild"] - 0.05) <= 2.6 * mc_se, rates
    assert abs(rates["twfe_wild"] - 0.05) <= 2.6 * mc_se, rates


def test_synthetic_design_effects_are_heterogeneous() -> None:
    """The DGP itself: effects differ by cohort and grow with exposure (the reason TWFE fails)."""
    _, tr = _design(1)
    gt = tr.att_gt[tr.att_gt["event_time"] >= 0]
    by_e = gt.groupby("event_time")["att"].mean()
    assert by_e.is_monotonic_increasing
    first = gt.groupby("group")["att"].first()
    assert (first != first.iloc[0]).any()
    assert isinstance(tr.att_gt, pd.DataFrame)

"""WWC effect sizes (Hedges' g, Cox index) and baseline equivalence.

Reference: R ``baselinr`` 0.5.0 README / "Getting started" vignette, ``baseline_equivalence(study, "treat")`` on
treat = (1,1,1,0,0,0), pretest = (5,6,7,4,5,6), female = (1,0,1,0,0,1): Hedges' g 0.80 (with the WWC small-sample
factor ω = 1 − 3/(4N − 9) = 0.8) and Cox index 0.8401784 (baselinr reports the Cox index without ω). WWC
thresholds: |ES| <= 0.05 satisfied; <= 0.25 satisfied with adjustment; otherwise not satisfied (WWC Standards
Handbook 4.1/5.0, baseline equivalence).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import (
    CallawaySantAnna,
    baseline_equivalence,
    cox_index,
    effect_size,
    hedges_g,
    simulate_staggered,
    wwc_category,
)


def test_hedges_g_matches_baselinr_example() -> None:
    t, c = np.array([5.0, 6.0, 7.0]), np.array([4.0, 5.0, 6.0])
    g = hedges_g(t.mean() - c.mean(), t.std(ddof=1), c.std(ddof=1), 3, 3)
    assert g == pytest.approx(0.80, abs=1e-12)
    assert hedges_g(1.0, 1.0, 1.0, 3, 3, correction=False) == pytest.approx(1.0)


def test_cox_index_matches_baselinr_example() -> None:
    # the package's one Cox index (cteimpact.stats.effect_sizes): comparison proportion first, the treated one by name
    assert cox_index(1 / 3, p_treated=2 / 3, n=6, correction=False).value == pytest.approx(0.8401784, abs=1e-7)
    assert cox_index(1 / 3, p_treated=2 / 3, n=6).value == pytest.approx(0.8 * math.log(4) / 1.65, rel=1e-12)


@pytest.mark.parametrize(("es", "cat"), [(0.0, "satisfied"), (-0.05, "satisfied"),
                                         (0.0501, "satisfied with adjustment"), (0.25, "satisfied with adjustment"),
                                         (-0.2501, "not satisfied")])
def test_wwc_categories(es: float, cat: str) -> None:
    assert wwc_category(es) == cat


def test_effect_size_and_baseline_equivalence_on_simulated_panel() -> None:
    df, _ = simulate_staggered(seed=9, n_clusters=40, n_never_clusters=10, units_per_cluster=10)
    res = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort").fit()
    es = effect_size(res)
    assert es.kind == "hedges_g"
    assert es.estimate == pytest.approx(es.omega * es.att / es.standardiser)
    assert es.ci_lower < es.estimate < es.ci_upper
    tab = baseline_equivalence(res)
    assert list(tab["cohort"]) == sorted(res.data.groups)  # type: ignore[union-attr]
    assert set(tab["wwc_category"]) <= {"satisfied", "satisfied with adjustment", "not satisfied"}
    # recompute one row by hand
    r = tab.iloc[0]
    d = res.data
    assert d is not None and d.y_wide is not None
    bi = int(np.searchsorted(d.times, r["baseline_period"]))
    xt = d.y_wide[d.row_cohort == r["cohort"], bi]
    xc = d.y_wide[d.row_cohort == 0, bi]
    assert r["effect_size"] == pytest.approx(hedges_g(xt.mean() - xc.mean(), xt.std(ddof=1), xc.std(ddof=1),
                                                      xt.size, xc.size))


def test_binary_outcome_uses_cox_index() -> None:
    rng = np.random.default_rng(3)
    df, _ = simulate_staggered(seed=2, n_clusters=30, n_never_clusters=8, units_per_cluster=10)
    df["grad"] = (df["y"] + rng.normal(size=len(df)) > df["y"].median()).astype(int)
    res = CallawaySantAnna(df, outcome="grad", unit="unit", time="time", cohort="cohort").fit()
    es = effect_size(res)
    assert es.kind == "cox_index"
    p_t = es.standardiser + es.att
    assert es.estimate == pytest.approx(cox_index(es.standardiser, p_treated=p_t,
                                                  n=es.n_treated + es.n_comparison).value)
    tab = baseline_equivalence(res)
    assert (tab["kind"] == "cox_index").all()
    assert isinstance(tab, pd.DataFrame)

"""Callaway–Sant'Anna with covariates on repeated cross-sections (``panel=False``) from engine-side aggregate
queries equals the in-memory estimator.

The three 2×2 estimators of :func:`cteimpact.did.twobytwo.did_rcs` (``reg``: outcome regressions of the comparison
observations in both periods; ``ipw``: normalised inverse-probability weighting; ``dr``: the locally efficient
doubly robust estimator with four regressions) from sums by cohort and period
(:mod:`cteimpact.did.sufficient.rcs_covariates`), compared element by element at ``|a − b| <= 1e-10 + 1e-10·|b|``
(:func:`tests.did.sufficient_helpers.compare_cs`: every row, the covariance of all estimands, the group-time table,
the pre-tests) with :class:`~cteimpact.did.estimator.CallawaySantAnna`, for never / not-yet-treated comparisons ×
varying / universal base periods × unclustered / clustered:

* mpdta read as repeated cross-sections with ``lpop`` (each county-year one observation);
* a generated data set of independent observations whose cohort depends on two covariates (one of them a text
  column, categorical), with the multiplier bootstrap by cluster and with anticipation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from tests.did.sufficient_helpers import assert_close, compare_cs, duckdb_table, mpdta_frame, quietly

METHODS = ("reg", "ipw", "dr")
DESIGNS = [(control, base) for control in ("never", "notyet") for base in ("varying", "universal")]
MPDTA: dict[str, Any] = {"outcome": "lemp", "unit": None, "time": "year", "cohort": "first.treat", "panel": False}
GENERATED: dict[str, Any] = {"outcome": "y", "unit": None, "time": "year", "cohort": "first_treat", "panel": False}


def cross_sections(seed: int = 4, n_obs: int = 4000) -> pd.DataFrame:
    """Independent observations in 2001–2007, cohorts 2003, 2004, 2006 (and never treated, 0) drawn by a
    multinomial logit in the covariates ``x1`` (numeric) and ``area`` (text, three levels), clusters, outcomes with
    covariate-dependent trends and effects growing with exposure."""
    rng = np.random.default_rng(seed)
    year = rng.integers(2001, 2008, size=n_obs)
    x1 = rng.normal(0.0, 1.0, size=n_obs) + 0.05 * (year - 2001)
    area = rng.choice(np.array(["rural", "suburb", "urban"]), size=n_obs, p=[0.3, 0.3, 0.4])
    urban = (area == "urban").astype(float)
    cohorts = np.array([0.0, 2003.0, 2004.0, 2006.0])
    index = np.column_stack([np.zeros(n_obs), 0.5 * x1, -0.4 * x1 + 0.5 * urban, 0.3 * urban - 0.2])
    prob = np.exp(index) / np.exp(index).sum(axis=1, keepdims=True)
    g = np.array([rng.choice(cohorts, p=p) for p in prob])
    eff = np.where((g > 0) & (year >= g), (1.0 + 0.5 * (year - g)) * 4.0, 0.0)
    y = 100.0 + (2.0 + 1.5 * x1 + 2.0 * urban) * (year - 2001) + 3.0 * x1 + eff + rng.normal(0, 3, size=n_obs)
    cluster = rng.integers(0, 30, size=n_obs)
    return pd.DataFrame({"year": year, "first_treat": g, "y": y, "x1": x1, "area": area,
                         "cl": [f"c{c:02d}" for c in cluster]})


@pytest.fixture(scope="module")
def mpdta(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    df = mpdta_frame()
    df["state"] = "s" + (df["countyreal"] // 1000).astype(str)
    return df, duckdb_table(df, "mpdta_rcs", tmp_path_factory.mktemp("mpdta_rcs"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    df = cross_sections()
    return df, duckdb_table(df, "cross_sections", tmp_path_factory.mktemp("cross_sections"))


def _both(df: pd.DataFrame, table: Any, cols: dict[str, Any], covariates: list[str], **options: Any
          ) -> tuple[Any, Any]:
    fit_options = {k: options.pop(k) for k in ("bootstrap", "seed") if k in options}
    sql = quietly(callaway_santanna_sufficient, table, covariates=covariates, **cols, **options, **fit_options)
    mem = quietly(lambda: CallawaySantAnna(df, covariates=covariates, **cols, **options).fit(**fit_options))
    return sql, mem


@pytest.mark.parametrize("cluster", [None, "state"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
@pytest.mark.parametrize("method", METHODS)
def test_mpdta_lpop_equals_in_memory(mpdta: tuple[pd.DataFrame, Any], method: str, control: str, base_period: str,
                                     cluster: str | None) -> None:
    df, table = mpdta
    sql, mem = _both(df, table, {**MPDTA, "cluster": cluster}, ["lpop"], method=method, control=control,
                     base_period=base_period)
    compare_cs(sql, mem)
    assert sql.options["panel"] is mem.options["panel"] is False
    assert sql.options["covariates"] == mem.options["covariates"] == ["lpop"]
    assert sql.n_units == mem.n_units == 2500
    assert sql.fit.queries == (3 if method == "reg" else 3 + sql.fit.logit_iterations)
    # the covariate changes the estimates
    plain = quietly(callaway_santanna_sufficient, table, method=method, control=control, base_period=base_period,
                    cluster=cluster, **MPDTA)
    assert np.nanmax(np.abs(plain.group_time["att"] - sql.group_time["att"])) > 1e-4


@pytest.mark.parametrize("cluster", [None, "cl"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
@pytest.mark.parametrize("method", METHODS)
def test_generated_equals_in_memory(generated: tuple[pd.DataFrame, Any], method: str, control: str,
                                    base_period: str, cluster: str | None) -> None:
    df, table = generated
    sql, mem = _both(df, table, {**GENERATED, "cluster": cluster}, ["x1", "area"], method=method, control=control,
                     base_period=base_period)
    compare_cs(sql, mem)
    assert sql.options["covariates"] == mem.options["covariates"] == ["x1", "area=suburb", "area=urban"]
    assert not sql.fit.failures


@pytest.mark.parametrize("method", METHODS)
def test_anticipation_and_bootstrap(generated: tuple[pd.DataFrame, Any], method: str) -> None:
    """Anticipation (one period), the multiplier bootstrap by cluster from the cluster sums (same seed, same
    draws) and a low trimming level (comparison observations trimmed in ``ipw`` and ``dr``)."""
    df, table = generated
    sql, mem = _both(df, table, {**GENERATED, "cluster": "cl"}, ["x1", "area"], method=method, anticipation=1,
                     bootstrap=199, seed=3, trim_level=0.7)
    compare_cs(sql, mem)


def test_missing_covariates_dropped(generated: tuple[pd.DataFrame, Any], tmp_path: Path) -> None:
    """Observations missing a covariate are dropped, as in memory."""
    df, _ = generated
    holes = df.copy()
    holes.loc[holes.index[::53], "x1"] = np.nan
    table = duckdb_table(holes, "holes", tmp_path)
    sql, mem = _both(holes, table, GENERATED, ["x1"], method="dr")
    compare_cs(sql, mem)
    assert sql.n_units == mem.n_units < len(holes)


def _few(df: pd.DataFrame) -> pd.DataFrame:
    """No never-treated observations and two observations of the last cohort (2006) per period: the only
    comparison of the later cells with not-yet-treated comparisons."""
    few = df[df["first_treat"] > 0]
    late = few[few["first_treat"] == 2006.0]
    keep = late.groupby("year").head(2).index
    return few[(few["first_treat"] != 2006.0) | few.index.isin(keep)].reset_index(drop=True)


def test_cell_failures_equal_in_memory(generated: tuple[pd.DataFrame, Any], tmp_path: Path) -> None:
    """``reg``: the comparison regressions of the later cells (two observations, four regressors) are singular; the
    cells fail with the in-memory reason (the same notes), the other cells and the aggregations agree."""
    few = _few(generated[0])
    table = duckdb_table(few, "few", tmp_path)
    sql, mem = _both(few, table, GENERATED, ["x1", "area"], method="reg", control="notyet")
    compare_cs(sql, mem)
    notes = [n for n in sql.group_time["note"].fillna("") if n]
    assert len(notes) == 5 and all(n.startswith("the covariate matrix of the outcome regression is singular")
                                   for n in notes)


@pytest.mark.parametrize("method", ["ipw", "dr"])
def test_separated_logits_fail_the_same_cells(generated: tuple[pd.DataFrame, Any], tmp_path: Path,
                                              method: str) -> None:
    """``ipw`` and ``dr`` on the same data: the later cells' logits separate (four comparison observations); the
    same cells fail in both paths and every other number agrees. The reason may differ: the Newton iterations
    diverge, and whether the information matrix turns exactly singular before the scores reach 0.999 depends on
    rounding (the engine iterates in centred covariates)."""
    few = _few(generated[0])
    table = duckdb_table(few, "few_ps", tmp_path)
    sql, mem = _both(few, table, GENERATED, ["x1", "area"], method=method, control="notyet")
    a, b = sql.group_time, mem.group_time
    failed = list(a["note"].fillna("") != "")
    assert failed == list(b["note"].fillna("") != "") and sum(failed) >= 3
    reasons = ("the propensity-score information matrix is singular", "overlap condition violated")
    assert all(n.startswith(reasons) for n in a["note"].dropna())
    for col in ("att", "se", "n_treated", "n_comparison"):
        assert_close(a[col], b[col], col)
    ta, tb = sql.tidy(), mem.tidy()
    for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
        assert_close(ta[col], tb[col], col)
    assert_close(sql.covariance, mem.covariance, "covariance")

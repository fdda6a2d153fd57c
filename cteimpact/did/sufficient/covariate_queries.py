"""The aggregate queries of Callaway–Sant'Anna with covariates on a balanced panel (issue 14).

Every query reads the same engine-side table of one row per unit (:func:`unit_rows`: a ``GROUP BY unit`` pivot of
the outcome and of each covariate to one column per period, restricted to the units observed once in every period)
and returns sums by cohort, or by cluster and cohort, of expressions in those columns (:class:`SumBatch`): at most
(clusters ×) cohorts rows, however many units. The expressions are Ibis expressions whose constants (centring
constants, fitted coefficients) are numeric literals; no SQL text is built from user input.

The covariates are centred by their overall means (:func:`covariate_summary`, one query): an affine change of the
covariates leaves every fitted value, estimate and influence function unchanged, and keeps the cross-products free
of cancellation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from cteimpact.did.sufficient.queries import (
    _MAX_BITS,
    PanelLayout,
    _array,
    _fetch,
    _outcome_expr,
    _period_bits,
    _positions,
    prepared_table,
    present_unit,
)

__all__ = ["CovariateSummary", "SumBatch", "covariate_summary", "expit", "unit_rows"]


def unit_rows(table: ir.Table, layout: PanelLayout) -> ir.Table:
    """One row per unit observed once in every period (the balanced panel of the layout; units dropped by balancing
    are left out here as the semi-join of :func:`~cteimpact.did.sufficient.queries.panel_moments` leaves them out):
    ``cte_g`` (recoded cohort), ``cte_c`` (cluster), ``cte_y{p}`` (outcome in period ``p``), ``cte_x{j}_{p}``
    (covariate ``j`` in period ``p``) and ``cte_one`` (1.0)."""
    cols = layout.columns
    t, g = prepared_table(table, layout)
    tv = layout.time_values
    n_t = len(tv)
    tcol = t[cols.time]
    y = _outcome_expr(t, cols)
    aggs: dict[str, Any] = {"cte_g": g.min(), "cte_rows": t.count()}
    if n_t <= _MAX_BITS:
        aggs["cte_mask"] = _period_bits(tcol, tv).sum()
    else:
        for k, v in enumerate(tv):
            aggs[f"cte_n{k}"] = t.count(where=tcol == v)
    if cols.cluster is not None:
        aggs["cte_c"] = t[cols.cluster].min()
    for k, v in enumerate(tv):
        aggs[f"cte_y{k}"] = y.sum(where=tcol == v)
        for j, cov in enumerate(cols.covariates):
            aggs[f"cte_x{j}_{k}"] = t[cov].cast("float64").sum(where=tcol == v)
    wide = t.group_by(cte_unit=t[present_unit(cols)]).aggregate(**aggs)
    if n_t <= _MAX_BITS:
        complete = (wide.cte_rows == n_t) & (wide.cte_mask == (1 << n_t) - 1)
    else:
        complete = ibis.and_(*[wide[f"cte_n{k}"] == 1 for k in range(n_t)])
    # a float literal is compiled as "1.0", which PostgreSQL (and DuckDB) read as a decimal: its products and sums
    # would come back as decimals; a cast keeps the column a double everywhere
    return wide.filter(complete).mutate(cte_one=ibis.literal(1).cast("float64"))


def expit(eta: ir.FloatingValue) -> ir.FloatingValue:
    """The logistic function in the engine (``exp`` of a large argument is infinite, giving 0)."""
    return 1.0 / (1.0 + (-eta).exp())


@dataclass(frozen=True, eq=False)
class CovariateSummary:
    """The covariates over every unit and period of the balanced panel: means, population standard deviations,
    smallest and largest values and correlation matrix (pooled from per-period moments computed by the engine)."""

    names: tuple[str, ...]
    mean: np.ndarray
    sd: np.ndarray
    low: np.ndarray
    high: np.ndarray
    corr: np.ndarray
    n_values: int


def covariate_summary(wide: ir.Table, names: Sequence[str], n_periods: int, *, max_rows: int) -> CovariateSummary:
    """One query over :func:`unit_rows`: per period each covariate's mean, smallest and largest value and
    population covariances; pooled here (``var = Σ_p [var_p + (mean_p − mean)²] / T`` and likewise the covariances)."""
    k = len(names)
    aggs: dict[str, Any] = {"cte_n": wide.count()}
    for p in range(n_periods):
        for j in range(k):
            x = wide[f"cte_x{j}_{p}"]
            aggs[f"m{j}_{p}"] = x.mean()
            aggs[f"lo{j}_{p}"] = x.min()
            aggs[f"hi{j}_{p}"] = x.max()
            for m in range(j, k):
                aggs[f"v{j}_{m}_{p}"] = x.cov(wide[f"cte_x{m}_{p}"], how="pop")
    tab = _fetch(wide.aggregate(**aggs), max_rows=max_rows, what="covariate summary")

    def val(name: str) -> float:
        return float(np.nan_to_num(_array(tab, name).astype(float))[0])

    n_units = int(val("cte_n"))
    means = np.array([[val(f"m{j}_{p}") for p in range(n_periods)] for j in range(k)])
    mean = means.mean(axis=1)
    cov = np.zeros((k, k))
    for j in range(k):
        for m in range(j, k):
            c = np.mean([val(f"v{j}_{m}_{p}") + (means[j, p] - mean[j]) * (means[m, p] - mean[m])
                         for p in range(n_periods)])
            cov[j, m] = cov[m, j] = c
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    low = np.array([min(val(f"lo{j}_{p}") for p in range(n_periods)) for j in range(k)])
    high = np.array([max(val(f"hi{j}_{p}") for p in range(n_periods)) for j in range(k)])
    return CovariateSummary(tuple(names), mean, sd, low, high, corr, n_units * n_periods)


class SumBatch:
    """Sums of expressions over the unit rows, collected and run as one ``GROUP BY cohort`` (or ``cluster, cohort``)
    query; :meth:`total` then adds a sum over chosen cohorts (or gives it by cluster).

    Parameters
    ----------
    wide
        The unit rows (:func:`unit_rows`).
    """

    def __init__(self, wide: ir.Table) -> None:
        self.wide = wide
        self.exprs: dict[str, Any] = {}
        self.maxima: set[str] = set()
        self.values: dict[str, np.ndarray] = {}

    def on(self, wide: ir.Table) -> SumBatch:
        """A batch over ``wide`` (the unit rows with more columns) that keeps this one's results (their names stay
        valid); nothing may be pending here."""
        out = SumBatch(wide)
        out.values, out.maxima = self.values, self.maxima
        return out

    def add(self, expr: ir.NumericValue, *, how: str = "sum") -> str:
        """Register the sum (or ``how="max"``) of ``expr``; returns its name."""
        name = f"cte_a{len(self.values) + len(self.exprs)}"
        self.exprs[name] = expr.max() if how == "max" else expr.sum()
        if how == "max":
            self.maxima.add(name)
        return name

    def vector(self, weight: ir.NumericValue, xs: Sequence[ir.NumericValue]) -> list[str]:
        """``Σ weight · xs`` (one sum per element of ``xs``)."""
        return [self.add(weight * x) for x in xs]

    def matrix(self, weight: ir.NumericValue, xs: Sequence[ir.NumericValue]) -> list[list[str]]:
        """``Σ weight · xs xs'`` (symmetric: one sum per pair)."""
        k = len(xs)
        out = [["" for _ in range(k)] for _ in range(k)]
        for j in range(k):
            for m in range(j, k):
                out[j][m] = out[m][j] = self.add(weight * xs[j] * xs[m])
        return out

    def run(self, layout: PanelLayout, *, by_cluster: bool, max_rows: int, what: str) -> int:
        """Run the query; the sums are then ``cohorts`` (or ``clusters × cohorts``) arrays. Returns the rows
        fetched."""
        w = self.wide
        keys: dict[str, Any] = {"cte_gk": w.cte_g}
        if by_cluster:
            keys["cte_ck"] = w.cte_c
        exprs = dict(self.exprs)
        exprs["cte_cnt"] = w.count()
        tab = _fetch(w.group_by(**keys).aggregate(**exprs), max_rows=max_rows, what=what)
        cohorts = layout.cohorts
        gi = _positions(_array(tab, "cte_gk"), cohorts)
        if by_cluster:
            labels = layout.cluster_labels if layout.cluster_labels is not None else np.empty(0, dtype=object)
            pos = {v: i for i, v in enumerate(labels.tolist())}
            hi = np.array([pos[v] for v in tab.column("cte_ck").to_pylist()], dtype=np.int64)
            shape: tuple[int, ...] = (labels.size, cohorts.size)
            index: tuple[np.ndarray, ...] = (hi, gi)
        else:
            shape, index = (cohorts.size,), (gi,)
        for name in exprs:
            col = np.nan_to_num(_array(tab, name).astype(float))
            if name in self.maxima:
                arr = np.full(shape, -np.inf)
                np.maximum.at(arr, index, col)
            else:
                arr = np.zeros(shape)
                np.add.at(arr, index, col)
            self.values[name] = arr
        self.exprs = {}
        return int(tab.num_rows)

    def total(self, name: str, cohorts: Sequence[int]) -> float:
        """The sum over the cohorts (positions) ``cohorts``."""
        return float(self.values[name][list(cohorts)].sum())

    def max_over(self, name: str, cohorts: Sequence[int]) -> float:
        return float(self.values[name][list(cohorts)].max())

    def vec(self, names: Sequence[str], cohorts: Sequence[int]) -> np.ndarray:
        return np.array([self.total(nm, cohorts) for nm in names])

    def mat(self, names: Sequence[Sequence[str]], cohorts: Sequence[int]) -> np.ndarray:
        return np.array([[self.total(nm, cohorts) for nm in row] for row in names])

"""Two-way fixed effects (TWFE) and event-study TWFE from sufficient statistics.

In a balanced panel whose regressors are functions of the cohort and the period (the treatment indicator
``1{G > 0, t >= G}``, or event-time indicators ``1{G > 0, t − G = e}``), the within transformation of a regressor
is the same for every unit of a cohort:

``Ẍ_ct = X_ct − X̄_c· − X̄_·t + X̄``   (``X̄_·t`` weighted by the cohorts' unit counts),

so the coefficients are ``β = (Σ_c N_c Σ_t Ẍ_ct Ẍ_ct')⁻¹ Σ_c Σ_t Ẍ_ct S_ct`` with ``S_ct`` the cohort-period outcome
sums of the layout query. Because ``Σ_t Ẍ_ct = 0`` the score of a unit, ``Σ_t Ẍ_ct û_it``, is linear in its first
differences given its cohort: ``s_i = R_c' D_i + b_c`` with ``R_c[j] = Σ_{t ≥ j} Ẍ_ct`` and
``b_c = −Σ_t Ẍ_ct (ȳ_·t − ȳ) − (Σ_t Ẍ_ct Ẍ_ct') β``. The unit-clustered meat is then a function of the per-cohort
sums and cross-products of the differences, and the meat clustered by a unit-level cluster variable of the per
(cluster, cohort) sums (:mod:`cteimpact.did.sufficient.queries`). The covariance carries the in-memory solver's
small-sample factor ``G/(G−1) · (n−1)/(n−K)`` (:mod:`cteimpact.did.within`: ``K`` counts the regressors and the
period effects; unit effects are nested in the clusters), and intervals use t with ``G − 1`` degrees of freedom,
as :func:`cteimpact.did.twfe.twfe` does.

Repeated cross-sections (cohort and period fixed effects) reduce to a weighted regression on the cohort × period
grid (:func:`twfe_fit_grid`): the within transformation is the residual on cohort and period indicators weighted by
the cells' observation counts, the fitted value of an observation is its cell's, and the scores of a cluster are
``Σ_ct Ẍ_ct (S_hct − N_hct f_ct)``; without a cluster variable each observation is a cluster and the meat needs the
cells' sums of squares.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.did.comparison import Coefficient
from cteimpact.did.sufficient.queries import (
    DEFAULT_MAX_ROWS,
    CrossSectionMoments,
    PanelColumns,
    PanelMoments,
    balanced_moments,
    present_unit,
)
from cteimpact.did.twfe import TWFEResult
from cteimpact.did.within import ABSORBED, COLLINEAR
from cteimpact.errors import DesignError, EstimationError, OptionError
from cteimpact.results.estimate import EffectEstimate, normal_row
from cteimpact.results.intervals import check_level, size_of

__all__ = ["TWFEFit", "twfe_fit", "twfe_fit_grid", "twfe_from_statistics", "twfe_sufficient"]


@dataclass(frozen=True, eq=False)
class TWFEFit:
    """Coefficients of a TWFE regression on cohort × period regressors with their cluster-robust covariance.

    Attributes
    ----------
    names, params, cov
        Regressors kept, coefficients and covariance (``fixest`` small-sample factor).
    absorbed
        Regressors the fixed effects absorb (dropped, as the in-memory solver drops them).
    n_obs, n_units, n_clusters, dof_k
        Unit-periods, units, clusters ``G`` and the ``K`` of the small-sample factor.
    """

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    absorbed: tuple[str, ...]
    n_obs: int
    n_units: int
    n_clusters: int
    dof_k: int


def _partial_out(regressors: Sequence[tuple[str, np.ndarray]], residual: Callable[[np.ndarray], np.ndarray],
                 weight: np.ndarray) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
    """The regressors less their projection on the fixed effects (``residual``), and the names of those the fixed
    effects absorb, as the in-memory solver decides: a regressor that is 0, or whose norm after the projection is at
    most ``ABSORBED`` times its raw norm (both weighted by ``weight``, the cells' observation counts)."""
    kept: list[tuple[str, np.ndarray]] = []
    absorbed: list[str] = []
    for name, x in regressors:
        xt = residual(np.asarray(x, dtype=float))
        norm_raw = math.sqrt(float((weight * x * x).sum()))
        norm_dm = math.sqrt(float((weight * xt * xt).sum()))
        if norm_dm <= ABSORBED * norm_raw or norm_raw == 0.0:
            absorbed.append(name)
        else:
            kept.append((name, xt))
    return kept, absorbed


def _bread(xtx: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``(X'X)⁻¹`` of the demeaned regressors (an :class:`EstimationError` when they are collinear)."""
    scale = np.sqrt(np.diag(xtx))
    eig = np.linalg.eigvalsh(xtx / np.outer(scale, scale))
    if eig[0] <= COLLINEAR * eig[-1]:
        raise EstimationError(f"the TWFE regressors {', '.join(names)} are collinear among themselves once the fixed "
                              "effects are removed; fit this regression on the in-memory path (linearmodels drops "
                              "the absorbed ones)")
    return np.linalg.inv(xtx)


def _sandwich(bread: np.ndarray, meat: np.ndarray, *, n_clusters: int, n_obs: int, dof_k: int) -> np.ndarray:
    """The cluster-robust covariance with the in-memory solver's small-sample factor ``G/(G−1) · (n−1)/(n−K)``."""
    cov = bread @ meat @ bread
    g = n_clusters
    cov = cov * (g / (g - 1)) * ((n_obs - 1) / max(n_obs - dof_k, 1))
    return (cov + cov.T) / 2


def twfe_fit(stats: PanelMoments, regressors: Sequence[tuple[str, np.ndarray]]) -> TWFEFit:
    """TWFE fit of the outcome on regressors given per cohort and period (each ``C × T``), from sufficient
    statistics computed with ``control="never"`` and no anticipation (the in-memory TWFE's preparation).

    Raises
    ------
    EstimationError
        Regressors collinear among themselves once the fixed effects are removed (the in-memory path then falls
        back to ``linearmodels``; here: fit on the in-memory path).
    """
    lay = stats.layout
    count = stats.count.astype(float)
    n_units = int(count.sum())
    n_t = lay.n_periods
    n_obs = n_units * n_t

    def demean(x: np.ndarray) -> np.ndarray:
        by_c = x.mean(axis=1, keepdims=True)
        by_t = (count[:, None] * x).sum(axis=0, keepdims=True) / n_units
        grand = float((count[:, None] * x).sum() / (n_units * n_t))
        return x - by_c - by_t + grand

    kept, absorbed = _partial_out(regressors, demean, count[:, None])
    names = tuple(n for n, _ in kept)
    if stats.cluster_sums is not None and stats.cluster_count is not None:
        n_clusters = int(stats.cluster_count.shape[0])
    else:
        n_clusters = n_units
    dof_k = len(kept) + n_t  # unit effects nested in the clusters, period effects not (at least two clusters)
    if not kept:
        return TWFEFit(names, np.zeros(0), np.zeros((0, 0)), tuple(absorbed), n_obs, n_units, n_clusters, dof_k)
    xd = np.stack([x for _, x in kept], axis=-1)  # C × T × p
    xtx = np.einsum("c,ctp,ctq->pq", count, xd, xd)
    bread = _bread(xtx, names)
    s_ct = lay.cohort_period_sum
    xty = np.einsum("ctp,ct->p", xd, s_ct)
    beta = np.linalg.solve(xtx, xty)
    ybar_t = s_ct.sum(axis=0) / n_units
    ybar = float(ybar_t.mean())
    # scores s_i = R_c' D_i + b_c (module docstring), in centred differences: R_c' D̃_i + (b_c + R_c' μ_c)
    r = np.flip(np.cumsum(np.flip(xd, axis=1), axis=1), axis=1)[:, 1:, :]  # C × (T − 1) × p: Σ_{t ≥ j} Ẍ_ct
    b = -np.einsum("ctp,t->cp", xd, ybar_t - ybar) - np.einsum("ctp,ctq,q->cp", xd, xd, beta)
    if not stats.clustered and stats.cross is None:
        raise EstimationError("the unit-clustered TWFE variance needs the per-cohort cross-products")
    scores = stats.linear_moments(b, np.moveaxis(r, 2, 1))  # cluster sums of the scores, or their Gram matrix
    meat = scores.T @ scores if stats.clustered else scores
    cov = _sandwich(bread, meat, n_clusters=n_clusters, n_obs=n_obs, dof_k=dof_k)
    return TWFEFit(names, beta, cov, tuple(absorbed), n_obs, n_units, n_clusters, dof_k)


class _Grid:
    """Weighted two-way demeaning on the cohort × period grid: the residual of a regression on cohort and period
    indicators with the cells' observation counts as weights (the observation-level within transformation of
    repeated cross-sections, whose fixed effects are cohorts and periods)."""

    def __init__(self, count: np.ndarray) -> None:
        n_c, n_t = count.shape
        self.shape = count.shape
        self.cells = np.flatnonzero(count.reshape(-1) > 0)
        ci, ti = np.divmod(self.cells, n_t)
        design = np.zeros((self.cells.size, n_c + n_t))
        design[np.arange(self.cells.size), ci] = 1.0
        design[np.arange(self.cells.size), n_c + ti] = 1.0
        self.root = np.sqrt(count.reshape(-1)[self.cells].astype(float))
        self.design = design * self.root[:, None]
        self.pinv = np.linalg.pinv(self.design, rcond=1e-12)
        self.ci, self.ti = ci, ti

    def residual(self, z: np.ndarray) -> np.ndarray:
        """``z`` (``C × T``) less its weighted projection on the indicators (0 on empty cells)."""
        v = z.reshape(-1)[self.cells] * self.root
        for _ in range(2):  # one refinement pass
            v = v - self.design @ (self.pinv @ v)
        out = np.zeros(self.shape[0] * self.shape[1])
        out[self.cells] = v / self.root
        return out.reshape(self.shape)

    def connected_sets(self) -> int:
        """Connected sets of cohorts and periods linked by a non-empty cell."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n_c, n_t = self.shape
        graph = coo_matrix((np.ones(self.cells.size), (self.ci, n_c + self.ti)), shape=(n_c + n_t, n_c + n_t))
        used = np.zeros(n_c + n_t, dtype=bool)
        used[self.ci] = True
        used[n_c + self.ti] = True
        _, labels = connected_components(graph, directed=False)
        return int(np.unique(labels[used]).size)


def twfe_fit_grid(stats: CrossSectionMoments, regressors: Sequence[tuple[str, np.ndarray]]) -> TWFEFit:
    """TWFE fit of repeated cross-sections (cohort and period fixed effects) on regressors given per cohort and
    period, from the per cohort × period counts, sums and sums of squares (clustered: per cluster × cohort ×
    period counts and sums; otherwise by observation, a heteroskedasticity-robust variance), with the in-memory
    solver's small-sample factor (``K`` counts the regressors and the fixed effects not nested in the clusters, less
    one per connected set)."""
    count = stats.count.astype(float)
    n_obs = int(count.sum())
    grid = _Grid(stats.count)
    kept, absorbed = _partial_out(regressors, grid.residual, count)
    names = tuple(n for n, _ in kept)
    clustered = stats.cluster_sums is not None and stats.cluster_count is not None
    n_c = count.shape[0]
    if clustered and stats.cluster_count is not None:
        occupied = stats.cluster_count > 0
        n_clusters = int(occupied.shape[0])
        cohort_nested = bool(np.all(occupied.any(axis=2).sum(axis=0)[count.sum(axis=1) > 0] == 1))
        period_nested = bool(np.all(occupied.any(axis=1).sum(axis=0)[count.sum(axis=0) > 0] == 1))
    else:
        n_clusters = n_obs
        cohort_nested = bool(np.all(count.sum(axis=1)[count.sum(axis=1) > 0] == 1))
        period_nested = bool(np.all(count.sum(axis=0)[count.sum(axis=0) > 0] == 1))
    n_levels_c = int((count.sum(axis=1) > 0).sum())
    n_levels_t = int((count.sum(axis=0) > 0).sum())
    fe_k = (0 if cohort_nested else n_levels_c) + (0 if period_nested else n_levels_t)
    if not cohort_nested and not period_nested:
        fe_k -= grid.connected_sets()
    dof_k = len(kept) + fe_k
    if not kept:
        return TWFEFit(names, np.zeros(0), np.zeros((0, 0)), tuple(absorbed), n_obs, n_c, n_clusters, dof_k)
    xd = np.stack([x for _, x in kept], axis=-1)  # C × T × p
    xtx = np.einsum("ct,ctp,ctq->pq", count, xd, xd)
    bread = _bread(xtx, names)
    beta = np.linalg.solve(xtx, np.einsum("ctp,ct->p", xd, stats.sums))
    means = stats.means()
    raw_x = np.stack([np.asarray(x, dtype=float) for n_, x in regressors if n_ in names], axis=-1)
    partial_fit = means - raw_x @ beta
    fitted = means - grid.residual(partial_fit)  # fixed effects + X β in every non-empty cell
    if clustered and stats.cluster_count is not None and stats.cluster_sums is not None:
        resid = stats.cluster_sums - stats.cluster_count * fitted[None, :, :]
        scores = np.einsum("ctp,hct->hp", xd, resid)
        meat = scores.T @ scores
    else:  # each observation its own cluster: Σ_i (y_i − f_ct)² = SS_ct + N_ct (ȳ_ct − f_ct)²
        sq = stats.ss + count * (means - fitted) ** 2
        meat = np.einsum("ct,ctp,ctq->pq", sq, xd, xd)
    cov = _sandwich(bread, meat, n_clusters=n_clusters, n_obs=n_obs, dof_k=dof_k)
    return TWFEFit(names, beta, cov, tuple(absorbed), n_obs, n_levels_c, n_clusters, dof_k)


def treatment_regressor(stats: PanelMoments | CrossSectionMoments) -> np.ndarray:
    """``1{G > 0, t >= G}`` per cohort and period."""
    c = stats.cohorts[:, None]
    t = stats.times[None, :]
    return ((c > 0) & (t >= c)).astype(float)


def event_regressors(stats: PanelMoments | CrossSectionMoments,
                     reference: int = -1) -> list[tuple[str, float, np.ndarray]]:
    """Event-time indicators ``1{G > 0, t − G = e}`` per cohort and period (name, event time, ``C × T``) for every
    event time of the treated cohorts but ``reference`` (and the most negative one without never-treated units),
    as :func:`cteimpact.did.twfe.twfe_event_study` builds them."""
    c = stats.cohorts[:, None]
    t = stats.times[None, :]
    treated = np.broadcast_to(c > 0, (stats.cohorts.size, stats.times.size))
    ev = np.where(treated, t - c, np.nan)
    levels = np.unique(ev[treated])
    drop = {float(reference)}
    if not np.any(stats.cohorts == 0):
        drop.add(float(levels.min()))
    out = []
    for e in levels:
        if float(e) in drop:
            continue
        name = f"e{int(e) if float(e).is_integer() else e}"
        out.append((name, float(e), (ev == e).astype(float)))
    return out


def twfe_sufficient(table: ir.Table, *, outcome: str, unit: str | None, time: str, cohort: str,
                    cluster: str | None = None, panel: bool = True,
                    event_study: bool = False, reference: int = -1, level: float = 0.95, balance: bool = False,
                    max_rows: int = DEFAULT_MAX_ROWS, source: str = "engine table",
                    statistics: PanelMoments | None = None) -> TWFEResult:
    """TWFE coefficient (and event study) of a balanced panel held by a database engine, from sufficient statistics;
    equal to :func:`cteimpact.did.twfe.twfe` on the same data (to rounding).

    Parameters
    ----------
    table
        Ibis table expression: one row per unit and period.
    outcome, unit, time, cohort
        Outcome, unit identifier, period and first treated period (0: never treated).
    cluster
        Cluster identifier constant within units (default: clustered by unit; by observation for repeated
        cross-sections).
    panel
        ``False`` for repeated cross-sections (no unit; cohort and period fixed effects, from one query of
        (cohorts × periods), or (clusters × cohorts × periods), rows).
    event_study
        Also fit the event-study TWFE (reference event time ``reference``).
    level
        Confidence level (t with ``G − 1`` degrees of freedom).
    balance
        Drop rows missing a value and then the units not observed in every period, in the engine, as the in-memory
        preparation does (default: refuse them).
    max_rows, source
        Most rows a query may bring to the client; name of the data in the sample flow.
    statistics
        Sufficient statistics already computed (``control="never"``, no anticipation, cross-products when not
        clustered), instead of querying ``table``.
    """
    level = check_level(level)
    if statistics is not None and (statistics.layout.anticipation != 0 or statistics.layout.only_comparison
                                   or statistics.layout.columns.cluster != cluster):
        raise OptionError("the statistics given were computed with anticipation, not-yet-treated comparisons without "
                          "never-treated units, or another cluster column; TWFE needs control='never', no "
                          "anticipation and the same cluster column")
    cols = PanelColumns(outcome=outcome, unit=unit if panel else None, time=time, cohort=cohort, cluster=cluster)
    if panel:
        present_unit(cols)  # an OptionError without a unit column
    st = statistics if panel and statistics is not None else balanced_moments(
        table, cols, panel=panel, control="never", anticipation=0, max_rows=max_rows, source=source,
        cross_products=cluster is None, balance=balance)
    return twfe_from_statistics(st, event_study=event_study, reference=reference, level=level)


def twfe_from_statistics(st: PanelMoments | CrossSectionMoments, *, event_study: bool = False, reference: int = -1,
                         level: float = 0.95) -> TWFEResult:
    """The TWFE result of the data the statistics describe (as prepared for them: with the options of a
    Callaway–Sant'Anna fit this is that fit's TWFE comparison, as
    :func:`cteimpact.did.twfe.twfe_from_prepared` gives it in memory)."""
    level = check_level(level)
    cols = st.layout.columns
    outcome, unit, time, cohort, cluster = cols.outcome, cols.unit, cols.time, cols.cohort, cols.cluster
    panel = isinstance(st, PanelMoments)

    def fit_of(regs: Sequence[tuple[str, np.ndarray]]) -> TWFEFit:
        return twfe_fit(st, regs) if isinstance(st, PanelMoments) else twfe_fit_grid(st, regs)

    d = treatment_regressor(st)
    if np.all(d == d.flat[0]):
        raise DesignError("the treatment indicator does not vary: no TWFE coefficient")
    fit = fit_of([("treated", d)])
    if "treated" not in fit.names:
        raise DesignError("the treatment indicator is absorbed by the fixed effects")
    est = float(fit.params[0])
    se = float(np.sqrt(fit.cov[0, 0]))
    df = fit.n_clusters - 1
    tcrit = float(stats.t.ppf(1 - size_of(level) / 2, df))
    clustered_by = cluster or ("unit" if panel else "observation")
    entity = "unit" if panel else "cohort"
    desc = f"{entity} and period fixed effects, clustered by {clustered_by} ({fit.n_clusters} clusters)"
    es = es_cov = None
    if event_study:
        evs = event_regressors(st, reference)
        ef = fit_of([(name, x) for name, _, x in evs])
        when = {name: e for name, e, _ in evs}
        es = pd.DataFrame({"event_time": [when[n] for n in ef.names], "estimate": ef.params,
                           "std_error": np.sqrt(np.diag(ef.cov))})
        es_cov = ef.cov
    stat = est / se if se > 0 and math.isfinite(se) else math.nan
    p = float(2 * stats.t.sf(abs(stat), df)) if math.isfinite(stat) else math.nan
    term = "TWFE coefficient on the treatment indicator (unit or cohort and period fixed effects)"
    rows = [EffectEstimate(f"{outcome}[twfe]", outcome, term, est, se, stat, p, est - tcrit * se, est + tcrit * se,
                           level, "conventional")]
    if es is not None:
        for rec in es.to_dict(orient="records"):
            e = float(rec["event_time"])
            rows.append(normal_row(f"{outcome}[twfe,event={e:g}]", outcome,
                                   f"TWFE event-study coefficient at event time {e:g}", float(rec["estimate"]),
                                   float(rec["std_error"]), level=level, df=df))
    options = {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort, "cluster": cluster, "weights": None,
               "data_mode": "panel" if panel else "rcs", "anticipation": int(st.layout.anticipation),
               "event_study": event_study,
               "wild_bootstrap": None, "wild_weights": None, "seed": None, "level": level,
               "backend": "sufficient statistics"}
    return TWFEResult(Coefficient(est), se, est - tcrit * se, est + tcrit * se, fit.n_obs, fit.n_units,
                      fit.n_clusters, desc, event_study=es, event_cov=es_cov, estimates=tuple(rows), options=options,
                      sample_flow=st.layout.flow)

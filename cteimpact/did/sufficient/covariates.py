"""Callaway–Sant'Anna with numeric covariates on a balanced panel, from aggregate queries (issue 14).

Each cell ``(g, t)`` compares cohort ``g`` with its comparison cohorts from base period ``b`` to ``t``, with the
covariates of the earlier period ``e = min(t, b)`` (as :mod:`cteimpact.did.grouptime` does, time-varying covariates
allowed), by the 2×2 estimators of :func:`cteimpact.did.twobytwo.did_panel`. Every quantity they need is a sum over
units of the cell's sample (cohort ``g`` and the comparison cohorts) of an expression in a unit's outcome change
``ΔY = Y_t − Y_b`` and covariates ``x = (1, X_e)``; the engine computes those sums by cohort from one row per unit
(:mod:`cteimpact.did.sufficient.covariate_queries`), and the small algebra runs here.

* ``reg`` (outcome regression): ``β = (X_0'X_0)⁻¹ X_0'ΔY`` over the comparison units; ``ATT = (Σ_1 ΔY − Σ_1 x'β)
  / N_1``. The influence function (scaled to the ``n`` units as in memory) is ``(n / N_1)(ΔY − x'β − ATT)`` for
  a treated unit and ``−(n / N_1)(ΔY − x'β) x'h`` for a comparison unit, ``h = (X_0'X_0)⁻¹ Σ_1 x``.
* ``ipw`` and ``dr``: a logit propensity score fitted by Newton's method as
  :func:`~cteimpact.did.twobytwo.logit_fit` does (same start, same step, same stopping rule
  ``max|step| <= 1e-12 (1 + max|β|)``, at most 100 steps), each step one query for every logit still iterating
  (one logit per sample: treated cohort, comparison cohorts and covariate period). Then one query of the
  propensity-weighted sums (``w_c = p / (1 − p)`` for comparison units below ``trim_level``, the overlap check
  ``max p < 0.999`` and the information matrix at the estimate), from which the Hájek means, the doubly robust
  residual means and the estimation effects of the logit and of the regression follow.

Finally one query computes every cell's influence function per unit (a CASE on the unit's cohort) and returns its
sums and sums of products by cohort (or its sums by cluster and cohort): the Gram matrix (or cluster sums) of the
extended influence base of :mod:`cteimpact.did.influence`, from which every aggregation's covariance follows as in
memory.

Queries per fit, besides the layout and panel checks: the covariate summary, the per-cell sums (with the first
logit step), one per further logit step, the propensity-weighted sums (``ipw``, ``dr``) and the influence moments.
``reg``: 3; ``ipw`` / ``dr``: 3 plus the Newton steps (5 or 6 on mpdta and the tests' generated panel).

Numerical notes: regressions are solved from their normal equations on covariates centred by their overall means
(the in-memory path uses a QR least-squares solve on the raw covariates; the fitted values agree to rounding). A
regression is refused as singular when the smallest eigenvalue of its scaled cross-product matrix is below
``1e-12`` of the largest, or when R's ``rcond`` of ``X_0'X_0 / n`` is below machine precision (the in-memory test);
the in-memory least-squares rank test is stricter for data that are nearly but not exactly collinear.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
from scipy.special import expit as np_expit

from cteimpact.did.estimator import refuse_unusable_covariate
from cteimpact.did.grouptime import BasePeriod, ControlGroup
from cteimpact.did.sufficient.covariate_queries import (
    CovariateSummary,
    SumBatch,
    covariate_summary,
    expit,
    unit_rows,
)
from cteimpact.did.sufficient.cs import SufficientGroupTime, _design, _warn_failures
from cteimpact.did.sufficient.queries import DEFAULT_MAX_ROWS, PanelMoments
from cteimpact.did.twobytwo import Method, _rcond
from cteimpact.errors import DesignError, EstimationError
from cteimpact.limits import refuse_magnitude

__all__ = ["check_covariates", "group_time_effects_covariates"]

_EPS = float(np.finfo(float).eps)
_RANK_TOL = 1e-12
"""Smallest eigenvalue, relative to the largest, of a regression's scaled cross-product matrix below which it is
singular."""
_COLLINEAR_TOL = 1e-10
"""Smallest eigenvalue of the covariates' correlation matrix (over every unit and period), per covariate, below which
they are refused as collinear (exactly collinear covariates give ~1e-16)."""
_LOGIT_TOL = 1e-12
_LOGIT_MAX_ITER = 100
_OLS_SINGULAR = ("the covariate matrix of the outcome regression is singular (collinear covariates or too few "
                 "observations)")
_OLS_RCOND = "the regression design matrix is singular"
_PS_SOLVE = "the propensity-score information matrix is singular (collinear covariates or no overlap)"
_PS_DIVERGED = ("the propensity-score logit did not converge (complete separation: no overlap between treated and "
                "comparison units)")
_PS_OVERLAP = "overlap condition violated: some estimated propensity scores reach 0.999"
_PS_INVERSE = "the propensity-score information matrix is singular"
_NOT_FINITE = "the estimate is not finite"


def check_covariates(summary: CovariateSummary) -> None:
    """Refuse covariates the 2×2 regressions cannot use, as the in-memory estimator does (magnitude, constant, scale;
    the same messages), and covariates that are collinear with each other.

    Raises
    ------
    DesignError
        Naming the covariate(s) and the numbers.
    """
    for j, name in enumerate(summary.names):
        lo, hi, mean, sd = (float(summary.low[j]), float(summary.high[j]), float(summary.mean[j]),
                            float(summary.sd[j]))
        refuse_magnitude(max(abs(lo), abs(hi)), role="covariate", column=name)
        refuse_unusable_covariate(name, mean=mean, sd=sd, constant=lo == hi, value=lo)
    k = len(summary.names)
    if k >= 2:
        vals, vecs = np.linalg.eigh(summary.corr)
        if not vals[0] > _COLLINEAR_TOL * k:
            involved = [summary.names[j] for j in np.flatnonzero(np.abs(vecs[:, 0]) > 0.1)]
            raise DesignError(
                f"covariates {', '.join(repr(c) for c in involved)} are collinear over the {summary.n_values:,} "
                f"unit-period values (smallest eigenvalue of their correlation matrix {vals[0]:.2e}): the 2×2 "
                "outcome regressions and propensity scores cannot separate them; remove one of them")


@dataclass
class _Model:
    """A logit propensity score: its sample (treated cohort and comparison cohorts, positions), covariate period
    and state."""

    treated: int
    controls: tuple[int, ...]
    period: int
    beta: np.ndarray
    iterations: int = 0
    converged: bool = False
    failure: str | None = None
    index: int = 0
    names: dict[str, Any] = field(default_factory=dict)
    info_inverse: np.ndarray | None = None

    @property
    def cohorts(self) -> tuple[int, ...]:
        return (self.treated, *self.controls)

    @property
    def active(self) -> bool:
        return not self.converged and self.failure is None


@dataclass
class _CellSpec:
    """A cell to estimate: its index, treated and comparison cohorts (positions), periods and what it finds."""

    k: int
    treated: int
    controls: tuple[int, ...]
    t: int
    b: int
    model: _Model | None = None
    failure: str | None = None
    att: float = math.nan
    parts: dict[str, Any] = field(default_factory=dict)

    @property
    def period(self) -> int:
        return min(self.t, self.b)


class CentredCovariates:
    """The covariates' centres ``m`` (``centre``) and the maps between coefficients on ``(1, X − m)``, in which the
    engine's sums are formed, and on ``(1, X)``; shared by the panel and the repeated cross-sections."""

    centre: np.ndarray

    @staticmethod
    def dot(coef: np.ndarray, xs: Sequence[ir.NumericValue]) -> ir.NumericValue:
        """The engine expression of the linear index ``Σ coef_j x_j``."""
        out = xs[0] * float(coef[0])
        for c, x in zip(coef[1:], xs[1:], strict=True):
            out = out + x * float(c)
        return out

    def uncentred(self, coef: np.ndarray) -> np.ndarray:
        """Coefficients on ``(1, X)`` of the linear index with coefficients ``coef`` on ``(1, X − m)``."""
        out = np.array(coef, dtype=float)
        out[0] = coef[0] - float(np.dot(self.centre, coef[1:]))
        return out

    def uncentred_gram(self, gram: np.ndarray) -> np.ndarray:
        """``X'X`` on ``(1, X)`` from the one on ``(1, X − m)``."""
        a = np.eye(gram.shape[0])
        a[1:, 0] = self.centre
        return a @ gram @ a.T


class _Fit(CentredCovariates):
    """The engine-side unit rows with the centred covariates and the outcome changes, and the expressions of a
    cell's sums."""

    def __init__(self, wide: ir.Table, centre: np.ndarray, n_cov: int, pairs: Sequence[tuple[int, int]]) -> None:
        self.n_cov = n_cov
        periods = sorted({min(t, b) for t, b in pairs})
        self.wide = wide.mutate(**{f"cte_z{j}_{p}": wide[f"cte_x{j}_{p}"] - float(centre[j])
                                   for j in range(n_cov) for p in periods},
                                **{f"cte_dy{t}_{b}": wide[f"cte_y{t}"] - wide[f"cte_y{b}"] for t, b in pairs})
        self.centre = centre

    def xs(self, period: int, table: ir.Table | None = None) -> list[ir.NumericValue]:
        """``(1, X_e − m)`` in the engine."""
        w = self.wide if table is None else table
        return [w.cte_one, *(w[f"cte_z{j}_{period}"] for j in range(self.n_cov))]

    def dy(self, t: int, b: int, table: ir.Table | None = None) -> ir.NumericValue:
        """``Y_t − Y_b`` in the engine."""
        w = self.wide if table is None else table
        return w[f"cte_dy{t}_{b}"]



def _regression_failure(gram: np.ndarray, n0: float, n_k: float, fit: _Fit) -> tuple[str | None, str | None]:
    """The least-squares rank failure and the ``rcond`` failure of the comparison units' regression."""
    p = gram.shape[0]
    d = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    if n0 < p or not np.all(d > 0):
        return _OLS_SINGULAR, _OLS_RCOND
    vals = np.linalg.eigvalsh(gram / np.outer(d, d))
    rank = None if vals[0] > _RANK_TOL * vals[-1] else _OLS_SINGULAR
    rc = None if _rcond(fit.uncentred_gram(gram) / n_k) >= _EPS else _OLS_RCOND
    return rank, rc


def group_time_effects_covariates(table: ir.Table, stats: PanelMoments, *, control: ControlGroup = "never",
                                  base_period: BasePeriod = "varying", anticipation: int = 0, method: Method = "dr",
                                  trim_level: float = 0.995,
                                  max_rows: int = DEFAULT_MAX_ROWS) -> SufficientGroupTime:
    """Every ATT(g,t) with covariates and the second moments of the extended influence base (see the module
    docstring).

    Parameters
    ----------
    table
        The Ibis table the statistics were computed from.
    stats
        The balanced panel's statistics (:func:`~cteimpact.did.sufficient.queries.panel_moments` with the
        covariates in its columns): the layout, the recodings and the balancing decide the units used.
    control, base_period, anticipation, method, trim_level
        As for :class:`~cteimpact.did.estimator.CallawaySantAnna`.
    max_rows
        Most rows one query may return to the client.

    Raises
    ------
    DesignError
        A covariate constant, too large, on an unusable scale, or collinear with the others.
    """
    design = _design(stats, control, base_period, anticipation, method)
    layout = stats.layout
    names = layout.columns.covariates
    n_t = int(stats.times.size)
    clustered = stats.cluster_labels is not None
    wide = unit_rows(table, layout)
    summary = covariate_summary(wide, names, n_t, max_rows=max_rows)
    check_covariates(summary)
    queries = 1
    fetched = 1
    att, n_tr, n_co, failures = design.cell_outputs()
    c_pos = design.c_pos
    counts = stats.count.astype(float)
    specs: list[_CellSpec] = []
    for k, cell in design.cells_to_estimate():
        gi = c_pos.get(cell.group)
        ci = tuple(c_pos[c] for c in cell.controls if c in c_pos)
        if gi is None:
            failures[k] = "no units in the cohort"
            continue
        if not ci:
            failures[k] = "no comparison units"
            continue
        specs.append(_CellSpec(k, gi, ci, cell.t_idx, cell.b_idx))
    fit = _Fit(wide, summary.mean, len(names), sorted({(s.t, s.b) for s in specs}))

    # pass 1: cross-products of the covariates, and with the outcome changes, by cohort (with the first logit step)
    periods = sorted({s.period for s in specs})
    pairs = sorted({(s.t, s.b) for s in specs})
    models: dict[tuple[int, tuple[int, ...], int], _Model] = {}
    if method in ("dr", "ipw"):
        for s in specs:
            key = (s.treated, s.controls, s.period)
            if key not in models:
                n1 = counts[s.treated]
                p1 = n1 / (n1 + counts[list(s.controls)].sum())
                start = np.zeros(len(names) + 1)
                start[0] = np.log(p1 / (1 - p1))
                models[key] = _Model(s.treated, s.controls, s.period, start, index=len(models))
            s.model = models[key]
    batch = SumBatch(fit.wide)
    grams: dict[int, list[list[str]]] = {}
    changes: dict[tuple[int, int], list[str]] = {}
    iterations = 0
    while True:
        active = [m for m in models.values() if m.active]
        tbl = fit.wide.mutate(**{f"cte_p{m.index}": expit(fit.dot(m.beta, fit.xs(m.period))) for m in active})
        tbl = tbl.mutate(**{f"cte_v{m.index}": tbl[f"cte_p{m.index}"] * (1.0 - tbl[f"cte_p{m.index}"])
                            for m in active})
        batch = batch.on(tbl)
        if not grams:
            grams = {e: batch.matrix(tbl.cte_one, fit.xs(e, tbl)) for e in periods}
            changes = {(t, b): batch.vector(fit.dy(t, b, tbl), fit.xs(min(t, b), tbl)) for t, b in pairs}
        for m in active:
            xs = fit.xs(m.period, tbl)
            m.names = {"score": batch.vector(tbl[f"cte_p{m.index}"], xs),
                       "info": batch.matrix(tbl[f"cte_v{m.index}"], xs)}
        fetched += batch.run(layout, by_cluster=False, max_rows=max_rows, what="covariate sums (cohort)")
        queries += 1
        if not active:
            break
        iterations += 1
        for m in active:
            _newton_step(m, batch, grams[m.period], fit)
        if not any(m.active for m in models.values()):
            break

    # the propensity-weighted sums at the estimates
    estimated_models = [m for m in models.values() if m.failure is None]
    stage = _propensity_stage(fit, estimated_models, trim_level)
    weighted: dict[int, list[str]] = {}
    if models:
        batch = batch.on(stage)
        weighted = _weighted_sums(batch, stage, fit, estimated_models, specs, with_cross=method == "dr")
        fetched += batch.run(layout, by_cluster=False, max_rows=max_rows, what="propensity-weighted sums (cohort)")
        queries += 1
        for m in estimated_models:
            _propensity_checks(m, batch)

    with np.errstate(divide="ignore", invalid="ignore"):
        for s in specs:
            _estimate_cell(s, batch, grams[s.period], changes[(s.t, s.b)], weighted.get(s.k), fit, method)
    for s in specs:
        if s.failure is not None:
            failures[s.k] = s.failure
            continue
        att[s.k] = s.att
        n_tr[s.k] = int(s.parts["n1"])
        n_co[s.k] = int(s.parts["n0"])
    failures = dict(sorted(failures.items()))
    _warn_failures(design.cells, failures)

    # the influence moments: one CASE per cell on the unit's cohort
    estimated = [s for s in specs if s.failure is None]
    table_psi = stage.mutate(**_influence_columns(estimated, fit, stats, stage))
    final = SumBatch(table_psi)
    k_cells = design.k_cells
    sums = {s.k: final.add(table_psi[f"cte_psi{s.k}"]) for s in estimated}
    prods: dict[tuple[int, int], str] = {}
    if not clustered:
        for i, a in enumerate(estimated):
            for b in estimated[i:]:
                prods[(a.k, b.k)] = final.add(table_psi[f"cte_psi{a.k}"] * table_psi[f"cte_psi{b.k}"])
    fetched += final.run(layout, by_cluster=clustered, max_rows=max_rows,
                         what="influence moments (cluster × cohort)" if clustered else "influence moments (cohort)")
    queries += 1
    moments = _base_moments(final, sums, prods, [c_pos[float(g)] for g in design.groups], k_cells, design.n_base,
                            clustered=clustered)
    stats_out = replace(stats, rows_fetched=stats.rows_fetched + fetched)
    empty = np.zeros((stats.cohorts.size, design.n_base))
    res = design.result(stats_out, counts, att=att, n_treated=n_tr, n_control=n_co, failures=failures,
                        moments=moments, intercepts=empty, slopes=empty[:, :, None])
    return replace(res, covariates=tuple(names), queries=queries, logit_iterations=iterations)


def _weighted_sums(batch: SumBatch, stage: ir.Table, fit: _Fit, models: Sequence[_Model],
                   specs: Sequence[_CellSpec], *, with_cross: bool) -> dict[int, list[str]]:
    """Register, for each logit at its estimate, the largest index, the information matrix and the comparison
    weights' sums ``Σ w_c x`` (and ``Σ w_c x x'`` for the doubly robust estimator), and for each cell ``Σ w_c ΔY x``;
    returns the cells' names."""
    for m in models:
        xs = fit.xs(m.period, stage)
        wc = stage[f"cte_w{m.index}"]
        m.names = {"eta": batch.add(stage[f"cte_e{m.index}"], how="max"),
                   "info": batch.matrix(stage[f"cte_v{m.index}"], xs), "w": batch.vector(wc, xs)}
        if with_cross:
            m.names["wxx"] = batch.matrix(wc, xs)
    return {s.k: batch.vector(stage[f"cte_w{s.model.index}"] * fit.dy(s.t, s.b, stage), fit.xs(s.period, stage))
            for s in specs if s.model is not None and s.model.failure is None}


def _base_moments(final: SumBatch, sums: dict[int, str], prods: dict[tuple[int, int], str], groups_pos: list[int],
                  k_cells: int, m_base: int, *, clustered: bool) -> np.ndarray:
    """The extended influence base's Gram matrix (``m × m``) or cluster sums (``G × m``) from the cells' sums (and
    sums of products) by cohort or by cluster and cohort, and the units counted there: the columns ``1{G = g}`` and
    the constant are counts."""
    count_by = final.values["cte_cnt"]
    if clustered:
        moments = np.zeros((count_by.shape[0], m_base))
        for k, nm in sums.items():
            moments[:, k] = final.values[nm].sum(axis=1)
        for j, gp in enumerate(groups_pos):
            moments[:, k_cells + j] = count_by[:, gp]
        moments[:, -1] = count_by.sum(axis=1)
        return moments
    moments = np.zeros((m_base, m_base))
    for (ka, kb), nm in prods.items():
        moments[ka, kb] = moments[kb, ka] = final.values[nm].sum()
    for k, nm in sums.items():
        col = final.values[nm]
        for j, gp in enumerate(groups_pos):
            moments[k, k_cells + j] = moments[k_cells + j, k] = col[gp]
        moments[k, -1] = moments[-1, k] = col.sum()
    for j, gp in enumerate(groups_pos):
        moments[k_cells + j, k_cells + j] = count_by[gp]
        moments[k_cells + j, -1] = moments[-1, k_cells + j] = count_by[gp]
    moments[-1, -1] = count_by.sum()
    return moments


def _newton_step(m: _Model, batch: SumBatch, gram_names: list[list[str]], fit: _Fit) -> None:
    """One step of :func:`~cteimpact.did.twobytwo.logit_fit` from the sums at the current coefficients: score
    ``Σ x (d − p)`` and information ``Σ p (1 − p) x x'`` over the sample, in the centred coordinates; the stopping
    rule on the coefficients of the raw covariates."""
    treated = batch.mat(gram_names, (m.treated,))[0]
    score = treated - batch.vec(m.names["score"], m.cohorts)
    newton_update(m, score, batch.mat(m.names["info"], m.cohorts), centre=fit.centre, uncentred=fit.uncentred)


def newton_update(m: Any, score: np.ndarray, info: np.ndarray, *, centre: np.ndarray,
                  uncentred: Callable[[np.ndarray], np.ndarray]) -> None:
    """Move the logit model ``m`` (its ``beta``, ``iterations``, ``failure``, ``converged``) one Newton step from its
    ``score`` and ``information`` in the centred coordinates, with :func:`~cteimpact.did.twobytwo.logit_fit`'s
    stopping rule on the coefficients of the raw covariates (``centre`` the covariates' centres, ``uncentred`` the
    map back to raw coefficients); shared by the panel and the repeated cross-sections."""
    try:
        step = np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        m.failure = _PS_SOLVE
        return
    m.beta = m.beta + step
    m.iterations += 1
    beta_raw = uncentred(m.beta)
    step_raw = step.copy()
    step_raw[0] = step[0] - float(np.dot(centre, step[1:]))
    if not np.all(np.isfinite(beta_raw)):
        m.failure = _PS_DIVERGED
    elif np.max(np.abs(step_raw)) <= _LOGIT_TOL * (1.0 + np.max(np.abs(beta_raw))):
        m.converged = True
    elif m.iterations >= _LOGIT_MAX_ITER:
        m.failure = _PS_DIVERGED


def _propensity_checks(m: _Model, batch: SumBatch) -> None:
    """:func:`~cteimpact.did.twobytwo.propensity_parts`'s checks at the estimate: overlap (no score reaching
    0.999) and an invertible information matrix."""
    if float(np_expit(batch.max_over(m.names["eta"], m.cohorts))) >= 0.999:
        m.failure = _PS_OVERLAP
        return
    try:
        m.info_inverse = np.linalg.inv(batch.mat(m.names["info"], m.cohorts))
    except np.linalg.LinAlgError:
        m.failure = _PS_INVERSE


def _estimate_cell(s: _CellSpec, batch: SumBatch, gram_names: list[list[str]], change_names: list[str],
                   weighted_names: list[str] | None, fit: _Fit, method: Method) -> None:
    """The cell's estimate and the constants of its influence function (``s.parts``), or its failure, in the
    in-memory estimator's order of checks."""
    treated, controls = (s.treated,), s.controls
    g1 = batch.mat(gram_names, treated)
    g0 = batch.mat(gram_names, controls)
    n1, n0 = g1[0, 0], g0[0, 0]
    n_k = n1 + n0
    sx1 = g1[0]
    sum_dy1 = batch.vec(change_names, treated)[0]
    xdy0 = batch.vec(change_names, controls)
    parts: dict[str, Any] = {"n1": n1, "n0": n0}
    m = s.model
    if m is not None and m.failure is not None:
        s.failure = m.failure
        return
    if method in ("reg", "dr"):
        rank, rc = _regression_failure(g0, n0, n_k, fit)
        if rank is not None or rc is not None:
            s.failure = rank or rc
            return
        beta = np.linalg.solve(g0, xdy0)
        parts["beta"] = beta
        parts["h"] = np.linalg.solve(g0, sx1)
    if method == "reg":
        eta_t = (sum_dy1 - float(sx1 @ parts["beta"])) / n1
        s.att = eta_t
        parts["att"] = eta_t
    else:
        if m is None or m.info_inverse is None or weighted_names is None:
            raise EstimationError("the propensity score of a cell was not estimated (an internal inconsistency)")
        wsum = batch.vec(m.names["w"], controls)
        wdy = batch.vec(weighted_names, controls)
        w_c = wsum[0]
        if method == "ipw":
            eta_t = sum_dy1 / n1
            eta_c = wdy[0] / w_c
            r = m.info_inverse @ (wdy - eta_c * wsum)
        else:
            beta = parts["beta"]
            wxx = batch.mat(m.names["wxx"], controls)
            eta_t = (sum_dy1 - float(sx1 @ beta)) / n1
            wres = wdy - wxx @ beta
            eta_c = wres[0] / w_c
            r = m.info_inverse @ (wres - eta_c * wsum)
            parts["h3"] = np.linalg.solve(g0, wsum)
        s.att = eta_t - eta_c
        parts.update(eta_t=eta_t, eta_c=eta_c, r=r, w_c=w_c)
    if not np.isfinite(s.att):
        s.failure = _NOT_FINITE
        return
    s.parts = parts


def _propensity_stage(fit: _Fit, models: Sequence[_Model], trim_level: float) -> ir.Table:
    """The unit rows with, for each logit at its estimate, the index ``cte_e``, the score ``cte_p``, ``p (1 − p)``
    (``cte_v``) and the comparison weight ``p / (1 − p)`` below ``trim_level``, else 0 (``cte_w``)."""
    tbl = fit.wide.mutate(**{f"cte_e{m.index}": fit.dot(m.beta, fit.xs(m.period)) for m in models})
    tbl = tbl.mutate(**{f"cte_p{m.index}": expit(tbl[f"cte_e{m.index}"]) for m in models})
    out: dict[str, Any] = {}
    for m in models:
        p = tbl[f"cte_p{m.index}"]
        out[f"cte_v{m.index}"] = p * (1.0 - p)
        out[f"cte_w{m.index}"] = ibis.ifelse(p < trim_level, p / (1.0 - p), 0.0)
    return tbl.mutate(**out)


def _influence_columns(specs: Sequence[_CellSpec], fit: _Fit, stats: PanelMoments,
                       w: ir.Table) -> dict[str, Any]:
    """Each estimated cell's influence function of a unit (scaled to the ``n`` units of the panel, as in memory)
    as an engine expression over ``w`` (:func:`_propensity_stage`): its treated-unit form for cohort ``g``, its
    comparison-unit form for the comparison cohorts, 0 otherwise."""
    n = float(stats.n_units)
    cohorts = stats.cohorts
    out: dict[str, Any] = {}
    for s in specs:
        xs = fit.xs(s.period, w)
        dy = fit.dy(s.t, s.b, w)
        q = s.parts
        n1 = float(q["n1"])
        if "beta" in q:
            fitted = fit.dot(q["beta"], xs)
            res = dy - fitted
        m = s.model
        if m is None:  # reg
            treated = (res - float(q["att"])) * (n / n1)
            control = -(n / n1) * res * fit.dot(q["h"], xs)
        else:
            p = w[f"cte_p{m.index}"]
            wc = w[f"cte_w{m.index}"]
            w_c, eta_t, eta_c = float(q["w_c"]), float(q["eta_t"]), float(q["eta_c"])
            xr = fit.dot(q["r"], xs)
            if "beta" not in q:  # ipw
                treated = n * ((dy - eta_t) / n1 - (1.0 - p) * xr / w_c)
                control = n * (p * xr - wc * (dy - eta_c)) / w_c
            else:  # dr
                treated = n * ((res - eta_t) / n1 - (1.0 - p) * xr / w_c)
                control = n * (-(res * fit.dot(q["h"], xs)) / n1
                               - (wc * (res - eta_c) - p * xr - res * fit.dot(q["h3"], xs)) / w_c)
        g_val = float(cohorts[s.treated])
        c_vals = [float(cohorts[c]) for c in s.controls]
        out[f"cte_psi{s.k}"] = ibis.cases((w.cte_g == g_val, treated), (w.cte_g.isin(c_vals), control),
                                          else_=ibis.literal(0.0, type="float64"))
    return out

"""Callaway–Sant'Anna with numeric covariates on repeated cross-sections, from aggregate queries (issue 14).

Each cell ``(g, t)`` compares the observations of cohort ``g`` (``d = 1``) with those of its comparison cohorts
(``d = 0``) in periods ``t`` (``post = 1``) and ``b``, each observation with its own covariates ``x = (1, X)``, by
the 2×2 estimators of :func:`cteimpact.did.twobytwo.did_rcs` (every weight one). The sample splits into four
classes: treated later (``T1``), treated earlier (``T0``), comparison later (``C1``) and earlier (``C0``); each is a
set of (cohort, period) groups, so every sum the estimators need is a sum over groups of sums the engine computes
by cohort and period (:class:`~cteimpact.did.sufficient.covariate_queries.SumBatch` on a combined key).

* ``reg``: least squares of ``y`` on ``x`` over ``C0`` and over ``C1`` (``β_0``, ``β_1``); ``ATT = ȳ_T1 − ȳ_T0 −
  x̄_T'(β_1 − β_0)``. An observation's influence function (scaled to the ``n`` observations, as in memory):
  ``n [(y − ȳ_T1)/N_T1 − (x'Δβ − η_c)/N_T]`` in ``T1``, ``n [−(y − ȳ_T0)/N_T0 − (x'Δβ − η_c)/N_T]`` in ``T0``,
  ``∓ (n/N_T)(y − x'β_p) x'(X_p'X_p)⁻¹ Σ_T x`` in ``C1`` / ``C0``.
* ``ipw``: a logit of ``d`` on ``x`` over the cell's observations (Newton passes as
  :func:`~cteimpact.did.twobytwo.logit_fit`, batched over all logits), comparison weights ``w = p/(1 − p)`` below
  ``trim_level``, Hájek means by class, the logit's estimation effect ``n (d − p) x'r`` with
  ``r = I⁻¹ (m2_post − m2_pre)``.
* ``dr``: the locally efficient estimator (Sant'Anna & Zhao 2020, eq. 3.4) with least squares in all four classes,
  and its influence function term by term as :func:`~cteimpact.did.twobytwo.did_rcs` forms it (the pre-period
  regressions' estimation effects subtracted). Every term is an observation's own values times constants formed
  from class sums, so none needs the rows.

The final query computes every cell's influence function per observation (a CASE on the cohort and period) and
returns its sums and sums of products by cohort and period (or its sums by cluster, cohort and period), from which
the extended influence base's Gram matrix (or cluster sums) follows as for panels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
from scipy.special import expit as np_expit

from cteimpact.did.grouptime import BasePeriod, ControlGroup
from cteimpact.did.sufficient.covariate_queries import SumBatch, covariate_summary, expit
from cteimpact.did.sufficient.covariates import (
    _EPS,
    _NOT_FINITE,
    _OLS_RCOND,
    _OLS_SINGULAR,
    _PS_INVERSE,
    _PS_OVERLAP,
    _RANK_TOL,
    CentredCovariates,
    _base_moments,
    check_covariates,
    newton_update,
)
from cteimpact.did.sufficient.cs import SufficientGroupTime, _design, _warn_failures
from cteimpact.did.sufficient.queries import (
    DEFAULT_MAX_ROWS,
    CrossSectionMoments,
    _literal,
    _outcome_expr,
    prepared_table,
)
from cteimpact.did.twobytwo import Method, _rcond
from cteimpact.errors import EstimationError

__all__ = ["group_time_effects_rcs_covariates"]

_INTERNAL = "a cell's regressions or propensity score were not estimated (an internal inconsistency)"


class _Obs(CentredCovariates):
    """The engine-side observations: ``cte_g`` the combined key ``cohort position × T + period position``,
    ``cte_c`` the cluster, ``cte_y`` the outcome, ``cte_z{j}`` the centred covariates, ``cte_one``."""

    def __init__(self, table: ir.Table, stats: CrossSectionMoments, names: Sequence[str]) -> None:
        layout = stats.layout
        cols = layout.columns
        t, g = prepared_table(table, layout)
        self.n_t = n_t = len(layout.time_values)
        # integer positions cast to doubles (PostgreSQL reads a bare 1.0 as a decimal)
        cpos = ibis.cases(*((g == float(c), i) for i, c in enumerate(layout.cohorts)), else_=-1).cast("float64")
        tpos = ibis.cases(*((t[cols.time] == _literal(v), k) for k, v in enumerate(layout.time_values)),
                          else_=-1).cast("float64")
        out: dict[str, Any] = {"cte_g": cpos * ibis.literal(n_t).cast("float64") + tpos,
                               "cte_y": _outcome_expr(t, cols), "cte_one": ibis.literal(1).cast("float64")}
        if cols.cluster is not None:
            out["cte_c"] = t[cols.cluster]
        for j, cov in enumerate(names):
            out[f"cte_x{j}_0"] = t[cov].cast("float64")
        self.raw = t.select(**out)
        self.n_cov = len(names)
        self.layout = replace(layout, cohorts=np.arange(layout.cohorts.size * n_t, dtype=float))
        self.table = self.raw
        self.centre = np.zeros(self.n_cov)

    def centred(self, centre: np.ndarray) -> None:
        self.centre = centre
        self.table = self.raw.mutate(**{f"cte_z{j}": self.raw[f"cte_x{j}_0"] - float(centre[j])
                                        for j in range(self.n_cov)})

    def xs(self, table: ir.Table | None = None) -> list[ir.NumericValue]:
        w = self.table if table is None else table
        return [w.cte_one, *(w[f"cte_z{j}"] for j in range(self.n_cov))]



@dataclass
class _Model:
    """A logit of ``d`` on ``x`` over a cell's four classes (combined keys)."""

    treated: tuple[int, ...]
    groups: tuple[int, ...]
    beta: np.ndarray
    index: int
    iterations: int = 0
    converged: bool = False
    failure: str | None = None
    names: dict[str, Any] = field(default_factory=dict)
    info_inverse: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return not self.converged and self.failure is None


@dataclass
class _Cell:
    k: int
    t1: tuple[int, ...]
    t0: tuple[int, ...]
    c1: tuple[int, ...]
    c0: tuple[int, ...]
    model: _Model | None = None
    failure: str | None = None
    att: float = math.nan
    parts: dict[str, Any] = field(default_factory=dict)

    @property
    def treated(self) -> tuple[int, ...]:
        return (*self.t1, *self.t0)

    @property
    def groups(self) -> tuple[int, ...]:
        return (*self.t1, *self.t0, *self.c1, *self.c0)


def group_time_effects_rcs_covariates(table: ir.Table, stats: CrossSectionMoments, *, control: ControlGroup = "never",
                                      base_period: BasePeriod = "varying", anticipation: int = 0,
                                      method: Method = "dr", trim_level: float = 0.995,
                                      max_rows: int = DEFAULT_MAX_ROWS) -> SufficientGroupTime:
    """Every ATT(g,t) of repeated cross-sections with covariates and the second moments of the extended influence
    base (see the module docstring).

    Parameters
    ----------
    table
        The Ibis table the statistics were computed from.
    stats
        :func:`~cteimpact.did.sufficient.queries.cross_section_moments` with the covariates in its columns.
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
    clustered = stats.cluster_labels is not None
    obs = _Obs(table, stats, names)
    summary = covariate_summary(obs.raw, names, 1, max_rows=max_rows)
    check_covariates(summary)
    obs.centred(summary.mean)
    queries = fetched = 1
    n_t = obs.n_t
    att, n_tr, n_co, failures = design.cell_outputs()
    c_pos = design.c_pos
    cells: list[_Cell] = []
    for k, cell in design.cells_to_estimate():
        gi = c_pos.get(cell.group)
        if gi is None:
            failures[k] = "no observations of the cohort"
            continue
        ci = [c_pos[c] for c in cell.controls if c in c_pos]
        t, b = cell.t_idx, cell.b_idx
        counts = stats.count
        empty = [(counts[gi, t], f"no units of the cohort in period {cell.time:g}"),
                 (counts[gi, b], f"no units of the cohort in period {cell.base:g}"),
                 (counts[ci, t].sum() if ci else 0, f"no comparison units in period {cell.time:g}"),
                 (counts[ci, b].sum() if ci else 0, f"no comparison units in period {cell.base:g}")]
        reason = next((r for v, r in empty if not v > 0), None)
        if reason is not None:
            failures[k] = reason
            continue
        cells.append(_Cell(k, (gi * n_t + t,), (gi * n_t + b,), tuple(c * n_t + t for c in ci),
                           tuple(c * n_t + b for c in ci)))

    models: list[_Model] = []
    if method in ("ipw", "dr"):
        for s in cells:
            n1 = float(stats.count.reshape(-1)[list(s.treated)].sum())
            n_all = float(stats.count.reshape(-1)[list(s.groups)].sum())
            p1 = n1 / n_all
            start = np.zeros(len(names) + 1)
            start[0] = np.log(p1 / (1 - p1))
            s.model = _Model(s.treated, s.groups, start, index=len(models))
            models.append(s.model)

    # pass 1 (with the first Newton step of every logit), then one pass per further step
    batch = SumBatch(obs.table)
    gram: list[list[str]] = []
    xy: list[str] = []
    iterations = 0
    while True:
        active = [m for m in models if m.active]
        tbl = obs.table.mutate(**{f"cte_p{m.index}": expit(obs.dot(m.beta, obs.xs())) for m in active})
        tbl = tbl.mutate(**{f"cte_v{m.index}": tbl[f"cte_p{m.index}"] * (1.0 - tbl[f"cte_p{m.index}"])
                            for m in active})
        batch = batch.on(tbl)
        xs = obs.xs(tbl)
        if not gram:
            gram = batch.matrix(tbl.cte_one, xs)
            xy = batch.vector(tbl.cte_y, xs)
        for m in active:
            m.names = {"score": batch.vector(tbl[f"cte_p{m.index}"], xs),
                       "info": batch.matrix(tbl[f"cte_v{m.index}"], xs)}
        fetched += batch.run(obs.layout, by_cluster=False, max_rows=max_rows, what="covariate sums (cohort × period)")
        queries += 1
        if not active:
            break
        iterations += 1
        for m in active:
            _newton_step(m, batch, gram, obs)
        if not any(m.active for m in models):
            break

    estimated = [m for m in models if m.failure is None]
    stage = _propensity_stage(obs, estimated, trim_level)
    if models:
        batch = batch.on(stage)
        xs = obs.xs(stage)
        for m in estimated:
            wc = stage[f"cte_w{m.index}"]
            m.names = {"eta": batch.add(stage[f"cte_e{m.index}"], how="max"),
                       "info": batch.matrix(stage[f"cte_v{m.index}"], xs), "w": batch.vector(wc, xs),
                       "wy": batch.vector(wc * stage.cte_y, xs)}
            if method == "dr":
                m.names["wxx"] = batch.matrix(wc, xs)
        fetched += batch.run(obs.layout, by_cluster=False, max_rows=max_rows,
                             what="propensity-weighted sums (cohort × period)")
        queries += 1
        for m in estimated:
            if float(np_expit(batch.max_over(m.names["eta"], m.groups))) >= 0.999:
                m.failure = _PS_OVERLAP
                continue
            try:
                m.info_inverse = np.linalg.inv(batch.mat(m.names["info"], m.groups))
            except np.linalg.LinAlgError:
                m.failure = _PS_INVERSE

    with np.errstate(divide="ignore", invalid="ignore"):
        for s in cells:
            _estimate(s, batch, gram, xy, obs, method)
    for s in cells:
        if s.failure is not None:
            failures[s.k] = s.failure
            continue
        att[s.k] = s.att
        n_tr[s.k] = int(s.parts["n_t"])
        n_co[s.k] = int(s.parts["n_c"])
    failures = dict(sorted(failures.items()))
    _warn_failures(design.cells, failures)

    ok = [s for s in cells if s.failure is None]
    table_psi = stage.mutate(**_influence_columns(ok, obs, stats.n_units, stage, method))
    final = SumBatch(table_psi)
    sums = {s.k: final.add(table_psi[f"cte_psi{s.k}"]) for s in ok}
    prods: dict[tuple[int, int], str] = {}
    if not clustered:
        for i, a in enumerate(ok):
            for b_ in ok[i:]:
                prods[(a.k, b_.k)] = final.add(table_psi[f"cte_psi{a.k}"] * table_psi[f"cte_psi{b_.k}"])
    fetched += final.run(obs.layout, by_cluster=clustered, max_rows=max_rows,
                         what="influence moments (cluster × cohort × period)" if clustered
                         else "influence moments (cohort × period)")
    queries += 1
    by_cohort = SumBatch(table_psi)
    for nm, arr in final.values.items():  # the combined keys summed over the periods: by (cluster ×) cohort
        by_cohort.values[nm] = arr.reshape(*arr.shape[:-1], -1, n_t).sum(axis=-1)
    moments = _base_moments(by_cohort, sums, prods, [c_pos[float(g)] for g in design.groups], design.k_cells,
                            design.n_base, clustered=clustered)
    stats_out = replace(stats, rows_fetched=stats.rows_fetched + fetched)
    n_c_all = stats.cohorts.size
    zeros = np.zeros((n_c_all, n_t, design.n_base))
    res = design.result(stats_out, stats.count.astype(float).sum(axis=1), att=att, n_treated=n_tr, n_control=n_co,
                        failures=failures, moments=moments, intercepts=zeros, slopes=zeros)
    return replace(res, covariates=tuple(names), queries=queries, logit_iterations=iterations)


def _newton_step(m: _Model, batch: SumBatch, gram: list[list[str]], obs: _Obs) -> None:
    """One step of :func:`~cteimpact.did.twobytwo.logit_fit` (as the panel version)."""
    score = batch.mat(gram, m.treated)[0] - batch.vec(m.names["score"], m.groups)
    newton_update(m, score, batch.mat(m.names["info"], m.groups), centre=obs.centre, uncentred=obs.uncentred)


def _propensity_stage(obs: _Obs, models: Sequence[_Model], trim_level: float) -> ir.Table:
    tbl = obs.table.mutate(**{f"cte_e{m.index}": obs.dot(m.beta, obs.xs()) for m in models})
    tbl = tbl.mutate(**{f"cte_p{m.index}": expit(tbl[f"cte_e{m.index}"]) for m in models})
    out: dict[str, Any] = {}
    for m in models:
        p = tbl[f"cte_p{m.index}"]
        out[f"cte_v{m.index}"] = p * (1.0 - p)
        out[f"cte_w{m.index}"] = ibis.ifelse(p < trim_level, p / (1.0 - p), 0.0)
    return tbl.mutate(**out) if out else tbl


def _ols(batch: SumBatch, gram: list[list[str]], xy: list[str], groups: tuple[int, ...], n_s: float, obs: _Obs
         ) -> tuple[np.ndarray | None, np.ndarray, str | None, str | None]:
    """Least squares over ``groups``: coefficients (centred coordinates), the cross-product matrix, and the rank
    and ``rcond`` failures (as :func:`~cteimpact.did.twobytwo.wls_fit` and ``_ols_inverse``)."""
    g = batch.mat(gram, groups)
    p = g.shape[0]
    d = np.sqrt(np.clip(np.diag(g), 0.0, None))
    if g[0, 0] < p or not np.all(d > 0):
        return None, g, _OLS_SINGULAR, _OLS_RCOND
    vals = np.linalg.eigvalsh(g / np.outer(d, d))
    rank = None if vals[0] > _RANK_TOL * vals[-1] else _OLS_SINGULAR
    rc = None if _rcond(obs.uncentred_gram(g) / n_s) >= _EPS else _OLS_RCOND
    beta = None if rank is not None else np.linalg.solve(g, batch.vec(xy, groups))
    return beta, g, rank, rc


def _estimate(s: _Cell, batch: SumBatch, gram: list[list[str]], xy: list[str], obs: _Obs, method: Method) -> None:
    """The cell's estimate and its influence function's constants, or its failure (the in-memory order)."""
    def sx(groups: tuple[int, ...]) -> np.ndarray:
        return batch.mat(gram, groups)[0]

    def sy(groups: tuple[int, ...]) -> float:
        return float(batch.vec(xy, groups)[0])

    n_t1, n_t0 = sx(s.t1)[0], sx(s.t0)[0]
    n_c1, n_c0 = sx(s.c1)[0], sx(s.c0)[0]
    n_s = n_t1 + n_t0 + n_c1 + n_c0
    q: dict[str, Any] = {"n_t": n_t1 + n_t0, "n_c": n_c1 + n_c0, "n_t1": n_t1, "n_t0": n_t0,
                         "ybar_t1": sy(s.t1) / n_t1, "ybar_t0": sy(s.t0) / n_t0}
    m = s.model
    if m is not None and m.failure is not None:
        s.failure = m.failure
        return
    if method == "reg":
        fits = [_ols(batch, gram, xy, grp, n_s, obs) for grp in (s.c0, s.c1)]
        for _, _, rank, _ in fits:
            if rank is not None:
                s.failure = rank
                return
        for _, _, _, rc in fits:
            if rc is not None:
                s.failure = rc
                return
        (b0, g0, _, _), (b1, g1, _, _) = fits
        if b0 is None or b1 is None:  # pragma: no cover (the rank was checked)
            raise EstimationError(_INTERNAL)
        sx_t = sx(s.treated)
        eta_c = float(sx_t @ (b1 - b0)) / q["n_t"]
        s.att = (q["ybar_t1"] - q["ybar_t0"]) - eta_c
        q.update(b0=b0, b1=b1, eta_c=eta_c, h0=np.linalg.solve(g0, sx_t), h1=np.linalg.solve(g1, sx_t))
    else:
        if m is None or m.info_inverse is None:
            s.failure = _PS_INVERSE
            return
        w1, w0 = batch.vec(m.names["w"], s.c1), batch.vec(m.names["w"], s.c0)
        wy1, wy0 = batch.vec(m.names["wy"], s.c1), batch.vec(m.names["wy"], s.c0)
        q.update(w1=w1[0], w0=w0[0])
        if method == "ipw":
            a_c1, a_c0 = wy1[0] / w1[0], wy0[0] / w0[0]
            s.att = (q["ybar_t1"] - q["ybar_t0"]) - (a_c1 - a_c0)
            m2 = (wy1 - a_c1 * w1) / w1[0] - (wy0 - a_c0 * w0) / w0[0]
            q.update(a_c1=a_c1, a_c0=a_c0, r=m.info_inverse @ m2)
        else:
            groups = (s.c0, s.c1, s.t0, s.t1)
            fits = [_ols(batch, gram, xy, grp, n_s, obs) for grp in groups]
            for _, _, rank, _ in fits:
                if rank is not None:
                    s.failure = rank
                    return
            bc0, bc1, bt0, bt1 = (f[0] for f in fits)
            if bc0 is None or bc1 is None or bt0 is None or bt1 is None:  # pragma: no cover (the rank was checked)
                raise EstimationError(_INTERNAL)
            sx_t1, sx_t0 = sx(s.t1), sx(s.t0)
            sx_t = sx_t1 + sx_t0
            n_tt = q["n_t"]
            a_t1 = (sy(s.t1) - float(sx_t1 @ bc1)) / n_t1
            a_t0 = (sy(s.t0) - float(sx_t0 @ bc0)) / n_t0
            wxx1, wxx0 = batch.mat(m.names["wxx"], s.c1), batch.mat(m.names["wxx"], s.c0)
            wres1, wres0 = wy1 - wxx1 @ bc1, wy0 - wxx0 @ bc0  # Σ w x (y − x'β_c)
            a_c1, a_c0 = wres1[0] / w1[0], wres0[0] / w0[0]
            dpost, dpre = bt1 - bc1, bt0 - bc0
            a_dpost, a_dt1 = float(sx_t @ dpost) / n_tt, float(sx_t1 @ dpost) / n_t1
            a_dpre, a_dt0 = float(sx_t @ dpre) / n_tt, float(sx_t0 @ dpre) / n_t0
            s.att = (a_t1 - a_t0) - (a_c1 - a_c0) + (a_dpost - a_dt1) - (a_dpre - a_dt0)
            for _, _, _, rc in fits:
                if rc is not None:
                    s.failure = rc
                    return
            gc0, gc1, gt0, gt1 = (f[1] for f in fits)
            m2 = (wres1 - a_c1 * w1) / w1[0] - (wres0 - a_c0 * w0) / w0[0]
            mom_post = sx_t / n_tt - sx_t1 / n_t1
            mom_pre = sx_t / n_tt - sx_t0 / n_t0
            # C1 and C0 observations' regression terms: inf_t_or, inf_c_or and inf_or combined
            k1 = -sx_t1 / n_t1 + w1 / w1[0] - mom_post  # C1: (y − x'β_c1) x'G_c1⁻¹ k1 (sign below)
            k0 = -sx_t0 / n_t0 + w0 / w0[0] - mom_pre
            q.update(bc0=bc0, bc1=bc1, bt0=bt0, bt1=bt1, a_t1=a_t1, a_t0=a_t0, a_c1=a_c1, a_c0=a_c0,
                     a_dpost=a_dpost, a_dt1=a_dt1, a_dpre=a_dpre, a_dt0=a_dt0, r=m.info_inverse @ m2,
                     hc1=np.linalg.solve(gc1, k1), hc0=np.linalg.solve(gc0, k0),
                     ht1=np.linalg.solve(gt1, mom_post), ht0=np.linalg.solve(gt0, mom_pre))
    if not np.isfinite(s.att):
        s.failure = _NOT_FINITE
        return
    s.parts = q


def _influence_columns(cells: Sequence[_Cell], obs: _Obs, n_obs: int, w: ir.Table, method: Method
                       ) -> dict[str, Any]:
    """Each estimated cell's influence function of an observation (scaled to the ``n`` observations, as in
    memory), by class (a CASE on the combined key), 0 outside the cell's sample."""
    n = float(n_obs)
    xs = obs.xs(w)
    y = w.cte_y
    dot = obs.dot
    zero = ibis.literal(0.0, type="float64")
    out: dict[str, Any] = {}
    for s in cells:
        q = s.parts
        n_tt, n_t1, n_t0 = float(q["n_t"]), float(q["n_t1"]), float(q["n_t0"])
        yb1, yb0 = float(q["ybar_t1"]), float(q["ybar_t0"])
        if method == "reg":
            dfit = dot(q["b1"] - q["b0"], xs)
            eta_c = float(q["eta_c"])
            t1 = n * ((y - yb1) / n_t1 - (dfit - eta_c) / n_tt)
            t0 = n * (-(y - yb0) / n_t0 - (dfit - eta_c) / n_tt)
            c1 = -(n / n_tt) * (y - dot(q["b1"], xs)) * dot(q["h1"], xs)
            c0 = (n / n_tt) * (y - dot(q["b0"], xs)) * dot(q["h0"], xs)
        else:
            m = s.model
            if m is None:  # pragma: no cover (ipw and dr cells have a logit)
                raise EstimationError(_INTERNAL)
            p = w[f"cte_p{m.index}"]
            wc = w[f"cte_w{m.index}"]
            xr = dot(q["r"], xs)
            w1, w0 = float(q["w1"]), float(q["w0"])
            a_c1, a_c0 = float(q["a_c1"]), float(q["a_c0"])
            if method == "ipw":
                t1 = n * ((y - yb1) / n_t1 - (1.0 - p) * xr)
                t0 = n * (-(y - yb0) / n_t0 - (1.0 - p) * xr)
                c1 = n * (-wc * (y - a_c1) / w1 + p * xr)
                c0 = n * (wc * (y - a_c0) / w0 + p * xr)
            else:
                res1 = y - dot(q["bc1"], xs)
                res0 = y - dot(q["bc0"], xs)
                dpost = dot(q["bt1"] - q["bc1"], xs)
                dpre = dot(q["bt0"] - q["bc0"], xs)
                eff_t = ((dpost - float(q["a_dpost"])) - (dpre - float(q["a_dpre"]))) / n_tt
                t1 = n * ((res1 - float(q["a_t1"])) / n_t1 - (1.0 - p) * xr + eff_t
                          - (dpost - float(q["a_dt1"])) / n_t1
                          + (y - dot(q["bt1"], xs)) * dot(q["ht1"], xs))
                t0 = n * (-(res0 - float(q["a_t0"])) / n_t0 - (1.0 - p) * xr + eff_t
                          + (dpre - float(q["a_dt0"])) / n_t0
                          - (y - dot(q["bt0"], xs)) * dot(q["ht0"], xs))
                c1 = n * (-wc * (res1 - a_c1) / w1 + p * xr + res1 * dot(q["hc1"], xs))
                c0 = n * (wc * (res0 - a_c0) / w0 + p * xr - res0 * dot(q["hc0"], xs))
        g = w.cte_g
        out[f"cte_psi{s.k}"] = ibis.cases((g.isin([float(v) for v in s.t1]), t1),
                                          (g.isin([float(v) for v in s.t0]), t0),
                                          (g.isin([float(v) for v in s.c1]), c1),
                                          (g.isin([float(v) for v in s.c0]), c0), else_=zero)
    return out

"""Imputation difference-in-differences (Borusyak, Jaravel & Spiess 2024).

Borusyak, Jaravel & Spiess (2024, "Revisiting Event-Study Designs: Robust and Efficient Estimation", *Review of
Economic Studies* 91(6), 3253–3285) estimate staggered-adoption effects in three steps:

1. fit ``y_it = α_i + λ_t + X_it β + ε_it`` by least squares on the *untreated* observations only (never-treated
   units, and treated units before ``G_i − anticipation``; the anticipation window is used by neither step);
2. impute ``Ŷ_it(0) = α̂_i + λ̂_t + X_it β̂`` for every treated observation (``t ≥ G_i``) and take
   ``τ̂_it = Y_it − Ŷ_it(0)``;
3. average: the overall ATT weights every treated observation equally; the effect at horizon ``h`` weights the
   treated observations with ``t − G_i = h`` equally.

Each estimate is linear in the outcomes, ``τ̂_w = Σ_it v_it Y_it``, with ``v_it = w_it`` on treated observations and
``v = −Z_0 (Z_0'Z_0)⁻ Z_1' w`` on untreated ones (``Z`` the fixed-effect and covariate design; BJS eq. 6). The
conservative clustered variance of BJS Theorem 3 is ``Σ_clusters (Σ_it v_it ε̃_it)²`` with ``ε̃_it`` the first-step
residual on untreated observations and ``τ̂_it − τ̄_c`` on treated ones, ``τ̄_c`` the ``v²``-weighted mean of
``τ̂`` within the observation's cohort × period cell (BJS eq. 10, as R ``didimputation``; ``average_by="horizon"``
pools cohorts) or, with ``leave_out=True``, within that cell without the observation's own cluster (BJS
Supplementary Appendix A.9, Stata ``did_imputation``'s ``leaveout``).
The covariance of several estimates is the same sum of cross-products of cluster sums.

The first step is solved exactly without dummy matrices: the unit block of the normal equations is diagonal, so it
is eliminated and the Schur complement on the period effects and covariates (a small dense matrix) is solved by a
pseudo-inverse (the one normalisation of the two sets of effects); a rank deficiency beyond that (covariates
collinear with the effects, or untreated observations split into disconnected groups) is a
:class:`~cteimpact.errors.DesignError`.

Treated observations of a unit without untreated observations (or in a period without any) cannot be imputed: they
are dropped with a sample-flow record and a warning, as BJS's Stata command does. The pre-trend test (BJS Test 1,
``pretrends=k``) regresses the untreated outcomes on the fixed effects, covariates and indicators of the ``k``
periods before treatment (event times ``−1 − anticipation, …, −k − anticipation``) with the within solver
(:mod:`cteimpact.did.within`, cluster-robust with ``fixest``'s small-sample factor) and reports the Wald statistic
that they are jointly zero (chi-squared with ``k`` degrees of freedom).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.comparison import ComparisonResults, no_flow, prepared_options
from cteimpact.did.panel import prepare_staggered_data
from cteimpact.did.twfe import check_covariates, indicator, long_panel
from cteimpact.did.within import fit_within, two_way
from cteimpact.errors import DesignError, OptionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate, normal_row
from cteimpact.results.intervals import check_level, size_of
from cteimpact.threads import one_blas_thread

__all__ = ["AverageBy", "ImputationResult", "imputation_did"]

#: cells of the treated observations within which ``τ̂`` is averaged in the variance
AverageBy = Literal["cohort_period", "horizon"]

#: eigenvalues of the scaled Schur complement below this share of the largest count as zero
_RANK_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class ImputationResult(ComparisonResults):
    """Imputation DiD estimates; they honour the results contract
    (:class:`~cteimpact.results.contract.ImpactResults`: ``estimates``, ``options``, ``sample_flow``, ``summary``,
    ``tidy``, ``to_dict``, ``plot``, ``sampling_distribution``).

    Attributes
    ----------
    att, att_se
        Overall ATT (equal weights over treated observations) and its conservative clustered standard error.
    event_study
        ``event_time, estimate, std_error, ci_lower, ci_upper, n_obs`` for the horizons asked for (empty without).
    covariance
        Covariance of the overall ATT (first) and the horizon effects (BJS Theorem 3 cross-products).
    pretrend
        ``event_time, estimate, std_error`` of the pre-trend test's indicators (``None`` without the test).
    pretrend_stat, pretrend_df, pretrend_pvalue
        Wald statistic that the pre-period indicators are jointly zero, its degrees of freedom and chi-squared
        p-value (NaN without the test).
    n_treated, n_untreated, n_clusters, n_not_imputable
        Treated observations averaged, untreated observations in the first step, clusters, and treated
        observations dropped because their unit (or period) has no untreated observation.
    estimates
        Rows ``<outcome>[bjs]`` and ``<outcome>[bjs,event=h]``.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Borusyak, Jaravel & Spiess (2024) imputation DiD"

    att: float
    att_se: float
    event_study: pd.DataFrame
    covariance: np.ndarray
    pretrend: pd.DataFrame | None
    pretrend_stat: float
    pretrend_df: int
    pretrend_pvalue: float
    n_treated: int
    n_untreated: int
    n_clusters: int
    n_not_imputable: int
    n_leave_out_fallback: int = 0
    estimates: tuple[EffectEstimate, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_flow: SampleFlow = field(default_factory=no_flow)

    def record(self) -> dict[str, Any]:
        """The ATT, horizon effects, pre-trend test and effective sample sizes."""
        return {"att": self.att, "att_se": self.att_se, "event_study": self.event_study.to_dict(orient="records"),
                "pretrend": None if self.pretrend is None else {
                    "coefficients": self.pretrend.to_dict(orient="records"), "wald": self.pretrend_stat,
                    "df": self.pretrend_df, "p_value": self.pretrend_pvalue},
                "n_treated": self.n_treated, "n_untreated": self.n_untreated, "n_clusters": self.n_clusters,
                "n_not_imputable": self.n_not_imputable}

    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal of the overall ATT and the horizon effects (BJS Theorem 3 conservative covariance)."""
        mean = np.array([e.estimate for e in self.estimates], dtype=float)
        return SamplingDistribution(tuple(e.label for e in self.estimates), mean, self.covariance, joint=True,
                                    centre="imputation estimate",
                                    scale="conservative clustered standard error (BJS 2024, Theorem 3)")

    def _notes(self) -> list[str]:
        notes = [f"Effective N: {self.n_treated} treated observations imputed, {self.n_untreated} untreated "
                 f"observations in the first step, {self.n_clusters} clusters."]
        if self.n_not_imputable:
            notes.append(f"{self.n_not_imputable} treated observations could not be imputed (no untreated "
                         "observation of their unit or period) and were dropped.")
        if self.n_leave_out_fallback:
            notes.append(f"Leave-out averages: {self.n_leave_out_fallback} treated observations (over all estimates) "
                         "lie in cells with a single cluster and keep the full cell average.")
        if self.pretrend is not None:
            notes.append(f"Pre-trend test (BJS Test 1, {self.pretrend_df} pre-periods): Wald chi2 = "
                         f"{self.pretrend_stat:.4f}, p = {self.pretrend_pvalue:.4f}.")
        return notes


@dataclass(frozen=True, eq=False)
class _FirstStage:
    """Normal equations of the untreated observations' fixed-effect and covariate design, unit block eliminated."""

    unit: np.ndarray  # unit code (0..n_a-1) of each untreated observation
    time: np.ndarray  # period code (0..n_b-1)
    x: np.ndarray  # untreated covariates (n0 × k)
    n_unit: np.ndarray
    counts: sparse.csr_matrix  # n_a × n_b
    cx: np.ndarray  # n_a × k: unit sums of covariates
    pinv: np.ndarray  # pseudo-inverse of the Schur complement (n_b + k)

    def solve(self, c_a: np.ndarray, c_b: np.ndarray, c_x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A solution ``(s_a, s_b, s_x)`` of ``Z_0'Z_0 s = c`` (unit, period and covariate blocks)."""
        nb = c_b.size
        r = np.concatenate([c_b - self.counts.T @ (c_a / self.n_unit), c_x - self.cx.T @ (c_a / self.n_unit)])
        s_r = self.pinv @ r
        s_b, s_x = s_r[:nb], s_r[nb:]
        s_a = (c_a - self.counts @ s_b - self.cx @ s_x) / self.n_unit
        return s_a, s_b, s_x

    def crossprod(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``Z_0' z`` by block."""
        return (np.bincount(self.unit, weights=z, minlength=self.n_unit.size),
                np.bincount(self.time, weights=z, minlength=self.counts.shape[1]), self.x.T @ z)

    def fitted(self, s: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        return s[0][self.unit] + s[1][self.time] + self.x @ s[2]

    def fit(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Least-squares coefficients of ``y`` (one refinement pass on the normal equations)."""
        c = self.crossprod(y)
        s = self.solve(*c)
        resid = y - self.fitted(s)
        ds = self.solve(*self.crossprod(resid))
        return s[0] + ds[0], s[1] + ds[1], s[2] + ds[2]


def _first_stage(unit: np.ndarray, time: np.ndarray, x: np.ndarray, n_a: int, n_b: int) -> _FirstStage:
    n = unit.size
    k = x.shape[1]
    n_unit = np.bincount(unit, minlength=n_a).astype(np.float64)
    n_time = np.bincount(time, minlength=n_b).astype(np.float64)
    counts = sparse.csr_matrix((np.ones(n), (unit, time)), shape=(n_a, n_b))
    counts.sum_duplicates()
    cx = np.column_stack([np.bincount(unit, weights=x[:, j], minlength=n_a) for j in range(k)]) if k else \
        np.zeros((n_a, 0))
    tx = np.column_stack([np.bincount(time, weights=x[:, j], minlength=n_b) for j in range(k)]) if k else \
        np.zeros((n_b, 0))
    scaled = sparse.diags(1.0 / n_unit) @ counts
    s_bb = np.diag(n_time) - np.asarray((counts.T @ scaled).todense())
    s_bx = tx - np.asarray(scaled.T @ cx)
    s_xx = x.T @ x - cx.T @ (cx / n_unit[:, None])
    schur = np.block([[s_bb, s_bx], [s_bx.T, s_xx]])
    scale = np.sqrt(np.maximum(np.diag(schur), 1e-300))
    eig = np.linalg.eigvalsh(schur / np.outer(scale, scale))
    rank_def = int(np.sum(eig <= _RANK_TOL * eig[-1]))
    if rank_def > 1:
        raise DesignError(f"the fixed effects and covariates are not identified from the untreated observations "
                          f"({rank_def - 1} more rank deficiencies than the one normalisation): covariates collinear "
                          "with the fixed effects or each other, or untreated observations split into disconnected "
                          "groups of units and periods")
    pinv = np.linalg.pinv(schur, rcond=1e-12, hermitian=True)
    return _FirstStage(unit, time, x, n_unit, counts, cx, pinv)


def _check_horizons(horizons: Sequence[int] | bool | None, available: np.ndarray) -> list[float]:
    if horizons is None or horizons is False:
        return []
    if horizons is True:
        return [float(h) for h in available]
    if isinstance(horizons, str) or not isinstance(horizons, Sequence):
        raise OptionError(f"horizons must be a list of non-negative integers or True, got {horizons!r}")
    out: list[float] = []
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 0:
            raise OptionError(f"horizons must be non-negative integers, got {h!r}")
        if float(h) not in set(available.tolist()):
            raise OptionError(f"horizon {int(h)} has no treated observation; available horizons: "
                              f"{', '.join(f'{a:g}' for a in available)}")
        if float(h) not in out:
            out.append(float(h))
    return sorted(out)


def _pretrend(y0: np.ndarray, fe_unit: np.ndarray, fe_time: np.ndarray, x0: np.ndarray, ev0: np.ndarray,
              cl0: np.ndarray, k: int, ant: float, names: Sequence[str]) -> tuple[pd.DataFrame, float, float]:
    """BJS Test 1 on the untreated observations: pre-period indicators, clustered Wald statistic and p-value."""
    _, cl = np.unique(cl0, return_inverse=True)
    g = int(cl.max()) + 1
    events = [-float(j) - ant for j in range(1, k + 1)]
    cell = np.full(y0.size, -1, dtype=np.int64)
    for j, e in enumerate(events):
        cell[ev0 == e] = j
    counts = np.bincount(cell[cell >= 0], minlength=k)
    if np.any(counts == 0):
        missing = [f"{e:g}" for e, c in zip(events, counts, strict=True) if c == 0]
        raise OptionError(f"pretrends={k}: no untreated observation at event time(s) {', '.join(missing)}; use a "
                          "smaller pretrends")
    cols = [(f"pre{j + 1}", partial(indicator, cell, j)) for j in range(k)]
    cols += [(nm, partial(lambda j: x0[:, j], j)) for j, nm in enumerate(names)]
    fit = fit_within(y0, cols, two_way(fe_unit, fe_time), cl.astype(np.int64), g)
    pre = [f"pre{j + 1}" for j in range(k)]
    if fit is None or any(p not in fit.names for p in pre):
        raise DesignError(f"pretrends={k}: the pre-period indicators are collinear with the fixed effects or "
                          "covariates among the untreated observations; use a smaller pretrends")
    idx = [fit.names.index(p) for p in pre]
    b = fit.params[idx]
    v = fit.cov[np.ix_(idx, idx)]
    wald = float(b @ np.linalg.solve(v, b))
    tab = pd.DataFrame({"event_time": events, "estimate": b, "std_error": np.sqrt(np.diag(v))})
    return tab, wald, float(stats.chi2.sf(wald, k))


@one_blas_thread()
def imputation_did(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str, cohort: str,
                   covariates: Sequence[str] | None = None, horizons: Sequence[int] | bool | None = None,
                   pretrends: int = 0, cluster: str | None = None, level: float = 0.95, anticipation: int = 0,
                   where: Sequence[str] = (), average_by: AverageBy = "cohort_period",
                   leave_out: bool = False) -> ImputationResult:
    """Imputation DiD of Borusyak, Jaravel & Spiess (2024) for staggered adoption (see the module docstring).

    Parameters
    ----------
    data
        Long panel, one row per unit and period (balanced or not).
    outcome, time, unit, cohort
        Outcome, period, unit and first-treated-period columns (cohort 0 or infinity: never treated).
    covariates
        Time-varying controls entering the first step linearly (a categorical one as indicator columns of its
        levels but the reference, :mod:`cteimpact.did.factors`).
    horizons
        Event times ``h ≥ 0`` at which to report effects (``True``: every horizon observed; ``None``: only the
        overall ATT).
    pretrends
        Number ``k`` of pre-periods in the pre-trend test (BJS Test 1); 0 for no test.
    cluster
        Cluster column (constant within units); default: clustered by unit.
    level
        Confidence level of the (normal) intervals.
    anticipation
        Periods before treatment excluded from the first step.
    where
        Sample restrictions (recorded in the sample flow).
    average_by
        Cells within which the imputed effects are averaged (``τ̄``) in the variance: ``"cohort_period"`` (default,
        BJS and R ``didimputation``) or ``"horizon"`` (event time, pooling cohorts).
    leave_out
        Average without the observation's own cluster (BJS Supplementary Appendix A.9; Stata ``leaveout``), which
        removes the downward bias of ``τ̄`` fitted to the same noise; cells with one cluster keep the full average
        (counted in the notes).

    Returns
    -------
    ImputationResult
        Rows ``<outcome>[bjs]`` and ``<outcome>[bjs,event=h]``.

    Raises
    ------
    OptionError
        A bad ``horizons``, ``pretrends`` or ``level``.
    DesignError
        No untreated or no imputable treated observation, or a first step that is not identified.
    """
    level = check_level(level)
    covs = check_covariates(covariates)
    if average_by not in ("cohort_period", "horizon"):
        raise OptionError(f"average_by must be 'cohort_period' or 'horizon', got {average_by!r}")
    if not isinstance(leave_out, bool):
        raise OptionError(f"leave_out must be True or False, got {leave_out!r}")
    if isinstance(pretrends, bool) or not isinstance(pretrends, (int, np.integer)) or pretrends < 0:
        raise OptionError(f"pretrends must be a non-negative integer (number of pre-periods), got {pretrends!r}")
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, cluster=cluster,
                               anticipation=anticipation, where=where, control="notyet", allow_unbalanced=True,
                               covariates=covs)
    lp = long_panel(d, with_covariates=bool(covs))
    covs = lp.covariates if covs else ()  # a categorical covariate is named by its indicator columns
    ant = float(d.anticipation)
    tv = lp.times[lp.time]
    ev = np.where(lp.cohort > 0, tv - lp.cohort, -np.inf)
    treated = ev >= 0
    untreated = ev < -ant
    flow = d.flow
    n_window = int(np.sum(~treated & ~untreated))
    has_u = np.bincount(lp.unit[untreated], minlength=int(lp.unit.max()) + 1) > 0
    has_t = np.bincount(lp.time[untreated], minlength=lp.times.size) > 0
    not_imp = treated & ~(has_u[lp.unit] & has_t[lp.time])
    n_not = int(np.sum(not_imp))
    if n_window or n_not:  # exclusions of observations: the flow counts unit-periods from here
        flow = flow.aggregate(lp.y.size, "unit-periods of the prepared panel (the imputation estimator's "
                                         "observations)", "unit-periods")
    if n_window:
        flow = flow.exclude(n_window, f"in the anticipation window ({int(ant)} periods before treatment): used by "
                                      "neither step")
    if not np.any(untreated):
        raise DesignError(f"no untreated observation (never-treated, or treated units before treatment) among "
                          f"{lp.y.size} observations of '{outcome}'")
    if n_not:
        n_units = int(np.unique(lp.unit[not_imp & ~has_u[lp.unit]]).size)
        msg = (f"{n_not} treated observations cannot be imputed ({n_units} units without an untreated observation, "
               "so their unit effect is not identified, or periods without one) and are dropped")
        warnings.warn(msg, UserWarning, stacklevel=3)
        flow = flow.exclude(n_not, "treated observations that cannot be imputed (unit or period effect not "
                                   "identified from untreated observations)")
        treated = treated & ~not_imp
    n1 = int(np.sum(treated))
    if n1 == 0:
        raise DesignError(f"no treated observation of '{outcome}' can be imputed ({n_not} treated observations "
                          "lack untreated observations of their unit or period)")
    # codes of the untreated sample
    u_levels, u0 = np.unique(lp.unit[untreated], return_inverse=True)
    t_levels, t0 = np.unique(lp.time[untreated], return_inverse=True)
    x_all = lp.x if lp.x is not None else np.zeros((lp.y.size, 0))
    x0 = np.ascontiguousarray(x_all[untreated])
    y0_n = int(np.sum(untreated))
    if covs:
        fe0 = two_way(u0.astype(np.int64), t0.astype(np.int64))
        for j, name in enumerate(covs):
            raw = x0[:, j]
            if float(np.linalg.norm(fe0.demean(raw))) <= 1e-8 * max(float(np.linalg.norm(raw)), 1e-300):
                raise DesignError(f"covariate '{name}' is absorbed by the unit and period fixed effects among the "
                                  f"{y0_n} untreated observations (it does not vary within units over time); "
                                  "drop it")
    fs = _first_stage(u0.astype(np.int64), t0.astype(np.int64), x0, u_levels.size, t_levels.size)
    y0 = lp.y[untreated]
    coef = fs.fit(y0)
    resid0 = y0 - fs.fitted(coef)
    u1 = np.searchsorted(u_levels, lp.unit[treated])
    t1 = np.searchsorted(t_levels, lp.time[treated])
    x1 = x_all[treated]
    tau = lp.y[treated] - (coef[0][u1] + coef[1][t1] + x1 @ coef[2])
    ev1 = ev[treated]
    hs = _check_horizons(horizons, np.unique(ev1))
    weights = [np.full(n1, 1.0 / n1)]
    for h in hs:
        on = (ev1 == h).astype(np.float64)
        weights.append(on / on.sum())
    # cells of the treated observations (cohort × period, or event time) and clusters
    keys = np.column_stack([lp.cohort[treated], lp.time[treated]]) if average_by == "cohort_period" else ev1[:, None]
    _, cell1 = np.unique(keys, axis=0, return_inverse=True)
    cell1 = cell1.reshape(-1)
    n_cells = int(cell1.max()) + 1
    _, cl_codes = np.unique(lp.cluster[treated | untreated], return_inverse=True)
    g = int(cl_codes.max()) + 1
    cl_full = np.full(lp.y.size, -1, dtype=np.int64)
    cl_full[treated | untreated] = cl_codes
    cl0, cl1 = cl_full[untreated], cl_full[treated]
    # (cell, cluster) pairs of the treated observations, for the leave-out averages
    _, pair1 = np.unique(cell1 * g + cl1, return_inverse=True)
    pair1 = pair1.reshape(-1)
    n_pairs = int(pair1.max()) + 1
    sums = np.empty((g, len(weights)))
    ests = np.empty(len(weights))
    n_fallback = 0
    for j, w in enumerate(weights):
        ests[j] = float(w @ tau)
        c_a = np.bincount(u1, weights=w, minlength=u_levels.size)
        c_b = np.bincount(t1, weights=w, minlength=t_levels.size)
        v0 = -fs.fitted(fs.solve(c_a, c_b, x1.T @ w))
        w2 = w * w
        den = np.bincount(cell1, weights=w2, minlength=n_cells)
        num = np.bincount(cell1, weights=w2 * tau, minlength=n_cells)
        tbar = np.divide(num, den, out=np.zeros(n_cells), where=den > 0)[cell1]
        if leave_out:  # the cell's average without the observation's own cluster (BJS Supplementary Appendix A.9)
            den_o = den[cell1] - np.bincount(pair1, weights=w2, minlength=n_pairs)[pair1]
            num_o = num[cell1] - np.bincount(pair1, weights=w2 * tau, minlength=n_pairs)[pair1]
            ok = den_o > 1e-12 * den[cell1]
            n_fallback += int(np.sum(~ok & (w > 0)))
            tbar = np.where(ok, num_o / np.where(ok, den_o, 1.0), tbar)
        sums[:, j] = (np.bincount(cl0, weights=v0 * resid0, minlength=g)
                      + np.bincount(cl1, weights=w * (tau - tbar), minlength=g))
    cov = sums.T @ sums
    se = np.sqrt(np.diag(cov))
    crit = float(stats.norm.ppf(1 - size_of(level) / 2))
    es = pd.DataFrame({"event_time": hs, "estimate": ests[1:], "std_error": se[1:],
                       "ci_lower": ests[1:] - crit * se[1:], "ci_upper": ests[1:] + crit * se[1:],
                       "n_obs": [int(np.sum(ev1 == h)) for h in hs]})
    pre_tab: pd.DataFrame | None = None
    wald, pval = float("nan"), float("nan")
    if pretrends:
        pre_tab, wald, pval = _pretrend(y0, u0.astype(np.int64), t0.astype(np.int64), x0, ev[untreated], cl0,
                                        int(pretrends), ant, covs)
    y = d.outcome
    rows = [normal_row(f"{y}[bjs]", y, "ATT (imputation: mean of imputed effects over treated observations)",
                       ests[0], float(se[0]), level=level, n_effective=float(n1))]
    for j, h in enumerate(hs, start=1):
        rows.append(normal_row(f"{y}[bjs,event={h:g}]", y, f"imputation effect at event time {h:g}", ests[j],
                               float(se[j]), level=level, n_effective=float(es["n_obs"].iloc[j - 1])))
    opts = prepared_options(d, level=level, covariates=list(covs), horizons=[int(h) for h in hs],
                            pretrends=int(pretrends), comparison="never and not-yet treated (untreated observations)",
                            average_by=average_by, leave_out=leave_out,
                            variance="BJS (2024) Theorem 3 conservative clustered variance")
    return ImputationResult(float(ests[0]), float(se[0]), es, cov, pre_tab, wald, int(pretrends), pval, n1,
                            int(y0.size), g, n_not, n_fallback, tuple(rows), opts, flow)

"""Wooldridge's extended two-way fixed effects (ETWFE) for staggered adoption, linear model.

Wooldridge (2021, "Two-way fixed effects, the two-way Mundlak regression, and difference-in-differences
estimators") shows that the TWFE regression becomes heterogeneity-robust once the treatment indicator is fully
interacted with cohort and period. With cohorts ``g`` (first treated period; 0 = never treated), periods ``t`` and
optional covariates ``x``, the regression fitted here is

``y_it = α_g + λ_t + x_it'β + Σ_g x_it'β_g 1{G_i = g} + Σ_t x_it'γ_t 1{t} + Σ_{(g,s) ∈ C} 1{G_i = g, t = s}
(τ_gs + (x_it − x̄_g)'δ_gs) + u_it``

with cohort and period fixed effects ``α_g``, ``λ_t`` (in a balanced panel without covariates the cohort effects
give the same ``τ_gs`` as unit effects), the covariates and their interactions with cohort and period dummies (one
level of each left out), and ``x̄_g`` the covariates' mean within cohort ``g`` over the estimation sample. The set of
treatment cells ``C`` depends on the comparison group:

* ``control="notyet"`` (Wooldridge's main specification): the post-treatment cells ``s ≥ g`` of every treated
  cohort; earlier periods of the treated cohorts and the never-treated units are the comparison;
* ``control="never"``: every period of a treated cohort except ``g − 1`` (the reference), so only the never-treated
  units identify the period effects and the pre-treatment cells are placebo (event-study) coefficients.

Aggregations (the averages R ``etwfe::emfx`` reports): the effect of treatment on observation ``i`` in cell
``(g, s)`` is ``τ_gs + (x_it − x̄_g)'δ_gs``; the *simple* ATT is its mean over the treated observations (``s ≥ g``),
and the *group*, *calendar* and *event* effects its mean over the treated observations of one cohort, one period
or one relative period ``e = s − g`` (with ``control="never"`` the event study also covers the pre-treatment
relative periods except the reference ``−1``). Each average is a linear combination ``w'θ`` of the coefficients, so
its covariance is ``W V W'`` exactly, with ``V`` the cluster-robust covariance of the regression (``fixest``'s
small-sample factor ``G/(G−1) · (n−1)/(n−K)``, ``K`` counting the regressors and the cohort and period effects;
clustered by unit unless ``cluster`` is given); tests and intervals are normal, as ``emfx``'s.

The regression is fitted by the within solver (:mod:`cteimpact.did.within`) with cohort and period as the two
fixed-effect dimensions; data are prepared by :func:`~cteimpact.did.panel.prepare_staggered_data` (balanced or
unbalanced panels and repeated cross-sections; every exclusion in the sample flow). Without a never-treated unit,
the last-treated cohort serves as the comparison and the periods from its adoption on are dropped (as in R
``etwfe``, whose reference cohort is then the last one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.comparison import ComparisonResults, no_flow, prepared_options
from cteimpact.did.panel import StaggeredData, prepare_staggered_data
from cteimpact.did.twfe import check_covariates, long_panel
from cteimpact.did.within import fit_within, two_way
from cteimpact.errors import DesignError, OptionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate, normal_row
from cteimpact.results.intervals import check_level
from cteimpact.threads import one_blas_thread

__all__ = ["ETWFEResult", "etwfe", "etwfe_from_prepared"]

Control = Literal["notyet", "never"]
_CONTROLS = ("notyet", "never")
_AGG_COLUMNS = ["type", "level", "estimate", "std_error", "n_obs"]


@dataclass(frozen=True, eq=False)
class ETWFEResult(ComparisonResults):
    """Linear ETWFE (Wooldridge 2021) with its aggregations; it honours the results contract
    (:class:`~cteimpact.results.contract.ImpactResults`: ``estimates``, ``options``, ``sample_flow``, ``summary``,
    ``tidy``, ``to_dict``, ``plot``, ``sampling_distribution``).

    Attributes
    ----------
    cell_effects
        ``cohort, time, event_time, estimate, std_error, n_obs``: the cohort × period coefficients ``τ_gs``.
    aggregations
        ``type`` (``simple``, ``group``, ``calendar``, ``event``), ``level`` (cohort, period or relative period;
        NaN for ``simple``), ``estimate``, ``std_error`` and ``n_obs`` (treated observations averaged).
    covariance
        Joint covariance of the aggregations (rows in the order of ``aggregations``).
    n_obs, n_clusters
        Observations of the regression and clusters ``G``.
    coefficients
        Every coefficient of the regression (name, estimate, std_error), for inspection.
    estimates
        Rows ``<outcome>[etwfe]`` (simple ATT), ``<outcome>[etwfe,group=g]``, ``<outcome>[etwfe,calendar=t]`` and
        ``<outcome>[etwfe,event=e]``, with normal tests and intervals (as R ``etwfe::emfx``).
    options
        The data options (:func:`~cteimpact.did.comparison.prepared_options`) and ``control``, ``covariates``,
        ``level``, ``fixed_effects`` and ``clustered_by``.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Extended two-way fixed effects (Wooldridge 2021), linear"

    cell_effects: pd.DataFrame
    aggregations: pd.DataFrame
    covariance: np.ndarray
    n_obs: int
    n_clusters: int
    coefficients: pd.DataFrame
    estimates: tuple[EffectEstimate, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_flow: SampleFlow = field(default_factory=no_flow)

    @property
    def att(self) -> float:
        """The simple ATT (mean effect over the treated observations)."""
        return float(self.aggregations["estimate"].iloc[0])

    @property
    def att_se(self) -> float:
        """Standard error of the simple ATT."""
        return float(self.aggregations["std_error"].iloc[0])

    def aggregation(self, kind: Literal["simple", "group", "calendar", "event"]) -> pd.DataFrame:
        """The rows of one aggregation type (``level, estimate, std_error, n_obs``)."""
        if kind not in ("simple", "group", "calendar", "event"):
            raise OptionError(f"aggregation type must be one of simple, group, calendar, event; got {kind!r}")
        sel = self.aggregations[self.aggregations["type"] == kind]
        return sel.drop(columns="type").reset_index(drop=True)

    def record(self) -> dict[str, Any]:
        """Cell effects and aggregations, as written in a DiD results file."""
        return {"cell_effects": self.cell_effects.to_dict(orient="records"),
                "aggregations": self.aggregations.to_dict(orient="records"),
                "n_obs": self.n_obs, "n_clusters": self.n_clusters}

    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal of every aggregated effect (the estimate rows, in order), covariance ``W V W'``."""
        labels = tuple(e.label for e in self.estimates)
        mean = self.aggregations["estimate"].to_numpy(dtype=float)
        return SamplingDistribution(labels, mean, self.covariance, joint=True,
                                    centre="ETWFE average of cohort × period effects",
                                    scale="cluster-robust standard error (delta method, exact for the linear model)")

    def _notes(self) -> list[str]:
        ctrl = self.options.get("control")
        cg = "never-treated units" if ctrl == "never" else "not-yet-treated and never-treated observations"
        return [f"Comparison: {cg}; cohort and period fixed effects; {self.n_obs:,} observations, "
                f"{self.n_clusters} clusters ({self.options.get('clustered_by')})."]


def _cohort_mean_deviation(x: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """``x`` (``N × k``) minus its mean within each cohort code."""
    out = np.empty_like(x)
    counts = np.bincount(codes, minlength=n_codes).astype(np.float64)
    for j in range(x.shape[1]):
        mean = np.bincount(codes, weights=x[:, j], minlength=n_codes) / counts
        out[:, j] = x[:, j] - mean[codes]
    return out


def _column(kind: str, cell: np.ndarray, j: int, x: np.ndarray | None, k: int) -> np.ndarray:
    """One regressor: ``cell`` indicator ``j`` (``kind="d"``) or that indicator times covariate ``k``."""
    d = (cell == j).astype(np.float64)
    return d if kind == "d" or x is None else d * x[:, k]


def _times(x: np.ndarray, k: int, codes: np.ndarray, level: int) -> np.ndarray:
    """Covariate ``k`` times ``1{codes == level}`` (``level = -1``: the covariate itself)."""
    return x[:, k].copy() if level < 0 else x[:, k] * (codes == level)


@one_blas_thread()
def etwfe_from_prepared(d: StaggeredData, *, control: Control = "notyet", level: float = 0.95,
                        with_covariates: bool = False) -> ETWFEResult:
    """Linear ETWFE on prepared data (see :func:`etwfe`); the prepared covariates enter only with
    ``with_covariates``."""
    level = check_level(level)
    if control not in _CONTROLS:
        raise OptionError(f"control must be 'notyet' or 'never', got {control!r}")
    lp = long_panel(d, with_covariates=with_covariates)
    tv = lp.times[lp.time]
    groups = np.asarray(d.groups, dtype=float)
    if groups.size == 0:
        raise DesignError("no treated cohort to estimate (column '" + str(d.cohort) + "')")
    cohort_levels, ccode = np.unique(lp.cohort, return_inverse=True)
    ccode = ccode.astype(np.int64)
    in_g = np.isin(lp.cohort, groups)
    post = in_g & (tv >= lp.cohort)
    cell_rows = post if control == "notyet" else in_g & (tv != lp.cohort - 1)
    if not np.any(cell_rows):
        raise DesignError("no cohort × period treatment cell to estimate")
    # cells as codes in (cohort, period) order, -1 elsewhere
    g_idx = np.searchsorted(groups, lp.cohort[cell_rows])
    n_t = lp.times.size
    combo = g_idx * n_t + lp.time[cell_rows]
    present_cells = np.flatnonzero(np.bincount(combo, minlength=groups.size * n_t))
    code_of = np.full(groups.size * n_t, -1, dtype=np.int64)
    code_of[present_cells] = np.arange(present_cells.size)
    cell = np.full(lp.y.size, -1, dtype=np.int64)
    cell[cell_rows] = code_of[combo]
    cg = groups[present_cells // n_t]
    ct = lp.times[present_cells % n_t]
    n_cells = present_cells.size
    names = [f"tau_g{g:g}_t{t:g}" for g, t in zip(cg, ct, strict=True)]
    cols: list[tuple[str, Any]] = [(nm, partial(_column, "d", cell, j, None, 0)) for j, nm in enumerate(names)]
    covs = lp.covariates
    xdm: np.ndarray | None = None
    dm_names: list[list[str]] = []
    if lp.x is not None and covs:
        x = lp.x
        xdm = _cohort_mean_deviation(x, ccode, cohort_levels.size)
        flat = [c for k, c in enumerate(covs)
                if float(np.max(np.abs(xdm[:, k]))) <= 1e-12 * max(float(np.max(np.abs(x[:, k]))), 1.0)]
        if flat:
            raise DesignError(f"covariate{'s' if len(flat) > 1 else ''} {', '.join(repr(c) for c in flat)} "
                              f"constant within every cohort ({lp.y.size:,} observations, {cohort_levels.size} "
                              "cohorts): the cohort fixed effects absorb it and its treatment interactions are "
                              "zero; leave it out")
        for k, c in enumerate(covs):
            cols.append((f"covariate:{c}", partial(_times, x, k, ccode, -1)))
            cols += [(f"{c}:cohort={cohort_levels[m]:g}", partial(_times, x, k, ccode, m))
                     for m in range(1, cohort_levels.size)]
            cols += [(f"{c}:time={lp.times[m]:g}", partial(_times, x, k, lp.time, m)) for m in range(1, n_t)]
        for j, nm in enumerate(names):
            dm_names.append([f"{nm}:{c}_dm" for c in covs])
            cols += [(dm_names[j][k], partial(_column, "x", cell, j, xdm, k)) for k in range(len(covs))]
    fe = two_way(ccode, lp.time)
    fit = fit_within(lp.y, cols, fe, lp.cluster, lp.n_clusters)
    if fit is None:
        raise DesignError(f"the ETWFE regressors are collinear once the cohort and period fixed effects are removed "
                          f"({len(cols)} regressors, {lp.y.size:,} observations); check the covariates "
                          f"{', '.join(repr(c) for c in covs) or '(none)'}")
    bad_cov = [nm.removeprefix("covariate:") for nm in fit.absorbed if nm.startswith("covariate:")]
    if bad_cov:
        raise DesignError(f"covariate{'s' if len(bad_cov) > 1 else ''} {', '.join(repr(c) for c in bad_cov)} "
                          f"constant within the cohort and period fixed effects ({lp.y.size:,} observations, "
                          f"{cohort_levels.size} cohorts, {n_t} periods): ETWFE cannot estimate its coefficient")
    bad = [nm for nm in fit.absorbed if nm in names]
    if bad:
        raise DesignError(f"ETWFE treatment cells absorbed by the cohort and period fixed effects: {', '.join(bad)} "
                          f"({lp.y.size:,} observations)")
    pos = {nm: i for i, nm in enumerate(fit.names)}
    theta, vcov = fit.params, fit.cov
    cell_n = np.bincount(cell[cell_rows], minlength=n_cells).astype(float)
    tau_idx = np.array([pos[nm] for nm in names])
    se_all = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    se_tau = se_all[tau_idx]
    cells_df = pd.DataFrame({"cohort": cg, "time": ct, "event_time": ct - cg, "estimate": theta[tau_idx],
                             "std_error": se_tau, "n_obs": cell_n.astype(np.int64)})

    def weights(rows: np.ndarray) -> np.ndarray:
        """Coefficient weights of the mean effect over the treated observations ``rows`` (a boolean mask)."""
        w = np.zeros(theta.size)
        total = float(rows.sum())
        c = cell[rows]
        w[tau_idx] = np.bincount(c, minlength=n_cells) / total
        if xdm is not None:
            for k in range(len(covs)):
                sums = np.bincount(c, weights=xdm[rows, k], minlength=n_cells) / total
                for j in range(n_cells):
                    nm = dm_names[j][k]
                    if nm in pos:
                        w[pos[nm]] = sums[j]
        return w

    specs: list[tuple[str, float, np.ndarray]] = [("simple", np.nan, post)]
    specs += [("group", float(g), post & (lp.cohort == g)) for g in groups if np.any(post & (lp.cohort == g))]
    specs += [("calendar", float(t), post & (tv == t)) for t in lp.times if np.any(post & (tv == t))]
    ev = tv - lp.cohort
    ev_rows = post if control == "notyet" else cell_rows
    specs += [("event", float(e), ev_rows & (ev == e)) for e in np.unique(ev[ev_rows])]
    wmat = np.vstack([weights(rows) for _, _, rows in specs])
    est = wmat @ theta
    cov = wmat @ vcov @ wmat.T
    cov = (cov + cov.T) / 2
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    agg = pd.DataFrame({"type": [s[0] for s in specs], "level": [s[1] for s in specs], "estimate": est,
                        "std_error": se, "n_obs": [int(s[2].sum()) for s in specs]}, columns=_AGG_COLUMNS)
    coef = pd.DataFrame({"name": list(fit.names), "estimate": theta, "std_error": se_all})
    y = d.outcome
    rows: list[EffectEstimate] = []
    what = {"simple": "ATT (ETWFE: mean effect over treated observations)",
            "group": "ETWFE effect on cohort {:g}", "calendar": "ETWFE effect in period {:g}",
            "event": "ETWFE effect at event time {:g}"}
    for (kind, lev, _), b, s in zip(specs, est, se, strict=True):
        label = f"{y}[etwfe]" if kind == "simple" else f"{y}[etwfe,{kind}={lev:g}]"
        rows.append(normal_row(label, y, what[kind].format(lev), float(b), float(s), level=level))
    opts = prepared_options(d, level=level, control=control, covariates=list(covs),
                            fixed_effects="cohort and period", clustered_by=lp.clustered_by)
    return ETWFEResult(cells_df, agg, cov, int(lp.y.size), int(fit.n_clusters), coef, tuple(rows), opts, d.flow)


def etwfe(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str, cohort: str,
          covariates: Sequence[str] | None = None, control: Control = "notyet", cluster: str | None = None,
          level: float = 0.95, where: Sequence[str] = ()) -> ETWFEResult:
    """Linear extended two-way fixed effects (Wooldridge 2021) with the simple, group, calendar and event
    aggregations of R ``etwfe::emfx``.

    Parameters
    ----------
    data
        Long panel, one row per unit and period (a DataFrame or :class:`~cteimpact.data.StudentData`).
    outcome, time, unit, cohort
        Outcome, period, unit and first-treated-period columns (cohort 0 or infinity: never treated).
    covariates
        Numeric control columns; each enters with its cohort and period interactions, and, demeaned within cohort,
        interacted with every treatment cell (R ``etwfe``'s controls).
    control
        ``"notyet"`` (default, as R ``etwfe``): not-yet-treated and never-treated comparison; ``"never"``:
        never-treated comparison with pre-treatment placebo cells (reference period ``g − 1``).
    cluster
        Cluster column (constant within units); default: clustered by unit.
    level
        Confidence level of the intervals.
    where
        Sample restrictions (recorded in the sample flow).

    Returns
    -------
    ETWFEResult

    Raises
    ------
    OptionError
        ``control`` outside ``{"notyet", "never"}``, malformed ``covariates`` or ``level``.
    MissingColumnError, ColumnTypeError, InvalidValueError, DesignError
        Bad columns or a design without a treated cohort or comparison (see
        :func:`~cteimpact.did.panel.prepare_staggered_data`), or ETWFE terms the fixed effects absorb.
    """
    if control not in _CONTROLS:
        raise OptionError(f"control must be 'notyet' or 'never', got {control!r}")
    covs = check_covariates(covariates)
    level = check_level(level)
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, cluster=cluster,
                               where=where, control=control, covariates=covs, allow_unbalanced=True)
    return etwfe_from_prepared(d, control=control, level=level, with_covariates=bool(covs))

"""Wooldridge's extended two-way fixed effects (ETWFE) for staggered adoption (linear here; logit and Poisson in
:mod:`cteimpact.did.etwfe_glm`).

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
unbalanced panels and repeated cross-sections; every exclusion in the sample flow). Standard errors are clustered
by unit by default, as in R ``etwfe``'s documented examples (``vcov = ~countyreal``); ``fixest``'s own default for
that model would cluster by the first fixed effect, the cohort. Without a never-treated unit,
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
from cteimpact.did.twfe import LongPanel, check_covariates, long_panel
from cteimpact.did.within import fit_within, two_way
from cteimpact.errors import DesignError, InvalidValueError, OptionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate, normal_row
from cteimpact.results.intervals import check_level
from cteimpact.threads import one_blas_thread

__all__ = ["Design", "ETWFEResult", "aggregation_sets", "build_design", "etwfe", "etwfe_from_prepared"]

Control = Literal["notyet", "never"]
Family = Literal["linear", "logit", "poisson"]
_CONTROLS = ("notyet", "never")
_FAMILIES = ("linear", "logit", "poisson")
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
        ``family``, ``level``, ``fixed_effects`` and ``clustered_by``.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Extended two-way fixed effects (Wooldridge 2021; 2023 for the logit and Poisson links)"

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

    def _estimator_name(self) -> str:
        family = self.options.get("family", "linear")
        if family == "linear":
            return "Extended two-way fixed effects (Wooldridge 2021), linear"
        return f"Extended two-way fixed effects (Wooldridge 2023), {family} link"

    def _summary_header(self) -> list[str]:
        return [self._estimator_name(), ""]

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


@dataclass(frozen=True, eq=False)
class Design:
    """The ETWFE regressors of a prepared panel: long arrays, cohort codes, treatment cells and covariates.

    Attributes
    ----------
    lp
        The long arrays (:func:`~cteimpact.did.twfe.long_panel`).
    tv
        Period value of each observation.
    cohort_levels, ccode
        Distinct cohorts (0 = never treated, first when present) and each observation's cohort code.
    cell, names, cg, ct
        Cell code of each observation (-1: none), the cell coefficient names, cohorts and periods.
    post, cell_rows
        Treated observations (``t ≥ g``) and observations in a cell.
    x, xdm, covs, dm_names
        Covariates, their deviations from the cohort mean, names, and the names of the cell × deviation terms.
    columns
        Regressors besides the fixed effects: ``(name, builder)`` of the cells, covariates and interactions.
    """

    lp: LongPanel
    tv: np.ndarray
    groups: np.ndarray
    cohort_levels: np.ndarray
    ccode: np.ndarray
    cell: np.ndarray
    names: list[str]
    cg: np.ndarray
    ct: np.ndarray
    post: np.ndarray
    cell_rows: np.ndarray
    x: np.ndarray | None
    xdm: np.ndarray | None
    covs: tuple[str, ...]
    dm_names: list[list[str]]
    columns: list[tuple[str, Any]]

    @property
    def n_cells(self) -> int:
        return len(self.names)


def build_design(d: StaggeredData, *, control: Control, with_covariates: bool) -> Design:
    """The ETWFE regressors (see the module docstring) of prepared data."""
    if control not in _CONTROLS:
        raise OptionError(f"control must be 'notyet' or 'never', got {control!r}")
    lp = long_panel(d, with_covariates=with_covariates)
    tv = lp.times[lp.time]
    groups = np.asarray(d.groups, dtype=float)
    if groups.size == 0:
        raise DesignError(f"no treated cohort to estimate (column '{d.cohort}')")
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
    names = [f"tau_g{g:g}_t{t:g}" for g, t in zip(cg, ct, strict=True)]
    cols: list[tuple[str, Any]] = [(nm, partial(_column, "d", cell, j, None, 0)) for j, nm in enumerate(names)]
    covs = lp.covariates
    x = lp.x if covs else None
    xdm: np.ndarray | None = None
    dm_names: list[list[str]] = []
    if x is not None:
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
    return Design(lp, tv, groups, cohort_levels, ccode, cell, names, cg, ct, post, cell_rows, x, xdm, covs, dm_names,
                  cols)


def aggregation_sets(ds: Design, control: Control) -> list[tuple[str, float, np.ndarray]]:
    """``(type, level, rows)`` of every aggregation: simple, group, calendar and event (R ``emfx``'s sets)."""
    post, tv, cohort = ds.post, ds.tv, ds.lp.cohort
    specs: list[tuple[str, float, np.ndarray]] = [("simple", np.nan, post)]
    specs += [("group", float(g), post & (cohort == g)) for g in ds.groups if np.any(post & (cohort == g))]
    specs += [("calendar", float(t), post & (tv == t)) for t in ds.lp.times if np.any(post & (tv == t))]
    ev = tv - cohort
    ev_rows = post if control == "notyet" else ds.cell_rows
    specs += [("event", float(e), ev_rows & (ev == e)) for e in np.unique(ev[ev_rows])]
    return specs


def assemble(ds: Design, d: StaggeredData, *, control: Control, level: float, family: str,
             names: Sequence[str], theta: np.ndarray, vcov: np.ndarray, n_clusters: int,
             specs: list[tuple[str, float, np.ndarray]], est: np.ndarray, jac: np.ndarray) -> ETWFEResult:
    """The result from the coefficients ``theta`` (named ``names``, covariance ``vcov``) and the aggregations
    ``est`` with their Jacobian ``jac`` (rows: aggregations, columns: coefficients)."""
    pos = {nm: i for i, nm in enumerate(names)}
    se_all = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    tau_idx = np.array([pos[nm] for nm in ds.names])
    cell_n = np.bincount(ds.cell[ds.cell_rows], minlength=ds.n_cells)
    cells_df = pd.DataFrame({"cohort": ds.cg, "time": ds.ct, "event_time": ds.ct - ds.cg,
                             "estimate": theta[tau_idx], "std_error": se_all[tau_idx],
                             "n_obs": cell_n.astype(np.int64)})
    cov = jac @ vcov @ jac.T
    cov = (cov + cov.T) / 2
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    agg = pd.DataFrame({"type": [s[0] for s in specs], "level": [s[1] for s in specs], "estimate": est,
                        "std_error": se, "n_obs": [int(s[2].sum()) for s in specs]}, columns=_AGG_COLUMNS)
    coef = pd.DataFrame({"name": list(names), "estimate": theta, "std_error": se_all})
    y = d.outcome
    scale = "" if family == "linear" else f" ({family}: average difference in the expected outcome)"
    what = {"simple": "ATT (ETWFE: mean effect over treated observations)" + scale,
            "group": "ETWFE effect on cohort {:g}" + scale, "calendar": "ETWFE effect in period {:g}" + scale,
            "event": "ETWFE effect at event time {:g}" + scale}
    rows: list[EffectEstimate] = []
    for (kind, lev, _), b, s in zip(specs, est, se, strict=True):
        label = f"{y}[etwfe]" if kind == "simple" else f"{y}[etwfe,{kind}={lev:g}]"
        rows.append(normal_row(label, y, what[kind].format(lev), float(b), float(s), level=level))
    opts = prepared_options(d, level=level, control=control, covariates=list(ds.covs), family=family,
                            fixed_effects="cohort and period", clustered_by=ds.lp.clustered_by)
    return ETWFEResult(cells_df, agg, cov, int(ds.lp.y.size), int(n_clusters), coef, tuple(rows), opts, d.flow)


@one_blas_thread()
def etwfe_from_prepared(d: StaggeredData, *, control: Control = "notyet", level: float = 0.95,
                        with_covariates: bool = False, family: Family = "linear") -> ETWFEResult:
    """ETWFE on prepared data (see :func:`etwfe`); the prepared covariates enter only with ``with_covariates``."""
    level = check_level(level)
    if family not in _FAMILIES:
        raise OptionError(f"family must be one of {', '.join(_FAMILIES)}, got {family!r}")
    ds = build_design(d, control=control, with_covariates=with_covariates)
    specs = aggregation_sets(ds, control)
    if family != "linear":
        from cteimpact.did.etwfe_glm import fit_glm

        _check_outcome(ds.lp.y, family, d.outcome)

        g = fit_glm(ds, family, specs)
        return assemble(ds, d, control=control, level=level, family=family, names=g.names, theta=g.params,
                        vcov=g.cov, n_clusters=g.n_clusters, specs=specs, est=g.effects, jac=g.jacobian)
    lp = ds.lp
    fit = fit_within(lp.y, ds.columns, two_way(ds.ccode, lp.time), lp.cluster, lp.n_clusters)
    if fit is None:
        raise DesignError(f"the ETWFE regressors are collinear once the cohort and period fixed effects are removed "
                          f"({len(ds.columns)} regressors, {lp.y.size:,} observations); check the covariates "
                          f"{', '.join(repr(c) for c in ds.covs) or '(none)'}")
    bad = [nm for nm in fit.absorbed if nm in ds.names or nm.startswith("covariate:")]
    if bad:
        raise DesignError(f"ETWFE terms absorbed by the cohort and period fixed effects: {', '.join(bad)} "
                          f"({lp.y.size:,} observations)")
    pos = {nm: i for i, nm in enumerate(fit.names)}
    jac = np.vstack([_linear_weights(ds, rows, pos, fit.params.size) for _, _, rows in specs])
    return assemble(ds, d, control=control, level=level, family="linear", names=fit.names, theta=fit.params,
                    vcov=fit.cov, n_clusters=fit.n_clusters, specs=specs, est=jac @ fit.params, jac=jac)


def _check_outcome(y: np.ndarray, family: str, outcome: str) -> None:
    """A logit needs a 0/1 outcome, a Poisson model a non-negative one."""
    if family == "logit":
        bad = ~np.isin(y, (0.0, 1.0))
        if np.any(bad):
            vals = ", ".join(f"{v:g}" for v in np.unique(y[bad])[:5])
            raise InvalidValueError(f"family='logit' needs a binary (0/1) outcome, but column '{outcome}' has "
                                    f"{int(bad.sum()):,} of {y.size:,} observations with other values (e.g. {vals})")
    elif family == "poisson":
        bad = y < 0
        if np.any(bad):
            raise InvalidValueError(f"family='poisson' needs a non-negative outcome, but column '{outcome}' has "
                                    f"{int(bad.sum()):,} of {y.size:,} observations below 0")


def _linear_weights(ds: Design, rows: np.ndarray, pos: Mapping[str, int], p: int) -> np.ndarray:
    """Coefficient weights of the mean effect ``τ_gs + (x − x̄_g)'δ_gs`` over the treated observations ``rows``."""
    w = np.zeros(p)
    total = float(rows.sum())
    c = ds.cell[rows]
    w[[pos[nm] for nm in ds.names]] = np.bincount(c, minlength=ds.n_cells) / total
    if ds.xdm is not None:
        for k in range(len(ds.covs)):
            sums = np.bincount(c, weights=ds.xdm[rows, k], minlength=ds.n_cells) / total
            for j in range(ds.n_cells):
                nm = ds.dm_names[j][k]
                if nm in pos:
                    w[pos[nm]] = sums[j]
    return w


def etwfe(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str, cohort: str,
          covariates: Sequence[str] | None = None, control: Control = "notyet", cluster: str | None = None,
          level: float = 0.95, where: Sequence[str] = (), family: Family = "linear") -> ETWFEResult:
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
    family
        ``"linear"`` (default; Wooldridge 2021), or ``"logit"`` (0/1 outcome) / ``"poisson"`` (non-negative
        outcome) for Wooldridge's (2023) nonlinear ETWFE (:mod:`cteimpact.did.etwfe_glm`): cohort and period
        dummies in a canonical-link GLM, effects as average differences in the expected outcome.

    Returns
    -------
    ETWFEResult

    Raises
    ------
    OptionError
        ``control`` outside ``{"notyet", "never"}``, ``family`` outside ``{"linear", "logit", "poisson"}``,
        malformed ``covariates`` or ``level``.
    InvalidValueError
        A logit on an outcome that is not 0/1, a Poisson model on a negative outcome.
    EstimationError
        A nonlinear fit that does not converge (for example perfect separation in a logit).
    MissingColumnError, ColumnTypeError, InvalidValueError, DesignError
        Bad columns or a design without a treated cohort or comparison (see
        :func:`~cteimpact.did.panel.prepare_staggered_data`), or ETWFE terms the fixed effects absorb.
    """
    if control not in _CONTROLS:
        raise OptionError(f"control must be 'notyet' or 'never', got {control!r}")
    if family not in _FAMILIES:
        raise OptionError(f"family must be one of {', '.join(_FAMILIES)}, got {family!r}")
    covs = check_covariates(covariates)
    level = check_level(level)
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, cluster=cluster,
                               where=where, control=control, covariates=covs, allow_unbalanced=True)
    return etwfe_from_prepared(d, control=control, level=level, with_covariates=bool(covs), family=family)

"""Two-way fixed effects (TWFE) comparisons, fitted by the within solver (:mod:`cteimpact.did.within`).

* :func:`twfe`: ``y_it = α_i + λ_t + β D_it + u_it`` with ``D_it = 1{G_i > 0, t >= G_i}``;
* :func:`twfe_event_study`: ``y_it = α_i + λ_t + Σ_{e ≠ -1} β_e 1{G_i > 0, t − G_i = e} + u_it``
  (the "dynamic" TWFE specification; with no never-treated unit the most negative event time is dropped as well, since
  otherwise the relative-time dummies are collinear with the fixed effects).

Both use unit and period fixed effects (cohort and period effects for repeated cross-sections), removed by two-way
demeaning on integer codes (closed form in balanced panels, exact otherwise; :mod:`cteimpact.did.within`), optional
numeric covariates (``covariates=``, demeaned like the treatment indicator), and a cluster-robust covariance with
``fixest``'s small-sample convention (``G/(G−1) · (n−1)/(n−K)``, ``K`` counting the regressors and the fixed effects
not nested in the clusters; intervals use t with ``G − 1`` degrees of freedom), clustered by the cluster variable or,
by default, by unit.
With staggered adoption and effects that change over time, these coefficients are weighted averages of 2×2
comparisons with possibly negative weights (Goodman-Bacon 2021; Sun & Abraham 2021): report them only as a
comparison with the heterogeneity-robust estimates.

Their :class:`TWFEResult` honours the results contract (rows ``<outcome>[twfe]`` and ``<outcome>[twfe,event=e]``);
its ``estimate`` is at once the coefficient (a number) and the contract's ``estimate(label)`` (see
:mod:`cteimpact.did.comparison`). ``linearmodels.PanelOLS`` is the fallback for one design only: regressors
collinear among themselves once the fixed effects are removed (it drops some, as ``drop_absorbed``); the result's
notes then say so (``solver_note``), and ``linearmodels``' exceptions become
:class:`~cteimpact.errors.EstimationError`. A covariate the fixed effects absorb (or, on that path, one dropped as
collinear) is a :class:`~cteimpact.errors.DesignError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.comparison import Coefficient, ComparisonResults, no_flow, prepared_options
from cteimpact.did.panel import StaggeredData, prepare_staggered_data, present
from cteimpact.did.wild import WildResult, WildWeights, demean_two_way, wild_twfe
from cteimpact.did.within import fit_within, two_way
from cteimpact.errors import DesignError, EstimationError, OptionError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate, normal_row
from cteimpact.results.intervals import check_level, size_of
from cteimpact.threads import one_blas_thread

__all__ = ["LongPanel", "TWFEResult", "long_panel", "twfe", "twfe_event_study", "twfe_from_prepared"]


@dataclass(frozen=True, eq=False)
class LongPanel:
    """Long arrays of a prepared panel: outcome, unit and period codes, cohort, cluster codes, covariates (``N × k``
    or ``None``) and whether the rows form a balanced panel (unit-major, every unit in every period once)."""

    y: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    cohort: np.ndarray
    times: np.ndarray
    cluster: np.ndarray
    n_clusters: int
    clustered_by: str
    entity_kind: str
    x: np.ndarray | None = None
    covariates: tuple[str, ...] = ()
    balanced: bool = False

    @property
    def treated(self) -> np.ndarray:
        tv = self.times[self.time]
        return ((self.cohort > 0) & (tv >= self.cohort)).astype(float)


def long_panel(d: StaggeredData, *, with_covariates: bool = False) -> LongPanel:
    """Long arrays (one row per unit-period or observation) from prepared data (with the prepared covariates when
    ``with_covariates``). Cluster codes are found among the influence-function rows (units), not the ``N`` long
    rows."""
    if d.mode == "panel":
        yw = np.ascontiguousarray(present(d.y_wide, "panel outcomes"))  # unit by unit, as the long rows go
        n, t = yw.shape
        unit = np.repeat(np.arange(n, dtype=np.int64), t)
        time = np.tile(np.arange(t, dtype=np.int64), n)
        y = yw.reshape(-1)
        cohort = np.repeat(d.row_cohort, t)
        if d.row_cluster is None:
            cl_codes, n_clusters = unit, n  # clustered by unit: the unit codes
        else:
            _, row_codes = np.unique(d.row_cluster, return_inverse=True)
            cl_codes = np.repeat(row_codes.astype(np.int64), t)
            n_clusters = int(row_codes.max()) + 1
        kind = "unit"
        x = None if d.x_wide is None or not with_covariates else d.x_wide.transpose(1, 0, 2).reshape(n * t, -1)
    else:
        y = present(d.obs_y, "outcomes")
        time = present(d.obs_t, "periods").astype(np.int64)
        obs_row = present(d.obs_row, "rows").astype(np.int64)
        cohort = d.row_cohort[obs_row]
        if d.mode == "unbalanced":
            unit = obs_row
            kind = "unit"
        else:
            _, unit = np.unique(cohort, return_inverse=True)
            kind = "cohort"
        cl = d.row_cluster[obs_row] if d.row_cluster is not None else obs_row
        _, codes = np.unique(cl, return_inverse=True)
        cl_codes = codes.astype(np.int64)
        n_clusters = int(cl_codes.max()) + 1
        x = d.obs_x if with_covariates else None
    return LongPanel(y=y, unit=np.asarray(unit, dtype=np.int64), time=np.asarray(time, dtype=np.int64),
                     cohort=cohort, times=d.times, cluster=cl_codes, n_clusters=n_clusters,
                     clustered_by=d.cluster or ("unit" if d.mode != "rcs" else "observation"), entity_kind=kind,
                     x=None if x is None else np.asarray(x, dtype=np.float64),
                     covariates=tuple(d.covariates) if x is not None else (), balanced=d.mode == "panel")


@dataclass(frozen=True, eq=False)
class TWFEResult(ComparisonResults):
    """A TWFE coefficient (and optionally an event study) with clustered inference; it honours the results contract
    (:class:`~cteimpact.results.contract.ImpactResults`: ``estimates``, ``options``, ``sample_flow``, ``summary``,
    ``tidy``, ``to_dict``, ``plot``, ``sampling_distribution``, ``params``, ``std_errors``, ``conf_int``).

    ``estimate`` is both the coefficient and the contract's ``estimate(label)``: it is a
    :class:`~cteimpact.did.comparison.Coefficient`, a ``float`` subclass, so ``res.estimate - 0.1`` and
    ``f"{res.estimate:.4f}"`` use the number while ``res.estimate()`` returns the coefficient's
    :class:`~cteimpact.results.estimate.EffectEstimate` row and ``res.estimate("y[twfe,event=2]")`` any row.

    Attributes
    ----------
    estimate, std_error, ci_lower, ci_upper
        Coefficient on the treatment indicator, cluster-robust standard error and ``level`` interval (t with
        ``G − 1`` degrees of freedom, as ``linearmodels``/Stata).
    n_obs, n_entities, n_clusters
        Observations (unit-periods, or observations of repeated cross-sections), units (cohorts for repeated
        cross-sections) and clusters ``G``.
    description
        Fixed effects and clustering in words.
    event_study
        Event-study coefficients (``event_time, estimate, std_error``) when requested, and ``event_cov`` their
        covariance.
    wild
        Restricted wild cluster bootstrap of the coefficient, when requested.
    estimates
        Row ``<outcome>[twfe]`` (the coefficient; its test and interval are t with ``G − 1`` degrees of freedom,
        ``ci_type = "conventional"``, or, with the wild cluster bootstrap, that bootstrap's p-value and inverted
        interval, ``ci_type = "wild_cluster_bootstrap"``, beside the cluster-robust standard error), then rows
        ``<outcome>[twfe,event=e]`` of the event study when it was fitted (t with ``G − 1`` degrees of freedom).
    options
        The data options (:func:`~cteimpact.did.comparison.prepared_options`) and ``event_study``,
        ``wild_bootstrap``, ``wild_weights``, ``seed``, ``level``.
    sample_flow
        The sample flow of the prepared data the regression used.

    Notes
    -----
    :meth:`sampling_distribution` is the Student t with ``G − 1`` degrees of freedom centred on the coefficient,
    scaled by its cluster-robust standard error. It covers the ``<outcome>[twfe]`` row only: the event study is a
    separate regression whose covariance with the coefficient is not estimated. :meth:`record` is the legacy
    record (the coefficient, its inference, event study and wild bootstrap) written as ``details.twfe`` of a
    difference-in-differences results file; :meth:`to_dict` is the contract's record with it under ``details``.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Two-way fixed effects (TWFE) regression with cluster-robust inference"

    # field(): without it the dataclass would take the inherited estimate() method as the field's default
    estimate: Coefficient = field()
    std_error: float
    ci_lower: float
    ci_upper: float
    n_obs: int
    n_entities: int
    n_clusters: int
    description: str
    event_study: pd.DataFrame | None = None
    event_cov: np.ndarray | None = None
    wild: WildResult | None = None
    estimates: tuple[EffectEstimate, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_flow: SampleFlow = field(default_factory=no_flow)
    solver_note: str | None = None

    def __post_init__(self) -> None:
        # the coefficient (given as a number or a Coefficient) carries this result's rows for its contract lookup
        object.__setattr__(self, "estimate", Coefficient(self.estimate, self.estimates))

    @property
    def df(self) -> int:
        """Degrees of freedom of the t reference of the intervals (``G − 1``)."""
        return self.n_clusters - 1

    def record(self) -> dict[str, Any]:
        """The coefficient with its inference, event study and wild bootstrap, as written in a DiD results file."""
        out: dict[str, Any] = {"estimate": float(self.estimate), "se": self.std_error, "ci_lower": self.ci_lower,
                               "ci_upper": self.ci_upper, "n_obs": self.n_obs, "n_entities": self.n_entities,
                               "n_clusters": self.n_clusters, "description": self.description}
        if self.event_study is not None:
            out["event_study"] = self.event_study.to_dict(orient="records")
        if self.wild is not None:
            out["wild_cluster_bootstrap"] = self.wild.to_dict()
        return out

    def sampling_distribution(self) -> SamplingDistribution:
        """Student t with ``G − 1`` degrees of freedom centred on the coefficient, scaled by its cluster-robust
        standard error (the ``<outcome>[twfe]`` row only; see the class notes)."""
        head = self.estimate()
        return SamplingDistribution((head.label,), np.array([float(self.estimate)]),
                                    np.array([[self.std_error ** 2]]), df=self.df, centre="TWFE coefficient",
                                    scale=f"cluster-robust standard error ({self.n_clusters} clusters, fixest "
                                          "small-sample factor)")

    def _notes(self) -> list[str]:
        notes = [f"Fixed effects and clustering: {self.description}; t({self.df}) critical values; "
                 f"{self.n_obs:,} observations."]
        if self.solver_note:
            notes.append(self.solver_note)
        if self.wild is not None:
            w = self.wild
            notes.append(f"Restricted wild cluster bootstrap of the coefficient: p = {w.p_value:.4f}, "
                         f"{w.ci_level:.0%} CI [{w.ci_lower:.4f}, {w.ci_upper:.4f}] ({w.weights} weights, "
                         f"{w.n_draws} draws); the coefficient's row shows it.")
        notes.append("With staggered adoption and effects that change over time TWFE weights 2x2 comparisons with "
                     "possibly negative weights: report it only beside a heterogeneity-robust estimate.")
        return notes


def _with_contract(res: TWFEResult, d: StaggeredData, options: Mapping[str, Any]) -> TWFEResult:
    """``res`` with its estimate rows (the coefficient first), ``options`` and the data's sample flow."""
    y = d.outcome
    level = float(options["level"])
    df = res.n_clusters - 1
    est, se = float(res.estimate), res.std_error
    stat = est / se if se > 0 and math.isfinite(se) else math.nan
    term = "TWFE coefficient on the treatment indicator (unit or cohort and period fixed effects)"
    w = res.wild
    if w is None:
        p = float(2 * stats.t.sf(abs(stat), df)) if math.isfinite(stat) else math.nan
        head = EffectEstimate(f"{y}[twfe]", y, term, est, se, stat, p, res.ci_lower, res.ci_upper, level,
                              "conventional")
    else:
        head = EffectEstimate(f"{y}[twfe]", y, term, est, se, stat, w.p_value, w.ci_lower, w.ci_upper, w.ci_level,
                              "wild_cluster_bootstrap")
    rows = [head]
    if res.event_study is not None:
        for r in res.event_study.to_dict(orient="records"):
            e = float(r["event_time"])
            rows.append(normal_row(f"{y}[twfe,event={e:g}]", y, f"TWFE event-study coefficient at event time {e:g}",
                                   float(r["estimate"]), float(r["std_error"]), level=level, df=df))
    return replace(res, estimates=tuple(rows), options=dict(options), sample_flow=d.flow)


Column = tuple[str, Callable[[], np.ndarray]]
#: the note of a result fitted by the fallback ``linearmodels.PanelOLS`` path
FALLBACK_NOTE = ("Regressors collinear among themselves after removing the fixed effects: fitted with "
                 "linearmodels.PanelOLS (drop_absorbed) instead of the within solver.")


@dataclass(frozen=True, eq=False)
class _Fit:
    params: pd.Series
    cov: pd.DataFrame
    n_clusters: int
    dof_k: int
    note: str | None = None


def covariate_columns(lp: LongPanel) -> list[Column]:
    """The covariates as regressors (named ``covariate:<column>``)."""
    if lp.x is None:
        return []
    x = lp.x
    return [(f"covariate:{name}", partial(_column, x, j)) for j, name in enumerate(lp.covariates)]


def _column(x: np.ndarray, j: int) -> np.ndarray:
    return x[:, j]


def indicator(codes: np.ndarray, value: float) -> np.ndarray:
    """``1{codes == value}`` as float64."""
    return (codes == value).astype(np.float64)


def _fit(lp: LongPanel, columns: Sequence[Column]) -> _Fit:
    """Two-way fixed-effects fit of the outcome on ``columns`` (and the covariates), by the within solver
    (:mod:`cteimpact.did.within`), or by ``linearmodels.PanelOLS`` when the regressors are collinear among
    themselves (the fit's ``note`` says so). A covariate the fixed effects absorb is an error naming it."""
    cols = [*columns, *covariate_columns(lp)]
    fit = fit_within(lp.y, cols, two_way(lp.unit, lp.time, balanced=lp.balanced), lp.cluster, lp.n_clusters)
    if fit is None:
        x = pd.DataFrame({name: build() for name, build in cols})
        res = _fit_panelols(lp, x)
        absorbed = [name for name, _ in cols if name not in res.params.index]
        res = replace(res, note=FALLBACK_NOTE)
    else:
        names = list(fit.names)
        res = _Fit(pd.Series(fit.params, index=names), pd.DataFrame(fit.cov, index=names, columns=names),
                   fit.n_clusters, fit.dof_k)
        absorbed = list(fit.absorbed)
    bad = [name.removeprefix("covariate:") for name in absorbed if name.startswith("covariate:")]
    if bad:
        ent = "cohort" if lp.entity_kind == "cohort" else "unit"
        many = len(bad) > 1
        what = (f"{'are' if many else 'is'} constant within the {ent} and period fixed effects" if fit is not None
                else f"{'are' if many else 'is'} collinear with the other regressors once the {ent} and period "
                     "fixed effects are removed")
        raise DesignError(f"covariate{'s' if many else ''} {', '.join(repr(b) for b in bad)} {what} "
                          f"({lp.y.size:,} observations): the regression cannot estimate "
                          f"{'their coefficients' if many else 'its coefficient'}")
    return res


def _fit_panelols(lp: LongPanel, x: pd.DataFrame) -> _Fit:
    """Fit with ``linearmodels.PanelOLS`` (unit or cohort, and period effects) and compute the cluster-robust
    covariance with ``fixest``'s small-sample convention (``G/(G-1) · (n-1)/(n-K)``, where ``K`` counts the
    regressors and the fixed effects not nested in the clusters), from the PanelOLS residuals and the
    two-way-demeaned regressors (Frisch-Waugh-Lovell)."""
    from linearmodels.panel import PanelOLS

    idx = pd.MultiIndex.from_arrays([np.arange(lp.y.size) if lp.entity_kind == "cohort" else lp.unit, lp.time],
                                    names=["entity", "time"])
    y = pd.Series(lp.y, index=idx, name="y")
    xi = x.set_axis(idx, axis=0)
    try:
        if lp.entity_kind == "cohort":
            other = pd.DataFrame({"cohort": lp.unit}, index=idx)
            mod = PanelOLS(y, xi, time_effects=True, other_effects=other, drop_absorbed=True)
        else:
            mod = PanelOLS(y, xi, entity_effects=True, time_effects=True, drop_absorbed=True)
        res = mod.fit(cov_type="unadjusted")
    except Exception as exc:  # linearmodels raises ValueError/LinAlgError/its own errors
        raise EstimationError(f"linearmodels PanelOLS failed while fitting the TWFE regression: {exc}") from exc
    names = [c for c in x.columns if c in res.params.index]
    params = res.params[names]
    resid = np.asarray(res.resids, dtype=float)
    xt = demean_two_way(x[names].to_numpy(dtype=float), lp.unit, lp.time)
    bread = np.linalg.inv(xt.T @ xt)
    g = lp.n_clusters
    scores = np.zeros((g, len(names)))
    for j in range(len(names)):
        scores[:, j] = np.bincount(lp.cluster, weights=xt[:, j] * resid, minlength=g)
    cov = bread @ (scores.T @ scores) @ bread
    n = lp.y.size
    n_ent = int(lp.unit.max()) + 1
    n_time = int(lp.time.max()) + 1

    def nested(codes: np.ndarray, m: int) -> bool:
        first = np.full(m, -1, dtype=np.int64)
        first[codes] = lp.cluster
        return bool(np.all(first[codes] == lp.cluster))

    ent_nested = nested(lp.unit, n_ent)
    time_nested = nested(lp.time, n_time)
    fe_k = (0 if ent_nested else n_ent) + (0 if time_nested else n_time)
    if not ent_nested and not time_nested:
        fe_k -= 1
    k = len(names) + fe_k
    cov = cov * (g / (g - 1)) * ((n - 1) / max(n - k, 1))
    return _Fit(params, pd.DataFrame(cov, index=names, columns=names), g, k)


def _twfe_core(lp: LongPanel, *, wild_bootstrap: int | None, wild_weights: WildWeights, seed: int | None,
               level: float) -> TWFEResult:
    d = lp.treated
    if np.all(d == d[0]):
        raise DesignError("the treatment indicator does not vary: no TWFE coefficient")
    res = _fit(lp, [("treated", lambda: d)])
    if "treated" not in res.params.index:
        raise DesignError("the treatment indicator is absorbed by the fixed effects")
    est = float(res.params["treated"])
    se = float(np.sqrt(res.cov.loc["treated", "treated"]))
    tcrit = float(stats.t.ppf(1 - size_of(level) / 2, res.n_clusters - 1))
    wild = None
    if wild_bootstrap is not None:
        wild = wild_twfe(lp.y, d, lp.unit, lp.time, lp.cluster, n_draws=wild_bootstrap, weights=wild_weights,
                         seed=seed, alpha=size_of(level), dof_k=res.dof_k)
    ent = "cohort" if lp.entity_kind == "cohort" else "unit"
    desc = f"{ent} and period fixed effects, clustered by {lp.clustered_by} ({lp.n_clusters} clusters)"
    return TWFEResult(Coefficient(est), se, est - tcrit * se, est + tcrit * se, int(lp.y.size),
                      int(lp.unit.max()) + 1, lp.n_clusters, desc, wild=wild, solver_note=res.note)


@one_blas_thread()
def twfe_from_prepared(d: StaggeredData, *, event_study: bool = False, wild_bootstrap: int | None = None,
                       wild_weights: WildWeights = "webb", seed: int | None = None,
                       level: float = 0.95, with_covariates: bool = False) -> TWFEResult:
    """TWFE (and optionally its event study) on data prepared for the Callaway–Sant'Anna estimator; the result
    honours the results contract (see :class:`TWFEResult`); intervals at confidence ``level``. The prepared
    covariates enter as regressors only with ``with_covariates`` (the wild bootstrap does not support them)."""
    level = check_level(level)
    lp = long_panel(d, with_covariates=with_covariates)
    if lp.covariates and wild_bootstrap is not None:
        raise OptionError("the wild cluster bootstrap of the TWFE coefficient does not support covariates "
                          f"(got {len(lp.covariates)}: {', '.join(lp.covariates)})")
    out = _twfe_core(lp, wild_bootstrap=wild_bootstrap, wild_weights=wild_weights, seed=seed, level=level)
    if event_study:
        es, cov, note = _event_study_fit(lp)
        out = replace(out, event_study=es, event_cov=cov, solver_note=out.solver_note or note)
    options = prepared_options(d, event_study=event_study, wild_bootstrap=wild_bootstrap, wild_weights=wild_weights,
                               seed=seed, level=level)
    return _with_contract(out, d, options)


def _event_study_core(lp: LongPanel, reference: int = -1) -> tuple[pd.DataFrame, np.ndarray]:
    es, cov, _ = _event_study_fit(lp, reference)
    return es, cov


def _event_study_fit(lp: LongPanel, reference: int = -1) -> tuple[pd.DataFrame, np.ndarray, str | None]:
    tv = lp.times[lp.time]
    treated_unit = lp.cohort > 0
    ev = np.where(treated_unit, tv - lp.cohort, np.nan)
    levels = np.unique(ev[treated_unit])
    drop = {float(reference)}
    if not np.any(~treated_unit):
        drop.add(float(levels.min()))
    keep_levels = [e for e in levels if float(e) not in drop]
    labels = [f"e{int(e) if float(e).is_integer() else e}" for e in keep_levels]
    cols: list[Column] = [(lab, partial(indicator, ev, e)) for lab, e in zip(labels, keep_levels, strict=True)]
    res = _fit(lp, cols)
    names = [c for c in labels if c in res.params.index]
    cov = res.cov.loc[names, names].to_numpy()
    es = pd.DataFrame({"event_time": [float(keep_levels[labels.index(c)]) for c in names],
                       "estimate": res.params[names].to_numpy(), "std_error": np.sqrt(np.diag(cov))})
    return es, cov, res.note


def twfe(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str | None = None,
         cohort: str | None = None, treatment: str | None = None, cluster: str | None = None, panel: bool = True,
         allow_unbalanced: bool = False, where: Sequence[str] = (), event_study: bool = False,
         wild_bootstrap: int | None = None, wild_weights: WildWeights = "webb", seed: int | None = None,
         level: float = 0.95, covariates: Sequence[str] | None = None) -> TWFEResult:
    """TWFE coefficient (and event study) directly from a data frame (same data rules as the CS estimator); the
    result honours the results contract (see :class:`TWFEResult`). ``covariates``: numeric columns entered as
    regressors (demeaned like the treatment indicator; rows missing one are dropped and recorded in the sample
    flow)."""
    covs = check_covariates(covariates)
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               cluster=cluster, panel=panel, allow_unbalanced=allow_unbalanced, where=where,
                               covariates=covs)
    return twfe_from_prepared(d, event_study=event_study, wild_bootstrap=wild_bootstrap,
                              wild_weights=wild_weights, seed=seed, level=level, with_covariates=bool(covs))


def check_covariates(covariates: Sequence[str] | None) -> tuple[str, ...]:
    """The covariate column names (a sequence of strings), or an :class:`~cteimpact.errors.OptionError`."""
    if covariates is None:
        return ()
    if isinstance(covariates, str) or not isinstance(covariates, Sequence):
        raise OptionError(f"covariates must be a list of column names, got {type(covariates).__name__} "
                          f"{covariates!r}")
    bad = [c for c in covariates if not isinstance(c, str)]
    if bad:
        raise OptionError(f"covariates must be column names (strings), got {bad!r}")
    return tuple(covariates)


def twfe_event_study(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str | None = None,
                     cohort: str | None = None, treatment: str | None = None, cluster: str | None = None,
                     panel: bool = True, where: Sequence[str] = (), reference: int = -1,
                     covariates: Sequence[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Event-study TWFE coefficients and their clustered covariance (reference event time ``reference``;
    ``covariates`` as in :func:`twfe`)."""
    covs = check_covariates(covariates)
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               cluster=cluster, panel=panel, where=where, covariates=covs)
    return _event_study_core(long_panel(d, with_covariates=bool(covs)), reference=reference)

"""Two-way fixed effects (TWFE) comparisons, through a thin adapter over ``linearmodels.PanelOLS``.

* :func:`twfe`: ``y_it = α_i + λ_t + β D_it + u_it`` with ``D_it = 1{G_i > 0, t >= G_i}``;
* :func:`twfe_event_study`: ``y_it = α_i + λ_t + Σ_{e ≠ -1} β_e 1{G_i > 0, t − G_i = e} + u_it``
  (the "dynamic" TWFE specification; with no never-treated unit the most negative event time is dropped as well, since
  otherwise the relative-time dummies are collinear with the fixed effects).

Both use unit and period fixed effects (cohort and period effects for repeated cross-sections), estimated by
``linearmodels.PanelOLS``, and a cluster-robust covariance with ``fixest``'s small-sample convention
(``G/(G−1) · (n−1)/(n−K)``, ``K`` counting the regressors and the fixed effects not nested in the clusters;
intervals use t with ``G − 1`` degrees of freedom), clustered by the cluster variable or, by default, by unit.
With staggered adoption and effects that change over time, these coefficients are weighted averages of 2×2
comparisons with possibly negative weights (Goodman-Bacon 2021; Sun & Abraham 2021): report them only as a
comparison with the heterogeneity-robust estimates.

This module translates ``linearmodels``' exceptions into :class:`~cteimpact.errors.EstimationError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.student_data import StudentData
from cteimpact.did.panel import StaggeredData, prepare_staggered_data, present
from cteimpact.did.wild import WildResult, WildWeights, demean_two_way, wild_twfe
from cteimpact.errors import DesignError, EstimationError
from cteimpact.threads import one_blas_thread

__all__ = ["LongPanel", "TWFEResult", "long_panel", "twfe", "twfe_event_study", "twfe_from_prepared"]


@dataclass(frozen=True, eq=False)
class LongPanel:
    """Long arrays of a prepared panel: outcome, unit and period codes, cohort, cluster codes."""

    y: np.ndarray
    unit: np.ndarray
    time: np.ndarray
    cohort: np.ndarray
    times: np.ndarray
    cluster: np.ndarray
    n_clusters: int
    clustered_by: str
    entity_kind: str

    @property
    def treated(self) -> np.ndarray:
        tv = self.times[self.time]
        return ((self.cohort > 0) & (tv >= self.cohort)).astype(float)


def long_panel(d: StaggeredData) -> LongPanel:
    """Long arrays (one row per unit-period or observation) from prepared data."""
    if d.mode == "panel":
        yw = present(d.y_wide, "panel outcomes")
        n, t = yw.shape
        unit = np.repeat(np.arange(n), t)
        time = np.tile(np.arange(t), n)
        y = yw.reshape(-1)
        cohort = np.repeat(d.row_cohort, t)
        cl = np.repeat(d.row_cluster, t) if d.row_cluster is not None else unit
        kind = "unit"
    else:
        y = present(d.obs_y, "outcomes")
        time = present(d.obs_t, "periods").astype(np.int64)
        obs_row = present(d.obs_row, "rows")
        cohort = d.row_cohort[obs_row]
        if d.mode == "unbalanced":
            unit = obs_row.astype(np.int64)
            kind = "unit"
        else:
            _, unit = np.unique(cohort, return_inverse=True)
            kind = "cohort"
        cl = d.row_cluster[obs_row] if d.row_cluster is not None else obs_row.astype(np.int64)
    _, cl_codes = np.unique(cl, return_inverse=True)
    return LongPanel(y=y, unit=np.asarray(unit, dtype=np.int64), time=np.asarray(time, dtype=np.int64),
                     cohort=cohort, times=d.times, cluster=cl_codes.astype(np.int64),
                     n_clusters=int(cl_codes.max()) + 1, clustered_by=d.cluster or ("unit" if d.mode != "rcs"
                                                                                      else "observation"),
                     entity_kind=kind)


@dataclass(frozen=True, eq=False)
class TWFEResult:
    """A TWFE coefficient (and optionally an event study) with clustered inference.

    Attributes
    ----------
    estimate, std_error, ci_lower, ci_upper
        Coefficient on the treatment indicator, cluster-robust standard error and 95% interval (t with ``G − 1``
        degrees of freedom, as ``linearmodels``/Stata).
    event_study
        Event-study coefficients (``event_time, estimate, std_error``) when requested, and ``event_cov`` their
        covariance.
    wild
        Restricted wild cluster bootstrap of the coefficient, when requested.
    """

    estimate: float
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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"estimate": self.estimate, "se": self.std_error, "ci_lower": self.ci_lower,
                               "ci_upper": self.ci_upper, "n_obs": self.n_obs, "n_entities": self.n_entities,
                               "n_clusters": self.n_clusters, "description": self.description}
        if self.event_study is not None:
            out["event_study"] = self.event_study.to_dict(orient="records")
        if self.wild is not None:
            out["wild_cluster_bootstrap"] = self.wild.to_dict()
        return out


@dataclass(frozen=True, eq=False)
class _Fit:
    params: pd.Series
    cov: pd.DataFrame
    n_clusters: int
    dof_k: int


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
               alpha: float) -> TWFEResult:
    d = lp.treated
    if np.all(d == d[0]):
        raise DesignError("the treatment indicator does not vary: no TWFE coefficient")
    res = _fit_panelols(lp, pd.DataFrame({"treated": d}))
    if "treated" not in res.params.index:
        raise DesignError("the treatment indicator is absorbed by the fixed effects")
    est = float(res.params["treated"])
    se = float(np.sqrt(res.cov.loc["treated", "treated"]))
    tcrit = float(stats.t.ppf(1 - alpha / 2, res.n_clusters - 1))
    wild = None
    if wild_bootstrap is not None:
        wild = wild_twfe(lp.y, d, lp.unit, lp.time, lp.cluster, n_draws=wild_bootstrap, weights=wild_weights,
                         seed=seed, alpha=alpha, dof_k=res.dof_k)
    ent = "cohort" if lp.entity_kind == "cohort" else "unit"
    desc = f"{ent} and period fixed effects, clustered by {lp.clustered_by} ({lp.n_clusters} clusters)"
    return TWFEResult(est, se, est - tcrit * se, est + tcrit * se, int(lp.y.size), int(lp.unit.max()) + 1,
                      lp.n_clusters, desc, wild=wild)


@one_blas_thread()
def twfe_from_prepared(d: StaggeredData, *, event_study: bool = False, wild_bootstrap: int | None = None,
                       wild_weights: WildWeights = "webb", seed: int | None = None,
                       alpha: float = 0.05) -> TWFEResult:
    """TWFE (and optionally its event study) on data prepared for the Callaway–Sant'Anna estimator."""
    lp = long_panel(d)
    out = _twfe_core(lp, wild_bootstrap=wild_bootstrap, wild_weights=wild_weights, seed=seed, alpha=alpha)
    if event_study:
        es, cov = _event_study_core(lp)
        out = TWFEResult(out.estimate, out.std_error, out.ci_lower, out.ci_upper, out.n_obs, out.n_entities,
                         out.n_clusters, out.description, es, cov, out.wild)
    return out


def _event_study_core(lp: LongPanel, reference: int = -1) -> tuple[pd.DataFrame, np.ndarray]:
    tv = lp.times[lp.time]
    treated_unit = lp.cohort > 0
    ev = np.where(treated_unit, tv - lp.cohort, np.nan)
    levels = np.unique(ev[treated_unit])
    drop = {float(reference)}
    if not np.any(~treated_unit):
        drop.add(float(levels.min()))
    keep_levels = [e for e in levels if float(e) not in drop]
    cols = {f"e{int(e) if float(e).is_integer() else e}": (ev == e).astype(float) for e in keep_levels}
    x = pd.DataFrame(cols)
    res = _fit_panelols(lp, x)
    names = [c for c in x.columns if c in res.params.index]
    cov = res.cov.loc[names, names].to_numpy()
    es = pd.DataFrame({"event_time": [float(keep_levels[list(x.columns).index(c)]) for c in names],
                       "estimate": res.params[names].to_numpy(), "std_error": np.sqrt(np.diag(cov))})
    return es, cov


def twfe(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str | None = None,
         cohort: str | None = None, treatment: str | None = None, cluster: str | None = None, panel: bool = True,
         allow_unbalanced: bool = False, where: Sequence[str] = (), event_study: bool = False,
         wild_bootstrap: int | None = None, wild_weights: WildWeights = "webb", seed: int | None = None,
         alpha: float = 0.05) -> TWFEResult:
    """TWFE coefficient (and event study) directly from a data frame (same data rules as the CS estimator)."""
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               cluster=cluster, panel=panel, allow_unbalanced=allow_unbalanced, where=where)
    return twfe_from_prepared(d, event_study=event_study, wild_bootstrap=wild_bootstrap,
                              wild_weights=wild_weights, seed=seed, alpha=alpha)


def twfe_event_study(data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str | None = None,
                     cohort: str | None = None, treatment: str | None = None, cluster: str | None = None,
                     panel: bool = True, where: Sequence[str] = (), reference: int = -1
                     ) -> tuple[pd.DataFrame, np.ndarray]:
    """Event-study TWFE coefficients and their clustered covariance (reference event time ``reference``)."""
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               cluster=cluster, panel=panel, where=where)
    return _event_study_core(long_panel(d), reference=reference)

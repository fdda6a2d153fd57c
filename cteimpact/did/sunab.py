"""Sun & Abraham (2021) interaction-weighted (IW) event study.

Sun & Abraham (2021, *Journal of Econometrics* 225(2), 175–199) show that the coefficients of a TWFE event study
mix effects from other relative periods when effects differ across cohorts. Their IW estimator:

1. estimates the saturated regression ``y_it = α_i + λ_t + Σ_{g ∈ treated} Σ_{e ≠ r} δ_{g,e} 1{G_i = g} 1{t − g = e}
   + u_it`` with the never-treated units as the control cohort (or, without never-treated units, the last-treated
   cohort, dropping the periods after it is treated) and reference period ``r = −1 − anticipation``;
2. averages the cohort-specific effects at each relative period with the cohorts' sample shares at that period:
   ``β_e = Σ_g w_{g,e} δ_{g,e}``.

The saturated regression is fitted by the within solver (:mod:`cteimpact.did.within`): the cohort × relative-period
indicators are built from integer cell codes and demeaned one column at a time; optional numeric covariates
(``covariates=``) enter as further regressors.

The covariance of the aggregated effects is ``W Σ_δ W'`` with the cluster-robust ``Σ_δ`` of step 1, ignoring the
sampling variability of the shares (as ``fixest::sunab`` does). An overall ATT is the observation-weighted mean of
the post-treatment ``δ_{g,e}`` (``fixest`` ``sunab(att = TRUE)``).

In a balanced panel without covariates, ``δ_{g,e}`` equals the Callaway–Sant'Anna ATT(g, g+e) with never-treated
comparison units and the universal base period ``g − 1`` (Sun & Abraham 2021, section 4; Callaway & Sant'Anna 2021,
section 3.1 remark on event-study regressions): the test suite checks this identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.comparison import ComparisonResults, no_flow, prepared_options
from cteimpact.did.panel import StaggeredData, prepare_staggered_data
from cteimpact.did.twfe import _fit, check_covariates, indicator, long_panel
from cteimpact.errors import DesignError
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate, normal_row
from cteimpact.results.intervals import check_level, size_of
from cteimpact.threads import one_blas_thread

__all__ = ["SunAbrahamResult", "sun_abraham", "sun_abraham_from_prepared"]


@dataclass(frozen=True, eq=False)
class SunAbrahamResult(ComparisonResults):
    """Interaction-weighted event study; it honours the results contract
    (:class:`~cteimpact.results.contract.ImpactResults`: ``estimates``, ``options``, ``sample_flow``, ``summary``,
    ``tidy``, ``to_dict``, ``plot``, ``sampling_distribution``).

    Attributes
    ----------
    event_study
        ``event_time, estimate, std_error, ci_lower, ci_upper`` (reference period excluded).
    cohort_effects
        ``cohort, event_time, estimate, std_error, weight`` (the ``δ_{g,e}`` and their IW weights).
    covariance
        Covariance of the event-study estimates.
    att, att_se
        Overall post-treatment ATT and its standard error.
    reference
        Reference (omitted) relative period.
    att_covariance
        Covariance of the overall ATT with each event-study estimate.
    estimates
        Rows ``<outcome>[sun_abraham]`` (the overall ATT) and ``<outcome>[sun_abraham,event=e]``, with normal tests
        and intervals.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Sun & Abraham (2021) interaction-weighted event study"

    event_study: pd.DataFrame
    cohort_effects: pd.DataFrame
    covariance: np.ndarray
    att: float
    att_se: float
    reference: float
    n_clusters: int
    att_covariance: np.ndarray | None = None
    estimates: tuple[EffectEstimate, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    sample_flow: SampleFlow = field(default_factory=no_flow)
    solver_note: str | None = None

    def record(self) -> dict[str, Any]:
        """The event study, overall ATT and cohort effects, as written in a DiD results file."""
        return {"event_study": self.event_study.to_dict(orient="records"), "att": self.att,
                "att_se": self.att_se, "reference": self.reference,
                "cohort_effects": self.cohort_effects.to_dict(orient="records")}

    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal of the event-study estimates and the overall ATT (cluster-robust covariance, ignoring the
        sampling variability of the cohort shares, as ``fixest::sunab``)."""
        k = len(self.event_study)
        cov = np.zeros((k + 1, k + 1))  # the overall ATT first, as in the estimate rows
        cov[1:, 1:] = self.covariance
        cross = np.zeros(k) if self.att_covariance is None else self.att_covariance
        cov[1:, 0] = cov[0, 1:] = cross
        cov[0, 0] = self.att_se ** 2
        outcome = str(self.options.get("outcome", "y"))
        labels = [f"{outcome}[sun_abraham,event={float(e):g}]" for e in self.event_study["event_time"]]
        mean = np.concatenate([[self.att], self.event_study["estimate"].to_numpy(dtype=float)])
        return SamplingDistribution((f"{outcome}[sun_abraham]", *labels), mean, cov, joint=True,
                                    centre="interaction-weighted estimate",
                                    scale="cluster-robust standard error (cohort shares taken as fixed)")

    def _notes(self) -> list[str]:
        notes = [f"Reference period: event time {self.reference:g}; {self.n_clusters} clusters."]
        return [*notes, self.solver_note] if self.solver_note else notes


def _with_contract(res: SunAbrahamResult, d: StaggeredData, level: float) -> SunAbrahamResult:
    """``res`` with its estimate rows (overall ATT first), options and the data's sample flow."""
    y = d.outcome
    rows = [normal_row(f"{y}[sun_abraham]", y, "ATT (Sun & Abraham: observation-weighted mean of post-treatment "
                       "cohort effects)", res.att, res.att_se, level=level)]
    for r in res.event_study.to_dict(orient="records"):
        e = float(r["event_time"])
        rows.append(normal_row(f"{y}[sun_abraham,event={e:g}]", y, f"interaction-weighted effect at event time {e:g}",
                               float(r["estimate"]), float(r["std_error"]), level=level))
    return SunAbrahamResult(res.event_study, res.cohort_effects, res.covariance, res.att, res.att_se, res.reference,
                            res.n_clusters, res.att_covariance, tuple(rows), prepared_options(d, level=level),
                            d.flow)


@one_blas_thread()
def sun_abraham_from_prepared(d: StaggeredData, *, level: float = 0.95,
                              with_covariates: bool = False) -> SunAbrahamResult:
    """IW event study on data prepared with ``control="never"`` (see :func:`sun_abraham`); the prepared covariates
    enter the saturated regression only with ``with_covariates``."""
    level = check_level(level)
    lp = long_panel(d, with_covariates=with_covariates)
    ref = -1.0 - d.anticipation
    tv = lp.times[lp.time]
    treated = lp.cohort > 0
    if not np.any(~treated):
        raise DesignError("the Sun-Abraham estimator needs a control cohort (never-treated units)")
    ev = np.where(treated, tv - lp.cohort, np.nan)
    use = treated & (ev != ref)
    if not np.any(use):
        raise DesignError("no cohort × relative-period cell to estimate")
    # cohort × relative-period cells as codes (-1: no cell), in (cohort, event time) order, without sorting N rows
    g_levels = np.unique(lp.cohort[treated])  # few cohorts
    g_idx = np.searchsorted(g_levels, lp.cohort[use])
    t_idx = lp.time[use]  # the event time is determined by cohort and period
    combo = g_idx * lp.times.size + t_idx
    present = np.flatnonzero(np.bincount(combo, minlength=g_levels.size * lp.times.size))
    code_of = np.full(g_levels.size * lp.times.size, -1, dtype=np.int64)
    pg, pt = g_levels[present // lp.times.size], lp.times[present % lp.times.size]
    order = np.lexsort((pt - pg, pg))  # by cohort, then event time
    code_of[present[order]] = np.arange(present.size)
    cell = np.full(lp.y.size, -1, dtype=np.int64)
    cell[use] = code_of[combo]
    uniq = np.column_stack([pg[order], (pt - pg)[order]])
    cells = [(float(g), float(e)) for g, e in uniq]
    names = [f"g{g:g}_e{e:g}" for g, e in cells]
    counts = np.bincount(cell[use], minlength=len(cells)).astype(float)
    res = _fit(lp, [(nm, partial(indicator, cell, j)) for j, nm in enumerate(names)])
    kept = [nm for nm in names if nm in res.params.index]
    if len(kept) < len(names):
        missing = sorted(set(names) - set(kept))
        raise DesignError(f"cohort × relative-period effects absorbed by the fixed effects: {', '.join(missing)}")
    delta = res.params[names].to_numpy()
    vdelta = res.cov.loc[names, names].to_numpy()
    g_arr = np.array([c[0] for c in cells])
    e_arr = np.array([c[1] for c in cells])
    cnt = counts
    e_levels = np.unique(e_arr)
    wmat = np.zeros((e_levels.size, len(cells)))
    for i, e in enumerate(e_levels):
        sel = e_arr == e
        wmat[i, sel] = cnt[sel] / cnt[sel].sum()
    beta = wmat @ delta
    cov = wmat @ vdelta @ wmat.T
    se = np.sqrt(np.diag(cov))
    crit = float(stats.norm.ppf(1 - size_of(level) / 2))
    es = pd.DataFrame({"event_time": e_levels, "estimate": beta, "std_error": se, "ci_lower": beta - crit * se,
                       "ci_upper": beta + crit * se})
    post = e_arr >= 0
    watt = np.where(post, cnt, 0.0)
    watt = watt / watt.sum()
    att = float(watt @ delta)
    att_se = float(np.sqrt(watt @ vdelta @ watt))
    ce = pd.DataFrame({"cohort": g_arr, "event_time": e_arr, "estimate": delta,
                       "std_error": np.sqrt(np.diag(vdelta)),
                       "weight": [wmat[int(np.flatnonzero(e_levels == e)[0]), j] for j, e in enumerate(e_arr)]})
    att_cov = wmat @ vdelta @ watt
    out = _with_contract(SunAbrahamResult(es, ce, cov, att, att_se, ref, lp.n_clusters, att_cov), d, level)
    return replace(out, solver_note=res.note)


def sun_abraham(data: pd.DataFrame | StudentData, *, outcome: str, unit: str, time: str, cohort: str | None = None,
                treatment: str | None = None, cluster: str | None = None, anticipation: int = 0,
                where: Sequence[str] = (), level: float = 0.95,
                covariates: Sequence[str] | None = None) -> SunAbrahamResult:
    """Sun–Abraham IW event study from a long panel (same data rules as the Callaway–Sant'Anna estimator, with
    never-treated units as the control cohort); intervals at confidence ``level``. ``covariates``: numeric columns
    entered as regressors of the saturated regression (rows missing one are dropped and recorded in the sample
    flow)."""
    covs = check_covariates(covariates)
    d = prepare_staggered_data(data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
                               cluster=cluster, anticipation=anticipation, where=where, control="never",
                               covariates=covs)
    return sun_abraham_from_prepared(d, level=level, with_covariates=bool(covs))

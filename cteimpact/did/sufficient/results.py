"""Results of the Callaway–Sant'Anna estimator computed from sufficient statistics (:class:`SufficientDiDResults`).

The aggregations are the in-memory estimator's own (:func:`cteimpact.did.aggregation.build_estimands`: the same
coefficient vectors on the extended influence base, with the estimated-weights term), and so are the labels, the
rows' terms, the effective N and the Wald pre-tests. What differs is what is stored: no unit-level influence
function exists here, so the results carry the second moments of the influence base (its Gram matrix, or its cluster
sums when clustered) from which every covariance follows, and the sufficient statistics themselves.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.aggregation import FAMILIES, AggregationType, Estimand, build_estimands
from cteimpact.did.errors import PretestUnavailableWarning
from cteimpact.did.pretest import WaldPretest, wald_pretest
from cteimpact.did.results import CITATION, estimand_label, estimand_term
from cteimpact.did.sufficient.cs import SufficientGroupTime
from cteimpact.errors import OptionError
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.intervals import check_level
from cteimpact.results.text import format_estimates, format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SufficientDiDResults", "sufficient_results"]


@dataclass(frozen=True, eq=False)
class SufficientDiDResults(ImpactResults):
    """Callaway–Sant'Anna group-time effects and aggregations computed from engine-side sufficient statistics.

    Rows (:attr:`estimates`) and labels are those of :class:`~cteimpact.did.results.DiDResults`: the simple ATT
    (label = outcome name), each aggregation's elements and overall parameter, every estimated ATT(g,t); standard
    errors are the analytic influence-function ones (cluster-robust when clustered), intervals pointwise.

    Attributes
    ----------
    outcome
        Outcome column.
    estimands
        Every estimand with its coefficient vector on the extended influence base, in the order of
        :attr:`covariance`.
    estimand_labels, estimand_se
        Their labels and standard errors.
    covariance
        Influence-function covariance of all estimands.
    group_time
        One row per group-time cell (the in-memory estimator's columns).
    moments
        Gram matrix of the extended influence base (``m × m``), or its cluster sums (``G × m``: the cluster-level
        influence sums) when clustered.
    pretest, pretest_event
        Wald pre-tests of parallel trends on the pre-treatment ATT(g,t) and on the event-study pre-periods.
    n_units, n_clusters
        Units and clusters.
    rows_fetched
        Rows the aggregate queries returned to the client.
    fit
        The group-time effects and the sufficient statistics (every other aggregation follows from them:
        :meth:`aggregate`).
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = ("Callaway & Sant'Anna (2021) staggered difference-in-differences, from sufficient "
                                "statistics computed by the database engine")

    estimates: tuple[EffectEstimate, ...]
    options: dict[str, Any]
    sample_flow: SampleFlow
    outcome: str
    estimands: tuple[Estimand, ...]
    estimand_labels: tuple[str, ...]
    estimand_se: np.ndarray
    covariance: np.ndarray
    group_time: pd.DataFrame
    moments: np.ndarray
    pretest: WaldPretest | None
    pretest_event: WaldPretest | None
    n_units: int
    n_clusters: int | None
    rows_fetched: int
    notes: tuple[str, ...] = ()
    df: float | None = None
    fit: SufficientGroupTime | None = field(default=None, repr=False, compare=False)

    # -- contract ------------------------------------------------------------------------------------------------
    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal (t with ``G − 1`` degrees of freedom with ``small_sample``) of every reported estimate,
        centred at the estimates, covariance from the influence functions."""
        labels = tuple(e.label for e in self.estimates)
        idx = [self.estimand_labels.index(lab) for lab in labels]
        mean = np.array([e.estimate for e in self.estimates])
        cov = self.covariance[np.ix_(idx, idx)]
        scale = ("influence-function standard error, cluster-robust" if self.n_clusters is not None
                 else "influence-function standard error")
        return SamplingDistribution(labels, mean, cov, joint=True, df=self.df,
                                    centre="aggregated ATT (Callaway & Sant'Anna)", scale=scale)

    def summary(self) -> str:
        o = self.options
        lines = [self.estimator, CITATION, "",
                 f"Outcome: {self.outcome}   comparison: {o['control']}   base period: {o['base_period']}   "
                 f"anticipation: {o['anticipation']}   data: balanced panel (sufficient statistics)",
                 f"Units: {self.n_units:,}" + (f"   clusters ({o['cluster']}): {self.n_clusters}"
                                              if self.n_clusters is not None else "   clustered by unit"),
                 "Inference: analytic influence-function standard errors; intervals are pointwise"
                 + (f"; t({self.df:g}) critical values" if self.df else ""),
                 f"Rows brought from the engine: {self.rows_fetched:,}", "",
                 format_estimates([e for e in self.estimates if "[g=" not in e.label])]
        for name, p in (("group-time cells", self.pretest), ("event-study pre-periods", self.pretest_event)):
            if p is not None:
                lines.append(f"Wald pre-test of parallel trends ({name}): W = {p.statistic:.4f} on {p.df} df, "
                             f"p = {format_number(p.p_value)}")
        lines += ["", "Sample flow", self.sample_flow.summary()]
        if self.notes:
            lines += ["", "Notes:", *[f"  - {n}" for n in self.notes]]
        return "\n".join(lines)

    def plot(self, kind: str = "event_study", **kwargs: Any) -> Figure:
        """``"event_study"`` (dynamic effects with their intervals) or ``"group_time"`` (grid of ATT(g,t))."""
        from cteimpact.did import plots

        level = float(self.options["level"])
        if kind == "event_study":
            return plots.plot_event_study(self.event_study(), outcome=self.outcome, level=level,
                                          control=str(self.options["control"]), **kwargs)
        if kind == "group_time":
            return plots.plot_group_time(self.group_time, outcome=self.outcome, level=level, **kwargs)
        raise OptionError(f"plot kind must be 'event_study' or 'group_time', got {kind!r}")

    def _details(self) -> dict[str, Any]:
        return {
            "citation": CITATION,
            "n_units": self.n_units,
            "n_clusters": self.n_clusters,
            "rows_fetched": self.rows_fetched,
            "att_gt": self.group_time.to_dict(orient="records"),
            "aggregates": {fam: self.aggregation(fam).to_dict(orient="records")
                           for fam in ("group", "dynamic", "calendar") if fam in self.options["aggregations"]},
            "pretest": None if self.pretest is None else self.pretest.to_dict(),
            "pretest_event_study": None if self.pretest_event is None else self.pretest_event.to_dict(),
            "notes": list(self.notes),
        }

    # -- access ----------------------------------------------------------------------------------------------------
    def aggregation(self, family: str) -> pd.DataFrame:
        """Elements of one aggregation (``group``, ``dynamic``, ``calendar``) and its overall parameter (the row
        with a missing element): estimate, standard error, interval, p-value, cells averaged and label."""
        rows = []
        by_label = {e.label: e for e in self.estimates}
        for i, e in enumerate(self.estimands):
            if e.family != family:
                continue
            lab = self.estimand_labels[i]
            r = by_label.get(lab)
            row: dict[str, Any] = {"element": e.element, "att": e.estimate, "se": float(self.estimand_se[i]),
                                   "ci_lower": None if r is None else r.ci_lower,
                                   "ci_upper": None if r is None else r.ci_upper,
                                   "ci_type": None if r is None else r.ci_type,
                                   "p_value": None if r is None else r.p_value, "n_cells": e.n_cells, "label": lab,
                                   "suppressed": False}
            if family == "dynamic" and e.element is not None:
                ant = float(self.options["anticipation"])
                row["phase"] = "post" if e.element >= 0 else ("anticipation" if e.element >= -ant else "pre")
            rows.append(row)
        if not rows:
            raise OptionError(f"no '{family}' aggregation in these results (asked for: "
                              f"{', '.join(self.options['aggregations'])})")
        return pd.DataFrame(rows)

    def event_study(self) -> pd.DataFrame:
        """The dynamic aggregation (event-study) table."""
        return self.aggregation("dynamic")

    def covariance_of(self, labels: Sequence[str]) -> np.ndarray:
        """Influence-function covariance of the named estimates."""
        idx = [self.estimand_labels.index(lab) for lab in labels]
        return self.covariance[np.ix_(idx, idx)]

    def aggregate(self, type: AggregationType = "dynamic", *, min_e: float = -math.inf, max_e: float = math.inf,
                  balance_e: int | None = None) -> SufficientDiDResults:
        """One aggregation (R ``aggte``) from the stored group-time effects and moments, without a query."""
        if self.fit is None:
            raise OptionError("these results do not carry their group-time fit")
        return sufficient_results(self.fit, aggregations=(type,), min_e=min_e, max_e=max_e, balance_e=balance_e,
                                  level=float(self.options["level"]), small_sample=bool(self.options["small_sample"]))


def _report_order(estimands: Sequence[Estimand]) -> list[int]:
    """The simple ATT first, then the aggregations' elements and overall parameters, then every ATT(g,t)."""
    return ([i for i, e in enumerate(estimands) if e.family == "simple"]
            + [i for i, e in enumerate(estimands) if e.family not in ("simple", "attgt")]
            + [i for i, e in enumerate(estimands) if e.family == "attgt"])


def _n_effective(e: Estimand, fit: SufficientGroupTime) -> float:
    """Units of every cohort an estimand compares (the in-memory estimator's effective N)."""
    cohorts: set[float] = set()
    for k in e.cells:
        cohorts.add(fit.cells[k].group)
        cohorts.update(fit.cells[k].controls)
    return float(sum(fit.cohort_sizes.get(c, 0) for c in cohorts))


def sufficient_results(fit: SufficientGroupTime, *, aggregations: Sequence[str] = FAMILIES,
                       min_e: float = -math.inf, max_e: float = math.inf, balance_e: int | None = None,
                       level: float = 0.95, small_sample: bool = False) -> SufficientDiDResults:
    """Aggregate the group-time effects of ``fit`` and infer (analytic influence-function standard errors).

    Parameters
    ----------
    fit
        Group-time effects and moments (:func:`~cteimpact.did.sufficient.cs.group_time_effects`).
    aggregations
        Which of ``simple``, ``group``, ``dynamic``, ``calendar`` to report.
    min_e, max_e, balance_e
        Event-time window and balancing of the dynamic aggregation (R ``aggte``).
    level
        Confidence level of the intervals.
    small_sample
        With clusters, t critical values with ``G − 1`` degrees of freedom.
    """
    check_level(level)
    for a in aggregations:
        if a not in FAMILIES:
            raise OptionError(f"aggregations must be among {', '.join(FAMILIES)}, got {a!r}")
    if math.isnan(min_e) or math.isnan(max_e) or min_e > max_e:
        raise OptionError(f"the event-time window needs min_e <= max_e, got min_e = {min_e}, max_e = {max_e}")
    if small_sample and fit.n_clusters is None:
        raise OptionError("small-sample critical values (t with G-1 degrees of freedom) need a cluster variable")
    stats = fit.statistics
    cols = stats.layout.columns
    outcome = cols.outcome
    estimands = build_estimands(fit.cells, fit.att, fit.groups, fit.times, fit.pg, types=tuple(aggregations),
                                min_e=min_e, max_e=max_e, balance_e=balance_e)
    coef = np.column_stack([e.coef for e in estimands])
    cov = fit.covariance(coef)
    bad = np.array([e.family == "attgt" and not np.isfinite(e.estimate) for e in estimands])
    cov[bad, :] = 0.0
    cov[:, bad] = 0.0
    se_raw = np.sqrt(np.clip(np.diag(cov), 0, None))
    se = np.where(se_raw > 0, se_raw, np.nan)
    labels = tuple(estimand_label(outcome, e) for e in estimands)
    df = float(fit.n_clusters - 1) if (small_sample and fit.n_clusters is not None) else None
    rows: list[EffectEstimate] = []
    for i in _report_order(estimands):
        e = estimands[i]
        if not np.isfinite(e.estimate):
            continue
        s = float(se[i])
        rows.append(EffectEstimate.from_normal(labels[i], outcome, estimand_term(e, float(fit.anticipation)),
                                               e.estimate, s if math.isfinite(s) else math.nan, ci_level=level,
                                               ci_type="pointwise", n_effective=_n_effective(e, fit), df=df))
    by_label = {r.label: r for r in rows}
    comparison = "never treated" if fit.control == "never" else "not yet treated"
    gt_rows = []
    for k, cell in enumerate(fit.cells):
        r = by_label.get(labels[k])
        gt_rows.append({
            "group": cell.group, "time": cell.time, "base_period": cell.base, "event_time": cell.event_time,
            "post": cell.post, "att": float(fit.att[k]), "se": float(se[k]) if np.isfinite(se[k]) else math.nan,
            "ci_lower": r.ci_lower if r is not None else math.nan,
            "ci_upper": r.ci_upper if r is not None else math.nan,
            "ci_type": r.ci_type if r is not None else None, "n_treated": int(fit.n_treated[k]),
            "n_comparison": int(fit.n_control[k]), "comparison": comparison,
            "note": "reference period (0 by construction)" if cell.reference else fit.failures.get(k),
        })
    k_cells = len(fit.cells)
    pre = np.array([c.group > c.time for c in fit.cells])
    pretest = wald_pretest(fit.att, cov[:k_cells, :k_cells], pre, [(c.group, c.time) for c in fit.cells],
                           fit.n_clusters)
    pretest_event = None
    dyn = [i for i, e in enumerate(estimands) if e.family == "dynamic" and e.element is not None]
    if dyn:
        ev_times = np.array([float(estimands[i].element or 0.0) for i in dyn])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PretestUnavailableWarning)
            pretest_event = wald_pretest(np.array([estimands[i].estimate for i in dyn]), cov[np.ix_(dyn, dyn)],
                                         ev_times < -fit.anticipation, [(float(t), math.nan) for t in ev_times],
                                         fit.n_clusters)
    options = {
        "outcome": outcome, "unit": cols.unit, "time": cols.time, "cohort": cols.cohort, "cluster": cols.cluster,
        "control": fit.control, "method": fit.method, "base_period": fit.base_period,
        "anticipation": int(fit.anticipation), "panel": True, "data_mode": "panel", "backend": "sufficient statistics",
        "aggregations": list(aggregations), "min_e": None if math.isinf(min_e) else min_e,
        "max_e": None if math.isinf(max_e) else max_e, "balance_e": balance_e, "level": float(level),
        "small_sample": bool(small_sample), "bootstrap": None,
    }
    flow = stats.layout.flow
    notes = list(stats.notes)
    if fit.failures:
        notes.append(f"{len(fit.failures)} group-time effects could not be estimated and are excluded from the "
                     "aggregations")
    return SufficientDiDResults(
        estimates=tuple(rows), options=options, sample_flow=flow.aggregate(stats.n_units, "balanced panel: units",
                                                                            "units"),
        outcome=outcome, estimands=tuple(estimands), estimand_labels=labels, estimand_se=se, covariance=cov,
        group_time=pd.DataFrame(gt_rows), moments=fit.moments, pretest=pretest, pretest_event=pretest_event,
        n_units=stats.n_units, n_clusters=fit.n_clusters, rows_fetched=stats.rows_fetched, notes=tuple(notes),
        df=df, fit=fit)

"""The results of the staggered difference-in-differences estimator (:class:`DiDResults`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.aggregation import Estimand
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.pretest import PretestPower, WaldPretest, pretrend_power
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.text import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.did.honest import HonestResult, Restriction
    from cteimpact.did.panel import StaggeredData
    from cteimpact.did.twfe import TWFEResult
    from cteimpact.did.wild import WildResult

__all__ = ["DiDResults", "estimand_label"]

CITATION = ("Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods. "
            "Journal of Econometrics 225(2), 200-230; 2x2 estimators: Sant'Anna, P. H. C. and Zhao, J. (2020), "
            "Journal of Econometrics 219(1), 101-122.")


def _fmt(v: float) -> str:
    return f"{v:g}"


def estimand_label(outcome: str, e: Estimand) -> str:
    """The label of an estimand: ``Y`` (simple ATT), ``Y[group=2014]``, ``Y[event=2]``, ``Y[calendar=2016]``,
    ``Y[g=2014,t=2016]`` and ``Y[group=overall]`` etc. for the overall parameters of each aggregation."""
    if e.family == "attgt" and e.cell is not None:
        return f"{outcome}[g={_fmt(e.cell[0])},t={_fmt(e.cell[1])}]"
    if e.family == "simple":
        return outcome
    key = {"group": "group", "dynamic": "event", "calendar": "calendar"}[e.family]
    return f"{outcome}[{key}={'overall' if e.element is None else _fmt(e.element)}]"


def estimand_term(e: Estimand, anticipation: float = 0.0) -> str:
    if e.family == "attgt" and e.cell is not None:
        g, t = e.cell
        kind = "ATT" if t >= g else ("anticipation ATT" if t >= g - anticipation else "placebo ATT")
        return f"{kind}(g={_fmt(g)}, t={_fmt(t)})"
    if e.family == "simple":
        return "ATT (simple: cohort-size weighted mean of post-treatment ATT(g,t))"
    if e.family == "group":
        return ("ATT (group: cohort-size weighted mean of cohort ATTs)" if e.element is None
                else f"ATT of cohort {_fmt(e.element)}")
    if e.family == "dynamic":
        return ("ATT (dynamic: mean of event-time effects e >= 0)" if e.element is None
                else f"ATT at event time {_fmt(e.element)}")
    return ("ATT (calendar: mean of period effects)" if e.element is None
            else f"ATT in period {_fmt(e.element)}")


@dataclass(frozen=True, eq=False)
class DiDResults(ImpactResults):
    """Callaway–Sant'Anna group-time effects, their aggregations, inference and diagnostics.

    Rows (:attr:`estimates`, labelled by :func:`estimand_label`): the simple ATT (label = outcome name, the primary
    estimate), each aggregation's elements and overall parameter, and every estimated ATT(g,t). Standard errors
    come from the influence functions (cluster-robust when a cluster variable is given) or, with the multiplier
    bootstrap, from the bootstrap interquartile range (R ``did``'s convention). Element rows of the ``group``,
    ``dynamic`` and ``calendar`` aggregations and the ATT(g,t) rows carry simultaneous (sup-t) bands when the
    bootstrap ran with bands (``ci_type = "simultaneous"``); otherwise pointwise intervals. With the wild cluster
    bootstrap the aggregated rows carry its test and inverted interval (``ci_type = "wild_cluster_bootstrap"``).

    Attributes
    ----------
    outcome
        Outcome column.
    estimands
        Every estimand with its coefficient vector on the influence base (see
        :mod:`cteimpact.did.aggregation`), in the order of :attr:`covariance`.
    covariance
        Influence-function covariance of all estimands (``m × m``), analytic and cluster-robust when clustered.
    influence
        The group-time influence functions (:class:`~cteimpact.did.influence.InfluenceFunctions`).
    pretest
        Wald pre-test of parallel trends on every pre-treatment ATT(g,t), as R ``did`` reports it (``None`` when
        unavailable). It over-rejects when many pre-treatment cells are estimated from few clusters per cohort.
    pretest_event
        The same null tested on the event-study pre-period effects (cohorts pooled: fewer restrictions, each
        estimated from every cluster), which keeps its size where the group-time test does not.
    bootstrap
        Multiplier bootstrap summary (draws, weights, seed, critical values) or ``None``.
    wild
        Wild cluster bootstrap results by label, or empty.
    twfe
        TWFE comparison (:class:`~cteimpact.did.twfe.TWFEResult`) when requested.
    """

    design: ClassVar[str] = "did"
    estimator: ClassVar[str] = "Callaway & Sant'Anna (2021) staggered difference-in-differences"

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    outcome: str
    estimands: tuple[Estimand, ...]
    estimand_labels: tuple[str, ...]
    estimand_se: np.ndarray
    covariance: np.ndarray
    influence: InfluenceFunctions
    group_time: pd.DataFrame
    pretest: WaldPretest | None
    n_units: int
    n_clusters: int | None
    bootstrap: Mapping[str, Any] | None = None
    wild: Mapping[str, WildResult] = field(default_factory=dict)
    twfe: TWFEResult | None = None
    notes: tuple[str, ...] = ()
    df: float | None = None
    data: StaggeredData | None = field(default=None, repr=False)
    pretest_event: WaldPretest | None = None
    privacy: Mapping[str, Any] | None = None
    """After :meth:`with_min_cell`: ``min_cell``, the number of estimates suppressed and the note stating why."""

    # -- privacy ---------------------------------------------------------------------------------------------------
    def with_min_cell(self, min_cell: int) -> DiDResults:
        """The results as they may be published: estimates describing fewer than ``min_cell`` students hidden (see
        :mod:`cteimpact.did.privacy` for the rule). The copy's :meth:`to_dict`, :meth:`tidy`, tables, summary and
        plots show no number of a hidden estimate, and it cannot be priced. Diagnostics (pre-trend power,
        HonestDiD) are computed from the full results, before suppression."""
        from cteimpact.did.privacy import suppress_did

        return suppress_did(self, min_cell)

    # -- contract ------------------------------------------------------------------------------------------------
    def sampling_distribution(self) -> SamplingDistribution:
        """Joint normal (or t with ``G − 1`` degrees of freedom when ``small_sample=True`` with clustering) of every
        reported estimate, centred at the estimates, covariance from the influence functions. Estimates hidden by
        the small-cell rule are left out."""
        labels = tuple(e.label for e in self.estimates if not e.suppressed)
        idx = [self.estimand_labels.index(lab) for lab in labels]
        mean = np.array([e.estimate for e in self.estimates if not e.suppressed])
        cov = self.covariance[np.ix_(idx, idx)]
        clustered = self.n_clusters is not None
        scale = ("influence-function standard error, cluster-robust" if clustered
                 else "influence-function standard error")
        return SamplingDistribution(labels, mean, cov, joint=True, df=self.df,
                                    centre="aggregated ATT (Callaway & Sant'Anna)", scale=scale)

    def summary(self) -> str:
        lines = [self.estimator, CITATION, ""]
        o = self.options
        lines.append(
            f"Outcome: {self.outcome}   comparison: {o['control']}   estimator: {o['method']}   base period: "
            f"{o['base_period']}   anticipation: {o['anticipation']}   data: {o['data_mode']}")
        lines.append(f"Units: {self.n_units:,}" + (f"   clusters ({o['cluster']}): {self.n_clusters}"
                                                    if self.n_clusters is not None else "   clustered by unit"))
        if self.bootstrap:
            b = self.bootstrap
            lines.append(f"Inference: multiplier bootstrap, {b['n_draws']} draws ({b['weights']} weights, seed "
                         f"{b['seed']}); bands for ATT(g,t) and aggregation elements are "
                         + ("simultaneous (sup-t)" if b["bands"] else "pointwise"))
        else:
            lines.append("Inference: analytic influence-function standard errors; intervals are pointwise"
                         + (f"; t({self.df:g}) critical values" if self.df else ""))
        lines.append("")
        lines.append(self._aggregate_text())
        if self.pretest is not None:
            p = self.pretest
            lines += ["", f"Wald pre-test of parallel trends (group-time cells): W = {p.statistic:.4f} on {p.df} df, "
                      f"p = {format_number(p.p_value)}"]
        if self.pretest_event is not None:
            p = self.pretest_event
            lines += [f"Wald pre-test of parallel trends (event-study pre-periods): W = {p.statistic:.4f} on "
                      f"{p.df} df, p = {format_number(p.p_value)}"]
        if self.twfe is not None:
            t = self.twfe
            lines += ["", f"TWFE comparison ({t.description}): {t.estimate:.4f} (SE {t.std_error:.4f})"]
        if self.wild:
            lines += ["", "Restricted wild cluster bootstrap (few clusters):"]
            for lab, w in self.wild.items():
                lines.append(f"  {lab}: p = {w.p_value:.4f}, {w.ci_level:.0%} CI [{w.ci_lower:.4f}, "
                             f"{w.ci_upper:.4f}] ({w.weights}, {w.n_draws} draws, {w.n_clusters} clusters)")
        lines += ["", "Group-time effects", self._group_time_text()]
        lines += ["", "Sample flow", self.sample_flow.summary()]
        if self.notes:
            lines += ["", "Notes:", *[f"  - {n}" for n in self.notes]]
        if self.privacy is not None:
            lines += ["", f"Privacy: {self.privacy['note']}"]
        return "\n".join(lines)

    def plot(self, kind: str = "event_study", **kwargs: Any) -> Figure:
        """``"event_study"`` (dynamic effects with their bands), ``"group_time"`` (grid of ATT(g,t)) or
        ``"estimates"`` (forest plot of the aggregated rows)."""
        from cteimpact.did import plots

        if kind == "event_study":
            return plots.plot_event_study(self, **kwargs)
        if kind == "group_time":
            return plots.plot_group_time(self, **kwargs)
        if kind == "estimates":
            from cteimpact.plotting.estimates import plot_estimates

            return plot_estimates([e for e in self.estimates if "[g=" not in e.label], **kwargs)
        raise OptionError(f"plot kind must be 'event_study', 'group_time' or 'estimates', got {kind!r}")

    def _details(self) -> dict[str, Any]:
        return {
            "citation": CITATION,
            "n_units": self.n_units,
            "n_clusters": self.n_clusters,
            "att_gt": self.group_time.to_dict(orient="records"),
            "aggregates": self.aggregates_dict(),
            "pretest": None if self.pretest is None else self.pretest.to_dict(),
            "pretest_event_study": None if self.pretest_event is None else self.pretest_event.to_dict(),
            "bootstrap": None if self.bootstrap is None else dict(self.bootstrap),
            "wild_cluster_bootstrap": {k: v.to_dict() for k, v in self.wild.items()},
            "twfe": None if self.twfe is None else self.twfe.to_dict(),
            "influence_function_storage": {"rows": self.influence.n, "cells": self.influence.n_cells,
                                           "bytes": self.influence.nbytes},
            "notes": list(self.notes),
            "privacy": None if self.privacy is None else dict(self.privacy),
        }

    # -- access ----------------------------------------------------------------------------------------------------
    def _row(self, e: Estimand) -> dict[str, Any]:
        lab = estimand_label(self.outcome, e)
        i = self.estimand_labels.index(lab)
        out: dict[str, Any] = {"att": e.estimate, "se": float(self.estimand_se[i])}
        try:
            row = self.estimate(lab)
        except OptionError:
            return out
        out.update({"ci_lower": row.ci_lower, "ci_upper": row.ci_upper, "ci_type": row.ci_type,
                    "p_value": row.p_value, "n_cells": e.n_cells, "label": lab, "suppressed": row.suppressed,
                    "suppression": row.suppression})
        return out

    def aggregation(self, family: str) -> pd.DataFrame:
        """Elements of one aggregation (``group``, ``dynamic``, ``calendar``) with estimates, standard errors and
        intervals (the overall parameter is the row with a missing element)."""
        rows = []
        for e in self.estimands:
            if e.family == family:
                r = self._row(e)
                r["element"] = e.element
                rows.append(r)
        if not rows:
            raise OptionError(f"no '{family}' aggregation in these results (asked for: "
                              f"{', '.join(self.options['aggregations'])})")
        cols = ["element", "att", "se", "ci_lower", "ci_upper", "ci_type", "p_value", "n_cells", "label", "suppressed",
                "suppression"]
        return pd.DataFrame(rows).reindex(columns=cols)

    def event_study(self) -> pd.DataFrame:
        """The dynamic aggregation (event-study) table."""
        return self.aggregation("dynamic")

    def aggregates_dict(self) -> dict[str, Any]:
        """``{simple, group, dynamic, calendar}`` → ``{att, se, elements: [...]}`` (the CLI contract)."""
        keys = {"group": "group", "dynamic": "event", "calendar": "time"}
        out: dict[str, Any] = {}
        for fam in ("simple", "group", "dynamic", "calendar"):
            ests = [e for e in self.estimands if e.family == fam]
            if not ests:
                continue
            overall = [e for e in ests if e.element is None]
            entry: dict[str, Any] = {}
            if overall:
                r = self._row(overall[0])
                entry.update(r)
            if fam != "simple":
                elems = []
                for e in ests:
                    if e.element is None:
                        continue
                    r = self._row(e)
                    elems.append({keys[fam]: e.element, **r})
                entry["elements"] = elems
            out[fam] = entry
        return out

    def covariance_of(self, labels: Sequence[str]) -> np.ndarray:
        """Influence-function covariance of the named estimates."""
        idx = [self.estimand_labels.index(lab) for lab in labels]
        return self.covariance[np.ix_(idx, idx)]

    # -- diagnostics -----------------------------------------------------------------------------------------------
    def _event_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        ev = [(e.element, estimand_label(self.outcome, e), e.estimate) for e in self.estimands
              if e.family == "dynamic" and e.element is not None]
        if not ev:
            raise OptionError("the dynamic (event-study) aggregation was not computed; include 'dynamic' in "
                              "aggregations")
        labels = [lab for _, lab, _ in ev]
        idx = [self.estimand_labels.index(lab) for lab in labels]
        e_times = np.array([float(x) for x, _, _ in ev])
        beta = np.array([b for _, _, b in ev])
        return e_times, beta, self.covariance[np.ix_(idx, idx)], labels

    def reference_period(self) -> float:
        """The event time at which a universal-base event study is normalised (``-1 - anticipation``)."""
        return -1.0 - float(self.options["anticipation"])

    def pretrend_power(self, *, target_power: float = 0.8, alpha: float = 0.05,
                       hypothesised_slope: float | None = None) -> PretestPower:
        """Roth (2022) power of the pre-trend tests on the event-study pre-periods (see
        :func:`cteimpact.did.pretest.pretrend_power`). Uses the event times before the reference period with a
        standard error; with a varying base period the event-study pre-period coefficients are short differences,
        so the linear-trend calculation is most meaningful with ``base_period="universal"``."""
        e, _, cov, _ = self._event_parts()
        ref = self.reference_period()
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        pre = (e < ref) & (se > 0)
        if not pre.any():
            raise OptionError("no pre-treatment event time with a standard error: power cannot be computed")
        trend = None if hypothesised_slope is None else hypothesised_slope * (e[pre] - ref)
        return pretrend_power(cov[np.ix_(pre, pre)], e[pre], reference=ref, target_power=target_power,
                              alpha=alpha, hypothesised_trend=trend)

    def honest_did(self, *, restriction: Restriction = "relative_magnitude", values: Sequence[float] | None = None,
                   target: str = "first", alpha: float = 0.05, **kwargs: Any) -> HonestResult:
        """HonestDiD sensitivity of the event-study effects (Rambachan & Roth 2023); see
        :func:`cteimpact.did.honest.honest_sensitivity`. ``target`` is ``"first"`` (the effect on impact),
        ``"average"`` (mean of post-period effects) or an event time."""
        from cteimpact.did.honest import honest_sensitivity

        e, beta, cov, _ = self._event_parts()
        ref = self.reference_period()
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        use = (se > 0) & (e != ref)
        pre = use & (e < ref)
        post = use & (e >= ref + 1)
        if not pre.any() or not post.any():
            raise OptionError("HonestDiD needs pre- and post-treatment event-study coefficients")
        sel = np.flatnonzero(pre | post)
        n_pre = int(pre.sum())
        e_post = e[post]
        if target == "first":
            lvec = (e_post == e_post.min()).astype(float)
        elif target == "average":
            lvec = np.full(e_post.size, 1.0 / e_post.size)
        else:
            lvec = (e_post == float(target)).astype(float)
            if lvec.sum() != 1:
                raise OptionError(f"target event time {target} is not a post-period event time "
                                  f"({', '.join(_fmt(x) for x in e_post)})")
        return honest_sensitivity(beta[sel], cov[np.ix_(sel, sel)], n_pre=n_pre, l_vec=lvec,
                                  restriction=restriction, values=values, alpha=alpha, **kwargs)

    # -- text ------------------------------------------------------------------------------------------------------
    def _aggregate_text(self) -> str:
        from cteimpact.results.text import format_estimates

        rows = [e for e in self.estimates if "[g=" not in e.label]
        return format_estimates(rows)

    def _group_time_text(self) -> str:
        gt = self.group_time
        lines = [f"{'group':>8} {'time':>8} {'ATT':>10} {'SE':>10}  {'N treated':>10} {'N comparison':>12}"]
        for r in gt.to_dict(orient="records"):
            def count(v: Any) -> str:
                return SUPPRESSION_MARKER if v is None or pd.isna(v) else f"{int(v):,}"

            if bool(r.get("suppressed", False)):
                m = SUPPRESSION_MARKER
                lines.append(f"{r['group']:>8g} {r['time']:>8g} {m:>10} {m:>10}  {m:>10} {m:>12}")
                continue
            se_v, att_v = r["se"], r["att"]
            se = "NA" if se_v is None or (isinstance(se_v, float) and math.isnan(se_v)) else f"{se_v:10.4f}"
            att = "NA" if att_v is None or math.isnan(att_v) else f"{att_v:10.4f}"
            lines.append(f"{r['group']:>8g} {r['time']:>8g} {att:>10} {se:>10}  {count(r['n_treated']):>10} "
                         f"{count(r['n_comparison']):>12}")
        return "\n".join(lines)

"""The results of the staggered difference-in-differences estimator (:class:`DiDResults`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.aggregation import AggregationType, Estimand
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.pretest import PretestPower, WaldPretest, pretrend_power
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.intervals import check_level, size_of
from cteimpact.results.text import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.did.assemble import GroupTimeFit
    from cteimpact.did.honest import HonestResult, Restriction
    from cteimpact.did.panel import StaggeredData
    from cteimpact.did.twfe import TWFEResult
    from cteimpact.did.wild import WildResult, WildWeights

__all__ = ["CallawaySantAnnaMethods", "DiDAggregate", "DiDResults", "estimand_label", "inference_record_of",
           "pretest_decision_of", "row_record"]

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


def row_record(e: Estimand, label: str, se: float, r: EffectEstimate | None, how: Mapping[str, Any],
               anticipation: float) -> dict[str, Any]:
    """One estimand's row of the aggregation tables and of ``aggregates_dict``: its estimate and analytic standard
    error, and when it is reported (``r``) its interval, p-value, cells, label, suppression and how it was inferred
    (``how``: the row's inference record); event-time rows carry their phase (post, anticipation or pre)."""
    out: dict[str, Any] = {"att": e.estimate, "se": se}
    if r is None:
        return out
    out.update({"ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "ci_type": r.ci_type, "p_value": r.p_value,
                "n_cells": e.n_cells, "label": label, "suppressed": r.suppressed, "suppression": r.suppression,
                "std_error_type": how.get("std_error_type"), "interval": how.get("interval"),
                "p_value_type": how.get("p_value_type"),
                "p_value_simultaneous": None if r.suppressed else how.get("p_value_simultaneous")})
    if e.family == "dynamic" and e.element is not None:
        ev = float(e.element)
        out["phase"] = "post" if ev >= 0 else ("anticipation" if ev >= -anticipation else "pre")
    return out


class CallawaySantAnnaMethods:
    """The methods :class:`DiDResults` and :class:`~cteimpact.did.sufficient.results.SufficientDiDResults` share:
    the sampling distribution, the event-study table, the aggregations' record, covariances of named estimates and
    the event-study diagnostics (pre-trend power, HonestDiD), all from the estimates, the estimands and their
    covariance. A class using it provides :meth:`_aggregate_rows` (an estimand's row of the tables) and
    :meth:`_event_arrays` (event times, effects and covariance of the dynamic aggregation)."""

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    outcome: str
    estimands: tuple[Estimand, ...]
    estimand_labels: tuple[str, ...]
    covariance: np.ndarray
    n_clusters: int | None
    df: float | None
    group_time: pd.DataFrame
    twfe: TWFEResult | None
    notes: tuple[str, ...]
    privacy: Mapping[str, Any] | None
    sample_flow: SampleFlow
    n_units: int
    pretest: WaldPretest | None
    pretest_event: WaldPretest | None
    bootstrap: Mapping[str, Any] | None

    def aggregation(self, family: str) -> pd.DataFrame:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def inference_record(self) -> dict[str, Any]:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def pretest_decision(self) -> dict[str, Any] | None:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def descriptives_record(self) -> dict[str, Any] | None:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def _wild_details(self) -> dict[str, Any]:  # pragma: no cover - every user defines it
        """``details.wild_cluster_bootstrap``: each aggregate's wild cluster bootstrap, by label."""
        raise NotImplementedError

    def _storage_details(self) -> dict[str, Any]:  # pragma: no cover - every user defines it
        """What ``details`` records of where the data were held (unit-level influence functions in memory, or the
        rows the engine's queries returned)."""
        raise NotImplementedError

    def _details(self) -> dict[str, Any]:
        """``details`` of the record, the same for both results but :meth:`_wild_details` and
        :meth:`_storage_details`."""
        return {
            "citation": CITATION,
            "n_units": self.n_units,
            "n_clusters": self.n_clusters,
            "att_gt": self.group_time.to_dict(orient="records"),
            "aggregates": self.aggregates_dict(),
            "pretest": None if self.pretest is None else self.pretest.to_dict(),
            "pretest_event_study": None if self.pretest_event is None else self.pretest_event.to_dict(),
            "bootstrap": None if self.bootstrap is None else dict(self.bootstrap),
            "wild_cluster_bootstrap": self._wild_details(),
            "twfe": None if self.twfe is None else self.twfe.record(),
            **self._storage_details(),
            "notes": list(self.notes),
            "privacy": None if self.privacy is None else dict(self.privacy),
            "inference": self.inference_record(),
            "pretest_decision": self.pretest_decision(),
            "descriptives": self.descriptives_record(),
        }

    def _aggregate_rows(self) -> Callable[[int, Estimand], dict[str, Any]]:  # pragma: no cover - defined by users
        """``row(i, e)``: the row of estimand ``e`` (the ``i``-th) in the aggregation tables."""
        raise NotImplementedError

    def _event_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - defined by users
        """Event times, effects and covariance of the dynamic aggregation's elements."""
        raise NotImplementedError

    def _alpha_refusal(self, kwargs: Mapping[str, Any]) -> str:
        """The message refusing ``alpha`` in :meth:`honest_did` (which takes the confidence level)."""
        from cteimpact.config.declared import unknown_option_message

        return unknown_option_message("alpha", ["restriction", "values", "target", "level", *kwargs],
                                      where="honest_did()")

    # -- text and plots ------------------------------------------------------------------------------------------
    def _twfe_lines(self) -> list[str]:
        """The summary's TWFE comparison (none without it)."""
        t = self.twfe
        if t is None:
            return []
        return ["", f"TWFE comparison ({t.description}): {t.estimate:.4f} (SE {t.std_error:.4f})"]

    def _closing_lines(self) -> list[str]:
        """The end of the summary: the sample flow, the notes and the privacy note."""
        lines = ["", "Sample flow", self.sample_flow.summary()]
        if self.notes:
            lines += ["", "Notes:", *[f"  - {n}" for n in self.notes]]
        if self.privacy is not None:
            lines += ["", f"Privacy: {self.privacy['note']}"]
        return lines

    def _plot_effects(self, kind: str, **kwargs: Any) -> Figure:
        """``"event_study"`` (the dynamic effects with their intervals) or ``"group_time"`` (the grid of
        ATT(g,t))."""
        from cteimpact.did import plots

        level = float(self.options.get("level", 0.95))
        if kind == "event_study":
            return plots.plot_event_study(self.event_study(), outcome=self.outcome, level=level,
                                          control=str(self.options["control"]), **kwargs)
        return plots.plot_group_time(self.group_time, outcome=self.outcome, level=level, **kwargs)

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

    def event_study(self) -> pd.DataFrame:
        """The dynamic aggregation (event-study) table."""
        return self.aggregation("dynamic")

    def aggregates_dict(self) -> dict[str, Any]:
        """``{simple, group, dynamic, calendar}`` → ``{att, se, elements: [...]}`` (the CLI contract)."""
        keys = {"group": "group", "dynamic": "event", "calendar": "time"}
        row = self._aggregate_rows()
        out: dict[str, Any] = {}
        for fam in ("simple", "group", "dynamic", "calendar"):
            members = [(i, e) for i, e in enumerate(self.estimands) if e.family == fam]
            if not members:
                continue
            entry: dict[str, Any] = {}
            overall = [(i, e) for i, e in members if e.element is None]
            if overall:
                entry.update(row(*overall[0]))
            if fam != "simple":
                entry["elements"] = [{keys[fam]: e.element, **row(i, e)} for i, e in members if e.element is not None]
            out[fam] = entry
        return out

    def covariance_of(self, labels: Sequence[str]) -> np.ndarray:
        """Influence-function covariance of the named estimates."""
        idx = [self.estimand_labels.index(lab) for lab in labels]
        return self.covariance[np.ix_(idx, idx)]

    # -- diagnostics -----------------------------------------------------------------------------------------------
    def reference_period(self) -> float:
        """The event time at which a universal-base event study is normalised (``-1 - anticipation``)."""
        return -1.0 - float(self.options["anticipation"])

    def pretrend_power(self, *, target_power: float = 0.8, alpha: float = 0.05,
                       hypothesised_slope: float | None = None) -> PretestPower:
        """Roth (2022) power of the pre-trend tests on the event-study pre-periods (see
        :func:`cteimpact.did.pretest.pretrend_power`). Uses the event times before the reference period with a
        standard error; with a varying base period the event-study pre-period coefficients are short differences,
        so the linear-trend calculation is most meaningful with ``base_period="universal"``. ``alpha`` is the size
        of the pre-trend tests (a test, not an interval: not the ``level`` of the intervals)."""
        e, _, cov = self._event_arrays()
        ref = self.reference_period()
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        pre = (e < ref) & (se > 0)
        if not pre.any():
            raise OptionError("no pre-treatment event time with a standard error: power cannot be computed")
        trend = None if hypothesised_slope is None else hypothesised_slope * (e[pre] - ref)
        return pretrend_power(cov[np.ix_(pre, pre)], e[pre], reference=ref, target_power=target_power,
                              alpha=alpha, hypothesised_trend=trend)

    def honest_did(self, *, restriction: Restriction = "relative_magnitude", values: Sequence[float] | None = None,
                   target: str = "first", level: float = 0.95, **kwargs: Any) -> HonestResult:
        """HonestDiD sensitivity of the event-study effects (Rambachan & Roth 2023); see
        :func:`cteimpact.did.honest.honest_sensitivity`. ``target`` is ``"first"`` (the effect on impact),
        ``"average"`` (mean of post-period effects) or an event time; ``level`` the confidence level of the robust
        intervals (0.95; the result records their size ``alpha = 1 - level``). ``kwargs``: further options of
        ``honest_sensitivity`` (``method``, ``breakdown``, ``grid_points``...)."""
        from cteimpact.did.honest import honest_sensitivity

        if "alpha" in kwargs:
            raise OptionError(self._alpha_refusal(kwargs))
        level = check_level(level)

        e, beta, cov = self._event_arrays()
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
                                  restriction=restriction, values=values, alpha=size_of(level), **kwargs)


@dataclass(frozen=True, eq=False)
class DiDResults(CallawaySantAnnaMethods, ImpactResults):
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
    inference: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Label → how that row's standard error, interval and p-value were obtained (see :meth:`inference_record`)."""
    fit_state: GroupTimeFit | None = field(default=None, repr=False, compare=False)
    """The group-time effects with their influence functions that every aggregation is computed from (see
    :meth:`aggregate`)."""

    # -- aggregation -----------------------------------------------------------------------------------------------
    def aggregate(self, type: AggregationType = "dynamic", *, min_e: float = -math.inf, max_e: float = math.inf,
                  balance_e: int | None = None, **inference: Any) -> DiDAggregate:
        """Aggregate the group-time effects again, without re-estimating any ATT(g,t) (R ``did``'s ``aggte``).

        Parameters
        ----------
        type
            ``"dynamic"`` (event study; default), ``"group"``, ``"calendar"`` or ``"simple"``.
        min_e, max_e, balance_e
            Event-time window and balancing of the dynamic aggregation (as :meth:`CallawaySantAnna.fit`).
        **inference
            Inference options of :meth:`CallawaySantAnna.fit` to change (``level``, ``bootstrap``, ``multiplier``,
            ``bands``, ``seed``, ``small_sample``, ``wild_bootstrap``, ``wild_weights``, ``wild_labels``); by default
            those of the fit, except the wild cluster bootstrap, which runs only when asked for (here or with
            :meth:`DiDAggregate.wild_bootstrap`).

        Returns
        -------
        DiDAggregate
            The aggregation's elements and overall parameter with every ATT(g,t), their covariance and inference;
            HonestDiD sensitivity, pre-trend power and the wild bootstrap are computed from it. Results published
            with :meth:`with_min_cell` give an aggregate with the same small-cell rule applied.

        Raises
        ------
        OptionError
            An unknown aggregation type or inference option (the closest valid name is suggested), an empty
            event-time window, or results that do not carry their group-time effects.
        """
        from cteimpact.did.assemble import Window, aggregate_again

        if self.fit_state is None:
            raise OptionError("these results do not carry their group-time effects and influence functions; re-fit "
                              "them to aggregate again")
        window = Window((type,), min_e, max_e, balance_e)
        out = aggregate_again(self.fit_state, window, self.options, inference)
        if self.privacy is not None:
            return cast("DiDAggregate", out.with_min_cell(int(self.privacy["min_cell"])))
        return out

    # -- privacy ---------------------------------------------------------------------------------------------------
    def with_min_cell(self, min_cell: int) -> DiDResults:
        """The results as they may be published: estimates describing fewer than ``min_cell`` students hidden (see
        :mod:`cteimpact.did.privacy` for the rule). The copy's :meth:`to_dict`, :meth:`tidy`, tables, summary and
        plots show no number of a hidden estimate, and it cannot be priced. Diagnostics (pre-trend power,
        HonestDiD) are computed from the full results, before suppression."""
        from cteimpact.did.privacy import suppress_did

        return suppress_did(self, min_cell)

    # -- contract ------------------------------------------------------------------------------------------------
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
        if self.wild:
            lines.append("Rows with the wild cluster bootstrap show its test and interval with the analytic "
                         "influence-function standard error it studentises with (the multiplier-bootstrap one is in "
                         "the inference record)")
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
        lines += self._twfe_lines()
        if self.wild:
            lines += ["", "Restricted wild cluster bootstrap (few clusters):"]
            for lab, w in self.wild.items():
                lines.append(f"  {lab}: p = {w.p_value:.4f}, {w.ci_level:.0%} CI [{w.ci_lower:.4f}, "
                             f"{w.ci_upper:.4f}] ({w.weights}, {w.n_draws} draws, {w.n_clusters} clusters)")
        lines += ["", "Group-time effects", self._group_time_text()]
        if self.data is not None and self.data.observations is not None:
            lines += ["", "Descriptive statistics by cohort", self._descriptives_text()]
        return "\n".join(lines + self._closing_lines())

    def plot(self, kind: str = "event_study", **kwargs: Any) -> Figure:
        """``"event_study"`` (dynamic effects with their bands), ``"group_time"`` (grid of ATT(g,t)) or
        ``"estimates"`` (forest plot of the aggregated rows)."""
        if kind in ("event_study", "group_time"):
            return self._plot_effects(kind, **kwargs)
        if kind == "estimates":
            from cteimpact.plotting.estimates import plot_estimates

            return plot_estimates([e for e in self.estimates if "[g=" not in e.label], **kwargs)
        raise OptionError(f"plot kind must be 'event_study', 'group_time' or 'estimates', got {kind!r}")

    def _wild_details(self) -> dict[str, Any]:
        return {k: v.to_dict() for k, v in self.wild.items()}

    def _storage_details(self) -> dict[str, Any]:
        return {"influence_function_storage": {"rows": self.influence.n, "cells": self.influence.n_cells,
                                               "bytes": self.influence.nbytes}}

    # -- records of what the estimates rest on --------------------------------------------------------------------
    def inference_record(self) -> dict[str, Any]:
        """How every estimate row's standard error, interval and p-value were obtained (``details.inference``).

        ``rows`` maps each label to: ``std_error`` (the row's, which its interval uses) and ``std_error_type``
        (``"influence_function"``: analytic, cluster-robust when clustered; ``"multiplier_bootstrap"``: the
        bootstrap interquartile range / 1.349, R ``did``'s), both standard errors by name
        (``std_error_influence_function``, ``std_error_multiplier_bootstrap``), ``ci_type``, ``interval``
        (``"pointwise"`` or ``"simultaneous"``: a sup-t band covering the row's whole family jointly),
        ``interval_method`` (``"normal"``, ``"t"``, ``"sup_t_multiplier_bootstrap"``, ``"wild_cluster_bootstrap"``:
        the inverted restricted wild bootstrap test), ``critical_value`` (None for the wild bootstrap),
        ``p_value_type`` (always ``"pointwise"``: the test of that one estimate), ``p_value_method``,
        ``p_value_simultaneous`` (rows with a simultaneous band: the sup-t adjusted p-value, below α exactly when
        the band excludes 0), and ``significant`` / ``significant_simultaneous`` (p-value below α) and
        ``ci_excludes_zero``; ``alpha`` is that size of the tests, ``1 - level``, and ``ci_level`` the intervals'
        confidence level (the ``level`` option). Numbers of estimates hidden by the small-cell rule are ``null``.
        ``headline`` repeats the primary estimate's with the name of its standard error; ``std_error_used_by`` says
        which standard error the other records show.
        """
        return inference_record_of(self)

    def pretest_decision(self) -> dict[str, Any] | None:
        """The pre-trend test to judge parallel trends by and its verdict at the run's α = 1 - level
        (``details.pretest_decision``).

        The event-study test (cohorts pooled: few restrictions, each estimated from every cluster) with its
        small-sample F p-value when clustered, else its chi-square p-value; the group-time test (R ``did``'s) only
        when the event-study one is unavailable: with many pre-treatment cells estimated from few clusters per
        cohort it over-rejects. ``None`` when neither test could be computed.
        """
        return pretest_decision_of(self)

    def descriptives(self) -> pd.DataFrame:
        """Descriptive statistics of the analysis sample by cohort (:mod:`cteimpact.did.descriptives`); small cells
        suppressed (``suppressed``, ``suppression``) once :meth:`with_min_cell` has been applied."""
        from cteimpact.did.descriptives import cohort_descriptives
        from cteimpact.did.privacy import suppress_descriptives

        if self.data is None:
            raise OptionError("these results do not carry their data; descriptive statistics need the rows used")
        table = cohort_descriptives(self.data)
        if self.privacy is not None:
            return suppress_descriptives(table, int(self.privacy["min_cell"]))
        return table.assign(suppressed=False, suppression=None)

    def descriptives_record(self) -> dict[str, Any] | None:
        """``details.descriptives``: the table of :meth:`descriptives` with what its numbers describe."""
        d = self.data
        if d is None or d.observations is None:
            return None
        obs = d.observations
        table = self.descriptives()
        return {
            "outcome": self.outcome, "unit": d.unit, "time": d.time, "cohort": d.cohort,
            "level": obs.level, "standard_deviation": obs.describe_level(),
            "mean": ("mean of the students (each row's mean weighted by its students)"
                     if obs.level == "students" and not obs.rows_are_students
                     else "mean of the students (each row is one student)" if obs.rows_are_students
                     else "mean of the unit-period rows (each counted once)"),
            "students_column": obs.students_column, "outcome_n_column": obs.outcome_n,
            "outcome_sd_column": obs.outcome_sd,
            "pre_periods": ("periods before the cohort's first treated period minus anticipation; never-treated "
                            "units: the periods before the earliest adoption"),
            "weights": "not applied (sampling weights do not enter descriptive statistics)",
            "rows": table.to_dict(orient="records"),
        }

    # -- access ----------------------------------------------------------------------------------------------------
    def _row(self, e: Estimand) -> dict[str, Any]:
        lab = estimand_label(self.outcome, e)
        i = self.estimand_labels.index(lab)
        try:
            row: EffectEstimate | None = self.estimate(lab)
        except OptionError:
            row = None
        return row_record(e, lab, float(self.estimand_se[i]), row, self.inference.get(lab) or {},
                          float(self.options.get("anticipation") or 0))

    def _aggregate_rows(self) -> Callable[[int, Estimand], dict[str, Any]]:
        return lambda i, e: self._row(e)

    def aggregation(self, family: str) -> pd.DataFrame:
        """Elements of one aggregation (``group``, ``dynamic``, ``calendar``) with estimates, standard errors and
        intervals (the overall parameter is the row with a missing element), each with how it was inferred
        (``std_error_type``, ``interval``: pointwise or simultaneous, ``p_value_type``, ``p_value_simultaneous``;
        see :meth:`inference_record`) and, for the event study, its ``phase`` (``pre``, ``anticipation``,
        ``post``)."""
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
                "suppression", "std_error_type", "interval", "p_value_type", "p_value_simultaneous"]
        if family == "dynamic":
            cols.append("phase")
        return pd.DataFrame(rows).reindex(columns=cols)

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

    def _event_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e_times, beta, cov, _ = self._event_parts()
        return e_times, beta, cov

    # -- text ------------------------------------------------------------------------------------------------------
    def _aggregate_text(self) -> str:
        from cteimpact.results.text import format_estimates

        rows = [e for e in self.estimates if "[g=" not in e.label]
        return format_estimates(rows)

    def _descriptives_text(self) -> str:
        table = self.descriptives()
        obs = self.data.observations if self.data is not None else None

        def num(v: Any, fmt: str) -> str:
            return SUPPRESSION_MARKER if v is None or pd.isna(v) else format(float(v), fmt)

        lines = [f"{'cohort':>14} {'units':>7} {'students':>10} {'pre mean':>12} {'pre SD':>12} {'mean':>12} "
                 f"{'SD':>12}"]
        for r in table.to_dict(orient="records"):
            name = r["cohort_label"] if r["cohort"] == 0 else f"cohort {r['cohort_label']}"
            lines.append(f"{name:>14} {num(r['n_units'], ',.0f'):>7} {num(r['n_students'], ',.0f'):>10} "
                         f"{num(r['pre_mean'], ',.4g'):>12} {num(r['pre_sd'], ',.4g'):>12} "
                         f"{num(r['overall_mean'], ',.4g'):>12} {num(r['overall_sd'], ',.4g'):>12}")
        if obs is not None:
            lines.append(f"SD: {obs.describe_level()}")
        return "\n".join(lines)

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


@dataclass(frozen=True, eq=False)
class DiDAggregate(DiDResults):
    """One aggregation of the group-time effects (:meth:`DiDResults.aggregate`), computed from the stored influence
    functions without re-estimation: its elements and overall parameter, with every ATT(g,t).

    It is a full :class:`DiDResults` (estimates, covariance, inference record, ``summary``, ``to_dict``, ...) and
    offers what hangs off an aggregation: :meth:`table`, :meth:`honest_did` and :meth:`pretrend_power` (dynamic
    aggregation), :meth:`wild_bootstrap`, and :meth:`aggregate` again.
    """

    family: AggregationType = "dynamic"
    """``"simple"``, ``"group"``, ``"dynamic"`` or ``"calendar"``."""

    def table(self) -> pd.DataFrame:
        """The elements and overall parameter (the row with a missing element) with their inference (see
        :meth:`DiDResults.aggregation`); the simple aggregation is its single overall row."""
        if self.family == "simple":
            e = next(e for e in self.estimands if e.family == "simple")
            return pd.DataFrame([{"element": None, **self._row(e)}])
        return self.aggregation(self.family)

    @property
    def overall(self) -> EffectEstimate:
        """The overall parameter of the aggregation (simple: the ATT; dynamic: mean of the effects at e >= 0)."""
        key = {"simple": self.outcome, "group": f"{self.outcome}[group=overall]",
               "dynamic": f"{self.outcome}[event=overall]", "calendar": f"{self.outcome}[calendar=overall]"}
        return self.estimate(key[self.family])

    def wild_bootstrap(self, n_draws: int = 999, *, weights: WildWeights = "webb", seed: int | None = None,
                       labels: Sequence[str] | None = None) -> DiDAggregate:
        """The same aggregation with the restricted wild cluster bootstrap on its estimates (see
        :meth:`CallawaySantAnna.fit`, ``wild_bootstrap``): its p-values and inverted intervals replace the analytic
        ones on those rows. ``seed`` defaults to the fit's; ``labels`` restricts it to some estimates."""
        return self.aggregate(self.family, min_e=_bound(self.options.get("min_e"), -math.inf),
                              max_e=_bound(self.options.get("max_e"), math.inf),
                              balance_e=self.options.get("balance_e"), wild_bootstrap=n_draws, wild_weights=weights,
                              seed=self.options.get("seed") if seed is None else seed,
                              wild_labels=None if labels is None else list(labels))

    def _event_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        if self.family != "dynamic":
            raise OptionError(f"HonestDiD sensitivity and pre-trend power use the event study; this is the "
                              f"'{self.family}' aggregation: use res.aggregate(\"dynamic\")")
        return super()._event_parts()


def _bound(value: Any, default: float) -> float:
    return default if value is None else float(value)


def inference_record_of(res: Any) -> dict[str, Any]:
    """``inference_record()`` of a Callaway–Sant'Anna result, in memory or from sufficient statistics (both have the
    estimates, inference rows, options, clusters, bootstrap and pre-tests it reads)."""
    level = float(res.options["level"])
    alpha = size_of(level)
    clustered = res.n_clusters is not None
    names = {
        "influence_function": ("analytic influence-function standard error"
                               + (f", cluster-robust ({res.n_clusters} clusters of "
                                  f"'{res.options.get('cluster')}')" if clustered else "")),
        "multiplier_bootstrap": (
            f"multiplier-bootstrap standard error (interquartile range of {res.bootstrap['n_draws']} draws / "
            "1.349, as R did)" if res.bootstrap else "multiplier-bootstrap standard error"),
    }
    rows: dict[str, dict[str, Any]] = {}
    for e in res.estimates:
        base = res.inference.get(e.label)
        if base is None:
            continue
        r = dict(base)
        hidden = e.suppressed

        def shown(v: Any, hidden: bool = hidden) -> Any:
            return None if hidden or v is None or (isinstance(v, float) and not math.isfinite(v)) else v

        p, p_sim = shown(e.p_value), shown(r.get("p_value_simultaneous"))
        lo, hi = shown(e.ci_lower), shown(e.ci_upper)
        r.update({
            "std_error": shown(e.std_error), "ci_type": e.ci_type,
            "std_error_influence_function": shown(r.get("std_error_influence_function")),
            "std_error_multiplier_bootstrap": shown(r.get("std_error_multiplier_bootstrap")),
            "p_value_simultaneous": p_sim,
            "significant": None if p is None else bool(p < alpha),
            "significant_simultaneous": None if p_sim is None else bool(p_sim < alpha),
            "ci_excludes_zero": None if lo is None or hi is None else bool(lo > 0 or hi < 0),
        })
        rows[e.label] = r
    head = rows.get(res.outcome)
    headline = None
    if head is not None:
        other = {k: head[f"std_error_{k}"] for k in ("influence_function", "multiplier_bootstrap")
                 if k != head["std_error_type"] and head.get(f"std_error_{k}") is not None}
        headline = {"label": res.outcome, "std_error": head["std_error"],
                    "std_error_type": head["std_error_type"], "std_error_name": names[head["std_error_type"]],
                    "ci_type": head["ci_type"], "interval": head["interval"],
                    "p_value_method": head["p_value_method"], "other_std_errors": other}
    return {
        "alpha": alpha, "ci_level": level, "clustered": clustered, "n_clusters": res.n_clusters,
        "df": res.df, "std_error_names": names,
        "std_error_used_by": {
            "estimates": "the row's std_error_type (rows[label])",
            "aggregates_and_att_gt": "the same standard error as the estimate row of the same label",
            "wild_cluster_bootstrap": "influence_function (the bootstrap-t studentises with it)",
            "sampling_distribution": "influence_function (pricing draws from it)",
        },
        "headline": headline, "rows": rows,
    }


def pretest_decision_of(res: Any) -> dict[str, Any] | None:
    """``pretest_decision()`` of a Callaway–Sant'Anna result, in memory or from sufficient statistics (both have the
    estimates, inference rows, options, clusters, bootstrap and pre-tests it reads)."""
    alpha = size_of(float(res.options["level"]))
    for key, test, name in (("pretest_event_study", res.pretest_event, "event_study"),
                            ("pretest", res.pretest, "group_time")):
        if test is None:
            continue
        small = test.p_value_f
        p = float(small) if small is not None else float(test.p_value)
        kind = (f"F approximation for {test.n_clusters} clusters (W (G − k) / (k (G − 1)) against "
                f"F(k, G − k))" if small is not None else "chi-square")
        return {"test": name, "record": key, "statistic": test.statistic, "df": test.df, "p_value": p,
                "p_value_kind": kind, "alpha": alpha, "rejects": bool(p < alpha),
                "why": ("the event-study test pools the cohorts (few restrictions, each estimated from every "
                        "cluster), so it keeps its size where the group-time test over-rejects"
                        if name == "event_study" else "the event-study test could not be computed")}
    return None

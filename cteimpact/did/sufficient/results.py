"""Results of the Callaway–Sant'Anna estimator computed from sufficient statistics (:class:`SufficientDiDResults`).

The aggregations are the in-memory estimator's own (:func:`cteimpact.did.aggregation.build_estimands`: the same
coefficient vectors on the extended influence base, with the estimated-weights term), and so are the labels, the
rows' terms, the effective N and the Wald pre-tests. What differs is what is stored: no unit-level influence
function exists here, so the results carry the second moments of the influence base (its Gram matrix, or its cluster
sums when clustered) from which every covariance follows, and the sufficient statistics themselves.

With clusters the multiplier bootstrap draws one multiplier per cluster (Callaway & Sant'Anna 2021, Remark 10), so it
needs only the cluster sums of the influence base: :func:`cteimpact.did.multiplier.multiplier_draws` runs on them and
gives the in-memory estimator's draws (same seed, same clusters in the same order: the same numbers). Without
clusters it would need every unit's influence function, which does not leave the engine: refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did.aggregation import FAMILIES, AggregationType, Estimand, build_estimands
from cteimpact.did.assemble import group_time_pretests, group_time_table
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.multiplier import MultiplierWeights, bootstrap_se_and_crit, multiplier_draws, sup_t_p_values
from cteimpact.did.options import DEFAULT_BOOTSTRAP_SEED
from cteimpact.did.pretest import WaldPretest
from cteimpact.did.results import (
    CITATION,
    CallawaySantAnnaMethods,
    estimand_label,
    estimand_term,
    inference_record_of,
    pretest_decision_of,
    row_record,
)
from cteimpact.did.sufficient.cs import SufficientGroupTime
from cteimpact.errors import OptionError
from cteimpact.results.contract import ImpactResults
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.intervals import check_level
from cteimpact.results.text import format_estimates, format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.did.twfe import TWFEResult

__all__ = ["SufficientDiDResults", "sufficient_results"]


@dataclass(frozen=True, eq=False)
class SufficientDiDResults(CallawaySantAnnaMethods, ImpactResults):
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
    bootstrap
        Multiplier-bootstrap summary (draws, weights, seed, bands, critical values), or ``None``.
    twfe
        The TWFE comparison on the same prepared data (``twfe=True``), or ``None``.
    inference
        Label → how that row's standard error, interval and p-value were obtained (the keys of
        :meth:`cteimpact.did.results.DiDResults.inference_record`'s rows before the derived ones).
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
    bootstrap: dict[str, Any] | None = None
    twfe: TWFEResult | None = None
    inference: dict[str, dict[str, Any]] = field(default_factory=dict)
    fit: SufficientGroupTime | None = field(default=None, repr=False, compare=False)
    privacy: dict[str, Any] | None = None

    def with_min_cell(self, min_cell: int) -> SufficientDiDResults:
        """The results as they may be published: estimates describing fewer than ``min_cell`` students hidden, by the
        rule of :mod:`cteimpact.did.privacy` applied to the engine's cohort × period counts
        (:func:`~cteimpact.did.privacy.suppress_sufficient`), as
        :meth:`cteimpact.did.results.DiDResults.with_min_cell` applies it. Diagnostics (pre-trend power, HonestDiD)
        are computed from the full results, before suppression."""
        from cteimpact.did.privacy import suppress_sufficient

        return suppress_sufficient(self, min_cell)

    def inference_record(self) -> dict[str, Any]:
        """How every estimate row's standard error, interval and p-value were obtained, as
        :meth:`cteimpact.did.results.DiDResults.inference_record` writes it (hidden estimates' numbers ``null``)."""
        return inference_record_of(self)

    def descriptives_record(self) -> dict[str, Any] | None:
        """``None``: descriptive statistics by cohort (the students' standard deviations of the outcome) need the rows,
        which do not leave the engine (:meth:`cteimpact.did.results.DiDResults.descriptives_record` in memory)."""
        return None

    def pretest_decision(self) -> dict[str, Any] | None:
        """The pre-trend test to judge parallel trends by, as
        :meth:`cteimpact.did.results.DiDResults.pretest_decision` gives it."""
        return pretest_decision_of(self)

    # -- contract ------------------------------------------------------------------------------------------------
    def summary(self) -> str:
        o = self.options
        lines = [self.estimator, CITATION, "",
                 f"Outcome: {self.outcome}   comparison: {o['control']}   base period: {o['base_period']}   "
                 f"anticipation: {o['anticipation']}   data: "
                 + {"panel": "balanced panel", "unbalanced": "unbalanced panel", "rcs": "repeated cross-sections"}[
                     o["data_mode"]] + " (sufficient statistics)",
                 ("Units" if o["panel"] else "Observations") + f": {self.n_units:,}"
                 + (f"   clusters ({o['cluster']}): {self.n_clusters}" if self.n_clusters is not None
                    else ("   clustered by unit" if o["panel"] else "")),
                 *([f"Covariates ({o['method']} 2×2 estimator, computed in the engine): "
                    + ", ".join(o["covariates"])] if o["covariates"] else []),
                 self._inference_line(),
                 f"Rows brought from the engine: {self.rows_fetched:,}", "",
                 format_estimates([e for e in self.estimates if "[g=" not in e.label])]
        for name, p in (("group-time cells", self.pretest), ("event-study pre-periods", self.pretest_event)):
            if p is not None:
                lines.append(f"Wald pre-test of parallel trends ({name}): W = {p.statistic:.4f} on {p.df} df, "
                             f"p = {format_number(p.p_value)}")
        lines += self._twfe_lines()
        return "\n".join(lines + self._closing_lines())

    def _inference_line(self) -> str:
        b = self.bootstrap
        if b:
            return (f"Inference: multiplier bootstrap by cluster, {b['n_draws']} draws ({b['weights']} weights, seed "
                    f"{b['seed']}); bands for ATT(g,t) and aggregation elements are "
                    + ("simultaneous (sup-t)" if b["bands"] else "pointwise"))
        return ("Inference: analytic influence-function standard errors; intervals are pointwise"
                + (f"; t({self.df:g}) critical values" if self.df else ""))

    def plot(self, kind: str = "event_study", **kwargs: Any) -> Figure:
        """``"event_study"`` (dynamic effects with their intervals) or ``"group_time"`` (grid of ATT(g,t))."""
        if kind in ("event_study", "group_time"):
            return self._plot_effects(kind, **kwargs)
        raise OptionError(f"plot kind must be 'event_study' or 'group_time', got {kind!r}")

    def _wild_details(self) -> dict[str, Any]:
        return {}  # the wild cluster bootstrap re-estimates on the rows

    def _storage_details(self) -> dict[str, Any]:
        return {"rows_fetched": self.rows_fetched}

    # -- access ----------------------------------------------------------------------------------------------------
    def aggregation(self, family: str) -> pd.DataFrame:
        """Elements of one aggregation (``group``, ``dynamic``, ``calendar``) and its overall parameter (the row
        with a missing element): estimate, standard error, interval, p-value, cells averaged, label and how each was
        inferred (the columns of :meth:`cteimpact.did.results.DiDResults.aggregation`)."""
        rows = []
        by_label = {e.label: e for e in self.estimates}
        for i, e in enumerate(self.estimands):
            if e.family != family:
                continue
            rows.append({"element": e.element, **self._row_dict(e, i, by_label.get(self.estimand_labels[i]))})
        if not rows:
            raise OptionError(f"no '{family}' aggregation in these results (asked for: "
                              f"{', '.join(self.options['aggregations'])})")
        return pd.DataFrame(rows)

    def _row_dict(self, e: Estimand, i: int, r: EffectEstimate | None) -> dict[str, Any]:
        """One estimand's numbers and inference, with the keys of the in-memory results' tables."""
        lab = self.estimand_labels[i]
        return row_record(e, lab, float(self.estimand_se[i]), r, self.inference.get(lab) or {},
                          float(self.options["anticipation"]))

    def _aggregate_rows(self) -> Callable[[int, Estimand], dict[str, Any]]:
        by_label = {r.label: r for r in self.estimates}
        return lambda i, e: self._row_dict(e, i, by_label.get(self.estimand_labels[i]))

    # -- diagnostics of the event study (as DiDResults computes them, from the estimates and their covariance) -------
    def _event_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = [i for i, e in enumerate(self.estimands) if e.family == "dynamic" and e.element is not None]
        if not idx:
            raise OptionError("the dynamic (event-study) aggregation was not computed; include 'dynamic' in "
                              "aggregations")
        e_times = np.array([float(self.estimands[i].element or 0.0) for i in idx])
        beta = np.array([self.estimands[i].estimate for i in idx])
        return e_times, beta, self.covariance[np.ix_(idx, idx)]

    def _alpha_refusal(self, kwargs: Mapping[str, Any]) -> str:
        return "honest_did() takes the confidence level (level=0.95), not alpha"

    def aggregate(self, type: AggregationType = "dynamic", *, min_e: float = -math.inf, max_e: float = math.inf,
                  balance_e: int | None = None) -> SufficientDiDResults:
        """One aggregation (R ``aggte``) from the stored group-time effects and moments, without a query."""
        if self.fit is None:
            raise OptionError("these results do not carry their group-time fit")
        o = self.options
        return sufficient_results(self.fit, aggregations=(type,), min_e=min_e, max_e=max_e, balance_e=balance_e,
                                  level=float(o["level"]), small_sample=bool(o["small_sample"]),
                                  bootstrap=o["bootstrap"], multiplier=o["multiplier"] or "mammen",
                                  bands=bool(o["bands"]), seed=o["seed"],
                                  trim_level=float(o.get("trim_level", 0.995)))


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


NO_UNIT_BOOTSTRAP = ("the multiplier bootstrap from sufficient statistics needs a cluster variable (one multiplier per "
                     "cluster, from the cluster sums); without clusters it needs every unit's influence function: use "
                     "analytic standard errors, or the in-memory estimator")


class _ClusterBase:
    """The extended influence base summed within clusters, in the place of the unit-level
    :class:`~cteimpact.did.influence.InfluenceFunctions` that :func:`~cteimpact.did.multiplier.multiplier_draws`
    reads when clustered (its ``n_base`` and ``cluster_sums``; each cluster is then one row of multipliers)."""

    def __init__(self, sums: np.ndarray) -> None:
        self._sums = sums
        self.n_base = int(sums.shape[1])

    def cluster_sums(self, row_cluster: np.ndarray, n_clusters: int) -> np.ndarray:
        return self._sums


@dataclass
class _Boot:
    """Multiplier-bootstrap standard errors, critical values and simultaneous p-values of every estimand."""

    se: np.ndarray
    crit: dict[str, float]
    p_simultaneous: np.ndarray | None
    info: dict[str, Any]


def _multiplier_bootstrap(fit: SufficientGroupTime, estimands: Sequence[Estimand], coef: np.ndarray, se: np.ndarray,
                          *, n_draws: int, weights: MultiplierWeights, seed: int | None, bands: bool,
                          level: float) -> _Boot:
    """The in-memory estimator's multiplier bootstrap (:mod:`cteimpact.did.assemble`) from the cluster sums."""
    n_clusters = fit.n_clusters
    if n_clusters is None:
        raise OptionError(NO_UNIT_BOOTSTRAP)
    base = cast(InfluenceFunctions, _ClusterBase(fit.moments))
    raw = multiplier_draws(base, n_draws=n_draws, weights=weights, seed=seed,
                           row_cluster=np.arange(n_clusters, dtype=np.int64), n_clusters=n_clusters)
    draws = (raw @ coef) / fit.n
    fams: dict[str, np.ndarray] = {
        "attgt": np.array([i for i, e in enumerate(estimands) if e.family == "attgt" and np.isfinite(e.estimate)])}
    for fam in ("group", "dynamic", "calendar"):
        idx = np.array([i for i, e in enumerate(estimands) if e.family == fam and e.element is not None])
        if idx.size:
            fams[fam] = idx
    alpha = 1.0 - level
    se_boot, crit = bootstrap_se_and_crit(draws, fams, alpha=alpha)
    se_report = np.where(np.isnan(se), np.nan, se_boot)
    p_sim = (sup_t_p_values(draws, fams, se_report, np.array([e.estimate for e in estimands], dtype=float))
             if bands else None)
    zc = float(stats.norm.ppf(1 - alpha / 2))
    for k, v in list(crit.items()):
        if not math.isfinite(v) or v < zc:
            crit[k] = zc
    info = {"n_draws": int(n_draws), "weights": weights, "seed": seed, "bands": bool(bands),
            "critical_values": dict(crit), "clustered": True}
    return _Boot(se_report, crit, p_sim, info)


def _record(std_error_type: str, interval: str, interval_method: str, critical_value: float | None,
            p_value_method: str, p_value_simultaneous: float | None, se_analytic: float,
            se_bootstrap: float | None) -> dict[str, Any]:
    """How one row's standard error, interval and p-value were obtained (the in-memory results' record)."""
    boot = None if se_bootstrap is None or not math.isfinite(se_bootstrap) else float(se_bootstrap)
    return {"std_error_type": std_error_type, "interval": interval, "interval_method": interval_method,
            "critical_value": critical_value, "p_value_type": "pointwise", "p_value_method": p_value_method,
            "p_value_simultaneous": p_value_simultaneous,
            "std_error_influence_function": float(se_analytic) if math.isfinite(se_analytic) else None,
            "std_error_multiplier_bootstrap": boot}


def _row(e: Estimand, i: int, label: str, outcome: str, s: float, se_analytic: float, n_eff: float, term: str, *,
         level: float, df: float | None, boot: _Boot | None) -> tuple[EffectEstimate, dict[str, Any]]:
    """One estimate row and its inference record: simultaneous bands (bootstrap with bands) or a pointwise
    interval, as in memory."""
    banded = boot is not None and bool(boot.info["bands"]) and (
        (e.family in boot.crit and e.element is not None) or e.family == "attgt")
    se_boot = None if boot is None else float(boot.se[i])
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    if boot is not None and banded and math.isfinite(s):
        c = boot.crit.get(e.family, z)
        stat = e.estimate / s
        p = float(2 * stats.norm.sf(abs(stat)))
        p_sim = None if boot.p_simultaneous is None else max(float(boot.p_simultaneous[i]), p)
        return (EffectEstimate(label, outcome, term, e.estimate, s, stat, p, e.estimate - c * s, e.estimate + c * s,
                               level, "simultaneous", n_eff),
                _record("multiplier_bootstrap", "simultaneous", "sup_t_multiplier_bootstrap", c, "normal", p_sim,
                        se_analytic, se_boot))
    kind = "multiplier_bootstrap" if boot is not None else "influence_function"
    z_or_t = "t" if df is not None else "normal"
    crit = z if df is None else float(stats.t.ppf(1 - (1 - level) / 2, df))
    return (EffectEstimate.from_normal(label, outcome, term, e.estimate, s if math.isfinite(s) else math.nan,
                                       ci_level=level, ci_type="pointwise", n_effective=n_eff, df=df),
            _record(kind, "pointwise", z_or_t, crit, z_or_t, None, se_analytic, se_boot))


def sufficient_results(fit: SufficientGroupTime, *, aggregations: Sequence[str] = FAMILIES,
                       min_e: float = -math.inf, max_e: float = math.inf, balance_e: int | None = None,
                       level: float = 0.95, small_sample: bool = False, bootstrap: int | None = None,
                       multiplier: MultiplierWeights = "mammen", bands: bool = True,
                       seed: int | None = DEFAULT_BOOTSTRAP_SEED, twfe: TWFEResult | None = None,
                       trim_level: float = 0.995) -> SufficientDiDResults:
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
    bootstrap, multiplier, bands, seed
        Multiplier-bootstrap draws (clustered fits only; ``None``: analytic standard errors), their weights, sup-t
        bands for the ATT(g,t) and aggregation elements, and the seed (as
        :class:`~cteimpact.did.options.DiDInference`).
    twfe
        A TWFE comparison to carry (:func:`~cteimpact.did.sufficient.twfe.twfe_from_statistics`).
    trim_level
        The propensity-score trimming level the group-time effects were estimated with (recorded in the options).
    """
    check_level(level)
    for a in aggregations:
        if a not in FAMILIES:
            raise OptionError(f"aggregations must be among {', '.join(FAMILIES)}, got {a!r}")
    if math.isnan(min_e) or math.isnan(max_e) or min_e > max_e:
        raise OptionError(f"the event-time window needs min_e <= max_e, got min_e = {min_e}, max_e = {max_e}")
    if small_sample and fit.n_clusters is None:
        raise OptionError("small-sample critical values (t with G-1 degrees of freedom) need a cluster variable")
    if bootstrap is not None and (isinstance(bootstrap, bool) or bootstrap < 1):
        raise OptionError(f"bootstrap must be a positive number of draws, got {bootstrap!r}")
    if multiplier not in ("mammen", "rademacher"):
        raise OptionError(f"multiplier must be 'mammen' or 'rademacher', got {multiplier!r}")
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
    boot = None
    se_analytic = se
    if bootstrap is not None:
        boot = _multiplier_bootstrap(fit, estimands, coef, se, n_draws=int(bootstrap), weights=multiplier, seed=seed,
                                     bands=bands, level=level)
        se = boot.se
    rows: list[EffectEstimate] = []
    inference: dict[str, dict[str, Any]] = {}
    for i in _report_order(estimands):
        e = estimands[i]
        if not np.isfinite(e.estimate):
            continue
        row, how = _row(e, i, labels[i], outcome, float(se[i]), float(se_analytic[i]), _n_effective(e, fit),
                        estimand_term(e, float(fit.anticipation)), level=level, df=df, boot=boot)
        rows.append(row)
        inference[labels[i]] = how
    group_time = group_time_table(fit.cells, att=fit.att, se=se, n_treated=fit.n_treated, n_control=fit.n_control,
                                  failures=fit.failures, control=fit.control, labels=labels, rows=rows)
    pretest, pretest_event = group_time_pretests(fit.cells, fit.att, cov, estimands, anticipation=fit.anticipation,
                                                 n_clusters=fit.n_clusters)
    options = {
        "outcome": outcome, "unit": cols.unit, "time": cols.time, "cohort": cols.cohort, "cluster": cols.cluster,
        "covariates": list(fit.covariates), "covariate_coding": [], "weights": None,
        "control": fit.control, "method": fit.method, "base_period": fit.base_period,
        "anticipation": int(fit.anticipation), "panel": fit.panel, "data_mode": fit.mode,
        "allow_unbalanced": fit.mode == "unbalanced", "trim_level": float(trim_level),
        "backend": "sufficient statistics",
        "aggregations": list(aggregations), "min_e": None if math.isinf(min_e) else min_e,
        "max_e": None if math.isinf(max_e) else max_e, "balance_e": balance_e, "level": float(level),
        "small_sample": bool(small_sample), "bootstrap": bootstrap,
        "multiplier": multiplier if bootstrap else None, "bands": bool(bands), "seed": seed,
        # the in-memory estimator's options that the sufficient statistics do not support, at their "off" values
        "wild_bootstrap": None, "wild_weights": None, "wild_labels": None,
        "twfe": twfe is not None, "students": None, "outcome_sd": None, "outcome_n": None,
    }
    flow = stats.layout.flow
    notes = list(stats.notes)
    if fit.failures:
        notes.append(f"{len(fit.failures)} group-time effects could not be estimated and are excluded from the "
                     "aggregations")
    if fit.panel:
        n_t = int(fit.times.size)
        shape = (f"balanced panel of {stats.n_units:,} units × {n_t} periods" if fit.mode == "panel"
                 else f"unbalanced panel of {stats.n_units:,} units in {n_t} periods")
        flow = flow.aggregate(stats.n_units, shape, "units")  # the in-memory preparation's wording
    return SufficientDiDResults(
        estimates=tuple(rows), options=options, sample_flow=flow,
        outcome=outcome, estimands=tuple(estimands), estimand_labels=labels, estimand_se=se, covariance=cov,
        group_time=group_time, moments=fit.moments, pretest=pretest, pretest_event=pretest_event,
        n_units=stats.n_units, n_clusters=fit.n_clusters, rows_fetched=stats.rows_fetched, notes=tuple(notes),
        df=df, bootstrap=None if boot is None else boot.info, twfe=twfe, inference=inference, fit=fit)

"""From estimated group-time effects to reported results: aggregation, inference, tables and pre-tests.

:class:`GroupTimeFit` holds what :meth:`cteimpact.did.estimator.CallawaySantAnna.fit` estimates once: the
group-time cells, their ATTs and influence functions, the cohort probabilities and the second moments of the
extended influence base (the Gram matrix, or the cluster sums when clustered). :func:`assemble` turns it into a
:class:`~cteimpact.did.results.DiDResults` for a choice of aggregations, event-time window and inference, without
estimating any ATT(g,t) again: every aggregation is a coefficient vector on the base (see
:mod:`cteimpact.did.aggregation`), so its estimate, variance and bootstrap draws follow from what is stored. This is
how both ``fit()`` and :meth:`DiDResults.aggregate <cteimpact.did.results.DiDResults.aggregate>` (R ``did``'s
``aggte``) build their results.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.config.declared import unknown_option_message
from cteimpact.did.aggregation import FAMILIES, Estimand, build_estimands
from cteimpact.did.errors import PretestUnavailableWarning
from cteimpact.did.grouptime import Cell, CellEstimates, ControlGroup, score_parts
from cteimpact.did.multiplier import bootstrap_se_and_crit, multiplier_draws, sup_t_p_values
from cteimpact.did.options import DiDEstimation, check_literal
from cteimpact.did.options import DiDInference as Inference
from cteimpact.did.panel import StaggeredData, present
from cteimpact.did.pretest import WaldPretest, wald_pretest
from cteimpact.did.results import DiDAggregate, DiDResults, estimand_label, estimand_term
from cteimpact.did.wild import WildResult, wild_recentered
from cteimpact.errors import OptionError
from cteimpact.results.estimate import EffectEstimate

__all__ = ["GroupTimeFit", "Inference", "Window", "assemble", "check_literal", "moments_covariance"]


@dataclass(frozen=True, eq=False)
class GroupTimeFit:
    """Everything the Callaway–Sant'Anna estimator estimates once, from which every aggregation follows.

    Attributes
    ----------
    data
        The prepared data.
    cells
        The group-time cells, in the order of :attr:`estimates`.
    estimates
        ATT(g,t), counts and influence functions of every cell.
    pg
        Cohort probabilities ``P(G = g)`` (aggregation weights).
    moments
        Second moments of the extended influence base: its cluster sums (``G × m``) when clustered, else its Gram
        matrix (``m × m``).
    cohort_sizes
        Influence-function rows of each cohort (effective N of the estimates).
    estimation
        The estimator's options (:class:`~cteimpact.did.options.DiDEstimation`).
    cell_rows, group_time_tables
        The ATT(g,t) estimate rows and the group-time table already built, by inference options (they do not depend
        on the aggregations): every aggregation shows the fit's.
    """

    data: StaggeredData
    cells: tuple[Cell, ...]
    estimates: CellEstimates
    pg: np.ndarray
    moments: np.ndarray
    cohort_sizes: dict[float, int]
    estimation: DiDEstimation
    cell_rows: dict[tuple[Any, ...], dict[str, tuple[EffectEstimate, dict[str, Any]]]] = field(
        default_factory=dict, repr=False)
    group_time_tables: dict[tuple[Any, ...], pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def control(self) -> ControlGroup:
        return self.estimation.control

    @property
    def clustered(self) -> bool:
        return self.data.row_cluster is not None

    @property
    def n_clusters(self) -> int | None:
        return self.data.n_clusters

    def covariance(self, coef: np.ndarray) -> np.ndarray:
        """Influence-function covariance of the estimands with coefficient columns ``coef`` (cluster-robust when
        clustered)."""
        return moments_covariance(self.moments, coef, self.data.n, clustered=self.clustered)


def moments_covariance(moments: np.ndarray, coef: np.ndarray, n: int, *, clustered: bool) -> np.ndarray:
    """Influence-function covariance of the estimands with coefficient columns ``coef`` (``m × k``), from the second
    moments of the extended influence base: its Gram matrix (``m × m``), or when clustered its sums within each
    cluster (``G × m``, cluster-robust); ``n`` is the influence functions' rows."""
    if clustered:
        proj = moments @ coef
        cov = proj.T @ proj / n ** 2
    else:
        cov = coef.T @ moments @ coef / n ** 2
    return (cov + cov.T) / 2


@dataclass(frozen=True)
class Window:
    """Which aggregations to report and the event-time window of the dynamic one (R ``aggte``)."""

    aggregations: tuple[str, ...] = FAMILIES
    min_e: float = -math.inf
    max_e: float = math.inf
    balance_e: int | None = None

    def check(self) -> None:
        for a in self.aggregations:
            if a not in FAMILIES:
                raise OptionError(f"aggregations must be among {', '.join(FAMILIES)}, got {a!r}")
        if math.isnan(self.min_e) or math.isnan(self.max_e) or self.min_e > self.max_e:
            raise OptionError(f"the event-time window needs min_e <= max_e (numbers; omit one for no bound), got "
                              f"min_e = {self.min_e}, max_e = {self.max_e}")


@dataclass
class _Inferred:
    """Standard errors and bootstrap summaries of every estimand."""

    se: np.ndarray
    se_report: np.ndarray
    se_boot_kept: np.ndarray | None = None
    p_simultaneous: np.ndarray | None = None
    crit: dict[str, float] = field(default_factory=dict)
    boot_info: dict[str, Any] | None = None
    wild: dict[str, WildResult] = field(default_factory=dict)


def aggregate_again(fit: GroupTimeFit, window: Window, fit_options: Mapping[str, Any],
                    overrides: Mapping[str, Any]) -> DiDAggregate:
    """One aggregation of ``fit`` (:meth:`DiDResults.aggregate`): inference as in ``fit_options`` (the fit's
    ``results.options``) with ``overrides``, the wild cluster bootstrap only when asked for."""
    names = [f.name for f in dataclasses.fields(Inference)]
    for key in overrides:
        if key not in names:
            raise OptionError(unknown_option_message(key, names, where="res.aggregate()"))
    base = {k: fit_options.get(k) for k in names if k not in ("wild_bootstrap", "wild_weights", "wild_labels")}
    base["multiplier"] = base["multiplier"] or "mammen"
    settings = {**base, **overrides}
    if settings.get("wild_labels") is not None:
        settings["wild_labels"] = tuple(settings["wild_labels"])
    inference = Inference(**{k: v for k, v in settings.items() if v is not None or k in _NULLABLE})
    inference.check(fit.clustered)
    window.check()
    return assemble(fit, window, inference, result_class=DiDAggregate, family=window.aggregations[0])


_NULLABLE = frozenset({"bootstrap", "seed", "wild_bootstrap", "wild_labels"})


def assemble(fit: GroupTimeFit, window: Window, inference: Inference, *, twfe: bool = False,
             result_class: type[DiDResults] = DiDResults, **extra: Any) -> Any:
    """The results of ``fit`` for the aggregations of ``window`` with ``inference``; no ATT(g,t) is re-estimated.

    ``result_class`` (:class:`DiDResults` or a subclass) is built with the fields ``extra`` added.
    """
    d = fit.data
    est = fit.estimates
    estimands = build_estimands(fit.cells, est.att, d.groups, d.times, fit.pg, types=window.aggregations,
                                min_e=window.min_e, max_e=window.max_e, balance_e=window.balance_e)
    coef = np.column_stack([e.coef for e in estimands])
    cov, se = _covariance(fit, estimands, coef)
    labels = tuple(estimand_label(d.outcome, e) for e in estimands)
    inf = _Inferred(se=se, se_report=se.copy())
    if inference.bootstrap is not None:
        _multiplier_bootstrap(fit, estimands, coef, inference, inf)
    if inference.wild_bootstrap is not None:
        _wild_bootstrap(fit, estimands, labels, inference, inf)
    rows, record = _rows(fit, estimands, labels, inference, inf)
    key = _cell_key(inference)
    if key not in fit.group_time_tables:
        fit.group_time_tables[key] = _group_time_table(fit, labels, rows, inf.se_report)
    group_time = fit.group_time_tables[key].copy()
    pretest, pretest_event = _pretests(fit, estimands, cov)
    twfe_res = None
    if twfe:
        from cteimpact.did.twfe import twfe_from_prepared

        twfe_res = twfe_from_prepared(d, wild_bootstrap=inference.wild_bootstrap,
                                      wild_weights=inference.wild_weights, seed=inference.seed, level=inference.level)
    notes = list(d.notes)
    if est.failures:
        notes.append(f"{len(est.failures)} group-time effects could not be estimated and are excluded from the "
                     "aggregations")
    return result_class(
        estimates=tuple(rows), options=_options_record(fit, window, inference, twfe), sample_flow=d.flow,
        outcome=d.outcome, estimands=tuple(estimands), estimand_labels=labels, estimand_se=inf.se_report,
        covariance=cov, influence=est.influence, group_time=group_time, pretest=pretest, n_units=d.n,
        n_clusters=fit.n_clusters, bootstrap=inf.boot_info, wild=inf.wild, twfe=twfe_res, notes=tuple(notes),
        df=inference.df(fit.n_clusters), data=d, pretest_event=pretest_event, inference=record, fit_state=fit,
        **extra,
    )


def _covariance(fit: GroupTimeFit, estimands: Sequence[Estimand], coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of all estimands (failed cells: no variance) and their standard errors (NaN where zero)."""
    cov = fit.covariance(coef)
    bad = np.array([e.family == "attgt" and not np.isfinite(e.estimate) for e in estimands])
    cov[bad, :] = 0.0
    cov[:, bad] = 0.0
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    return cov, np.where(se > 0, se, np.nan)


def _multiplier_bootstrap(fit: GroupTimeFit, estimands: Sequence[Estimand], coef: np.ndarray, inference: Inference,
                          inf: _Inferred) -> None:
    """Multiplier-bootstrap standard errors, sup-t critical values and simultaneous p-values (into ``inf``)."""
    d = fit.data
    n_draws = present(inference.bootstrap, "bootstrap draws")
    alpha = inference.size
    raw = multiplier_draws(fit.estimates.influence, n_draws=n_draws, weights=inference.multiplier,
                           seed=inference.seed, row_cluster=d.row_cluster, n_clusters=fit.n_clusters)
    draws = (raw @ coef) / d.n
    fams: dict[str, np.ndarray] = {}
    fams["attgt"] = np.array([i for i, e in enumerate(estimands) if e.family == "attgt" and np.isfinite(e.estimate)])
    for fam in ("group", "dynamic", "calendar"):
        idx = np.array([i for i, e in enumerate(estimands) if e.family == fam and e.element is not None])
        if idx.size:
            fams[fam] = idx
    se_boot, crit = bootstrap_se_and_crit(draws, fams, alpha=alpha)
    inf.se_report = np.where(np.isnan(inf.se), np.nan, se_boot)
    inf.se_boot_kept = inf.se_report.copy()
    if inference.bands:
        inf.p_simultaneous = sup_t_p_values(draws, fams, se_boot, np.array([e.estimate for e in estimands],
                                                                           dtype=float))
    zc = float(stats.norm.ppf(1 - alpha / 2))
    for k, v in list(crit.items()):
        if not math.isfinite(v) or v < zc:
            crit[k] = zc
    inf.crit = crit
    inf.boot_info = {"n_draws": int(n_draws), "weights": inference.multiplier, "seed": inference.seed,
                     "bands": bool(inference.bands), "critical_values": dict(crit),
                     "clustered": fit.n_clusters is not None}


def _wild_bootstrap(fit: GroupTimeFit, estimands: Sequence[Estimand], labels: Sequence[str], inference: Inference,
                    inf: _Inferred) -> None:
    """Restricted wild cluster bootstrap of every aggregated estimate (or those of ``wild_labels``)."""
    d = fit.data
    parts = score_parts(d, fit.cells, fit.estimates.influence, present(d.row_cluster, "clusters"),
                        present(fit.n_clusters, "cluster count"))
    wanted = None if inference.wild_labels is None else set(inference.wild_labels)
    if wanted is not None and not wanted <= set(labels):
        raise OptionError(f"wild_labels names unknown estimates: {sorted(wanted - set(labels))}")
    for i, e in enumerate(estimands):
        if e.family == "attgt" or not np.isfinite(e.estimate):
            continue
        if wanted is not None and labels[i] not in wanted:
            continue
        psi_p, h_p, shares = parts.for_estimand(e.coef)
        inf.wild[labels[i]] = wild_recentered(psi_p, h_p, shares, e.estimate, d.n,
                                              n_draws=present(inference.wild_bootstrap, "wild draws"),
                                              weights=inference.wild_weights, seed=inference.seed,
                                              alpha=inference.size)
        # the row shows the standard error its test and interval use: the wild bootstrap studentises with the
        # analytic influence-function standard error (also the sampling distribution's); the multiplier-bootstrap
        # one stays in the inference record
        inf.se_report[i] = inf.se[i]


def _n_effective(e: Estimand, cells: Sequence[Cell], sizes: dict[float, int]) -> float:
    cohorts: set[float] = set()
    for k in e.cells:
        cohorts.add(cells[k].group)
        cohorts.update(cells[k].controls)
    return float(sum(sizes.get(c, 0) for c in cohorts))


def _report_order(estimands: Sequence[Estimand]) -> list[int]:
    """The simple ATT first, then the aggregations' elements and overall parameters, then every ATT(g,t)."""
    return ([i for i, e in enumerate(estimands) if e.family == "simple"]
            + [i for i, e in enumerate(estimands) if e.family not in ("simple", "attgt")]
            + [i for i, e in enumerate(estimands) if e.family == "attgt"])


def _rows(fit: GroupTimeFit, estimands: Sequence[Estimand], labels: Sequence[str], inference: Inference,
          inf: _Inferred) -> tuple[list[EffectEstimate], dict[str, dict[str, Any]]]:
    """The estimate rows (in report order) and how each one's standard error, interval and p-value were obtained.

    The ATT(g,t) rows depend only on the inference options (not on the aggregations): they are built once per set
    of options and kept with ``fit``.
    """
    rows: list[EffectEstimate] = []
    record: dict[str, dict[str, Any]] = {}
    crit = _critical(inference, fit.n_clusters)
    key = _cell_key(inference)
    cached = fit.cell_rows.get(key)
    for i in _report_order(estimands):
        e = estimands[i]
        if not np.isfinite(e.estimate):
            continue
        if cached is not None and e.family == "attgt" and labels[i] in cached:
            row, how = cached[labels[i]]
        else:
            row, how = _row(fit, e, i, labels[i], inference, inf, crit)
        rows.append(row)
        record[labels[i]] = how
    if cached is None:
        fit.cell_rows[key] = {r.label: (r, record[r.label]) for r, e in zip(rows, _reported(estimands), strict=True)
                              if e.family == "attgt"}
    return rows, record


def _cell_key(inference: Inference) -> tuple[Any, ...]:
    """The inference options the ATT(g,t) rows and the group-time table depend on."""
    return (inference.level, inference.bootstrap, inference.multiplier, inference.bands, inference.seed,
            inference.small_sample)


def _reported(estimands: Sequence[Estimand]) -> list[Estimand]:
    return [estimands[i] for i in _report_order(estimands) if np.isfinite(estimands[i].estimate)]


class _Critical(NamedTuple):
    """Critical values of the intervals: normal, and the pointwise one (t with ``df`` degrees of freedom)."""

    z: float
    pointwise: float
    df: float | None


def _critical(inference: Inference, n_clusters: int | None) -> _Critical:
    df = inference.df(n_clusters)
    alpha = inference.size
    z = float(stats.norm.ppf(1 - alpha / 2))
    return _Critical(z, z if df is None else float(stats.t.ppf(1 - alpha / 2, df)), df)


def _row(fit: GroupTimeFit, e: Estimand, i: int, lab: str, inference: Inference, inf: _Inferred,
         crit: _Critical) -> tuple[EffectEstimate, dict[str, Any]]:
    """One estimate row: wild-bootstrap, simultaneous-band or pointwise inference."""
    d = fit.data
    level = float(inference.level)
    n_eff = _n_effective(e, fit.cells, fit.cohort_sizes)
    s = float(inf.se_report[i])
    term = estimand_term(e, d.anticipation)
    if lab in inf.wild:
        w = inf.wild[lab]
        stat = e.estimate / s if s > 0 else math.nan
        return (EffectEstimate(lab, d.outcome, term, e.estimate, s, stat, w.p_value, w.ci_lower, w.ci_upper,
                               level, "wild_cluster_bootstrap", n_eff),
                _inference_row("influence_function", "pointwise", "wild_cluster_bootstrap", None,
                               "wild_cluster_bootstrap", None, inf.se[i], inf.se_boot_kept, i))
    se_kind = "multiplier_bootstrap" if inference.bootstrap is not None else "influence_function"
    banded = inference.bootstrap is not None and inference.bands and (
        (e.family in inf.crit and e.element is not None) or e.family == "attgt")
    if banded and math.isfinite(s):
        c = inf.crit.get(e.family, crit.z)
        stat = e.estimate / s
        p = float(2 * stats.norm.sf(abs(stat)))
        p_sim = None if inf.p_simultaneous is None else max(float(inf.p_simultaneous[i]), p)
        return (EffectEstimate(lab, d.outcome, term, e.estimate, s, stat, p, e.estimate - c * s, e.estimate + c * s,
                               level, "simultaneous", n_eff),
                _inference_row(se_kind, "simultaneous", "sup_t_multiplier_bootstrap", c, "normal", p_sim, inf.se[i],
                               inf.se_boot_kept, i))
    z_or_t = "t" if crit.df is not None else "normal"
    return (EffectEstimate.from_normal(lab, d.outcome, term, e.estimate, s if math.isfinite(s) else math.nan,
                                       ci_level=level, ci_type="pointwise", n_effective=n_eff, df=crit.df),
            _inference_row(se_kind, "pointwise", z_or_t, crit.pointwise, z_or_t, None, inf.se[i], inf.se_boot_kept,
                           i))


def _inference_row(std_error_type: str, interval: str, interval_method: str, critical_value: float | None,
                   p_value_method: str, p_value_simultaneous: float | None, se_analytic: float,
                   se_bootstrap: np.ndarray | None, i: int) -> dict[str, Any]:
    """How one estimate row's standard error, interval and p-value were obtained (see
    :meth:`DiDResults.inference_record`)."""
    boot = None if se_bootstrap is None or not math.isfinite(se_bootstrap[i]) else float(se_bootstrap[i])
    return {"std_error_type": std_error_type, "interval": interval, "interval_method": interval_method,
            "critical_value": critical_value, "p_value_type": "pointwise", "p_value_method": p_value_method,
            "p_value_simultaneous": p_value_simultaneous,
            "std_error_influence_function": float(se_analytic) if math.isfinite(se_analytic) else None,
            "std_error_multiplier_bootstrap": boot}


def _group_time_table(fit: GroupTimeFit, labels: Sequence[str], rows: Sequence[EffectEstimate],
                      se_report: np.ndarray) -> pd.DataFrame:
    """One row per group-time cell of ``fit`` (see :func:`group_time_table`)."""
    est = fit.estimates
    return group_time_table(fit.cells, att=est.att, se=se_report[:len(fit.cells)], n_treated=est.n_treated,
                            n_control=est.n_control, failures=est.failures, control=fit.control, labels=labels,
                            rows=rows)


def group_time_table(cells: Sequence[Cell], *, att: np.ndarray, se: np.ndarray, n_treated: np.ndarray,
                     n_control: np.ndarray, failures: Mapping[int, str], control: str, labels: Sequence[str],
                     rows: Sequence[EffectEstimate]) -> pd.DataFrame:
    """One row per group-time cell: estimate, standard error (``se``, the cells' first), interval (from the
    published row labelled ``labels[k]``, if any), counts and notes (the in-memory and the sufficient-statistics
    results' ``group_time``)."""
    row_by_label = {r.label: r for r in rows}
    comparison = "never treated" if control == "never" else "not yet treated"
    gt_rows = []
    for ci, cell in enumerate(cells):
        r = row_by_label.get(labels[ci])
        gt_rows.append({
            "group": cell.group, "time": cell.time, "base_period": cell.base, "event_time": cell.event_time,
            "post": cell.post, "att": float(att[ci]),
            "se": float(se[ci]) if np.isfinite(se[ci]) else math.nan,
            "ci_lower": r.ci_lower if r is not None else math.nan,
            "ci_upper": r.ci_upper if r is not None else math.nan,
            "ci_type": r.ci_type if r is not None else None,
            "n_treated": int(n_treated[ci]), "n_comparison": int(n_control[ci]),
            "comparison": comparison,
            "note": "reference period (0 by construction)" if cell.reference else failures.get(ci),
        })
    return pd.DataFrame(gt_rows)


def _pretests(fit: GroupTimeFit, estimands: Sequence[Estimand],
              cov: np.ndarray) -> tuple[WaldPretest | None, WaldPretest | None]:
    """The Wald pre-tests of ``fit`` (see :func:`group_time_pretests`)."""
    return group_time_pretests(fit.cells, fit.estimates.att, cov, estimands, anticipation=fit.data.anticipation,
                               n_clusters=fit.n_clusters)


def group_time_pretests(cells: Sequence[Cell], att: np.ndarray, cov: np.ndarray, estimands: Sequence[Estimand], *,
                        anticipation: float, n_clusters: int | None
                        ) -> tuple[WaldPretest | None, WaldPretest | None]:
    """The Wald pre-test on the pre-treatment ATT(g,t) (R ``did``'s) and on the event-study pre-periods.

    The group-time test estimates a block of the covariance per cohort from that cohort's clusters and the
    comparison clusters only; with many pre-periods and few clusters per cohort its inverse is unstable and the test
    over-rejects. The same null on the event-study pre-period effects pools the cohorts: few restrictions, each
    estimated from every cluster (size checked in tests/did). ``cov``: the covariance of the estimands, the cells
    first.
    """
    k_cells = len(cells)
    pre = np.array([c.group > c.time for c in cells])
    pretest = wald_pretest(att, cov[:k_cells, :k_cells], pre, [(c.group, c.time) for c in cells], n_clusters)
    dyn = [i for i, e in enumerate(estimands) if e.family == "dynamic" and e.element is not None]
    if not dyn:
        return pretest, None
    ev_times = np.array([float(present(estimands[i].element, "event time")) for i in dyn])
    ev_att = np.array([estimands[i].estimate for i in dyn])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PretestUnavailableWarning)
        pretest_event = wald_pretest(ev_att, cov[np.ix_(dyn, dyn)], ev_times < -anticipation,
                                     [(float(t), math.nan) for t in ev_times], n_clusters)
    return pretest, pretest_event


def _options_record(fit: GroupTimeFit, window: Window, inference: Inference, twfe: bool) -> dict[str, Any]:
    """``results.options``: the estimator's (every declared estimation option under its name), the aggregation
    window's and the inference options."""
    d = fit.data
    inf = inference
    est = fit.estimation
    return {
        "outcome": d.outcome, "unit": d.unit, "time": d.time, "cohort": d.cohort,
        "covariates": list(d.covariates), "covariate_coding": [f.to_dict() for f in d.covariate_coding],
        "weights": d.weights, "cluster": d.cluster, "control": est.control, "method": est.method,
        "base_period": est.base_period,
        "anticipation": int(est.anticipation), "panel": bool(est.panel), "allow_unbalanced": bool(est.allow_unbalanced),
        "data_mode": d.mode, "trim_level": float(est.trim_level),
        "aggregations": list(window.aggregations), "min_e": None if math.isinf(window.min_e) else window.min_e,
        "max_e": None if math.isinf(window.max_e) else window.max_e, "balance_e": window.balance_e,
        "level": float(inf.level), "bootstrap": inf.bootstrap, "multiplier": inf.multiplier if inf.bootstrap else None,
        "bands": inf.bands, "seed": inf.seed, "wild_bootstrap": inf.wild_bootstrap,
        "wild_weights": inf.wild_weights if inf.wild_bootstrap else None,
        "wild_labels": None if inf.wild_labels is None else list(inf.wild_labels),
        "small_sample": inf.small_sample, "twfe": twfe, "students": d.students,
        "outcome_sd": None if d.observations is None else d.observations.outcome_sd,
        "outcome_n": None if d.observations is None else d.observations.outcome_n,
    }

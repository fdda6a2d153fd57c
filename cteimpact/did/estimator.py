"""The Callaway–Sant'Anna estimator: group-time effects, aggregations and inference in one ``fit()``.

Defaults are R ``did``'s (``att_gt`` + ``aggte``): never-treated comparison units, the doubly robust 2×2
estimator, a varying base period, no anticipation, analytic standard errors. See :class:`CallawaySantAnna`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, get_args

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.did.aggregation import FAMILIES, Estimand, build_estimands, cohort_probabilities
from cteimpact.did.errors import PretestUnavailableWarning
from cteimpact.did.grouptime import BasePeriod, ControlGroup, enumerate_cells, estimate_cells, score_parts
from cteimpact.did.multiplier import MultiplierWeights, bootstrap_se_and_crit, multiplier_draws, sup_t_p_values
from cteimpact.did.panel import StaggeredData, prepare_staggered_data, present
from cteimpact.did.pretest import wald_pretest
from cteimpact.did.results import DiDResults, estimand_label, estimand_term
from cteimpact.did.twobytwo import Method
from cteimpact.did.wild import WildResult, WildWeights, wild_recentered
from cteimpact.errors import DesignError, OptionError
from cteimpact.limits import check_magnitude, check_memory
from cteimpact.results.estimate import EffectEstimate
from cteimpact.threads import one_blas_thread

__all__ = ["CallawaySantAnna"]


def _check_literal(value: object, options: Any, name: str) -> None:
    allowed = get_args(options)
    if value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


class CallawaySantAnna:
    """Staggered difference-in-differences (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    data
        Long data: one row per unit and period (panel) or per observation (repeated cross-sections). The frame is
        not modified.
    outcome, time, unit
        Outcome, period and unit-identifier columns.
    cohort
        First treated period of each unit (0 or infinity: never treated). Alternatively ``treatment``: a 0/1
        indicator per unit and period (panels), from which the cohort is derived.
    covariates
        Covariates for the doubly robust / IPW / regression 2×2 estimators (values of the earlier period of each
        comparison).
    weights
        Sampling weights.
    cluster
        Cluster identifier (constant within units): analytic standard errors become cluster-robust, and the
        multiplier bootstrap draws one multiplier per cluster.
    control
        ``"never"`` (never-treated units; default) or ``"notyet"`` (never and not-yet-treated units).
    method
        2×2 estimator: ``"dr"`` (doubly robust; default), ``"ipw"`` or ``"reg"`` (outcome regression).
    base_period
        ``"varying"`` (default) or ``"universal"``.
    anticipation
        Periods before treatment in which units may already respond.
    panel
        ``False`` for repeated cross-sections (for example student cohorts within districts).
    allow_unbalanced
        Keep units missing in some periods (the 2×2 comparisons then use the repeated cross-section estimators and
        the influence functions are summed by unit, as in R ``did``).
    where
        Sample restrictions (``"year >= 2004"``), each recorded in the sample flow; written in cteimpact's
        restriction language (see :mod:`cteimpact.data.restriction_language`), never evaluated as Python.
    source
        Name of the data in the sample flow.
    trim_level
        Propensity-score trimming level for comparison units (0.995, as R ``DRDID``).
    students
        Column with the number of students each row describes (aggregated data such as a district × cohort
        panel). It does not enter estimation; :meth:`DiDResults.with_min_cell` uses it to count the students behind
        each estimate. Default: every row is one student.
    outcome_sd, outcome_n
        Aggregated data: the column with the student-level standard deviation of the outcome within each row, and
        the one with the number of students behind each row's outcome mean and standard deviation (default:
        ``students``). They do not enter estimation; descriptive statistics (:meth:`DiDResults.descriptives`) and
        effect sizes (:func:`cteimpact.did.effect_size`) use them to describe students rather than unit means.

    Examples
    --------
    >>> res = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                        cohort="first.treat").fit()          # doctest: +SKIP
    >>> res.estimate("lemp").estimate                               # doctest: +SKIP
    -0.0399...
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        outcome: str,
        time: str,
        unit: str | None = None,
        cohort: str | None = None,
        treatment: str | None = None,
        covariates: Sequence[str] = (),
        weights: str | None = None,
        cluster: str | None = None,
        control: ControlGroup = "never",
        method: Method = "dr",
        base_period: BasePeriod = "varying",
        anticipation: int = 0,
        panel: bool = True,
        allow_unbalanced: bool = False,
        where: Sequence[str] = (),
        source: str = "data frame",
        trim_level: float = 0.995,
        students: str | None = None,
        outcome_sd: str | None = None,
        outcome_n: str | None = None,
    ) -> None:
        _check_literal(control, ControlGroup, "control")
        _check_literal(method, Method, "method")
        _check_literal(base_period, BasePeriod, "base_period")
        if not 0.5 < trim_level <= 1.0:
            raise OptionError(f"trim_level must be in (0.5, 1], got {trim_level}")
        if isinstance(covariates, str):
            covariates = [covariates]
        self.control: ControlGroup = control
        self.method: Method = method
        self.base_period: BasePeriod = base_period
        self.anticipation = anticipation
        self.trim_level = trim_level
        self.prepared: StaggeredData = prepare_staggered_data(
            data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
            covariates=covariates, weights=weights, cluster=cluster, panel=panel,
            allow_unbalanced=allow_unbalanced, control=control, anticipation=anticipation, where=where,
            source=source, students=students, outcome_sd=outcome_sd, outcome_n=outcome_n)
        _check_values(self.prepared)

    @one_blas_thread()
    def fit(
        self,
        *,
        aggregations: Sequence[str] = FAMILIES,
        min_e: float = -math.inf,
        max_e: float = math.inf,
        balance_e: int | None = None,
        alpha: float = 0.05,
        bootstrap: int | None = None,
        multiplier: MultiplierWeights = "mammen",
        bands: bool = True,
        seed: int | None = None,
        wild_bootstrap: int | None = None,
        wild_weights: WildWeights = "webb",
        wild_labels: Sequence[str] | None = None,
        small_sample: bool = False,
        twfe: bool = False,
    ) -> DiDResults:
        """Estimate every ATT(g,t), aggregate, and compute inference.

        Parameters
        ----------
        aggregations
            Which of ``simple``, ``group``, ``dynamic``, ``calendar`` to report (all by default).
        min_e, max_e, balance_e
            Event-time window and balancing of the dynamic aggregation (R ``aggte``).
        alpha
            1 − confidence level.
        bootstrap
            Number of multiplier-bootstrap draws (``None``: analytic standard errors, R ``bstrap = FALSE``).
            With draws, standard errors are the bootstrap IQR-based ones and, with ``bands=True``, the ATT(g,t)
            and aggregation elements get simultaneous sup-t bands.
        multiplier
            ``"mammen"`` (R ``did``'s) or ``"rademacher"`` multipliers.
        seed
            Seed of the bootstraps (same seed, same results).
        wild_bootstrap
            Draws of the restricted wild cluster bootstrap for the aggregated estimates (needs ``cluster``; see
            :func:`cteimpact.did.wild.wild_recentered`); its p-values and inverted intervals replace the analytic
            ones on those rows (standard errors stay analytic).
        wild_weights
            ``"webb"`` (six-point; default) or ``"rademacher"``.
        wild_labels
            Restrict the wild bootstrap to these estimate labels (default: every aggregated estimate).
        small_sample
            With clustering, use t(G − 1) critical values for analytic intervals and the sampling distribution.
        twfe
            Also fit the two-way fixed effects comparison (:mod:`cteimpact.did.twfe`).
        """
        d = self.prepared
        if not 0 < alpha < 1:
            raise OptionError(f"alpha must be in (0, 1), got {alpha}")
        aggs = tuple(aggregations)
        for a in aggs:
            if a not in FAMILIES:
                raise OptionError(f"aggregations must be among {', '.join(FAMILIES)}, got {a!r}")
        if bootstrap is not None and bootstrap < 1:
            raise OptionError(f"bootstrap must be a positive number of draws, got {bootstrap}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
            raise OptionError(f"seed must be a non-negative whole number, got {seed!r}")
        if math.isnan(min_e) or math.isnan(max_e) or min_e > max_e:
            raise OptionError(f"the event-time window needs min_e <= max_e (numbers; omit one for no bound), got "
                              f"min_e = {min_e}, max_e = {max_e}")
        _check_literal(multiplier, MultiplierWeights, "multiplier")
        _check_literal(wild_weights, WildWeights, "wild_weights")
        if wild_bootstrap is not None and d.row_cluster is None:
            raise OptionError("the wild cluster bootstrap needs a cluster variable (cluster = \"...\" in [design]; "
                              "command line: --cluster; Python: cluster=...)")
        if small_sample and d.row_cluster is None:
            raise OptionError("small-sample critical values (t with G-1 degrees of freedom; small_sample = true in "
                              "[design.inference], --small-sample) need a cluster variable (cluster = \"...\" in "
                              "[design]; command line: --cluster)")

        cells = enumerate_cells(d.times, d.groups, d.row_cohort, anticipation=d.anticipation,
                                base_period=self.base_period, control=self.control)
        _check_bootstrap_memory(d, len(cells), bootstrap=bootstrap, wild_bootstrap=wild_bootstrap)
        est = estimate_cells(d, cells, method=self.method, trim_level=self.trim_level)
        pg = cohort_probabilities(d.row_cohort, d.row_weight, d.groups)
        estimands = build_estimands(cells, est.att, d.groups, d.times, pg, types=aggs, min_e=min_e, max_e=max_e,
                                    balance_e=balance_e)
        coef = np.column_stack([e.coef for e in estimands])
        infl = est.influence
        n = d.n
        if d.row_cluster is not None:
            sums = infl.cluster_sums(d.row_cluster, present(d.cluster_labels, "cluster labels").size)
            proj = sums @ coef
            cov = proj.T @ proj / n ** 2
        else:
            gram = infl.gram()
            cov = coef.T @ gram @ coef / n ** 2
        cov = (cov + cov.T) / 2
        # failed cells: no variance
        bad = np.array([e.family == "attgt" and not np.isfinite(e.estimate) for e in estimands])
        cov[bad, :] = 0.0
        cov[:, bad] = 0.0
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        se = np.where(se > 0, se, np.nan)
        labels = tuple(estimand_label(d.outcome, e) for e in estimands)

        n_clusters = None if d.cluster_labels is None else int(d.cluster_labels.size)
        df = float(n_clusters - 1) if (small_sample and n_clusters is not None) else None

        # ---- multiplier bootstrap ------------------------------------------------------------------------------
        boot_info: dict[str, Any] | None = None
        se_report = se.copy()
        se_boot_kept: np.ndarray | None = None
        p_simultaneous: np.ndarray | None = None
        crit: dict[str, float] = {}
        if bootstrap is not None:
            raw = multiplier_draws(infl, n_draws=bootstrap, weights=multiplier, seed=seed,
                                   row_cluster=d.row_cluster, n_clusters=n_clusters)
            draws = (raw @ coef) / n
            fams: dict[str, np.ndarray] = {}
            fams["attgt"] = np.array([i for i, e in enumerate(estimands) if e.family == "attgt"
                                      and np.isfinite(e.estimate)])
            for fam in ("group", "dynamic", "calendar"):
                idx = np.array([i for i, e in enumerate(estimands) if e.family == fam and e.element is not None])
                if idx.size:
                    fams[fam] = idx
            se_boot, crit = bootstrap_se_and_crit(draws, fams, alpha=alpha)
            se_report = np.where(np.isnan(se), np.nan, se_boot)
            se_boot_kept = se_report.copy()
            if bands:
                p_simultaneous = sup_t_p_values(draws, fams, se_boot,
                                                np.array([e.estimate for e in estimands], dtype=float))
            zc = float(stats.norm.ppf(1 - alpha / 2))
            for k, v in list(crit.items()):
                if not math.isfinite(v) or v < zc:
                    crit[k] = zc
            boot_info = {"n_draws": int(bootstrap), "weights": multiplier, "seed": seed, "bands": bool(bands),
                         "critical_values": dict(crit), "clustered": n_clusters is not None}

        # ---- wild cluster bootstrap ----------------------------------------------------------------------------
        wild: dict[str, WildResult] = {}
        if wild_bootstrap is not None:
            parts = score_parts(d, cells, infl, present(d.row_cluster, "clusters"),
                                present(n_clusters, "cluster count"))
            wanted = None if wild_labels is None else set(wild_labels)
            if wanted is not None and not wanted <= set(labels):
                raise OptionError(f"wild_labels names unknown estimates: {sorted(wanted - set(labels))}")
            for i, e in enumerate(estimands):
                if e.family == "attgt" or not np.isfinite(e.estimate):
                    continue
                if wanted is not None and labels[i] not in wanted:
                    continue
                psi_p, h_p, shares = parts.for_estimand(e.coef)
                wild[labels[i]] = wild_recentered(psi_p, h_p, shares, e.estimate, n, n_draws=wild_bootstrap,
                                                  weights=wild_weights, seed=seed, alpha=alpha)
                # the row shows the standard error its test and interval use: the wild bootstrap studentises with
                # the analytic influence-function standard error (also the sampling distribution's); the
                # multiplier-bootstrap one stays in the inference record
                se_report[i] = se[i]

        # ---- rows ----------------------------------------------------------------------------------------------
        cohort_sizes = d.cohort_sizes()
        rows: list[EffectEstimate] = []
        inference: dict[str, dict[str, Any]] = {}
        se_kind = "multiplier_bootstrap" if bootstrap is not None else "influence_function"
        z_or_t = "t" if df is not None else "normal"
        order = ([i for i, e in enumerate(estimands) if e.family == "simple"]
                 + [i for i, e in enumerate(estimands) if e.family not in ("simple", "attgt")]
                 + [i for i, e in enumerate(estimands) if e.family == "attgt"])
        for i in order:
            e = estimands[i]
            if not np.isfinite(e.estimate):
                continue
            n_eff = self._n_effective(e, cells, cohort_sizes)
            s = float(se_report[i])
            lab = labels[i]
            term = estimand_term(e, d.anticipation)
            fam_key = e.family if e.family != "attgt" else "attgt"
            if lab in wild:
                w = wild[lab]
                stat = e.estimate / s if s > 0 else math.nan
                rows.append(EffectEstimate(lab, d.outcome, term, e.estimate, s, stat, w.p_value, w.ci_lower,
                                           w.ci_upper, 1 - alpha, "wild_cluster_bootstrap", n_eff))
                inference[lab] = _inference_row("influence_function", "pointwise", "wild_cluster_bootstrap", None,
                                                "wild_cluster_bootstrap", None, se[i], se_boot_kept, i)
            elif ((bootstrap is not None and bands and fam_key in crit and e.element is not None)
                  or (bootstrap is not None and bands and e.family == "attgt")) and math.isfinite(s):
                c = crit.get(fam_key, float(stats.norm.ppf(1 - alpha / 2)))
                stat = e.estimate / s
                p = float(2 * stats.norm.sf(abs(stat)))
                rows.append(EffectEstimate(lab, d.outcome, term, e.estimate, s, stat, p, e.estimate - c * s,
                                           e.estimate + c * s, 1 - alpha, "simultaneous", n_eff))
                inference[lab] = _inference_row(
                    se_kind, "simultaneous", "sup_t_multiplier_bootstrap", c, "normal",
                    None if p_simultaneous is None else max(float(p_simultaneous[i]), p), se[i], se_boot_kept, i)
            else:
                rows.append(EffectEstimate.from_normal(lab, d.outcome, term, e.estimate,
                                                       s if math.isfinite(s) else math.nan, ci_level=1 - alpha,
                                                       ci_type="pointwise", n_effective=n_eff, df=df))
                crit_pw = float(stats.norm.ppf(1 - alpha / 2) if df is None else stats.t.ppf(1 - alpha / 2, df))
                inference[lab] = _inference_row(se_kind, "pointwise", z_or_t, crit_pw, z_or_t, None, se[i],
                                                se_boot_kept, i)

        # ---- group-time table and pre-test --------------------------------------------------------------------
        k_cells = len(cells)
        att_se = se_report[:k_cells]
        row_by_label = {r.label: r for r in rows}
        gt_rows = []
        for ci, cell in enumerate(cells):
            r = row_by_label.get(labels[ci])
            gt_rows.append({
                "group": cell.group, "time": cell.time, "base_period": cell.base, "event_time": cell.event_time,
                "post": cell.post, "att": float(est.att[ci]),
                "se": float(att_se[ci]) if np.isfinite(att_se[ci]) else math.nan,
                "ci_lower": r.ci_lower if r is not None else math.nan,
                "ci_upper": r.ci_upper if r is not None else math.nan,
                "ci_type": r.ci_type if r is not None else None,
                "n_treated": int(est.n_treated[ci]), "n_comparison": int(est.n_control[ci]),
                "comparison": "never treated" if self.control == "never" else "not yet treated",
                "note": "reference period (0 by construction)" if cell.reference else est.failures.get(ci),
            })
        group_time = pd.DataFrame(gt_rows)
        pre = np.array([c.group > c.time for c in cells])
        pretest = wald_pretest(est.att, cov[:k_cells, :k_cells], pre, [(c.group, c.time) for c in cells],
                               n_clusters)
        # The group-time test (R did's) estimates a block of the covariance per cohort from that cohort's clusters
        # and the comparison clusters only; with many pre-periods and few clusters per cohort its inverse is
        # unstable and the test over-rejects. The same null on the event-study pre-period effects pools the
        # cohorts: few restrictions, each estimated from every cluster (size checked in tests/did).
        dyn = [i for i, e in enumerate(estimands) if e.family == "dynamic" and e.element is not None]
        pretest_event = None
        if dyn:
            ev_times = np.array([float(estimands[i].element) for i in dyn])  # type: ignore[arg-type]
            ev_att = np.array([estimands[i].estimate for i in dyn])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PretestUnavailableWarning)
                pretest_event = wald_pretest(ev_att, cov[np.ix_(dyn, dyn)], ev_times < -d.anticipation,
                                             [(float(t), math.nan) for t in ev_times], n_clusters)

        twfe_res = None
        if twfe:
            from cteimpact.did.twfe import twfe_from_prepared

            twfe_res = twfe_from_prepared(d, wild_bootstrap=wild_bootstrap, wild_weights=wild_weights, seed=seed,
                                          alpha=alpha)

        notes = list(d.notes)
        if est.failures:
            notes.append(f"{len(est.failures)} group-time effects could not be estimated and are excluded from the "
                         "aggregations")
        options = {
            "outcome": d.outcome, "unit": d.unit, "time": d.time, "cohort": d.cohort,
            "covariates": list(d.covariates), "weights": d.weights, "cluster": d.cluster,
            "control": self.control, "method": self.method, "base_period": self.base_period,
            "anticipation": int(self.anticipation), "data_mode": d.mode, "trim_level": self.trim_level,
            "aggregations": list(aggs), "min_e": None if math.isinf(min_e) else min_e,
            "max_e": None if math.isinf(max_e) else max_e, "balance_e": balance_e, "alpha": alpha,
            "bootstrap": bootstrap, "multiplier": multiplier if bootstrap else None, "bands": bands,
            "seed": seed, "wild_bootstrap": wild_bootstrap, "wild_weights": wild_weights if wild_bootstrap else None,
            "wild_labels": None if wild_labels is None else list(wild_labels),
            "small_sample": small_sample, "twfe": twfe, "students": d.students,
            "outcome_sd": None if d.observations is None else d.observations.outcome_sd,
            "outcome_n": None if d.observations is None else d.observations.outcome_n,
        }
        return DiDResults(
            estimates=tuple(rows), options=options, sample_flow=d.flow, outcome=d.outcome,
            estimands=tuple(estimands), estimand_labels=labels, estimand_se=se_report, covariance=cov,
            influence=infl, group_time=group_time, pretest=pretest, n_units=d.n, n_clusters=n_clusters,
            bootstrap=boot_info, wild=wild, twfe=twfe_res, notes=tuple(notes), df=df, data=d,
            pretest_event=pretest_event, inference=inference,
        )

    def _n_effective(self, e: Estimand, cells: Sequence[Any], sizes: dict[float, int]) -> float:
        cohorts: set[float] = set()
        for k in e.cells:
            cohorts.add(cells[k].group)
            cohorts.update(cells[k].controls)
        return float(sum(sizes.get(c, 0) for c in cohorts))


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


_COVARIATE_CONDITION = 1e7
"""Largest ``(1 + mean² + sd²) / sd`` of a covariate: beyond it the 2×2 regressions' design matrix (intercept and
covariate) has a reciprocal condition number near machine precision and every cell fails as singular."""


def _check_values(d: StaggeredData) -> None:
    """Refuse an outcome that is constant or too large to square, and covariates the 2×2 regressions cannot use
    (constant, or on a scale that makes them numerically singular), naming the column."""
    y = d.y_wide if d.y_wide is not None else d.obs_y
    if y is not None:
        yv = np.asarray(y, dtype=float)
        yv = yv[np.isfinite(yv)]
        check_magnitude(yv, role="outcome", column=d.outcome)
        if yv.size and float(yv.min()) == float(yv.max()):
            raise DesignError(f"outcome '{d.outcome}' is constant (all {float(yv[0]):g}) in the {yv.size:,} "
                              "observations used; nothing to estimate")
    x = d.x_wide if d.x_wide is not None else d.obs_x
    if x is None or not d.covariates:
        return
    xv = np.asarray(x, dtype=float).reshape(-1, len(d.covariates))
    for j, name in enumerate(d.covariates):
        col = xv[:, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            continue
        check_magnitude(col, role="covariate", column=name)
        mean, sd = float(col.mean()), float(col.std())
        if sd == 0.0:
            raise DesignError(f"covariate '{name}' is constant (all {mean:g}): it is collinear with the intercept of "
                              "the 2×2 regressions; remove it")
        if (1.0 + mean * mean + sd * sd) / sd > _COVARIATE_CONDITION:
            raise DesignError(
                f"covariate '{name}' (mean {mean:.3g}, standard deviation {sd:.3g}) is on a scale the 2×2 regressions "
                "cannot use: with the intercept their design matrix is numerically singular; rescale it to a "
                "standard deviation near 1 (for example to thousands or millions of its unit, or standardise it)")


def _check_bootstrap_memory(d: StaggeredData, n_cells: int, *, bootstrap: int | None,
                            wild_bootstrap: int | None) -> None:
    """The draws of the bootstraps are held in memory: refuse numbers of draws that do not fit, before any cell is
    estimated.

    Multiplier bootstrap (:func:`cteimpact.did.multiplier.multiplier_draws` and the summaries), per draw, the most
    of three phases: the draws of the extended influence base (cells, cohort-weight columns, constant) with the
    kernel's partial sums of one column chunk; the base draws rescaled; the base draws with the estimand draws,
    their sorted copy and the sup-t statistics. Wild cluster bootstrap (:mod:`cteimpact.did.wild`), per draw: the
    cluster multipliers, the bootstrap scores and their working copies (six values per cluster) and the
    influence-function parts of an aggregate (at most every cell's treated and comparison groups, each split by
    period for repeated cross-sections).
    """
    n_base = n_cells + int(d.groups.size) + 1
    # every ATT(g,t), and at most one element per cohort, event time and period plus the four overall aggregates
    n_estimands = n_cells + int(d.groups.size) + 2 * int(d.times.size) + int(d.times.size) + 4
    if bootstrap is not None:
        per = max(n_base + 9 * min(48, n_base), 3 * n_base, n_base + 4 * n_estimands)
        check_memory(int(bootstrap), 8 * per, items="draws", breakdown=f"{per:,} values × 8 bytes",
                     what=f"the multiplier bootstrap ({n_cells:,} group-time cells)",
                     option="--bootstrap, [design.inference] bootstrap")
    if wild_bootstrap is not None and d.cluster_labels is not None:
        g = int(d.cluster_labels.size)
        roles = 2 if d.mode == "panel" else 4
        parts = n_cells * roles + 1
        per = 6 * g + parts
        check_memory(int(wild_bootstrap), 8 * per, items="draws", breakdown=f"{per:,} values × 8 bytes",
                     what=f"the wild cluster bootstrap ({g:,} clusters, up to {parts:,} influence-function parts)",
                     option="--wild-bootstrap, [design.inference] wild_bootstrap")

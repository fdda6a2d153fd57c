"""The Callaway–Sant'Anna estimator: group-time effects, aggregations and inference in one ``fit()``.

Defaults are R ``did``'s (``att_gt`` + ``aggte``): never-treated comparison units, the doubly robust 2×2
estimator, a varying base period, no anticipation, analytic standard errors. See :class:`CallawaySantAnna`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.config.declared import build_options, declared
from cteimpact.data.student_data import StudentData
from cteimpact.did.aggregation import FAMILIES, cohort_probabilities
from cteimpact.did.assemble import GroupTimeFit, Window, assemble
from cteimpact.did.grouptime import BasePeriod, ControlGroup, enumerate_cells, estimate_cells
from cteimpact.did.options import DiDEstimation, DiDInference
from cteimpact.did.panel import StaggeredData, prepare_staggered_data, present
from cteimpact.did.results import DiDResults
from cteimpact.did.twobytwo import Method
from cteimpact.errors import DesignError
from cteimpact.limits import COMPILED_FROM, check_magnitude, check_memory, refuse_magnitude
from cteimpact.threads import one_blas_thread

__all__ = ["CallawaySantAnna"]


class CallawaySantAnna:
    """Staggered difference-in-differences (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    data
        Long data: one row per unit and period (panel) or per observation (repeated cross-sections), as a DataFrame
        or a :class:`~cteimpact.data.StudentData` (its sample flow, recorded at loading, continues into the
        results' ``sample_flow``; ``source`` is then not used). The frame is not modified.
    outcome, time, unit
        Outcome, period and unit-identifier columns.
    cohort
        First treated period of each unit (0 or infinity: never treated). Alternatively ``treatment``: a 0/1
        indicator per unit and period (panels), from which the cohort is derived.
    covariates
        Covariates for the doubly robust / IPW / regression 2×2 estimators (values of the earlier period of each
        comparison). A text or ``category`` column is categorical: it enters as indicator columns of its levels but
        a reference level, as R's ``model.matrix`` codes a factor (:mod:`cteimpact.did.factors`); the coding is in
        the results' ``options["covariate_coding"]`` and notes.
    covariate_reference
        Reference level of categorical covariates, e.g. ``{"region": "North"}`` (default: the first level in sorted
        order, or the first category of a ``category`` column).
    weights
        Sampling weights.
    cluster
        Cluster identifier (constant within units): analytic standard errors become cluster-robust, and the
        multiplier bootstrap draws one multiplier per cluster.
    where
        Sample restrictions (``"year >= 2004"``), each recorded in the sample flow; written in cteimpact's
        restriction language (see :mod:`cteimpact.data.restriction_language`), never evaluated as Python.
    source
        Name of the data in the sample flow.
    students
        Column with the number of students each row describes (aggregated data such as a district × cohort
        panel). It does not enter estimation; :meth:`DiDResults.with_min_cell` uses it to count the students behind
        each estimate. Default: every row is one student.
    outcome_sd, outcome_n
        Aggregated data: the column with the student-level standard deviation of the outcome within each row, and
        the one with the number of students behind each row's outcome mean and standard deviation (default:
        ``students``). They do not enter estimation; descriptive statistics (:meth:`DiDResults.descriptives`) and
        effect sizes (:func:`cteimpact.did.effect_size`) use them to describe students rather than unit means.
    estimation, **options
        Estimation options: a :class:`~cteimpact.did.options.DiDEstimation`, and/or its fields as keywords
        (``control``: ``"never"`` or ``"notyet"``; ``method``: ``"dr"``, ``"ipw"`` or ``"reg"``; ``base_period``:
        ``"varying"`` or ``"universal"``; ``anticipation``; ``panel``: ``False`` for repeated cross-sections;
        ``allow_unbalanced``; ``trim_level``; keywords override ``estimation``). Its fields are the one declaration
        of these options (their meaning is in its field help); an unknown keyword is named with the closest valid
        one, or with the design it belongs to.

    Examples
    --------
    >>> res = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year",
    ...                        cohort="first.treat").fit()          # doctest: +SKIP
    >>> res.estimate("lemp").estimate                               # doctest: +SKIP
    -0.0399...
    """

    def __init__(
        self,
        data: pd.DataFrame | StudentData,
        *,
        outcome: str,
        time: str,
        unit: str | None = None,
        cohort: str | None = None,
        treatment: str | None = None,
        covariates: Sequence[str] = (),
        covariate_reference: Mapping[str, str] | None = None,
        weights: str | None = None,
        cluster: str | None = None,
        where: Sequence[str] = (),
        source: str = "data frame",
        students: str | None = None,
        outcome_sd: str | None = None,
        outcome_n: str | None = None,
        estimation: DiDEstimation | None = None,
        **options: Any,
    ) -> None:
        est = build_options(DiDEstimation, options, base=estimation, where="CallawaySantAnna()",
                            elsewhere=_for_fit, also=_DATA_KEYWORDS)
        if isinstance(covariates, str):
            covariates = [covariates]
        self.estimation: DiDEstimation = est
        """The estimation options (also readable one by one: ``control``, ``method``, ...)."""
        self.prepared: StaggeredData = prepare_staggered_data(
            data, outcome=outcome, time=time, unit=unit, cohort=cohort, treatment=treatment,
            covariates=covariates, weights=weights, cluster=cluster, panel=est.panel,
            allow_unbalanced=est.allow_unbalanced, control=est.control, anticipation=est.anticipation, where=where,
            source=source, students=students, outcome_sd=outcome_sd, outcome_n=outcome_n,
            covariate_reference=covariate_reference)
        _check_values(self.prepared)

    @property
    def control(self) -> ControlGroup:
        return self.estimation.control

    @property
    def method(self) -> Method:
        return self.estimation.method

    @property
    def base_period(self) -> BasePeriod:
        return self.estimation.base_period

    @property
    def anticipation(self) -> int:
        return self.estimation.anticipation

    @property
    def trim_level(self) -> float:
        return self.estimation.trim_level

    @one_blas_thread()
    def fit(
        self,
        inference: DiDInference | None = None,
        *,
        aggregations: Sequence[str] = FAMILIES,
        min_e: float = -math.inf,
        max_e: float = math.inf,
        balance_e: int | None = None,
        twfe: bool = False,
        **options: Any,
    ) -> DiDResults:
        """Estimate every ATT(g,t), aggregate, and compute inference.

        Parameters
        ----------
        inference, **options
            Inference options: a :class:`~cteimpact.did.options.DiDInference`, and/or its fields as keywords
            (``level``, ``bootstrap``, ``multiplier``, ``bands``, ``seed``, ``wild_bootstrap``, ``wild_weights``,
            ``wild_labels``, ``small_sample``; keywords override ``inference``). Its fields are the one declaration
            of these options (their meaning is in its field help); an unknown keyword is named with the closest
            valid one, or with the design it belongs to.
        aggregations
            Which of ``simple``, ``group``, ``dynamic``, ``calendar`` to report (all by default).
        min_e, max_e, balance_e
            Event-time window and balancing of the dynamic aggregation (R ``aggte``).
        twfe
            Also fit the two-way fixed effects comparison (:mod:`cteimpact.did.twfe`).
        """
        window = Window(tuple(aggregations), min_e, max_e, balance_e)
        if options.get("wild_labels") is not None:
            options["wild_labels"] = tuple(options["wild_labels"])
        inference = build_options(DiDInference, options, base=inference, where="CallawaySantAnna.fit()",
                                  elsewhere=_for_constructor, also=_FIT_KEYWORDS)
        inference.check(self.prepared.row_cluster is not None)
        window.check()
        return assemble(self.estimate_group_time(bootstrap=inference.bootstrap,
                                                 wild_bootstrap=inference.wild_bootstrap), window,
                        inference, twfe=twfe)

    def estimate_group_time(self, *, bootstrap: int | None = None,
                            wild_bootstrap: int | None = None) -> GroupTimeFit:
        """Estimate every ATT(g,t) with its influence function, and the second moments of the influence base that
        every aggregation's variance uses (:class:`~cteimpact.did.assemble.GroupTimeFit`).

        ``bootstrap`` and ``wild_bootstrap`` (numbers of draws) are checked against the memory available before any
        cell is estimated.
        """
        d = self.prepared
        cells = enumerate_cells(d.times, d.groups, d.row_cohort, anticipation=d.anticipation,
                                base_period=self.base_period, control=self.control)
        _check_bootstrap_memory(d, len(cells), bootstrap=bootstrap, wild_bootstrap=wild_bootstrap)
        est = estimate_cells(d, cells, method=self.method, trim_level=self.trim_level)
        pg = cohort_probabilities(d.row_cohort, d.row_weight, d.groups)
        if d.row_cluster is not None:
            moments = est.influence.cluster_sums(d.row_cluster, present(d.cluster_labels, "cluster labels").size)
        else:
            moments = est.influence.gram()
        return GroupTimeFit(data=d, cells=tuple(cells), estimates=est, pg=pg, moments=moments,
                            cohort_sizes=d.cohort_sizes(), estimation=self.estimation)


def _keyword_names(func: Any) -> tuple[str, ...]:
    return tuple(p.name for p in inspect.signature(func).parameters.values() if p.kind is p.KEYWORD_ONLY)


_DATA_KEYWORDS = _keyword_names(CallawaySantAnna.__init__)
"""The constructor's keywords besides the declared estimation options (the closest one is named when a keyword is
misspelt)."""
_FIT_KEYWORDS = ("inference", *_keyword_names(CallawaySantAnna.fit))
"""``fit()``'s keywords besides the declared inference options."""

_COVARIATE_CONDITION = 1e7
"""Largest ``(1 + mean² + sd²) / sd`` of a covariate: beyond it the 2×2 regressions' design matrix (intercept and
covariate) has a reciprocal condition number near machine precision and every cell fails as singular."""


def refuse_unusable_covariate(name: str, *, mean: float, sd: float, constant: bool, value: float) -> None:
    """Refuse a covariate the 2×2 regressions cannot use: constant (all ``value``), or on a scale (``mean``, ``sd``)
    that makes their design matrix numerically singular (:data:`_COVARIATE_CONDITION`).

    Raises
    ------
    DesignError
        Naming the covariate, and its mean and standard deviation when the scale is the problem.
    """
    if constant:
        raise DesignError(f"covariate '{name}' is constant (all {value:g}): it is collinear with the intercept of "
                          "the 2×2 regressions; remove it")
    if (1.0 + mean * mean + sd * sd) / sd > _COVARIATE_CONDITION:
        raise DesignError(
            f"covariate '{name}' (mean {mean:.3g}, standard deviation {sd:.3g}) is on a scale the 2×2 regressions "
            "cannot use: with the intercept their design matrix is numerically singular; rescale it to a "
            "standard deviation near 1 (for example to thousands or millions of its unit, or standardise it)")




def _check_values(d: StaggeredData) -> None:
    """Refuse an outcome that is constant or too large to square, and covariates the 2×2 regressions cannot use
    (constant, or on a scale that makes them numerically singular), naming the column."""
    y = d.y_wide if d.y_wide is not None else d.obs_y
    if y is not None:
        yv = np.ravel(np.asarray(y, dtype=float), order="K")  # no copy of a column-major y_wide
        summary = getattr(d, "outcome_summary", None)  # done by the compiled scatter that built y_wide, if it ran
        if summary is not None or yv.size >= COMPILED_FROM:
            # long outcomes: count, range and magnitude of the finite values in one pass
            from cteimpact.scan import finite_summary

            n_fin, lo, hi, big, first = summary if summary is not None else finite_summary(yv)
            refuse_magnitude(float(big), role="outcome", column=d.outcome)
            if n_fin and float(lo) == float(hi):
                raise DesignError(f"outcome '{d.outcome}' is constant (all {float(first):g}) in the {int(n_fin):,} "
                                  "observations used; nothing to estimate")
        else:
            finite = np.isfinite(yv)
            if not finite.all():  # a copy only when some outcome is missing
                yv = yv[finite]
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
        refuse_unusable_covariate(name, mean=mean, sd=sd, constant=sd == 0.0, value=mean)


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


def _rd_options() -> dict[str, list[str]]:
    """Options of the RD estimator, to say so when one is given to DiD."""
    from cteimpact.config.design_options import other_design_options

    return other_design_options("did")


def _for_fit() -> dict[str, list[str]]:
    """Where an option given to the constructor belongs instead: ``fit()``, or the RD estimator."""
    return {"CallawaySantAnna.fit()": [*_FIT_KEYWORDS, *(o.name for o in declared(DiDInference))], **_rd_options()}


def _for_constructor() -> dict[str, list[str]]:
    """Where an option given to ``fit()`` belongs instead: the constructor, or the RD estimator."""
    return {"the constructor, CallawaySantAnna()": [*_DATA_KEYWORDS, *(o.name for o in declared(DiDEstimation))],
            **_rd_options()}

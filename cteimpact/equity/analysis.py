"""The equity analysis of either design: :func:`rd_equity` and :func:`did_equity`.

Each runs the design's own estimator by subgroup (:mod:`cteimpact.equity.rd`, :mod:`cteimpact.equity.did`), tests
each level against the reference level and all levels together (:mod:`cteimpact.equity.contrasts`), adjusts the
p-values for multiplicity (:mod:`cteimpact.equity.multiplicity`), computes the access gaps when asked
(:mod:`cteimpact.equity.access`), and returns an :class:`~cteimpact.equity.results.EquityResults` in which every
estimate, test, rate and count describing fewer than ``min_cell`` students is suppressed and said so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData
from cteimpact.did.options import DiDEstimation
from cteimpact.equity.access import AccessGaps, access_gaps
from cteimpact.equity.contrasts import EqualityTest, LevelEffects, difference_rows, omnibus_test
from cteimpact.equity.groups import SubgroupColumn, subgroup_columns
from cteimpact.equity.multiplicity import MULTIPLICITY_METHODS, MultiplicityMethod
from cteimpact.equity.results import EquityResults, assemble_results
from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell
from cteimpact.rd.options import RDOptions
from cteimpact.results.estimate import EffectEstimate

__all__ = ["did_equity", "rd_equity"]


def _frame(data: pd.DataFrame | StudentData) -> tuple[pd.DataFrame, SampleFlow]:
    if isinstance(data, StudentData):
        return data.frame, data.flow
    if isinstance(data, pd.DataFrame):
        return data, SampleFlow("data frame", len(data))
    raise OptionError(f"data must be a pandas DataFrame or StudentData, got {type(data).__name__}")


def _check_common(subgroups: Sequence[str], multiplicity: str, min_cell: Any) -> int:
    if isinstance(subgroups, str):
        raise OptionError(f"subgroups must be a list of column names, got the single string {subgroups!r}")
    if not subgroups:
        raise OptionError("give at least one subgroup column")
    if multiplicity not in MULTIPLICITY_METHODS:
        raise OptionError(f"multiplicity must be one of {', '.join(MULTIPLICITY_METHODS)}, got {multiplicity!r}")
    return check_min_cell(min_cell)


def _periods(frame: pd.DataFrame, periods: Mapping[str, str] | None) -> tuple[dict[str, np.ndarray | None],
                                                                              dict[str, str | None]]:
    if not periods:
        return {"all": None}, {"all": None}
    masks: dict[str, np.ndarray | None] = {}
    for name, expr in periods.items():
        masks[str(name)] = evaluate_restriction(frame, expr)
    return masks, {str(k): str(v) for k, v in periods.items()}


def _collect(effects: Sequence[LevelEffects]) -> tuple[list[EffectEstimate], list[EqualityTest]]:
    rows: list[EffectEstimate] = []
    tests: list[EqualityTest] = []
    for le in effects:
        diffs, dtests = difference_rows(le)
        rows += [*le.rows, *diffs]
        tests += dtests
        omni = omnibus_test(le)
        if omni is not None:
            tests.append(omni)
    return rows, tests


def _access(frame: pd.DataFrame, access: Sequence[str], columns: Sequence[SubgroupColumn],
            periods: Mapping[str, str] | None, cluster: str | None, level: float, min_cell: int,
            references: Mapping[str, object] | None) -> AccessGaps | None:
    if not access:
        return None
    if isinstance(access, str):
        raise OptionError(f"access must be a list of 0/1 outcome columns, got the single string {access!r}")
    # the levels and references of the access data (which may hold cohorts the design's sample does not)
    cols = subgroup_columns(frame, [c.column for c in columns], references=references, min_cell=min_cell)
    masks, rules = _periods(frame, periods)
    return access_gaps(frame, outcomes=list(access), columns=cols, periods=masks, period_rules=rules,
                       cluster=cluster, level=level, min_cell=min_cell)


def _options(design: str, design_options: Mapping[str, Any], columns: Sequence[SubgroupColumn],
             access: Sequence[str], periods: Mapping[str, str] | None, multiplicity: str, min_cell: int,
             extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "design": design, "design_options": dict(design_options),
        "subgroups": [c.column for c in columns],
        "references": {c.column: {"level": c.reference, "rule": c.reference_rule} for c in columns},
        "access": list(access), "periods": None if not periods else dict(periods),
        "multiplicity": multiplicity, "min_cell": min_cell, **extra,
    }


def rd_equity(
    data: pd.DataFrame | StudentData,
    *,
    outcomes: str | Sequence[str],
    running: str,
    subgroups: Sequence[str],
    cutoff: float | None = None,
    cutoff_column: str | None = None,
    fuzzy: str | None = None,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    where: Sequence[str] = (),
    donut: float = 0.0,
    options: RDOptions | None = None,
    reference: Mapping[str, object] | None = None,
    access: Sequence[str] = (),
    periods: Mapping[str, str] | None = None,
    access_data: pd.DataFrame | StudentData | None = None,
    multiplicity: MultiplicityMethod = "holm",
    min_cell: int = DEFAULT_MIN_CELL,
) -> EquityResults:
    """Equity analysis of a regression discontinuity design.

    Parameters
    ----------
    data
        Student rows (DataFrame or :class:`~cteimpact.data.StudentData`); not modified.
    outcomes, running, cutoff, cutoff_column, fuzzy, cluster, covariates, weights, where, donut, options
        The design, as for :class:`~cteimpact.rd.RegressionDiscontinuity` and its ``fit()``.
    subgroups
        Subgroup columns (any categorical or binary column: ``race_ethnicity``, ``low_income``, ``female``,
        ``grade_at_entry``...).
    reference
        Reference level by column (default: ``0`` of a 0/1 column, else the level with the most students).
    access
        0/1 access outcomes (``pathway``, ``concentrator``, ``completer``, ``credential``) for the access gaps.
    periods
        Period name → restriction (``{"baseline": "cohort < award_year", "after": "cohort >= award_year"}``);
        with ``baseline`` and ``after`` the change of each gap is reported. Default: one period of every row.
    access_data
        Rows for the access gaps (default: ``data``), e.g. including the cohorts before the program that the design's
        sample leaves out.
    multiplicity
        ``"holm"`` (family-wise error rate) or ``"bh"`` (false discovery rate), within each family of tests.
    min_cell
        Estimates, rates and counts describing fewer students are suppressed (and said so).

    Raises
    ------
    MissingColumnError
        A subgroup, outcome or access column is not in the data.
    UnknownGroupError
        A reference level that is not in the data (the levels present are listed with their counts).
    OptionError, DesignError, ...
        As the RD estimator raises them.
    """
    from cteimpact.equity.rd import rd_subgroup_effects

    min_cell = _check_common(subgroups, multiplicity, min_cell)
    frame, flow = _frame(data)
    columns = subgroup_columns(frame, list(subgroups), references=reference, min_cell=min_cell)
    design = {"outcomes": outcomes, "running": running, "cutoff": cutoff, "cutoff_column": cutoff_column,
              "fuzzy": fuzzy, "cluster": cluster, "covariates": list(covariates), "weights": weights,
              "where": list(where), "donut": donut}
    shown, effects = rd_subgroup_effects(data, design, columns, options=options, min_cell=min_cell)
    rows, tests = _collect(effects)
    level = float(shown.options.get("level", 0.95))
    acc_frame = frame if access_data is None else _frame(access_data)[0]
    acc = _access(acc_frame, access, columns, periods, cluster, level, min_cell, reference)
    notes = [n for n in shown.notes if "subgroup" in n and "not estimated" not in n and "missing" in n]
    rd_opts = {k: v for k, v in shown.options.items() if k not in ("subgroups", "versions")}
    opts = _options("rd", rd_opts, columns, access, periods, multiplicity, min_cell, {})
    return assemble_results(effects=effects, rows=rows, tests=tests, access=acc, multiplicity=multiplicity,
                            min_cell=min_cell, options=opts, sample_flow=shown.sample_flow if len(
                                shown.outcomes) == 1 else flow, notes=_safe_notes(notes, min_cell))


def did_equity(
    data: pd.DataFrame | StudentData,
    *,
    outcome: str,
    time: str,
    cohort: str,
    subgroups: Sequence[str],
    unit: str | None = None,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    where: Sequence[str] = (),
    estimation: DiDEstimation | None = None,
    reference: Mapping[str, object] | None = None,
    access: Sequence[str] = (),
    periods: Mapping[str, str] | None = None,
    access_data: pd.DataFrame | StudentData | None = None,
    multiplicity: MultiplicityMethod = "holm",
    min_cell: int = DEFAULT_MIN_CELL,
) -> EquityResults:
    """Equity analysis of a staggered difference-in-differences design on student rows.

    Each subgroup's effect is the simple ATT of :class:`~cteimpact.did.CallawaySantAnna` fit on that subgroup's
    rows (repeated cross-sections of student cohorts unless ``estimation`` says ``panel=True``), with analytic
    cluster-robust standard errors; see :mod:`cteimpact.equity.did` for the covariance of two subgroups' effects.

    Parameters
    ----------
    data
        Student rows (one student per row; not an aggregated panel); not modified.
    outcome, time, cohort, unit, cluster, covariates, weights, estimation
        The design, as for :class:`~cteimpact.did.CallawaySantAnna` (``estimation`` default: repeated
        cross-sections, ``panel=False``).
    where
        Restrictions applied to ``data`` before the subgroups are formed (recorded in the sample flow).
    subgroups, reference, access, periods, access_data, multiplicity, min_cell
        As for :func:`rd_equity`.
    """
    from cteimpact.equity.did import did_subgroup_effects

    min_cell = _check_common(subgroups, multiplicity, min_cell)
    frame, flow = _frame(data)
    for expr in where:
        frame, flow = flow.apply(frame, evaluate_restriction(frame, expr), f"restriction: {expr}")
    columns = subgroup_columns(frame, list(subgroups), references=reference, min_cell=min_cell)
    est = estimation if estimation is not None else DiDEstimation(panel=False)
    design: dict[str, Any] = {"outcome": outcome, "time": time, "cohort": cohort, "unit": unit, "cluster": cluster,
                              "covariates": list(covariates), "weights": weights, "estimation": est}
    effects, notes = did_subgroup_effects(frame, design, columns, min_cell=min_cell, source=flow.source)
    rows, tests = _collect(effects)
    acc_frame = frame if access_data is None else _frame(access_data)[0]
    acc = _access(acc_frame, access, columns, periods, cluster, 0.95, min_cell, reference)
    for c in columns:
        if c.n_missing:
            notes.append(f"{c.n_missing:,} rows with '{c.column}' missing are left out of the '{c.column}' subgroups"
                         if c.n_missing >= min_cell else
                         f"fewer than {min_cell} rows with '{c.column}' missing are left out of its subgroups")
    shown_design = {**{k: v for k, v in design.items() if k != "estimation"}, **asdict(est), "where": list(where),
                    "inference": "analytic influence-function standard errors (cluster-robust when clustered)"}
    opts = _options("did", shown_design, columns, access, periods, multiplicity, min_cell, {})
    return assemble_results(effects=effects, rows=rows, tests=tests, access=acc, multiplicity=multiplicity,
                            min_cell=min_cell, options=opts, sample_flow=flow, notes=notes)


def _safe_notes(notes: Sequence[str], min_cell: int) -> list[str]:
    """Notes of the design kept only when every number in them is at least ``min_cell``."""
    import re

    out = []
    for n in notes:
        numbers = [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", n)]
        if all(x >= min_cell for x in numbers):
            out.append(n)
    return out

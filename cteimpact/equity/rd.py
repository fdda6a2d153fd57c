"""Subgroup effects of a regression discontinuity design, from :class:`cteimpact.rd.RegressionDiscontinuity`.

The RD estimator fits each level of every subgroup column on its own students (``subgroups=``), with the design's
bandwidth selection, kernel, order, covariates and clusters, and computes the covariance of two levels' estimates
from the fits' cluster scores when they share clusters. This module runs it once with the equity analysis's
subgroup columns, applies the RD small-cell rule (:meth:`cteimpact.rd.RDResults.with_min_cell`: primary and
complementary suppression within each column's levels) and returns each outcome × column as a
:class:`~cteimpact.equity.contrasts.LevelEffects`. Nothing is re-estimated here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.data.student_data import StudentData
from cteimpact.equity.contrasts import LevelEffects
from cteimpact.equity.groups import SubgroupColumn
from cteimpact.rd.options import RDOptions
from cteimpact.rd.results import RDResults
from cteimpact.results.estimate import EffectEstimate

__all__ = ["RD_COVARIANCE_CLUSTERED", "RD_COVARIANCE_INDEPENDENT", "rd_level_effects", "rd_subgroup_effects"]

RD_COVARIANCE_CLUSTERED = ("levels share clusters: covariances of the levels' bias-corrected estimates from the fits' "
                           "cluster scores (cteimpact.rd.scores), as the RD estimator computes them")
RD_COVARIANCE_INDEPENDENT = "independent samples: the levels' students are disjoint and no cluster is declared"


def _not_estimated(min_cell: int) -> str:
    return ("not estimated: the local polynomial fit could not be computed on this group's students (typically too "
            f"few near the cutoff); no number is shown (estimates of fewer than {min_cell} students never are)")


def _too_few(col: str, lev: str, min_cell: int) -> str:
    return (f"fewer than {min_cell} students in {col}={lev}: too few for an estimate that may be shown (the small-cell "
            "rule); not estimated")


def rd_subgroup_effects(data: pd.DataFrame | StudentData, design: Mapping[str, Any],
                        columns: Sequence[SubgroupColumn], *, options: RDOptions | None = None,
                        min_cell: int) -> tuple[RDResults, list[LevelEffects]]:
    """Fit the RD design with the subgroup columns and collect each outcome × column's level effects.

    Parameters
    ----------
    data
        The data (the design's sample restrictions are given in ``design["where"]`` or already applied).
    design
        Keyword arguments of :class:`~cteimpact.rd.RegressionDiscontinuity` (``outcomes``, ``running``,
        ``cutoff`` or ``cutoff_column``, ``fuzzy``, ``cluster``, ``covariates``...), without ``subgroups``.
    columns
        The subgroup columns with their reference levels.
    options
        Estimation options (those of the design).
    min_cell
        The small-cell rule's minimum.

    Returns
    -------
    tuple
        The RD results as they may be published (``with_min_cell``) and one :class:`LevelEffects` per outcome ×
        column.
    """
    from cteimpact.rd import RegressionDiscontinuity

    kw = dict(design)
    kw.pop("subgroups", None)
    rd = RegressionDiscontinuity(data, subgroups=[c.column for c in columns], **kw)
    res = rd.fit(options, by_cutoff=False)
    shown = res.with_min_cell(min_cell)
    return shown, [rd_level_effects(res, shown, y, c, min_cell=min_cell) for y in res.outcomes for c in columns]


def rd_level_effects(res: RDResults, shown: RDResults, outcome: str, column: SubgroupColumn, *,
                     min_cell: int) -> LevelEffects:
    """The level effects of ``outcome`` by ``column`` from an RD fit with that subgroup column (``res``) and its
    published form (``shown = res.with_min_cell(min_cell)``)."""
    col = column.column
    rows_shown = {e.label: e for e in shown.estimates}
    fits = {f.label: f for f in res.fits}
    k = len(column.levels)
    rows: list[EffectEstimate] = []
    centres = np.full(k, np.nan)
    n_students: list[int | None] = []
    for i, lev in enumerate(column.levels):
        label = f"{outcome}[{col}={lev}]"
        row = rows_shown.get(label)
        term = f"RD effect for {col}={lev}"
        if row is None:  # not estimated, or no student of the level in the outcome's sample
            blank = EffectEstimate.from_normal(label, outcome, term, 0.0, 0.0, ci_type="robust_bias_corrected",
                                               ci_level=float(res.options.get("level", 0.95)))
            small = column.counts[i] < min_cell
            rows.append(blank.suppress(_too_few(col, lev, min_cell) if small else _not_estimated(min_cell)))
            n_students.append(None)
            continue
        rows.append(row)
        if row.suppressed:
            n_students.append(None)
        else:
            centres[i] = float(res.centres[label])
            n_students.append(int(sum(fits[label].fit.n)))
    se = np.array([r.std_error if not r.suppressed else np.nan for r in rows])
    cov = np.full((k, k), np.nan)
    shown_idx = [i for i in range(k) if math.isfinite(se[i])]
    for i in shown_idx:
        for j in shown_idx:
            cov[i, j] = se[i] ** 2 if i == j else 0.0
    index = {f"{outcome}[{col}={lev}]": i for i, lev in enumerate(column.levels)}
    for a, b, c in res.subgroup_covariances:
        if a in index and b in index and index[a] in shown_idx and index[b] in shown_idx:
            cov[index[a], index[b]] = cov[index[b], index[a]] = c
    clustered = res.options.get("cluster") is not None
    return LevelEffects("rd", outcome, col, column.levels, column.reference, tuple(rows), centres, cov,
                        tuple(n_students), RD_COVARIANCE_CLUSTERED if clustered else RD_COVARIANCE_INDEPENDENT)



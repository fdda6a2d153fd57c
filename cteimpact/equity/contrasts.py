"""Subgroup effects of one outcome and one subgroup column, and the tests of their equality.

Whatever the design, the effects of the levels of a subgroup column come as a :class:`LevelEffects`: one estimate
row per level (from the design's own estimator), the centres of their intervals and the covariance of those centres
(non-zero where the levels share clusters). From it follow:

* **difference tests** (:func:`difference_rows`): each level against the reference level, labelled
  ``Y[col=a vs col=ref]`` as the RD estimator labels its comparisons. The point estimate is the difference of the
  two rows' estimates, the interval and test are centred on the difference of their centres, and the standard
  error is ``sqrt(se_a² + se_ref² − 2 cov)``;
* the **omnibus Wald test** (:func:`omnibus_test`) that all levels shown have equal effects: with ``θ`` the
  centres, ``V`` their covariance and ``C`` the contrasts of each level against the first,
  ``W = (Cθ)' (C V C')⁻¹ (Cθ)``, referred to χ² with (levels − 1) degrees of freedom. Reported for columns of three
  or more levels (for two it is the square of the difference test).

A level hidden by the small-cell rule takes no part: its differences are hidden and said so, and the omnibus test
covers the levels shown (it says how many were left out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from cteimpact.results.estimate import EffectEstimate

__all__ = ["EqualityTest", "LevelEffects", "block_covariance", "difference_rows", "omnibus_test"]


@dataclass(frozen=True)
class LevelEffects:
    """Effects of one outcome by the levels of one subgroup column.

    Attributes
    ----------
    design
        ``"rd"`` or ``"did"``.
    outcome, column
        The outcome and the subgroup column.
    levels
        Level names (as in labels), in order.
    reference
        The reference level.
    rows
        One estimate row per level, from the design's estimator (hidden ones with ``suppressed=True``).
    centres
        Centre of each row's interval and test (RD: the bias-corrected estimate; DiD: the estimate); NaN if hidden.
    covariance
        Covariance of the centres (``levels × levels``); NaN rows and columns for hidden levels.
    n_students
        Students in each level's analysis sample (``None`` when hidden).
    covariance_method
        How the off-diagonal covariances were obtained.
    """

    design: str
    outcome: str
    column: str
    levels: tuple[str, ...]
    reference: str
    rows: tuple[EffectEstimate, ...]
    centres: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    n_students: tuple[int | None, ...]
    covariance_method: str

    def shown(self) -> list[int]:
        """Positions of the levels shown (not suppressed, with a finite standard error)."""
        return [i for i, r in enumerate(self.rows)
                if not r.suppressed and math.isfinite(r.std_error) and math.isfinite(float(self.centres[i]))]

    def label(self, level: str) -> str:
        return f"{self.outcome}[{self.column}={level}]"

    def difference_label(self, level: str) -> str:
        return f"{self.outcome}[{self.column}={level} vs {self.column}={self.reference}]"

    def to_dict(self) -> dict[str, Any]:
        shown = set(self.shown())
        return {
            "design": self.design, "outcome": self.outcome, "column": self.column, "levels": list(self.levels),
            "reference": self.reference,
            "n_students": [self.n_students[i] if i in shown else None for i in range(len(self.levels))],
            "covariance": [[float(self.covariance[i, j]) if i in shown and j in shown else None
                            for j in range(len(self.levels))] for i in range(len(self.levels))],
            "covariance_method": self.covariance_method,
        }


@dataclass(frozen=True)
class EqualityTest:
    """A test of equal effects across subgroups: one level against the reference, or all levels together.

    ``p_adjusted`` is filled in by the equity results with the family's multiplicity adjustment (NaN when the test
    is hidden or not available).
    """

    label: str
    design: str
    outcome: str
    column: str
    kind: Literal["difference", "omnibus"]
    levels: tuple[str, ...]
    statistic: float
    df: int
    p_value: float
    p_adjusted: float = math.nan
    suppressed: bool = False
    suppression: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        hide = self.suppressed
        return {"label": self.label, "design": self.design, "outcome": self.outcome, "column": self.column,
                "kind": self.kind, "levels": list(self.levels), "statistic": None if hide else self.statistic,
                "df": self.df, "p_value": None if hide else self.p_value,
                "p_adjusted": None if hide or not math.isfinite(self.p_adjusted) else self.p_adjusted,
                "suppressed": hide, "suppression": self.suppression, "note": self.note}


def difference_rows(le: LevelEffects) -> tuple[list[EffectEstimate], list[EqualityTest]]:
    """Each level against the reference: the difference rows and their tests (hidden where a level is hidden)."""
    r = le.levels.index(le.reference)
    ref_row = le.rows[r]
    shown = set(le.shown())
    rows: list[EffectEstimate] = []
    tests: list[EqualityTest] = []
    for i, lev in enumerate(le.levels):
        if i == r:
            continue
        label = le.difference_label(lev)
        term = f"difference in effects, {le.column}={lev} minus {le.column}={le.reference}"
        a = le.rows[i]
        if i not in shown or r not in shown:
            gone = [x.label for x in (a, ref_row) if le.rows.index(x) not in shown]
            reason = f"compares a suppressed subgroup estimate ({', '.join(gone)})"
            blank = EffectEstimate.from_normal(label, le.outcome, term, 0.0, 0.0, ci_level=a.ci_level,
                                               ci_type=a.ci_type).suppress(reason)
            rows.append(blank)
            tests.append(EqualityTest(label, le.design, le.outcome, le.column, "difference", (lev, le.reference),
                                      math.nan, 1, math.nan, suppressed=True, suppression=reason))
            continue
        var = float(le.covariance[i, i] + le.covariance[r, r] - 2 * le.covariance[i, r])
        se = math.sqrt(max(var, 0.0))
        centre = float(le.centres[i] - le.centres[r])
        row = EffectEstimate.from_normal(label, le.outcome, term, a.estimate - ref_row.estimate, se,
                                         ci_level=a.ci_level, ci_type=a.ci_type, centre=centre)
        rows.append(row)
        tests.append(EqualityTest(label, le.design, le.outcome, le.column, "difference", (lev, le.reference),
                                  row.statistic, 1, row.p_value, note=le.covariance_method))
    return rows, tests


def omnibus_test(le: LevelEffects) -> EqualityTest | None:
    """Wald test that every shown level of a column of three or more levels has the same effect (``None`` for a
    column of two levels, where it is the difference test squared)."""
    k = len(le.levels)
    if k < 3:
        return None
    label = f"{le.outcome}[{le.column}: all levels equal]"
    shown = le.shown()
    left_out = k - len(shown)
    if len(shown) < 2:
        reason = (f"fewer than two levels of '{le.column}' are shown ({left_out} of {k} suppressed by the small-cell "
                  "rule or not estimated); nothing to compare")
        return EqualityTest(label, le.design, le.outcome, le.column, "omnibus", le.levels, math.nan, 0, math.nan,
                            suppressed=True, suppression=reason)
    theta = le.centres[shown]
    v = le.covariance[np.ix_(shown, shown)]
    c = np.hstack([-np.ones((len(shown) - 1, 1)), np.eye(len(shown) - 1)])
    d = c @ theta
    m = c @ v @ c.T
    df = len(shown) - 1
    note = le.covariance_method
    try:
        stat = float(d @ np.linalg.solve(m, d))
    except np.linalg.LinAlgError:
        pinv = np.linalg.pinv(m)
        stat = float(d @ pinv @ d)
        df = int(np.linalg.matrix_rank(m))
        note += "; the contrasts' covariance is singular: generalised inverse, degrees of freedom = its rank"
    if left_out:
        note += f"; {left_out} level(s) suppressed or not estimated are left out"
    p = float(stats.chi2.sf(stat, df)) if df > 0 and math.isfinite(stat) else math.nan
    return EqualityTest(label, le.design, le.outcome, le.column, "omnibus",
                        tuple(le.levels[i] for i in shown), stat, df, p, note=note)


def block_covariance(le: LevelEffects, diff_rows: Sequence[EffectEstimate]) -> tuple[list[str], np.ndarray,
                                                                                       np.ndarray]:
    """Labels, centres and joint covariance of the shown level rows and shown difference rows of ``le``."""
    shown = le.shown()
    r = le.levels.index(le.reference)
    labels = [le.label(le.levels[i]) for i in shown]
    lines = [np.eye(len(le.levels))[i] for i in shown]
    by_label = {d.label: d for d in diff_rows}
    for i, lev in enumerate(le.levels):
        d = by_label.get(le.difference_label(lev))
        if i == r or d is None or d.suppressed:
            continue
        line = np.zeros(len(le.levels))
        line[i], line[r] = 1.0, -1.0
        labels.append(d.label)
        lines.append(line)
    a = np.array(lines).reshape(len(lines), len(le.levels))
    v = np.where(np.isfinite(le.covariance), le.covariance, 0.0)
    centres = a @ np.where(np.isfinite(le.centres), le.centres, 0.0)
    return labels, centres, a @ v @ a.T

"""Student-level statistics of the rows a difference-in-differences study uses, pooled exactly from aggregated rows.

A row of an aggregated panel (for example a district's 9th-grade cohort) describes ``n`` students whose outcome has
mean ``m`` and student-level standard deviation ``s`` (divisor ``n − 1``; 0 for one student). For any set of rows the
statistics of their students follow exactly:

``N = Σ n_i``, ``M = Σ n_i m_i / N``, ``SS = Σ (n_i − 1) s_i² + Σ n_i (m_i − M)²``, ``SD = sqrt(SS / (N − 1))``

(the within-row sums of squares plus the between-row part, computed around ``M`` in a second pass, so nothing
cancels). Three cases, recorded as :data:`Level`:

* rows are students (no student-count column): ``n = 1`` and ``s = 0``, so these are the usual mean and standard
  deviation of the students (``level = "students"``);
* aggregated rows with a column of student-level standard deviations (``outcome_sd``) and the number of students
  behind each row's mean and SD (``outcome_n``, else the student-count column): student-level statistics
  (``level = "students"``);
* aggregated rows without such a column: the rows themselves, each unit-period counted once — the mean and standard
  deviation *of unit means*, which is smaller than the students' standard deviation and not comparable with
  student-level effect sizes (``level = "unit_means"``).

Sampling weights are not applied: these statistics describe the students (or rows) as observed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

__all__ = ["GroupStats", "Level", "ObservationStats", "pool"]

Level = Literal["students", "unit_means"]
"""What the statistics describe: students, or the rows (unit means) when the student-level spread is unknown."""

_BERNOULLI_RTOL = 1e-6
"""Relative tolerance of ``s² = m (1 − m) n / (n − 1)`` when recognising a binary outcome from cell statistics (the
cells may have been written with 10 significant digits)."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Pooled statistics of a set of rows.

    Attributes
    ----------
    n
        Students behind the statistics (rows when the level is ``unit_means``).
    mean
        Their mean (student-weighted for aggregated rows with counts).
    sd
        Their standard deviation (divisor ``n − 1``); NaN with fewer than two.
    n_rows
        Rows pooled.
    """

    n: float
    mean: float
    sd: float
    n_rows: int

    @property
    def sum_of_squares(self) -> float:
        """``(n − 1) sd²`` (0 for fewer than two)."""
        return (self.n - 1.0) * self.sd ** 2 if self.n >= 2 else 0.0


def pool(mean: np.ndarray, n: np.ndarray | None = None, sd: np.ndarray | None = None) -> GroupStats:
    """Exact pooled count, mean and standard deviation of rows with counts ``n`` (default 1 each) and within-row
    standard deviations ``sd`` (default 0 each); see the module docstring. Rows with ``n = 0`` add nothing."""
    m = np.asarray(mean, dtype=float)
    k = np.ones(m.size) if n is None else np.asarray(n, dtype=float)
    use = k > 0
    m, k = m[use], k[use]
    total = float(k.sum())
    if total <= 0:
        return GroupStats(0.0, math.nan, math.nan, 0)
    centre = float((k * m).sum() / total)
    between = float((k * (m - centre) ** 2).sum())
    within = 0.0
    if sd is not None:
        s = np.asarray(sd, dtype=float)[use]
        within = float(np.where(k >= 2, (k - 1.0) * s * s, 0.0).sum())
    sd_out = math.sqrt((within + between) / (total - 1.0)) if total >= 2 else math.nan
    return GroupStats(total, centre, sd_out, int(m.size))


@dataclass(frozen=True, eq=False)
class ObservationStats:
    """Every row the estimator used (after all exclusions), with what each row says about its students.

    Attributes
    ----------
    level
        See :data:`Level`.
    unit_cohort
        Cohort of each unit (indexed by :attr:`unit`; 0 = never treated; after the recodings of the preparation
        step). :attr:`cohort` gives each row's, made on first use.
    period
        Index of the row's period in :attr:`cteimpact.did.panel.StaggeredData.times` (the smallest integer type that
        holds it).
    unit
        Unit code of the row (panels) or its position (repeated cross-sections: each row is a unit); an integer
        type that holds it.
    outcome
        The row's outcome value (a mean over its students for aggregated rows).
    n
        Students behind the outcome value and its standard deviation (``outcome_n``, else the student-count column);
        ``None`` when each row counts once.
    sd
        Student-level standard deviation of the outcome within the row; ``None`` when rows are students or the
        spread is unknown.
    students
        The student-count column's value of each row (``None``: each row is one student).
    outcome_sd, outcome_n, students_column
        The columns they came from (``None`` when not named).
    """

    level: Level
    unit_cohort: np.ndarray
    period: np.ndarray
    unit: np.ndarray
    outcome: np.ndarray
    n: np.ndarray | None
    sd: np.ndarray | None
    students: np.ndarray | None
    outcome_sd: str | None = None
    outcome_n: str | None = None
    students_column: str | None = None

    @cached_property
    def cohort(self) -> np.ndarray:
        """Cohort of each row's unit (0 = never treated): one gather over the rows, on first use only (the
        estimators never need it; descriptive statistics and effect sizes do)."""
        return self.unit_cohort[self.unit]

    @property
    def rows_are_students(self) -> bool:
        """True when each row is one student (no student-count column)."""
        return self.students is None

    def stats(self, mask: np.ndarray) -> GroupStats:
        """Pooled statistics of the rows selected by ``mask``."""
        return pool(self.outcome[mask], None if self.n is None else self.n[mask],
                    None if self.sd is None else self.sd[mask])

    def student_count(self, mask: np.ndarray) -> float:
        """Students in the selected rows: the distinct units when rows are students (a student observed in several
        periods counts once), else the student-count column summed (a student in several rows counts in each)."""
        if self.students is None:
            return float(np.unique(self.unit[mask]).size)
        return float(self.students[mask].sum())

    def smallest_period(self, mask: np.ndarray) -> float:
        """Students in the period with the fewest among the selected rows (the small-cell rule's size of a cohort,
        as :mod:`cteimpact.did.privacy` counts it); 0 when nothing is selected."""
        per = self.students[mask] if self.students is not None else np.ones(int(mask.sum()))
        totals = np.bincount(self.period[mask], weights=per)
        present = np.bincount(self.period[mask]) > 0
        return float(totals[present].min()) if present.any() else 0.0

    def is_binary(self) -> bool:
        """Whether the outcome is a 0/1 indicator of the students: values 0 and 1 when rows are students; for
        aggregated rows with student-level standard deviations, proportions whose standard deviation is that of a
        0/1 variable (``s² = m (1 − m) n / (n − 1)``) in every row."""
        y = self.outcome
        if self.level == "unit_means" or self.sd is None or self.n is None:
            return bool(y.size) and bool(np.all((y == 0) | (y == 1)))
        if not np.all((y >= 0) & (y <= 1)):
            return False
        n, s = self.n, self.sd
        many = n >= 2
        one = n == 1
        if not np.all((y[one] == 0) | (y[one] == 1)):
            return False
        expected = y[many] * (1 - y[many]) * n[many] / (n[many] - 1)
        return bool(np.allclose(s[many] ** 2, expected, rtol=_BERNOULLI_RTOL, atol=1e-12))

    def describe_level(self) -> str:
        """One sentence saying what the standard deviations describe."""
        if self.level == "unit_means":
            return ("standard deviation of unit means (each row counted once): the data carry no student-level "
                    "standard deviation, so it is smaller than the students' and effect sizes on it are not "
                    "comparable with student-level effect sizes")
        if self.rows_are_students:
            return "student-level standard deviation (each row is one student)"
        return (f"student-level standard deviation, pooled exactly from each row's students (counts "
                f"'{self.outcome_n or self.students_column}', means, standard deviations '{self.outcome_sd}')")

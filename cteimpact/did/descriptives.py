"""Descriptive statistics of a difference-in-differences analysis sample, by adoption cohort.

One row per cohort (first treated period; 0 = never treated), over the rows the estimator used (after every
exclusion of the sample flow):

* ``n_units``: units of the cohort (rows for repeated cross-sections, where each row is its own unit);
* ``n_students``: students in its rows — when each row is a student, the distinct students (units); with a
  student-count column, the column summed over the unit-periods (a student in several rows counts in each);
  ``pre_n_students`` the same in the pre-treatment periods; ``min_period_students`` the students of its smallest
  period (the cohort size the small-cell rule of :mod:`cteimpact.did.privacy` uses);
* the outcome's count, mean and standard deviation in the cohort's **pre-treatment periods** (periods before
  ``cohort − anticipation``; for the never-treated cohort, the periods before the earliest adoption, when no unit is
  treated) and over **all** its periods. The statistics are the students' (:mod:`cteimpact.did.cells`: rows are
  students, or aggregated rows with student-level standard deviations) or, for aggregated rows without them, those
  of the unit-period means (``level = "unit_means"``: each row counted once). ``pre_n`` and ``overall_n`` count
  what the mean and standard deviation describe: the students with the outcome (``outcome_n``), or the rows.

Small cells are suppressed by :func:`cteimpact.did.privacy.suppress_descriptives` before anything is published.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError

if TYPE_CHECKING:
    from cteimpact.did.panel import StaggeredData

__all__ = ["DESCRIPTIVE_COLUMNS", "cohort_descriptives", "period_value"]

DESCRIPTIVE_COLUMNS: tuple[str, ...] = (
    "cohort", "cohort_label", "n_units", "n_students", "pre_first_period", "pre_last_period", "pre_n_students",
    "pre_n", "pre_mean", "pre_sd", "overall_n", "overall_mean", "overall_sd", "min_period_students",
)
"""Columns of :func:`cohort_descriptives` (the suppression step adds ``suppressed`` and ``suppression``)."""


def period_value(value: float) -> int | float:
    """A period or cohort as recorded: a whole number as an ``int`` (2014, not 2014.0), otherwise the float."""
    v = float(value)
    return int(v) if math.isfinite(v) and v.is_integer() else v


def _pre_periods(d: StaggeredData, cohort: float) -> np.ndarray:
    """Indices of the cohort's pre-treatment periods (never treated: before the earliest adoption)."""
    start = float(cohort) if cohort != 0 else (float(d.groups.min()) if d.groups.size else math.inf)
    return np.flatnonzero(d.times + d.anticipation < start)


def cohort_descriptives(d: StaggeredData) -> pd.DataFrame:
    """Descriptive statistics by cohort (see the module docstring); columns :data:`DESCRIPTIVE_COLUMNS`."""
    obs = d.observations
    if obs is None:
        raise OptionError("these prepared data do not carry their rows' statistics; re-fit to describe the sample")
    rows: list[dict[str, Any]] = []
    for c in sorted(float(v) for v in np.unique(obs.cohort)):
        in_cohort = obs.cohort == c
        pre_idx = _pre_periods(d, c)
        in_pre = in_cohort & np.isin(obs.period, pre_idx)
        everything = obs.stats(in_cohort)
        pre = obs.stats(in_pre)
        n_units = int(np.unique(obs.unit[in_cohort]).size) if d.mode != "rcs" else int(in_cohort.sum())
        pre_times = d.times[np.unique(obs.period[in_pre])] if in_pre.any() else np.array([])
        rows.append({
            "cohort": period_value(c), "cohort_label": "never treated" if c == 0 else f"{c:g}",
            "n_units": n_units, "n_students": obs.student_count(in_cohort),
            "pre_first_period": period_value(pre_times[0]) if pre_times.size else None,
            "pre_last_period": period_value(pre_times[-1]) if pre_times.size else None,
            "pre_n_students": obs.student_count(in_pre), "pre_n": pre.n, "pre_mean": pre.mean, "pre_sd": pre.sd,
            "overall_n": everything.n, "overall_mean": everything.mean, "overall_sd": everything.sd,
            "min_period_students": obs.smallest_period(in_cohort),
        })
    frame = pd.DataFrame(rows)
    for col in ("cohort", "pre_first_period", "pre_last_period"):
        if all(isinstance(v, int) for v in frame[col] if v is not None):
            frame[col] = pd.array(frame[col].tolist(), dtype="Int64")
    frame["n_units"] = frame["n_units"].astype("int64")
    for col in ("n_students", "pre_n_students", "pre_n", "overall_n", "min_period_students"):
        values = frame[col].astype(float)
        if bool(np.all(values == np.floor(values))):
            frame[col] = values.astype("int64")
    return frame.reindex(columns=list(DESCRIPTIVE_COLUMNS))

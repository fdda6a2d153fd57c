"""Preparing staggered-adoption data for the group-time estimators: checks, exclusions and compact arrays.

:func:`prepare_staggered_data` turns a long data frame (one row per unit and period, or one row per observation for
repeated cross-sections) into the arrays the estimators use, and records every exclusion in the
:class:`~cteimpact.data.SampleFlow`. The rules follow R's ``did`` package (Callaway & Sant'Anna 2021), whose
behaviour users of the field know:

* rows with a missing outcome, time, unit, cohort, weight, cluster or covariate are dropped (one flow step per
  column);
* a unit-period that appears twice is an error (:class:`~cteimpact.errors.DuplicateRowsError`), as is a cohort or a
  cluster that changes within a unit, and a treatment indicator that switches off
  (:class:`~cteimpact.errors.InvalidValueError`);
* units first treated after the last period (plus anticipation) are recoded as never treated; units already treated
  in the first period (minus anticipation) are dropped, because they have no pre-treatment period; cohorts never
  observed before their treatment (unbalanced panels and repeated cross-sections) are dropped;
* with ``control="never"`` and no never-treated unit, the last-treated cohort becomes the comparison group and the
  periods from its treatment on are dropped (R's behaviour); with ``control="notyet"`` those periods are dropped
  and the last cohort serves only as a comparison;
* a balanced panel is required unless ``allow_unbalanced=True``: units missing in some period are dropped;
* a single cluster is an error (:class:`~cteimpact.errors.DesignError`); few clusters raise a
  :class:`~cteimpact.did.errors.FewClustersWarning`.

Every exclusion is also announced by a warning that names the count and the reason. The caller's data frame is
never modified.

Layout of the prepared arrays
-----------------------------
The estimators' influence functions have one row per *unit* (panel and unbalanced panel) or per *observation*
(repeated cross-sections). Those rows are sorted by cohort (never treated first) so that each cohort, and in
repeated cross-sections each cohort-period, is a contiguous *segment*; the influence functions are stored by
segment (see :mod:`cteimpact.did.influence`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from cteimpact.data.restrictions import apply_restrictions
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.validation import coerce_kind
from cteimpact.did.cells import ObservationStats
from cteimpact.did.errors import CohortDroppedWarning, FewClustersWarning
from cteimpact.errors import (
    DataDroppedWarning,
    DesignError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
    SmallSampleWarning,
)

__all__ = ["FEW_CLUSTERS", "DataMode", "StaggeredData", "prepare_staggered_data", "present"]

_T = TypeVar("_T")


def present(value: _T | None, what: str) -> _T:
    """Return ``value``, which the preparation step guarantees is set; ``RuntimeError`` (a bug) otherwise."""
    if value is None:
        raise RuntimeError(f"internal error: {what} is missing")
    return value

DataMode = Literal["panel", "unbalanced", "rcs"]
"""``panel``: balanced panel (one row per unit and period); ``unbalanced``: panel with gaps (units tracked by id,
the 2×2 comparisons use the repeated cross-section estimators and the influence functions are summed by unit);
``rcs``: repeated cross-sections (each row is its own unit)."""

FEW_CLUSTERS = 30
"""Below this many clusters a :class:`~cteimpact.did.errors.FewClustersWarning` recommends the wild bootstrap."""


@dataclass(frozen=True, eq=False)
class StaggeredData:
    """Prepared arrays for the group-time estimators (built by :func:`prepare_staggered_data`).

    Attributes
    ----------
    mode
        See :data:`DataMode`.
    outcome
        Outcome column name.
    times
        Sorted distinct periods.
    groups
        Treated cohorts for which group-time effects are estimated (sorted).
    anticipation
        Number of periods before treatment in which units may already respond.
    n
        Number of influence-function rows (units, or observations for repeated cross-sections).
    row_cohort, row_weight, row_id
        Cohort (0 = never treated), aggregation weight and original identifier of each influence-function row.
    row_cluster, cluster_labels
        Cluster code of each row and the cluster labels (``None`` without clustering).
    seg_bounds, seg_cohort, seg_time
        Segments of the influence-function rows: rows ``seg_bounds[s]:seg_bounds[s+1]`` share cohort
        ``seg_cohort[s]`` (and, for repeated cross-sections, period index ``seg_time[s]``; otherwise -1).
    y_wide
        Balanced panel only: outcomes, ``n × T``.
    w_wide
        Balanced panel only: weights, ``n × T`` when they vary over time, else ``None`` (use ``row_weight``).
    x_wide
        Balanced panel with covariates: ``T × n × k`` covariate values.
    obs_y, obs_t, obs_row, obs_w, obs_x
        Unbalanced panels and repeated cross-sections: outcome, period index, influence-function row, weight and
        covariates of each observation, sorted by cohort (then unit, then period).
    obs_cohort_bounds
        Observation ranges of each cohort: ``{cohort: (start, stop)}``.
    covariates
        Covariate column names (the intercept is added by the estimators).
    flow
        Sample flow up to the estimation sample.
    unit, time, cohort, cluster, weights
        Column names used.
    students
        Column with each row's number of students, or ``None`` (every row is one student).
    cohort_period_students
        Students behind each cohort (0 = never treated) in each period (index into ``times``): the sum of
        ``students`` over the rows used, or their number. The small-cell rule counts cells with it.
    observations
        Every row used with the counts and standard deviations of its students (:mod:`cteimpact.did.cells`), for
        descriptive statistics and effect sizes.
    """

    mode: DataMode
    outcome: str
    times: np.ndarray
    groups: np.ndarray
    anticipation: float
    n: int
    row_cohort: np.ndarray
    row_weight: np.ndarray
    row_id: np.ndarray
    row_cluster: np.ndarray | None
    cluster_labels: np.ndarray | None
    seg_bounds: np.ndarray
    seg_cohort: np.ndarray
    seg_time: np.ndarray
    y_wide: np.ndarray | None
    w_wide: np.ndarray | None
    x_wide: np.ndarray | None
    obs_y: np.ndarray | None
    obs_t: np.ndarray | None
    obs_row: np.ndarray | None
    obs_w: np.ndarray | None
    obs_x: np.ndarray | None
    obs_cohort_bounds: dict[float, tuple[int, int]]
    covariates: tuple[str, ...]
    flow: SampleFlow
    unit: str | None
    time: str
    cohort: str
    cluster: str | None
    weights: str | None
    notes: tuple[str, ...] = ()
    students: str | None = None
    cohort_period_students: Mapping[float, np.ndarray] = field(default_factory=dict)
    observations: ObservationStats | None = None

    @property
    def n_periods(self) -> int:
        return int(self.times.size)

    @property
    def n_clusters(self) -> int | None:
        return None if self.cluster_labels is None else int(self.cluster_labels.size)

    def cohort_rows(self, cohort: float) -> tuple[int, int]:
        """Influence-function rows ``(start, stop)`` of a cohort (all its segments; they are contiguous)."""
        idx = np.flatnonzero(self.seg_cohort == cohort)
        if idx.size == 0:
            return 0, 0
        return int(self.seg_bounds[idx[0]]), int(self.seg_bounds[idx[-1] + 1])

    def cohort_sizes(self) -> dict[float, int]:
        """Number of influence-function rows (units or observations) in each cohort, 0 = never treated."""
        values, counts = np.unique(self.row_cohort, return_counts=True)
        return {float(v): int(c) for v, c in zip(values, counts, strict=True)}


def _warn(category: type[Warning], message: str) -> None:
    warnings.warn(message, category, stacklevel=4)


def _numeric(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    return coerce_kind(frame[column], "numeric", what=f"{what} column '{column}'").to_numpy(dtype=float)


def _check_columns(frame: pd.DataFrame, named: dict[str, str | None], covariates: Sequence[str]) -> None:
    available = [str(c) for c in frame.columns]
    for role, col in named.items():
        if col is not None and col not in frame.columns:
            raise MissingColumnError(col, available, role)
    for col in covariates:
        if col not in frame.columns:
            raise MissingColumnError(col, available, "covariate")


def prepare_staggered_data(
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
    panel: bool = True,
    allow_unbalanced: bool = False,
    control: Literal["never", "notyet"] = "never",
    anticipation: int = 0,
    where: Sequence[str] = (),
    source: str = "data frame",
    last_cohort_as_comparison: bool = True,
    students: str | None = None,
    outcome_sd: str | None = None,
    outcome_n: str | None = None,
) -> StaggeredData:
    """Check long-format staggered-adoption data and build the estimators' arrays.

    Parameters
    ----------
    data
        One row per unit and period (panel) or per observation (repeated cross-sections). Not modified.
    outcome, time
        Outcome and period columns (numeric).
    unit
        Unit identifier (required for panels).
    cohort
        First period of treatment of each unit (0, missing-as-never is *not* assumed: missing values are dropped;
        0 or infinity mean never treated). Give either ``cohort`` or ``treatment``.
    treatment
        Alternatively, a 0/1 treatment indicator per unit and period from which the cohort is derived (panels
        only); a treatment that switches off is an error.
    covariates
        Covariate columns (values of the earlier period of each comparison are used, as in R ``did``).
    weights
        Sampling weights (non-negative).
    cluster
        Cluster identifier for cluster-robust inference (constant within units in panels).
    panel
        ``False`` for repeated cross-sections.
    allow_unbalanced
        Keep units missing in some periods (unbalanced panel) instead of dropping them.
    control
        ``"never"`` (never-treated comparison units) or ``"notyet"`` (never and not-yet-treated).
    anticipation
        Number of periods before treatment in which units may respond.
    where
        Sample restrictions (cteimpact's restriction language, see :mod:`cteimpact.data.restriction_language`),
        applied first, each recorded in the sample flow.
    source
        Name of the data in the sample flow.
    last_cohort_as_comparison
        Apply R ``did``'s rule when there is no never-treated unit (see the module docstring); ``False`` keeps
        every period (for the TWFE comparisons).
    students
        Column with the number of students each row describes (aggregated data, e.g. a district × cohort panel);
        used only to count the students behind each estimate for small-cell suppression
        (:attr:`StaggeredData.cohort_period_students`). Default: every row describes one student.
    outcome_sd
        Aggregated data: column with the student-level standard deviation of the outcome within each row (divisor
        ``n − 1``). With it, descriptive statistics and effect sizes use the students' spread
        (:attr:`StaggeredData.observations`); it does not enter estimation.
    outcome_n
        Column with the number of students behind each row's outcome mean and standard deviation (for example the
        students with the outcome observed); default: the ``students`` column.

    Raises
    ------
    MissingColumnError, ColumnTypeError, AllMissingError
        A named column is absent or not numeric.
    OptionError
        Inconsistent options (both or neither of ``cohort`` and ``treatment``; no unit for a panel).
    DuplicateRowsError
        A unit appears twice in a period.
    InvalidValueError
        A cohort or cluster that changes within a unit, a treatment that switches off, negative cohorts or
        weights.
    DesignError
        No treated cohort with a pre-treatment period, no comparison units, a single cluster.
    """
    if (cohort is None) == (treatment is None):
        raise OptionError("give exactly one of 'cohort' (first treated period, 0 = never) and 'treatment' "
                          "(0/1 indicator per unit and period)")
    if panel and unit is None:
        raise OptionError("a panel needs the unit identifier column ('unit'; command line: --unit); for repeated "
                          "cross-sections set panel = false in [design] (command line: --repeated-cross-sections; "
                          "Python: panel=False)")
    if treatment is not None and (not panel or unit is None):
        raise OptionError("a treatment indicator can define cohorts only in a panel (units tracked over periods); "
                          "give the cohort column for repeated cross-sections")
    if control not in ("never", "notyet"):
        raise OptionError(f"control must be 'never' or 'notyet', got {control!r}")
    if not (isinstance(anticipation, (int, np.integer)) and anticipation >= 0):
        raise OptionError(f"anticipation must be a non-negative whole number of periods, got {anticipation!r}")
    covariates = tuple(covariates)
    if len(set(covariates)) != len(covariates):
        raise OptionError(f"covariates are repeated: {list(covariates)}")
    if outcome_n is not None and outcome_sd is None:
        raise OptionError(f"the outcome count column '{outcome_n}' (outcome_n) goes with the column of student-level "
                          "standard deviations: name it too (outcome_sd = \"...\" in [design], or --outcome-sd)")
    if outcome_sd is not None and outcome_n is None and students is None:
        raise OptionError(
            f"the standard-deviation column '{outcome_sd}' (outcome_sd) describes aggregated rows: name the number of "
            "students behind each row (students = \"...\" or outcome_n = \"...\" in [design]; --students or "
            "--outcome-n)")
    named = {"outcome": outcome, "time": time, "unit": unit, "cohort": cohort, "treatment": treatment,
             "weights": weights, "cluster": cluster, "student count": students,
             "outcome standard deviation": outcome_sd, "outcome count": outcome_n}
    _check_columns(data, named, covariates)
    cohort_name = f"column '{cohort}'" if cohort is not None else f"derived from treatment column '{treatment}'"

    unit_label = "unit-periods" if panel else "observations"
    flow = SampleFlow(source, len(data), unit=unit_label)
    frame = data
    if where:
        frame, flow = apply_restrictions(data, flow, where)  # refuses a single string (not a list of them)
    n_rows = len(frame)
    if n_rows == 0:
        raise DesignError("no rows left after the sample restrictions; relax the --where expressions")

    # ---- columns as arrays ---------------------------------------------------------------------------------
    y = _numeric(frame, outcome, "outcome")
    t = _numeric(frame, time, "time")
    g = _numeric(frame, cohort, "cohort") if cohort is not None else None
    d = None
    if treatment is not None:
        d = coerce_kind(frame[treatment], "binary", what=f"treatment column '{treatment}'").to_numpy(dtype=float)
    w = _numeric(frame, weights, "weights") if weights is not None else None
    n_st = _numeric(frame, students, "student-count") if students is not None else None
    # columns describing each row's students (never used in estimation): filtered with the rows
    aux: dict[str, np.ndarray] = {}
    if outcome_n is not None:
        aux["n"] = _numeric(frame, outcome_n, "outcome count")
    if outcome_sd is not None:
        aux["sd"] = _numeric(frame, outcome_sd, "outcome standard deviation")
    xs = [_numeric(frame, c, "covariate") for c in covariates]
    missing_masks: list[tuple[str, np.ndarray]] = [
        (f"outcome '{outcome}' missing", np.isnan(y)),
        (f"time '{time}' missing", np.isnan(t)),
    ]
    if panel and unit is not None:
        missing_masks.append((f"unit '{unit}' missing", frame[unit].isna().to_numpy()))
    if g is not None:
        missing_masks.append((f"cohort '{cohort}' missing", np.isnan(g)))
    if d is not None:
        missing_masks.append((f"treatment '{treatment}' missing", np.isnan(d)))
    if w is not None:
        missing_masks.append((f"weight '{weights}' missing", np.isnan(w)))
    if cluster is not None:
        missing_masks.append((f"cluster '{cluster}' missing", frame[cluster].isna().to_numpy()))
    for name, x in zip(covariates, xs, strict=True):
        missing_masks.append((f"covariate '{name}' missing", np.isnan(x)))
    keep = np.ones(n_rows, dtype=bool)
    dropped_msgs: list[str] = []
    for reason, mask in missing_masks:
        newly = mask & keep
        k = int(newly.sum())
        flow = flow.exclude(k, reason)
        if k:
            dropped_msgs.append(f"{k:,} with {reason}")
        keep &= ~mask
    if dropped_msgs:
        _warn(DataDroppedWarning, "dropped rows with missing values: " + "; ".join(dropped_msgs))
    if not keep.any():
        raise DesignError(f"no row of the {n_rows:,} has all of the needed values (outcome, time, cohort, ...)")

    def sel(a: np.ndarray) -> np.ndarray:
        return a if keep.all() else a[keep]

    y, t = sel(y), sel(t)
    g = sel(g) if g is not None else None
    d = sel(d) if d is not None else None
    w = sel(w) if w is not None else None
    n_st = sel(n_st) if n_st is not None else None
    aux = {name: sel(v) for name, v in aux.items()}
    if n_st is not None:
        n_bad = int((np.isnan(n_st) | (n_st < 0)).sum())
        if n_bad:
            raise InvalidValueError(
                f"student-count column '{students}' has {n_bad:,} missing or negative values among the rows used; "
                "it must give the number of students each row describes (0 or more)")
    _check_student_stats(aux, n_st, outcome=outcome, outcome_n=outcome_n, outcome_sd=outcome_sd,
                         students=students)
    xs = [sel(x) for x in xs]
    unit_values = sel(frame[unit].to_numpy()) if panel else None
    cluster_values = sel(frame[cluster].to_numpy()) if cluster is not None else None
    if w is not None:
        n_neg = int((w < 0).sum())
        if n_neg:
            raise InvalidValueError(f"weights column '{weights}' has {n_neg:,} negative values; sampling weights "
                                    "must be non-negative")
        if not (w.sum() > 0):
            raise InvalidValueError(f"weights column '{weights}' sums to zero")
    if g is not None:
        n_neg = int((g < 0).sum())
        if n_neg:
            raise InvalidValueError(
                f"cohort column '{cohort}' has {n_neg:,} negative values; it must hold the first treated period "
                "(0 or infinity for never treated); shift the periods so that they are positive")
        g = np.where(np.isinf(g), 0.0, g)

    # ---- units -------------------------------------------------------------------------------------------------
    notes: list[str] = []
    times_all = np.unique(t)
    t_idx = np.searchsorted(times_all, t)
    if panel:
        unit = present(unit, "unit column")
        unit_codes, unit_uniques = pd.factorize(pd.Series(unit_values), sort=True)
        n_units = len(unit_uniques)
        _check_duplicates(unit_codes, t_idx, n_units, times_all.size, unit, time)
        if d is not None:
            g = _cohort_from_treatment(d, t, unit_codes, n_units, treatment or "", unit)
        unit_cohort = _constant_within(present(g, "cohort"), unit_codes, n_units, f"cohort column '{cohort}'", unit)
        if cluster_values is not None and panel:
            ccodes_row, _ = pd.factorize(pd.Series(cluster_values), sort=True)
            _constant_within(ccodes_row.astype(float), unit_codes, n_units,
                             f"cluster column '{cluster}'", unit)
    else:
        unit_codes = np.arange(y.size)
        unit_uniques = pd.Index(np.flatnonzero(keep))
        n_units = y.size
        unit_cohort = present(g, "cohort")

    # ---- cohorts relative to the observed periods ----------------------------------------------------------
    row_g = unit_cohort[unit_codes] if panel else g
    t_first, t_last = float(times_all[0]), float(times_all[-1])
    late = (unit_cohort > t_last + anticipation)
    n_late = int(late.sum())
    if n_late:
        unit_cohort = np.where(late, 0.0, unit_cohort)
        row_g = unit_cohort[unit_codes]
        what = "units" if panel else "observations"
        msg = (f"{n_late:,} {what} first treated after the last period {t_last:g}"
               + (f" plus anticipation {anticipation}" if anticipation else "") + " are treated as never treated")
        flow = flow.exclude(0, msg)
        notes.append(msg)
        _warn(CohortDroppedWarning, msg)

    # no never-treated units: R's rule (last cohort as comparison; later periods dropped)
    estimable_groups_excluded: set[float] = set()
    if last_cohort_as_comparison and not np.any(unit_cohort == 0):
        treated_cohorts = np.unique(unit_cohort)
        if treated_cohorts.size < 2:
            raise DesignError(
                f"no comparison units: all {n_units:,} units belong to cohort {float(treated_cohorts[0]):g} and none "
                f"is never treated (cohort {cohort_name}); difference-in-differences needs never-treated or "
                "later-treated units")
        latest = float(treated_cohorts.max())
        cutoff = latest - anticipation
        drop = t >= cutoff
        k = int(drop.sum())
        if control == "never":
            msg = (f"no never-treated units: the last-treated cohort ({latest:g}) is used as the comparison group "
                   f"and the {k:,} rows from period {cutoff:g} on are dropped (no comparison group there)")
            unit_cohort = np.where(unit_cohort == latest, 0.0, unit_cohort)
        else:
            msg = (f"no never-treated units: the {k:,} rows from period {cutoff:g} on are dropped (no not-yet-treated "
                   f"comparison group there); cohort {latest:g} serves only as a comparison group")
            estimable_groups_excluded.add(latest)
        _warn(CohortDroppedWarning, msg)
        notes.append(msg)
        keep2 = ~drop
        flow = flow.exclude(k, msg)
        y, t, t_idx = y[keep2], t[keep2], t_idx[keep2]
        w = w[keep2] if w is not None else None
        n_st = n_st[keep2] if n_st is not None else None
        aux = {name: v[keep2] for name, v in aux.items()}
        xs = [x[keep2] for x in xs]
        unit_codes = unit_codes[keep2]
        cluster_values = cluster_values[keep2] if cluster_values is not None else None
        if not panel:
            unit_cohort = unit_cohort[keep2]
            unit_uniques = unit_uniques[keep2]
            unit_codes = np.arange(y.size)
            n_units = y.size
        if y.size == 0:
            raise DesignError("no comparison units: no never-treated units and no period before the last cohort's "
                              "treatment; the design has no comparison group")
        times_all = np.unique(t)
        t_idx = np.searchsorted(times_all, t)
        t_first, t_last = float(times_all[0]), float(times_all[-1])
        row_g = unit_cohort[unit_codes]

    # units treated in the first period (minus anticipation) have no pre-period
    early_units = (unit_cohort != 0) & (unit_cohort <= t_first + anticipation)
    if panel:
        early_units &= np.bincount(unit_codes, minlength=n_units) > 0
    n_early = int(early_units.sum())
    if n_early:
        rows_early = early_units[unit_codes]
        k = int(rows_early.sum())
        what = "units" if panel else "observations"
        msg = (f"dropped {n_early:,} {what} ({k:,} rows) already treated in the first period {t_first:g}"
               + (f" (accounting for anticipation {anticipation})" if anticipation else "")
               + ": they have no pre-treatment period")
        _warn(CohortDroppedWarning, msg)
        notes.append(msg)
        flow = flow.exclude(k, "already treated in the first period (no pre-treatment period)")
        keep3 = ~rows_early
        y, t, t_idx = y[keep3], t[keep3], t_idx[keep3]
        w = w[keep3] if w is not None else None
        n_st = n_st[keep3] if n_st is not None else None
        aux = {name: v[keep3] for name, v in aux.items()}
        xs = [x[keep3] for x in xs]
        cluster_values = cluster_values[keep3] if cluster_values is not None else None
        unit_codes = unit_codes[keep3]
        if not panel:
            unit_cohort = unit_cohort[keep3]
            unit_uniques = unit_uniques[keep3]
            unit_codes = np.arange(y.size)
            n_units = y.size
        row_g = unit_cohort[unit_codes]

    if y.size == 0:
        raise DesignError("no rows left: every unit was treated in the first period")

    # re-index units and periods after exclusions
    times_all = np.unique(t)
    t_idx = np.searchsorted(times_all, t)
    n_t = times_all.size
    if panel:
        observed = np.bincount(unit_codes, minlength=n_units) > 0
        if not observed.all():
            remap = np.cumsum(observed) - 1
            unit_codes = remap[unit_codes]
            unit_cohort = unit_cohort[observed]
            unit_uniques = unit_uniques[observed]
            n_units = int(observed.sum())
    mode: DataMode = "rcs" if not panel else "panel"
    counts = np.bincount(unit_codes, minlength=n_units) if panel else None
    if panel:
        incomplete = present(counts, "unit counts") < n_t
        n_inc = int(incomplete.sum())
        if n_inc and not allow_unbalanced:
            k = int(incomplete[unit_codes].sum())
            msg = (f"{n_inc:,} units are missing in some of the {n_t} periods and were dropped to balance the panel "
                   f"({k:,} rows); to keep them, set allow_unbalanced = true in [design] (command line: "
                   "--allow-unbalanced; Python: allow_unbalanced=True)")
            _warn(DataDroppedWarning, msg)
            notes.append(msg)
            flow = flow.exclude(k, "unit not observed in every period (balanced panel)")
            keep4 = ~incomplete[unit_codes]
            y, t, t_idx = y[keep4], t[keep4], t_idx[keep4]
            w = w[keep4] if w is not None else None
            n_st = n_st[keep4] if n_st is not None else None
            aux = {name: v[keep4] for name, v in aux.items()}
            xs = [x[keep4] for x in xs]
            cluster_values = cluster_values[keep4] if cluster_values is not None else None
            unit_codes = unit_codes[keep4]
            observed = ~incomplete
            remap = np.cumsum(observed) - 1
            unit_codes = remap[unit_codes]
            unit_cohort = unit_cohort[observed]
            unit_uniques = unit_uniques[observed]
            n_units = int(observed.sum())
            if n_units == 0:
                raise DesignError("no unit is observed in every period: set allow_unbalanced = true in [design] "
                                  "(command line: --allow-unbalanced; Python: allow_unbalanced=True)")
            times_all = np.unique(t)
            t_idx = np.searchsorted(times_all, t)
            n_t = times_all.size
        elif n_inc:
            mode = "unbalanced"

    # cohorts never observed before their treatment (unbalanced panels, repeated cross-sections)
    if mode != "panel":
        row_g = unit_cohort[unit_codes] if mode == "unbalanced" else unit_cohort
        bad_cohorts = []
        for c in np.unique(row_g[row_g > 0]):
            pre = t[(row_g == c)] + anticipation < c
            if not pre.any():
                bad_cohorts.append(float(c))
        if bad_cohorts:
            rows_bad = np.isin(row_g, bad_cohorts)
            k = int(rows_bad.sum())
            msg = (f"dropped cohorts {', '.join(f'{c:g}' for c in bad_cohorts)} ({k:,} rows): never observed before "
                   "their treatment" + (" minus anticipation" if anticipation else ""))
            _warn(CohortDroppedWarning, msg)
            notes.append(msg)
            flow = flow.exclude(k, "cohort never observed before its treatment")
            keep5 = ~rows_bad
            y, t, t_idx = y[keep5], t[keep5], t_idx[keep5]
            w = w[keep5] if w is not None else None
            n_st = n_st[keep5] if n_st is not None else None
            aux = {name: v[keep5] for name, v in aux.items()}
            xs = [x[keep5] for x in xs]
            cluster_values = cluster_values[keep5] if cluster_values is not None else None
            unit_codes = unit_codes[keep5]
            if mode == "rcs":
                unit_cohort = unit_cohort[keep5]
                unit_uniques = unit_uniques[keep5]
                unit_codes = np.arange(y.size)
                n_units = y.size
            else:
                observed = np.bincount(unit_codes, minlength=n_units) > 0
                remap = np.cumsum(observed) - 1
                unit_codes = remap[unit_codes]
                unit_cohort = unit_cohort[observed]
                unit_uniques = unit_uniques[observed]
                n_units = int(observed.sum())
            times_all = np.unique(t)
            t_idx = np.searchsorted(times_all, t)
            n_t = times_all.size

    if n_t < 2:
        raise DesignError(f"the data have {n_t} period after the exclusions; difference-in-differences needs at "
                          "least two")
    t_first = float(times_all[0])
    cohort_values = np.unique(unit_cohort)
    groups = np.array([c for c in cohort_values
                       if c > 0 and c > t_first + anticipation and float(c) not in estimable_groups_excluded])
    if groups.size == 0:
        raise DesignError("no treated cohort has a pre-treatment period in the data: nothing to estimate (the cohort "
                          "column must hold the first treated period, 0 for never treated)")
    comparison_possible = np.any(unit_cohort == 0) or (control == "notyet" and cohort_values.size > 1)
    if not comparison_possible:
        raise DesignError("no comparison units: every unit belongs to one treated cohort; never-treated or "
                          "later-treated units are needed")

    # ---- weights ------------------------------------------------------------------------------------------------
    if w is None:
        w = np.ones(y.size)
    # ---- clusters -----------------------------------------------------------------------------------------------
    row_cluster = cluster_labels = None
    if cluster_values is not None:
        codes, labels = pd.factorize(pd.Series(cluster_values), sort=True)
        if mode == "rcs":
            row_cluster_units = codes
        else:
            unit_cl = np.empty(n_units, dtype=np.int64)
            unit_cl[unit_codes] = codes
            row_cluster_units = unit_cl
        cluster_labels = np.asarray(labels)
        used = np.unique(row_cluster_units)
        if used.size < cluster_labels.size:
            remap = np.full(cluster_labels.size, -1, dtype=np.int64)
            remap[used] = np.arange(used.size)
            row_cluster_units = remap[row_cluster_units]
            cluster_labels = cluster_labels[used]
        if cluster_labels.size < 2:
            raise DesignError(f"cluster column '{cluster}' has a single cluster in the estimation sample; "
                              "cluster-robust inference needs at least two (drop the cluster option or use a "
                              "finer cluster)")
        if cluster_labels.size < FEW_CLUSTERS:
            _warn(FewClustersWarning,
                  f"only {cluster_labels.size} clusters in '{cluster}': analytic cluster-robust standard errors "
                  "over-reject with few clusters; use the wild cluster bootstrap for the aggregated effects "
                  "(wild_bootstrap = 999 in [design.inference]; command line: --wild-bootstrap 999; Python: "
                  "fit(wild_bootstrap=999))")
        row_cluster = row_cluster_units

    # ---- order influence-function rows by cohort ------------------------------------------------------------------
    k_cov = len(covariates)
    if mode == "panel":
        order = np.argsort(unit_cohort, kind="stable")
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        uc = inv[unit_codes]
        y_full = np.full((n_units, n_t), np.nan)
        y_full[uc, t_idx] = y
        y_wide: np.ndarray | None = y_full
        w_mat = np.empty((n_units, n_t))
        w_mat[uc, t_idx] = w
        varying_w = bool(np.any(w_mat != w_mat[:, :1]))
        w_wide = w_mat if varying_w else None
        row_weight = w_mat[:, 0].copy()
        x_wide: np.ndarray | None = None
        if k_cov:
            x_full = np.empty((n_t, n_units, k_cov))
            for j, x in enumerate(xs):
                x_full[t_idx, uc, j] = x
            x_wide = x_full
        row_cohort = unit_cohort[order]
        row_id = np.asarray(unit_uniques)[order]
        row_cluster = row_cluster[order] if row_cluster is not None else None
        seg_cohort, seg_bounds = _segments(row_cohort)
        seg_time = np.full(seg_cohort.size, -1, dtype=np.int64)
        obs: tuple[np.ndarray | None, ...] = (None, None, None, None, None)
        obs_bounds: dict[float, tuple[int, int]] = {}
        flow = flow.aggregate(n_units, f"balanced panel of {n_units:,} units × {n_t} periods", "units")
    else:
        row_of_obs = unit_codes
        obs_cohort = unit_cohort[unit_codes] if mode == "unbalanced" else unit_cohort
        if mode == "unbalanced":
            order_units = np.argsort(unit_cohort, kind="stable")
            inv = np.empty_like(order_units)
            inv[order_units] = np.arange(order_units.size)
            row_of_obs = inv[unit_codes]
            obs_order = np.lexsort((t_idx, row_of_obs))
            row_cohort = unit_cohort[order_units]
            row_id = np.asarray(unit_uniques)[order_units]
            if row_cluster is not None:
                row_cluster = row_cluster[order_units]
            # aggregation weight of a unit: mean of its weights over its rows (R did)
            sums = np.bincount(row_of_obs, weights=w, minlength=n_units)
            cnts = np.bincount(row_of_obs, minlength=n_units)
            row_weight = sums / cnts
            seg_cohort, seg_bounds = _segments(row_cohort)
            seg_time = np.full(seg_cohort.size, -1, dtype=np.int64)
            flow = flow.aggregate(n_units, f"unbalanced panel of {n_units:,} units in {n_t} periods", "units")
        else:
            obs_order = np.lexsort((t_idx, obs_cohort))
            row_cohort = obs_cohort[obs_order]
            row_id = np.asarray(unit_uniques)[obs_order]
            row_of_obs = np.empty(obs_order.size, dtype=np.int64)
            row_of_obs[obs_order] = np.arange(obs_order.size)
            if row_cluster is not None:
                row_cluster = row_cluster[obs_order]
            row_weight = w[obs_order]
            key_t = t_idx[obs_order]
            change = np.flatnonzero((np.diff(row_cohort) != 0) | (np.diff(key_t) != 0)) + 1
            seg_bounds = np.concatenate([[0], change, [row_cohort.size]]).astype(np.int64)
            seg_cohort = row_cohort[seg_bounds[:-1]]
            seg_time = key_t[seg_bounds[:-1]].astype(np.int64)
        oy, ot, orow, ow = y[obs_order], t_idx[obs_order], row_of_obs[obs_order], w[obs_order]
        ox = np.column_stack([x[obs_order] for x in xs]) if k_cov else None
        obs = (oy, ot, orow, ow, ox)
        oc = obs_cohort[obs_order]
        obs_bounds = {}
        for c in np.unique(oc):
            lo = int(np.searchsorted(oc, c, side="left"))
            hi = int(np.searchsorted(oc, c, side="right"))
            obs_bounds[float(c)] = (lo, hi)
        y_wide, w_wide, x_wide = None, None, None
        n_units = row_cohort.size

    # ---- small groups ---------------------------------------------------------------------------------------
    sizes = {float(c): int(k) for c, k in zip(*np.unique(row_cohort, return_counts=True), strict=True)}
    if mode == "panel":
        per_period = sizes
    else:
        per_period = {c: int(np.ceil(k / n_t)) for c, k in sizes.items()} if mode == "rcs" else sizes
    small = [c for c, k in per_period.items() if k < k_cov + 5]
    if small:
        _warn(SmallSampleWarning,
              "some cohorts have very few units, which makes their group-time effects imprecise: "
              + ", ".join(f"{'never treated' if c == 0 else f'{c:g}'} ({per_period[c]})" for c in small))

    # ---- students behind each cohort and period (small-cell suppression) -------------------------------------
    obs_cohort_all = unit_cohort[unit_codes]
    per_obs = n_st if n_st is not None else np.ones(obs_cohort_all.size)
    cohort_period_students = {
        float(c): np.bincount(t_idx[obs_cohort_all == c], weights=per_obs[obs_cohort_all == c], minlength=n_t)
        for c in np.unique(obs_cohort_all)}
    counts_out = aux.get("n", n_st) if "sd" in aux else None
    observations = ObservationStats(
        level="students" if ("sd" in aux or n_st is None) else "unit_means",
        cohort=obs_cohort_all.astype(float), period=np.asarray(t_idx, dtype=np.int64),
        unit=np.asarray(unit_codes, dtype=np.int64), outcome=np.asarray(y, dtype=float),
        n=None if counts_out is None else np.asarray(counts_out, dtype=float), sd=aux.get("sd"),
        students=None if n_st is None else np.asarray(n_st, dtype=float), outcome_sd=outcome_sd,
        outcome_n=outcome_n if "n" in aux else (students if "sd" in aux else None), students_column=students)

    return StaggeredData(
        mode=mode, outcome=outcome, times=times_all.astype(float), groups=groups.astype(float),
        anticipation=float(anticipation), n=int(row_cohort.size), row_cohort=row_cohort.astype(float),
        row_weight=row_weight.astype(float), row_id=row_id, row_cluster=row_cluster, cluster_labels=cluster_labels,
        seg_bounds=seg_bounds, seg_cohort=seg_cohort.astype(float), seg_time=seg_time, y_wide=y_wide,
        w_wide=w_wide, x_wide=x_wide, obs_y=obs[0], obs_t=obs[1], obs_row=obs[2], obs_w=obs[3], obs_x=obs[4],
        obs_cohort_bounds=obs_bounds, covariates=covariates, flow=flow, unit=unit, time=time,
        cohort=cohort if cohort is not None else f"first period with {treatment} = 1", cluster=cluster,
        weights=weights, notes=tuple(notes), students=students, cohort_period_students=cohort_period_students,
        observations=observations,
    )


def _check_student_stats(aux: Mapping[str, np.ndarray], n_st: np.ndarray | None, *, outcome: str,
                         outcome_n: str | None, outcome_sd: str | None, students: str | None) -> None:
    """The counts and standard deviations behind each row's outcome: counts present and whole, at least 1 where the
    outcome is present; standard deviations present and non-negative wherever a row has two students or more."""
    counts = aux.get("n", n_st)
    count_col = outcome_n if "n" in aux else students
    if "n" in aux:
        n = aux["n"]
        n_bad = int((np.isnan(n) | (n < 0) | (n != np.floor(n))).sum())
        if n_bad:
            raise InvalidValueError(f"outcome count column '{outcome_n}' has {n_bad:,} missing, negative or fractional "
                                    "values among the rows used; it must give the number of students behind each "
                                    "row's outcome")
    if "sd" in aux and counts is not None:
        n_zero = int((counts < 1).sum())
        if n_zero:
            raise InvalidValueError(
                f"{n_zero:,} rows have outcome '{outcome}' but no student in '{count_col}': a row's outcome mean needs "
                "at least one student (use the count of students with the outcome observed, outcome_n)")
        sd = aux["sd"]
        bad = (counts >= 2) & (np.isnan(sd) | (sd < 0))
        n_bad = int(bad.sum())
        if n_bad:
            raise InvalidValueError(
                f"standard-deviation column '{outcome_sd}' has {n_bad:,} missing or negative values in rows of two "
                f"students or more (counts '{count_col}'); it must give the students' standard deviation of the "
                "outcome within each row")


def _segments(row_cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    change = np.flatnonzero(np.diff(row_cohort) != 0) + 1
    bounds = np.concatenate([[0], change, [row_cohort.size]]).astype(np.int64)
    return row_cohort[bounds[:-1]], bounds


def _check_duplicates(unit_codes: np.ndarray, t_idx: np.ndarray, n_units: int, n_t: int, unit: str,
                      time: str) -> None:
    key = unit_codes.astype(np.int64) * n_t + t_idx
    if n_units * n_t <= 200_000_000:
        counts = np.bincount(key, minlength=n_units * n_t)
        n_dup_rows = int((counts[counts > 1] - 1).sum())
        n_dup_units = int(np.unique(np.flatnonzero(counts > 1) // n_t).size) if n_dup_rows else 0
    else:
        s = np.sort(key)
        rep = s[1:] == s[:-1]
        n_dup_rows = int(rep.sum())
        n_dup_units = int(np.unique(s[1:][rep] // n_t).size) if n_dup_rows else 0
    if n_dup_rows:
        raise DuplicateRowsError(
            f"{n_dup_rows:,} rows repeat a ({unit}, {time}) combination ({n_dup_units:,} units affected); each unit "
            "must appear once per period — aggregate the rows first, or treat them as repeated cross-sections "
            "(panel = false in [design]; command line: --repeated-cross-sections; Python: panel=False)")


def _constant_within(values: np.ndarray, unit_codes: np.ndarray, n_units: int, what: str, unit: str) -> np.ndarray:
    first = np.empty(n_units)
    first[unit_codes] = values
    differ = values != first[unit_codes]
    if differ.any():
        n_bad = int(np.unique(unit_codes[differ]).size)
        raise InvalidValueError(
            f"{what} changes within a unit for {n_bad:,} of {n_units:,} units ('{unit}'); it must be constant within "
            "each unit (the treatment is absorbing: a unit's cohort is its first treated period)")
    return first


def _cohort_from_treatment(d: np.ndarray, t: np.ndarray, unit_codes: np.ndarray, n_units: int, treatment: str,
                           unit: str) -> np.ndarray:
    first = np.full(n_units, np.inf)
    on = d == 1
    np.minimum.at(first, unit_codes[on], t[on])
    row_first = first[unit_codes]
    off_after_on = (d == 0) & (t >= row_first)
    if off_after_on.any():
        n_bad = int(np.unique(unit_codes[off_after_on]).size)
        raise InvalidValueError(
            f"treatment column '{treatment}' switches off for {n_bad:,} of {n_units:,} units ('{unit}'): once a unit "
            "is treated it must stay treated (staggered adoption); recode the treatment or drop those units")
    first = np.where(np.isinf(first), 0.0, first)
    return first[unit_codes]

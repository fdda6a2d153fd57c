"""Preparing staggered-adoption data for the group-time estimators: checks, exclusions and compact arrays.

:func:`prepare_staggered_data` turns a long data frame (one row per unit and period, or one row per observation for
repeated cross-sections) into the arrays the estimators use, and records every exclusion in the
:class:`~cteimpact.data.SampleFlow`. The rules follow R's ``did`` package (Callaway & Sant'Anna 2021), whose
behaviour users of the field know:

* rows with a missing outcome, time, unit, cohort, weight, cluster or covariate are dropped (one flow step per
  column);
* a categorical covariate (text or ``category``) enters as indicator columns of its levels but a reference level
  (:mod:`cteimpact.did.factors`; ``covariate_reference`` chooses it), recorded in
  :attr:`StaggeredData.covariate_coding` and the notes;
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from cteimpact.data.restrictions import apply_restrictions
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData, frame_and_flow
from cteimpact.data.validation import coerce_kind
from cteimpact.did.cells import ObservationStats
from cteimpact.did.errors import FewClustersWarning
from cteimpact.did.exclusions import (
    WorkingSample,
    balance_panel,
    drop_cohorts_without_pre_period,
    drop_missing,
    drop_treated_at_start,
    index_dtype,
    no_never_treated,
    recode_late_cohorts,
)
from cteimpact.did.factors import FactorCoding, encode_factors
from cteimpact.errors import (
    DesignError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
    SmallSampleWarning,
)
from cteimpact.limits import COMPILED_FROM

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
        Balanced panel only: outcomes, ``n × T``, column-major (each period's outcomes contiguous; take
        ``np.ascontiguousarray`` for a row-major copy).
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
        Covariate column names (the intercept is added by the estimators); a categorical covariate is named by its
        indicator columns (``<column>=<level>``).
    covariate_coding
        The coding of each categorical covariate (:class:`~cteimpact.did.factors.FactorCoding`).
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
    outcome_summary
        Number, minimum, maximum, largest magnitude and first of the finite outcomes used, when the compiled scatter
        of a long balanced panel computed them (the value checks of the estimator read them); ``None`` otherwise.
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
    covariate_coding: tuple[FactorCoding, ...] = ()
    outcome_summary: tuple[int, float, float, float, float] | None = None

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
        return _sorted_counts(self.row_cohort)


def _numeric(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """A numeric column as float64 values (a read-only view of the frame's own float64 data when it has them).

    Plain numpy integer and float columns are checked in place (some value present, none infinite); any other
    column, or one that fails those checks, goes through :func:`~cteimpact.data.validation.coerce_kind`, which
    converts it or raises its error."""
    series = frame[column]
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiu":
        values = series.to_numpy(dtype=float, copy=False)
        is_float = series.dtype.kind == "f"
        n_present = values.size - int(np.count_nonzero(np.isnan(values))) if is_float else values.size
        # integers are finite as floats (the largest 64-bit integer is about 1.8e19)
        if (values.size == 0 or n_present > 0) and not (is_float and np.isinf(values).any()):
            values = values.view()  # the frame's own data when float64: never written to
            values.flags.writeable = False
            return values
    return coerce_kind(series, "numeric", what=f"{what} column '{column}'").to_numpy(dtype=float)


def _check_columns(frame: pd.DataFrame, named: dict[str, str | None], covariates: Sequence[str]) -> None:
    available = [str(c) for c in frame.columns]
    for role, col in named.items():
        if col is not None and col not in frame.columns:
            raise MissingColumnError(col, available, role)
    for col in covariates:
        if col not in frame.columns:
            raise MissingColumnError(col, available, "covariate")


def prepare_staggered_data(
    data: pd.DataFrame | StudentData, *, outcome: str, time: str, unit: str | None = None, cohort: str | None = None,
    treatment: str | None = None, covariates: Sequence[str] = (), weights: str | None = None,
    cluster: str | None = None, panel: bool = True, allow_unbalanced: bool = False,
    control: Literal["never", "notyet"] = "never", anticipation: int = 0, where: Sequence[str] = (),
    source: str = "data frame", last_cohort_as_comparison: bool = True, students: str | None = None,
    outcome_sd: str | None = None, outcome_n: str | None = None, covariate_reference: Mapping[str, str] | None = None,
) -> StaggeredData:
    """Check long-format staggered-adoption data and build the estimators' arrays.

    Parameters
    ----------
    data
        One row per unit and period (panel) or per observation (repeated cross-sections): a DataFrame, or a
        :class:`~cteimpact.data.StudentData` whose sample flow is continued (then ``source`` is not used).
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
        Covariate columns (values of the earlier period of each comparison are used, as in R ``did``). A text or
        ``category`` column is categorical: one indicator column per level but the reference
        (:mod:`cteimpact.did.factors`); :attr:`StaggeredData.covariates` then names the indicator columns.
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
        Column with the number of students each row describes (aggregated data, e.g. a district × cohort panel),
        to count the students behind each estimate (:attr:`StaggeredData.cohort_period_students`). Default: one.
    outcome_sd
        Aggregated data: column with the student-level standard deviation of the outcome within each row (divisor
        ``n − 1``). With it, descriptive statistics and effect sizes use the students' spread
        (:attr:`StaggeredData.observations`); it does not enter estimation.
    outcome_n
        Column with the number of students behind each row's outcome mean and standard deviation (for example the
        students with the outcome observed); default: the ``students`` column.
    covariate_reference
        Reference level of categorical covariates by column (default: the first level, see
        :mod:`cteimpact.did.factors`).

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
    covariates = tuple(covariates)
    _check_options(cohort=cohort, treatment=treatment, panel=panel, unit=unit, control=control,
                   anticipation=anticipation, covariates=covariates, students=students, outcome_sd=outcome_sd,
                   outcome_n=outcome_n)
    named = {"outcome": outcome, "time": time, "unit": unit, "cohort": cohort, "treatment": treatment,
             "weights": weights, "cluster": cluster, "student count": students,
             "outcome standard deviation": outcome_sd, "outcome count": outcome_n}
    frame, flow = _restricted(data, named, covariates, source=source, panel=panel, where=where)
    frame, covariates, coding = encode_factors(frame, covariates, covariate_reference)
    cohort_name = f"column '{cohort}'" if cohort is not None else f"derived from treatment column '{treatment}'"
    cols = _Columns(outcome=outcome, time=time, unit=unit if panel else None, cohort=cohort, treatment=treatment,
                    weights=weights, cluster=cluster, students=students, outcome_sd=outcome_sd, outcome_n=outcome_n,
                    covariates=covariates, covariate_missing={n: (f.column if n == f.indicators[0] else None)
                                                              for f in coding for n in f.indicators})
    s, reasons = _read_columns(frame, cols, panel=panel, flow=flow)
    drop_missing(s, reasons)
    _check_row_values(s, cols)
    if panel:
        _identify_units(s, cols)
    recode_late_cohorts(s, anticipation)
    only_comparison: set[float] = set()
    if last_cohort_as_comparison:
        only_comparison = no_never_treated(s, control=control, anticipation=anticipation, cohort_name=cohort_name)
    drop_treated_at_start(s, anticipation)
    mode: DataMode = balance_panel(s, allow_unbalanced)
    if mode != "panel":
        drop_cohorts_without_pre_period(s, anticipation)
    groups = _estimable_groups(s, control=control, anticipation=anticipation, only_comparison=only_comparison)
    row_cluster, cluster_labels = _clusters(s, mode, cluster)
    lay = _layout(s, mode, row_cluster, len(covariates))
    _warn_small_cohorts(s, lay.row_cohort, mode, len(covariates))
    cohort_period_students, observations = _students_and_observations(s, cols, balanced=mode == "panel")
    return StaggeredData(
        mode=mode, outcome=outcome, times=s.times.astype(float), groups=groups.astype(float),
        anticipation=float(anticipation), n=int(lay.row_cohort.size), row_cohort=lay.row_cohort.astype(float),
        row_weight=lay.row_weight.astype(float), row_id=lay.row_id, row_cluster=lay.row_cluster,
        cluster_labels=cluster_labels, seg_bounds=lay.seg_bounds, seg_cohort=lay.seg_cohort.astype(float),
        seg_time=lay.seg_time, y_wide=lay.y_wide, w_wide=lay.w_wide, x_wide=lay.x_wide, obs_y=lay.obs[0],
        obs_t=lay.obs[1], obs_row=lay.obs[2], obs_w=lay.obs[3], obs_x=lay.obs[4], obs_cohort_bounds=lay.obs_bounds,
        covariates=covariates, flow=s.flow.aggregate(*lay.collapse) if lay.collapse else s.flow, unit=unit,
        time=time, cohort=cohort if cohort is not None else f"first period with {treatment} = 1", cluster=cluster,
        weights=weights, notes=(*s.notes, *(f.note() for f in coding)), covariate_coding=coding, students=students,
        cohort_period_students=cohort_period_students,
        observations=observations, outcome_summary=lay.outcome_summary,
    )


def _restricted(data: pd.DataFrame | StudentData, named: dict[str, str | None], covariates: Sequence[str], *,
                source: str, panel: bool, where: Sequence[str]) -> tuple[pd.DataFrame, SampleFlow]:
    """The rows after the sample restrictions (the named columns checked present) and the flow recording them: a
    new flow, or a :class:`~cteimpact.data.StudentData`'s continued."""
    frame, flow = frame_and_flow(data, what="data", source=source, unit="unit-periods" if panel else "observations")
    _check_columns(frame, named, covariates)
    if where:
        frame, flow = apply_restrictions(frame, flow, where)  # refuses a single string (not a list of them)
    if len(frame) == 0:
        raise DesignError("no rows left after the sample restrictions; relax the --where expressions")
    return frame, flow


@dataclass(frozen=True)
class _Columns:
    """The columns named for preparation (``unit`` only for panels)."""

    outcome: str
    time: str
    unit: str | None
    cohort: str | None
    treatment: str | None
    weights: str | None
    cluster: str | None
    students: str | None
    outcome_sd: str | None
    outcome_n: str | None
    covariates: tuple[str, ...]
    covariate_missing: Mapping[str, str | None] = field(default_factory=dict)
    """Indicator columns of categorical covariates: the factor whose missing rows they drop (``None``: dropped by
    the factor's first indicator already)."""


def _check_options(*, cohort: str | None, treatment: str | None, panel: bool, unit: str | None, control: str,
                   anticipation: object, covariates: tuple[str, ...], students: str | None, outcome_sd: str | None,
                   outcome_n: str | None) -> None:
    """Refuse inconsistent options before any data are read."""
    if (cohort is None) == (treatment is None):
        raise OptionError("give exactly one of 'cohort' (first treated period, 0 = never) and 'treatment' "
                          "(0/1 indicator per unit and period)")
    if panel and unit is None:
        raise OptionError("a panel needs the unit identifier column ('unit'; command line: --unit); for repeated "
                          "cross-sections set panel = false in [design] (command line: --no-panel; "
                          "Python: panel=False)")
    if treatment is not None and (not panel or unit is None):
        raise OptionError("a treatment indicator can define cohorts only in a panel (units tracked over periods); "
                          "give the cohort column for repeated cross-sections")
    if control not in ("never", "notyet"):
        raise OptionError(f"control must be 'never' or 'notyet', got {control!r}")
    if not (isinstance(anticipation, (int, np.integer)) and anticipation >= 0):
        raise OptionError(f"anticipation must be a non-negative whole number of periods, got {anticipation!r}")
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


def _read_columns(frame: pd.DataFrame, c: _Columns, *, panel: bool,
                  flow: SampleFlow) -> tuple[WorkingSample, list[str]]:
    """The named columns as row arrays (checked numeric or binary), with a missing-value mask per column; returns
    the working sample and the reasons of those masks in the order they are applied."""
    rows: dict[str, np.ndarray] = {"y": _numeric(frame, c.outcome, "outcome"), "t": _numeric(frame, c.time, "time")}
    if c.cohort is not None:
        rows["g"] = _numeric(frame, c.cohort, "cohort")
    if c.treatment is not None:
        rows["d"] = coerce_kind(frame[c.treatment], "binary",
                                what=f"treatment column '{c.treatment}'").to_numpy(dtype=float)
    if c.weights is not None:
        rows["w"] = _numeric(frame, c.weights, "weights")
    if c.students is not None:
        rows["n_st"] = _numeric(frame, c.students, "student-count")
    # columns describing each row's students (never used in estimation): filtered with the rows
    if c.outcome_n is not None:
        rows["aux:n"] = _numeric(frame, c.outcome_n, "outcome count")
    if c.outcome_sd is not None:
        rows["aux:sd"] = _numeric(frame, c.outcome_sd, "outcome standard deviation")
    for j, name in enumerate(c.covariates):
        rows[f"x:{j}"] = _numeric(frame, name, "covariate")
    def missing(column: str, values: np.ndarray) -> np.ndarray:
        """Rows where the column is missing: none in a numpy integer or boolean column (no pass over it)."""
        dtype = frame[column].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":
            return np.zeros(values.size, dtype=bool)
        return np.isnan(values)

    masks: list[tuple[str, np.ndarray]] = [(f"outcome '{c.outcome}' missing", missing(c.outcome, rows["y"])),
                                           (f"time '{c.time}' missing", missing(c.time, rows["t"]))]
    if c.unit is not None:
        rows["unit"] = frame[c.unit].to_numpy()
        masks.append((f"unit '{c.unit}' missing", frame[c.unit].isna().to_numpy()))
    if c.cohort is not None:
        masks.append((f"cohort '{c.cohort}' missing", missing(c.cohort, rows["g"])))
    if c.treatment is not None:
        masks.append((f"treatment '{c.treatment}' missing", np.isnan(rows["d"])))
    if c.weights is not None:
        masks.append((f"weight '{c.weights}' missing", np.isnan(rows["w"])))
    if c.cluster is not None:
        rows["cluster"] = frame[c.cluster].to_numpy()
        masks.append((f"cluster '{c.cluster}' missing", frame[c.cluster].isna().to_numpy()))
    for j, name in enumerate(c.covariates):
        if c.covariate_missing.get(name, name) is not None:
            masks.append((f"covariate '{c.covariate_missing.get(name, name)}' missing", np.isnan(rows[f"x:{j}"])))
    if not panel:
        rows["pos"] = np.arange(len(frame))
    for reason, mask in masks:
        rows[f"missing:{reason}"] = mask
    return WorkingSample(panel=panel, rows=rows, flow=flow), [r for r, _ in masks]


def _check_row_values(s: WorkingSample, c: _Columns) -> None:
    """Student counts, the students' outcome statistics, weights and cohorts of the rows kept; infinite cohorts
    (never treated) become 0."""
    n_st = s.get("n_st")
    if n_st is not None:
        n_bad = int((np.isnan(n_st) | (n_st < 0)).sum())
        if n_bad:
            raise InvalidValueError(
                f"student-count column '{c.students}' has {n_bad:,} missing or negative values among the rows used; "
                "it must give the number of students each row describes (0 or more)")
    aux = {name[4:]: v for name, v in s.rows.items() if name.startswith("aux:")}
    _check_student_stats(aux, n_st, outcome=c.outcome, outcome_n=c.outcome_n, outcome_sd=c.outcome_sd,
                         students=c.students)
    w = s.get("w")
    if w is not None:
        n_neg = int((w < 0).sum())
        if n_neg:
            raise InvalidValueError(f"weights column '{c.weights}' has {n_neg:,} negative values; sampling weights "
                                    "must be non-negative")
        if not (w.sum() > 0):
            raise InvalidValueError(f"weights column '{c.weights}' sums to zero")
    g = s.get("g")
    if g is not None:
        n_neg = int((g < 0).sum())
        if n_neg:
            raise InvalidValueError(
                f"cohort column '{c.cohort}' has {n_neg:,} negative values; it must hold the first treated period "
                "(0 or infinity for never treated); shift the periods so that they are positive")
        infinite = np.isinf(g)
        if infinite.any():  # a new array only when some cohort is infinite (never treated)
            s.rows["g"] = np.where(infinite, 0.0, g)


def _identify_units(s: WorkingSample, c: _Columns) -> None:
    """Panels: unit codes, no unit twice in a period, each unit's cohort (derived from the treatment indicator when
    given), constant within units as the cluster is."""
    unit = present(c.unit, "unit column")
    unit_codes, unit_uniques = _factorize_sorted(s["unit"])
    n_units = len(unit_uniques)
    g = s.get("g")
    what = f"cohort column '{c.cohort}'"
    unit_rows: np.ndarray | None = None
    if g is not None and c.treatment is None and _compiled_units(unit_codes, n_units * s.n_periods):
        # the common case of long data: both checks and each unit's cohort in one compiled pass over the rows
        from cteimpact.did.panelscan import scan_units

        unit_rows = np.zeros(n_units, dtype=np.int64)
        n_dup_rows, n_dup_units, n_bad, unit_cohort = scan_units(unit_codes, s.t_idx, g, n_units, s.n_periods,
                                                                 unit_rows=unit_rows)
        _raise_duplicates(n_dup_rows, n_dup_units, unit, c.time)
        _raise_not_constant(n_bad, n_units, what, unit)
    else:
        _check_duplicates(unit_codes, s.t_idx, n_units, s.n_periods, unit, c.time)
        if c.treatment is not None:
            g = _cohort_from_treatment(s["d"], s.t_values, unit_codes, n_units, c.treatment, unit)
        unit_cohort = _constant_within(present(g, "cohort"), unit_codes, n_units, what, unit)
    cluster_values = s.get("cluster")
    if cluster_values is not None:
        ccodes_row, _ = pd.factorize(pd.Series(cluster_values), sort=True)
        _constant_within(ccodes_row.astype(float), unit_codes, n_units, f"cluster column '{c.cluster}'", unit)
    s.set_units(unit_codes, unit_uniques, unit_cohort)
    s.unit_rows = unit_rows  # counted by the compiled pass (balancing reads it); None otherwise
    # each unit's identifier and cohort are now held once per unit (the treatment indicator was used up)
    for name in ("unit", "g", "d"):
        s.rows.pop(name, None)


def _estimable_groups(s: WorkingSample, *, control: str, anticipation: int,
                      only_comparison: set[float]) -> np.ndarray:
    """Treated cohorts with a pre-treatment period (and not kept only as comparisons); refuses designs with two
    periods fewer, no such cohort, or no comparison units."""
    n_t = s.n_periods
    if n_t < 2:
        raise DesignError(f"the data have {n_t} period after the exclusions; difference-in-differences needs at "
                          "least two")
    t_first = float(s.times[0])
    cohort_values = s.cohort_index()[0]
    groups = np.array([c for c in cohort_values
                       if c > 0 and c > t_first + anticipation and float(c) not in only_comparison])
    if groups.size == 0:
        raise DesignError("no treated cohort has a pre-treatment period in the data: nothing to estimate (the cohort "
                          "column must hold the first treated period, 0 for never treated)")
    comparison_possible = np.any(s.cohorts == 0) or (control == "notyet" and cohort_values.size > 1)
    if not comparison_possible:
        raise DesignError("no comparison units: every unit belongs to one treated cohort; never-treated or "
                          "later-treated units are needed")
    return groups


def _clusters(s: WorkingSample, mode: DataMode, cluster: str | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Cluster code of each unit (repeated cross-sections: of each row) and the cluster labels used; refuses a
    single cluster and warns about few."""
    cluster_values = s.get("cluster")
    if cluster_values is None:
        return None, None
    codes, labels = pd.factorize(pd.Series(cluster_values), sort=True)
    if mode == "rcs":
        row_cluster_units = codes
    else:
        unit_cl = np.empty(s.n_units, dtype=np.int64)
        unit_cl[s.codes] = codes
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
        s.warn(FewClustersWarning,
               f"only {cluster_labels.size} clusters in '{cluster}': analytic cluster-robust standard errors "
               "over-reject with few clusters; use the wild cluster bootstrap for the aggregated effects "
               "(wild_bootstrap = 999 in [design.inference]; command line: --wild-bootstrap 999; Python: "
               "fit(wild_bootstrap=999))", note=False)
    return row_cluster_units, cluster_labels


@dataclass
class _Layout:
    """The influence-function rows ordered by cohort, their segments, and the wide (balanced panel) or observation
    arrays; ``collapse`` is the sample-flow aggregation step (units), if any."""

    row_cohort: np.ndarray
    row_weight: np.ndarray
    row_id: np.ndarray
    row_cluster: np.ndarray | None
    seg_bounds: np.ndarray
    seg_cohort: np.ndarray
    seg_time: np.ndarray
    y_wide: np.ndarray | None = None
    w_wide: np.ndarray | None = None
    x_wide: np.ndarray | None = None
    obs: tuple[np.ndarray | None, ...] = (None, None, None, None, None)
    obs_bounds: dict[float, tuple[int, int]] = field(default_factory=dict)
    collapse: tuple[int, str, str] | None = None
    outcome_summary: tuple[int, float, float, float, float] | None = None


def _layout(s: WorkingSample, mode: DataMode, row_cluster: np.ndarray | None, k_cov: int) -> _Layout:
    if mode == "panel":
        return _wide_layout(s, row_cluster, k_cov)
    if s.get("w") is None:
        s.rows["w"] = np.ones(s.size)
    return _observation_layout(s, mode, row_cluster, k_cov)


def _compiled_units(unit_codes: np.ndarray, n_cells: int) -> bool:
    """Whether the unit checks run as one compiled pass (:func:`cteimpact.did.panelscan.scan_units`): long data
    (:data:`~cteimpact.limits.COMPILED_FROM` rows or more) with integer unit codes and at most
    :data:`~cteimpact.did.panelscan.MAX_CELLS` unit × period cells (the caller also needs a cohort column, not a
    treatment indicator); numpy otherwise."""
    if unit_codes.size < COMPILED_FROM or unit_codes.dtype.kind not in "iu":
        return False
    from cteimpact.did.panelscan import MAX_CELLS

    return n_cells <= MAX_CELLS


def _wide_layout(s: WorkingSample, row_cluster: np.ndarray | None, k_cov: int) -> _Layout:
    """Balanced panel: units sorted by cohort, outcomes (weights, covariates) as unit × period arrays."""
    n_units, n_t, t_idx = s.n_units, s.n_periods, s.t_idx
    unit_cohort = s.cohorts
    order = _stable_order(unit_cohort, *s.cohort_index())
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    w = s.get("w")
    if w is None and not k_cov and s.codes.dtype.kind in "iu" and s.codes.size >= COMPILED_FROM:
        # the common case of long data: the outcomes scattered in one compiled pass (no array of positions)
        from cteimpact.did.panelscan import scatter_outcomes

        y_full, summary = scatter_outcomes(s["y"], s.codes, t_idx, inv, n_t)
        return _wide_result(s, order, unit_cohort, row_cluster, y_full, np.ones((n_units, 1)), False, None,
                            summary)
    # each row's place in the unit × period arrays (flat positions scatter faster than pairs of indices)
    cell = inv[s.codes]
    cell *= n_t
    cell += t_idx
    # outcomes column-major (each period contiguous), as the compiled scatter gives them
    y_by_period = np.full((n_t, n_units), np.nan)
    y_by_period.reshape(-1)[(cell % n_t) * n_units + cell // n_t] = s["y"]
    y_full = y_by_period.T
    if w is None:  # unweighted: every weight is one, no unit × period array of them
        w_mat = np.ones((n_units, 1))
        varying_w = False
    else:
        w_mat = np.empty((n_units, n_t))
        w_mat.reshape(-1)[cell] = w
        varying_w = bool(np.any(w_mat != w_mat[:, :1]))
    x_wide: np.ndarray | None = None
    if k_cov:
        # covariates period-major: row (u, t) of the unit × period order goes to (t, u)
        x_full = np.empty((n_t, n_units, k_cov))
        cell_t = ((cell % n_t) * n_units + cell // n_t) * k_cov
        flat = x_full.reshape(-1)  # a view: x_full is contiguous
        for j in range(k_cov):
            flat[cell_t + j] = s[f"x:{j}"]
        x_wide = x_full
    return _wide_result(s, order, unit_cohort, row_cluster, y_full, w_mat, varying_w, x_wide)


def _wide_result(s: WorkingSample, order: np.ndarray, unit_cohort: np.ndarray, row_cluster: np.ndarray | None,
                 y_full: np.ndarray, w_mat: np.ndarray, varying_w: bool, x_wide: np.ndarray | None,
                 outcome_summary: tuple[int, float, float, float, float] | None = None) -> _Layout:
    n_units, n_t = s.n_units, s.n_periods
    row_cohort = unit_cohort[order]
    seg_cohort, seg_bounds = _segments(row_cohort)
    return _Layout(row_cohort=row_cohort, row_weight=w_mat[:, 0].copy(), row_id=np.asarray(s.uniques)[order],
                   row_cluster=row_cluster[order] if row_cluster is not None else None, seg_bounds=seg_bounds,
                   seg_cohort=seg_cohort, seg_time=np.full(seg_cohort.size, -1, dtype=np.int64), y_wide=y_full,
                   w_wide=w_mat if varying_w else None, x_wide=x_wide, outcome_summary=outcome_summary,
                   collapse=(n_units, f"balanced panel of {n_units:,} units × {n_t} periods", "units"))


def _observation_layout(s: WorkingSample, mode: DataMode, row_cluster: np.ndarray | None, k_cov: int) -> _Layout:
    """Unbalanced panels (rows = units, sorted by cohort) and repeated cross-sections (rows = observations, sorted
    by cohort and period): the observations sorted by cohort with their row, period, weight and covariates."""
    n_units, n_t, t_idx, w = s.n_units, s.n_periods, s.t_idx, s["w"]
    unit_cohort = s.cohorts
    obs_cohort = unit_cohort[s.codes] if mode == "unbalanced" else unit_cohort
    collapse = None
    if mode == "unbalanced":
        order_units = np.argsort(unit_cohort, kind="stable")
        inv = np.empty_like(order_units)
        inv[order_units] = np.arange(order_units.size)
        row_of_obs = inv[s.codes]
        obs_order = np.lexsort((t_idx, row_of_obs))
        row_cohort = unit_cohort[order_units]
        row_id = np.asarray(s.uniques)[order_units]
        if row_cluster is not None:
            row_cluster = row_cluster[order_units]
        # aggregation weight of a unit: mean of its weights over its rows (R did)
        row_weight = (np.bincount(row_of_obs, weights=w, minlength=n_units)
                      / np.bincount(row_of_obs, minlength=n_units))
        seg_cohort, seg_bounds = _segments(row_cohort)
        seg_time = np.full(seg_cohort.size, -1, dtype=np.int64)
        collapse = (n_units, f"unbalanced panel of {n_units:,} units in {n_t} periods", "units")
    else:
        obs_order = np.lexsort((t_idx, obs_cohort))
        row_cohort = obs_cohort[obs_order]
        row_id = np.asarray(s.uniques)[obs_order]
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
    ox = np.column_stack([s[f"x:{j}"][obs_order] for j in range(k_cov)]) if k_cov else None
    oc = obs_cohort[obs_order]
    obs_bounds = {float(c): (int(np.searchsorted(oc, c, side="left")), int(np.searchsorted(oc, c, side="right")))
                  for c in np.unique(oc)}
    return _Layout(row_cohort=row_cohort, row_weight=row_weight, row_id=row_id, row_cluster=row_cluster,
                   seg_bounds=seg_bounds, seg_cohort=seg_cohort, seg_time=seg_time,
                   obs=(s["y"][obs_order], t_idx[obs_order].astype(np.int64), row_of_obs[obs_order], w[obs_order],
                        ox),
                   obs_bounds=obs_bounds, collapse=collapse)


def _warn_small_cohorts(s: WorkingSample, row_cohort: np.ndarray, mode: DataMode, k_cov: int) -> None:
    """Warn about cohorts with very few units (per period in repeated cross-sections)."""
    n_t = s.n_periods
    sizes = _sorted_counts(row_cohort)
    per_period = {c: int(np.ceil(k / n_t)) for c, k in sizes.items()} if mode == "rcs" else sizes
    small = [c for c, k in per_period.items() if k < k_cov + 5]
    if small:
        s.warn(SmallSampleWarning,
               "some cohorts have very few units, which makes their group-time effects imprecise: "
               + ", ".join(f"{'never treated' if c == 0 else f'{c:g}'} ({per_period[c]})" for c in small),
               note=False)


def _students_and_observations(s: WorkingSample, c: _Columns, *, balanced: bool
                               ) -> tuple[dict[float, np.ndarray], ObservationStats]:
    """Students behind each cohort and period (small-cell suppression), and every row used with its students'
    counts and standard deviations (descriptive statistics, effect sizes). In a balanced panel of rows that are
    students, every unit has one row in every period: a cohort's count in each period is its number of units."""
    n_t, t_idx = s.n_periods, s.t_idx
    n_st = s.get("n_st")
    aux = {name[4:]: v for name, v in s.rows.items() if name.startswith("aux:")}
    # one pass: each row's (cohort, period) cell; the sums run over the rows in their order, as per-cohort sums do
    cohort_values, code_of_unit = s.cohort_index()
    if balanced and n_st is None:
        per_cohort = np.bincount(code_of_unit, minlength=cohort_values.size)
        totals = np.repeat(per_cohort.astype(float)[:, None], n_t, axis=1)
        seen = per_cohort > 0
    else:
        row_code = code_of_unit[s.codes] if s.panel else code_of_unit
        cell = row_code.astype(np.int64) * n_t
        cell += t_idx
        n_cells = cohort_values.size * n_t
        totals = (np.bincount(cell, minlength=n_cells) if n_st is None
                  else np.bincount(cell, weights=n_st, minlength=n_cells)).astype(float).reshape(-1, n_t)
        seen = np.bincount(row_code, minlength=cohort_values.size) > 0
    cohort_period_students = {float(k): totals[i] for i, k in enumerate(cohort_values) if seen[i]}
    counts_out = aux.get("n", n_st) if "sd" in aux else None
    observations = ObservationStats(
        level="students" if ("sd" in aux or n_st is None) else "unit_means",
        unit_cohort=s.cohorts.astype(float, copy=False), period=np.asarray(t_idx),
        unit=np.asarray(s.codes), outcome=np.asarray(s["y"], dtype=float),
        n=None if counts_out is None else np.asarray(counts_out, dtype=float), sd=aux.get("sd"),
        students=None if n_st is None else np.asarray(n_st, dtype=float), outcome_sd=c.outcome_sd,
        outcome_n=c.outcome_n if "n" in aux else (c.students if "sd" in aux else None), students_column=c.students)
    return cohort_period_students, observations


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


def _stable_order(values: np.ndarray, distinct: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` of an array with few distinct values (``codes`` index ``distinct``):
    the codes as small integers, which numpy sorts stably by radix sort (the same order)."""
    if distinct.size <= 255:
        return np.argsort(codes.astype(np.uint8), kind="stable")
    return np.argsort(values, kind="stable")


def _sorted_counts(sorted_values: np.ndarray) -> dict[float, int]:
    """``{value: count}`` of a sorted array (one pass over its changes, no sort)."""
    values, bounds = _segments(sorted_values)
    return {float(v): int(k) for v, k in zip(values, np.diff(bounds), strict=True)}




def _factorize_sorted(ids: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes of ``ids`` into their sorted distinct values, and those values (``pd.factorize(sort=True)``).

    Integer identifiers within a span of a few times their number are ranked through a table of the span (no
    hashing, no sort); others are hashed by :func:`pandas.factorize`."""
    if ids.dtype.kind in "iu" and ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        span = hi - lo + 1
        if span <= 4 * ids.size + 1024 and hi < 2 ** 62:
            if ids.dtype.kind == "i" and ids.ndim == 1 and ids.size >= COMPILED_FROM:
                from cteimpact.scan import seen_offsets, take_offsets

                seen = seen_offsets(ids, lo, span)
                rank = (np.cumsum(seen, dtype=np.int64) - 1).astype(index_dtype(span))
                uniques = pd.Index((np.flatnonzero(seen) + lo).astype(ids.dtype))
                return take_offsets(ids, lo, rank), uniques
            pos = ids.astype(np.int64, copy=False) - lo
            seen = np.zeros(span, dtype=bool)
            seen[pos] = True
            rank = (np.cumsum(seen, dtype=np.int64) - 1).astype(index_dtype(span))
            uniques = pd.Index((np.flatnonzero(seen) + lo).astype(ids.dtype))
            return rank[pos], uniques
    codes, uniques = pd.factorize(pd.Series(ids), sort=True)
    return codes, uniques


def _segments(row_cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    change = np.flatnonzero(np.diff(row_cohort) != 0) + 1
    bounds = np.concatenate([[0], change, [row_cohort.size]]).astype(np.int64)
    return row_cohort[bounds[:-1]], bounds


def _check_duplicates(unit_codes: np.ndarray, t_idx: np.ndarray, n_units: int, n_t: int, unit: str,
                      time: str) -> None:
    key = unit_codes.astype(np.int64, copy=False) * n_t
    key += t_idx
    if n_units * n_t <= 200_000_000:
        counts = np.bincount(key, minlength=n_units * n_t)
        n_dup_rows = int((counts[counts > 1] - 1).sum())
        n_dup_units = int(np.unique(np.flatnonzero(counts > 1) // n_t).size) if n_dup_rows else 0
    else:
        s = np.sort(key)
        rep = s[1:] == s[:-1]
        n_dup_rows = int(rep.sum())
        n_dup_units = int(np.unique(s[1:][rep] // n_t).size) if n_dup_rows else 0
    _raise_duplicates(n_dup_rows, n_dup_units, unit, time)


def _raise_duplicates(n_dup_rows: int, n_dup_units: int, unit: str, time: str | None) -> None:
    if n_dup_rows:
        raise DuplicateRowsError(
            f"{n_dup_rows:,} rows repeat a ({unit}, {time}) combination ({n_dup_units:,} units affected); each unit "
            "must appear once per period — aggregate the rows first, or treat them as repeated cross-sections "
            "(panel = false in [design]; command line: --no-panel; Python: panel=False)")


def _constant_within(values: np.ndarray, unit_codes: np.ndarray, n_units: int, what: str, unit: str) -> np.ndarray:
    first = np.empty(n_units)
    first[unit_codes] = values
    differ = values != first[unit_codes]
    _raise_not_constant(int(np.unique(unit_codes[differ]).size) if differ.any() else 0, n_units, what, unit)
    return first


def _raise_not_constant(n_bad: int, n_units: int, what: str, unit: str) -> None:
    if n_bad:
        raise InvalidValueError(
            f"{what} changes within a unit for {n_bad:,} of {n_units:,} units ('{unit}'); it must be constant within "
            "each unit (the treatment is absorbing: a unit's cohort is its first treated period)")


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

"""The RD analysis sample: columns checked, rows excluded with their reasons, arrays ready for the estimators.

Every exclusion (a sample restriction, a missing running variable, cutoff, treatment, covariate or weight, the
donut around the cutoff, a missing outcome) is one step of the :class:`~cteimpact.data.SampleFlow`. Design
problems that make an RD estimate impossible (a constant or non-numeric running variable, a cutoff outside the
data, no observations on one side, a treatment that never changes, missing cluster identifiers) raise typed
errors naming the column and the counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cteimpact.data.restrictions import apply_restrictions
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.validation import coerce_kind
from cteimpact.errors import DataValidationError, DesignError, MissingColumnError, OptionError

__all__ = ["OutcomeSample", "RDSample", "TakeUpRange", "check_design_counts", "format_value", "prepare_sample"]


def format_value(value: object) -> str:
    """A value as it appears in labels: whole numbers without decimals (``1.0`` → ``1``)."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(bool(value)))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if np.isfinite(v) and v == round(v) and abs(v) < 1e15:
            return str(round(v))
        return f"{v:g}"
    return str(value)


@dataclass(frozen=True)
class OutcomeSample:
    """Arrays for one outcome: rows of the common sample where the outcome is present."""

    outcome: str
    y: np.ndarray
    keep: np.ndarray
    """Boolean mask over the common sample's rows."""
    flow: SampleFlow


@dataclass(frozen=True)
class RDSample:
    """The common analysis sample of an RD design (before outcome-specific exclusions).

    Attributes
    ----------
    frame
        The retained rows (only the columns the analysis uses), in the original order.
    x
        Running variable as used by the estimators: the raw score, or ``score - cutoff`` for pooled
        multi-cutoff designs (then ``cutoff`` is 0).
    cutoff
        The cutoff on the scale of ``x``.
    raw_running, row_cutoffs
        Multi-cutoff designs: the raw score and each row's cutoff.
    fuzzy, covariates, weights
        Treatment take-up, adjustment covariates (2-D) and weights, or ``None``.
    cluster
        Integer cluster codes (``pandas.factorize`` order of first appearance), or ``None``.
    flow
        Rows read, each exclusion and rows kept.
    """

    frame: pd.DataFrame
    running: str
    x: np.ndarray
    cutoff: float
    flow: SampleFlow
    raw_running: np.ndarray | None = None
    row_cutoffs: np.ndarray | None = None
    cutoff_column: str | None = None
    fuzzy: np.ndarray | None = None
    fuzzy_column: str | None = None
    covariates: np.ndarray | None = None
    covariate_columns: tuple[str, ...] = ()
    weights: np.ndarray | None = None
    weights_column: str | None = None
    cluster: np.ndarray | None = None
    cluster_column: str | None = None
    donut: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def n(self) -> int:
        return int(self.x.size)

    def side_counts(self, mask: np.ndarray | None = None) -> tuple[int, int]:
        """Observations below and at-or-above the cutoff."""
        x = self.x if mask is None else self.x[mask]
        below = int(np.count_nonzero(x < self.cutoff))
        return below, int(x.size - below)

    def outcome(self, column: str) -> OutcomeSample:
        """The outcome's values and the flow after excluding rows where it is missing.

        Raises
        ------
        MissingColumnError, ColumnTypeError, AllMissingError
            The outcome is not a column, is not numeric, or has no value.
        DesignError
            After excluding missing outcomes one side of the cutoff is empty.
        """
        if column not in self.frame.columns:
            raise MissingColumnError(column, list(self.frame.columns), role="outcome")
        values = coerce_kind(self.frame[column], "numeric", what=f"outcome column '{column}'").to_numpy(dtype=float)
        keep = ~np.isnan(values)
        n_missing = int(keep.size - keep.sum())
        flow = self.flow.exclude(n_missing, f"outcome '{column}' missing")
        below, above = self.side_counts(keep)
        if below == 0 or above == 0:
            side = "below" if below == 0 else "at or above"
            raise DesignError(
                f"outcome '{column}' has no non-missing value {side} the cutoff {format_value(self.cutoff)} "
                f"({below:,} below, {above:,} at or above after excluding {n_missing:,} rows with '{column}' missing)"
            )
        return OutcomeSample(column, values, keep, flow)


def _check_columns(frame: pd.DataFrame, columns: dict[str, str | None]) -> None:
    available = [str(c) for c in frame.columns]
    for role, col in columns.items():
        if col is not None and col not in frame.columns:
            raise MissingColumnError(col, available, role=role)


def prepare_sample(
    frame: pd.DataFrame,
    *,
    running: str,
    cutoff: float | None,
    cutoff_column: str | None = None,
    fuzzy: str | None = None,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    keep_columns: Sequence[str] = (),
    where: Sequence[str] = (),
    donut: float = 0.0,
    source: str = "data frame",
    flow: SampleFlow | None = None,
    missing_cluster: Literal["error", "drop"] = "error",
) -> RDSample:
    """Build the common RD sample (see the module docstring).

    Parameters
    ----------
    frame
        The data (not modified).
    running, cutoff
        Running-variable column and cutoff. With ``cutoff_column`` (multi-cutoff data) ``cutoff`` must be
        ``None`` or 0: the running variable is normalised to ``running - cutoff_column`` with cutoff 0.
    fuzzy, cluster, covariates, weights
        Optional columns: treatment take-up, cluster identifier, adjustment covariates, weights.
    keep_columns
        Further columns to carry along (outcomes, subgroup and baseline columns); not checked for missing values.
    where
        Sample restrictions (``"cohort >= award_year"``), each a flow step.
    donut
        Exclude observations with ``|x - cutoff| < donut``.
    flow
        Flow to continue (for example a :class:`~cteimpact.data.StudentData`'s); a new one otherwise.
    missing_cluster
        ``"error"`` (default): a missing cluster identifier is an error; ``"drop"``: such rows are excluded.
    """
    _check_options(frame, cutoff=cutoff, cutoff_column=cutoff_column, donut=donut, missing_cluster=missing_cluster)
    covariates = list(dict.fromkeys(covariates))
    roles: dict[str, str | None] = {"running variable": running, "cutoff": cutoff_column, "treatment": fuzzy,
                                    "cluster": cluster, "weights": weights}
    for cov in covariates:
        roles[f"covariate {cov}"] = cov
    _check_columns(frame, roles)
    for col in keep_columns:
        _check_columns(frame, {"analysis column": col})
    used = [c for c in (running, cutoff_column, fuzzy, cluster, weights) if c is not None]
    used += covariates + [c for c in keep_columns if c not in used and c not in covariates]
    # restrictions may refer to any column of the data; select columns afterwards
    fl: SampleFlow = flow if flow is not None else SampleFlow(source, len(frame))
    if fl.rows_used != len(frame):
        raise OptionError(f"the sample fl has {fl.rows_used:,} rows but the data have {len(frame):,}")
    work = frame
    if where:
        work, fl = apply_restrictions(work, fl, list(where))
    work = work.loc[:, list(dict.fromkeys(used))]
    if len(work) == 0:
        raise DesignError(f"no rows left after the sample restrictions ({'; '.join(where)})")
    rows = _Rows.running_rows(work, fl, running=running, cutoff=cutoff, cutoff_column=cutoff_column)
    if fuzzy is not None:
        rows.exclude_missing(fuzzy, "numeric", f"treatment '{fuzzy}'")
    for cov in covariates:
        rows.exclude_missing(cov, "numeric", f"covariate '{cov}'")
    if weights is not None:
        rows.exclude_missing(weights, "nonnegative", f"weights '{weights}'")
    if cluster is not None:
        rows.exclude_missing_clusters(cluster, missing_cluster)
    if donut > 0:
        rows.drop(np.abs(rows.x - rows.cutoff) >= donut, f"donut: |{running} - cutoff| < {format_value(donut)}")
    # read after every exclusion, so that they line up with x
    work, x, c = rows.work, rows.x, rows.cutoff
    fuzzy_values = None if fuzzy is None else work[fuzzy].to_numpy(dtype=float)
    cov_matrix = None
    if covariates:
        cov_matrix = np.column_stack([work[c_].to_numpy(dtype=float) for c_ in covariates])
    weight_values = None if weights is None else work[weights].to_numpy(dtype=float)
    cluster_codes = None
    if cluster is not None:
        codes, _ = pd.factorize(work[cluster], sort=False)
        cluster_codes = codes.astype(np.int64)

    _check_design(x, c, running, fuzzy, fuzzy_values, weights, weight_values, cutoff_column, donut)
    return RDSample(
        frame=work, running=running, x=x, cutoff=c, flow=rows.flow, raw_running=rows.raw_running,
        row_cutoffs=rows.row_cutoffs, cutoff_column=cutoff_column, fuzzy=fuzzy_values, fuzzy_column=fuzzy,
        covariates=cov_matrix, covariate_columns=tuple(covariates), weights=weight_values, weights_column=weights,
        cluster=cluster_codes, cluster_column=cluster, donut=float(donut),
    )


def _check_options(frame: Any, *, cutoff: float | None, cutoff_column: str | None, donut: float,
                   missing_cluster: str) -> None:
    """The options of :func:`prepare_sample` that need no data."""
    if not isinstance(frame, pd.DataFrame):
        raise OptionError(f"data must be a pandas DataFrame, got {type(frame).__name__}")
    if cutoff_column is None and cutoff is None:
        raise OptionError(
            "give the cutoff (cutoff=...) or, for multi-cutoff data, the cutoff column (cutoff_column=...)"
        )
    if cutoff_column is not None and cutoff not in (None, 0, 0.0):
        raise OptionError(
            f"cutoff={cutoff} and cutoff_column='{cutoff_column}' were both given; with a cutoff column the running "
            "variable is normalised (running - cutoff) and the pooled cutoff is 0"
        )
    if cutoff is not None and not np.isfinite(float(cutoff)):
        raise OptionError(f"cutoff must be a finite number, got {cutoff}")
    if not (donut >= 0 and np.isfinite(donut)):
        raise OptionError(f"donut must be a non-negative number, got {donut}")
    if missing_cluster not in ("error", "drop"):
        raise OptionError(f"missing_cluster must be 'error' or 'drop', got {missing_cluster!r}")


@dataclass
class _Rows:
    """The analysis rows while they are being built: the frame (our own copy once a column is coerced), the flow,
    the running variable (normalised by the cutoff column, if any) and its raw values and cutoffs, excluded
    together."""

    work: pd.DataFrame
    flow: SampleFlow
    x: np.ndarray
    cutoff: float
    raw_running: np.ndarray | None = None
    row_cutoffs: np.ndarray | None = None

    @classmethod
    def running_rows(cls, work: pd.DataFrame, fl: SampleFlow, *, running: str, cutoff: float | None,
                     cutoff_column: str | None) -> _Rows:
        """The rows with a running variable (and a cutoff, with a cutoff column), normalised by the cutoff
        column."""
        run_values = coerce_kind(work[running], "numeric", what=f"running variable '{running}'")
        keep = run_values.notna().to_numpy()
        work, fl = fl.apply(work, keep, f"running variable '{running}' missing")
        x = run_values[keep].to_numpy(dtype=float)
        if cutoff_column is None:
            return cls(work, fl, x, 0.0 if cutoff is None else float(cutoff))
        cut_values = coerce_kind(work[cutoff_column], "numeric", what=f"cutoff column '{cutoff_column}'")
        keep = cut_values.notna().to_numpy()
        work, fl = fl.apply(work, keep, f"cutoff '{cutoff_column}' missing")
        raw_running = x[keep].copy()
        row_cutoffs = cut_values.to_numpy(dtype=float)[keep]
        return cls(work, fl, raw_running - row_cutoffs, 0.0, raw_running, row_cutoffs)

    def drop(self, keep: np.ndarray, reason: str) -> None:
        """Exclude the rows where ``keep`` is false from the frame, the flow and the running-variable arrays."""
        self.work, self.flow = self.flow.apply(self.work, keep, reason)
        self.x = self.x[keep]
        if self.raw_running is not None and self.row_cutoffs is not None:
            self.raw_running = self.raw_running[keep]
            self.row_cutoffs = self.row_cutoffs[keep]

    def exclude_missing(self, col: str, kind: Literal["numeric", "nonnegative"], what: str) -> None:
        """Coerce ``col`` in place (``work`` is our own copy) and exclude the rows where it is missing."""
        values = coerce_kind(self.work[col], kind, what=what)
        self.work = self.work.assign(**{col: values})
        self.drop(values.notna().to_numpy(), f"{what} missing")

    def exclude_missing_clusters(self, cluster: str, missing_cluster: str) -> None:
        """Rows with a missing cluster identifier: an error, or (``missing_cluster="drop"``) excluded."""
        missing = self.work[cluster].isna().to_numpy()
        n_missing = int(missing.sum())
        if n_missing and missing_cluster == "error":
            raise DataValidationError(
                f"cluster column '{cluster}' has {n_missing:,} missing values among {len(self.work):,} analysis "
                "rows; cluster-robust inference needs every row's cluster: fill them, drop those rows with "
                f"--where \"`{cluster}` is not missing\" (missing_cluster='drop'), or choose another cluster column"
            )
        if n_missing:
            self.drop(~missing, f"cluster '{cluster}' missing")


def _check_design(x: np.ndarray, c: float, running: str, fuzzy: str | None, fuzzy_values: np.ndarray | None,
                  weights: str | None, weight_values: np.ndarray | None, cutoff_column: str | None,
                  donut: float) -> None:
    n = x.size
    take_up = None
    if fuzzy is not None and fuzzy_values is not None and n:
        left, right = fuzzy_values[x < c], fuzzy_values[x >= c]
        take_up = TakeUpRange(int(np.unique(fuzzy_values).size), float(fuzzy_values[0]),
                              _range(left), _range(right))
    check_design_counts(n, (float(np.min(x)), float(np.max(x))) if n else (math.nan, math.nan),
                        int(np.count_nonzero(x < c)), c, running=running, cutoff_column=cutoff_column, donut=donut,
                        fuzzy=fuzzy, take_up=take_up)
    if weights is not None and weight_values is not None and not np.any(weight_values > 0):
        raise DesignError(f"weights '{weights}' are zero in all {n:,} analysis rows")


def _range(values: np.ndarray) -> tuple[float, float]:
    return (float(np.min(values)), float(np.max(values))) if values.size else (math.nan, math.nan)


@dataclass(frozen=True)
class TakeUpRange:
    """The take-up of a fuzzy design's analysis rows, as :func:`check_design_counts` reads it."""

    distinct: int
    """Distinct values."""
    first: float
    """The value, when there is one."""
    below: tuple[float, float]
    """(min, max) below the cutoff."""
    above: tuple[float, float]
    """(min, max) at or above the cutoff."""


def check_design_counts(n: int, extremes: tuple[float, float], below: int, c: float, *, running: str,
                        cutoff_column: str | None, donut: float, fuzzy: str | None = None,
                        take_up: TakeUpRange | None = None) -> None:
    """The design's refusals from counts of its analysis rows (before any outcome's missing values): ``n`` rows, the
    running variable's (min, max), the rows ``below`` the cutoff ``c`` and, for a fuzzy design, the take-up.

    Raises
    ------
    DesignError
        No row; a constant running variable; a cutoff outside its range, at its largest value, or with a side
        empty; a take-up that never changes or does not change at the cutoff.
    """
    what = f"running variable '{running}'" + (f" (normalised by '{cutoff_column}')" if cutoff_column else "")
    if n == 0:
        raise DesignError(f"no observations left for the {what}")
    lo, hi = extremes
    if lo == hi:
        raise DesignError(f"the {what} is constant ({format_value(lo)} in all {n:,} rows); an RD design needs a "
                          "running variable that varies around the cutoff")
    above = n - below
    cut = format_value(c)
    if c < lo or c > hi:
        # the extreme values are not quoted: the column may hold identifiers (--running student_id) and a minimum
        # or maximum is one student's value
        raise DesignError(
            f"the cutoff {cut} is outside the range of the {what}: all {n:,} values are "
            f"{'above' if c < lo else 'below'} it; check the cutoff value or its units"
        )
    if below == 0 or above == 0:
        side = "below" if below == 0 else "at or above"
        raise DesignError(
            f"no observations {side} the cutoff {cut} of the {what} ({below:,} below, {above:,} at or above"
            + (f", after the donut of {format_value(donut)}" if donut > 0 else "")
            + "); an RD estimate needs both sides"
        )
    if c == hi:
        raise DesignError(
            f"the cutoff {cut} equals the largest value of the {what}: only {above:,} observations sit at the "
            "cutoff and none above it"
        )
    if fuzzy is not None and take_up is not None:
        if take_up.distinct == 1:
            raise DesignError(
                f"treatment '{fuzzy}' never changes: all {n:,} analysis rows have the value "
                f"{format_value(take_up.first)}; a fuzzy design needs take-up that jumps at the cutoff (drop --fuzzy "
                "for the sharp estimate)"
            )
        (l_lo, l_hi), (r_lo, r_hi) = take_up.below, take_up.above
        if l_lo == l_hi and r_lo == r_hi and l_lo == r_lo:
            raise DesignError(
                f"treatment '{fuzzy}' does not change at the cutoff: it is {format_value(l_lo)} on both sides"
            )

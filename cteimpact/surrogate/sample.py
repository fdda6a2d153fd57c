"""The samples of the surrogate index: columns checked, rows excluded with their reasons, arrays ready to fit.

Three samples meet in a surrogate-index analysis: the **observational** sample where the index is fitted (surrogates
and the long-run outcome both seen), the **experimental** sample where it is applied (treatment and surrogates seen),
and, for the diagnostic, **older cohorts** where treatment, surrogates and the long-run outcome are all seen. Each
is read here the same way:

1. the data: a DataFrame (a new :class:`~cteimpact.data.SampleFlow` is started) or a
   :class:`~cteimpact.data.StudentData` (its flow is continued);
2. every named column checked present (:class:`~cteimpact.surrogate.errors.SampleColumnError` names the sample,
   the column and its role) and numeric (:func:`~cteimpact.data.validation.coerce_kind`, which also refuses a
   column with no value at all, naming it and the row count);
3. the sample restrictions (``where``), each a step of the flow;
4. a treatment indicator, when there is one: 0/1, rows without it excluded, both arms present; then an arm in
   which no row has every surrogate (covariate, outcome) is refused by
   :class:`~cteimpact.surrogate.errors.EmptyArmError`, which names the columns missing in that arm and the counts;
5. rows missing a value, one flow step per column, in the order outcome, surrogates, covariates, adjustment
   covariates, weights (and zero weights), cluster.

No row is dropped without a flow step; the caller's data are never modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from cteimpact.data.restrictions import apply_restrictions
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.data.student_data import StudentData, frame_and_flow
from cteimpact.data.validation import coerce_kind
from cteimpact.errors import DataDroppedWarning, DesignError, OptionError
from cteimpact.surrogate.errors import EmptyArmError, SampleColumnError, TooFewRowsError

__all__ = ["ARM_NAMES", "Column", "PreparedSample", "prepare_sample"]

ARM_NAMES: Mapping[int, str] = {1: "treated", 0: "comparison"}
"""How the two arms are named in messages and results."""

_WARN_DEPTH = 5
"""Frames between the warning and the user's call: this check, :func:`prepare_sample`, the comparison
(``compare_arms``), the public function (``surrogate_effect``, ``validate_on_older_cohorts``)."""

Role = Literal["long-run outcome", "surrogate", "covariate", "adjustment covariate"]


@dataclass(frozen=True)
class Column:
    """A numeric column the analysis needs, with its role (for messages and flow steps)."""

    name: str
    role: Role

    @property
    def described(self) -> str:
        """``"<role> '<name>'"``, as messages and flow steps name the column."""
        return f"{self.role} '{self.name}'"


@dataclass(frozen=True, eq=False)
class PreparedSample:
    """The rows of one sample after every check and exclusion.

    Attributes
    ----------
    sample
        Which sample (``"observational sample"``...), for messages.
    values
        Column → values of the rows kept (``float64``, no missing value).
    index
        The data's index labels of the rows kept, in their original order.
    flow
        Rows read, each exclusion with its reason and count, rows kept.
    treatment
        0/1 treatment of each row kept, or ``None``.
    treatment_column
        Its column name.
    weights
        Positive weights of the rows kept, or ``None``.
    weights_column
        Its column name.
    cluster
        Cluster codes ``0 … G−1`` (order of first appearance), or ``None``.
    cluster_column
        Its column name.
    """

    sample: str
    values: Mapping[str, np.ndarray]
    index: pd.Index
    flow: SampleFlow
    treatment: np.ndarray | None = None
    treatment_column: str | None = None
    weights: np.ndarray | None = None
    weights_column: str | None = None
    cluster: np.ndarray | None = None
    cluster_column: str | None = None

    @property
    def n(self) -> int:
        """Rows kept."""
        return int(self.index.size)

    @property
    def n_clusters(self) -> int | None:
        """Clusters among the rows kept (``None`` without clustering)."""
        return None if self.cluster is None else int(self.cluster.max()) + 1

    def matrix(self, columns: Sequence[str]) -> np.ndarray:
        """The named columns side by side (``n × len(columns)``)."""
        if not columns:
            return np.empty((self.n, 0))
        return np.column_stack([self.values[c] for c in columns])

    def arm_counts(self) -> dict[str, int]:
        """Rows kept in each arm (treated first); empty without a treatment."""
        if self.treatment is None:
            return {}
        n1 = int(np.count_nonzero(self.treatment == 1))
        return {ARM_NAMES[1]: n1, ARM_NAMES[0]: self.n - n1}


def _check_present(frame: pd.DataFrame, named: Sequence[tuple[str, str | None]], *, sample: str) -> None:
    available = [str(c) for c in frame.columns]
    for role, col in named:
        if col is not None and col not in frame.columns:
            raise SampleColumnError(col, available, role, sample=sample)


def _numeric(frame: pd.DataFrame, column: str, what: str, *,
             kind: Literal["numeric", "nonnegative", "binary"] = "numeric") -> np.ndarray:
    return coerce_kind(frame[column], kind, what=what).to_numpy(dtype=float)


@dataclass
class _Rows:
    """Rows while they are being excluded: the frame, the flow and the coerced arrays, filtered together."""

    frame: pd.DataFrame
    flow: SampleFlow
    arrays: dict[str, np.ndarray]

    def keep(self, mask: np.ndarray, reason: str) -> int:
        """Keep the rows of ``mask``; record the others for ``reason``; return how many were excluded."""
        self.frame, self.flow = self.flow.apply(self.frame, mask, reason)
        self.arrays = {k: v[mask] for k, v in self.arrays.items()}
        return int(mask.size - np.count_nonzero(mask))


def prepare_sample(
    data: pd.DataFrame | StudentData,
    *,
    sample: str,
    columns: Sequence[Column],
    treatment: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    where: Sequence[str] = (),
    source: str | None = None,
) -> PreparedSample:
    """Check one sample and build its arrays (see the module docstring for the order of the steps).

    Parameters
    ----------
    data
        The sample: a DataFrame or a :class:`~cteimpact.data.StudentData` (its flow is continued). Not modified.
    sample
        Its name in messages and in a new flow (``"observational sample"``...).
    columns
        The numeric columns needed, with their roles; rows missing any are excluded, one flow step per column.
    treatment
        0/1 treatment column, or ``None``.
    weights
        Non-negative weights column; rows with a zero weight are excluded (a step of the flow).
    cluster
        Cluster identifier column; rows without one are excluded.
    where
        Sample restrictions (:mod:`cteimpact.data.restriction_language`), applied first.
    source
        Name of the data in a new flow (default: ``sample``).

    Raises
    ------
    SampleColumnError
        A named column is not in the data.
    ColumnTypeError, AllMissingError, InvalidValueError
        A column is not numeric, has no value at all, or (treatment) is not 0/1, or (weights) is negative.
    DesignError
        No row left after the restrictions; a treatment with only one arm.
    EmptyArmError
        An arm in which no row has every needed column present (the message names the columns and counts).
    TooFewRowsError
        An arm left with fewer than two rows after the exclusions.
    """
    if isinstance(where, str):
        raise OptionError(f"sample restrictions must be a list of expressions, got the single string {where!r}")
    frame, flow = frame_and_flow(data, what=f"the {sample}", source=source or sample, context=f"{sample}: ")
    named: list[tuple[str, str | None]] = [(c.role, c.name) for c in columns]
    named += [("treatment", treatment), ("weights", weights), ("cluster", cluster)]
    _check_present(frame, named, sample=sample)
    if where:
        frame, flow = apply_restrictions(frame, flow, list(where))
    if len(frame) == 0:
        raise DesignError(f"{sample}: no rows left after the sample restrictions ({'; '.join(where)})")
    arrays: dict[str, np.ndarray] = {"__pos__": np.arange(len(frame))}
    for c in columns:
        arrays[c.name] = _numeric(frame, c.name, f"{c.described} of the {sample}")
    rows = _Rows(frame, flow, arrays)
    if treatment is not None:
        rows.arrays["__treatment__"] = _numeric(frame, treatment, f"treatment '{treatment}' of the {sample}",
                                                kind="binary")
        rows.keep(~np.isnan(rows.arrays["__treatment__"]), f"treatment '{treatment}' missing")
        _check_arms(rows, columns, treatment=treatment, sample=sample)
    before = rows.arrays.get("__treatment__")
    before_counts = None if before is None else (int(np.count_nonzero(before == 1)), int(np.count_nonzero(before == 0)))
    for c in columns:
        rows.keep(~np.isnan(rows.arrays[c.name]), f"{c.described} missing")
    if weights is not None:
        rows.arrays["__weights__"] = _numeric(rows.frame, weights, f"weights '{weights}' of the {sample}",
                                              kind="nonnegative")
        rows.keep(~np.isnan(rows.arrays["__weights__"]), f"weights '{weights}' missing")
        rows.keep(rows.arrays["__weights__"] > 0, f"weights '{weights}' zero")
    codes = None
    if cluster is not None:
        rows.keep(rows.frame[cluster].notna().to_numpy(), f"cluster '{cluster}' missing")
        codes = pd.factorize(rows.frame[cluster], sort=False)[0].astype(np.int64)
    if treatment is not None and before_counts is not None:
        _check_after_exclusions(rows, treatment=treatment, sample=sample, before=before_counts)
    if rows.frame.shape[0] == 0:
        raise TooFewRowsError(f"{sample}: no row has every needed value present ({rows.flow.rows_read:,} rows read; "
                              f"{_largest_exclusion(rows.flow)})", rows=0, needed=1)
    pos = rows.arrays.pop("__pos__")
    return PreparedSample(
        sample=sample, values={c.name: rows.arrays[c.name] for c in columns}, index=frame.index[pos],
        flow=rows.flow, treatment=rows.arrays.get("__treatment__"), treatment_column=treatment,
        weights=rows.arrays.get("__weights__"), weights_column=weights, cluster=codes, cluster_column=cluster,
    )


def _largest_exclusion(flow: SampleFlow) -> str:
    steps = flow.exclusions()
    if not steps:
        return "no exclusion"
    top = max(steps, key=lambda s: s.excluded)
    return f"the largest exclusion: {top.reason} ({top.excluded:,} rows)"


def _arm_label(treatment: str, arm: int) -> str:
    return f"the {ARM_NAMES[arm]} arm ({treatment} = {arm})"


def _check_arms(rows: _Rows, columns: Sequence[Column], *, treatment: str, sample: str) -> None:
    """Both arms present, and each with at least one row where every needed column is present."""
    d = rows.arrays["__treatment__"]
    counts = {arm: int(np.count_nonzero(d == arm)) for arm in (1, 0)}
    for arm, other in ((1, 0), (0, 1)):
        if counts[arm] == 0:
            raise DesignError(f"{sample}: treatment '{treatment}' has no row in {_arm_label(treatment, arm)}: all "
                              f"{counts[other]:,} rows with a treatment value are in {_arm_label(treatment, other)}; "
                              "the comparison needs both arms")
    if not columns:
        return
    for arm, other in ((1, 0), (0, 1)):
        in_arm = d == arm
        present = {c.name: int(np.count_nonzero(in_arm & ~np.isnan(rows.arrays[c.name]))) for c in columns}
        complete = np.logical_and.reduce([~np.isnan(rows.arrays[c.name]) for c in columns]) & in_arm
        if np.any(complete):
            continue
        in_other = d == other
        empty = [c for c in columns if present[c.name] == 0]
        if empty:
            c = empty[0]
            other_n = int(np.count_nonzero(in_other & ~np.isnan(rows.arrays[c.name])))
            more = f" (also missing there: {', '.join(e.described for e in empty[1:])})" if len(empty) > 1 else ""
            msg = (f"{sample}: {c.described} is missing in all {counts[arm]:,} rows of {_arm_label(treatment, arm)}"
                   f"{more}; {_arm_label(treatment, other)} has it in {other_n:,} of {counts[other]:,} rows. "
                   "The index cannot be computed for that arm: supply the column for both arms")
        else:
            shown = ", ".join(f"{c.described} present in {present[c.name]:,}" for c in columns)
            msg = (f"{sample}: no row of {_arm_label(treatment, arm)} ({counts[arm]:,} rows) has every needed value "
                   f"present ({shown}); the comparison needs both arms")
        raise EmptyArmError(msg, arm=ARM_NAMES[arm], rows=counts[arm], present=present)


def _check_after_exclusions(rows: _Rows, *, treatment: str, sample: str, before: tuple[int, int]) -> None:
    """Each arm keeps at least two rows; unequal exclusions between the arms are announced."""
    d = rows.arrays["__treatment__"]
    after = (int(np.count_nonzero(d == 1)), int(np.count_nonzero(d == 0)))
    for arm, n_before, n_after in ((1, before[0], after[0]), (0, before[1], after[1])):
        if n_after < 2:
            raise TooFewRowsError(
                f"{sample}: {_arm_label(treatment, arm)} keeps {n_after:,} of its {n_before:,} rows after excluding "
                f"rows with missing values ({_largest_exclusion(rows.flow)}); a comparison needs at least 2 rows "
                "in each arm", rows=n_after, needed=2)
    dropped = (before[0] - after[0], before[1] - after[1])
    if dropped[0] or dropped[1]:
        warnings.warn(
            f"{sample}: {sum(dropped):,} rows excluded for missing values ({ARM_NAMES[1]} arm {dropped[0]:,} of "
            f"{before[0]:,}, {ARM_NAMES[0]} arm {dropped[1]:,} of {before[1]:,}); missingness that differs between "
            "the arms can bias the comparison. The sample flow records each exclusion",
            DataDroppedWarning, stacklevel=_WARN_DEPTH)

"""The sample-flow record: rows read, every exclusion with its reason and count, rows used.

Every load, filter and estimator in cteimpact carries a :class:`SampleFlow`, so no row is ever dropped without a
trace. The record is immutable: each exclusion returns a new record with one more step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError

__all__ = ["FlowStep", "SampleFlow"]

StepKind = Literal["exclude", "aggregate"]


@dataclass(frozen=True, slots=True)
class FlowStep:
    """One step of a sample flow.

    Attributes
    ----------
    reason
        Why rows were excluded (or how they were aggregated), in words a reader understands.
    excluded
        Rows removed by this step (0 for an aggregation).
    remaining
        Rows (or, after an aggregation, units) left after this step.
    kind
        ``"exclude"`` removes rows; ``"aggregate"`` changes the unit of observation (for example students to
        district-by-cohort cells) and ``remaining`` counts the new units.
    unit
        What ``remaining`` counts after this step.
    """

    reason: str
    excluded: int
    remaining: int
    kind: StepKind = "exclude"
    unit: str = "rows"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "excluded": int(self.excluded),
            "remaining": int(self.remaining),
            "kind": self.kind,
            "unit": self.unit,
        }


@dataclass(frozen=True, slots=True)
class SampleFlow:
    """Rows read, each exclusion with its reason and count, and rows used.

    Parameters
    ----------
    source
        What was read (a file name or a description; never a path that could identify a person).
    rows_read
        Number of rows read.
    steps
        The exclusions and aggregations applied since, in order.
    unit
        What ``rows_read`` counts (``"rows"``, ``"student-years"``, ``"students"``...).

    Examples
    --------
    >>> flow = SampleFlow("students.csv", 100)
    >>> flow = flow.exclude(3, "dropout missing")
    >>> flow.rows_used
    97
    """

    source: str
    rows_read: int
    steps: tuple[FlowStep, ...] = field(default_factory=tuple)
    unit: str = "rows"

    def __post_init__(self) -> None:
        if int(self.rows_read) < 0:
            raise OptionError(f"rows_read must be non-negative, got {self.rows_read}")

    @property
    def rows_used(self) -> int:
        """Rows (or units, after an aggregation) left after every step."""
        return int(self.steps[-1].remaining) if self.steps else int(self.rows_read)

    @property
    def current_unit(self) -> str:
        """What :attr:`rows_used` counts."""
        return self.steps[-1].unit if self.steps else self.unit

    @property
    def total_excluded(self) -> int:
        """Rows removed by exclusion steps."""
        return int(sum(s.excluded for s in self.steps if s.kind == "exclude"))

    def with_unit(self, unit: str) -> SampleFlow:
        """The same counts, with what the rows count named ``unit``: the rows read and every step before the first
        aggregation (which, and the steps after it, keep their own units)."""
        steps: list[FlowStep] = []
        aggregated = False
        for step in self.steps:
            aggregated = aggregated or step.kind == "aggregate"
            steps.append(step if aggregated else replace(step, unit=unit))
        return SampleFlow(self.source, self.rows_read, tuple(steps), unit)

    def exclude(self, n_excluded: int, reason: str) -> SampleFlow:
        """Return a new flow with one more exclusion step.

        Parameters
        ----------
        n_excluded
            Rows removed (may be 0: a check that removed nothing is still recorded when it is a stated rule).
        reason
            Why they were removed.
        """
        n_excluded = int(n_excluded)
        if n_excluded < 0 or n_excluded > self.rows_used:
            raise OptionError(
                f"cannot exclude {n_excluded} rows for '{reason}': {self.rows_used} {self.current_unit} remain"
            )
        step = FlowStep(reason, n_excluded, self.rows_used - n_excluded, "exclude", self.current_unit)
        return SampleFlow(self.source, self.rows_read, (*self.steps, step), self.unit)

    def aggregate(self, n_units: int, reason: str, unit: str) -> SampleFlow:
        """Return a new flow recording that the rows were collapsed to ``n_units`` units of kind ``unit``."""
        if int(n_units) < 0:
            raise OptionError(f"cannot aggregate to {n_units} {unit} for '{reason}': the count must be non-negative")
        step = FlowStep(reason, 0, int(n_units), "aggregate", unit)
        return SampleFlow(self.source, self.rows_read, (*self.steps, step), self.unit)

    def apply(self, frame: pd.DataFrame, keep: np.ndarray | pd.Series, reason: str) -> tuple[pd.DataFrame, SampleFlow]:
        """Keep the rows of ``frame`` where ``keep`` is true and record the others as excluded for ``reason``.

        Returns the filtered frame (a new object; the caller's frame is not modified) and the new flow. A mask given
        as a Series must carry the frame's index (it is applied by position, so a reordered Series is refused).
        """
        if isinstance(keep, pd.Series) and not keep.index.equals(frame.index):
            raise OptionError(
                f"keep mask for '{reason}' is a Series whose index differs from the frame's; align it first "
                "(keep.reindex(frame.index)) or pass an array in the frame's row order"
            )
        raw = np.asarray(keep)
        if raw.ndim != 1:
            raise OptionError(f"keep mask for '{reason}' must be one-dimensional, got shape {raw.shape}")
        if raw.dtype != bool:
            n_missing = int(pd.isna(raw).sum())
            if n_missing:
                raise OptionError(
                    f"keep mask for '{reason}' has {n_missing} missing values; fill them with True or False "
                    "before applying it"
                )
        mask = raw.astype(bool)
        if mask.shape[0] != len(frame):
            raise OptionError(f"keep mask has {mask.shape[0]} entries but the frame has {len(frame)} rows")
        if len(frame) != self.rows_used:
            raise OptionError(
                f"the frame has {len(frame)} rows but the sample flow has {self.rows_used} {self.current_unit}"
            )
        n_drop = int(mask.size - mask.sum())
        kept = frame.copy(deep=False) if n_drop == 0 else frame.loc[mask]
        return kept, self.exclude(n_drop, reason)

    def exclusions(self) -> list[FlowStep]:
        """The exclusion steps that removed at least one row."""
        return [s for s in self.steps if s.kind == "exclude" and s.excluded > 0]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        return {
            "source": self.source,
            "unit": self.unit,
            "rows_read": int(self.rows_read),
            "steps": [s.to_dict() for s in self.steps],
            "rows_used": self.rows_used,
            "unit_used": self.current_unit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleFlow:
        """Inverse of :meth:`to_dict`."""
        steps = tuple(
            FlowStep(s["reason"], int(s["excluded"]), int(s["remaining"]), s.get("kind", "exclude"),
                     s.get("unit", "rows"))
            for s in data.get("steps", [])
        )
        return cls(str(data["source"]), int(data["rows_read"]), steps, str(data.get("unit", "rows")))

    def to_frame(self) -> pd.DataFrame:
        """A table with one line per step: ``step, reason, excluded, remaining, unit``."""
        rows: list[dict[str, Any]] = [
            {"step": "read", "reason": f"rows read from {self.source}", "excluded": 0,
             "remaining": int(self.rows_read), "unit": self.unit}
        ]
        rows += [
            {"step": s.kind, "reason": s.reason, "excluded": s.excluded, "remaining": s.remaining, "unit": s.unit}
            for s in self.steps
        ]
        return pd.DataFrame(rows, columns=["step", "reason", "excluded", "remaining", "unit"])

    def summary(self) -> str:
        """The flow as aligned text: rows read, each step, rows used."""
        lines = [f"{self.rows_read:>12,}  {self.unit} read from {self.source}"]
        for s in self.steps:
            if s.kind == "exclude":
                lines.append(f"{-s.excluded:>+12,}  {s.reason}")
            else:
                lines.append(f"{'':>12}  {s.reason} -> {s.remaining:,} {s.unit}")
        lines.append(f"{self.rows_used:>12,}  {self.current_unit} used")
        return "\n".join(lines)

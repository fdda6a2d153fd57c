"""Sample flows (``results.json`` ``sample_flow``, ``design.sample_flow`` and each RD fit's ``sample_flow``): from
the rows read to the rows used, every exclusion with its reason and count."""

from __future__ import annotations

from dataclasses import dataclass

from cteimpact.records._base import Num, Record, Text

__all__ = ["FlowStep", "SampleFlow"]


@dataclass(frozen=True)
class FlowStep(Record):
    """One step: rows excluded for a reason, or an aggregation to coarser units."""

    reason: Text | None = None
    excluded: Num | None = None
    remaining: Num | None = None
    kind: Text | None = None
    """``"exclude"`` or ``"aggregate"``."""
    unit: Text | None = None

    @property
    def aggregates(self) -> bool:
        return self.kind == "aggregate"


@dataclass(frozen=True)
class SampleFlow(Record):
    """A sample flow."""

    source: Text | None = None
    """The data file read (its name)."""
    unit: Text | None = None
    rows_read: Num | None = None
    steps: tuple[FlowStep, ...] = ()
    rows_used: Num | None = None
    unit_used: Text | None = None

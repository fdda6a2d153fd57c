"""What a run knows about its data (``results.json`` ``data``) and, for synthetic data, its estimates against the
true effects the simulator recorded (``truth``)."""

from __future__ import annotations

from dataclasses import dataclass

from cteimpact.records._base import Num, Record, Text

__all__ = ["DataInfo", "Generator", "Truth", "TruthRow", "TruthSummary"]


@dataclass(frozen=True)
class Generator(Record):
    name: Text | None = None
    cteimpact_version: Text | None = None
    seed: Num | None = None
    scale: Num | None = None


@dataclass(frozen=True)
class DataInfo(Record):
    """``data``: the data file and whether it is synthetic."""

    file: Text | None = None
    synthetic: bool = False
    generator: Generator | None = None


@dataclass(frozen=True)
class TruthRow(Record):
    """An estimate against the true value of its estimand in the synthetic data."""

    label: Text
    estimate: Num | None = None
    truth: Num | None = None
    difference: Num | None = None
    std_error: Num | None = None
    z: Num | None = None
    covered: bool | None = None
    """Whether the interval covers the true value."""
    ci_type: Text | None = None
    truth_path: Text | None = None


@dataclass(frozen=True)
class TruthSummary(Record):
    compared: Num | None = None
    covered: Num | None = None
    with_interval: Num | None = None
    mean_z_squared: Num | None = None


@dataclass(frozen=True)
class Truth(Record):
    """``truth``: the table of estimates against ``truth.json``."""

    source: Text | None = None
    file: Text | None = None
    unit: Text | None = None
    generator: Generator | None = None
    rows: tuple[TruthRow, ...] = ()
    summary: TruthSummary | None = None
    note: Text | None = None

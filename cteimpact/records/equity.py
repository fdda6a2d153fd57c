"""The equity record (``results.json`` ``equity``, written by :meth:`cteimpact.equity.EquityResults.to_dict`):
effects by protected subgroup, the tests of equal effects with their multiplicity adjustment, and the access gaps.

Everything in it is already in published form: a suppressed estimate, test, rate or gap keeps its label, the flag
and the reason (the threshold, never the small count), with ``null`` in place of its numbers.

>>> equity = records.results.equity                                   # doctest: +SKIP
>>> [(e.level, e.row.estimate) for e in equity.levels("credential", "low_income")]   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cteimpact.records._base import Num, Record, RecordMap, Text
from cteimpact.records.estimates import EstimateRow
from cteimpact.records.flow import SampleFlow

__all__ = ["AccessGap", "AccessGaps", "AccessRate", "Equity", "EquityDetails", "EquityOptions", "EquityTest",
           "Family", "LevelEffects", "Multiplicity", "Reference"]


@dataclass(frozen=True)
class Reference(Record):
    """The reference level of a subgroup column and how it was chosen."""

    level: Text | None = None
    rule: Text | None = None


@dataclass(frozen=True)
class EquityOptions(Record):
    """``equity.options``: the design, subgroup columns and their references, access outcomes, periods,
    multiplicity method and small-cell minimum."""

    design: Text | None = None
    subgroups: tuple[Text, ...] = ()
    references: Mapping[str, Reference] = field(default_factory=RecordMap)
    access: tuple[Text, ...] = ()
    periods: Mapping[str, Text | None] = field(default_factory=RecordMap)
    multiplicity: Text | None = None
    min_cell: Num | None = None


@dataclass(frozen=True)
class LevelEffects(Record):
    """``equity.details.effects[i]``: the levels of one subgroup column for one outcome, their students, the
    reference level and how the levels' covariance was obtained."""

    design: Text | None = None
    outcome: Text | None = None
    column: Text | None = None
    levels: tuple[Text, ...] = ()
    reference: Text | None = None
    n_students: tuple[Num | None, ...] = ()
    covariance_method: Text | None = None


@dataclass(frozen=True)
class EquityTest(Record):
    """``equity.details.tests[i]``: a test of equal effects (``kind`` ``difference`` of one level from the
    reference, or ``omnibus``: all levels equal), its p-value and the multiplicity-adjusted p-value."""

    label: Text | None = None
    design: Text | None = None
    outcome: Text | None = None
    column: Text | None = None
    kind: Text | None = None
    levels: tuple[Text, ...] = ()
    statistic: Num | None = None
    df: Num | None = None
    p_value: Num | None = None
    p_adjusted: Num | None = None
    suppressed: bool = False
    suppression: Text | None = None
    note: Text | None = None


@dataclass(frozen=True)
class Family(Record):
    """A family of tests the multiplicity adjustment runs over."""

    tests: Num | None = None
    what: Text | None = None


@dataclass(frozen=True)
class Multiplicity(Record):
    """``equity.details.multiplicity``: the adjustment and its families."""

    method: Text | None = None
    description: Text | None = None
    families: Mapping[str, Family] = field(default_factory=RecordMap)
    suppressed_tests: Text | None = None


@dataclass(frozen=True)
class AccessRate(Record):
    """The share of a subgroup level taking part (``rate``) in one period, with the students counted."""

    outcome: Text | None = None
    column: Text | None = None
    period: Text | None = None
    level: Text | None = None
    n: Num | None = None
    count: Num | None = None
    count_without: Num | None = None
    rate: Num | None = None
    std_error: Num | None = None
    suppressed: bool = False
    suppression: Text | None = None


@dataclass(frozen=True)
class AccessGap(Record):
    """The gap of a level's rate from the reference level's in one period (``change``: the gap after minus the gap
    at baseline)."""

    label: Text | None = None
    outcome: Text | None = None
    column: Text | None = None
    period: Text | None = None
    level: Text | None = None
    reference: Text | None = None
    estimate: Num | None = None
    std_error: Num | None = None
    statistic: Num | None = None
    p_value: Num | None = None
    p_adjusted: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_level: Num | None = None
    suppressed: bool = False
    suppression: Text | None = None


@dataclass(frozen=True)
class AccessGaps(Record):
    """``equity.details.access``: rates by subgroup and period, the gaps and their change."""

    periods: Mapping[str, Text | None] = field(default_factory=RecordMap)
    variance: Text | None = None
    notes: tuple[Text, ...] = ()
    suppression_note: Text | None = None
    rates: tuple[AccessRate, ...] = ()
    gaps: tuple[AccessGap, ...] = ()

    @property
    def outcomes(self) -> list[Text]:
        """The access outcomes, in the record's order."""
        return list({str(r.outcome): r.outcome for r in self.rates if r.outcome is not None}.values())

    @property
    def period_names(self) -> list[Text]:
        """The periods of the rates, in the record's order (``baseline``, ``after``)."""
        return list({str(r.period): r.period for r in self.rates if r.period is not None}.values())

    def columns_of(self, outcome: str) -> list[Text]:
        """The subgroup columns of ``outcome``'s rates, in the record's order."""
        return list({str(r.column): r.column for r in self.rates
                     if r.outcome == outcome and r.column is not None}.values())

    def levels_of(self, outcome: str, column: str) -> list[Text]:
        """The levels of ``column`` among ``outcome``'s rates, in the record's order."""
        return list({str(r.level): r.level for r in self.rates
                     if r.outcome == outcome and r.column == column and r.level is not None}.values())

    def rate(self, outcome: str, column: str, period: str, level: str) -> AccessRate | None:
        """The rate of ``level`` of ``column`` in ``period``, or None."""
        return next((r for r in self.rates if r.outcome == outcome and r.column == column and r.period == period
                     and r.level == level), None)

    def gap(self, outcome: str, column: str, period: str, level: str) -> AccessGap | None:
        """The gap of ``level`` from the reference in ``period`` (``change``: its change), or None."""
        return next((g for g in self.gaps if g.outcome == outcome and g.column == column and g.period == period
                     and g.level == level), None)


@dataclass(frozen=True)
class EquityDetails(Record):
    """``equity.details``."""

    effects: tuple[LevelEffects, ...] = ()
    tests: tuple[EquityTest, ...] = ()
    multiplicity: Multiplicity | None = None
    access: AccessGaps | None = None
    min_cell: Num | None = None
    notes: tuple[Text, ...] = ()


@dataclass(frozen=True)
class Equity(Record):
    """``equity``: the whole record (see the module docstring)."""

    schema: Text | None = None
    estimator: Text | None = None
    estimates: tuple[EstimateRow, ...] = ()
    options: EquityOptions | None = None
    sample_flow: SampleFlow | None = None
    details: EquityDetails | None = None

    @property
    def effects(self) -> tuple[LevelEffects, ...]:
        return self.details.effects if self.details is not None else ()

    @property
    def tests(self) -> tuple[EquityTest, ...]:
        return self.details.tests if self.details is not None else ()

    @property
    def access(self) -> AccessGaps | None:
        return self.details.access if self.details is not None else None

    @property
    def outcomes(self) -> list[Text]:
        """The outcomes with subgroup effects, in the record's order."""
        seen: dict[str, Text] = {}
        for e in self.effects:
            if e.outcome is not None and str(e.outcome) not in seen:
                seen[str(e.outcome)] = e.outcome
        return list(seen.values())

    def estimate(self, label: str) -> EstimateRow | None:
        """The estimate row labelled ``label`` (``credential[low_income=1]``), or None."""
        return next((e for e in self.estimates if e.label == label), None)

    def level_label(self, outcome: str, column: str, level: str) -> str:
        """The label of a level's effect: ``credential[low_income=1]``."""
        return f"{outcome}[{column}={level}]"

    def difference_label(self, outcome: str, column: str, level: str, reference: str) -> str:
        """The label of a level's difference from the reference: ``credential[low_income=1 vs low_income=0]``."""
        return f"{outcome}[{column}={level} vs {column}={reference}]"

    def tests_of(self, outcome: str, column: str, kind: str | None = None) -> list[EquityTest]:
        """The tests of ``outcome`` × ``column`` (of ``kind`` ``difference`` or ``omnibus`` when given)."""
        return [t for t in self.tests if t.outcome == outcome and t.column == column and (kind is None
                                                                                        or t.kind == kind)]

    def test(self, label: str) -> EquityTest | None:
        """The test labelled ``label`` (a difference's label, or ``credential[race_ethnicity: all levels equal]``)."""
        return next((t for t in self.tests if t.label == label), None)

"""The difference-in-differences record (``results.json`` ``design.details``, ``design.options`` and
``design.extra`` of a DiD run): group-time effects, their aggregations, pre-tests, bootstrap and wild cluster
bootstrap inference, the TWFE comparison, and the diagnostics beside them (Goodman-Bacon, HonestDiD, the power of
the pre-test, effect sizes, baseline equivalence)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cteimpact.records._base import Num, Record, RecordMap, Text

__all__ = [
    "TWFE",
    "Aggregate",
    "AggregateElement",
    "Aggregates",
    "Bacon",
    "BaconSummary",
    "BaselineEquivalence",
    "Bootstrap",
    "DiDDetails",
    "DiDExtra",
    "DiDOptions",
    "EffectSize",
    "GroupTimeEffect",
    "Honest",
    "HonestRow",
    "Pretest",
    "PretrendPower",
    "WildBootstrap",
]


@dataclass(frozen=True)
class GroupTimeEffect(Record):
    """ATT(g, t): the effect in year ``time`` on the cohort that adopted in ``group``."""

    group: Num | None = None
    time: Num | None = None
    event_time: Num | None = None
    post: bool | None = None
    att: Num | None = None
    se: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_type: Text | None = None
    n_treated: Num | None = None
    n_comparison: Num | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class AggregateElement(Record):
    """One element of an aggregation: a cohort (``group``), a calendar year (``time``) or an event time
    (``event``)."""

    group: Num | None = None
    time: Num | None = None
    event: Num | None = None
    att: Num | None = None
    se: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_type: Text | None = None
    p_value: Num | None = None
    label: Text | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class Aggregate(Record):
    att: Num | None = None
    se: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_type: Text | None = None
    p_value: Num | None = None
    label: Text | None = None
    elements: tuple[AggregateElement, ...] = ()


@dataclass(frozen=True)
class Aggregates(Record):
    simple: Aggregate | None = None
    group: Aggregate | None = None
    dynamic: Aggregate | None = None
    calendar: Aggregate | None = None


@dataclass(frozen=True)
class Pretest(Record):
    """A Wald test that the pre-adoption effects are zero."""

    statistic: Num | None = None
    df: Num | None = None
    p_value: Num | None = None
    n_clusters: Num | None = None
    p_value_f: Num | None = None
    """Small-sample F version with clustered data."""

    @property
    def decision_p(self) -> Num | None:
        """The p-value to judge by: the F version when recorded."""
        return self.p_value_f if self.p_value_f is not None else self.p_value


@dataclass(frozen=True)
class Bootstrap(Record):
    n_draws: Num | None = None
    weights: Text | None = None
    bands: bool | None = None
    """Whether the bands are simultaneous (sup-t)."""
    critical_values: Mapping[str, Num | None] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class WildBootstrap(Record):
    estimate: Num | None = None
    std_error: Num | None = None
    p_value: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    n_draws: Num | None = None
    n_clusters: Num | None = None
    weights: Text | None = None


@dataclass(frozen=True)
class TWFE(Record):
    """The two-way fixed-effects coefficient, for comparison."""

    estimate: Num | None = None
    se: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    n_clusters: Num | None = None
    description: Text | None = None


@dataclass(frozen=True)
class DiDDetails(Record):
    """``design.details`` of a DiD run."""

    citation: Text | None = None
    n_units: Num | None = None
    n_clusters: Num | None = None
    att_gt: tuple[GroupTimeEffect, ...] = ()
    aggregates: Aggregates | None = None
    pretest: Pretest | None = None
    pretest_event_study: Pretest | None = None
    bootstrap: Bootstrap | None = None
    wild_cluster_bootstrap: Mapping[str, WildBootstrap] = field(default_factory=RecordMap)
    twfe: TWFE | None = None
    notes: tuple[Text, ...] = ()

    @property
    def pretest_decision(self) -> tuple[str, Pretest] | None:
        """The pre-trend test a reader should judge by (the event-study one when recorded) and its name."""
        if self.pretest_event_study is not None:
            return "event-study", self.pretest_event_study
        if self.pretest is not None:
            return "group-time", self.pretest
        return None


@dataclass(frozen=True)
class BaconSummary(Record):
    type: Text | None = None
    weight: Num | None = None
    avg_estimate: Num | None = None


@dataclass(frozen=True)
class Bacon(Record):
    """The Goodman-Bacon decomposition of the TWFE coefficient."""

    twfe: Num | None = None
    weighted_sum: Num | None = None
    summary: tuple[BaconSummary, ...] = ()


@dataclass(frozen=True)
class PretrendPower(Record):
    """The linear pre-trend the pre-test would detect with probability ``target_power`` (Roth 2022)."""

    target_power: Num | None = None
    slope_any_significant: Num | None = None
    slope_wald: Num | None = None


@dataclass(frozen=True)
class HonestRow(Record):
    value: Num | None = None
    lb: Num | None = None
    ub: Num | None = None


@dataclass(frozen=True)
class Honest(Record):
    """HonestDiD robust confidence sets (Rambachan and Roth 2023) and the breakdown value."""

    restriction: Text | None = None
    """``relative_magnitude`` (M̄) or ``smoothness`` (M)."""
    method: Text | None = None
    table: tuple[HonestRow, ...] = ()
    original: tuple[Num, ...] = ()
    breakdown: Num | None = None


@dataclass(frozen=True)
class EffectSize(Record):
    label: Text | None = None
    kind: Text | None = None
    estimate: Num | None = None
    standardiser: Num | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class BaselineEquivalence(Record):
    """A cohort's standardised difference from its comparison units before adoption, with the WWC category."""

    cohort: Num | None = None
    effect_size: Num | None = None
    kind: Text | None = None
    wwc_category: Text | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class DiDExtra(Record):
    """``design.extra`` of a DiD run."""

    bacon: Bacon | None = None
    pretrend_power: PretrendPower | None = None
    honest: tuple[Honest, ...] = ()
    effect_sizes: tuple[EffectSize, ...] = ()
    baseline_equivalence: tuple[BaselineEquivalence, ...] = ()

    def effect_size_for(self, label: str) -> EffectSize | None:
        return next((e for e in self.effect_sizes if e.label == label), None)


@dataclass(frozen=True)
class DiDOptions(Record):
    """``design.options`` of a DiD run."""

    outcome: Text | None = None
    unit: Text | None = None
    time: Text | None = None
    cohort: Text | None = None
    covariates: tuple[Text, ...] = ()
    cluster: Text | None = None
    control: Text | None = None
    """``never`` or ``notyet``."""
    method: Text | None = None
    base_period: Text | None = None
    anticipation: Num | None = None
    data_mode: Text | None = None
    alpha: Num | None = None

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
    "AggregatedEffect",
    "Aggregates",
    "Bacon",
    "BaconSummary",
    "BaselineEquivalence",
    "Bootstrap",
    "Descriptives",
    "DiDDetails",
    "DiDExtra",
    "DiDOptions",
    "Effect",
    "EffectSize",
    "GroupTimeEffect",
    "Honest",
    "HonestRow",
    "Inference",
    "Pretest",
    "PretestDecision",
    "PretrendPower",
    "WildBootstrap",
]


@dataclass(frozen=True)
class Effect(Record):
    """An average effect on the treated with its standard error and interval (``ci_type`` says how the interval
    was built): the fields a group-time effect and every aggregation share."""

    att: Num | None = None
    se: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_type: Text | None = None


@dataclass(frozen=True)
class GroupTimeEffect(Effect):
    """ATT(g, t): the effect in year ``time`` on the cohort that adopted in ``group``."""

    group: Num | None = None
    time: Num | None = None
    event_time: Num | None = None
    post: bool | None = None
    n_treated: Num | None = None
    n_comparison: Num | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class AggregatedEffect(Effect):
    """An aggregated effect: an :class:`Effect` with its p-value, label and kind of interval."""

    p_value: Num | None = None
    label: Text | None = None
    interval: Text | None = None
    """``pointwise`` or ``simultaneous``."""


@dataclass(frozen=True)
class AggregateElement(AggregatedEffect):
    """One element of an aggregation: a cohort (``group``), a calendar year (``time``) or an event time
    (``event``)."""

    group: Num | None = None
    time: Num | None = None
    event: Num | None = None
    p_value_type: Text | None = None
    phase: Text | None = None
    """Event times: ``pre``, ``anticipation`` or ``post``."""
    suppressed: bool = False


@dataclass(frozen=True)
class Aggregate(AggregatedEffect):
    """An aggregation (``simple``, ``group``, ``dynamic``, ``calendar``): the overall effect and its elements."""

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
class InferenceRow(Record):
    """How an estimate's standard error, interval and p-value were computed."""

    std_error_type: Text | None = None
    interval: Text | None = None
    """``pointwise`` or ``simultaneous``."""
    interval_method: Text | None = None
    p_value_type: Text | None = None
    p_value_method: Text | None = None


@dataclass(frozen=True)
class Inference(Record):
    """``details.inference``: the standard errors and intervals of the run, named."""

    alpha: Num | None = None
    ci_level: Num | None = None
    n_clusters: Num | None = None
    std_error_names: Mapping[str, Text | None] = field(default_factory=RecordMap)
    rows: Mapping[str, InferenceRow] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class PretestDecision(Record):
    """The pre-trend test a reader should judge by, and its verdict."""

    test: Text | None = None
    record: Text | None = None
    statistic: Num | None = None
    df: Num | None = None
    p_value: Num | None = None
    p_value_kind: Text | None = None
    alpha: Num | None = None
    rejects: bool | None = None
    why: Text | None = None


@dataclass(frozen=True)
class DescriptiveRow(Record):
    """The analysis sample of one adoption cohort (0: never treated)."""

    cohort: Num | None = None
    cohort_label: Text | None = None
    n_units: Num | None = None
    n_students: Num | None = None
    pre_first_period: Num | None = None
    pre_last_period: Num | None = None
    pre_n: Num | None = None
    pre_mean: Num | None = None
    pre_sd: Num | None = None
    overall_n: Num | None = None
    overall_mean: Num | None = None
    overall_sd: Num | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class Descriptives(Record):
    """Descriptive statistics of the analysis sample by adoption cohort."""

    outcome: Text | None = None
    level: Text | None = None
    standard_deviation: Text | None = None
    mean: Text | None = None
    pre_periods: Text | None = None
    rows: tuple[DescriptiveRow, ...] = ()


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
    inference: Inference | None = None
    pretest_decision: PretestDecision | None = None
    descriptives: Descriptives | None = None


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
    fragile: bool | None = None
    fragile_rule: Text | None = None


@dataclass(frozen=True)
class EffectSize(Record):
    """An effect in standard deviations of the outcome (WWC), with the standard deviation it divides by."""

    label: Text | None = None
    kind: Text | None = None
    estimate: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    standardiser: Num | None = None
    standardiser_name: Text | None = None
    level: Text | None = None
    comparable_to_student_level: bool | None = None
    note: Text | None = None
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
class EquivalenceReview(Record):
    """The WWC baseline-equivalence verdict across cohorts."""

    overall: Text | None = None
    not_satisfied: tuple[Num, ...] = ()
    verdict: Text | None = None
    rule: Text | None = None
    source: Text | None = None


@dataclass(frozen=True)
class DiDExtra(Record):
    """``design.extra`` of a DiD run."""

    bacon: Bacon | None = None
    pretrend_power: PretrendPower | None = None
    honest: tuple[Honest, ...] = ()
    effect_sizes: tuple[EffectSize, ...] = ()
    baseline_equivalence: tuple[BaselineEquivalence, ...] = ()
    baseline_equivalence_review: EquivalenceReview | None = None

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
    level: Num | None = None
    """Confidence level of the intervals (runs before the rename recorded ``alpha`` = 1 - level)."""

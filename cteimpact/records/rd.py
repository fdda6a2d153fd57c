"""The regression-discontinuity record (``results.json`` ``design.details`` and ``design.options`` of an RD run):
the local polynomial fits, subgroup comparisons, tests across cutoffs, validity checks with the standards review,
and the local randomisation analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cteimpact.records._base import Num, Record, RecordMap, Scalar, Text
from cteimpact.records.flow import SampleFlow

__all__ = [
    "CHECK_ORDER",
    "Check",
    "CheckRow",
    "CutoffTest",
    "FirstStage",
    "FitStats",
    "HonestInterval",
    "HonestSensitivityRow",
    "LocalJump",
    "LocalRandomization",
    "OutcomeDiagnostics",
    "RDDetails",
    "RDFit",
    "RDOptions",
    "StandardsItem",
    "StandardsReview",
    "SubgroupComparison",
]

CHECK_ORDER = ("density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity", "polynomial_order",
               "donut", "attrition")
"""The order in which a report shows the checks of an outcome (others follow in the record's order)."""


@dataclass(frozen=True)
class LocalJump(Record):
    """A jump at the cutoff as rdrobust estimates it: conventional and bias-corrected estimates, conventional and
    robust standard errors (the fields of a fit and of its first stage)."""

    estimate: Num | None = None
    estimate_bc: Num | None = None
    se: Num | None = None
    se_robust: Num | None = None


@dataclass(frozen=True)
class FirstStage(LocalJump):
    """The jump in take-up at the cutoff of a fuzzy fit."""

    f_statistic: Num | None = None


@dataclass(frozen=True)
class FitStats(LocalJump):
    """One local polynomial fit (rdrobust's output); pairs are (below, above) the cutoff."""

    h: tuple[Num, ...] = ()
    b: tuple[Num, ...] = ()
    n: tuple[Num, ...] = ()
    n_h: tuple[Num, ...] = ()
    n_clusters: Num | None = None
    n_clusters_side: tuple[Num, ...] = ()
    p: Num | None = None
    q: Num | None = None
    kernel: Text | None = None
    vce: Text | None = None
    bwselect: Text | None = None
    first_stage: FirstStage | None = None
    notes: tuple[Text, ...] = ()
    warnings: tuple[Text, ...] = ()


@dataclass(frozen=True)
class LocalMean(Record):
    value: Num | None = None
    se: Num | None = None
    h: Num | None = None
    n: Num | None = None


@dataclass(frozen=True)
class Baseline(Record):
    """The outcome's level just below the cutoff, the base of relative changes (``definition`` says which)."""

    value: Num | None = None
    source: Text | None = None
    definition: Text | None = None
    binary: bool | None = None
    local_fit: LocalMean | None = None
    in_bandwidth_mean: LocalMean | None = None


@dataclass(frozen=True)
class CoxIndex(Record):
    value: Num | None = None
    scale: Num | None = None
    formula: Text | None = None
    reason: Text | None = None


@dataclass(frozen=True)
class RDEffectSize(Record):
    """An estimate of a fit with its relative change from the baseline and, for a 0/1 outcome, its Cox index."""

    label: Text | None = None
    estimand: Text | None = None
    """``sharp``, ``intention_to_treat`` or ``late``."""
    estimand_text: Text | None = None
    estimate: Num | None = None
    baseline: Num | None = None
    relative_change: Num | None = None
    relative_ci: tuple[Num, ...] = ()
    relative_formula: Text | None = None
    relative_reason: Text | None = None
    """Why no relative change is given (a local average treatment effect: the compliers' level is not estimated)."""
    cox_index: CoxIndex | None = None
    note: Text | None = None


@dataclass(frozen=True)
class WeakFirstStage(Record):
    f_statistic: Num | None = None
    threshold: Num | None = None
    weak: bool | None = None
    rule: Text | None = None


@dataclass(frozen=True)
class RDFit(Record):
    """The fit behind one estimate: ``kind`` is ``main``, ``subgroup`` or ``cutoff``."""

    label: Text
    outcome: Text | None = None
    kind: Text | None = None
    design: Text | None = None
    group: tuple[Scalar, ...] = ()
    """A subgroup's (column, level)."""
    cutoff_value: Num | None = None
    fit: FitStats | None = None
    reduced_form: FitStats | None = None
    sample_flow: SampleFlow | None = None
    baseline: Baseline | None = None
    effect_sizes: tuple[RDEffectSize, ...] = ()
    weak_first_stage: WeakFirstStage | None = None
    suppressed: bool = False

    def effect_size(self, label: str) -> RDEffectSize | None:
        return next((e for e in self.effect_sizes if e.label == label), None)


@dataclass(frozen=True)
class SubgroupComparison(Record):
    """The difference between a subgroup's two levels."""

    label: Text | None = None
    outcome: Text | None = None
    column: Text | None = None
    level_a: Scalar | None = None
    level_b: Scalar | None = None
    label_a: Text | None = None
    label_b: Text | None = None
    difference: Num | None = None
    """``estimate_a − estimate_b``: the difference of the two rows' estimates."""
    difference_bc: Num | None = None
    estimate_a: Num | None = None
    estimate_b: Num | None = None
    se: Num | None = None
    p_value: Num | None = None
    ci: tuple[Num, ...] = ()
    method: Text | None = None
    estimator: Text | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class CutoffTest(Record):
    """The test of equal effects across the cutoffs of a multi-cutoff design."""

    outcome: Text | None = None
    cutoffs: tuple[Num, ...] = ()
    statistic: Num | None = None
    df: Num | None = None
    p_value: Num | None = None


@dataclass(frozen=True)
class CheckRow(Record):
    """A row of a check's table (the columns depend on the check)."""

    covariate: Text | None = None
    cutoff: Num | None = None
    multiplier: Num | None = None
    p: Num | None = None
    share_excluded: Num | None = None
    quantity: Text | None = None
    statistic: Num | None = None
    p_value: Num | None = None
    estimate: Num | None = None
    se_robust: Num | None = None
    p_robust: Num | None = None
    p_holm: Num | None = None
    ci_robust_lower: Num | None = None
    ci_robust_upper: Num | None = None
    h_left: Num | None = None
    h_right: Num | None = None
    n_effective: Num | None = None
    effect_size: Num | None = None
    effect_size_measure: Text | None = None
    effect_size_note: Text | None = None
    share_excluded_actual: Num | None = None
    estimated: bool | None = None
    """False for a donut that could not be estimated (its ``note`` says why)."""
    note: Text | None = None
    rate_left: Num | None = None
    rate_right: Num | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class CheckDetails(Record):
    unit: Text | None = None
    """What the density test counts (students, or units of assignment)."""


@dataclass(frozen=True)
class Check(Record):
    """A validity check: its verdict (``pass``, ``flag``, ``not_run``) and the evidence for it."""

    name: Text | None = None
    title: Text | None = None
    verdict: Text | None = None
    evidence: Text | None = None
    table: tuple[CheckRow, ...] = ()
    details: CheckDetails | None = None


@dataclass(frozen=True)
class StandardsItem(Record):
    key: Text | None = None
    title: Text | None = None
    status: Text | None = None
    """``met``, ``not_met``, ``needs_human_review`` or ``not_applicable``."""
    evidence: Text | None = None
    citation: Text | None = None
    threshold_verified: bool | None = None


@dataclass(frozen=True)
class StandardsReview(Record):
    """The WWC-style review of the design for one outcome."""

    overall: Text | None = None
    items: tuple[StandardsItem, ...] = ()


@dataclass(frozen=True)
class DiagnosticsOptions(Record):
    alpha: Num | None = None


@dataclass(frozen=True)
class VerdictCounts(Record):
    pass_: Num | None = field(default=None, metadata={"key": "pass"})
    flag: Num | None = None
    not_run: Num | None = None
    ran: Num | None = None
    total: Num | None = None


@dataclass(frozen=True)
class OutcomeDiagnostics(Record):
    """The checks and the standards review of one outcome."""

    outcome: Text | None = None
    options: DiagnosticsOptions | None = None
    verdict_counts: VerdictCounts | None = None
    checks: Mapping[str, Check] = field(default_factory=RecordMap)
    standards_review: StandardsReview | None = None

    @property
    def ordered_checks(self) -> list[tuple[Text, Check]]:
        """The checks in :data:`CHECK_ORDER`, then any others."""
        by_name: dict[str, Text] = {str(k): k for k in self.checks if isinstance(k, Text)}
        keys = [k for k in CHECK_ORDER if k in by_name] + [k for k in by_name if k not in CHECK_ORDER]
        return [(by_name[k], self.checks[k]) for k in keys]


@dataclass(frozen=True)
class LocalRandomization(Record):
    """The difference in means within a window around the cutoff, with randomisation inference."""

    outcome: Text | None = None
    window: tuple[Num, ...] = ()
    estimate: Num | None = None
    se_asymptotic: Num | None = None
    p_value: Num | None = None
    p_asymptotic: Num | None = None
    n: tuple[Num, ...] = ()
    units: tuple[Num, ...] = ()
    unit: Text | None = None
    reps: Num | None = None
    ci: tuple[Num, ...] = ()
    notes: tuple[Text, ...] = ()
    suppressed: bool = False


@dataclass(frozen=True)
class HonestSensitivityRow(Record):
    """The bias-aware interval at one value of ``M``."""

    m: Num | None = None
    multiple: Num | None = None
    estimate: Num | None = None
    se: Num | None = None
    max_bias: Num | None = None
    ci_low: Num | None = None
    ci_high: Num | None = None
    bandwidth: Num | None = None


@dataclass(frozen=True)
class HonestInterval(Record):
    """A bias-aware (honest) RD interval (rdhonest: Armstrong-Kolesár Hölder class or Kolesár-Rothe BME)."""

    label: Text | None = None
    method: Text | None = None
    design: Text | None = None
    estimate: Num | None = None
    se: Num | None = None
    max_bias: Num | None = None
    ci_low: Num | None = None
    ci_high: Num | None = None
    m: Num | None = None
    m_outcome: Num | None = None
    m_first_stage: Num | None = None
    m_source: Text | None = None
    kernel: Text | None = None
    bandwidth: Num | None = None
    eff_obs: Num | None = None
    leverage: Num | None = None
    first_stage: Num | None = None
    alpha: Num | None = None
    mass_points_left: Num | None = None
    mass_points_right: Num | None = None
    few_mass_points: bool = False
    variance: Text | None = None
    clusters: Num | None = None
    assumption: Text | None = None
    sensitivity: tuple[HonestSensitivityRow, ...] = ()
    package_version: Text | None = None


@dataclass(frozen=True)
class DescriptiveVariable(Record):
    variable: Text | None = None
    role: Text | None = None
    kind: Text | None = None
    """``binary`` (mean is a share) or ``continuous``."""
    n: Num | None = None
    mean: Num | None = None
    sd: Num | None = None
    suppressed: bool = False


@dataclass(frozen=True)
class DescriptiveCell(Record):
    """The students of one outcome's sample on one side of the cutoff, in the analysis sample or the bandwidth."""

    outcome_sample: Text | None = None
    window: Text | None = None
    """``analysis_sample`` or ``bandwidth``."""
    side: Text | None = None
    h: Num | None = None
    n_students: Num | None = None
    n_clusters: Num | None = None
    variables: tuple[DescriptiveVariable, ...] = ()
    suppressed: bool = False

    def variable(self, name: str) -> DescriptiveVariable | None:
        return next((v for v in self.variables if v.variable == name), None)


@dataclass(frozen=True)
class RDDescriptives(Record):
    definition: Text | None = None
    min_cell: Num | None = None
    cells: tuple[DescriptiveCell, ...] = ()


@dataclass(frozen=True)
class RDDetails(Record):
    """``design.details`` of an RD run."""

    outcomes: tuple[Text, ...] = ()
    running: Text | None = None
    cutoff: Num | None = None
    fits: tuple[RDFit, ...] = ()
    subgroup_comparisons: tuple[SubgroupComparison, ...] = ()
    cutoff_tests: tuple[CutoffTest, ...] = ()
    diagnostics: Mapping[str, OutcomeDiagnostics] = field(default_factory=RecordMap)
    local_randomization: Mapping[str, LocalRandomization] = field(default_factory=RecordMap)
    notes: tuple[Text, ...] = ()
    descriptives: RDDescriptives | None = None
    honest: Mapping[str, HonestInterval] = field(default_factory=RecordMap)
    """Bias-aware intervals by outcome (absent unless the run asked for them)."""

    def fit_for(self, label: str) -> RDFit | None:
        """The fit behind the estimate ``label`` (None when the run has none)."""
        return next((f for f in self.fits if f.label == label), None)

    def fits_of(self, kind: str) -> list[RDFit]:
        """The fits of one kind (``main``, ``subgroup``, ``cutoff``)."""
        return [f for f in self.fits if f.kind == kind]

    def diagnostics_for(self, outcome: str) -> OutcomeDiagnostics | None:
        return self.diagnostics.get(outcome)


@dataclass(frozen=True)
class RDLocalRandomizationOptions(Record):
    reps: Num | None = None


@dataclass(frozen=True)
class RDOptions(Record):
    """``design.options`` of an RD run: the settings the estimator used."""

    outcomes: tuple[Text, ...] = ()
    running: Text | None = None
    cutoff: Num | None = None
    cutoff_column: Text | None = None
    fuzzy: Text | None = None
    design: Text | None = None
    """``sharp`` or ``fuzzy``."""
    cluster: Text | None = None
    assignment_unit: Text | None = None
    covariates: tuple[Text, ...] = ()
    vce: Text | None = None
    vce_used: Text | None = None
    local_randomization: RDLocalRandomizationOptions | None = None

    @property
    def is_fuzzy(self) -> bool:
        return bool(self.fuzzy) or self.design == "fuzzy"

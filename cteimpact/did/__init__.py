"""Staggered difference-in-differences for pathway rollouts.

Core estimator
    :class:`CallawaySantAnna` (Callaway & Sant'Anna 2021): group-time ATTs with never-treated or not-yet-treated
    comparisons, doubly robust / IPW / outcome-regression 2×2 estimators (Sant'Anna & Zhao 2020), anticipation,
    varying or universal base periods, sampling weights, balanced and unbalanced panels and repeated
    cross-sections; aggregations (simple, group, dynamic, calendar) from stored influence functions with analytic
    cluster-robust standard errors, a chunked multiplier bootstrap with simultaneous bands, the Wald pre-test, and
    a restricted wild cluster bootstrap for few clusters. ``fit()`` returns :class:`DiDResults`.

Comparisons and diagnostics
    :func:`twfe`, :func:`twfe_event_study` (two-way fixed effects by the within solver,
    :mod:`cteimpact.did.within`), :func:`bacon_decomposition` (Goodman-Bacon 2021), :func:`sun_abraham` (Sun &
    Abraham 2021), :func:`etwfe` (Wooldridge 2021, extended TWFE), :func:`imputation_did` (Borusyak, Jaravel &
    Spiess 2024, imputation with the conservative clustered variance and pre-trend test),
    :func:`conditional_did_pretest` (integrated-moments pre-test of conditional parallel trends, Callaway &
    Sant'Anna), :func:`honest_sensitivity` (Rambachan & Roth 2023), :func:`pretrend_power` (Roth 2022),
    :func:`effect_size` and
    :func:`baseline_equivalence` (WWC).

Student-level records
    :func:`student_cohort_did`: repeated cross-sections of student cohorts within districts (each student once, time
    = entering cohort, treatment timing = the district's launch year), clustered by district; effect sizes in the
    students' own standard deviations. :func:`earnings_age_profile` (:class:`AgeProfileResults`): the effect on
    earnings at each age from long wage records, with pointwise intervals and a simultaneous band over ages.

Simulation
    :func:`simulate_staggered`: a staggered design with known heterogeneous, exposure-growing effects.
"""

from cteimpact.did.age_profile import earnings_age_profile
from cteimpact.did.age_profile_results import AgeProfileResults
from cteimpact.did.bacon import BaconDecomposition, bacon_decomposition, bacon_from_prepared
from cteimpact.did.conditional_pretest import ConditionalPretest, conditional_did_pretest
from cteimpact.did.descriptives import cohort_descriptives
from cteimpact.did.effect_sizes import (
    EffectSize,
    baseline_equivalence,
    cox_index,
    effect_size,
    equivalence_review,
    hedges_g,
    wwc_category,
)
from cteimpact.did.errors import (
    CellNotEstimatedWarning,
    CohortDroppedWarning,
    FewClustersWarning,
    PretestUnavailableWarning,
)
from cteimpact.did.estimator import CallawaySantAnna
from cteimpact.did.etwfe import ETWFEResult, etwfe, etwfe_from_prepared
from cteimpact.did.honest import HonestResult, honest_sensitivity
from cteimpact.did.imputation import ImputationResult, imputation_did
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.panel import StaggeredData, prepare_staggered_data
from cteimpact.did.pretest import PretestPower, WaldPretest, pretrend_power
from cteimpact.did.results import DiDResults
from cteimpact.did.simulate import StaggeredTruth, simulate_staggered
from cteimpact.did.student_level import student_cohort_did
from cteimpact.did.sunab import SunAbrahamResult, sun_abraham, sun_abraham_from_prepared
from cteimpact.did.twfe import TWFEResult, twfe, twfe_event_study, twfe_from_prepared
from cteimpact.did.wild import WildResult, wild_estimand, wild_twfe

__all__ = [
    "AgeProfileResults",
    "BaconDecomposition",
    "CallawaySantAnna",
    "CellNotEstimatedWarning",
    "CohortDroppedWarning",
    "ConditionalPretest",
    "DiDResults",
    "ETWFEResult",
    "EffectSize",
    "FewClustersWarning",
    "HonestResult",
    "ImputationResult",
    "InfluenceFunctions",
    "PretestPower",
    "PretestUnavailableWarning",
    "StaggeredData",
    "StaggeredTruth",
    "SunAbrahamResult",
    "TWFEResult",
    "WaldPretest",
    "WildResult",
    "bacon_decomposition",
    "bacon_from_prepared",
    "baseline_equivalence",
    "cohort_descriptives",
    "conditional_did_pretest",
    "cox_index",
    "earnings_age_profile",
    "effect_size",
    "equivalence_review",
    "etwfe",
    "etwfe_from_prepared",
    "hedges_g",
    "honest_sensitivity",
    "imputation_did",
    "prepare_staggered_data",
    "pretrend_power",
    "simulate_staggered",
    "student_cohort_did",
    "sun_abraham",
    "sun_abraham_from_prepared",
    "twfe",
    "twfe_event_study",
    "twfe_from_prepared",
    "wild_estimand",
    "wild_twfe",
    "wwc_category",
]

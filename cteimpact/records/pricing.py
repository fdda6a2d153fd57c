"""The Pay-for-Success record (``results.json`` ``pricing``): the contract, the estimates it pays on, thresholds,
payments and their distribution, investor returns, each payor's payment against its benefit, and the benefit–cost
analysis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cteimpact.records._base import Num, Record, RecordMap, Text
from cteimpact.results.units import currency_symbol

__all__ = [
    "IRR",
    "BenefitStream",
    "Benefits",
    "Contract",
    "ContractOutcome",
    "ContractPayor",
    "ContractSpec",
    "EquityFloor",
    "EquityPremium",
    "EquityTerms",
    "GrossVsImpact",
    "Investors",
    "Multiple",
    "Parameter",
    "Payments",
    "Payor",
    "PricedEstimate",
    "Pricing",
    "Simulation",
    "Threshold",
    "Tranche",
]


@dataclass(frozen=True)
class Contract(Record):
    name: Text | None = None
    description: Text | None = None
    currency: Text | None = None
    dollar_year: Num | None = None
    discount_rate: Num | None = None
    primary_outcome: Text | None = None
    sources: tuple[Text, ...] = ()
    assumptions: tuple[Text, ...] = ()
    years: Num | None = None
    students: Num | None = None
    """Students served over the contract."""
    cohorts: Num | None = None
    primary_label: Text | None = None


@dataclass(frozen=True)
class PaymentTerms(Record):
    kind: Text | None = None
    price: Num | None = None
    rate: Num | None = None
    basis: Text | None = None
    require_significance: bool | None = None
    cap_per_student: Num | None = None


@dataclass(frozen=True)
class ContractOutcome(Record):
    name: Text | None = None
    estimate: Text | None = None
    direction: Text | None = None
    units: Text | None = None
    payment: PaymentTerms | None = None


@dataclass(frozen=True)
class ContractPayor(Record):
    name: Text | None = None
    level: Text | None = None
    share: Num | None = None


@dataclass(frozen=True)
class Cohort(Record):
    name: Text | None = None
    students: Num | None = None


@dataclass(frozen=True)
class Evaluation(Record):
    alpha: Num | None = None
    power: Num | None = None


@dataclass(frozen=True)
class ContractSpec(Record):
    """The contract as the run read it."""

    outcomes: tuple[ContractOutcome, ...] = ()
    payors: tuple[ContractPayor, ...] = ()
    cohorts: tuple[Cohort, ...] = ()
    evaluation: Evaluation | None = None


@dataclass(frozen=True)
class Threshold(Record):
    """A payment condition, whether the estimate meets it and how likely it is met."""

    outcome: Text | None = None
    estimate: Text | None = None
    """The label of the estimate it is judged on."""
    kind: Text | None = None
    """``significance``, ``minimum`` or ``tier``."""
    tier: Num | None = None
    at: Num | None = None
    measure: Text | None = None
    at_improvement: Num | None = None
    bound_improvement: Num | None = None
    mde_improvement: Num | None = None
    power: Num | None = None
    power_at_threshold: Num | None = None
    """The probability the condition is met if the true effect sits at the threshold."""
    power_at_estimate: Num | None = None
    estimate_margin_se: Num | None = None
    estimate_position: Text | None = None
    """``clearly_beyond``, ``clearly_short`` or ``within_uncertainty``: the estimate against the condition."""
    pay: Num | None = None
    requires_significance: bool | None = None
    p_met: Num | None = None
    p_met_closed_form: Num | None = None
    mde: Num | None = None
    below_mde: bool | None = None
    met_at_estimate: bool | None = None
    note: Text | None = None


@dataclass(frozen=True)
class PricedEstimate(Record):
    """An estimate the payments are computed from."""

    outcome: Text | None = None
    label: Text | None = None
    contract_estimate: Text | None = None
    term: Text | None = None
    direction: Text | None = None
    centre: Num | None = None
    """The value payments are simulated around (the headline's value for the headline estimate)."""
    centre_kind: Text | None = None
    centre_description: Text | None = None
    reported_estimate: Num | None = None
    units: Text | None = None
    baseline: Num | None = None
    std_error: Num | None = None
    ci_lower: Num | None = None
    ci_upper: Num | None = None
    ci_level: Num | None = None
    ci_type: Text | None = None
    mde: Num | None = None
    mde_source: Text | None = None


@dataclass(frozen=True)
class Simulation(Record):
    draws: Num | None = None
    seed: Num | None = None
    family: Text | None = None
    centre: Text | None = None
    scale: Text | None = None


@dataclass(frozen=True)
class Cap(Record):
    """A cap on payments, and how likely and where it binds."""

    path: Text | None = None
    kind: Text | None = None
    outcome: Text | None = None
    limit: Num | None = None
    limit_total: Num | None = None
    applies_to: Text | None = None
    p_binds: Num | None = None
    binds_at_estimate: bool | None = None
    binds_beyond_outcome: Text | None = None
    binds_beyond_effect: Num | None = None


@dataclass(frozen=True)
class Payments(Record):
    expected: Num | None = None
    expected_npv: Num | None = None
    quantiles: Mapping[str, Num | None] = field(default_factory=RecordMap)
    p_any: Num | None = None
    at_estimate: Num | None = None
    npv_at_estimate: Num | None = None
    by_year_at_estimate: tuple[Num, ...] = ()
    p_cap_binds: Mapping[str, Num | None] = field(default_factory=RecordMap)
    caps: tuple[Cap, ...] = ()


@dataclass(frozen=True)
class Multiple(Record):
    at_estimate: Num | None = None
    expected: Num | None = None
    quantiles: Mapping[str, Num | None] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class IRR(Record):
    at_estimate: Num | None = None
    quantiles: Mapping[str, Num | None] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class Tranche(Record):
    kind: Text | None = None
    principal: Num | None = None
    return_cap: Num | None = None
    expected_multiple: Num | None = None
    p_loss: Num | None = None
    expected_loss: Num | None = None
    max_loss: Num | None = None
    max_simulated_loss: Num | None = None


@dataclass(frozen=True)
class Investors(Record):
    invested: Num | None = None
    expected_received: Num | None = None
    received_at_estimate: Num | None = None
    moic: Multiple | None = None
    p_loss: Num | None = None
    expected_loss: Num | None = None
    max_loss: Num | None = None
    """The most investors can lose under the contract's terms (capital at risk, after guarantees)."""
    max_loss_basis: Text | None = None
    max_simulated_loss: Num | None = None
    """The largest loss among the simulated draws."""
    tranches: Mapping[str, Tranche] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class Payor(Record):
    """A payor's expected payment against the expected benefit to it (present values)."""

    level: Text | None = None
    payment: Num | None = None
    benefit: Num | None = None
    net_benefit: Num | None = None
    payment_by_year_at_estimate: tuple[Num, ...] = ()
    payment_nominal_at_estimate: Num | None = None
    pays_more_than_benefit: bool | None = None
    p_payment_exceeds_benefit: Num | None = None


@dataclass(frozen=True)
class Parameter(Record):
    """An assumption of the benefit calculation, with its source."""

    value: Num | Text | tuple[Num, ...] | bool | None = None
    unit: Text | None = None
    source: Text | None = None
    overridden: bool | None = None


@dataclass(frozen=True)
class WSIPP(Record):
    benefit_cost_ratio: Num | None = None
    p_benefits_exceed_costs: Num | None = None


@dataclass(frozen=True)
class BenefitStream(Record):
    """One benefit stream of the benefit-cost analysis (``pricing.benefits.streams[i]``): the outcome and estimate
    it values (``projected`` for a surrogate-index projection such as ``earnings_age26[surrogate]``), the improvement
    at the estimate with its standard error, and its present value over the simulated draws."""

    outcome: Text | None = None
    kind: Text | None = None
    name: Text | None = None
    label: Text | None = None
    projected: bool | None = None
    lag_years: Num | None = None
    source: Text | None = None
    improvement_at_estimate: Num | None = None
    estimate_std_error: Num | None = None
    pv_at_estimate: Num | None = None
    expected_pv: Num | None = None
    pv_quantiles: Mapping[str, Num | None] = field(default_factory=RecordMap)
    by_beneficiary_at_estimate: Mapping[str, Num | None] = field(default_factory=RecordMap)
    expected_by_beneficiary: Mapping[str, Num | None] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class Benefits(Record):
    discount_rate: Num | None = None
    dollar_year: Num | None = None
    by_beneficiary_at_estimate: Mapping[str, Num | None] = field(default_factory=RecordMap)
    total_at_estimate: Num | None = None
    expected_total: Num | None = None
    total_quantiles: Mapping[str, Num | None] = field(default_factory=RecordMap)
    cost_pv: Num | None = None
    cost_basis: Text | None = None
    benefit_cost_ratio: Num | None = None
    benefit_cost_ratio_by_discount_rate: Mapping[str, Num | None] = field(default_factory=RecordMap)
    net_benefit_at_estimate: Num | None = None
    p_benefits_exceed_costs: Num | None = None
    wsipp_cte_academies: WSIPP | None = None
    parameters: Mapping[str, Parameter] = field(default_factory=RecordMap)
    streams: tuple[BenefitStream, ...] = ()


@dataclass(frozen=True)
class GrossImpactAmounts(Record):
    """Outcomes and payments of a gross-vs-impact comparison, at the estimate or expected over the draws."""

    gross_outcomes: Num | None = None
    impact_outcomes: Num | None = None
    deadweight_outcomes: Num | None = None
    gross_payment: Num | None = None
    impact_payment: Num | None = None
    deadweight_payment: Num | None = None


@dataclass(frozen=True)
class GrossVsImpact(Record):
    """``pricing.gross_vs_impact.<outcome>``: what a plain rate card would pay on the gross count of outcomes next to
    what the program caused (impact), and the difference (deadweight)."""

    kind: Text | None = None
    basis: Text | None = None
    label: Text | None = None
    price_per_outcome: Num | None = None
    price_note: Text | None = None
    students: Num | None = None
    level_without_program: Num | None = None
    level_source: Text | None = None
    at_estimate: GrossImpactAmounts | None = None
    expected: GrossImpactAmounts | None = None


@dataclass(frozen=True)
class EquityPremium(Record):
    """An equity premium: outcomes of a priority group paid at a premium ``rate``."""

    outcome: Text | None = None
    group: Text | None = None
    label: Text | None = None
    rate: Num | None = None
    share: Num | None = None
    priority_students: Num | None = None
    group_centre: Num | None = None
    group_std_error: Num | None = None
    expected_paid: Num | None = None
    paid_at_estimate: Num | None = None
    p_paid: Num | None = None


@dataclass(frozen=True)
class EquityFloor(Record):
    """An equity floor: payments withheld unless the priority group's improvement reaches ``floor``."""

    outcome: Text | None = None
    group: Text | None = None
    label: Text | None = None
    floor: Num | None = None
    require_significance: bool | None = None
    withhold: Text | None = None
    group_centre: Num | None = None
    group_std_error: Num | None = None
    group_improvement: Num | None = None
    p_met: Num | None = None
    met_at_estimate: bool | None = None


@dataclass(frozen=True)
class EquityTerms(Record):
    """``pricing.equity``: the contract's equity premiums and floors."""

    subgroup_label: Text | None = None
    premiums: tuple[EquityPremium, ...] = ()
    floors: tuple[EquityFloor, ...] = ()
    floor_definition: Text | None = None


@dataclass(frozen=True)
class PricingEvaluation(Record):
    """How the contract's significance test and minimum detectable effect are defined."""

    alpha: Num | None = None
    power: Num | None = None
    z_critical: Num | None = None
    test: Text | None = None
    mde_definition: Text | None = None


@dataclass(frozen=True)
class Pricing(Record):
    """``pricing``."""

    contract: Contract | None = None
    evaluation: PricingEvaluation | None = None
    contract_spec: ContractSpec | None = None
    simulation: Simulation | None = None
    estimates: tuple[PricedEstimate, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    payments: Payments | None = None
    investors: Investors | None = None
    irr: IRR | None = None
    p_investor_loss: Num | None = None
    break_even_effect: Num | None = None
    break_even_basis: Text | None = None
    payors: Mapping[str, Payor] = field(default_factory=RecordMap)
    benefit_cost_ratio: Num | None = None
    benefits: Benefits | None = None
    gross_vs_impact: Mapping[str, GrossVsImpact] = field(default_factory=RecordMap)
    """By contract outcome: gross outcomes and what a plain rate card would pay on them, against impact."""
    equity: EquityTerms | None = None
    """The contract's equity premiums and floors (None without)."""
    notes: tuple[Text, ...] = ()

    @property
    def currency_symbol(self) -> str:
        return currency_symbol(str(self.contract.currency) if self.contract and self.contract.currency else None)

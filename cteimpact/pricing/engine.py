"""From estimated impacts to payments, investor returns and benefits: the pricing engine.

A contract is compiled once against the estimates it refers to; the compiled contract is a function from effect
values (one row per scenario, one column per priced estimate) to everything a payor, an investor and a validator
asks about: payments per outcome, payor and year, caps, investor cash flows, IRR and multiple, benefits by
beneficiary. Monte Carlo draws, the point estimate, the break-even search and the payment-versus-effect curve all
evaluate the same function, vectorised over rows.

Every outcome's payments are a per-scenario amount times a fixed timing vector (which cohorts, which years), so a
scenario's payments by year are a small matrix product; only the repayment waterfall and the IRR iterate over
years, each step vectorised over scenarios. Monte Carlo draws are processed in fixed-size chunks, so memory is
bounded and results do not depend on the number of draws held at once.

Conventions
-----------
* Effects are in the estimate's units; an outcome's *improvement* is the effect in its good direction
  (``-effect`` for ``direction = "decrease"``). Payments are never negative: a harmful effect pays nothing.
* Monte Carlo draws are possible evaluation results: draws from the estimate's sampling distribution, centred on
  its centre (for RD the bias-corrected estimate with the robust standard error). A significance requirement is
  checked on each draw with the estimate's standard error.
* Payments are nominal amounts in contract years ``0..T-1``; NPVs discount them at the payor's rate; benefits are
  present values at contract year 0 at the benefit discount rate.
* Thresholds are reached at equality, so the payment is right-continuous in the improvement: at a threshold that
  switches payments on (significance, a minimum effect, a step tier) the payment jumps, and
  :meth:`CompiledContract.payment_breaks` records the payment just below and at each jump.
* Each outcome's scale bounds its effect (:meth:`~cteimpact.pricing.contract.Outcome.effect_bounds`): an estimate
  outside the bounds is refused when the contract is compiled; :meth:`CompiledContract.censor` moves Monte Carlo
  draws beyond them to the bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from cteimpact.errors import OptionError, SpecificationError, SuppressedEstimateError
from cteimpact.pricing.benefits import UnitValue, unit_value
from cteimpact.pricing.contract import (
    BENEFICIARIES,
    MAX_AMOUNT,
    BenefitStream,
    Contract,
    EarningsLinked,
    EquityFloor,
    EquityPremium,
    Outcome,
    RateCard,
    SavingsShare,
    Schedule,
)
from cteimpact.pricing.defaults import EconomicParameters, load_economic_defaults
from cteimpact.pricing.errors import MissingEstimateError, MissingSubgroupEstimateError
from cteimpact.pricing.finance import GuaranteeSpec, IRRStatus, TrancheSpec, irr_solution, run_waterfall
from cteimpact.pricing.power import minimum_detectable_effect
from cteimpact.results.contract import HasSamplingDistribution
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.stats.bisection import bisect_boundary

__all__ = ["CapSpec", "CompiledContract", "PaymentBreak", "Scenario", "ThresholdSpec", "closed_form_p_floor",
           "closed_form_p_met", "combine_estimates", "compile_contract", "control_levels", "required_labels",
           "subgroup_label"]

CHUNK = 1 << 17
"""Monte Carlo draws evaluated at once (bounded memory; results do not depend on it)."""
_EPS = 1e-12
"""Relative tolerance with which a threshold counts as reached (see :meth:`CompiledContract.evaluate`)."""
_BIND_TOL = 1e-12
"""A cap binds when the amount before it exceeds it by more than this share."""


# ----------------------------------------------------------------------------------------------------------------
# Estimates
# ----------------------------------------------------------------------------------------------------------------


def combine_estimates(
    estimates: HasSamplingDistribution | Sequence[HasSamplingDistribution],
    *,
    needed: Sequence[str] | None = None,
) -> tuple[SamplingDistribution, dict[str, EffectEstimate], list[str], dict[str, tuple[str, str]]]:
    """One sampling distribution (and the estimate rows) from one or several results, with what the centre and
    the scale of each label are (from the result it comes from).

    Several results are combined block-diagonally: estimates from different results are treated as independent
    (the distribution is marked ``joint=False``). A label in two of the results is refused, unless ``needed`` is
    given and does not list it: then the first result's estimate is kept and a note says so (a surrogate-index
    result, for example, repeats the design's effects on the surrogates).
    """
    sources = [estimates] if isinstance(estimates, HasSamplingDistribution) else list(estimates)
    if not sources:
        raise OptionError("no estimates given to price the contract")
    notes: list[str] = []
    rows: dict[str, EffectEstimate] = {}
    dists: list[SamplingDistribution] = []
    for src in sources:
        if not isinstance(src, HasSamplingDistribution):
            raise OptionError(f"estimates must honour the results contract (estimates and sampling_distribution()); "
                              f"got {type(src).__name__}")
        dist = src.sampling_distribution()
        seen = {lab for d in dists for lab in d.labels} | set(rows)
        repeated = [e.label for e in src.estimates if e.label in seen] + [
            lab for lab in dist.labels if lab in seen and lab not in {e.label for e in src.estimates}]
        for lab in dict.fromkeys(repeated):
            if needed is None or lab in needed:
                raise SpecificationError(f"estimate label '{lab}' appears in two of the results given; labels "
                                         "must be unique across results" + (
                                             "" if needed is None else " (the contract prices this one)"))
            notes.append(f"the estimate '{lab}' appears in several of the results given; the contract does not use "
                         "it, the first is kept")
        for e in src.estimates:
            if e.label not in seen:
                rows[e.label] = e
        if repeated:
            dist = dist.subset([lab for lab in dist.labels if lab not in seen])
        dists.append(dist)
    described = {lab: (d.centre, d.scale) for d in dists for lab in d.labels}
    if len(dists) == 1:
        return dists[0], rows, notes, described
    labels = tuple(lab for d in dists for lab in d.labels)
    if len(set(labels)) != len(labels):
        raise SpecificationError("sampling distributions of the results given repeat a label")
    joined = SamplingDistribution.block_diagonal(dists, centre="centres of the results given",
                                                 scale="their standard errors")
    dfs = [d.df for d in dists if d.df is not None]
    if (dfs and len(set(dfs)) > 1) or (dfs and len(dfs) < len(dists)):
        notes.append(f"results with different reference distributions were combined into a multivariate t with "
                     f"{joined.df:g} degrees of freedom (the heaviest tails among them)")
    notes.append("estimates from different results are drawn as independent (their covariances are unknown)")
    return joined, rows, notes, described


# ----------------------------------------------------------------------------------------------------------------
# Compiled contract
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdSpec:
    """A condition for payment: a schedule tier or an outcome's minimum effect."""

    outcome: str
    estimate: str
    kind: str  # "tier", "min_effect" or "significance"
    index: int
    at: float  # in the outcome's measure (effect or relative)
    at_effect: float  # as an improvement in the estimate's units
    measure: str
    pay: float | None
    requires_significance: bool


@dataclass(frozen=True)
class CapSpec:
    """A cap of the contract that can bind: in an outcome's payment terms or on the whole contract."""

    kind: Literal["payment_per_student", "outcome", "per_student", "project"]
    """``payment_per_student``: an earnings-linked payment's ``cap_per_student``; ``outcome``: an outcome's
    ``payment.cap``; ``per_student``: ``[caps] per_student`` (on the average per student served); ``project``:
    ``[caps] project``."""
    path: str
    """Where the contract states it (``outcomes[0].payment.cap_per_student``, ``caps.project``)."""
    outcome: str | None
    """The outcome whose payment it caps (None for the contract-wide caps)."""
    limit: float
    """The cap as stated (per student for the per-student caps)."""
    limit_total: float
    """The most the contract pays under this cap alone (the cap times the students it applies to)."""
    applies_to: str
    """What it caps, in words."""


@dataclass(frozen=True)
class PaymentBreak:
    """A jump of the payment as one outcome's effect varies (the others at their centres)."""

    outcome: str
    effect: float
    """The effect (estimate units, signed) at which the payment jumps; the threshold is reached there."""
    improvement: float
    causes: tuple[str, ...]
    """The terms that switch at this effect: ``significance``, ``min_effect``, ``tier 0``, ..."""
    below: Scenario
    """The contract just short of the break (the limit as the improvement rises to it)."""
    at: Scenario
    """The contract at the break (the threshold reached)."""


@dataclass(frozen=True)
class _Out:
    outcome: Outcome
    column: int
    sign: float
    centre: float
    se: float
    z_crit: float
    weights: np.ndarray  # (T,) timing x students (or timing alone for project schedules)
    benefit_weight: float  # sum over cohorts of students x discount factor to the outcome year
    tier_at: np.ndarray
    tier_pay: np.ndarray
    lower: float = -math.inf
    """Smallest effect (estimate units, signed) the outcome's scale and baseline allow."""
    upper: float = math.inf
    """Largest effect the outcome's scale and baseline allow."""
    level_base: float | None = None
    """The outcome's level without the program (a share of students) used to count outcomes achieved (gross):
    the contract's baseline, else the control level the estimates report; None when neither gives one."""
    level_source: str = "none: give outcomes[].baseline to count gross outcomes"
    """Where :attr:`level_base` comes from."""
    premium: EquityPremium | None = None
    """The outcome's equity premium."""
    premium_column: int | None = None
    """Column of the priority group's estimate (with a premium)."""
    premium_base: float | None = None
    """The priority group's level without the program (a gross rate card's premium)."""

    @property
    def improvement_bounds(self) -> tuple[float, float]:
        """The admissible range as improvements (good direction)."""
        a, b = self.sign * self.lower, self.sign * self.upper
        return min(a, b), max(a, b)


@dataclass(frozen=True)
class _Floor:
    """An equity floor bound to the priority group's estimate."""

    spec: EquityFloor
    index: int
    outcome_index: int
    label: str
    column: int
    sign: float
    centre: float
    se: float
    z_crit: float

    @property
    def bound(self) -> float:
        """The improvement the floor really asks for (the significance bound when it is higher and required)."""
        return max(self.spec.floor, self.z_crit * self.se) if self.spec.require_significance else self.spec.floor


@dataclass(frozen=True)
class _Stream:
    """A benefit stream bound to the estimate it values."""

    spec: BenefitStream
    unit: UnitValue
    label: str
    column: int
    sign: float
    lag_years: int
    weight: float
    """Students × discount factor to the stream's start year, summed over cohorts."""
    projected: bool
    """True when the stream values its own estimate (not a paid outcome's effect)."""

    @property
    def row(self) -> np.ndarray:
        """Present value by beneficiary per unit of improvement, cohort weights included."""
        return self.unit.values * self.weight


@dataclass(frozen=True)
class Scenario:
    """Everything the contract implies for a set of effect scenarios (rows)."""

    effects: np.ndarray
    outcome_amounts: np.ndarray  # (n, O) payments per outcome (nominal total, after all caps)
    outcome_rates: np.ndarray  # (n, O) payment per unit of each outcome's timing weights (after all caps)
    payments: np.ndarray  # (n, T) total payments by year
    payment_total: np.ndarray
    payment_npv: np.ndarray
    gross_units: np.ndarray  # (n, O) outcomes achieved (gross)
    impact_units: np.ndarray  # (n, O) outcomes attributable (impact)
    payor_nominal: np.ndarray  # (n, P)
    payor_pv: np.ndarray  # (n, P)
    thresholds_met: np.ndarray  # (n, K) bool
    cap_binding: np.ndarray  # (n, 3) bool: outcome caps, per-student cap, project cap
    cap_terms: np.ndarray  # (n, C) bool: each cap of CompiledContract.caps (payment terms included)
    invested: float
    received: np.ndarray  # (n,) investors' total receipts incl. guarantees
    investor_flows: np.ndarray | None  # (n, T)
    irr: np.ndarray
    irr_status: np.ndarray
    tranche_received: dict[str, np.ndarray]
    guarantee_paid: dict[str, np.ndarray]
    residual: np.ndarray
    benefits: np.ndarray  # (n, B) present values by beneficiary
    payor_benefit: np.ndarray  # (n, P)
    premium_amounts: np.ndarray  # (n, O) equity premium paid per outcome (part of outcome_amounts, after caps)
    floor_met: np.ndarray  # (n, F) bool: each equity floor met
    stream_benefits: np.ndarray  # (n, S) present value of each benefit stream (all beneficiaries)


@dataclass(frozen=True)
class _Investors:
    invested: float
    received: np.ndarray
    flows: np.ndarray | None
    irr: np.ndarray
    irr_status: np.ndarray
    tranche_received: dict[str, np.ndarray]
    guarantee_paid: dict[str, np.ndarray]
    residual: np.ndarray


@dataclass(frozen=True)
class _OutcomeTerms:
    """One outcome at a set of effect scenarios (see :meth:`CompiledContract.evaluate`)."""

    rate: np.ndarray
    """Payment per unit of the outcome's timing weights, after its own caps."""
    premium_share: np.ndarray
    """Share of ``rate`` that is the equity premium (0 without one)."""
    improvement: np.ndarray
    gross: np.ndarray
    impact: np.ndarray
    cap_flags: list[np.ndarray]
    """Where each cap of the outcome's payment terms binds (in the order of :attr:`CompiledContract.caps`)."""
    cap_bind: np.ndarray | None
    """Where the outcome's ``payment.cap`` binds (None without one)."""
    met: list[np.ndarray]
    """Whether each of the outcome's thresholds is met."""


def _reached(x: np.ndarray, side: float) -> np.ndarray:
    """``x`` moved by the relative tolerance :data:`_EPS` with which a threshold counts as reached (``side`` 1)
    or, for the limit from below, not yet reached (``side`` -1)."""
    return x + side * _EPS * np.maximum(1.0, np.abs(x))


def _schedule_rate(o: _Out, p: Schedule, g: np.ndarray, side: float) -> np.ndarray:
    """A schedule's payment at improvements ``g``: the step tier reached, or the interpolated pay from the first
    tier on."""
    m = g if p.measure == "effect" else g / float(o.outcome.baseline or 1.0)
    m_cmp = _reached(m, side)
    if p.interpolation == "step":
        idx = np.searchsorted(o.tier_at, m_cmp, side="right") - 1
        return np.where(idx >= 0, o.tier_pay[np.maximum(idx, 0)], 0.0)
    # np.interp holds the first tier's pay just below it, where rounding may put m
    return np.where(m_cmp >= o.tier_at[0], np.interp(m, o.tier_at, o.tier_pay), 0.0)


def _payment_rate(o: _Out, g: np.ndarray, cond: np.ndarray, share_good: np.ndarray | None, side: float,
                  cap_flags: list[np.ndarray]) -> np.ndarray:
    """An outcome's payment per unit of its timing weights before its ``payment.cap``, by kind of payment
    (an earnings-linked payment's per-student cap is applied here, its flag appended to ``cap_flags``)."""
    p = o.outcome.payment
    if isinstance(p, RateCard):
        # gross: every student achieving the outcome (the contract model guarantees the baseline)
        per = np.maximum(g, 0.0) if p.basis == "impact" or share_good is None else share_good
        return p.price * per * cond
    if isinstance(p, SavingsShare):
        return p.share * p.savings_per_outcome * np.maximum(g, 0.0) * cond
    if isinstance(p, EarningsLinked):
        a = p.rate * np.maximum(g, 0.0) * cond
        if p.cap_per_student is not None:
            per_year_cap = p.cap_per_student / p.years
            cap_flags.append(a > per_year_cap * (1 + _BIND_TOL))
            a = np.minimum(a, per_year_cap)
        return a
    return _schedule_rate(o, p, g, side) * cond


def _share_good(o: _Out, e: np.ndarray, base: float | None = None) -> np.ndarray | None:
    """The share of students achieving the outcome (the level without the program plus the effect, in the good
    direction, within 0 and 1); None without a level that is a proportion. ``base``: the level (default the
    outcome's :attr:`_Out.level_base`)."""
    base = o.level_base if base is None else base
    if base is not None and 0 <= base <= 1:
        level = base + e
        return np.minimum(np.maximum(level if o.sign > 0 else 1.0 - level, 0.0), 1.0)
    return None


def _premium_rate(o: _Out, e_group: np.ndarray, cond: np.ndarray, side: float) -> np.ndarray:
    """The equity premium per unit of the outcome's timing weights: ``rate × share`` times what the payment's
    terms give on the priority group's effect ``e_group`` (conditions ``cond`` of the outcome apply). For an
    outcome that is a proportion, the group's improvement is held within what its level allows (between -1 and
    1 without a level), as an outcome's own draws are (:meth:`CompiledContract.censor`)."""
    prem = o.premium
    if prem is None:
        return np.zeros(e_group.shape[0])
    p = o.outcome.payment
    g = o.sign * e_group
    if o.outcome.scale_used[0] == "proportion":  # a share changes by at most what its level allows
        b = o.premium_base
        lo, hi = (-1.0, 1.0) if b is None else ((-b, 1.0 - b) if o.sign > 0 else (b - 1.0, b))
        g = np.clip(g, lo, hi)
    if isinstance(p, RateCard):
        if p.basis == "gross":
            good = _share_good(o, e_group, o.premium_base)
            per = good if good is not None else np.zeros_like(g)
        else:
            per = np.maximum(g, 0.0)
        base = p.price * per
    else:  # the contract model allows a premium on rate cards and schedules only
        base = _schedule_rate(o, p, g, side) if isinstance(p, Schedule) else np.zeros_like(g)
    return prem.rate * prem.share * base * cond


def _thresholds_met(o: _Out, g: np.ndarray, g_cmp: np.ndarray, sig: np.ndarray, side: float,
                    thresholds: Sequence[ThresholdSpec]) -> list[np.ndarray]:
    """Whether each of an outcome's thresholds is met at improvements ``g`` (``g_cmp``: with the tolerance)."""
    met = []
    for th in thresholds:
        if th.measure == "effect":
            ok = g_cmp >= th.at_effect
        else:
            rel = g / float(o.outcome.baseline or 1.0)
            ok = _reached(rel, side) >= th.at
        if th.requires_significance:
            ok &= sig
        met.append(ok)
    return met


def _evaluate_outcome(o: _Out, e: np.ndarray, side: float, total_students: float,
                      thresholds: Sequence[ThresholdSpec], e_group: np.ndarray | None = None) -> _OutcomeTerms:
    """One outcome at effects ``e``: its payment rate after its own caps, outcomes achieved and attributable,
    and its thresholds met.

    Thresholds are "reached" at equality; a relative tolerance keeps values computed as, say, 0.018 / 0.15 from
    falling just short of a 0.12 threshold through rounding (and, for the limit from below, ``side`` -1, keeps a
    value equal to a threshold short of it).
    """
    g = o.sign * e
    g_cmp = _reached(g, side)
    p = o.outcome.payment
    students_w = float(o.weights.sum())
    sig = g_cmp >= o.z_crit * o.se if o.se > 0 else g > 0
    cond = np.ones(e.shape[0], dtype=bool)
    if p.min_effect is not None:
        cond &= g_cmp >= p.min_effect
    if p.require_significance:
        cond &= sig
    share_good = _share_good(o, e)
    gross = share_good * total_students if share_good is not None else np.full(e.shape[0], np.nan)
    cap_flags: list[np.ndarray] = []
    a = _payment_rate(o, g, cond, _share_good(o, e, o.outcome.baseline), side, cap_flags)
    premium = _premium_rate(o, e_group, cond, side) if e_group is not None else np.zeros(e.shape[0])
    a = a + premium
    premium_share = np.divide(premium, a, out=np.zeros_like(a), where=a > 0)
    binds = None
    if p.cap is not None:
        cap_unit = p.cap / students_w if students_w > 0 else np.inf
        binds = a > cap_unit * (1 + _BIND_TOL)
        cap_flags.append(binds)
        a = np.minimum(a, cap_unit)
    return _OutcomeTerms(a, premium_share, g, gross, g * total_students, cap_flags, binds,
                         _thresholds_met(o, g, g_cmp, sig, side, thresholds))


@dataclass(frozen=True)
class CompiledContract:
    """A contract bound to the estimates and economic parameters it is priced with."""

    contract: Contract
    distribution: SamplingDistribution
    estimates: dict[str, EffectEstimate]
    outcomes: tuple[_Out, ...]
    n_years: int
    payor_names: tuple[str, ...]
    payor_levels: tuple[str, ...]
    payor_share: np.ndarray  # (O, P)
    payor_discount: np.ndarray  # (P, T)
    contract_discount: np.ndarray  # (T,)
    thresholds: tuple[ThresholdSpec, ...]
    caps: tuple[CapSpec, ...]
    tranches: tuple[TrancheSpec, ...]
    guarantees: tuple[GuaranteeSpec, ...]
    investor_tranches: tuple[str, ...]
    economics: EconomicParameters
    unit_values: tuple[UnitValue, ...]
    benefit_matrix: np.ndarray  # (O, B): PV per unit of improvement (incl. cohort weights)
    benefit_rate: float
    cost_pv: float | None
    cost_note: str
    mde: dict[str, float]
    mde_source: dict[str, str]
    notes: list[str] = field(default_factory=list)
    described: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Priced label → what its centre and its scale are (as the result it comes from states them)."""
    floors: tuple[_Floor, ...] = ()
    """The contract's equity floors, in the order of ``conditions``."""
    streams: tuple[_Stream, ...] = ()
    """The benefit streams, in the order of ``benefits.streams``."""

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return self.distribution.labels

    @property
    def centre(self) -> np.ndarray:
        return np.asarray(self.distribution.mean, dtype=float)

    def outcome_index(self, name: str) -> int:
        for i, o in enumerate(self.outcomes):
            if o.outcome.name == name:
                return i
        raise OptionError(f"no outcome '{name}' in the contract")

    # -- evaluation --------------------------------------------------------------------------------------
    def evaluate(self, effects: np.ndarray, *, with_irr: bool = True, below: str | None = None) -> Scenario:
        """Evaluate the contract at effect scenarios (rows × priced estimates).

        Parameters
        ----------
        effects
            One row per scenario, one column per priced estimate (estimate units). Effects are used as given (no
            bounds applied: see :meth:`censor`).
        with_irr
            Also solve the investors' IRR of each scenario.
        below
            An outcome name: its thresholds (significance, minimum effect, tiers) are taken as not yet reached when
            its improvement equals them, so that the scenario is the limit of the contract as that improvement
            rises to the given value (the payment just short of a break; see :meth:`payment_breaks`). ``None``:
            thresholds are reached at equality.
        """
        eff = np.atleast_2d(np.asarray(effects, dtype=float))
        n = eff.shape[0]
        terms = self._outcome_terms(eff, below)
        amounts = np.stack([t.rate for t in terms], axis=1) if terms else np.zeros((n, 0))  # per unit of weights
        term_flags = [f for t in terms for f in t.cap_flags]  # in the order of self.caps
        outcome_cap_bind = np.zeros(n, dtype=bool)
        for t in terms:
            if t.cap_bind is not None:
                outcome_cap_bind |= t.cap_bind
        floor_met = self._floors_met(eff)
        amounts = self._withhold(amounts, floor_met)
        totals_w = np.array([o.weights.sum() for o in self.outcomes])
        outcome_totals = amounts * totals_w
        factor, per_student_bind, project_bind = self._contract_cap_factor(outcome_totals.sum(axis=1), term_flags)
        amounts = amounts * factor[:, None]
        outcome_totals = outcome_totals * factor[:, None]
        weights = np.stack([o.weights for o in self.outcomes])  # (O, T)
        payments = (weights.T @ amounts.T).T  # (n, T), stored years x draws for the waterfall and the IRR
        payment_total = outcome_totals.sum(axis=1)
        # payors: share (O,P); discounting (P,T)
        disc_by_outcome = weights @ self.payor_discount.T  # (O, P): discounted weight of each outcome per payor
        inv = self._investors(payments, payment_total, with_irr=with_irr)
        stream_units = (np.stack([st.sign * eff[:, st.column] for st in self.streams], axis=1) if self.streams
                        else np.zeros((n, 0)))  # improvement of each stream's estimate
        rows = np.stack([st.row for st in self.streams]) if self.streams else np.zeros((0, len(BENEFICIARIES)))
        benefits = stream_units @ rows  # (n, B)
        stream_benefits = stream_units * rows.sum(axis=1)[None, :]
        premium_share = np.stack([t.premium_share for t in terms], axis=1)
        met = (np.stack([m for t in terms for m in t.met], axis=1) if self.thresholds
               else np.zeros((n, 0), dtype=bool))
        cap_terms = np.stack(term_flags, axis=1) if term_flags else np.zeros((n, 0), dtype=bool)
        return Scenario(
            effects=eff, outcome_amounts=outcome_totals, outcome_rates=amounts, payments=payments,
            payment_total=payment_total,
            payment_npv=payments @ self.contract_discount,
            gross_units=np.stack([t.gross for t in terms], axis=1),
            impact_units=np.stack([t.impact for t in terms], axis=1),
            payor_nominal=outcome_totals @ self.payor_share,
            payor_pv=amounts @ (self.payor_share * disc_by_outcome), thresholds_met=met,
            cap_binding=np.stack([outcome_cap_bind, per_student_bind, project_bind], axis=1), cap_terms=cap_terms,
            invested=inv.invested, received=inv.received, investor_flows=inv.flows, irr=inv.irr,
            irr_status=inv.irr_status, tranche_received=inv.tranche_received, guarantee_paid=inv.guarantee_paid,
            residual=inv.residual, benefits=benefits, payor_benefit=self._payor_benefit(benefits),
            premium_amounts=outcome_totals * premium_share, floor_met=floor_met, stream_benefits=stream_benefits,
        )

    def _floors_met(self, eff: np.ndarray) -> np.ndarray:
        """Whether each equity floor is met at the effect scenarios (reached at equality, within the relative
        tolerance of the thresholds; with its significance requirement)."""
        met = np.ones((eff.shape[0], len(self.floors)), dtype=bool)
        for k, f in enumerate(self.floors):
            g = f.sign * eff[:, f.column]
            ok = _reached(g, 1.0) >= f.spec.floor
            if f.spec.require_significance:
                ok &= (_reached(g, 1.0) >= f.z_crit * f.se) if f.se > 0 else g > 0
            met[:, k] = ok
        return met

    def _withhold(self, amounts: np.ndarray, floor_met: np.ndarray) -> np.ndarray:
        """Payment rates with the payments an unmet equity floor withholds set to zero (all of the contract's,
        or its outcome's)."""
        if not self.floors:
            return amounts
        keep = np.ones_like(amounts)
        for k, f in enumerate(self.floors):
            fail = ~floor_met[:, k]
            if f.spec.withhold == "contract":
                keep[fail, :] = 0.0
            else:
                keep[fail, f.outcome_index] = 0.0
        return amounts * keep

    def _outcome_terms(self, eff: np.ndarray, below: str | None) -> list[_OutcomeTerms]:
        """Each outcome's payment rate, units and thresholds at the effect scenarios ``eff`` (see :meth:`evaluate`),
        in outcome order; the thresholds of each outcome are the run of :attr:`thresholds` that follows the
        previous outcome's."""
        terms: list[_OutcomeTerms] = []
        k = 0
        total_students = float(sum(c.students for c in self.contract.cohorts))
        for o in self.outcomes:
            end = k
            while end < len(self.thresholds) and self.thresholds[end].outcome == o.outcome.name:
                end += 1
            side = -1.0 if below == o.outcome.name else 1.0
            e_group = eff[:, o.premium_column] if o.premium_column is not None else None
            terms.append(_evaluate_outcome(o, eff[:, o.column], side, total_students, self.thresholds[k:end],
                                           e_group))
            k = end
        return terms

    def _contract_cap_factor(self, total: np.ndarray,
                             term_flags: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The factor scaling every payment down to the contract-wide caps (per student served, then project) and
        where each binds; appends their flags to ``term_flags`` (in the order of :attr:`caps`)."""
        n = total.shape[0]
        factor = np.ones(n)
        caps = self.contract.caps
        per_student_bind = np.zeros(n, dtype=bool)
        project_bind = np.zeros(n, dtype=bool)
        if caps.per_student is not None:
            limit = caps.per_student * self.contract.students
            per_student_bind = total > limit * (1 + _BIND_TOL)
            factor[per_student_bind] = limit / total[per_student_bind]
            term_flags.append(per_student_bind)
        if caps.project is not None:
            capped = total * factor
            project_bind = capped > caps.project * (1 + _BIND_TOL)
            factor[project_bind] *= caps.project / capped[project_bind]
            term_flags.append(project_bind)
        return factor, per_student_bind, project_bind

    def _payor_benefit(self, benefits: np.ndarray) -> np.ndarray:
        """Each payor's share of the benefits (scenarios × payors): a payor at a beneficiary level gets its
        ``benefit_fraction`` of that level's benefits; other payors none."""
        payor_benefit = np.zeros((benefits.shape[0], len(self.payor_names)))
        for i, (payor_level, pname) in enumerate(zip(self.payor_levels, self.payor_names, strict=True)):
            if payor_level in BENEFICIARIES:
                frac = next(py.benefit_fraction for py in self.contract.payors if py.name == pname)
                payor_benefit[:, i] = benefits[:, BENEFICIARIES.index(payor_level)] * frac
        return payor_benefit

    def _investors(self, payments: np.ndarray, payment_total: np.ndarray, *, with_irr: bool) -> _Investors:
        """Where outcome payments (scenarios × years) go: the waterfall, guarantees, investors' receipts and IRR."""
        n = payments.shape[0]
        invested = float(sum(tr.principal for tr in self.tranches if tr.name in self.investor_tranches))
        tranche_received: dict[str, np.ndarray] = {}
        guarantee_paid: dict[str, np.ndarray] = {}
        residual = payment_total.copy()
        investor_flows = None
        received = np.zeros(n)
        irr_rate = np.full(n, np.nan)
        irr_status = np.full(n, int(IRRStatus.UNDEFINED), dtype=np.int8)
        if self.tranches:
            wf = run_waterfall(payments, self.tranches, self.guarantees)
            flows_t = np.zeros((self.n_years, n))  # years x draws
            for tr in self.tranches:
                got_t = wf.receipts[tr.name].T  # years x draws (a view)
                covering = [gs for gs in self.guarantees if gs.covers == tr.name]
                if covering:
                    got_t = got_t + sum(wf.guarantee_payments[gs.name].T for gs in covering)
                tranche_received[tr.name] = got_t.sum(axis=0)
                if tr.name in self.investor_tranches:
                    flows_t += got_t
                    flows_t -= tr.draws[: self.n_years, None]
            flows = flows_t.T
            for gs in self.guarantees:
                guarantee_paid[gs.name] = wf.guarantee_payments[gs.name].sum(axis=1)
            residual = wf.residual.sum(axis=1)
            received = np.zeros(n)
            for tname in self.investor_tranches:
                received = received + tranche_received[tname]
            investor_flows = flows
            if with_irr and self.investor_tranches:
                sol = irr_solution(flows)
                irr_rate, irr_status = sol.rate, sol.status
        return _Investors(invested, received, investor_flows, irr_rate, irr_status, tranche_received, guarantee_paid,
                          residual)

    def payor_payments_by_year(self, scenario: Scenario, row: int = 0) -> dict[str, np.ndarray]:
        """Nominal payments of each payor by contract year, for one scenario row."""
        weights = np.stack([o.weights for o in self.outcomes])  # (O, T)
        rates = scenario.outcome_rates[row]
        return {name: (rates * self.payor_share[:, i]) @ weights for i, name in enumerate(self.payor_names)}

    def scenario_at(self, name: str, values: np.ndarray, *, with_irr: bool = True,
                    below: str | None = None) -> Scenario:
        """Evaluate with outcome ``name``'s effect set to ``values`` (estimate units) and the others at the
        centre (``below``: see :meth:`evaluate`)."""
        o = self.outcomes[self.outcome_index(name)]
        eff = np.tile(self.centre, (np.size(values), 1))
        eff[:, o.column] = np.asarray(values, dtype=float)
        return self.evaluate(eff, with_irr=with_irr, below=below)

    def break_even(self, name: str) -> tuple[float | None, str]:
        """Effect of outcome ``name`` (estimate units, others at the centre) at which investors get their money
        back (receipts = amount invested; IRR = 0). Without financing: at which payments' NPV covers the PV of
        costs. The search stays within the effects the outcome's scale allows. Returns the effect (or None) and
        what was solved."""
        o = self.outcomes[self.outcome_index(name)]
        if self.tranches and self.investor_tranches:
            target = float(sum(tr.principal for tr in self.tranches if tr.name in self.investor_tranches))

            def gap(g: float) -> float:
                return float(self.scenario_at(name, np.array([g * o.sign]), with_irr=False).received[0] - target)
            what = "investors recover their capital (multiple 1, IRR 0)"
        elif self.cost_pv is not None:
            target = self.cost_pv

            def gap(g: float) -> float:
                return float(self.scenario_at(name, np.array([g * o.sign]), with_irr=False).payment_npv[0] - target)
            what = "the NPV of payments equals the PV of costs"
        else:
            return None, "no financing or costs: break-even undefined"
        # bisection on the improvement g (payments, hence receipts, never fall as g grows)
        g_min, g_max = o.improvement_bounds
        tiny = 1e-9 * max(abs(target), 1.0)
        scale = max(abs(o.centre), o.se, float(o.tier_at.max()) * abs(o.outcome.baseline or 1.0)
                    if o.tier_at.size else 0.0, 1e-9)
        hi = min(abs(o.centre) + 10 * o.se + scale, g_max)
        f_hi = gap(hi)
        for _ in range(60):
            if f_hi >= -tiny or hi >= g_max:
                break
            hi = min(hi * 2.0, g_max)
            f_hi = gap(hi)
        if f_hi < -tiny:
            within = "" if math.isinf(g_max) else (f" within the effects the outcome's scale allows (an improvement of "
                                                   f"at most {g_max:.6g})")
            return None, f"{what}: never reached{within} (maximum payments are too small)"
        lo = max(-abs(hi), g_min)
        if gap(lo) >= -tiny:
            return None, f"{what}: at any effect (investors are protected whatever the result)"
        hi = bisect_boundary(lambda g: gap(g) >= -tiny, lo, hi, steps=200, tol=lambda _hi: 1e-13 * scale)
        return float(hi * o.sign), what

    # -- admissible effects, jumps, caps, power ---------------------------------------------------------------
    def censor(self, effects: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Effects moved into the range each outcome's scale allows (a draw beyond a bound is priced at the bound),
        with the number of rows below the lower and above the upper bound of each outcome (in outcome order)."""
        eff = np.array(effects, dtype=float, copy=True, ndmin=2)
        n_out = len(self.outcomes)
        low = np.zeros(n_out, dtype=np.int64)
        high = np.zeros(n_out, dtype=np.int64)
        for j, o in enumerate(self.outcomes):
            col = eff[:, o.column]
            if math.isfinite(o.lower):
                under = col < o.lower
                low[j] = int(np.count_nonzero(under))
                col[under] = o.lower
            if math.isfinite(o.upper):
                over = col > o.upper
                high[j] = int(np.count_nonzero(over))
                col[over] = o.upper
        return eff, low, high

    def payment_breaks(self, name: str, *, with_irr: bool = True) -> list[PaymentBreak]:
        """The effects of outcome ``name`` (the others at their centres) at which the total payment jumps: where
        the significance requirement, a minimum effect or a step tier switches a payment on or up. Each is
        evaluated at the break (threshold reached) and just short of it (the limit from below). Only breaks
        within the outcome's admissible effects, and where the payment really jumps, are listed (a tier below
        the significance bound, for example, pays nothing on either side of it)."""
        o = self.outcomes[self.outcome_index(name)]
        p = o.outcome.payment
        causes: dict[float, list[str]] = {}
        for th in self.thresholds:
            if th.outcome == name:
                label = f"tier {th.index}" if th.kind == "tier" else th.kind
                causes.setdefault(float(th.at_effect), []).append(label)
        if p.require_significance:
            causes.setdefault(float(o.z_crit * o.se), []).append("significance")
        g_min, g_max = o.improvement_bounds
        out: list[PaymentBreak] = []
        for g in sorted(causes):
            if not g_min <= g <= g_max:
                continue
            eff = np.array([g * o.sign])
            at = self.scenario_at(name, eff, with_irr=with_irr)
            short = self.scenario_at(name, eff, with_irr=with_irr, below=name)
            a, b = float(at.payment_total[0]), float(short.payment_total[0])
            if abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b)):
                continue
            out.append(PaymentBreak(name, float(g * o.sign), float(g), tuple(dict.fromkeys(causes[g])), short, at))
        return out

    def cap_binds_beyond(self, index: int) -> tuple[str, float | None]:
        """The effect of an outcome (the cap's own outcome, or the primary outcome for a contract-wide cap; the
        others at their centres) beyond which cap ``index`` of :attr:`caps` binds, within the outcome's admissible
        effects: the outcome's name and the effect (estimate units, signed), or None when the cap never binds
        there. A cap binds from this effect on: payments, hence the amounts before each cap, never fall as an
        improvement grows."""
        cap = self.caps[index]
        name = cap.outcome or self.contract.primary_outcome.name
        o = self.outcomes[self.outcome_index(name)]

        def binds(g: float) -> bool:
            return bool(self.scenario_at(name, np.array([g * o.sign]), with_irr=False).cap_terms[0, index])

        g_min, g_max = o.improvement_bounds
        scale = max(abs(o.centre), o.se, 1e-9)
        hi = min(abs(o.centre) + 10 * o.se, g_max)
        found = binds(hi)
        for _ in range(80):
            if found or hi >= g_max:
                break
            hi = min(max(hi, scale) * 2.0, g_max)
            found = binds(hi)
        if not found:
            return name, None
        lo = max(-abs(hi), g_min)
        if binds(lo):
            return name, float(lo * o.sign)
        hi = bisect_boundary(binds, lo, hi, steps=200, tol=lambda hi: 1e-13 * max(scale, abs(hi)))
        return name, float(hi * o.sign)

    def loss_without_payments(self) -> tuple[float, dict[str, float]]:
        """The investors' receipts if no outcome payment is made (guarantees only): their total and each tranche's.
        Receipts never fall as payments grow, so the loss with no payment is the most investors can lose under the
        contract's terms."""
        inv = self._investors(np.zeros((1, self.n_years)), np.zeros(1), with_irr=False)
        return float(inv.received[0]), {k: float(v[0]) for k, v in inv.tranche_received.items()}

    def significance_power(self, name: str, improvement: float) -> float:
        """Probability that the estimate of outcome ``name`` is significant in the good direction (two-sided test
        at ``evaluation.alpha``) if the true improvement is ``improvement``: ``F(improvement / SE - z)`` with ``F``
        the normal (or t) distribution function of the draws."""
        o = self.outcomes[self.outcome_index(name)]
        if o.se == 0:
            return float(improvement > 0)
        return _cdf(improvement / o.se - o.z_crit, self.distribution.df)

    def p_reach(self, name: str, bound: float, true_improvement: float) -> float:
        """Probability that the estimate's improvement reaches ``bound`` if the true improvement is
        ``true_improvement`` (normal or t, with the estimate's standard error)."""
        o = self.outcomes[self.outcome_index(name)]
        if o.se == 0:
            return float(true_improvement >= bound)
        return _cdf((true_improvement - bound) / o.se, self.distribution.df)

    def effective_bound(self, th: ThresholdSpec) -> float:
        """The improvement (estimate units) a threshold really asks for: its own, or the significance bound
        ``z × SE`` when that is higher and significance is required."""
        o = self.outcomes[self.outcome_index(th.outcome)]
        return max(th.at_effect, o.z_crit * o.se) if th.requires_significance else th.at_effect


def _cdf(x: float, df: float | None) -> float:
    return float(stats.norm.cdf(x) if df is None else stats.t.cdf(x, df))


def _shown(value: float) -> str:
    return "missing" if math.isnan(value) else f"{value:.6g}"


def _outside_message(j: int, o: Outcome, label: str, centre: float, lower: float, upper: float) -> str:
    """One line: the outcome, its scale and where it comes from, the bound the estimate crosses and the value."""
    scale, source = o.scale_used
    what = "a proportion between 0 and 1" if scale == "proportion" else "never negative"
    units = f", {o.units}" if o.units else ""
    side, bound = ("below its lower bound", lower) if centre < lower else ("above its upper bound", upper)
    if o.baseline is not None:
        level = o.baseline + centre
        limit = "0" if centre < lower else "1"
        why = (f"baseline {o.baseline:.6g} + effect {centre:.6g} = {level:.6g}, "
               f"{'below' if centre < lower else 'above'} {limit}")
    else:
        why = "an effect on a proportion lies between -1 and 1"
    hint = ("give a proportion's effect as a share (-0.02 for 2 percentage points) or correct the baseline"
            if scale == "proportion" else "check the estimate's units and the baseline")
    return (f"outcomes[{j}] ('{o.name}'{units}) is {what} ({source}): the estimate '{label}' = {centre:.6g} is "
            f"{side} {bound:.6g} ({why}); {hint}, or set outcomes[{j}].scale if the outcome is not "
            f"{'a proportion' if scale == 'proportion' else 'bounded below by 0'}")


def _z(alpha_two_sided: float, df: float | None) -> float:
    q = 1.0 - alpha_two_sided / 2.0
    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))


def _zp(power: float, df: float | None) -> float:
    return float(stats.norm.ppf(power) if df is None else stats.t.ppf(power, df))


def _timing(start: int, years: int, spread: Sequence[float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for j in range(years):
        for s, share in enumerate(spread):
            t = start + j + s
            out[t] = out.get(t, 0.0) + float(share)
    return out


def _payment_years(p: object) -> int:
    """Years over which a per-student payment is made (rate cards and earnings-linked payments), else 1."""
    return p.years if isinstance(p, RateCard | EarningsLinked) else 1


def _schedule_year(contract: Contract, o: Outcome, p: Schedule) -> int:
    """The contract year a schedule pays in: its ``pay_year``, else the last cohort's outcome year."""
    return p.pay_year if p.pay_year is not None else max(c.year for c in contract.cohorts) + o.lag_years


def _priced_labels(contract: Contract, dist_all: SamplingDistribution, rows: Mapping[str, EffectEstimate],
                   labels: Mapping[str, str]) -> list[str]:
    """The results label each outcome is priced on (in outcome order), after checking the label mapping and that
    each estimate exists, is shown and is finite.

    Parameters
    ----------
    contract
        The contract whose outcomes name their estimates.
    dist_all
        The sampling distribution of every estimate given.
    rows
        The estimate rows by label.
    labels
        Contract label → results label.

    Returns
    -------
    list of str
        One results label per outcome of the contract.
    """
    referred = [o.estimate for o in contract.outcomes] + _own_labels(contract)
    for key in labels:
        if key not in referred:
            raise SpecificationError(f"label mapping names '{key}', which no outcome of the contract refers to; the "
                                     f"contract refers to {', '.join(referred)}")
    wanted = []
    for i, o in enumerate(contract.outcomes):
        lab = labels.get(o.estimate, o.estimate)
        if lab in rows and rows[lab].suppressed:
            raise SuppressedEstimateError(
                f"outcomes[{i}].estimate: the estimate '{lab}' is suppressed by the small-cell rule "
                f"({rows[lab].suppression}); a suppressed estimate cannot be priced — price an estimate on more "
                "students (for example the full-sample estimate)")
        row = rows.get(lab)
        if row is not None and not (math.isfinite(row.estimate) and math.isfinite(row.std_error)):
            raise SpecificationError(
                f"outcomes[{i}] ('{o.name}') is priced on the estimate '{lab}', which has no finite estimate and "
                f"standard error (estimate {_shown(row.estimate)}, standard error {_shown(row.std_error)}): it was "
                "suppressed or could not be estimated, so the contract cannot be priced on it"
            )
        if lab not in dist_all.labels:
            available = ", ".join(dist_all.labels)
            raise MissingEstimateError(
                f"outcomes[{i}].estimate: no estimate labelled '{lab}' in the results given (available: {available}); "
                "change the label or map it (labels={'contract label': 'results label'}, --map on the command line)"
            )
        wanted.append(lab)
    return wanted


def _own_labels(contract: Contract) -> list[str]:
    """Labels the contract's equity terms and benefit streams name themselves (``estimate = ...``)."""
    own = [p.equity_premium.estimate for o in contract.outcomes
           if isinstance(p := o.payment, RateCard | Schedule) and p.equity_premium is not None
           and p.equity_premium.estimate is not None]
    own += [c.estimate for c in contract.conditions if c.estimate is not None]
    if contract.benefits is not None:
        own += [st.estimate for st in contract.benefits.streams if st.estimate is not None]
    return own


@dataclass(frozen=True)
class _Extra:
    """Labels priced beside the outcomes' own: each premium's group estimate (by outcome index), each floor's and
    each benefit stream's own estimate (None: the stream values its outcome's effect)."""

    premium: dict[int, str]
    floors: list[str]
    streams: list[str | None]

    def all(self) -> list[str]:
        return [*self.premium.values(), *self.floors, *(s for s in self.streams if s is not None)]


def subgroup_label(contract: Contract, outcome_label: str, group: str, outcome: str) -> str:
    """The label of an outcome's estimate for ``group`` under ``contract.subgroup_label`` (``outcome_label``: the
    results label of the outcome's own estimate)."""
    base = outcome_label.split("[", 1)[0]
    return contract.contract.subgroup_label.format(base=base, estimate=outcome_label, outcome=outcome, group=group)


def required_labels(contract: Contract, labels: Mapping[str, str] | None = None) -> list[str]:
    """Every results label pricing ``contract`` draws (after the label mapping ``labels``): the outcomes'
    estimates, the equity terms' group estimates and the benefit streams' own estimates, each once, in that
    order. For a caller that gathers the estimates from several results (the command line's ``--results``)."""
    labels = dict(labels or {})
    wanted = [labels.get(o.estimate, o.estimate) for o in contract.outcomes]
    out = list(wanted)
    names = [o.name for o in contract.outcomes]
    terms = [(j, p.equity_premium.group, p.equity_premium.estimate) for j, o in enumerate(contract.outcomes)
             if isinstance(p := o.payment, RateCard | Schedule) and p.equity_premium is not None]
    terms += [(names.index(c.outcome), c.group, c.estimate) for c in contract.conditions]
    for j, group, estimate in terms:
        out.append(labels.get(estimate, estimate) if estimate is not None
                   else subgroup_label(contract, wanted[j], group, names[j]))
    if contract.benefits is not None:
        out += [labels.get(st.estimate, st.estimate) for st in contract.benefits.streams if st.estimate is not None]
    return list(dict.fromkeys(out))


def _subgroup_labels(labels: Sequence[str]) -> list[str]:
    """The labels that look like subgroup estimates (``outcome[column=value]``)."""
    return [lab for lab in labels if "[" in lab and "=" in lab.split("[", 1)[1] and " vs " not in lab]


def _check_label(where: str, lab: str, rows: Mapping[str, EffectEstimate]) -> None:
    """Refuse a label whose estimate is suppressed or not finite."""
    row = rows.get(lab)
    if row is None:
        return
    if row.suppressed:
        raise SuppressedEstimateError(f"{where}: the estimate '{lab}' is suppressed by the small-cell rule "
                                      f"({row.suppression}); a suppressed estimate cannot be priced")
    if not (math.isfinite(row.estimate) and math.isfinite(row.std_error)):
        raise SpecificationError(f"{where}: the estimate '{lab}' has no finite estimate and standard error "
                                 f"(estimate {_shown(row.estimate)}, standard error {_shown(row.std_error)}), so the "
                                 "contract cannot be priced on it")


def _group_label(contract: Contract, where: str, outcome_index: int, group: str, estimate: str | None,
                 wanted: Sequence[str], dist_all: SamplingDistribution, rows: Mapping[str, EffectEstimate],
                 labels: Mapping[str, str]) -> str:
    """The results label of a priority group's estimate of an outcome, checked to be present and shown.

    Raises
    ------
    MissingSubgroupEstimateError
        The label is not in the results: the message names the group, the outcome, the label looked for and the
        subgroup labels available.
    """
    o = contract.outcomes[outcome_index]
    lab = labels.get(estimate, estimate) if estimate is not None else subgroup_label(
        contract, wanted[outcome_index], group, o.name)
    if lab not in dist_all.labels:
        subs = _subgroup_labels(dist_all.labels)
        how = ("named by 'estimate'" if estimate is not None
               else f"from contract.subgroup_label '{contract.contract.subgroup_label}'")
        avail = (f"{len(subs)} subgroup label{'' if len(subs) == 1 else 's'} available: {', '.join(subs)}" if subs
                 else f"the results have no subgroup estimates (labels: {', '.join(dist_all.labels)})")
        raise MissingSubgroupEstimateError(
            f"{where}: no estimate of outcome '{o.name}' for group '{group}' in the results (looked for '{lab}', "
            f"{how}); {avail}; estimate the outcome by that subgroup, or set 'estimate' to the group's label")
    _check_label(where, lab, rows)
    return lab


def _extra_labels(contract: Contract, dist_all: SamplingDistribution, rows: Mapping[str, EffectEstimate],
                  labels: Mapping[str, str], wanted: Sequence[str]) -> _Extra:
    """The labels of the equity premiums' and floors' group estimates and of the benefit streams' own estimates.

    Raises
    ------
    MissingSubgroupEstimateError
        A premium or floor whose group estimate is not in the results.
    MissingEstimateError
        A benefit stream whose estimate is not in the results (the message lists the labels present).
    """
    premium: dict[int, str] = {}
    for j, o in enumerate(contract.outcomes):
        prem = getattr(o.payment, "equity_premium", None)
        if prem is not None:
            premium[j] = _group_label(contract, f"outcomes[{j}].payment.equity_premium", j, prem.group,
                                      prem.estimate, wanted, dist_all, rows, labels)
    names = [o.name for o in contract.outcomes]
    floors = [_group_label(contract, f"conditions[{k}] (equity_floor)", names.index(c.outcome), c.group, c.estimate,
                           wanted, dist_all, rows, labels) for k, c in enumerate(contract.conditions)]
    streams: list[str | None] = []
    for k, st in enumerate(contract.benefits.streams if contract.benefits is not None else ()):
        if st.estimate is None:
            streams.append(None)
            continue
        lab = labels.get(st.estimate, st.estimate)
        if lab not in dist_all.labels:
            raise MissingEstimateError(
                f"benefits.streams[{k}].estimate: no estimate labelled '{lab}' in the results given; "
                f"{len(dist_all.labels)} label{'' if len(dist_all.labels) == 1 else 's'} present: "
                f"{', '.join(dist_all.labels)} (price the contract on the results that hold the projection too, or "
                "map the label: labels={'contract label': 'results label'}, --map on the command line)")
        _check_label(f"benefits.streams[{k}].estimate", lab, rows)
        streams.append(lab)
    return _Extra(premium, floors, streams)


def _estimand_notes(contract: Contract, wanted: Sequence[str], extra: _Extra) -> list[str]:
    """A note for each equity term whose group estimate was found from the outcome's label without its bracketed
    part (``credential[reduced_form]`` → ``credential[low_income=1]``): the two may be different estimands (a
    fuzzy RD's subgroup rows are local average treatment effects, its ``[reduced_form]`` row an intention to
    treat)."""
    names = [o.name for o in contract.outcomes]
    terms = [(j, lab) for j, lab in extra.premium.items()]
    terms += [(names.index(c.outcome), lab) for c, lab in zip(contract.conditions, extra.floors, strict=True)
              if c.estimate is None]
    notes = []
    for j, lab in dict.fromkeys(terms):
        prem = getattr(contract.outcomes[j].payment, "equity_premium", None)
        explicit = prem is not None and prem.estimate == lab
        if "[" in wanted[j] and not explicit and lab.split("[", 1)[0] == wanted[j].split("[", 1)[0]:
            notes.append(f"outcome '{names[j]}' is priced on '{wanted[j]}' and its group estimate on '{lab}' "
                         f"(found by contract.subgroup_label '{contract.contract.subgroup_label}'): check that they "
                         "are the same estimand (a fuzzy RD's subgroup rows are local average treatment effects, its "
                         "[reduced_form] row an intention-to-treat effect); set 'estimate' or subgroup_label if not")
    return notes


def _floors(contract: Contract, dist: SamplingDistribution, labels: Sequence[str], outs: Sequence[_Out]
            ) -> list[_Floor]:
    """Each equity floor bound to its group's estimate."""
    names = [o.outcome.name for o in outs]
    out = []
    for k, (c, lab) in enumerate(zip(contract.conditions, labels, strict=True)):
        j = names.index(c.outcome)
        centre, se = dist.marginal(lab)
        out.append(_Floor(c, k, j, lab, dist.index(lab), outs[j].sign, centre, se, outs[j].z_crit))
    return out


def _contract_years(contract: Contract) -> int:
    """The number of contract years the timeline spans: every payment, drawing, maturity and cost year.

    Raises
    ------
    SpecificationError
        A maturity before the last payment year, or more than 60 years.
    """
    pay_years: list[int] = []
    for o in contract.outcomes:
        p = o.payment
        if isinstance(p, Schedule):
            pay_years.append(_schedule_year(contract, o, p) + len(o.spread) - 1)
        else:
            pay_years.append(max(c.year for c in contract.cohorts) + o.lag_years + _payment_years(p) - 1
                             + len(o.spread) - 1)
    last = max(pay_years)
    fin = contract.financing
    if fin is not None:
        last = max(last, *(max(t.draw_years) for t in fin.tranches))
        if fin.maturity_year is not None:
            if fin.maturity_year < max(pay_years):
                raise SpecificationError(
                    f"financing.maturity_year = {fin.maturity_year} is before the last payment year {max(pay_years)}"
                )
            last = max(last, fin.maturity_year)
    if contract.costs is not None:
        last = max(last, len(contract.costs.service_by_year) - 1, len(contract.costs.other_by_year) - 1)
    n_years = last + 1
    if n_years > 60:
        raise SpecificationError(f"the contract spans {n_years} years; at most 60 are supported")
    return n_years


def _contract_economics(contract: Contract, economics: EconomicParameters | None) -> EconomicParameters:
    """The economic parameters the contract is priced with: the defaults (or ``economics``) in the contract's
    dollar year, with the contract's own parameter overrides."""
    econ = economics or load_economic_defaults()
    if contract.contract.dollar_year is not None:
        econ = econ.in_dollar_year(contract.contract.dollar_year)
    if contract.benefits is not None and contract.benefits.parameters:
        econ = econ.with_overrides(contract.benefits.parameters)
    return econ


def _mde_inputs(contract: Contract, mde: Mapping[str, float] | None) -> dict[str, float]:
    """Minimum detectable effects given by the contract's ``[evaluation] mde``, overridden by the design's.

    Raises
    ------
    SpecificationError
        A design MDE naming no outcome of the contract.
    OptionError
        A design MDE that is not a positive finite number.
    """
    mde_in = dict(contract.evaluation.mde)
    for key, val in (mde or {}).items():
        if key not in {o.name for o in contract.outcomes}:
            raise SpecificationError(f"mde names '{key}', which is not an outcome of the contract; outcomes: "
                                     f"{', '.join(o.name for o in contract.outcomes)}")
        if not (val > 0 and math.isfinite(val)):
            raise OptionError(f"mde for '{key}' must be a positive number, got {val}")
        mde_in[key] = float(val)
    return mde_in


def _check_effect_size(j: int, o: Outcome, label: str, centre: float, se: float) -> None:
    """Refuse an estimate (or its standard error) too large for a contract to price (:data:`MAX_AMOUNT`)."""
    if abs(centre) > MAX_AMOUNT or se > MAX_AMOUNT:
        raise OptionError(
            f"the estimate '{label}' is {centre:.3g} (standard error {se:.3g}); a contract prices effects of "
            f"at most {MAX_AMOUNT:.0e} in the estimate's units: check that it is in the units outcomes[{j}] "
            f"('{o.name}') states (a proportion for a binary outcome, dollars for earnings)"
        )


def _outcome_weights(contract: Contract, o: Outcome, n_years: int, benefit_rate: float) -> tuple[np.ndarray, float]:
    """An outcome's payment timing weights by contract year (students × timing; the count paid for per schedule)
    and its benefit weight (students × discount factor to the outcome year, summed over cohorts)."""
    p = o.payment
    weights = np.zeros(n_years)
    bweight = 0.0
    for c in contract.cohorts:
        y_out = c.year + o.lag_years
        bweight += c.students * (1.0 + benefit_rate) ** (-y_out)
        if isinstance(p, Schedule):
            continue
        for t, share in _timing(y_out, _payment_years(p), o.spread).items():
            weights[t] += c.students * share
    if isinstance(p, Schedule):
        mult = contract.students if p.per == "student" else 1.0
        for t, share in _timing(_schedule_year(contract, o, p), 1, o.spread).items():
            weights[t] += mult * share
    return weights, bweight


def _tiers(p: object) -> tuple[np.ndarray, np.ndarray]:
    """A schedule's tier thresholds and payments (empty for other payments)."""
    if isinstance(p, Schedule):
        return np.array([t.at for t in p.tiers]), np.array([t.pay for t in p.tiers])
    return np.zeros(0), np.zeros(0)


def _outcome_caps(j: int, o: Outcome, students: float) -> list[CapSpec]:
    """The caps in outcome ``j``'s payment terms: an earnings-linked per-student cap, then the outcome's cap."""
    p = o.payment
    caps: list[CapSpec] = []
    if isinstance(p, EarningsLinked) and p.cap_per_student is not None:
        caps.append(CapSpec("payment_per_student", f"outcomes[{j}].payment.cap_per_student", o.name,
                            float(p.cap_per_student), float(p.cap_per_student) * students,
                            f"{o.name}'s payment per student over its {p.years} year{'' if p.years == 1 else 's'}"))
    if p.cap is not None:
        caps.append(CapSpec("outcome", f"outcomes[{j}].payment.cap", o.name, float(p.cap), float(p.cap),
                            f"{o.name}'s total payment"))
    return caps


def _outcome_thresholds(o: Outcome, label: str, z_crit: float, se: float) -> list[ThresholdSpec]:
    """An outcome's conditions for payment: its schedule tiers, then its minimum effect or, without one, its
    significance requirement (for payments other than schedules)."""
    p = o.payment
    thresholds: list[ThresholdSpec] = []
    base = float(o.baseline) if o.baseline is not None else 1.0
    rel = isinstance(p, Schedule) and p.measure == "relative"
    if isinstance(p, Schedule):
        for i, tier in enumerate(p.tiers):
            thresholds.append(ThresholdSpec(o.name, label, "tier", i, tier.at, tier.at * base if rel else tier.at,
                                            p.measure, tier.pay, p.require_significance))
    if p.min_effect is not None:
        thresholds.append(ThresholdSpec(o.name, label, "min_effect", 0, p.min_effect, p.min_effect,
                                        "effect", None, p.require_significance))
    elif p.require_significance and not isinstance(p, Schedule):
        # significance alone is a threshold too: the improvement must reach z_{1-α/2} × SE
        thresholds.append(ThresholdSpec(o.name, label, "significance", 0, z_crit * se, z_crit * se,
                                        "effect", None, True))
    return thresholds


def _outcome_mde(contract: Contract, name: str, mde_in: Mapping[str, float], se: float, z_crit: float,
                 z_pow: float, df: float | None) -> tuple[float, str]:
    """An outcome's minimum detectable effect and where it comes from (the design, or the standard error)."""
    if name in mde_in:
        return mde_in[name], "supplied by the design"
    ev = contract.evaluation
    source = (f"(z_{{1-α/2}} + z_power) × SE = ({z_crit:.4f} + {z_pow:.4f}) × {se:.6g}"
              f" (α = {ev.alpha:g}, power = {ev.power:g}"
              + (f", t with {df:g} df" if df is not None else "") + ")")
    return minimum_detectable_effect(se, alpha=ev.alpha, power=ev.power, df=df), source


@dataclass(frozen=True)
class _CompiledOutcomes:
    """What the outcomes of a contract compile to (in outcome order)."""

    outs: list[_Out]
    thresholds: list[ThresholdSpec]
    caps: list[CapSpec]
    mde: dict[str, float]
    mde_source: dict[str, str]


def _compile_outcomes(contract: Contract, dist: SamplingDistribution, wanted: Sequence[str], n_years: int,
                      benefit_rate: float, mde_in: Mapping[str, float],
                      levels: Mapping[str, tuple[float, str]] | None = None,
                      premium_labels: Mapping[int, str] | None = None) -> _CompiledOutcomes:
    """Each outcome bound to its estimate: timing and benefit weights, tiers, bounds, caps, thresholds and MDE.

    Raises
    ------
    OptionError
        An estimate too large to price, or outside the effects the outcome's scale allows.
    """
    ev = contract.evaluation
    z_crit = _z(ev.alpha, dist.df)
    z_pow = _zp(ev.power, dist.df)
    res = _CompiledOutcomes([], [], [], {}, {})
    for j, o in enumerate(contract.outcomes):
        centre, se = dist.marginal(wanted[j])
        _check_effect_size(j, o, wanted[j], centre, se)
        sign = 1.0 if o.direction == "increase" else -1.0
        weights, bweight = _outcome_weights(contract, o, n_years, benefit_rate)
        tier_at, tier_pay = _tiers(o.payment)
        lower, upper = o.effect_bounds()
        if not lower <= centre <= upper:
            raise OptionError(_outside_message(j, o, wanted[j], centre, lower, upper))
        level_base, level_source = _level(j, o, wanted[j], levels or {})
        prem = getattr(o.payment, "equity_premium", None)
        prem_label = (premium_labels or {}).get(j)
        prem_base = None
        if prem is not None:
            prem_base = prem.baseline if prem.baseline is not None else o.baseline
        res.outs.append(_Out(o, dist.index(wanted[j]), sign, centre, se, z_crit, weights, bweight, tier_at, tier_pay,
                             lower, upper, level_base, level_source, prem,
                             None if prem_label is None else dist.index(prem_label), prem_base))
        res.caps.extend(_outcome_caps(j, o, contract.students))
        res.thresholds.extend(_outcome_thresholds(o, wanted[j], z_crit, se))
        res.mde[o.name], res.mde_source[o.name] = _outcome_mde(contract, o.name, mde_in, se, z_crit, z_pow, dist.df)
    return res


def _contract_caps(contract: Contract) -> list[CapSpec]:
    """The contract-wide caps: on the average payment per student served, then on the project's total."""
    caps: list[CapSpec] = []
    if contract.caps.per_student is not None:
        caps.append(CapSpec("per_student", "caps.per_student", None, float(contract.caps.per_student),
                            float(contract.caps.per_student) * contract.students,
                            "the average payment per student served, all outcomes"))
    if contract.caps.project is not None:
        caps.append(CapSpec("project", "caps.project", None, float(contract.caps.project),
                            float(contract.caps.project), "the total payment, all outcomes"))
    return caps


def _financing(contract: Contract, n_years: int) -> tuple[list[TrancheSpec], list[GuaranteeSpec], list[str]]:
    """The financing's tranches (drawings by contract year), guarantees and the tranches held by investors
    (every tranche but recoverable grants)."""
    tranches: list[TrancheSpec] = []
    guarantees: list[GuaranteeSpec] = []
    investor: list[str] = []
    fin = contract.financing
    if fin is not None:
        for tr in fin.tranches:
            draws = np.zeros(n_years)
            shares = tr.draw_shares or [1.0 / len(tr.draw_years)] * len(tr.draw_years)
            for y, frac in zip(tr.draw_years, shares, strict=True):
                draws[y] += tr.amount * frac
            tranches.append(TrancheSpec(tr.name, tr.kind, draws, tr.effective_return_cap, tr.effective_priority))
            if tr.kind != "recoverable_grant":
                investor.append(tr.name)
        guarantees = [GuaranteeSpec(g.name, g.covers, g.amount, g.mode) for g in fin.guarantees]
    return tranches, guarantees, investor


def _level(j: int, o: Outcome, label: str, levels: Mapping[str, tuple[float, str]]) -> tuple[float | None, str]:
    """The outcome's level without the program (to count the students achieving it) and where it comes from: the
    contract's baseline, else the control level the estimates report for its label (a proportion only)."""
    if o.baseline is not None:
        return float(o.baseline), f"the contract's baseline (outcomes[{j}].baseline)"
    scale, _ = o.scale_used
    if label in levels and scale == "proportion" and 0.0 <= levels[label][0] <= 1.0:
        return levels[label]
    return None, f"none: the estimates report no control level for '{label}'; give outcomes[{j}].baseline"


def control_levels(estimates: HasSamplingDistribution | Sequence[HasSamplingDistribution]
                   ) -> dict[str, tuple[float, str]]:
    """The control-side level of each estimate the results report (label → level, source): an RD fit's
    unadjusted local fit just below the cutoff (``fits[].baseline.local_fit``, for the fit's label and its
    ``[reduced_form]``, ``[conventional]``, ``[bias_corrected]`` rows), from a fitted result or a results
    record. Results without one contribute nothing."""
    sources = [estimates] if isinstance(estimates, HasSamplingDistribution) else list(estimates)
    out: dict[str, tuple[float, str]] = {}
    for src in sources:
        fits: list[tuple[str, float]] = []
        for f in getattr(src, "fits", None) or ():
            base = getattr(f, "baseline", None)
            value = getattr(base, "local_fit", None)
            if isinstance(getattr(f, "label", None), str) and isinstance(value, float):
                fits.append((f.label, value))
        details = getattr(src, "details", None)
        if isinstance(details, Mapping):
            for f in details.get("fits") or ():
                base = f.get("baseline") if isinstance(f, Mapping) else None
                local = base.get("local_fit") if isinstance(base, Mapping) else None
                if isinstance(local, Mapping):  # the record writes {"value": ..., "std_error": ...}
                    local = local.get("value")
                if isinstance(local, int | float) and not isinstance(local, bool):
                    fits.append((str(f.get("label")), float(local)))
        for label, value in fits:
            if not math.isfinite(value):
                continue
            text = (f"the control-side level of '{label}' the RD results report (local fit just below the cutoff, "
                    "fits[].baseline.local_fit) plus the effect")
            stem = label[:-1] + "," if label.endswith("]") else label + "["
            for lab in (label, f"{stem}reduced_form]", f"{stem}conventional]", f"{stem}bias_corrected]"):
                out.setdefault(lab, (value, text))
    return out


def _streams(contract: Contract, econ: EconomicParameters, benefit_rate: float, outs: Sequence[_Out],
             dist: SamplingDistribution, stream_labels: Sequence[str | None]) -> tuple[list[_Stream], np.ndarray]:
    """Each benefit stream bound to the estimate it values, and the matrix (outcomes × beneficiaries) of present
    values per unit of improvement of the streams on paid outcomes' effects, cohort weights included."""
    streams: list[_Stream] = []
    bmat = np.zeros((len(outs), len(BENEFICIARIES)))
    if contract.benefits is None:
        return streams, bmat
    for stream, own in zip(contract.benefits.streams, stream_labels, strict=True):
        uv = unit_value(stream, econ, benefit_rate)
        j = next((i for i, out in enumerate(outs) if out.outcome.name == stream.outcome), None)
        if own is None and j is not None:
            o = outs[j]
            bmat[j] += uv.values * o.benefit_weight
            streams.append(_Stream(stream, uv, dist.labels[o.column], o.column, o.sign, o.outcome.lag_years,
                                   o.benefit_weight, False))
            continue
        assert own is not None  # noqa: S101 - the contract model requires an estimate for a stream of its own
        paid = outs[j].outcome if j is not None else None
        direction = stream.direction or (paid.direction if paid is not None else "increase")
        lag = stream.lag_years if stream.lag_years is not None else (paid.lag_years if paid is not None else 0)
        weight = float(sum(c.students * (1.0 + benefit_rate) ** (-(c.year + lag)) for c in contract.cohorts))
        streams.append(_Stream(stream, uv, own, dist.index(own), 1.0 if direction == "increase" else -1.0, lag,
                               weight, True))
    return streams, bmat


def _cost_pv(contract: Contract, tranches: Sequence[TrancheSpec], years: np.ndarray, benefit_rate: float,
             notes: list[str]) -> tuple[float | None, str]:
    """The present value of the program's costs (the ``[costs]`` section, else the capital drawn) and what it is;
    appends a note to ``notes`` when the capital raised falls short of the costs."""
    if contract.costs is not None:
        costs = np.zeros(years.size)
        svc = np.asarray(contract.costs.service_by_year, dtype=float)
        oth = np.asarray(contract.costs.other_by_year, dtype=float)
        costs[: svc.size] += svc
        costs[: oth.size] += oth
        cost_pv = float(costs @ ((1.0 + benefit_rate) ** (-years)))
        if tranches:
            raised = sum(tr.principal for tr in tranches)
            if raised + 1e-6 < float(costs.sum()):
                cur = contract.contract.currency
                notes.append(f"The capital raised ({raised:,.0f} {cur}) is below the undiscounted program costs "
                             f"({float(costs.sum()):,.0f} {cur}); the rest is funded outside the deal.")
        return cost_pv, "present value of the service and other costs in the contract's costs section"
    if tranches:
        draws_all = sum(tr.draws for tr in tranches)
        return (float(np.asarray(draws_all) @ ((1.0 + benefit_rate) ** (-years))),
                "no [costs] given: the capital drawn (present value) stands for the program's cost")
    return None, ""


def compile_contract(
    contract: Contract,
    estimates: HasSamplingDistribution | Sequence[HasSamplingDistribution],
    *,
    labels: Mapping[str, str] | None = None,
    mde: Mapping[str, float] | None = None,
    economics: EconomicParameters | None = None,
) -> CompiledContract:
    """Bind ``contract`` to ``estimates`` (and the economic parameters).

    Parameters
    ----------
    labels
        Renames a contract's estimate labels to the labels of the results (contract label → results label), for
        results whose labels differ from the contract's.
    mde
        Minimum detectable effects from the design (outcome name → MDE in the estimate's units); they take
        precedence over ``[evaluation] mde`` in the contract.

    Raises
    ------
    SuppressedEstimateError
        The contract prices an estimate the small-cell rule hides (it describes fewer than ``min_cell`` students).
    SpecificationError
        A label the results do not have, or a label mapping naming no outcome of the contract.
    """
    dist_all, rows, notes, described = combine_estimates(estimates,
                                                         needed=required_labels(contract, dict(labels or {})))
    label_map = dict(labels or {})
    wanted = _priced_labels(contract, dist_all, rows, label_map)
    extra = _extra_labels(contract, dist_all, rows, label_map, wanted)
    notes.extend(_estimand_notes(contract, wanted, extra))
    dist = dist_all.subset(list(dict.fromkeys([*wanted, *extra.all()])))
    if len(wanted) > 1 and not dist.joint:
        notes.append("the draws treat the priced estimates as independent: their covariances were not estimated "
                     "(joint = false)")
    est_rows = {lab: rows[lab] for lab in wanted if lab in rows}
    n_years = _contract_years(contract)
    econ = _contract_economics(contract, economics)
    benefit_rate = econ["discount_rate"]
    compiled = _compile_outcomes(contract, dist, wanted, n_years, benefit_rate, _mde_inputs(contract, mde),
                                 control_levels(estimates), extra.premium)
    outs = compiled.outs
    payor_names = tuple(p.name for p in contract.payors)
    share_matrix = np.array([[contract.payor_shares(o)[name] for name in payor_names] for o in contract.outcomes])
    years = np.arange(n_years, dtype=float)
    payor_disc = np.stack([(1.0 + (py.discount_rate if py.discount_rate is not None
                                   else contract.contract.discount_rate)) ** (-years) for py in contract.payors])
    tranches, guarantees, investor = _financing(contract, n_years)
    streams, bmat = _streams(contract, econ, benefit_rate, outs, dist, extra.streams)
    floors = _floors(contract, dist, extra.floors, outs)
    cost_pv, cost_note = _cost_pv(contract, tranches, years, benefit_rate, notes)
    return CompiledContract(
        contract=contract, distribution=dist, estimates=est_rows, outcomes=tuple(outs), n_years=n_years,
        payor_names=payor_names, payor_levels=tuple(p.level for p in contract.payors), payor_share=share_matrix,
        payor_discount=payor_disc, contract_discount=(1.0 + contract.contract.discount_rate) ** (-years),
        thresholds=tuple(compiled.thresholds), caps=tuple(compiled.caps + _contract_caps(contract)),
        tranches=tuple(tranches), guarantees=tuple(guarantees), investor_tranches=tuple(investor), economics=econ,
        unit_values=tuple(st.unit for st in streams), benefit_matrix=bmat, benefit_rate=benefit_rate, cost_pv=cost_pv,
        cost_note=cost_note, mde=compiled.mde, mde_source=compiled.mde_source, notes=notes,
        described={lab: described[lab] for lab in dist.labels if lab in described},
        floors=tuple(floors), streams=tuple(streams),
    )


def closed_form_p_floor(compiled: CompiledContract, floor: _Floor) -> float:
    """P(equity floor met) under the group estimate's (normal or t) marginal: ``F((improvement - bound) / SE)``."""
    mu = floor.sign * floor.centre
    if floor.se == 0:
        return float(mu >= floor.bound)
    return _cdf((mu - floor.bound) / floor.se, compiled.distribution.df)


def closed_form_p_met(compiled: CompiledContract, th: ThresholdSpec) -> float:
    """P(threshold met) under the estimate's (normal or t) marginal distribution, without simulation."""
    o = next(x for x in compiled.outcomes if x.outcome.name == th.outcome)
    bound = th.at_effect
    if th.requires_significance:
        bound = max(bound, o.z_crit * o.se)
    mu = o.sign * o.centre
    if o.se == 0:
        return float(mu >= bound)
    zval = (mu - bound) / o.se
    df = compiled.distribution.df
    return float(stats.norm.cdf(zval) if df is None else stats.t.cdf(zval, df))

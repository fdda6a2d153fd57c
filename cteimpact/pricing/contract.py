"""The Pay-for-Success contract specification: a TOML file (or a mapping, when a contract is embedded in an analysis
specification) validated into an immutable :class:`Contract`.

Layout of a contract (every table is documented on its model below; the shipped examples in
``cteimpact/pricing/examples`` show complete contracts)::

    [contract]                    name, currency, dollar_year, discount_rate, primary_outcome, sources, assumptions
    [[payors]]                    who pays: name, level (federal/state/local/district/...), share
    [[cohorts]]                   the population served: name, students, year (years after the contract start)
    [[outcomes]]                  what is paid for: name, estimate (label), direction, scale, baseline, lag_years, ...
    [outcomes.payment]            kind = "rate_card" | "schedule" | "savings_share" | "earnings_linked"
    [[outcomes.payment.tiers]]    thresholds of a schedule: at (improvement), pay
    [outcomes.payment.equity_premium]  a premium rate for a priority group's outcomes: group, rate, share
    [[conditions]]                kind = "equity_floor": a priority group's effect must not fall below a floor
    [caps]                        project and per-person caps
    [financing]                   [[financing.tranches]] (capital stack), [[financing.guarantees]]
    [costs]                       service (and other) costs by year
    [evaluation]                  alpha, power, minimum detectable effects passed in from the design
    [benefits]                    [[benefits.streams]] and [benefits.parameters] overrides of the defaults

Subgroup estimates (an equity premium, an equity floor) are found by their label: ``estimate`` when the term
names it, else ``contract.subgroup_label`` with ``{base}`` the outcome's estimate label without a bracketed
suffix (``credential[reduced_form]`` -> ``credential``), ``{estimate}`` the whole label, ``{outcome}`` the
outcome's name and ``{group}`` the group (``low_income=1``); the default ``{base}[{group}]`` follows the RD
convention (``credential[low_income=1]``, see :mod:`cteimpact.rd.estimator`).

A benefit stream with an ``estimate`` values that estimate (for example a long-run earnings effect projected by
the surrogate index, ``earnings_age26[surrogate]``) rather than the effect of a paid outcome: its ``outcome`` may
then name a paid outcome (whose timing it follows) or only the stream.

Effects are stated in the units of the estimate they refer to (a proportion for a binary outcome, dollars for
earnings). Thresholds are stated as improvements in the outcome's good direction: for an outcome whose good
direction is ``"decrease"`` (dropout), a reduction of 2 percentage points is written ``at = 0.02``.

An outcome's ``scale`` bounds the effects it can have: a proportion with baseline ``b`` changes by at least ``-b``
and at most ``1 - b``, a non-negative outcome (earnings) falls by at most its baseline. An estimate outside these
bounds is refused when the contract is priced (it is in the wrong units, or the baseline is wrong); simulated
draws beyond them are priced at the bound (:mod:`cteimpact.pricing.montecarlo`). Rate cards and savings shares
pay per student, so their outcomes are proportions unless ``scale`` says otherwise.

Numbers are TOML numbers (``price = "25000"`` is refused, not converted), ``inf`` and ``nan`` are refused, and every
amount of money is at most :data:`MAX_AMOUNT` (and students per cohort at most :data:`MAX_STUDENTS`), so that the
payments computed from them stay finite. Errors are :class:`~cteimpact.errors.SpecificationError` with one line
naming the key path, what is wrong and the allowed values (:mod:`cteimpact.config.toml`), for example
``contract 'x.toml': outcomes[0].payment.price: must be >= 0, got -5.0``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cteimpact.config.toml import ConfigModel, read_toml, validate

__all__ = [
    "BENEFICIARIES",
    "MAX_AMOUNT",
    "MAX_STUDENTS",
    "PAYOR_LEVELS",
    "SUBGROUP_LABEL",
    "BenefitStream",
    "Benefits",
    "Caps",
    "Cohort",
    "Contract",
    "ContractInfo",
    "Costs",
    "EarningsLinked",
    "EquityFloor",
    "EquityPremium",
    "Evaluation",
    "Financing",
    "Guarantee",
    "Outcome",
    "Payor",
    "RateCard",
    "SavingsShare",
    "Schedule",
    "Tier",
    "Tranche",
    "load_contract",
]

BENEFICIARIES: tuple[str, ...] = ("participants", "federal", "state", "local", "district", "employers", "others")
"""Who benefits, in the benefit–cost split (``state`` is state and local government unless the tax split is set)."""
PAYOR_LEVELS: tuple[str, ...] = ("federal", "state", "local", "district", "employers", "philanthropy", "other")
"""What a payor is; its benefit is the benefit of the beneficiary of the same name (philanthropy and other: none)."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_SHARE_TOL = 1e-9
_TRANCHE_PRIORITY = {"senior_loan": 1, "junior_loan": 2, "recoverable_grant": 3, "equity": 4}
"""Default repayment order: loans, then recoverable grants (no return), then equity (the residual claimant)."""
MAX_AMOUNT = 1e15
"""Largest amount of money (and effect or threshold, in the estimate's units) a contract may state: a thousand
trillion, beyond any budget, and small enough that payments computed from it cannot overflow."""
MAX_STUDENTS = 1e9
"""Largest number of students in a cohort."""
SUBGROUP_LABEL = "{base}[{group}]"
"""Default label of an outcome's estimate for a subgroup (the RD convention: ``credential[low_income=1]``)."""
_PLACEHOLDERS = ("base", "estimate", "outcome", "group")
_GROUP = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*=[^\[\]=]+$")


class _Strict(ConfigModel, BaseModel):  # BaseModel named for linters: the fields' list defaults are copied
    """Frozen model that rejects unknown keys and values of the wrong TOML type (see :mod:`cteimpact.config.toml`)."""

    model_config = ConfigDict(str_strip_whitespace=True)


def _check_pattern(v: str) -> str:
    """A subgroup label pattern: placeholders among :data:`_PLACEHOLDERS`, ``{group}`` among them."""
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
    except ValueError as exc:
        raise ValueError(f"subgroup_label '{v}' is not a valid pattern ({exc})") from None
    bad = [f for f in fields if f not in _PLACEHOLDERS]
    if bad:
        raise ValueError(f"subgroup_label '{v}' uses unknown placeholders {bad}; allowed: "
                         + ", ".join("{" + f + "}" for f in _PLACEHOLDERS))
    if "group" not in fields:
        raise ValueError(f"subgroup_label '{v}' must contain {{group}}")
    return v


def _group(v: str) -> str:
    if not _GROUP.match(v):
        raise ValueError(f"group '{v}' must be 'column=value' (for example 'low_income=1')")
    return v


def _name(v: str, what: str) -> str:
    if not _NAME.match(v):
        raise ValueError(f"{what} '{v}' must start with a letter and contain only letters, digits, '_', '.', '-'")
    return v


NonNeg = Annotated[float, Field(ge=0, le=MAX_AMOUNT)]
Pos = Annotated[float, Field(gt=0, le=MAX_AMOUNT)]
Bounded = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
Students = Annotated[float, Field(gt=0, le=MAX_STUDENTS)]
Share = Annotated[float, Field(ge=0, le=1)]
Rate = Annotated[float, Field(gt=-0.5, lt=1.0)]
Year = Annotated[int, Field(ge=0, le=59)]


class ContractInfo(_Strict):
    """``[contract]``: identification and conventions."""

    name: str = Field(min_length=1)
    description: str = ""
    currency: str = "USD"
    dollar_year: int | None = Field(default=None, ge=1900, le=2200)
    """Dollar year of all amounts (defaults to the economics defaults' year)."""
    start_year: int | None = Field(default=None, ge=1900, le=2200)
    """Calendar year of contract year 0 (labels only)."""
    discount_rate: Rate = 0.03
    """Real rate at which payors discount payments (NPV of payments)."""
    primary_outcome: str | None = None
    """Outcome whose effect the payment curve and break-even effect vary (default: the first outcome)."""
    subgroup_label: str = SUBGROUP_LABEL
    """Pattern of a subgroup estimate's label (placeholders ``{base}``, ``{estimate}``, ``{outcome}``,
    ``{group}``; see the module docstring)."""
    sources: list[str] = []
    assumptions: list[str] = []

    @field_validator("subgroup_label")
    @classmethod
    def _v_pattern(cls, v: str) -> str:
        return _check_pattern(v)


class Payor(_Strict):
    """``[[payors]]``: an outcome payor."""

    name: str
    level: Literal["federal", "state", "local", "district", "employers", "philanthropy", "other"]
    share: Share | None = None
    """Default share of every outcome's payments (all payors or none must give one; they sum to 1)."""
    benefit_fraction: Share = 1.0
    """Share of its level's benefit that accrues to this payor (when two payors share a level)."""
    discount_rate: Rate | None = None

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str) -> str:
        return _name(v, "payor name")


class Cohort(_Strict):
    """``[[cohorts]]``: students served, by cohort."""

    name: str
    students: Students
    year: Year = 0
    """Contract year in which the cohort is served."""

    @field_validator("name", mode="before")
    @classmethod
    def _v_name(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class Tier(_Strict):
    """A schedule breakpoint: ``pay`` once the improvement reaches ``at``."""

    at: Annotated[float, Field(le=MAX_AMOUNT)]
    pay: NonNeg

    @field_validator("at")
    @classmethod
    def _v_at(cls, v: float) -> float:
        if v <= 0:
            raise ValueError(
                f"threshold {v} is not an improvement: thresholds are stated as positive improvements in the "
                "outcome's good direction (a 2-point fall in dropout is at = 0.02 with direction = 'decrease')"
            )
        return v


class _Conditional(_Strict):
    min_effect: NonNeg | None = None
    """Payments start once the improvement (effect units, good direction) reaches this value."""
    require_significance: bool = False
    """Pay only if the estimate is significant in the good direction (two-sided test at evaluation.alpha)."""
    cap: NonNeg | None = None
    """Cap on this outcome's total payments."""


class EquityPremium(_Strict):
    """``[outcomes.payment.equity_premium]``: outcomes of a priority group are paid at ``price × (1 + rate)``.

    The premium is ``rate`` times what the payment's terms give on the group's own estimate, for the group's
    ``share`` of the students served: for an impact rate card ``price × rate × improvement_group × share ×
    students``; for a gross rate card the group's outcomes achieved (its ``baseline`` plus its effect); for a
    schedule ``rate × share ×`` the schedule's pay at the group's improvement. The outcome's conditions (minimum
    effect, significance) and caps apply to the premium as to the rest of its payment.
    """

    group: str
    """The priority group, ``column=value`` (for example ``low_income=1``)."""
    rate: Annotated[float, Field(ge=0, le=10)]
    """Premium rate (0.5: the group's outcomes are paid at 1.5 times the price)."""
    share: Annotated[float, Field(gt=0, le=1)]
    """The group's share of the students served (0 < share <= 1)."""
    estimate: str | None = Field(default=None, min_length=1)
    """Label of the group's estimate (default: ``contract.subgroup_label``)."""
    baseline: Share | None = None
    """The group's level without the program (a gross rate card; default: the outcome's baseline)."""

    @field_validator("group")
    @classmethod
    def _v_group(cls, v: str) -> str:
        return _group(v)


class EquityFloor(_Strict):
    """``[[conditions]]`` of kind ``equity_floor``: payments are made only in the draws (and at the estimate) where
    the effect for a priority group is not below ``floor``.

    ``floor`` is an improvement in the outcome's good direction, in the estimate's units (``floor = 0.0``: the
    program must not harm the group; for dropout, ``direction = "decrease"``, a floor of 0.01 asks for a fall of
    at least one point). It is checked on each Monte Carlo draw of the group's estimate, as the outcomes'
    thresholds are (reached at equality).
    """

    kind: Literal["equity_floor"]
    group: str
    """The priority group, ``column=value``."""
    outcome: str
    """The contract outcome whose effect for the group is checked."""
    floor: Bounded
    """Smallest improvement (good direction, estimate units) of the group for any payment."""
    estimate: str | None = Field(default=None, min_length=1)
    """Label of the group's estimate (default: ``contract.subgroup_label``)."""
    require_significance: bool = False
    """Also require the group's estimate to be significant in the good direction (evaluation.alpha)."""
    withhold: Literal["contract", "outcome"] = "contract"
    """What is withheld where the floor fails: every payment of the contract, or the outcome's only."""

    @field_validator("group")
    @classmethod
    def _v_group(cls, v: str) -> str:
        return _group(v)


class RateCard(_Conditional):
    """A price per outcome achieved."""

    kind: Literal["rate_card"]
    price: NonNeg
    """Price per outcome (per additional student achieving it, or per student achieving it on a gross basis)."""
    basis: Literal["impact", "gross"] = "impact"
    """``impact``: outcomes attributable to the program (effect × students); ``gross``: every outcome achieved, as
    a rate card without a comparison group pays (requires the outcome's baseline)."""
    years: Annotated[int, Field(ge=1, le=40)] = 1
    """The price is paid in each of this many consecutive years (for example per year of special education
    avoided)."""
    equity_premium: EquityPremium | None = None


class Schedule(_Conditional):
    """A step or piecewise-linear schedule of payments on the size of the effect."""

    kind: Literal["schedule"]
    tiers: list[Tier] = Field(min_length=1)
    interpolation: Literal["step", "linear"] = "step"
    measure: Literal["effect", "relative"] = "effect"
    """``effect``: thresholds in the estimate's units; ``relative``: improvement as a share of the baseline (a 10%
    reduction in recidivism is at = 0.10)."""
    per: Literal["project", "student"] = "project"
    """Tier amounts for the whole project or per student served."""
    pay_year: Year | None = None
    """Contract year of the payment (default: last cohort's year + lag_years)."""
    equity_premium: EquityPremium | None = None

    @model_validator(mode="after")
    def _v_tiers(self) -> Schedule:
        for i in range(1, len(self.tiers)):
            a, b = self.tiers[i - 1], self.tiers[i]
            if not b.at > a.at:
                raise ValueError(
                    f"tiers overlap or are out of order: tiers[{i}].at = {b.at} is not above tiers[{i - 1}].at = "
                    f"{a.at}; list thresholds in increasing order, each once"
                )
            if b.pay < a.pay:
                raise ValueError(
                    f"tiers[{i}].pay = {b.pay} is below tiers[{i - 1}].pay = {a.pay}; a schedule must not pay less "
                    "for a larger improvement"
                )
        return self


class SavingsShare(_Conditional):
    """A share of the savings the outcomes produce for the payors."""

    kind: Literal["savings_share"]
    savings_per_outcome: NonNeg
    share: Share


class EarningsLinked(_Conditional):
    """A share of participants' earnings gains (the effect is in dollars per student per year)."""

    kind: Literal["earnings_linked"]
    rate: Annotated[float, Field(gt=0, le=1)]
    years: Annotated[int, Field(ge=1, le=40)] = 1
    """Years of earnings gains counted (paid annually)."""
    cap_per_student: NonNeg | None = None


Payment = Annotated[RateCard | Schedule | SavingsShare | EarningsLinked, Field(discriminator="kind")]


class Outcome(_Strict):
    """``[[outcomes]]``: an outcome the contract pays for, tied to an estimate."""

    name: str
    estimate: str = Field(min_length=1)
    """Label of the estimate (the primary estimate of outcome Y is labelled Y)."""
    direction: Literal["increase", "decrease"]
    """The good direction (fewer dropouts is 'decrease')."""
    units: str = ""
    scale: Literal["proportion", "nonnegative", "unbounded"] | None = None
    """What values the outcome's level can take, which bounds the effect (see :meth:`effect_bounds`):
    ``proportion`` (a share of students, in [0, 1]: dropout, graduation), ``nonnegative`` (earnings, counts) or
    ``unbounded`` (test scores in standard deviations). Omitted: implied by the payment, see :attr:`scale_used`."""
    baseline: Bounded | None = None
    """Level of the outcome without the program, in the estimate's units (a rate for a binary outcome)."""
    lag_years: Year = 0
    """Years after a cohort's year when its outcome is measured and paid."""
    spread: list[Share] = [1.0]
    """Split of each payment over consecutive years from the payment year."""
    payors: dict[str, Share] | None = None
    """Who pays this outcome (payor name → share); default: the payors' shares."""
    payment: Payment

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str) -> str:
        return _name(v, "outcome name")

    @model_validator(mode="after")
    def _v_outcome(self) -> Outcome:
        if abs(sum(self.spread) - 1.0) > _SHARE_TOL:
            raise ValueError(f"spread {self.spread} must sum to 1, sums to {sum(self.spread):.6g}")
        p = self.payment
        if isinstance(p, EarningsLinked) and self.spread != [1.0]:
            raise ValueError("spread does not apply to earnings_linked payments (they are paid for each of 'years')")
        needs_base = (isinstance(p, RateCard) and p.basis == "gross") or (
            isinstance(p, Schedule) and p.measure == "relative")
        if needs_base and self.baseline is None:
            what = "a gross rate card" if isinstance(p, RateCard) else "a relative schedule"
            raise ValueError(f"{what} needs the outcome's baseline (its level without the program)")
        if isinstance(p, Schedule) and p.measure == "relative" and self.baseline is not None and self.baseline <= 0:
            raise ValueError(f"a relative schedule needs a positive baseline, got {self.baseline}")
        if isinstance(p, RateCard) and p.basis == "gross" and self.baseline is not None and not (
                0 <= self.baseline <= 1):
            raise ValueError(f"a gross rate card counts students, so the baseline must be a rate in [0, 1], got "
                             f"{self.baseline}")
        scale, source = self.scale_used
        if self.baseline is not None and scale == "proportion" and not 0 <= self.baseline <= 1:
            raise ValueError(f"baseline {self.baseline} is outside [0, 1], but the outcome is a proportion ({source}); "
                             "state the baseline as a share of students, or set scale = 'nonnegative' or "
                             "'unbounded' if the outcome is not a share")
        if self.baseline is not None and scale == "nonnegative" and self.baseline < 0:
            raise ValueError(f"baseline {self.baseline} is negative, but the outcome cannot be negative ({source}); "
                             "set scale = 'unbounded' if it can")
        return self

    @property
    def scale_used(self) -> tuple[str, str]:
        """The outcome's scale and where it comes from: stated (``scale``), or implied by the payment — a rate card
        or a savings share pays per student achieving the outcome, so the outcome is a proportion; an
        earnings-linked payment is on earnings, which are not negative; a schedule implies nothing."""
        if self.scale is not None:
            return self.scale, "stated in the contract"
        p = self.payment
        if isinstance(p, RateCard | SavingsShare):
            return "proportion", f"implied by the {p.kind.replace('_', ' ')} payment, which pays per student"
        if isinstance(p, EarningsLinked):
            return "nonnegative", "implied by the earnings-linked payment: earnings are not negative"
        return "unbounded", "a schedule implies no bound; state scale to set one"

    def effect_bounds(self) -> tuple[float, float]:
        """The effects (in the estimate's units, signed) the outcome's scale and baseline allow: a proportion with
        baseline ``b`` can change by ``-b`` to ``1 - b`` (by -1 to 1 without a baseline); a non-negative outcome
        by at least ``-b`` (unbounded without a baseline). Infinite where there is no bound."""
        scale, _ = self.scale_used
        b = self.baseline
        if scale == "proportion":
            return (-1.0, 1.0) if b is None else (-float(b), 1.0 - float(b))
        if scale == "nonnegative" and b is not None:
            return -float(b), math.inf
        return -math.inf, math.inf


class Caps(_Strict):
    """``[caps]``: caps on total payments."""

    project: NonNeg | None = None
    per_student: NonNeg | None = None
    """Cap on payments per student served, enforced on the average (total / students served)."""


class Tranche(_Strict):
    """``[[financing.tranches]]``: one source of up-front capital."""

    name: str
    kind: Literal["senior_loan", "junior_loan", "equity", "recoverable_grant"]
    amount: Pos
    draw_years: list[Year] = [0]
    draw_shares: list[Share] | None = None
    """Share of ``amount`` drawn in each of ``draw_years`` (default: equal shares)."""
    return_cap: Annotated[float, Field(ge=0, lt=1)] | None = None
    """Annual rate at which the balance accrues (the most the tranche can earn); omitted: the tranche is the
    residual claimant (default 0 for a recoverable grant)."""
    priority: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str) -> str:
        return _name(v, "tranche name")

    @model_validator(mode="after")
    def _v_draws(self) -> Tranche:
        if not self.draw_years:
            raise ValueError("draw_years is empty: list the contract years in which the amount is drawn (for "
                             "example [0])")
        if len(set(self.draw_years)) != len(self.draw_years):
            raise ValueError(f"draw_years {self.draw_years} must list distinct years")
        if self.draw_shares is not None:
            if len(self.draw_shares) != len(self.draw_years):
                raise ValueError(f"draw_shares has {len(self.draw_shares)} entries for {len(self.draw_years)} "
                                 "draw_years")
            if abs(sum(self.draw_shares) - 1) > _SHARE_TOL:
                raise ValueError(f"draw_shares must sum to 1, sums to {sum(self.draw_shares):.6g}")
        return self

    @property
    def effective_priority(self) -> int:
        return self.priority if self.priority is not None else _TRANCHE_PRIORITY[self.kind]

    @property
    def effective_return_cap(self) -> float | None:
        if self.return_cap is None and self.kind == "recoverable_grant":
            return 0.0
        return self.return_cap


class Guarantee(_Strict):
    """``[[financing.guarantees]]``: a guarantee of a tranche, settled at maturity."""

    name: str
    covers: str
    amount: Pos
    mode: Literal["floor", "first_loss"] = "first_loss"
    """``floor``: the tranche receives at least ``amount`` in total; ``first_loss``: the guarantor covers the
    shortfall of the tranche's principal up to ``amount``."""


class Financing(_Strict):
    """``[financing]``: the capital stack."""

    tranches: list[Tranche] = Field(min_length=1)
    guarantees: list[Guarantee] = []
    maturity_year: Year | None = None
    """Last contract year of the deal (default: the last payment year)."""

    @model_validator(mode="after")
    def _v_financing(self) -> Financing:
        names = [t.name for t in self.tranches]
        if len(set(names)) != len(names):
            raise ValueError(f"tranche names must be unique, got {names}")
        uncapped = [t for t in self.tranches if t.effective_return_cap is None]
        if len(uncapped) > 1:
            raise ValueError(f"at most one tranche can be uncapped (the residual claimant); "
                             f"{', '.join(t.name for t in uncapped)} have no return_cap")
        if uncapped:
            last = max(t.effective_priority for t in self.tranches)
            u = uncapped[0]
            if u.effective_priority != last or sum(t.effective_priority == last for t in self.tranches) > 1:
                raise ValueError(f"the uncapped tranche '{u.name}' takes everything that reaches it, so it must be "
                                 "repaid last (give it the largest priority, alone)")
        for i, g in enumerate(self.guarantees):
            if g.covers not in names:
                raise ValueError(f"guarantees[{i}].covers = '{g.covers}' is not a tranche; tranches: "
                                 f"{', '.join(names)}")
        return self


class Costs(_Strict):
    """``[costs]``: costs of delivering the program, by contract year."""

    service_by_year: list[NonNeg] = Field(min_length=1)
    other_by_year: list[NonNeg] = []
    """Intermediary, evaluation and other transaction costs."""


class Evaluation(_Strict):
    """``[evaluation]``: the evaluation's test size and power, for minimum detectable effects."""

    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    power: Annotated[float, Field(gt=0, lt=1)] = 0.80
    mde: dict[str, Pos] = {}
    """Minimum detectable effects passed in from the design (outcome name → MDE in the estimate's units), for
    example from rdpower; outcomes without one use (z_{1-α/2} + z_power) × SE."""


class BenefitStream(_Strict):
    """``[[benefits.streams]]``: how one outcome's impact is valued and who benefits."""

    outcome: str
    """The paid outcome whose effect the stream values; with ``estimate``, a paid outcome whose timing the stream
    follows, or only the stream's name (``earnings_age26``)."""
    kind: Literal["diploma", "earnings", "per_outcome"]
    """``diploma``: each unit of impact is one more high school graduate (or dropout prevented): the diploma's
    earnings premium, taxes on it and the other public costs of dropping out. ``earnings``: the effect is an
    annual earnings gain per student. ``per_outcome``: ``value`` per unit of impact split by ``split``."""
    value: Bounded | None = None
    """Present value per unit of impact at the outcome year (per_outcome)."""
    split: dict[str, Share] | None = None
    """Beneficiary → share of ``value`` (per_outcome); beneficiaries: participants, federal, state, local, district,
    employers, others."""
    years: Annotated[int, Field(ge=1, le=40)] = 1
    """per_outcome: ``value`` accrues in each of this many years."""
    estimate: str | None = Field(default=None, min_length=1)
    """Label of the estimate the stream values (default: the effect of the outcome ``outcome``), for example a
    projected long-run earnings effect ``earnings_age26[surrogate]`` (dollars per student per year); it is drawn
    with the other estimates in the Monte Carlo."""
    direction: Literal["increase", "decrease"] | None = None
    """The good direction of ``estimate`` (default: the outcome's, or ``increase`` for a stream of its own)."""
    lag_years: Year | None = None
    """Years after a cohort's year when the benefit starts (default: the outcome's ``lag_years``, or 0)."""

    @model_validator(mode="after")
    def _v_stream(self) -> BenefitStream:
        if self.kind == "per_outcome":
            if self.value is None or self.split is None:
                raise ValueError("a per_outcome benefit stream needs 'value' and 'split'")
            bad = [k for k in self.split if k not in BENEFICIARIES]
            if bad:
                raise ValueError(f"split names unknown beneficiaries {bad}; allowed: {', '.join(BENEFICIARIES)}")
            if abs(sum(self.split.values()) - 1) > _SHARE_TOL:
                raise ValueError(f"split shares must sum to 1, sum to {sum(self.split.values()):.6g}")
        elif self.value is not None or self.split is not None:
            raise ValueError(f"'value' and 'split' apply only to per_outcome streams, not '{self.kind}'")
        if self.estimate is None and (self.direction is not None or self.lag_years is not None):
            raise ValueError("'direction' and 'lag_years' apply only to a stream with its own 'estimate' (a stream "
                             "on an outcome's effect follows the outcome's)")
        return self


class Benefits(_Strict):
    """``[benefits]``: the benefit–cost analysis."""

    streams: list[BenefitStream] = Field(min_length=1)
    parameters: dict[str, float | list[float]] = {}
    """Overrides of the economic defaults (dotted names, e.g. "taxes.federal_rate")."""


class Contract(_Strict):
    """A validated Pay-for-Success contract (immutable)."""

    contract: ContractInfo
    payors: list[Payor] = Field(min_length=1)
    cohorts: list[Cohort] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    caps: Caps = Caps()
    financing: Financing | None = None
    costs: Costs | None = None
    evaluation: Evaluation = Evaluation()
    benefits: Benefits | None = None
    conditions: list[EquityFloor] = []
    """Conditions on every payment (``kind = "equity_floor"``)."""

    @model_validator(mode="after")
    def _v_contract(self) -> Contract:
        payors = [p.name for p in self.payors]
        _unique(payors, "payors", "payor")
        _unique([c.name for c in self.cohorts], "cohorts", "cohort")
        outcomes = [o.name for o in self.outcomes]
        _unique(outcomes, "outcomes", "outcome")
        with_share = [p for p in self.payors if p.share is not None]
        if with_share and len(with_share) != len(self.payors):
            raise ValueError("payors: give every payor a share or none")
        if with_share and abs(sum(p.share or 0 for p in self.payors) - 1) > _SHARE_TOL:
            raise ValueError(f"payors: shares must sum to 1, sum to {sum(p.share or 0 for p in self.payors):.6g}")
        for i, o in enumerate(self.outcomes):
            where = f"outcomes[{i}]"
            if o.payors is not None:
                for name in o.payors:
                    if name not in payors:
                        raise ValueError(_unknown_ref(f"{where}.payors", name, "payor", payors))
                if abs(sum(o.payors.values()) - 1) > _SHARE_TOL:
                    raise ValueError(f"{where}.payors: shares must sum to 1, sum to {sum(o.payors.values()):.6g}")
            elif not with_share and len(self.payors) > 1:
                raise ValueError(f"{where}.payors: say who pays this outcome (payor = share), or give every payor a "
                                 "share")
        if self.contract.primary_outcome is not None and self.contract.primary_outcome not in outcomes:
            raise ValueError(_unknown_ref("contract.primary_outcome", self.contract.primary_outcome, "outcome",
                                          outcomes))
        for name in self.evaluation.mde:
            if name not in outcomes:
                raise ValueError(_unknown_ref("evaluation.mde", name, "outcome", outcomes))
        if self.benefits is not None:
            for j, s in enumerate(self.benefits.streams):
                if s.outcome not in outcomes and s.estimate is None:
                    raise ValueError(_unknown_ref(f"benefits.streams[{j}].outcome", s.outcome, "outcome", outcomes)
                                     + " (or give the stream its own 'estimate')")
        for j, cond in enumerate(self.conditions):
            if cond.outcome not in outcomes:
                raise ValueError(_unknown_ref(f"conditions[{j}].outcome", cond.outcome, "outcome", outcomes))
        if len({o.estimate for o in self.outcomes}) != len(self.outcomes):
            raise ValueError("outcomes: two outcomes refer to the same estimate label; price each estimate once")
        return self

    # -- derived views -------------------------------------------------------------------------------------
    @property
    def primary_outcome(self) -> Outcome:
        name = self.contract.primary_outcome or self.outcomes[0].name
        return next(o for o in self.outcomes if o.name == name)

    @property
    def students(self) -> float:
        """Students served over all cohorts."""
        return float(sum(c.students for c in self.cohorts))

    def payor_shares(self, outcome: Outcome) -> dict[str, float]:
        """Payor → share of ``outcome``'s payments."""
        if outcome.payors is not None:
            return {p.name: float(outcome.payors.get(p.name, 0.0)) for p in self.payors}
        if len(self.payors) == 1 and self.payors[0].share is None:
            return {self.payors[0].name: 1.0}
        return {p.name: float(p.share or 0.0) for p in self.payors}

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (round-trips through :func:`load_contract`)."""
        return self.model_dump(mode="json", exclude_none=True)


def _unique(names: list[str], where: str, what: str) -> None:
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise ValueError(f"{where}: {what} names must be unique; repeated: {', '.join(sorted(set(seen)))}")


def _unknown_ref(where: str, name: str, what: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown {what} '{name}'{hint}; {what}s: {', '.join(known)}"


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------


def load_contract(source: str | Path | Mapping[str, Any] | Contract) -> Contract:
    """Read and validate a contract from a TOML file (UTF-8, with or without a byte-order mark) or a mapping (a
    contract embedded in an analysis specification).

    Raises
    ------
    SpecificationError
        One line naming the key path, the problem and the allowed values.
    """
    if isinstance(source, Contract):
        return source
    if isinstance(source, Mapping):
        return validate(Contract, source, source="contract (mapping)")
    path = Path(source)
    return validate(Contract, read_toml(path, what="contract"), source=f"contract '{path.name}'")

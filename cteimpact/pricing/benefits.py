"""Benefit–cost analysis: the value of an outcome's impact, split by who benefits (the wrong-pockets problem).

Benefits are linear in impacts, so each benefit stream reduces to a vector of present values per unit of impact,
one entry per beneficiary (:data:`~cteimpact.pricing.contract.BENEFICIARIES`), at the year the outcome is
achieved. The pricing engine multiplies it by the impact of each cohort (effect × students, in the good
direction) and discounts from the cohort's outcome year to contract year 0.

Streams
-------
``diploma``
    One unit = one more high school graduate (or one dropout prevented). The diploma's annual earnings premium
    ``P = earnings.diploma_premium_annual × earnings.causal_fraction`` is received from
    ``earnings.start_delay_years`` after the outcome for ``earnings.horizon_years`` years, growing at
    ``earnings.real_growth``; participants keep ``P × (1 − federal − state/local tax rates − federal transfer
    offset)``, the federal government receives ``P × (federal tax rate + transfer offset)``, state and local
    governments ``P × state/local rate`` (split by ``taxes.state_share_of_state_local``). On top come the other
    public costs of dropping out that a graduate avoids (health, crime, welfare; Levin et al. 2007), split between
    federal, state and local governments.
``earnings``
    One unit = one dollar of annual earnings gain per student, lasting ``earnings.persistence_years`` from the
    outcome year, split by the same tax rates.
``per_outcome``
    One unit = one outcome worth ``value`` (present value at the outcome year, or per year for ``years`` years)
    split by ``split``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cteimpact.pricing.contract import BENEFICIARIES, BenefitStream
from cteimpact.pricing.defaults import EconomicParameters
from cteimpact.pricing.finance import annuity_factor

__all__ = ["UnitValue", "benefit_cost_ratio", "unit_value", "wsipp_benchmark"]


@dataclass(frozen=True)
class UnitValue:
    """Present value per unit of impact, by beneficiary, at the outcome year."""

    outcome: str
    kind: str
    values: np.ndarray
    """One entry per :data:`BENEFICIARIES`."""
    components: dict[str, float]
    """Named parts (for reports): earnings premium PV, taxes, each avoided public cost..."""

    @property
    def total(self) -> float:
        return float(self.values.sum())


def _index(name: str) -> int:
    return BENEFICIARIES.index(name)


def _split_earnings(pv_gross: float, econ: EconomicParameters) -> tuple[np.ndarray, dict[str, float]]:
    fed = econ["taxes.federal_rate"]
    sl = econ["taxes.state_local_rate"]
    transfer = econ["transfers.federal_offset_rate"]
    state_share = econ["taxes.state_share_of_state_local"]
    v = np.zeros(len(BENEFICIARIES))
    v[_index("participants")] = pv_gross * (1.0 - fed - sl - transfer)
    v[_index("federal")] = pv_gross * (fed + transfer)
    v[_index("state")] = pv_gross * sl * state_share
    v[_index("local")] = pv_gross * sl * (1.0 - state_share)
    comps = {"earnings_gain_pv": pv_gross, "federal_taxes_and_transfers_pv": pv_gross * (fed + transfer),
             "state_local_taxes_pv": pv_gross * sl,
             "participants_net_earnings_pv": pv_gross * (1 - fed - sl - transfer)}
    return v, comps


def unit_value(stream: BenefitStream, econ: EconomicParameters, discount_rate: float) -> UnitValue:
    """Present value at the outcome year of one unit of ``stream``'s impact, by beneficiary."""
    if stream.kind == "diploma":
        premium = econ["earnings.diploma_premium_annual"] * econ["earnings.causal_fraction"]
        factor = annuity_factor(discount_rate, int(econ["earnings.horizon_years"]),
                                start=int(econ["earnings.start_delay_years"]), growth=econ["earnings.real_growth"])
        values, comps = _split_earnings(premium * factor, econ)
        health = econ["dropout.health_savings"]
        crime = econ["dropout.crime_savings"]
        welfare = econ["dropout.welfare_savings"]
        hf = econ["dropout.health_federal_share"]
        cs = econ["dropout.crime_state_share"]
        wf = econ["dropout.welfare_federal_share"]
        values[_index("federal")] += health * hf + welfare * wf
        values[_index("state")] += health * (1 - hf) + crime * cs + welfare * (1 - wf)
        values[_index("local")] += crime * (1 - cs)
        comps.update({"health_savings": health, "crime_savings": crime, "welfare_savings": welfare,
                      "annual_premium": premium, "annuity_factor": factor})
        return UnitValue(stream.outcome, stream.kind, values, comps)
    if stream.kind == "earnings":
        factor = annuity_factor(discount_rate, int(econ["earnings.persistence_years"]),
                                growth=econ["earnings.real_growth"])
        values, comps = _split_earnings(factor, econ)
        comps["annuity_factor"] = factor
        return UnitValue(stream.outcome, stream.kind, values, comps)
    # per_outcome
    value = float(stream.value or 0.0)  # the contract model guarantees value and split for per_outcome
    factor = annuity_factor(discount_rate, stream.years)
    values = np.zeros(len(BENEFICIARIES))
    for who, share in (stream.split or {}).items():
        values[_index(who)] = value * share * factor
    return UnitValue(stream.outcome, stream.kind, values, {"value_per_outcome": value, "annuity_factor": factor})


def benefit_cost_ratio(benefits: float, costs: float) -> float:
    """Benefits / costs (NaN when there are no costs)."""
    return float(benefits / costs) if costs > 0 else float("nan")


def wsipp_benchmark(econ: EconomicParameters) -> dict[str, float]:
    """WSIPP's published per-participant results for career and technical education academies (2022 dollars,
    not converted), and the ratio and net benefit recomputed from its published components."""
    keys = ("taxpayer_benefits", "participant_benefits", "other_benefits", "indirect_benefits", "total_benefits",
            "net_program_cost", "benefits_minus_costs", "benefit_cost_ratio", "p_benefits_exceed_costs")
    out = {k: float(econ.parameters[f"wsipp.cte_academies.{k}"].value) for k in keys}  # type: ignore[arg-type]
    parts = out["taxpayer_benefits"] + out["participant_benefits"] + out["other_benefits"] + out["indirect_benefits"]
    out["recomputed_total_benefits"] = parts
    out["recomputed_benefit_cost_ratio"] = benefit_cost_ratio(parts, out["net_program_cost"])
    out["recomputed_benefits_minus_costs"] = parts - out["net_program_cost"]
    return out

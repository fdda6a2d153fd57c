"""Benefit–cost analysis: the documented defaults reproduce their published sources, benefit streams match hand
computations, overrides and dollar-year conversion work, and P(benefits > costs) matches its closed form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from cteimpact.errors import SpecificationError
from cteimpact.pricing import load_economic_defaults, price_contract
from cteimpact.pricing.benefits import unit_value, wsipp_benchmark
from cteimpact.pricing.contract import BENEFICIARIES, BenefitStream
from cteimpact.pricing.finance import annuity_factor
from cteimpact.results import ExternalEstimate


def test_every_default_has_a_source_and_unit() -> None:
    econ = load_economic_defaults()
    assert len(econ.parameters) >= 20
    for name, p in econ.parameters.items():
        assert p.source.strip(), name
        assert p.unit.strip(), name


def test_wsipp_cte_academies_published_figures() -> None:
    # WSIPP Benefit-Cost Results, "Career and technical education academies" (methods Dec 2023, 2022 dollars):
    # taxpayers $5,760, participants $17,339, others $40, indirect ($3,925), total $19,214, net cost ($6,542),
    # benefits minus costs $12,673, ratio 2.94, chance benefits exceed costs 88%.
    w = wsipp_benchmark(load_economic_defaults())
    assert (w["taxpayer_benefits"], w["participant_benefits"], w["other_benefits"], w["indirect_benefits"]) == (
        5760.0, 17339.0, 40.0, -3925.0)
    assert w["recomputed_total_benefits"] == w["total_benefits"] == 19214.0  # the components add up exactly
    assert round(w["recomputed_benefit_cost_ratio"], 2) == w["benefit_cost_ratio"] == 2.94
    # published B - C is $12,673; the rounded components give $12,672 (WSIPP rounds each figure to the dollar)
    assert abs(w["recomputed_benefits_minus_costs"] - w["benefits_minus_costs"]) <= 1.0
    assert w["p_benefits_exceed_costs"] == 0.88


def test_sourced_defaults_match_their_sources() -> None:
    econ = load_economic_defaults()
    # BLS "Education pays, 2023": $899 (diploma) and $708 (no diploma) a week
    assert econ["earnings.diploma_premium_annual"] == (899 - 708) * 52
    # Levin et al. (2007): tax 139,100 + health 40,500 + crime 26,600 + welfare 3,000 = 209,200 (2005 dollars)
    parts = sum(econ.parameters[f"dropout.{k}"].value for k in  # type: ignore[misc]
                ("tax_revenue_reference", "health_savings", "crime_savings", "welfare_savings"))
    assert parts == 209_200.0
    assert econ.parameters["dropout.health_savings"].dollar_year == 2005
    # OMB Circular A-4: 3% and 7%
    assert econ["discount_rate"] == 0.03
    assert {0.03, 0.07} <= set(econ.values("sensitivity_discount_rates"))
    # ITEP Who Pays? 7th edition: 9.4% (middle 20%); CBO (2012): about 20 points federal
    assert econ["taxes.state_local_rate"] == 0.094
    assert econ["taxes.federal_rate"] == 0.20


def test_diploma_stream_by_hand() -> None:
    econ = load_economic_defaults()  # 2023 dollars
    r = 0.03
    uv = unit_value(BenefitStream(outcome="x", kind="diploma"), econ, r)
    premium = 9932.0 * 0.5
    factor = sum(1.03 ** -(7 + t) for t in range(40))
    pv = premium * factor
    cpi = 304.702 / 195.3  # 2005 -> 2023 dollars (CPI-U annual averages)
    health, crime, welfare = 40500 * cpi, 26600 * cpi, 3000 * cpi
    v = dict(zip(BENEFICIARIES, uv.values, strict=True))
    assert v["participants"] == pytest.approx(pv * (1 - 0.20 - 0.094), rel=1e-12)
    assert v["federal"] == pytest.approx(pv * 0.20 + 0.6 * health + 0.5 * welfare, rel=1e-12)
    assert v["state"] == pytest.approx(pv * 0.094 + 0.4 * health + 0.5 * crime + 0.5 * welfare, rel=1e-12)
    assert v["local"] == pytest.approx(0.5 * crime, rel=1e-12)
    assert v["district"] == v["employers"] == v["others"] == 0.0
    assert uv.total == pytest.approx(pv + health + crime + welfare, rel=1e-12)
    assert annuity_factor(r, 40, start=7) == pytest.approx(factor, rel=1e-13)


def test_overrides_and_dollar_year() -> None:
    econ = load_economic_defaults()
    over = econ.with_overrides({"taxes.federal_rate": 0.1, "earnings.diploma_premium_annual": 5000})
    assert over["taxes.federal_rate"] == 0.1
    assert over.parameters["taxes.federal_rate"].overridden
    assert "contract override" in over.parameters["taxes.federal_rate"].source
    y22 = econ.in_dollar_year(2022)
    assert y22["earnings.diploma_premium_annual"] == pytest.approx(9932 * 292.655 / 304.702, rel=1e-12)
    with pytest.raises(SpecificationError, match="must lie between 0 and 1"):
        econ.with_overrides({"taxes.federal_rate": 1.5})
    with pytest.raises(SpecificationError, match="dollar_year = 1999 has no CPI-U value"):
        econ.in_dollar_year(1999)


def _contract(stream: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "contract": {"name": "bc", "dollar_year": 2023},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": 1000, "year": 0}],
        "outcomes": [{"name": "dropout", "estimate": "dropout", "direction": "decrease",
                      "payment": {"kind": "rate_card", "price": 20_000.0}}],
        "costs": {"service_by_year": [1_000_000.0]},
        "benefits": {"streams": [stream], **extra},
    }


@pytest.mark.slow
def test_probability_benefits_exceed_costs_closed_form() -> None:
    # benefits are linear in the effect: B = beta x (-effect) with beta = total PV per dropout prevented x students
    n = 200_000
    mu, s = -0.01, 0.008
    res = price_contract(_contract({"outcome": "dropout", "kind": "diploma"}),
                         ExternalEstimate(label="dropout", effect=mu, std_error=s), draws=n, seed=9)
    econ = load_economic_defaults()
    beta = unit_value(BenefitStream(outcome="dropout", kind="diploma"), econ, 0.03).total * 1000
    cost = 1_000_000.0
    closed = stats.norm.cdf((beta * -mu - cost) / (beta * s))
    b = res.benefits
    assert b["total_at_estimate"] == pytest.approx(beta * -mu, rel=1e-12)
    assert res.benefit_cost_ratio == pytest.approx(beta * -mu / cost, rel=1e-12)
    assert abs(b["p_benefits_exceed_costs"] - closed) <= 4.5 * math.sqrt(closed * (1 - closed) / n)
    # the state payor's benefit is the state share of the benefits
    v = dict(zip(BENEFICIARIES, unit_value(BenefitStream(outcome="dropout", kind="diploma"), econ, 0.03).values,
                 strict=True))
    assert res.payors["state"]["benefit_at_estimate"] == pytest.approx(v["state"] * 1000 * -mu, rel=1e-12)


def test_per_outcome_stream_and_contract_overrides() -> None:
    c = _contract({"outcome": "dropout", "kind": "per_outcome", "value": 10_000.0, "years": 2,
                   "split": {"district": 0.25, "state": 0.75}},
                  parameters={"discount_rate": 0.05})
    c["payors"].append({"name": "district", "level": "district"})
    c["outcomes"][0]["payors"] = {"state": 0.5, "district": 0.5}
    res = price_contract(c, ExternalEstimate(label="dropout", effect=-0.02, std_error=0.005), draws=2000)
    b = res.benefits
    # 20 dropouts prevented x 10,000 in each of 2 years at 5%: 20 x 10,000 x (1 + 1/1.05)
    total = 20 * 10_000 * (1 + 1 / 1.05)
    assert b["discount_rate"] == 0.05
    assert b["total_at_estimate"] == pytest.approx(total, rel=1e-12)
    assert b["by_beneficiary_at_estimate"]["district"] == pytest.approx(0.25 * total, rel=1e-12)
    assert res.benefit_cost_ratio == pytest.approx(total / 1_000_000.0, rel=1e-12)
    ratios = b["benefit_cost_ratio_by_discount_rate"]
    assert ratios["0.03"] == pytest.approx(20 * 10_000 * (1 + 1 / 1.03) / 1e6, rel=1e-12)
    assert res.payors["district"]["benefit_at_estimate"] == pytest.approx(0.25 * total, rel=1e-12)
    # each payor pays 0.5 x 20 x 20,000 = 200,000 in year 0
    assert res.payors["district"]["payment_at_estimate"] == pytest.approx(200_000.0, rel=1e-12)
    assert res.payors["district"]["pays_more_than_benefit"] is True


def test_costs_default_to_capital_when_absent() -> None:
    c = _contract({"outcome": "dropout", "kind": "diploma"})
    del c["costs"]
    c["financing"] = {"tranches": [{"name": "loan", "kind": "senior_loan", "amount": 500_000.0, "draw_years": [0, 1]}]}
    res = price_contract(c, ExternalEstimate(label="dropout", effect=-0.02, std_error=0.005), draws=2000)
    assert res.benefits["cost_pv"] == pytest.approx(250_000 + 250_000 / 1.03, rel=1e-12)
    assert "capital drawn" in res.benefits["cost_basis"]
    no_benefits = _contract({"outcome": "dropout", "kind": "diploma"})
    del no_benefits["benefits"]
    res2 = price_contract(no_benefits, ExternalEstimate(label="dropout", effect=-0.02, std_error=0.005), draws=2000)
    assert res2.benefit_cost_ratio is None and res2.payors["state"]["benefit"] is None
    assert np.isfinite(res2.expected_payment)

"""The shipped example contracts reproduce the published figures of the deals they are modelled on, wherever the
published terms determine them. The terms each example had to assume are listed in the example file and in its
``contract.assumptions``; the figures checked here do not depend on them unless said so.
"""

from __future__ import annotations

import numpy as np
import pytest
from pricing_helpers import make_estimates

from cteimpact.pricing import example_contract, load_contract, price_contract
from cteimpact.pricing.engine import compile_contract
from cteimpact.results import ExternalEstimate

# ---------------------------------------------------------------------------------------------------------------
# NYC Rikers Island (ABLE) social impact bond
# Sources: Social Ventures Australia, "Rikers Island SIB" case study (IRR by recidivism reduction, 4-year loan):
#   <8.5% and 8.5%: 25% of principal lost; 10%: 0% IRR; 11%: 1.2%; 12%: 1.5%; 13%: 1.9%; 16%: 3.3%; 20%: 5.1%.
# Reuters / NYC press release (2 Aug 2012): Goldman Sachs could lose up to $2.4M or profit up to $2.1M.
# Urban Institute fact sheet: $9.6M loan, $7.2M Bloomberg guarantee, maximum payments $11.7M.
# The published IRRs are rounded to 0.1 percentage point: the tolerance is that rounding.
# Assumed (not determined by the published terms): single draw at year 0 and a lump-sum payment at year 4 (SVA's
# own assumption), the floor reading of the guarantee, the CTE baseline dropout rate (15%) used to turn relative
# reductions into effects.
# ---------------------------------------------------------------------------------------------------------------

SVA_IRR = {0.10: 0.0, 0.11: 1.2, 0.12: 1.5, 0.13: 1.9, 0.16: 3.3, 0.20: 5.1}


@pytest.fixture(scope="module")
def rikers():
    contract = load_contract(example_contract("schedule_rikers"))
    est = ExternalEstimate(label="dropout", effect=-0.018, std_error=0.008)
    return contract, compile_contract(contract, est)


def _effect_for_reduction(contract, reduction: float) -> float:
    base = contract.outcomes[0].baseline
    return -reduction * base  # dropout falls by `reduction` of its baseline


@pytest.mark.parametrize(("reduction", "published_irr_pct"), sorted(SVA_IRR.items()))
def test_rikers_investor_irr_by_reduction(rikers, reduction: float, published_irr_pct: float) -> None:
    contract, compiled = rikers
    sc = compiled.scenario_at("dropout", np.array([_effect_for_reduction(contract, reduction)]))
    assert round(float(sc.irr[0]) * 100, 1) == published_irr_pct


def test_rikers_losses_and_maximum(rikers) -> None:
    contract, compiled = rikers
    effects = np.array([_effect_for_reduction(contract, r) for r in (0.0, 0.05, 0.0849, 0.085, 0.20, 0.35)])
    sc = compiled.scenario_at("dropout", effects)
    invested = 9.6e6
    received = sc.received
    # below 8.5% and at 8.5% (where the city pays $4.8M) the investor loses 25% of principal = $2.4M
    np.testing.assert_allclose(received[:4], 0.75 * invested, rtol=0, atol=1e-6)
    np.testing.assert_allclose(invested - received[:4], 2.4e6, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sc.payment_total[3], 4.8e6, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sc.irr[:4], 0.75 ** 0.25 - 1, rtol=0, atol=1e-12)
    # maximum payment $11.712M at 20% and above: profit $2.112M ("up to $2.1 million"), IRR 1.22^(1/4) - 1
    np.testing.assert_allclose(sc.payment_total[4:], 11.712e6, rtol=0, atol=1e-6)
    assert round((received[4] - invested) / 1e6, 1) == 2.1
    np.testing.assert_allclose(sc.irr[4:], 1.22 ** 0.25 - 1, rtol=0, atol=1e-12)


def test_rikers_break_even_is_ten_percent(rikers) -> None:
    contract, compiled = rikers
    value, basis = compiled.break_even("dropout")
    assert "recover their capital" in basis
    assert value == pytest.approx(_effect_for_reduction(contract, 0.10), abs=1e-12)


def test_rikers_priced(rikers) -> None:
    contract, _ = rikers
    res = price_contract(contract, ExternalEstimate(label="dropout", effect=-0.018, std_error=0.008), draws=20_000,
                         seed=5)
    # 0.018 / 0.15 = 12% reduction: $10,176,000, IRR 1.5% (SVA)
    assert res.payments["at_estimate"] == pytest.approx(10_176_000.0, abs=1e-6)
    assert round(res.irr["at_estimate"] * 100, 1) == 1.5
    assert res.break_even_effect == pytest.approx(-0.015, abs=1e-12)
    # the investor can never lose more than the 25% the guarantee leaves uncovered
    assert res.investors["max_loss"] <= 2.4e6 + 1e-6
    assert res.irr["quantiles"]["5"] >= 0.75 ** 0.25 - 1 - 1e-12


# ---------------------------------------------------------------------------------------------------------------
# Chicago Child-Parent Center Pay for Success initiative
# Sources: Urban Institute fact sheet ($16.9M: Goldman Sachs $7.5M senior, Northern Trust $5.5M senior, Pritzker
# $3.9M subordinate; maximum payments $34M; 2,618 children; payors Chicago Public Schools and the City); Chicago
# Reporter ($2,900 per kindergarten-ready child; 374 children in the first cohort); Catalyst Chicago ($9,100 per
# child per year of special education avoided, paid by CPS against a comparison group).
# Assumed: the CTE outcomes, baselines, timing, the senior 5% return cap and the four-year district payment.
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chicago():
    contract = load_contract(example_contract("two_payor_chicago_cpc"))
    est = make_estimates(["graduated", "dropout"], [0.04, -0.03], [[1e-4, -5e-5], [-5e-5, 1e-4]])
    return contract, compile_contract(contract, est)


def test_chicago_published_terms(chicago) -> None:
    contract, _ = chicago
    assert sum(t.amount for t in contract.financing.tranches) == pytest.approx(16.9e6, abs=1e-6)
    assert {t.name: t.amount for t in contract.financing.tranches} == {
        "goldman_sachs": 7.5e6, "northern_trust": 5.5e6, "pritzker": 3.9e6}
    assert contract.students == 2618
    assert contract.cohorts[0].students == 374
    assert contract.caps.project == 34e6
    prices = {o.name: o.payment.price for o in contract.outcomes}
    assert prices == {"graduation": 2900.0, "dropout": 9100.0}
    assert contract.payor_shares(contract.outcomes[0]) == {"city": 1.0, "district": 0.0}
    assert contract.payor_shares(contract.outcomes[1]) == {"city": 0.0, "district": 1.0}


def test_chicago_payments_by_payor(chicago) -> None:
    _, compiled = chicago
    eff = np.array([[0.05, -0.02], [0.0, 0.0], [-0.02, 0.01]])
    sc = compiled.evaluate(eff)
    n = 2618
    # the city pays $2,900 for every graduate (gross, no comparison group): (0.70 + effect) x 2,618
    gross_grads = np.clip(0.70 + eff[:, 0], 0, 1) * n
    np.testing.assert_allclose(sc.payor_nominal[:, 0], 2900 * gross_grads, rtol=1e-12)
    # the district pays $9,100 a year for four years per dropout prevented (impact), nothing for harm
    prevented = np.clip(-eff[:, 1], 0, None) * n
    np.testing.assert_allclose(sc.payor_nominal[:, 1], 9100 * 4 * prevented, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(sc.gross_units[:, 0], gross_grads, rtol=1e-12)
    np.testing.assert_allclose(sc.impact_units[:, 1], -eff[:, 1] * n, rtol=1e-12)


def test_chicago_cap_and_pari_passu(chicago) -> None:
    _, compiled = chicago
    sc = compiled.evaluate(np.array([[0.30, -0.30]]))  # effects so large that uncapped payments exceed $34M
    assert sc.payment_total[0] == pytest.approx(34e6, rel=1e-12)
    assert bool(sc.cap_binding[0, 2])
    gs = sc.tranche_received["goldman_sachs"][0] / 7.5e6
    nt = sc.tranche_received["northern_trust"][0] / 5.5e6
    assert gs == pytest.approx(nt, rel=1e-12)  # the senior lenders rank equally


def test_chicago_wrong_pockets_flag(chicago) -> None:
    contract, _ = chicago
    est = make_estimates(["graduated", "dropout"], [0.04, -0.03], [[1e-4, -5e-5], [-5e-5, 1e-4]])
    res = price_contract(contract, est, draws=20_000, seed=2)
    # the city pays for every graduate but benefits only from the ones the program adds
    assert res.payors["city"]["pays_more_than_benefit"] is True
    assert res.payors["city"]["payment"] > 3 * res.payors["city"]["benefit"]
    # the district's price equals its own saving: not flagged
    assert res.payors["district"]["pays_more_than_benefit"] is False


# ---------------------------------------------------------------------------------------------------------------
# UK DWP Innovation Fund (Round 2) rate card
# Sources: DWP Round 2 bidder briefing (2012): at most £8,200 per participant and £3M per project; payment by
# results only. Assumed: the per-outcome prices (DWP's rate card values were not available), dollars one for one.
# ---------------------------------------------------------------------------------------------------------------


def test_uk_rate_card_caps_never_exceeded() -> None:
    contract = load_contract(example_contract("rate_card_uk_innovation_fund"))
    assert contract.caps.per_student == 8200 and contract.caps.project == 3e6
    est = make_estimates(["pathway", "graduated", "employed_age19"], [0.3, 0.05, 0.04], np.diag([0.1, 0.03, 0.03]) ** 2)
    compiled = compile_contract(contract, est)
    rng = np.random.default_rng(0)
    eff = rng.normal([0.3, 0.05, 0.04], [0.4, 0.5, 0.5], size=(20_000, 3))
    sc = compiled.evaluate(eff, with_irr=False)
    limit = min(3e6, 8200 * contract.students)
    assert sc.payment_total.max() <= limit * (1 + 1e-12)
    assert sc.cap_binding[:, 1:].any()
    assert (sc.payment_total >= 0).all()


def test_uk_significance_and_minimum_effect() -> None:
    contract = load_contract(example_contract("rate_card_uk_innovation_fund"))
    # graduation requires significance (two-sided 5%): 0.05 / 0.03 = 1.67 < 1.96 pays nothing; employment needs
    # an effect of at least 0.01
    est = make_estimates(["pathway", "graduated", "employed_age19"], [0.0, 0.05, 0.005],
                         np.diag([0.01, 0.03, 0.01]) ** 2)
    compiled = compile_contract(contract, est)
    sc = compiled.evaluate(compiled.centre[None, :])
    amounts = dict(zip([o.outcome.name for o in compiled.outcomes], sc.outcome_amounts[0], strict=True))
    assert amounts["graduation"] == 0.0
    assert amounts["employment"] == 0.0
    sc2 = compiled.evaluate(np.array([[0.0, 0.06, 0.02]]))  # 0.06 / 0.03 = 2 > 1.96; 0.02 >= 0.01
    amounts2 = dict(zip([o.outcome.name for o in compiled.outcomes], sc2.outcome_amounts[0], strict=True))
    assert amounts2["graduation"] == pytest.approx(6000 * 0.06 * 1200, rel=1e-12)
    assert amounts2["employment"] == pytest.approx(6000 * 0.02 * 1200, rel=1e-12)

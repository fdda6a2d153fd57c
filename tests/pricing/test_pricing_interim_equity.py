"""Contracts on interim outcomes (credential, pathway completion) with equity terms: the equity premium and the
equity floor against hand computations on zero-variance estimates and against their closed forms, gross vs impact
side by side, and the typed errors of bad input."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
from pricing_helpers import make_estimates
from scipy import stats

from cteimpact.errors import SpecificationError
from cteimpact.pricing import example_contract, load_contract, price_contract
from cteimpact.pricing.engine import compile_contract, required_labels
from cteimpact.pricing.errors import MissingEstimateError, MissingSubgroupEstimateError

N = 2000  # students served: two cohorts of 1,000
PRICE_CRED, PRICE_COMP = 4000.0, 2000.0

INTERIM: dict[str, Any] = {
    "contract": {"name": "interim", "dollar_year": 2024, "discount_rate": 0.03},
    "payors": [{"name": "state", "level": "state", "share": 0.7},
               {"name": "districts", "level": "district", "share": 0.3}],
    "cohorts": [{"name": "a", "students": 1000, "year": 0}, {"name": "b", "students": 1000, "year": 1}],
    "outcomes": [
        {"name": "credential", "estimate": "credential", "direction": "increase", "baseline": 0.25, "lag_years": 4,
         "payment": {"kind": "rate_card", "price": PRICE_CRED,
                     "equity_premium": {"group": "low_income=1", "rate": 0.5, "share": 0.4}}},
        {"name": "completion", "estimate": "completer", "direction": "increase", "baseline": 0.30, "lag_years": 4,
         "payment": {"kind": "rate_card", "price": PRICE_COMP}},
    ],
}
LABELS = ["credential", "completer", "credential[low_income=1]", "credential[low_income=0]"]


def _contract(**changes: Any) -> dict[str, Any]:
    c = copy.deepcopy(INTERIM)
    c.update(changes)
    return c


def _fixed(labels: list[str], values: list[float]) -> Any:
    """Estimates with a zero-variance sampling distribution: every draw is the estimate."""
    return make_estimates(labels, values, np.zeros((len(labels), len(labels))))


# ---------------------------------------------------------------------------------------------------------------
# Hand computations on zero-variance estimates
# ---------------------------------------------------------------------------------------------------------------


def test_interim_rate_cards_with_equity_premium_pay_the_hand_computed_amounts() -> None:
    est = _fixed(LABELS, [0.06, 0.08, 0.05, 0.07])
    res = price_contract(_contract(), est, draws=1000, seed=1)
    premium = PRICE_CRED * 0.5 * 0.4 * 0.05 * N  # price x rate x share x group effect x students = 80,000
    cred = PRICE_CRED * 0.06 * N + premium  # 480,000 + 80,000
    comp = PRICE_COMP * 0.08 * N  # 320,000
    assert premium == pytest.approx(80_000.0)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == pytest.approx(cred, rel=1e-12)
    assert res.payments["by_outcome"]["completion"]["at_estimate"] == pytest.approx(comp, rel=1e-12)
    assert res.expected_payment == pytest.approx(cred + comp, rel=1e-12)
    np.testing.assert_allclose(res.payment_draws, cred + comp, rtol=1e-12)
    assert res.p_any_payment == 1.0
    prem = res.equity["premiums"][0]
    assert prem["label"] == "credential[low_income=1]" and prem["priority_students"] == pytest.approx(800.0)
    assert prem["paid_at_estimate"] == pytest.approx(premium, rel=1e-12)
    assert prem["expected_paid"] == pytest.approx(premium, rel=1e-12)
    assert prem["p_paid"] == 1.0
    # payors split every outcome 70/30; nominal
    assert res.payors["state"]["payment_nominal"] == pytest.approx(0.7 * (cred + comp), rel=1e-12)


def test_premium_on_a_gross_rate_card_and_on_a_schedule() -> None:
    c = _contract()
    c["outcomes"][0]["payment"] = {"kind": "rate_card", "price": 100.0, "basis": "gross",
                                   "equity_premium": {"group": "low_income=1", "rate": 1.0, "share": 0.5,
                                                      "baseline": 0.10}}
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.05, 0.07]), draws=1000)
    # gross: every student with a credential (0.25 + 0.06) plus the premium on the group's (0.10 + 0.05)
    want = 100.0 * (0.31 * N + 1.0 * 0.5 * 0.15 * N)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == pytest.approx(want, rel=1e-12)
    s = _contract()
    s["outcomes"][0]["payment"] = {"kind": "schedule", "per": "student", "tiers": [{"at": 0.02, "pay": 100.0},
                                                                                   {"at": 0.055, "pay": 300.0}],
                                   "equity_premium": {"group": "low_income=1", "rate": 0.5, "share": 0.4}}
    res = price_contract(s, _fixed(LABELS, [0.06, 0.08, 0.05, 0.07]), draws=1000)
    # overall 0.06 reaches tier 1 (300 per student); the group's 0.05 only tier 0 (100): premium 0.5 x 0.4 x 100
    want = N * (300.0 + 0.5 * 0.4 * 100.0)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == pytest.approx(want, rel=1e-12)
    assert res.equity["premiums"][0]["paid_at_estimate"] == pytest.approx(N * 20.0, rel=1e-12)


def test_premium_follows_the_outcome_conditions_and_caps() -> None:
    c = _contract()
    c["outcomes"][0]["payment"]["min_effect"] = 0.07  # the overall effect 0.06 does not reach it
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.09, 0.07]), draws=1000)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == 0.0
    assert res.equity["premiums"][0]["paid_at_estimate"] == 0.0 and res.equity["premiums"][0]["p_paid"] == 0.0
    c = _contract()
    c["outcomes"][0]["payment"]["cap"] = 280_000.0  # half of 480,000 + 80,000
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.05, 0.07]), draws=1000)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == pytest.approx(280_000.0, rel=1e-12)
    # the premium keeps its share (80 / 560) of the capped payment
    assert res.equity["premiums"][0]["paid_at_estimate"] == pytest.approx(40_000.0, rel=1e-12)


@pytest.mark.parametrize(("group_effect", "met"), [(-0.01, False), (0.0, True), (0.02, True)])
def test_equity_floor_withholds_every_payment_where_it_fails(group_effect: float, met: bool) -> None:
    c = _contract(conditions=[{"kind": "equity_floor", "group": "low_income=1", "outcome": "credential",
                               "floor": 0.0}])
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, group_effect, 0.07]), draws=1000)
    fl = res.equity["floors"][0]
    assert fl["met_at_estimate"] is met and fl["p_met"] == float(met) and fl["p_met_closed_form"] == float(met)
    assert res.p_any_payment == float(met)
    assert (res.expected_payment > 0) is met
    if not met:
        assert res.payments["at_estimate"] == 0.0 and res.payors["state"]["payment"] == 0.0


def test_equity_floor_can_withhold_its_outcome_only() -> None:
    c = _contract(conditions=[{"kind": "equity_floor", "group": "low_income=1", "outcome": "credential",
                               "floor": 0.03, "withhold": "outcome"}])
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.02, 0.07]), draws=1000)
    assert res.payments["by_outcome"]["credential"]["at_estimate"] == 0.0
    assert res.payments["by_outcome"]["completion"]["at_estimate"] == pytest.approx(PRICE_COMP * 0.08 * N)
    assert res.equity["floors"][0]["p_met"] == 0.0


def test_floor_on_a_decrease_outcome_is_an_improvement() -> None:
    c = {"contract": {"name": "d"}, "payors": [{"name": "s", "level": "state"}],
         "cohorts": [{"name": "a", "students": 500}],
         "outcomes": [{"name": "dropout", "estimate": "dropout", "direction": "decrease", "baseline": 0.15,
                       "payment": {"kind": "rate_card", "price": 1000.0}}],
         "conditions": [{"kind": "equity_floor", "group": "low_income=1", "outcome": "dropout", "floor": 0.01}]}
    # the group's dropout falls by 2 points: improvement 0.02 >= 0.01
    res = price_contract(c, _fixed(["dropout", "dropout[low_income=1]"], [-0.03, -0.02]), draws=1000)
    assert res.equity["floors"][0]["p_met"] == 1.0 and res.expected_payment == pytest.approx(1000 * 0.03 * 500)
    res = price_contract(c, _fixed(["dropout", "dropout[low_income=1]"], [-0.03, 0.005]), draws=1000)
    assert res.equity["floors"][0]["p_met"] == 0.0 and res.expected_payment == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Monte Carlo against closed forms
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("centre", "se", "floor", "sig"), [(0.02, 0.015, 0.0, False), (0.01, 0.02, 0.005, False),
                                                           (0.04, 0.015, 0.0, True)])
def test_floor_probability_matches_the_normal_closed_form(centre: float, se: float, floor: float,
                                                          sig: bool) -> None:
    c = _contract(conditions=[{"kind": "equity_floor", "group": "low_income=1", "outcome": "credential",
                               "floor": floor, "require_significance": sig}])
    cov = np.diag([0.0, 0.0, se, 0.0]) ** 2  # the overall effects are certain: only the floor varies
    draws = 200_000
    res = price_contract(c, make_estimates(LABELS, [0.06, 0.08, centre, 0.07], cov), draws=draws, seed=11)
    bound = max(floor, stats.norm.ppf(0.975) * se) if sig else floor
    p = float(stats.norm.cdf((centre - bound) / se))
    fl = res.equity["floors"][0]
    assert fl["p_met_closed_form"] == pytest.approx(p, rel=1e-12)
    assert abs(fl["p_met"] - p) < 4 * math.sqrt(p * (1 - p) / draws)
    # payments are withheld exactly in the draws where the floor fails: P(any payment) = P(floor met)
    assert res.p_any_payment == pytest.approx(fl["p_met"], abs=1e-12)


def test_expected_premium_matches_its_closed_form() -> None:
    """E[premium] = price x rate x share x N x E[max(g, 0)], with E[max(g, 0)] = mu Phi(mu/s) + s phi(mu/s)."""
    mu, s, draws = 0.01, 0.02, 200_000
    cov = np.diag([0.0, 0.0, s, 0.0]) ** 2
    res = price_contract(_contract(), make_estimates(LABELS, [0.06, 0.08, mu, 0.07], cov), draws=draws, seed=5)
    e_pos = mu * stats.norm.cdf(mu / s) + s * stats.norm.pdf(mu / s)
    sd_pos = math.sqrt(mu**2 + s**2 - e_pos**2)  # an upper bound on the SD of max(g, 0)
    k = PRICE_CRED * 0.5 * 0.4 * N
    got = res.equity["premiums"][0]["expected_paid"]
    assert abs(got - k * e_pos) < 4 * k * sd_pos / math.sqrt(draws)
    assert res.equity["premiums"][0]["p_paid"] == pytest.approx(stats.norm.cdf(mu / s), abs=0.005)


# ---------------------------------------------------------------------------------------------------------------
# Gross vs impact
# ---------------------------------------------------------------------------------------------------------------


def test_gross_vs_impact_arithmetic() -> None:
    res = price_contract(_contract(), _fixed(LABELS, [0.06, 0.08, 0.05, 0.07]), draws=1000)
    g = res.gross_vs_impact["credential"]
    at = g["at_estimate"]
    assert g["level_without_program"] == 0.25 and "outcomes[0].baseline" in g["level_source"]
    assert at["gross_outcomes"] == pytest.approx(0.31 * N) and at["impact_outcomes"] == pytest.approx(0.06 * N)
    assert at["deadweight_outcomes"] == pytest.approx(0.25 * N)
    assert at["gross_payment"] == pytest.approx(PRICE_CRED * 620) and at["impact_payment"] == pytest.approx(
        PRICE_CRED * 120)
    assert at["deadweight_payment"] == pytest.approx(PRICE_CRED * 500)
    assert g["expected"]["deadweight_payment"] == pytest.approx(PRICE_CRED * 500)
    comp = res.gross_vs_impact["completion"]["at_estimate"]
    assert comp["deadweight_payment"] == pytest.approx(PRICE_COMP * 0.30 * N)
    tidy = res.tidy()
    rows = tidy[(tidy.quantity == "gross_vs_impact") & (tidy.group == "credential")]
    assert rows.set_index("statistic").loc["deadweight_payment_at_estimate", "value"] == pytest.approx(2_000_000)
    assert "deadweight 500.0 outcomes" in res.summary()


def test_gross_vs_impact_for_a_decrease_outcome_a_schedule_and_without_a_level() -> None:
    c = {"contract": {"name": "d"}, "payors": [{"name": "s", "level": "state"}],
         "cohorts": [{"name": "a", "students": 400}],
         "outcomes": [{"name": "dropout", "estimate": "dropout", "direction": "decrease", "baseline": 0.2,
                       "payment": {"kind": "rate_card", "price": 10.0, "years": 2}},
                      {"name": "cred", "estimate": "credential", "direction": "increase", "baseline": 0.3,
                       "payment": {"kind": "schedule", "tiers": [{"at": 0.01, "pay": 5.0}]}},
                      {"name": "comp", "estimate": "completer", "direction": "increase",
                       "payment": {"kind": "rate_card", "price": 10.0}}]}
    res = price_contract(c, _fixed(["dropout", "credential", "completer"], [-0.05, 0.02, 0.1]), draws=1000)
    d = res.gross_vs_impact["dropout"]
    # students without a dropout: 1 - (0.2 - 0.05) = 0.85; caused 0.05; a price paid for each of 2 years
    assert d["price_per_outcome"] == 20.0
    assert d["at_estimate"]["gross_outcomes"] == pytest.approx(0.85 * 400)
    assert d["at_estimate"]["deadweight_payment"] == pytest.approx(20.0 * 0.80 * 400)
    s = res.gross_vs_impact["cred"]
    assert s["price_per_outcome"] is None and s["at_estimate"]["gross_payment"] is None
    assert s["at_estimate"]["deadweight_outcomes"] == pytest.approx(0.3 * 400)
    n = res.gross_vs_impact["comp"]
    assert n["level_without_program"] is None and "give outcomes[2].baseline" in n["level_source"]
    assert n["at_estimate"]["gross_outcomes"] is None and n["at_estimate"]["impact_payment"] == pytest.approx(400.0)
    assert "gross not counted" in res.summary()


# ---------------------------------------------------------------------------------------------------------------
# Long-run benefit from a projected estimate
# ---------------------------------------------------------------------------------------------------------------

SURR = "earnings_age26[surrogate]"


def _with_projection(**stream: Any) -> dict[str, Any]:
    c = _contract(costs={"service_by_year": [1_000_000.0, 1_000_000.0]})
    c["benefits"] = {"streams": [{"outcome": "earnings_age26", "kind": "earnings", "estimate": SURR,
                                  "lag_years": 12, **stream}]}
    return c


def test_projected_earnings_stream_is_valued_by_payor() -> None:
    c = _with_projection()
    est = _fixed([*LABELS, SURR], [0.06, 0.08, 0.05, 0.07, 1500.0])
    res = price_contract(c, est, draws=1000)
    compiled = compile_contract(load_contract(c), est)
    st = compiled.streams[0]
    r = compiled.benefit_rate
    weight = 1000 * (1 + r) ** -12 + 1000 * (1 + r) ** -13
    assert st.projected and st.label == SURR and st.weight == pytest.approx(weight, rel=1e-12)
    per_unit = st.unit.values  # the earnings machinery's PV of $1 a year, by beneficiary
    want = 1500.0 * per_unit * weight
    entry = res.benefits["streams"][0]
    assert entry["projected"] and entry["label"] == SURR and entry["estimate_std_error"] == 0.0
    assert entry["pv_at_estimate"] == pytest.approx(want.sum(), rel=1e-12)
    assert entry["expected_pv"] == pytest.approx(want.sum(), rel=1e-12)
    state = list(res.benefits["by_beneficiary_at_estimate"]).index("state")
    assert res.payors["state"]["benefit"] == pytest.approx(want[state], rel=1e-12)
    assert res.payors["districts"]["benefit"] == 0.0  # the wrong pocket
    assert res.payors["state"]["benefit_cost_ratio"] == pytest.approx(want[state] / res.payors["state"]["payment"])
    assert res.benefits["benefit_cost_ratio"] == pytest.approx(want.sum() / compiled.cost_pv, rel=1e-12)
    # the contract pays on interim outcomes only; the projection adds nothing to payments
    assert res.expected_payment == pytest.approx(PRICE_CRED * 0.06 * N + 80_000 + PRICE_COMP * 0.08 * N)
    assert "a projected estimate" in res.summary()


def test_projection_uncertainty_is_carried_through_the_draws() -> None:
    se, draws = 400.0, 100_000
    cov = np.diag([0.0, 0.0, 0.0, 0.0, se]) ** 2
    est = make_estimates([*LABELS, SURR], [0.06, 0.08, 0.05, 0.07, 1500.0], cov)
    res = price_contract(_with_projection(), est, draws=draws, seed=2)
    compiled = compile_contract(load_contract(_with_projection()), est)
    k = float(compiled.streams[0].row.sum())  # PV per dollar of the projected effect
    q = res.benefits["streams"][0]["pv_quantiles"]
    for key, z in (("5", -1.6448536), ("50", 0.0), ("95", 1.6448536)):
        assert q[key] == pytest.approx(k * (1500.0 + z * se), rel=0.01)
    p = float(stats.norm.cdf((1500.0 * k - compiled.cost_pv) / (se * k)))
    assert abs(res.benefits["p_benefits_exceed_costs"] - p) < 4 * math.sqrt(p * (1 - p) / draws) + 1e-9


def test_missing_projection_label_is_a_typed_error_listing_the_labels() -> None:
    est = _fixed(LABELS, [0.06, 0.08, 0.05, 0.07])
    with pytest.raises(MissingEstimateError) as info:
        price_contract(_with_projection(), est, draws=1000)
    msg = str(info.value)
    assert "benefits.streams[0].estimate: no estimate labelled 'earnings_age26[surrogate]'" in msg
    assert "4 labels present: credential, completer, credential[low_income=1], credential[low_income=0]" in msg


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------


def test_premium_for_a_group_not_in_the_results() -> None:
    c = _contract()
    c["outcomes"][0]["payment"]["equity_premium"]["group"] = "english_learner=1"
    with pytest.raises(MissingSubgroupEstimateError) as info:
        price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.05, 0.07]), draws=1000)
    msg = str(info.value)
    assert msg.startswith("outcomes[0].payment.equity_premium: no estimate of outcome 'credential' for group "
                          "'english_learner=1' in the results (looked for 'credential[english_learner=1]'")
    assert "2 subgroup labels available: credential[low_income=1], credential[low_income=0]" in msg
    assert isinstance(info.value, SpecificationError)


def test_floor_for_a_group_when_the_results_have_no_subgroups() -> None:
    c = _contract(conditions=[{"kind": "equity_floor", "group": "female=1", "outcome": "completion", "floor": 0}])
    del c["outcomes"][0]["payment"]["equity_premium"]
    with pytest.raises(MissingSubgroupEstimateError) as info:
        price_contract(c, _fixed(["credential", "completer"], [0.06, 0.08]), draws=1000)
    msg = str(info.value)
    assert "conditions[0] (equity_floor): no estimate of outcome 'completion' for group 'female=1'" in msg
    assert "looked for 'completer[female=1]'" in msg
    assert "the results have no subgroup estimates (labels: credential, completer)" in msg


@pytest.mark.parametrize(("path", "value", "message"), [
    ("outcomes.0.payment.equity_premium.rate", -0.5, "outcomes[0].payment.equity_premium.rate: must be >= 0, got -0.5"),
    ("outcomes.0.payment.equity_premium.share", 1.5, "outcomes[0].payment.equity_premium.share: must be <= 1, got 1.5"),
    ("outcomes.0.payment.equity_premium.share", 0.0, "outcomes[0].payment.equity_premium.share: must be > 0, got 0"),
    ("outcomes.0.payment.equity_premium.group", "low income", "group 'low income' must be 'column=value'"),
    ("contract.subgroup_label", "{base}[{grp}]", "uses unknown placeholders ['grp']"),
    ("contract.subgroup_label", "{base}[low_income]", "must contain {group}"),
])
def test_bad_equity_terms_are_refused(path: str, value: Any, message: str) -> None:
    c = _contract()
    node: Any = c
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[parts[-1]] = value
    with pytest.raises(SpecificationError, match=None) as info:
        load_contract(c)
    assert message in str(info.value)


def test_floor_on_an_unknown_outcome_and_a_premium_on_a_savings_share() -> None:
    c = _contract(conditions=[{"kind": "equity_floor", "group": "low_income=1", "outcome": "credentials",
                               "floor": 0.0}])
    with pytest.raises(SpecificationError, match=r"conditions\[0\]\.outcome: unknown outcome 'credentials' \(did "
                                                 r"you mean 'credential'\?\); outcomes: credential, completion"):
        load_contract(c)
    c = _contract()
    c["outcomes"][1]["payment"] = {"kind": "savings_share", "savings_per_outcome": 10.0, "share": 0.5,
                                   "equity_premium": {"group": "low_income=1", "rate": 0.5, "share": 0.4}}
    with pytest.raises(SpecificationError, match=r"unknown key 'outcomes\[1\]\.payment\.equity_premium'; allowed "
                                                 r"keys: min_effect, require_significance, cap, kind"):
        load_contract(c)


def test_stream_options_need_an_estimate() -> None:
    c = _contract()
    c["benefits"] = {"streams": [{"outcome": "credential", "kind": "earnings", "lag_years": 3}]}
    with pytest.raises(SpecificationError, match="apply only to a stream with its own 'estimate'"):
        load_contract(c)
    c["benefits"] = {"streams": [{"outcome": "earnings26", "kind": "earnings"}]}
    with pytest.raises(SpecificationError, match=r"unknown outcome 'earnings26'.*or give the stream its own "):
        load_contract(c)


# ---------------------------------------------------------------------------------------------------------------
# Labels, the example, the command line
# ---------------------------------------------------------------------------------------------------------------


def test_label_pattern_is_configurable_and_required_labels_list_everything() -> None:
    c = _contract(conditions=[{"kind": "equity_floor", "group": "low_income=1", "outcome": "completion",
                               "floor": 0.0, "estimate": "completer_low_income"}])
    c["contract"]["subgroup_label"] = "{outcome}|{group}"
    c["benefits"] = {"streams": [{"outcome": "lr", "kind": "earnings", "estimate": SURR}]}
    spec = load_contract(c)
    assert required_labels(spec) == ["credential", "completer", "credential|low_income=1", "completer_low_income",
                                      SURR]
    est = _fixed(["credential", "completer", "credential|low_income=1", "completer_low_income", SURR],
                 [0.06, 0.08, 0.05, 0.01, 100.0])
    res = price_contract(spec, est, draws=1000)
    assert res.equity["premiums"][0]["label"] == "credential|low_income=1"
    assert res.equity["floors"][0]["label"] == "completer_low_income"


def test_equity_terms_and_projected_streams_round_trip() -> None:
    c = _with_projection()
    c["conditions"] = [{"kind": "equity_floor", "group": "low_income=1", "outcome": "credential", "floor": 0.0}]
    spec = load_contract(c)
    again = load_contract(spec.to_dict())
    assert again == spec
    assert again.conditions[0].withhold == "contract" and again.benefits is not None
    assert again.benefits.streams[0].estimate == SURR and again.benefits.streams[0].lag_years == 12


def test_example_contract_prices_end_to_end_and_is_deterministic() -> None:
    est = make_estimates([*LABELS, SURR], [0.06, 0.08, 0.05, 0.07, 1200.0],
                         np.diag([0.02, 0.02, 0.03, 0.03, 500.0]) ** 2, joint=False)
    path = example_contract("interim_credential_completion")
    a = price_contract(path, est, draws=5000, seed=3)
    b = price_contract(path, est, draws=5000, seed=3)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    d = a.to_dict()
    assert set(d["gross_vs_impact"]) == {"credential", "completion"}
    assert d["equity"]["premiums"][0]["group"] == "low_income=1"
    assert d["equity"]["floors"][0]["p_met"] == pytest.approx(a.p_any_payment)
    assert [s["label"] for s in d["benefits"]["streams"]] == [SURR]
    tidy = a.tidy()
    assert list(tidy.columns) == ["quantity", "group", "statistic", "value"]
    assert {"gross_vs_impact", "equity_premium", "equity_floor", "benefit_stream"} <= set(tidy["quantity"])
    text = a.summary()
    for section in ("Gross vs impact", "Equity terms", "P(floor met)", "stream earnings_age26"):
        assert section in text
    import matplotlib

    matplotlib.use("Agg")
    for kind in ("curve", "distribution", "payors"):
        assert a.plot(kind) is not None


def test_cli_missing_subgroup_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    from cteimpact.cli.app import main
    from cteimpact.results import write_json

    est = make_estimates(["credential", "completer", SURR], [0.06, 0.08, 1000.0], np.diag([0.02, 0.02, 300.0]) ** 2)
    rec = write_json(est.to_dict(), tmp_path / "record.json")
    out_path = tmp_path / "price.json"
    code = main(["price", "example:interim_credential_completion", "--results", str(rec), "--draws", "2000",
                 "--output", str(out_path)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "no estimate of outcome 'credential' for group 'low_income=1'" in err
    assert "the results have no subgroup estimates" in err and "Traceback" not in err
    assert not out_path.exists()


def test_gross_vs_impact_expected_over_the_draws_matches_closed_forms() -> None:
    mu, s, draws = 0.01, 0.02, 200_000
    cov = np.diag([s, 0.0, 0.0, 0.0]) ** 2
    res = price_contract(_contract(), make_estimates(LABELS, [mu, 0.08, 0.05, 0.07], cov), draws=draws, seed=8)
    exp = res.gross_vs_impact["credential"]["expected"]
    e_pos = mu * stats.norm.cdf(mu / s) + s * stats.norm.pdf(mu / s)
    se_mc = PRICE_CRED * N * s / math.sqrt(draws)
    assert abs(exp["impact_payment"] - PRICE_CRED * N * e_pos) < 4 * se_mc
    assert abs(exp["gross_payment"] - PRICE_CRED * N * (0.25 + mu)) < 4 * se_mc
    # the deadweight is the level without the program, whatever the draw (no draw reaches a bound here)
    assert exp["deadweight_outcomes"] == pytest.approx(0.25 * N, rel=1e-9)


def test_interim_example_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from cteimpact.pricing import montecarlo
    from cteimpact.results import dumps_json

    est = make_estimates([*LABELS, SURR], [0.06, 0.08, 0.01, 0.07, 1200.0],
                         np.diag([0.02, 0.02, 0.03, 0.03, 500.0]) ** 2, joint=False)
    path = example_contract("interim_credential_completion")
    a = dumps_json(price_contract(path, est, draws=5000, seed=42).to_dict())
    monkeypatch.setattr(montecarlo, "CHUNK", 777)
    assert dumps_json(price_contract(path, est, draws=5000, seed=42).to_dict()) == a


def test_a_projection_result_repeating_the_design_labels_is_combined() -> None:
    """A surrogate-index result also carries the design's effects on the surrogates (here 'completer'): a label
    the contract does not price may repeat across results (the first is kept, with a note); one it prices may not."""
    c = _with_projection()
    design = _fixed(LABELS, [0.06, 0.08, 0.05, 0.07])
    projection = _fixed([SURR, "completer"], [1500.0, 0.5])
    c["outcomes"] = [c["outcomes"][0]]  # the contract pays on the credential only
    res = price_contract(c, [design, projection], draws=1000)
    assert any("the estimate 'completer' appears in several of the results given" in n for n in res.notes)
    assert res.benefits["streams"][0]["improvement_at_estimate"] == 1500.0
    with pytest.raises(SpecificationError, match=r"estimate label 'completer' appears in two of the results given; "
                                                 r"labels must be unique across results \(the contract prices this "
                                                 r"one\)"):
        price_contract(_with_projection(), [design, projection], draws=1000)


def test_premium_on_a_proportion_is_held_within_its_bounds() -> None:
    c = _contract()
    c["outcomes"][0]["payment"]["equity_premium"]["baseline"] = 0.4  # the group's level: at most +0.6
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.9, 0.07]), draws=1000)
    assert res.equity["premiums"][0]["paid_at_estimate"] == pytest.approx(PRICE_CRED * 0.5 * 0.4 * 0.6 * N)
    del c["outcomes"][0]["payment"]["equity_premium"]["baseline"]  # then the outcome's level 0.25: at most +0.75
    res = price_contract(c, _fixed(LABELS, [0.06, 0.08, 0.9, 0.07]), draws=1000)
    assert res.equity["premiums"][0]["paid_at_estimate"] == pytest.approx(PRICE_CRED * 0.5 * 0.4 * 0.75 * N)

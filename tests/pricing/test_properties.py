"""Property tests: payments never exceed caps, schedules are monotone in the effect, NPV at the IRR is zero, the
waterfall conserves money, and the same seed gives identical output."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cteimpact.pricing import load_contract, npv, price_contract
from cteimpact.pricing.engine import compile_contract
from cteimpact.pricing.finance import IRRStatus, TrancheSpec, irr_solution, run_waterfall
from cteimpact.results import ExternalEstimate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tiers(draw: Any) -> list[dict[str, float]]:
    k = draw(st.integers(1, 6))
    ats = sorted(draw(st.lists(st.floats(0.001, 0.5), min_size=k, max_size=k, unique=True)))
    pays = sorted(draw(st.lists(st.floats(0.0, 1e7), min_size=k, max_size=k)))
    return [{"at": a, "pay": p} for a, p in zip(ats, pays, strict=True)]


def _contract(payment: dict[str, Any], *, direction: str = "increase", caps: dict[str, float] | None = None,
              baseline: float | None = 0.3, students: float = 500.0) -> dict[str, Any]:
    out: dict[str, Any] = {
        "contract": {"name": "prop"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": students, "year": 0}, {"name": "b", "students": students, "year": 1}],
        "outcomes": [{"name": "y", "estimate": "y", "direction": direction, "baseline": baseline, "lag_years": 1,
                      "payment": payment}],
    }
    if caps:
        out["caps"] = caps
    return out


EFFECTS = st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=40)


@SETTINGS
@given(t=tiers(), interp=st.sampled_from(["step", "linear"]), measure=st.sampled_from(["effect", "relative"]),
       direction=st.sampled_from(["increase", "decrease"]), effects=EFFECTS)
def test_schedules_are_monotone_in_the_improvement(t: list[dict[str, float]], interp: str, measure: str,
                                                    direction: str, effects: list[float]) -> None:
    spec = load_contract(_contract({"kind": "schedule", "tiers": t, "interpolation": interp, "measure": measure},
                                   direction=direction))
    compiled = compile_contract(spec, ExternalEstimate(label="y", effect=0.0, std_error=0.1))
    sign = 1.0 if direction == "increase" else -1.0
    g = np.sort(np.asarray(effects))
    sc = compiled.scenario_at("y", sign * g, with_irr=False)
    assert np.all(np.diff(sc.payment_total) >= -1e-6)
    assert sc.payment_total.min() >= 0.0
    assert sc.payment_total.max() <= max(x["pay"] for x in t) * (1 + 1e-12)


@SETTINGS
@given(price=st.floats(0, 1e5), basis=st.sampled_from(["impact", "gross"]), years=st.integers(1, 4),
       cap=st.one_of(st.none(), st.floats(0, 1e7)), per_student=st.one_of(st.none(), st.floats(0, 1e4)),
       project=st.one_of(st.none(), st.floats(0, 1e7)), direction=st.sampled_from(["increase", "decrease"]),
       effects=EFFECTS)
def test_payments_never_exceed_caps_and_are_monotone(price: float, basis: str, years: int, cap: float | None,
                                                     per_student: float | None, project: float | None,
                                                     direction: str, effects: list[float]) -> None:
    payment: dict[str, Any] = {"kind": "rate_card", "price": price, "basis": basis, "years": years}
    if cap is not None:
        payment["cap"] = cap
    caps = {k: v for k, v in (("per_student", per_student), ("project", project)) if v is not None}
    spec = load_contract(_contract(payment, direction=direction, caps=caps))
    compiled = compile_contract(spec, ExternalEstimate(label="y", effect=0.0, std_error=0.1))
    sign = 1.0 if direction == "increase" else -1.0
    g = np.sort(np.asarray(effects))
    sc = compiled.scenario_at("y", sign * g, with_irr=False)
    total = sc.payment_total
    limits = [np.inf]
    if cap is not None:
        limits.append(cap)
    if per_student is not None:
        limits.append(per_student * spec.students)
    if project is not None:
        limits.append(project)
    assert total.max() <= min(limits) * (1 + 1e-9) + 1e-6
    assert total.min() >= 0.0
    assert np.all(np.diff(total) >= -1e-6 * max(1.0, total.max()))
    np.testing.assert_allclose(sc.payments.sum(axis=1), total, rtol=1e-12, atol=1e-6)


@SETTINGS
@given(outflows=st.lists(st.floats(0.01, 1e7), min_size=1, max_size=4),
       inflows=st.lists(st.floats(0.0, 1e7), min_size=1, max_size=8))
def test_npv_at_the_irr_is_zero(outflows: list[float], inflows: list[float]) -> None:
    cf = np.array([-x for x in outflows] + inflows)
    sol = irr_solution(cf)
    if sol.status[0] == IRRStatus.OK:
        # the root is accurate to ~1e-12 in the rate, so the NPV there is zero up to |dNPV/dr| x 1e-12, which is
        # at most T x max|c| x x^(T+1) with x = 1/(1+r)
        x = max(1.0, 1.0 / (1.0 + sol.rate[0]))
        bound = 1e-9 * len(cf) * np.abs(cf).max() * x ** (len(cf) + 1)
        assert abs(npv(sol.rate[0], cf)) <= bound
    elif sum(inflows) == 0:
        assert sol.status[0] == IRRStatus.TOTAL_LOSS and sol.rate[0] == -1.0


@SETTINGS
@given(pay=st.lists(st.floats(0, 1e6), min_size=4, max_size=4), amounts=st.lists(st.floats(1, 1e6), min_size=3,
                                                                                   max_size=3),
       caps=st.lists(st.floats(0, 0.2), min_size=2, max_size=2))
def test_waterfall_conserves_money(pay: list[float], amounts: list[float], caps: list[float]) -> None:
    tr = [
        TrancheSpec("s", "senior_loan", np.array([amounts[0], 0, 0, 0]), caps[0], 1),
        TrancheSpec("m", "junior_loan", np.array([0, amounts[1], 0, 0]), caps[1], 2),
        TrancheSpec("e", "equity", np.array([amounts[2], 0, 0, 0]), None, 3),
    ]
    p = np.array([pay])
    wf = run_waterfall(p, tr)
    total = sum(wf.receipts[t.name].sum() for t in tr) + wf.residual.sum()
    assert abs(total - p.sum()) <= 1e-9 * max(1.0, p.sum())
    assert wf.residual.sum() == 0.0  # the residual claimant takes everything left
    for t in tr:
        assert (wf.receipts[t.name] >= -1e-9).all()
    # a capped tranche never receives more than its principal grown at its cap
    assert wf.receipts["s"].sum() <= amounts[0] * (1 + caps[0]) ** 3 * (1 + 1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), effect=st.floats(-0.05, 0.05), se=st.floats(0.001, 0.05))
def test_same_seed_gives_identical_output(seed: int, effect: float, se: float) -> None:
    contract = _contract({"kind": "schedule", "tiers": [{"at": 0.01, "pay": 1e6}, {"at": 0.03, "pay": 2e6}]})
    contract["financing"] = {"tranches": [{"name": "loan", "kind": "senior_loan", "amount": 1.2e6}]}
    est = ExternalEstimate(label="y", effect=effect, std_error=se)
    a = price_contract(contract, est, draws=1000, seed=seed)
    b = price_contract(contract, est, draws=1000, seed=seed)
    assert a.to_dict() == b.to_dict()
    np.testing.assert_array_equal(a.payment_draws, b.payment_draws)

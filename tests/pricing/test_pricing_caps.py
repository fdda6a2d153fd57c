"""Every cap that can bind is counted, each on its own and together, on the Monte Carlo draws, against closed forms:
with a normal effect, a cap binds exactly when the improvement passes the cap's break point, so P(cap binds) =
P(effect beyond the break point) (issue 11, item 3: the per-student cap in the payment terms was not counted)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from cteimpact.pricing import price_contract
from cteimpact.results import ExternalEstimate

N = 100_000
Z = 4.5  # simulation-error tolerance in standard errors


def _tol(p: float) -> float:
    return Z * math.sqrt(max(p * (1 - p), 1e-12) / N) + 1e-12


def _contract(payment: dict[str, Any], *, caps: dict[str, float] | None = None, students: float = 1000.0,
              direction: str = "increase") -> dict[str, Any]:
    out: dict[str, Any] = {
        "contract": {"name": "caps"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": students, "year": 0}],
        "outcomes": [{"name": "y", "estimate": "y", "direction": direction, "payment": payment}],
    }
    if caps:
        out["caps"] = caps
    return out


def test_rate_card_per_student_cap_binds_beyond_its_break_point() -> None:
    # price 1,000 per outcome, at most 60 per student on average: binds when 1,000 x g > 60, g > 0.06
    mu, se = 0.05, 0.02
    res = price_contract(_contract({"kind": "rate_card", "price": 1000.0}, caps={"per_student": 60.0}),
                         ExternalEstimate(label="y", effect=mu, std_error=se), draws=N, seed=3)
    closed = 1 - stats.norm.cdf((0.06 - mu) / se)
    (cap,) = res.payments["caps"]
    assert cap["path"] == "caps.per_student" and cap["kind"] == "per_student" and cap["limit"] == 60.0
    assert cap["limit_total"] == 60_000.0
    assert abs(cap["p_binds"] - closed) <= _tol(closed), (cap["p_binds"], closed)
    assert cap["p_binds"] > 0.25
    assert cap["binds_beyond_effect"] == pytest.approx(0.06, rel=1e-9)
    assert cap["binds_at_estimate"] is False
    by_kind = res.payments["p_cap_binds"]
    assert by_kind["per_student"] == cap["p_binds"] == by_kind["any"]
    assert by_kind["project"] is None and by_kind["outcome_caps"] is None and by_kind["payment_per_student"] is None
    # the payments of the draws where it binds are exactly the cap
    pay = res.payment_draws
    assert pay.max() == pytest.approx(60_000.0, rel=1e-12)
    assert np.mean(pay >= 60_000.0 * (1 - 1e-12)) == pytest.approx(cap["p_binds"], abs=1e-12)


def test_per_student_cap_in_the_payment_terms_is_counted() -> None:
    # the demo's terms: 25% of the earnings gain for 3 years, at most 1,500 per student, significance required;
    # binds when 0.25 x g x 3 > 1,500, g > 2,000 (well above the significance bound 1.96 x 232)
    mu, se = 2119.355, 232.475
    payment = {"kind": "earnings_linked", "rate": 0.25, "years": 3, "cap_per_student": 1500.0,
               "require_significance": True}
    res = price_contract(_contract(payment, students=15_000.0), ExternalEstimate(label="y", effect=mu, std_error=se),
                         draws=N, seed=4)
    closed = 1 - stats.norm.cdf((2000.0 - mu) / se)
    (cap,) = res.payments["caps"]
    assert cap["path"] == "outcomes[0].payment.cap_per_student" and cap["outcome"] == "y"
    assert cap["kind"] == "payment_per_student" and cap["limit_total"] == 1500.0 * 15_000
    assert abs(cap["p_binds"] - closed) <= _tol(closed), (cap["p_binds"], closed)
    assert 0.65 < cap["p_binds"] < 0.75  # "binds in about 70% of draws", not 0%
    assert cap["binds_at_estimate"] is True
    assert cap["binds_beyond_effect"] == pytest.approx(2000.0, rel=1e-9)
    assert res.payments["p_cap_binds"]["payment_per_student"] == cap["p_binds"] == res.payments["p_cap_binds"]["any"]
    # the median payment is students x cap precisely because the cap binds in most draws
    assert res.payment_quantiles["50"] == pytest.approx(1500.0 * 15_000, rel=1e-12)


def test_each_cap_separately_and_any_cap() -> None:
    # an outcome cap of 30,000 (g > 0.03) and a project cap of 50,000 (never reached: the outcome cap comes first)
    # and a per-student cap of 40 (g > 0.04, also never reached); any cap = P(g > 0.03)
    mu, se = 0.035, 0.01
    payment = {"kind": "rate_card", "price": 1000.0, "cap": 30_000.0}
    res = price_contract(_contract(payment, caps={"per_student": 40.0, "project": 50_000.0}),
                         ExternalEstimate(label="y", effect=mu, std_error=se), draws=N, seed=5)
    caps = {c["path"]: c for c in res.payments["caps"]}
    assert list(caps) == ["outcomes[0].payment.cap", "caps.per_student", "caps.project"]
    closed = 1 - stats.norm.cdf((0.03 - mu) / se)
    assert abs(caps["outcomes[0].payment.cap"]["p_binds"] - closed) <= _tol(closed)
    assert caps["outcomes[0].payment.cap"]["binds_beyond_effect"] == pytest.approx(0.03, rel=1e-9)
    assert caps["caps.per_student"]["p_binds"] == 0.0 and caps["caps.per_student"]["binds_beyond_effect"] is None
    assert caps["caps.project"]["p_binds"] == 0.0 and caps["caps.project"]["binds_beyond_effect"] is None
    by_kind = res.payments["p_cap_binds"]
    assert by_kind["outcome_caps"] == caps["outcomes[0].payment.cap"]["p_binds"]
    assert by_kind["any"] == by_kind["outcome_caps"]
    assert by_kind["payment_per_student"] is None


def test_any_cap_is_the_union_over_outcomes() -> None:
    # two independent outcomes, each with its own cap: P(any) = 1 - P(neither binds)
    contract = {
        "contract": {"name": "two caps"},
        "payors": [{"name": "state", "level": "state"}],
        "cohorts": [{"name": "a", "students": 100.0}],
        "outcomes": [
            {"name": "a", "estimate": "a", "direction": "increase",
             "payment": {"kind": "rate_card", "price": 100.0, "cap": 500.0}},  # g > 0.05
            {"name": "b", "estimate": "b", "direction": "decrease",
             "payment": {"kind": "savings_share", "savings_per_outcome": 1000.0, "share": 0.5, "cap": 1000.0}},
        ],  # b: 0.5 x 1000 x 100 x g > 1000: g > 0.02
    }
    res = price_contract(contract, [ExternalEstimate(label="a", effect=0.05, std_error=0.02),
                                    ExternalEstimate(label="b", effect=-0.01, std_error=0.01)], draws=N, seed=6)
    pa = 1 - stats.norm.cdf((0.05 - 0.05) / 0.02)
    pb = 1 - stats.norm.cdf((0.02 - 0.01) / 0.01)
    caps = {c["outcome"]: c for c in res.payments["caps"]}
    assert abs(caps["a"]["p_binds"] - pa) <= _tol(pa)
    assert abs(caps["b"]["p_binds"] - pb) <= _tol(pb)
    assert caps["b"]["binds_beyond_effect"] == pytest.approx(-0.02, rel=1e-9)  # a fall of 2 points
    closed_any = 1 - (1 - pa) * (1 - pb)
    assert abs(res.payments["p_cap_binds"]["any"] - closed_any) <= _tol(closed_any)
    assert res.payments["p_cap_binds"]["outcome_caps"] == res.payments["p_cap_binds"]["any"]


def test_no_cap_means_null_not_zero() -> None:
    res = price_contract(_contract({"kind": "rate_card", "price": 1000.0}),
                         ExternalEstimate(label="y", effect=0.05, std_error=0.02), draws=2000, seed=1)
    assert res.payments["caps"] == []
    assert set(res.payments["p_cap_binds"].values()) == {None}
    assert "P(cap binds)" not in res.summary()

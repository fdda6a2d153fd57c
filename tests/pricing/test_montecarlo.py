"""Monte Carlo pricing: probabilities and expectations match their normal (or t) closed forms within simulation
error; seeds reproduce output exactly; minimum detectable effects; joint draws."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from pricing_helpers import make_estimates
from scipy import stats

from cteimpact.pricing import example_contract, load_contract, minimum_detectable_effect, montecarlo, price_contract
from cteimpact.pricing.engine import compile_contract
from cteimpact.results import ExternalEstimate, dumps_json

Z = 4.5  # simulation-error tolerance in standard errors (false-failure probability ~ 7e-6 per comparison)


def _sim_tol(p: float, n: int) -> float:
    return Z * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12


@pytest.mark.slow
def test_threshold_probabilities_match_the_normal_closed_form() -> None:
    n = 200_000
    res = price_contract(example_contract("schedule_rikers"),
                         ExternalEstimate(label="dropout", effect=-0.018, std_error=0.008), draws=n, seed=11)
    base = 0.15
    for th in res.thresholds:
        # P(reduction >= at x baseline) with effect ~ N(-0.018, 0.008^2)
        closed = stats.norm.cdf((0.018 - th["at"] * base) / 0.008)
        assert th["p_met_closed_form"] == pytest.approx(closed, abs=1e-12)
        assert abs(th["p_met"] - closed) <= _sim_tol(closed, n), th
    assert abs(res.p_any_payment - stats.norm.cdf((0.018 - 0.085 * base) / 0.008)) <= _sim_tol(0.75, n)


@pytest.mark.slow
def test_t_family_and_significance_requirement(base_contract: dict[str, Any]) -> None:
    n = 200_000
    base_contract["outcomes"][0]["payment"].update(min_effect=0.01, require_significance=True)
    est = make_estimates(["graduated"], [0.03], [[0.012**2]], df=6)
    res = price_contract(base_contract, est, draws=n, seed=3)
    (th,) = res.thresholds
    # improvement must reach max(0.01, t_{0.975, 6} x 0.012) = 0.02937...
    bound = max(0.01, stats.t.ppf(0.975, 6) * 0.012)
    closed = stats.t.cdf((0.03 - bound) / 0.012, 6)
    assert th["p_met_closed_form"] == pytest.approx(closed, abs=1e-12)
    assert abs(th["p_met"] - closed) <= _sim_tol(closed, n)
    assert abs(res.p_any_payment - closed) <= _sim_tol(closed, n)


@pytest.mark.slow
def test_expected_rate_card_payment_closed_form(base_contract: dict[str, Any]) -> None:
    # payment = price x students x max(g, 0) with g ~ N(mu, s^2): E = price N (mu Phi(mu/s) + s phi(mu/s))
    n, mu, s, price, students = 400_000, 0.01, 0.02, 1000.0, 1000
    res = price_contract(base_contract, ExternalEstimate(label="graduated", effect=mu, std_error=s), draws=n, seed=8)
    closed = price * students * (mu * stats.norm.cdf(mu / s) + s * stats.norm.pdf(mu / s))
    draws = res.payment_draws
    assert abs(res.expected_payment - closed) <= Z * draws.std() / math.sqrt(n)
    p0 = stats.norm.cdf(mu / s)
    assert abs(res.p_any_payment - p0) <= _sim_tol(p0, n)
    # quantiles of max(g, 0) x 1e6: the 95% quantile is 1e6 x (mu + 1.645 s)
    q95 = price * students * (mu + stats.norm.ppf(0.95) * s)
    dens = stats.norm.pdf(stats.norm.ppf(0.95)) / (s * price * students)
    assert abs(res.payment_quantiles["95"] - q95) <= Z * math.sqrt(0.95 * 0.05 / n) / dens


@pytest.mark.slow
def test_joint_draws_match_the_bivariate_normal() -> None:
    contract = load_contract(example_contract("two_payor_chicago_cpc"))
    mean = np.array([0.04, -0.03])
    sd = np.array([0.01, 0.012])
    rho = -0.6
    cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    compiled = compile_contract(contract, make_estimates(["graduated", "dropout"], mean, cov))
    n = 200_000
    eff = compiled.distribution.draw(n, np.random.default_rng(4))
    np.testing.assert_allclose(np.corrcoef(eff.T)[0, 1], rho, atol=Z * (1 - rho**2) / math.sqrt(n))
    # P(graduation gain >= 0.03 and dropout fall >= 0.025) from the draws vs the bivariate normal cdf
    both = np.mean((eff[:, 0] >= 0.03) & (-eff[:, 1] >= 0.025))
    # (X >= a, -Y >= b) = (-X <= -a, Y <= -b): cdf of (-X, Y) with correlation -rho
    mvn = stats.multivariate_normal(mean=[-mean[0], mean[1]], cov=[[cov[0, 0], -cov[0, 1]], [-cov[0, 1], cov[1, 1]]])
    closed = mvn.cdf([-0.03, -0.025])
    assert abs(both - closed) <= _sim_tol(closed, n) + 1e-5  # + the cdf's own integration error


def test_independence_is_stated_when_covariances_are_unknown() -> None:
    contract = load_contract(example_contract("two_payor_chicago_cpc"))
    est = make_estimates(["graduated", "dropout"], [0.04, -0.03], np.diag([1e-4, 1e-4]), joint=False)
    res = price_contract(contract, est, draws=2000, seed=1)
    assert any("independent" in n for n in res.notes)
    assert res.to_dict()["simulation"]["joint"] is False
    joint = price_contract(contract, make_estimates(["graduated", "dropout"], [0.04, -0.03], np.diag([1e-4, 1e-4])),
                           draws=2000, seed=1)
    assert not any("independent" in n for n in joint.notes)


def test_same_seed_identical_output_and_chunking_invariance(monkeypatch: pytest.MonkeyPatch) -> None:
    contract = example_contract("two_payor_chicago_cpc")
    est = make_estimates(["graduated", "dropout"], [0.04, -0.03], [[1e-4, -5e-5], [-5e-5, 1e-4]])
    a = dumps_json(price_contract(contract, est, draws=5000, seed=42).to_dict())
    b = dumps_json(price_contract(contract, est, draws=5000, seed=42).to_dict())
    assert a == b
    c = dumps_json(price_contract(contract, est, draws=5000, seed=43).to_dict())
    assert a != c
    monkeypatch.setattr(montecarlo, "CHUNK", 777)
    d = dumps_json(price_contract(contract, est, draws=5000, seed=42).to_dict())
    assert a == d


def test_minimum_detectable_effect_default_and_supplied(base_contract: dict[str, Any]) -> None:
    # Bloom (1995): (z_{0.975} + z_{0.80}) x SE = (1.959964 + 0.841621) x SE = 2.801585 x SE
    assert minimum_detectable_effect(0.01) == pytest.approx(0.02801585, abs=1e-8)
    assert minimum_detectable_effect(0.01, df=10) == pytest.approx(
        (stats.t.ppf(0.975, 10) + stats.t.ppf(0.8, 10)) * 0.01, abs=1e-15)
    contract = copy.deepcopy(base_contract)
    contract["outcomes"][0]["payment"]["min_effect"] = 0.02
    est = ExternalEstimate(label="graduated", effect=0.03, std_error=0.01)
    res = price_contract(contract, est, draws=1000)
    (th,) = res.thresholds
    assert th["mde"] == pytest.approx(0.028015845, abs=1e-8)
    assert th["below_mde"] is True and "coin flip" in th["note"]
    contract["evaluation"] = {"mde": {"grad": 0.015}}
    res2 = price_contract(contract, est, draws=1000)
    assert res2.thresholds[0]["mde"] == 0.015 and res2.thresholds[0]["below_mde"] is False
    res3 = price_contract(contract, est, draws=1000, mde={"grad": 0.05})  # the design's MDE takes precedence
    assert res3.thresholds[0]["mde"] == 0.05 and res3.estimates[0]["mde_source"] == "supplied by the design"


def test_bad_simulation_options(base_contract: dict[str, Any]) -> None:
    est = ExternalEstimate(label="graduated", effect=0.03, std_error=0.01)
    from cteimpact.errors import OptionError

    with pytest.raises(OptionError, match="draws must be a whole number of at least 1,000"):
        price_contract(base_contract, est, draws=10)
    with pytest.raises(OptionError, match="seed must be a non-negative whole number"):
        price_contract(base_contract, est, seed=-1)


def test_significance_alone_is_reported_as_a_coin_flip_threshold(base_contract: dict[str, Any]) -> None:
    base_contract["outcomes"][0]["payment"]["require_significance"] = True
    res = price_contract(base_contract, ExternalEstimate(label="graduated", effect=0.02, std_error=0.01), draws=20_000,
                         seed=1)
    (th,) = res.thresholds
    assert th["kind"] == "significance"
    assert th["at"] == pytest.approx(stats.norm.ppf(0.975) * 0.01, rel=1e-12)
    # significance sits below the MDE by construction (z_{0.8} x SE below it)
    assert th["below_mde"] is True
    closed = stats.norm.cdf((0.02 - th["at"]) / 0.01)
    assert th["p_met_closed_form"] == pytest.approx(closed, abs=1e-12)
    assert abs(th["p_met"] - closed) <= _sim_tol(closed, 20_000)

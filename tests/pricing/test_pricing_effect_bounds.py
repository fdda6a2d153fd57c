"""Effects outside what an outcome's units allow (issue 11, item 9): ``cteimpact price --effect -5 --se 1`` paid
for 50,000 dropouts prevented among 10,000 students. An estimate beyond the outcome's bounds is refused (exit 2,
one line naming the outcome, the bound and the value; the same error from the Python API); Monte Carlo draws beyond
them are priced at the bound and counted."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from cteimpact.cli.app import main
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.pricing import load_contract, price_contract
from cteimpact.pricing.engine import compile_contract
from cteimpact.results import ExternalEstimate

CCPT = Path(__file__).resolve().parents[2] / "analyses" / "contracts" / "ccpt-dropout-rate-card.toml"


def _contract(payment: dict[str, Any], *, baseline: float | None = None, scale: str | None = None,
              direction: str = "decrease", students: float = 10_000.0) -> dict[str, Any]:
    outcome: dict[str, Any] = {"name": "y", "estimate": "y", "direction": direction, "units": "a rate",
                               "payment": payment}
    if baseline is not None:
        outcome["baseline"] = baseline
    if scale is not None:
        outcome["scale"] = scale
    return {"contract": {"name": "bounds"}, "payors": [{"name": "state", "level": "state"}],
            "cohorts": [{"name": "a", "students": students}], "outcomes": [outcome]}


def test_cli_refuses_an_effect_beyond_the_rate_in_one_line(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    out = tmp_path / "price.json"
    code = main(["price", str(CCPT), "--effect", "-5", "--se", "1", "--output", str(out)])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    for words in ("outcomes[0] ('dropout_prevented', four-year dropout rate)", "a proportion between 0 and 1",
                  "'dropout' = -5", "below its lower bound -0.085", "baseline 0.085 + effect -5 = -4.915",
                  "below 0", "outcomes[0].scale"):
        assert words in line, (words, line)
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_refuses_an_effect_above_the_upper_bound(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["price", str(CCPT), "--effect", "0.95", "--se", "0.01"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "above its upper bound 0.915" in err and "= 1.035, above 1" in err


def test_library_raises_the_same_error() -> None:
    with pytest.raises(OptionError, match=r"'dropout' = -5 is below its lower bound -0\.085") as info:
        price_contract(CCPT, ExternalEstimate(label="dropout", effect=-5.0, std_error=1.0), draws=1000)
    assert "\n" not in str(info.value)
    with pytest.raises(OptionError, match="below its lower bound"):
        compile_contract(load_contract(CCPT), ExternalEstimate(label="dropout", effect=-5.0, std_error=1.0))


def test_bounds_by_scale() -> None:
    rate_card = {"kind": "rate_card", "price": 100.0}
    # a proportion without a baseline: an effect lies in [-1, 1]
    with pytest.raises(OptionError, match=r"'y' = 1\.5 is above its upper bound 1 \(an effect on a proportion lies "
                                          r"between -1 and 1\)"):
        price_contract(_contract(rate_card, direction="increase"), ExternalEstimate(label="y", effect=1.5,
                                                                                   std_error=0.1), draws=1000)
    # earnings cannot fall below zero: with a baseline of 30,000 the effect is at least -30,000
    earnings = {"kind": "earnings_linked", "rate": 0.1}
    with pytest.raises(OptionError, match=r"never negative \(implied by the earnings-linked payment.*'y' = -40000 is "
                                          r"below its lower bound -30000"):
        price_contract(_contract(earnings, baseline=30_000.0, direction="increase"),
                       ExternalEstimate(label="y", effect=-40_000.0, std_error=100.0), draws=1000)
    # without a baseline an earnings effect has no lower bound; a schedule implies no scale
    price_contract(_contract(earnings, direction="increase"), ExternalEstimate(label="y", effect=-40_000.0,
                                                                              std_error=100.0), draws=1000)
    schedule = {"kind": "schedule", "tiers": [{"at": 1.0, "pay": 10.0}]}
    res = price_contract(_contract(schedule, baseline=0.3), ExternalEstimate(label="y", effect=-5.0, std_error=1.0),
                         draws=1000)
    assert res.estimates[0]["scale"] == "unbounded" and res.estimates[0]["admissible_effect"] == {
        "lower": None, "upper": None}
    # stating the scale overrides what the payment implies (a rate card per credit earned, say)
    res = price_contract(_contract(rate_card, scale="unbounded", direction="increase"),
                         ExternalEstimate(label="y", effect=2.0, std_error=0.1), draws=1000)
    assert res.payments["at_estimate"] == pytest.approx(100.0 * 2.0 * 10_000, rel=1e-12)
    assert res.estimates[0]["scale_source"] == "stated in the contract"


def test_baseline_must_fit_the_scale() -> None:
    with pytest.raises(SpecificationError, match=r"outcomes\[0\]: baseline 5\.0 is outside \[0, 1\], but the outcome "
                                                 r"is a proportion \(implied by the rate card payment"):
        load_contract(_contract({"kind": "rate_card", "price": 1.0}, baseline=5.0))
    with pytest.raises(SpecificationError, match=r"baseline -1\.0 is negative, but the outcome cannot be negative"):
        load_contract(_contract({"kind": "earnings_linked", "rate": 0.1}, baseline=-1.0))
    with pytest.raises(SpecificationError, match=r"outcomes\[0\]\.scale = 'share' is not allowed"):
        load_contract(_contract({"kind": "rate_card", "price": 1.0}, scale="share"))


def test_draws_beyond_the_bound_are_counted_and_priced_at_the_bound() -> None:
    # dropout baseline 8.5%, estimate -5 points with SE 5 points: P(draw below -8.5 points) = Phi(-0.7)
    mu, se, base, price, n_students = -0.05, 0.05, 0.085, 100.0, 10_000.0
    n = 100_000
    res = price_contract(_contract({"kind": "rate_card", "price": price}, baseline=base),
                         ExternalEstimate(label="y", effect=mu, std_error=se), draws=n, seed=9)
    e = res.estimates[0]
    p_below = stats.norm.cdf((-base - mu) / se)
    p_above = stats.norm.sf((1 - base - mu) / se)
    tol = 4.5 * math.sqrt(p_below * (1 - p_below) / n)
    assert abs(e["p_draws_below_admissible"] - p_below) <= tol
    assert e["p_draws_above_admissible"] == 0.0 and p_above < 1e-60
    assert e["p_draws_outside_admissible"] == e["p_draws_below_admissible"]
    assert e["admissible_effect"]["lower"] == -base
    assert any("fall outside the effects y allows" in note and "priced at the nearest bound" in note
               for note in res.notes)
    # payments never count more dropouts prevented than there are dropouts: at most price x 8.5% x 10,000
    pay = res.payment_draws
    top = price * base * n_students
    assert pay.max() == pytest.approx(top, rel=1e-12)
    assert np.mean(pay == pay.max()) == pytest.approx(e["p_draws_below_admissible"], abs=1e-12)
    # the expected payment is price x N x E[min(max(g, 0), baseline)] with g ~ N(0.05, 0.05^2)
    g_mu = -mu

    def integrand(g: float) -> float:
        return min(max(g, 0.0), base) * stats.norm.pdf(g, g_mu, se)

    inner, _ = integrate.quad(integrand, 0.0, base)
    closed = price * n_students * (inner + base * stats.norm.sf(base, g_mu, se))
    assert abs(res.expected_payment - closed) <= 4.5 * pay.std() / math.sqrt(n)
    # the uncensored expectation would be visibly larger: the censoring is what the test sees
    uncensored = price * n_students * (g_mu * stats.norm.cdf(g_mu / se) + se * stats.norm.pdf(g_mu / se))
    assert uncensored - closed > 10 * pay.std() / math.sqrt(n)


def test_no_draw_outside_leaves_no_note() -> None:
    res = price_contract(CCPT, ExternalEstimate(label="dropout", effect=-0.028, std_error=0.0147), draws=2000)
    assert res.estimates[0]["p_draws_outside_admissible"] == 0.0
    assert not any("outside the effects" in note for note in res.notes)
    assert res.estimates[0]["scale"] == "proportion"

"""Pricing refuses, before drawing, draws that do not fit in memory, estimates far outside any scale, and estimates
that are missing (suppressed or not estimated); the memory count matches what a pricing really allocates."""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import pytest

import cteimpact.limits
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.pricing import check_draws_memory, example_contract, load_contract, price_contract
from cteimpact.pricing.engine import required_labels
from cteimpact.pricing.montecarlo import draw_bytes
from cteimpact.results import ExternalEstimate
from cteimpact.results.estimate import EffectEstimate

GB = 10**9


@pytest.fixture
def memory_24_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: 24 * GB)


def test_draws_beyond_memory_are_refused_in_the_library(memory_24_gb: None) -> None:
    contract = load_contract(example_contract("schedule_rikers"))
    per = draw_bytes(contract)
    est = ExternalEstimate(label="dropout", effect=-0.018, std_error=0.008)
    with pytest.raises(OptionError) as info:
        price_contract(contract, est, draws=10_000_000_000)
    msg = str(info.value)
    values = math.ceil(per / 8)
    assert msg.startswith(f"10,000,000,000 draws (--draws, [pricing] draws) for the pricing Monte Carlo need about "
                          f"{10_000_000_000 * 8 * values / 1e12:.1f} TB of memory (10,000,000,000 draws × {values} "
                          "values × 8 bytes); this machine has 24 GB available; use at most ")
    most = int(msg.rsplit("use at most ", 1)[1].split()[0].replace(",", ""))
    assert most * 8 * values <= 0.8 * 24 * GB < 1.2 * most * 8 * values
    check_draws_memory(contract, most)  # the advice fits


def test_memory_unknown_or_ample_lets_draws_through(monkeypatch: pytest.MonkeyPatch) -> None:
    contract = load_contract(example_contract("schedule_rikers"))
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: None)
    check_draws_memory(contract, 10**12)
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: 10**15)
    check_draws_memory(contract, 10**9)


@pytest.mark.slow
def test_memory_count_matches_the_allocations() -> None:
    """draw_bytes is within 20% above the memory a pricing really takes per draw (numpy allocations, traced: the
    growth of the peak between 600,000 and 1,200,000 draws, both well above the chunk evaluated at once)."""
    for name in ("schedule_rikers", "two_payor_chicago_cpc", "rate_card_uk_innovation_fund",
                 "interim_credential_completion"):
        contract = load_contract(example_contract(name))
        ests = [ExternalEstimate(label=o.estimate, effect=0.02 if o.direction == "increase" else -0.02,
                                 std_error=0.01) for o in contract.outcomes]
        # the equity terms' group estimates and a projected benefit stream's estimate
        ests += [ExternalEstimate(label=lab, effect=1000.0 if "surrogate" in lab else 0.02, std_error=0.01)
                 for lab in required_labels(contract)[len(contract.outcomes):]]
        peaks = []
        for n in (600_000, 1_200_000):
            tracemalloc.start()
            price_contract(contract, ests, draws=n)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        per_draw = (peaks[1] - peaks[0]) / 600_000
        assert per_draw <= draw_bytes(contract) <= 1.2 * per_draw, (name, per_draw, draw_bytes(contract))


def test_estimate_beyond_any_scale_is_refused(base_contract: dict[str, Any]) -> None:
    with pytest.raises(OptionError, match=r"the estimate 'graduated' is 1e\+308 \(standard error 0\.01\); a contract "
                                          r"prices effects of at most 1e\+15"):
        price_contract(base_contract, ExternalEstimate(label="graduated", effect=1e308, std_error=0.01), draws=1000)


class _Suppressed:
    """A result whose estimate row is missing (suppressed) while its distribution still has the label."""

    def __init__(self) -> None:
        full = ExternalEstimate(label="graduated", effect=0.02, std_error=0.01)
        row = full.estimates[0]
        self.estimates = (EffectEstimate(row.label, row.outcome, row.term, math.nan, math.nan, math.nan, math.nan,
                                         math.nan, math.nan, row.ci_level, row.ci_type, None),)
        self._dist = full.sampling_distribution()

    def sampling_distribution(self) -> Any:
        return self._dist


def test_missing_estimate_is_refused_naming_the_label(base_contract: dict[str, Any]) -> None:
    with pytest.raises(SpecificationError, match=r"outcomes\[0\] \('grad'\) is priced on the estimate 'graduated', "
                                                 r"which has no finite estimate and standard error \(estimate missing, "
                                                 r"standard error missing\): it was suppressed"):
        price_contract(base_contract, _Suppressed(), draws=1000)

"""Each threshold says whether the point estimate itself meets it (what a certified result triggers)."""

from __future__ import annotations

from cteimpact.pricing import example_contract, load_contract, price_contract
from cteimpact.results import ExternalEstimate


def test_met_at_estimate_follows_the_schedule_tiers() -> None:
    contract = load_contract(example_contract("schedule_rikers"))
    label = contract.outcomes[0].estimate
    baseline = contract.outcomes[0].baseline
    # a 12% relative reduction: tiers at 8.5% and 10% are met, the 20% maximum is not
    res = price_contract(contract, ExternalEstimate(label=label, effect=-0.12 * baseline, std_error=0.001),
                         draws=2000, seed=1)
    by_at = {round(t["at"], 4): t["met_at_estimate"] for t in res.to_dict()["thresholds"]}
    assert by_at[0.085] is True
    assert by_at[0.1] is True
    assert by_at[0.2] is False

"""The synthetic district panel (``cteimpact.synth``): estimates against the generator's true effects (slow).

``truth.json`` → ``did.outcomes.earnings_age19.district_panel`` holds the true ATT(g,t) and the simple, group and
dynamic aggregates for the balanced district panel. One data set is drawn (seed 11, scale 0.2); the
Callaway–Sant'Anna estimates (clustered by consortium) must lie within 3 standard errors of the truth, and at
least 80% of the post-treatment ATT(g,t) intervals must cover their true values (nominal 95%; the cells share
comparison units, so a single data set gives a noisy coverage count).
"""

from __future__ import annotations

import warnings

import pytest

synth = pytest.importorskip("cteimpact.synth")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted():
    from cteimpact.did import CallawaySantAnna

    data = synth.simulate(seed=11, scale=0.2)
    truth = data.truth["did"]["outcomes"]["earnings_age19"]["district_panel"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(data.district_panel, outcome="earnings_age19", unit="district_id", time="cohort",
                               cohort="first_treated", cluster="consortium_id").fit(twfe=True)
    return res, truth


def _truth_value(truth: dict, key: str) -> float:
    agg = truth["aggregates"]
    if key == "simple":
        return float(agg["simple"])
    fam, part = key.split(":")
    return float(agg[fam][part])


@pytest.mark.parametrize(("label", "key"), [("earnings_age19", "simple"),
                                            ("earnings_age19[group=overall]", "group:overall"),
                                            ("earnings_age19[event=overall]", "dynamic:overall")])
def test_cs_recovers_synthetic_truth(fitted, label: str, key: str) -> None:
    res, truth = fitted
    e = res.estimate(label)
    true = _truth_value(truth, key)
    assert abs(e.estimate - true) <= 3 * e.std_error, (label, e.estimate, true, e.std_error)


def test_cs_group_time_effects_cover_truth_at_nominal_rate(fitted) -> None:
    res, truth = fitted
    gt = res.group_time.set_index(["group", "time"])
    hits, n = 0, 0
    for cell in truth["att_gt"]:
        key = (float(cell["group"]), float(cell["time"]))
        if key not in gt.index or cell["time"] < cell["group"]:
            continue
        r = gt.loc[key]
        n += 1
        hits += int(r["ci_lower"] <= cell["att"] <= r["ci_upper"])
    assert n >= 20
    assert hits / n >= 0.8, (hits, n)

"""Recovery of the synthetic data's true subgroup effects at the RD cutoff (truth.json), with z-scores."""

from __future__ import annotations

import math

import pytest

from cteimpact.equity import rd_equity


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2024, 7])
def test_rd_subgroup_effects_recover_truth(seed: int) -> None:
    from cteimpact.synth import simulate

    data = simulate(seed=seed, scale=0.3)
    df = data.students
    df = df[(df["cohort"] >= df["award_year"]) & (df["cohort"] <= df["award_year"] + 3)]
    truth = data.truth["rd"]["estimands"]["dropout"]["pooled"]["subgroups"]
    res = rd_equity(df, outcomes=["dropout"], running="rubric_score", cutoff_column="cutoff",
                    cluster="consortium_id", subgroups=["female", "low_income"], options=None)
    z = {}
    for key, true in truth.items():
        if key.split("=")[0] not in ("female", "low_income"):
            continue
        row = res.estimate(f"dropout[{key}]")
        centre = (row.ci_lower + row.ci_upper) / 2  # the bias-corrected estimate the robust interval is centred on
        z[key] = (centre - true["itt"]) / row.std_error
    for col in ("female", "low_income"):
        d = res.estimate(f"dropout[{col}=1 vs {col}=0]")
        true_d = truth[f"{col}=1"]["itt"] - truth[f"{col}=0"]["itt"]
        z[f"{col}=1 vs {col}=0"] = ((d.ci_lower + d.ci_upper) / 2 - true_d) / d.std_error
    print({k: round(v, 2) for k, v in z.items()})
    assert len(z) == 6
    assert all(math.isfinite(v) and abs(v) < 3.5 for v in z.values()), z

"""Equity analysis of the DiD design: each subgroup's effect is Callaway-Sant'Anna on its rows; the covariance of
two subgroups' effects from shared clusters; suppression of small groups; determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.equity import EquityResults, UnknownGroupError, did_equity

DESIGN = {"outcome": "graduated", "time": "cohort", "cohort": "first_treated", "cluster": "district_id"}


@pytest.fixture(scope="module")
def did_result(equity_students: pd.DataFrame) -> EquityResults:
    return did_equity(equity_students, **DESIGN, subgroups=["low_income", "race_ethnicity"],
                      reference={"race_ethnicity": "White"}, multiplicity="bh")


def test_subgroup_effect_equals_callaway_santanna_on_the_subset(equity_students: pd.DataFrame,
                                                                 did_result: EquityResults) -> None:
    for col, value, level in (("low_income", 1, "1"), ("race_ethnicity", "Asian", "Asian")):
        sub = equity_students[equity_students[col] == value]
        fit = CallawaySantAnna(sub, panel=False, **DESIGN).fit()
        assert fit.estimate("graduated").estimate == did_result.estimate(f"graduated[{col}={level}]").estimate
        alone = fit.with_min_cell(10).estimate("graduated")  # as published: the DiD small-cell rule
        row = did_result.estimate(f"graduated[{col}={level}]")
        for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n_effective"):
            expected = getattr(alone, name)
            assert getattr(row, name) == (None if expected is None else pytest.approx(expected, rel=1e-12, abs=1e-14))


def test_difference_uses_shared_cluster_covariance(equity_students: pd.DataFrame, did_result: EquityResults) -> None:
    a = did_result.estimate("graduated[low_income=1]")
    b = did_result.estimate("graduated[low_income=0]")
    d = did_result.estimate("graduated[low_income=1 vs low_income=0]")
    le = next(e for e in did_result.effects if e.column == "low_income")
    cov = le.covariance[1, 0]
    assert cov != 0.0  # districts hold students of both levels
    assert d.std_error == pytest.approx(math.sqrt(a.std_error**2 + b.std_error**2 - 2 * cov), rel=1e-12)
    assert d.estimate == pytest.approx(a.estimate - b.estimate, abs=1e-15)
    assert "cluster sums of their influence functions" in le.covariance_method


def test_identical_copies_have_perfectly_correlated_effects(equity_students: pd.DataFrame) -> None:
    # a second copy of every student (same district, same values) in level "b": the two levels' ATTs are equal and
    # their influence functions identical cluster by cluster, so the difference has standard error zero; with the
    # copies in districts of their own, the levels share no cluster and the covariance is zero
    first = sorted(equity_students["consortium_id"].unique())[:12]
    base = equity_students[equity_students["consortium_id"].isin(first)]
    twin = pd.concat([base.assign(copy="a"), base.assign(copy="b")], ignore_index=True)
    res = did_equity(twin, **DESIGN, subgroups=["copy"], reference={"copy": "a"})
    d = res.estimate("graduated[copy=b vs copy=a]")
    assert d.estimate == pytest.approx(0.0, abs=1e-12)
    assert d.std_error == pytest.approx(0.0, abs=1e-9)
    apart = pd.concat([base.assign(copy="a"), base.assign(copy="b", district_id=base["district_id"] + "x")],
                      ignore_index=True)
    res2 = did_equity(apart, **DESIGN, subgroups=["copy"], reference={"copy": "a"})
    se = res2.estimate("graduated[copy=a]").std_error
    assert res2.estimate("graduated[copy=b vs copy=a]").std_error == pytest.approx(math.sqrt(2) * se, rel=1e-10)


def test_without_clusters_levels_are_independent(equity_students: pd.DataFrame) -> None:
    res = did_equity(equity_students, outcome="graduated", time="cohort", cohort="first_treated",
                     subgroups=["female"])
    le = res.effects[0]
    assert le.covariance[0, 1] == 0.0 and "independent samples" in le.covariance_method
    a, b = res.estimate("graduated[female=1]"), res.estimate("graduated[female=0]")
    assert res.estimate("graduated[female=1 vs female=0]").std_error == pytest.approx(
        math.hypot(a.std_error, b.std_error), rel=1e-12)


def test_five_student_group_suppressed_with_complement(equity_students: pd.DataFrame) -> None:
    df = equity_students.copy()
    rng = np.random.default_rng(9)
    grp = np.full(len(df), "big", dtype=object)
    grp[rng.choice(len(df), 5, replace=False)] = "five"
    rest = np.flatnonzero(grp == "big")
    grp[rng.choice(rest, 3000, replace=False)] = "mid"
    df["grp"] = grp
    res = did_equity(df, **DESIGN, subgroups=["grp"], reference={"grp": "big"})
    five = res.estimate("graduated[grp=five]")
    assert five.suppressed and math.isnan(five.estimate)
    assert five.suppression == ("fewer than 10 students in grp=five: too few for an estimate that may be shown "
                                "(the small-cell rule)")
    mid = res.estimate("graduated[grp=mid]")
    assert mid.suppressed and (mid.suppression or "").startswith("complementary suppression")
    assert not res.estimate("graduated[grp=big]").suppressed
    assert res.estimate("graduated[grp=five vs grp=big]").suppressed
    eff = res.to_dict()["details"]["effects"][0]
    assert eff["n_students"] == [eff["n_students"][0], None, None] and eff["n_students"][0] > 10
    assert all(t.suppressed for t in res.tests if "five" in t.label or "mid" in t.label)


def test_bh_family_and_omnibus(did_result: EquityResults) -> None:
    from statsmodels.stats.multitest import multipletests

    shown = [t for t in did_result.tests if not t.suppressed]
    np.testing.assert_allclose([t.p_adjusted for t in shown],
                               multipletests([t.p_value for t in shown], method="fdr_bh")[1], rtol=1e-12)
    omni = next(t for t in did_result.tests if t.kind == "omnibus")
    assert omni.column == "race_ethnicity" and omni.df == len(omni.levels) - 1


def test_unknown_reference_group(equity_students: pd.DataFrame) -> None:
    with pytest.raises(UnknownGroupError, match=r"group low_income=2 is not in the data: column 'low_income' has 2 "
                                                r"level\(s\): 0 \([\d,]+ students\), 1 \([\d,]+ students\)"):
        did_equity(equity_students, **DESIGN, subgroups=["low_income"], reference={"low_income": 2})


def test_deterministic(equity_students: pd.DataFrame) -> None:
    a = did_equity(equity_students, **DESIGN, subgroups=["female"])
    b = did_equity(equity_students, **DESIGN, subgroups=["female"])
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)

"""Access gaps: rates, gaps and their change against hand computation and statsmodels OLS with cluster-robust
covariance; small-cell suppression; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cteimpact.equity import access_gaps, subgroup_columns
from cteimpact.equity.access import ACCESS_GAP_COLUMNS, ACCESS_RATE_COLUMNS, cell_means_covariance
from cteimpact.errors import InvalidValueError, MissingColumnError, OptionError


def _frame(seed: int = 0, n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B", "C"], size=n, p=[0.5, 0.3, 0.2])
    cohort = rng.integers(2010, 2018, n)
    school = rng.integers(0, 40, n)
    after = cohort >= 2014
    p = 0.3 + 0.25 * after + 0.05 * (group == "B") - 0.04 * (group == "C") + 0.02 * (school % 3)
    y = (rng.random(n) < p).astype(float)
    y[rng.random(n) < 0.03] = np.nan
    return pd.DataFrame({"y": y, "group": group, "cohort": cohort, "school": school})


def _gaps(df: pd.DataFrame, cluster: str | None = "school"):
    cols = subgroup_columns(df, ["group"], references={"group": "A"})
    periods = {"baseline": (df["cohort"] < 2014).to_numpy(), "after": (df["cohort"] >= 2014).to_numpy()}
    return access_gaps(df, outcomes=["y"], columns=cols, periods=periods, cluster=cluster, min_cell=10)


@pytest.mark.parametrize("cluster", ["school", None])
def test_gaps_match_statsmodels_ols(cluster: str | None) -> None:
    df = _frame()
    res = _gaps(df, cluster)
    use = df["y"].notna()
    d = df[use]
    period = np.where(d["cohort"] < 2014, "baseline", "after")
    names = [f"{p}:{g}" for p in ("baseline", "after") for g in ("A", "B", "C")]
    cell = pd.Categorical([f"{p}:{g}" for p, g in zip(period, d["group"], strict=True)], categories=names)
    x = pd.get_dummies(cell).astype(float).to_numpy()
    ols = sm.OLS(d["y"].to_numpy(), x)
    fit = (ols.fit(cov_type="cluster", cov_kwds={"groups": d["school"].to_numpy()}) if cluster
           else ols.fit(cov_type="HC1"))
    rates = res.rates.set_index(["period", "level"])
    for j, name in enumerate(names):
        p, g = name.split(":")
        assert rates.loc[(p, g), "rate"] == pytest.approx(fit.params[j], abs=1e-12)
        assert rates.loc[(p, g), "std_error"] == pytest.approx(np.sqrt(fit.cov_params()[j, j]), abs=1e-10)
        sel = (period == p) & (d["group"] == g).to_numpy()
        assert rates.loc[(p, g), "n"] == sel.sum()
        assert rates.loc[(p, g), "count"] == d["y"].to_numpy()[sel].sum()
    gaps = res.gaps.set_index(["period", "level"])
    for p_i, p in enumerate(("baseline", "after")):
        for g_i, g in ((1, "B"), (2, "C")):
            c = np.zeros(6)
            c[3 * p_i + g_i], c[3 * p_i] = 1, -1
            t = fit.t_test(c)
            assert gaps.loc[(p, g), "estimate"] == pytest.approx(float(t.effect[0]), abs=1e-12)
            assert gaps.loc[(p, g), "std_error"] == pytest.approx(float(t.sd[0, 0]), abs=1e-10)
            # the gap by hand: difference of the two cells' rates
            assert gaps.loc[(p, g), "estimate"] == pytest.approx(
                rates.loc[(p, g), "rate"] - rates.loc[(p, "A"), "rate"], abs=1e-14)
    for g_i, g in ((1, "B"), (2, "C")):
        c = np.zeros(6)
        c[3 + g_i], c[3], c[g_i], c[0] = 1, -1, -1, 1
        t = fit.t_test(c)
        assert gaps.loc[("change", g), "estimate"] == pytest.approx(float(t.effect[0]), abs=1e-12)
        assert gaps.loc[("change", g), "std_error"] == pytest.approx(float(t.sd[0, 0]), abs=1e-10)
        assert gaps.loc[("change", g), "p_value"] == pytest.approx(float(t.pvalue), abs=1e-10)
    assert list(res.rates.columns) == list(ACCESS_RATE_COLUMNS)
    assert list(res.gaps.columns) == list(ACCESS_GAP_COLUMNS)
    assert ("cluster-robust" in res.variance) == (cluster is not None)


def test_cell_means_covariance_matches_statsmodels() -> None:
    rng = np.random.default_rng(5)
    cells = rng.integers(0, 4, 300)
    cl = rng.integers(0, 25, 300)
    y = rng.normal(size=300)
    means, cov = cell_means_covariance(y, cells, 4, cl)
    fit = sm.OLS(y, np.eye(4)[cells]).fit(cov_type="cluster", cov_kwds={"groups": cl})
    np.testing.assert_allclose(means, fit.params, atol=1e-12)
    np.testing.assert_allclose(cov, fit.cov_params(), atol=1e-12)


def _small_frame() -> pd.DataFrame:
    """Baseline: A 40 students, B 30, C 5 (a small group); after: A 40, B 30, C 30."""
    rows = []
    for period, sizes in (("baseline", {"A": 40, "B": 30, "C": 5}), ("after", {"A": 40, "B": 30, "C": 30})):
        for g, n in sizes.items():
            for i in range(n):
                rows.append({"group": g, "cohort": 2012 if period == "baseline" else 2016, "school": i % 6,
                             "y": float(i % 3 == 0)})
    return pd.DataFrame(rows)


def test_five_student_group_is_suppressed_with_reason_and_complement() -> None:
    df = _small_frame()
    res = _gaps(df)
    rates = res.rates.set_index(["period", "level"])
    small = rates.loc[("baseline", "C")]
    assert bool(small["suppressed"])
    assert small[["n", "count", "count_without", "rate", "std_error"]].isna().all()
    assert "fewer than 10 students" in small["suppression"]
    assert " 5 " not in small["suppression"] and "5 students" not in small["suppression"]
    # complementary: with A, B and the total shown, C's count would follow; the next smallest (B) is hidden too
    comp = rates.loc[("baseline", "B")]
    assert bool(comp["suppressed"]) and pd.isna(comp["n"])
    assert not bool(rates.loc[("baseline", "A"), "suppressed"])
    assert rates.loc[("baseline", "A"), "n"] == 40
    # after: all shown
    assert not rates.xs("after", level="period")["suppressed"].any()
    gaps = res.gaps.set_index(["period", "level"])
    for key in (("baseline", "C"), ("baseline", "B"), ("change", "C"), ("change", "B")):
        assert bool(gaps.loc[key, "suppressed"])
        assert np.isnan(gaps.loc[key, "estimate"]) and np.isnan(gaps.loc[key, "std_error"])
        assert "combines a suppressed rate" in gaps.loc[key, "suppression"]
    assert not bool(gaps.loc[("after", "C"), "suppressed"])
    assert "Suppressed to protect privacy" in res.suppression_note


def test_small_count_of_students_with_the_outcome_hides_the_rate() -> None:
    df = pd.DataFrame({"group": ["A"] * 50 + ["B"] * 50 + ["C"] * 50, "school": np.arange(150) % 7,
                       "y": [float(i < 20) for i in range(50)] + [float(i < 3) for i in range(50)]
                       + [float(i < 25) for i in range(50)]})
    cols = subgroup_columns(df, ["group"], references={"group": "A"})
    res = access_gaps(df, outcomes=["y"], columns=cols, periods={"all": None}, cluster="school", min_cell=10)
    b = res.rates.set_index("level").loc["B"]
    assert b["n"] == 50  # the cell is large: its size is shown
    assert pd.isna(b["count"]) and pd.isna(b["rate"]) and pd.isna(b["std_error"])
    assert bool(b["suppressed"]) and "with (or without) the outcome" in b["suppression"]


def test_bad_input() -> None:
    df = _frame()
    cols = subgroup_columns(df, ["group"])
    with pytest.raises(MissingColumnError, match=r"'credential'.*not in the data"):
        access_gaps(df, outcomes=["credential"], columns=cols, periods={"all": None}, min_cell=10)
    bad = df.assign(y=df["y"] * 2)
    with pytest.raises(InvalidValueError, match=r"access outcome 'y' must be 0/1 .* rows have other values"):
        access_gaps(bad, outcomes=["y"], columns=cols, periods={"all": None}, min_cell=10)
    with pytest.raises(OptionError, match=r"periods baseline, after overlap: [\d,]+ rows meet more than one"):
        access_gaps(df, outcomes=["y"], columns=cols, min_cell=10,
                    periods={"baseline": (df["cohort"] < 2015).to_numpy(), "after": (df["cohort"] >= 2013).to_numpy()})


def test_frame_not_modified_and_deterministic() -> None:
    df = _frame()
    before = df.copy()
    a, b = _gaps(df), _gaps(df)
    pd.testing.assert_frame_equal(df, before)
    pd.testing.assert_frame_equal(a.rates, b.rates)
    pd.testing.assert_frame_equal(a.gaps, b.gaps)
    assert a.to_dict() == b.to_dict()

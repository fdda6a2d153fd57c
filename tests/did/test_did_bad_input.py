"""Bad input: each case is a typed error naming the column and counts, or a warning recorded in the sample flow."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna, CellNotEstimatedWarning, CohortDroppedWarning, FewClustersWarning
from cteimpact.errors import (
    ColumnTypeError,
    DataDroppedWarning,
    DesignError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
)


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    units = np.arange(60)
    cohorts = np.where(units < 20, 0, np.where(units < 40, 2004, 2006))
    rows = [(u, t, c, rng.normal() + (0.1 if c and t >= c else 0.0), u % 6)
            for u, c in zip(units, cohorts, strict=True) for t in range(2002, 2008)]
    return pd.DataFrame(rows, columns=["id", "year", "g", "y", "cl"])


def _cs(df: pd.DataFrame, **kw: object) -> CallawaySantAnna:
    base: dict[str, object] = {"outcome": "y", "unit": "id", "time": "year", "cohort": "g"}
    base.update(kw)
    return CallawaySantAnna(df, **base)  # type: ignore[arg-type]


def test_duplicated_unit_period_is_an_error() -> None:
    df = _panel()
    df = pd.concat([df, df.iloc[[0, 7, 8]]], ignore_index=True)
    with pytest.raises(DuplicateRowsError, match=r"3 rows repeat a \(id, year\) combination \(2 units affected\)"):
        _cs(df)


def test_treatment_that_switches_off_is_an_error() -> None:
    df = _panel()
    df["d"] = ((df["g"] > 0) & (df["year"] >= df["g"])).astype(int)
    df.loc[(df["id"] == 25) & (df["year"] == 2006), "d"] = 0
    df.loc[(df["id"] == 26) & (df["year"] == 2007), "d"] = 0
    with pytest.raises(InvalidValueError, match=r"switches off for 2 of 60 units"):
        CallawaySantAnna(df, outcome="y", unit="id", time="year", treatment="d")
    # a clean indicator gives the same results as the cohort column
    ok = df.assign(d=((df["g"] > 0) & (df["year"] >= df["g"])).astype(int))
    a = CallawaySantAnna(ok, outcome="y", unit="id", time="year", treatment="d").fit()
    b = _cs(df).fit()
    assert a.estimate("y").estimate == pytest.approx(b.estimate("y").estimate, abs=1e-14)


def test_cohort_not_constant_within_unit_is_an_error() -> None:
    df = _panel()
    df.loc[(df["id"] == 30) & (df["year"] == 2005), "g"] = 2007
    with pytest.raises(InvalidValueError, match=r"cohort column 'g' changes within a unit for 1 of 60 units"):
        _cs(df)


def test_cluster_not_constant_within_unit_is_an_error() -> None:
    df = _panel()
    df.loc[(df["id"] == 3) & (df["year"] == 2005), "cl"] = 99
    with pytest.raises(InvalidValueError, match=r"cluster column 'cl' changes within a unit"):
        _cs(df, cluster="cl")


def test_no_comparison_units_is_an_error() -> None:
    df = _panel()
    df["g"] = 2005
    with pytest.raises(DesignError, match=r"no comparison units: all 60 units belong to cohort 2005"):
        _cs(df)


def test_no_never_treated_uses_last_cohort_with_a_warning() -> None:
    df = _panel()
    df = df[df["g"] > 0]
    with pytest.warns(CohortDroppedWarning, match="last-treated cohort"):
        res = _cs(df).fit()
    steps = [s.reason for s in res.sample_flow.steps]
    assert any("no never-treated units" in r for r in steps)
    assert set(res.group_time["group"]) == {2004.0}


def test_cohort_never_observed_before_treatment_is_dropped_and_recorded() -> None:
    df = _panel()
    # repeated cross-sections: cohort 2006 only observed from 2006 on
    rcs = df[~((df["g"] == 2006) & (df["year"] < 2006))].copy()
    with pytest.warns(CohortDroppedWarning, match=r"dropped cohorts 2006 \(40 rows\): never observed before"):
        res = CallawaySantAnna(rcs, outcome="y", time="year", cohort="g", panel=False).fit()
    flow = res.sample_flow.to_dict()
    assert any(s["reason"] == "cohort never observed before its treatment" and s["excluded"] == 40
               for s in flow["steps"])
    assert set(res.group_time["group"]) == {2004.0}


def test_units_treated_in_first_period_are_dropped_and_recorded() -> None:
    df = _panel()
    df.loc[df["id"] < 5, "g"] = 2002
    with pytest.warns(CohortDroppedWarning, match=r"dropped 5 units \(30 rows\) already treated in the first period"):
        res = _cs(df).fit()
    assert any(s.excluded == 30 and "first period" in s.reason for s in res.sample_flow.steps)
    assert res.n_units == 55


def test_unbalanced_units_dropped_with_warning() -> None:
    df = _panel().drop(index=[3, 10])
    with pytest.warns(DataDroppedWarning, match=r"2 units are missing in some of the 6 periods"):
        res = _cs(df).fit()
    assert res.n_units == 58
    assert any(s.excluded == 10 for s in res.sample_flow.steps)


def test_missing_outcome_rows_dropped_with_warning() -> None:
    df = _panel()
    df.loc[[0, 1], "y"] = np.nan
    with pytest.warns(DataDroppedWarning, match=r"2 with outcome 'y' missing"):
        res = _cs(df, allow_unbalanced=True).fit()
    assert res.sample_flow.steps[0].excluded == 2
    assert res.options["data_mode"] == "unbalanced"


def test_single_cluster_is_an_error_and_few_clusters_warn() -> None:
    df = _panel()
    df["one"] = 1
    with pytest.raises(DesignError, match="single cluster"):
        _cs(df, cluster="one")
    with pytest.warns(FewClustersWarning, match="only 6 clusters"):
        _cs(df, cluster="cl")


def test_missing_and_non_numeric_columns() -> None:
    df = _panel()
    with pytest.raises(MissingColumnError, match=r"column 'yy' .* did you mean 'y'"):
        _cs(df, outcome="yy")
    bad = df.assign(y=df["y"].astype(str).where(df.index > 3, "n/a"))
    with pytest.raises(ColumnTypeError, match="outcome column 'y' must be numeric: 4 of"):
        _cs(bad)


def test_negative_weights_and_cohorts() -> None:
    df = _panel()
    with pytest.raises(InvalidValueError, match="3 negative values"):
        _cs(df.assign(w=np.where(df.index < 3, -1.0, 1.0)), weights="w")
    with pytest.raises(InvalidValueError, match="cohort column 'g' has 6 negative values"):
        _cs(df.assign(g=np.where(df["id"] == 0, -1, df["g"])))


def test_option_errors() -> None:
    df = _panel()
    with pytest.raises(OptionError, match="control must be one of"):
        _cs(df, control="later")
    with pytest.raises(OptionError, match="method must be one of"):
        _cs(df, method="ols")
    with pytest.raises(OptionError, match="exactly one of 'cohort'"):
        CallawaySantAnna(df, outcome="y", unit="id", time="year")
    with pytest.raises(OptionError, match="wild cluster bootstrap needs a cluster"):
        _cs(df).fit(wild_bootstrap=99)
    with pytest.raises(OptionError, match="aggregations must be among"):
        _cs(df).fit(aggregations=("simple", "event"))


def test_cells_without_comparison_units_are_missing_and_excluded() -> None:
    """Not-yet-treated comparisons with no never-treated units: the last periods have no comparison units."""
    df = _panel()
    df = df[df["g"] > 0].copy()
    df.loc[df["g"] == 2006, "g"] = 2007
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CohortDroppedWarning)
        res = _cs(df, control="notyet").fit()
    # the last cohort (2007) is a comparison only; 2004's cells after 2006 have no comparison units and the data
    # from 2007 on are dropped, so every remaining cell is estimable
    assert np.isfinite(res.group_time["att"]).all()
    df2 = _panel()
    df2["g"] = np.where(df2["g"] == 0, 2007, df2["g"])  # everybody treated by 2007; never-treated none
    df2 = df2[df2["year"] <= 2007]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CohortDroppedWarning)
        res2 = _cs(df2, control="notyet").fit()
    assert np.isfinite(res2.estimate("y").estimate)


def test_failed_cell_is_reported_and_left_out() -> None:
    df = _panel()
    # cohort 2006 units have identical covariate => collinear with intercept only within the cell: force the
    # regression to fail for one cell by giving the comparison units a constant covariate in 2003 only
    df["x"] = np.random.default_rng(1).normal(size=len(df))
    df.loc[(df["g"] == 0) & (df["year"] == 2003), "x"] = 1.0
    df.loc[(df["g"] == 2006) & (df["year"] == 2003), "x"] = 1.0
    with pytest.warns(CellNotEstimatedWarning, match="could not be estimated"):
        res = _cs(df, covariates=["x"], method="reg").fit()
    gt = res.group_time
    failed = gt[gt["att"].isna()]
    assert len(failed) >= 1
    assert failed["note"].str.contains("singular").all()
    assert not any(lab.endswith(f"t={int(t)}]") and f"g={int(g)}" in lab
                   for g, t in zip(failed["group"], failed["time"], strict=True) for lab in res.labels)
    assert np.isfinite(res.estimate("y").estimate)

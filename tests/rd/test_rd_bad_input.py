"""Bad input gives a typed error that names the problem, the column and the counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import (
    ColumnTypeError,
    DataValidationError,
    DesignError,
    MissingColumnError,
    OptionError,
)
from cteimpact.rd import RegressionDiscontinuity


@pytest.fixture
def data(simulate) -> pd.DataFrame:
    return simulate(600, seed=3)


def test_constant_running_variable(data):
    data = data.assign(x=2.0)
    with pytest.raises(DesignError, match=r"running variable 'x' is constant \(2 in all 600 rows\)"):
        RegressionDiscontinuity(data, "y", "x", 2.0)


def test_non_numeric_running_variable(data):
    data = data.assign(x=data["x"].astype(str))
    data.loc[[0, 5], "x"] = "n/a"
    with pytest.raises(ColumnTypeError, match=r"running variable 'x' must be numeric: 2 of 600 non-missing values"):
        RegressionDiscontinuity(data, "y", "x", 0.0)


def test_cutoff_outside_the_data(data):
    with pytest.raises(DesignError, match=r"cutoff 5 is outside the range of the running variable 'x'"):
        RegressionDiscontinuity(data, "y", "x", 5.0)


def test_no_observations_on_one_side(data):
    lowest = float(data.loc[data["x"] >= 0, "x"].min())
    with pytest.raises(DesignError, match=r"no observations below the cutoff .*\(0 below, \d+ at or above"):
        RegressionDiscontinuity(data, "y", "x", lowest, where=["x >= 0"])


def test_outcome_missing_on_one_side(data):
    data = data.copy()
    data.loc[data["x"] >= 0, "y"] = np.nan
    rd = RegressionDiscontinuity(data, "y", "x", 0.0)
    with pytest.raises(DesignError, match=r"outcome 'y' has no non-missing value at or above the cutoff"):
        rd.fit()


def test_too_few_observations_within_bandwidth(data):
    rd = RegressionDiscontinuity(data, "y", "x", 0.0)
    with pytest.raises(DesignError, match=r"too few observations .* near the cutoff"):
        rd.fit(h=0.004)


def test_fuzzy_treatment_that_never_changes(data):
    data = data.assign(d=1.0)
    with pytest.raises(DesignError, match=r"treatment 'd' never changes: all 600 analysis rows have the value 1"):
        RegressionDiscontinuity(data, "y", "x", 0.0, fuzzy="d")


def test_fuzzy_treatment_without_jump_near_the_cutoff(data):
    data = data.assign(d=0.0)
    far = int(np.argmin(data["x"].to_numpy()))
    data.loc[far, "d"] = 1.0  # varies, but not within any bandwidth around the cutoff
    rd = RegressionDiscontinuity(data, "y", "x", 0.0, fuzzy="d")
    with pytest.raises(DesignError, match="take-up of the treatment does not change within the bandwidth"):
        rd.fit()


def test_cluster_column_with_missing_values(data):
    data = data.astype({"g": "float64"})
    data.loc[[1, 2, 3], "g"] = np.nan
    with pytest.raises(DataValidationError, match=r"cluster column 'g' has 3 missing values among 600 analysis rows"):
        RegressionDiscontinuity(data, "y", "x", 0.0, cluster="g")


def test_missing_clusters_can_be_dropped_with_a_flow_step(data):
    data = data.astype({"g": "float64"})
    data.loc[[1, 2, 3], "g"] = np.nan
    rd = RegressionDiscontinuity(data, "y", "x", 0.0, cluster="g", missing_cluster="drop")
    steps = {s.reason: s.excluded for s in rd.sample.flow.steps}
    assert steps["cluster 'g' missing"] == 3


def test_unknown_column_suggests_the_closest(data):
    with pytest.raises(MissingColumnError, match=r"column 'yy' \(role 'outcome'\) is not in the data; did you mean"):
        RegressionDiscontinuity(data.rename(columns={"y": "yy1"}), "yy", "x", 0.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kernel": "gaussian"}, "kernel must be one of triangular, epanechnikov, uniform"),
    ({"bwselect": "ik"}, "bwselect must be one of"),
    ({"p": -1}, "p .polynomial order. must be an integer"),
    ({"q": 1}, "q .bias-correction order. must be an integer above p=1"),
    ({"h": -1.0}, "h must be a positive number"),
    ({"b": 0.5}, "a bias bandwidth b was given without a main bandwidth h"),
    ({"level": 95}, "level must be a confidence level between 0.5 and 1"),
    ({"vce": "cr1"}, "vce='cr1' is cluster-robust and needs a cluster column"),
])
def test_bad_options(data, kwargs, message):
    rd = RegressionDiscontinuity(data, "y", "x", 0.0)
    with pytest.raises(OptionError, match=message):
        rd.fit(**kwargs)


def test_non_cluster_vce_with_clusters_is_refused(data):
    rd = RegressionDiscontinuity(data, "y", "x", 0.0, cluster="g")
    with pytest.raises(OptionError, match="vce='hc1' ignores the clusters"):
        rd.fit(vce="hc1")


def test_cutoff_and_cutoff_column_together(data):
    data = data.assign(c=0.0)
    with pytest.raises(OptionError, match=r"cutoff=0\.5 and cutoff_column='c' were both given"):
        RegressionDiscontinuity(data, "y", "x", 0.5, cutoff_column="c")


def test_bad_restriction(data):
    with pytest.raises(OptionError, match="sample restriction 'cohort >>= 3' cannot be evaluated"):
        RegressionDiscontinuity(data, "y", "x", 0.0, where=["cohort >>= 3"])


def test_subgroup_with_too_many_levels(data):
    rd = RegressionDiscontinuity(data, "y", "x", 0.0, subgroups=["prior"])
    with pytest.raises(OptionError, match="subgroup column 'prior' has 600 distinct values"):
        rd.fit()


def test_caller_frame_not_modified(data):
    before = data.copy(deep=True)
    RegressionDiscontinuity(data, "y", "x", 0.0, where=["x > -0.9"], donut=0.01).fit()
    pd.testing.assert_frame_equal(data, before)

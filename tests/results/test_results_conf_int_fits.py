"""conf_int(level) of real fits equals the intervals of a refit at that level (RD robust bias-corrected, DiD with
normal and t critical values), and simultaneous bands are refused rather than rescaled."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna, simulate_staggered
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.results import IntervalLevelError


@pytest.fixture(scope="module")
def students() -> pd.DataFrame:
    rng = np.random.default_rng(21)
    x = rng.uniform(-1, 1, 1_200)
    return pd.DataFrame({"score": x, "y": 0.5 * x + 0.25 * (x >= 0) + rng.normal(0, 0.3, 1_200)})


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, _ = simulate_staggered(n_clusters=20, units_per_cluster=4, seed=8)
    return data


def _recorded(res) -> pd.DataFrame:
    t = res.tidy().set_index("label")
    return t[["ci_lower", "ci_upper"]].set_axis(["lower", "upper"], axis=1)


def test_rd_conf_int_equals_a_refit_at_that_level(students):
    rd = RegressionDiscontinuity(students, "y", "score", 0.0)
    res95 = rd.fit(h=0.5)  # fixed bandwidth, so the refit uses the same fit whatever the level
    res80 = rd.fit(h=0.5, level=0.8)
    got = res95.conf_int(0.8)
    assert res95.estimate("y").ci_type == "robust_bias_corrected"
    np.testing.assert_allclose(got.to_numpy(), _recorded(res80).to_numpy(), rtol=1e-10, atol=1e-12)
    pd.testing.assert_frame_equal(res95.conf_int(0.95), _recorded(res95), check_names=False)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("small_sample", [False, True])
def test_did_conf_int_equals_a_refit_at_that_level(panel, small_sample):
    cs = CallawaySantAnna(panel, outcome="y", time="time", unit="unit", cohort="cohort", cluster="cluster")
    res95 = cs.fit(small_sample=small_sample)
    res90 = cs.fit(small_sample=small_sample, level=0.9)
    assert (res95.df is not None) is small_sample
    np.testing.assert_allclose(res95.conf_int(0.9).to_numpy(), _recorded(res90).to_numpy(), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_did_simultaneous_bands_are_refused(panel):
    res = CallawaySantAnna(panel, outcome="y", time="time", unit="unit", cohort="cohort",
                           cluster="cluster").fit(bootstrap=99, seed=1)
    band = next(e for e in res.estimates if e.ci_type == "simultaneous")
    with pytest.raises(IntervalLevelError, match="simultaneous"):
        res.conf_int(0.9)
    with pytest.raises(IntervalLevelError, match=re.escape(f"'{band.label}'")):
        res.conf_int(0.9, labels=[band.label])
    pointwise = [e.label for e in res.estimates if e.ci_type == "pointwise"]
    assert pointwise and res.conf_int(0.9, labels=pointwise).notna().all().all()

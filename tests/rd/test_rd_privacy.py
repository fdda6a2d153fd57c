"""Small-cell rule for what RD results show: binned means of fewer than min_cell observations are dropped."""

from __future__ import annotations

import numpy as np

from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.results import BinnedMeans


def test_without_small_bins_drops_only_small_bins() -> None:
    b = BinnedMeans(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]), np.array([0.01] * 3),
                    np.array([3.0, 10.0, 25.0]), np.array([True, True, False]))
    kept = b.without_small_bins(10)
    assert kept.n.tolist() == [10.0, 25.0]
    assert kept.mean.tolist() == [0.2, 0.3]
    assert kept.left.tolist() == [True, False]


def test_with_min_cell_applies_to_every_fit_and_keeps_estimates() -> None:
    import pandas as pd

    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, 800)
    y = 0.5 * (x >= 0) + x + rng.normal(0, 0.3, 800)
    res = RegressionDiscontinuity(pd.DataFrame({"y": y, "x": x}), "y", "x", 0.0).fit()
    strict = res.with_min_cell(60)
    assert strict.estimates == res.estimates
    for f_all, f_strict in zip(res.fits, strict.fits, strict=True):
        assert f_all.bins is not None
        assert f_strict.bins is not None
        assert (f_strict.bins.n >= 60).all()
        assert f_strict.bins.n.size == int((f_all.bins.n >= 60).sum()) < f_all.bins.n.size


def test_subgroup_variable_may_also_be_a_covariate() -> None:
    """Within female = 1 the covariate 'female' is constant: the subgroup fits and their comparison still work,
    and the main estimate matches a fit given the covariates directly."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n = 3000
    cl = rng.integers(0, 150, n)
    x = rng.uniform(-1, 1, 150)[cl]
    female = rng.integers(0, 2, n)
    li = rng.integers(0, 2, n)
    y = 0.3 * (x >= 0) + 0.5 * x + 0.2 * female + 0.1 * li + rng.normal(0, 0.5, n)
    df = pd.DataFrame({"y": y, "x": x, "female": female, "li": li, "cl": cl})
    res = RegressionDiscontinuity(df, "y", "x", 0.0, cluster="cl", covariates=["female", "li"],
                                  subgroups=["female"]).fit()
    labels = set(res.labels)
    assert {"y", "y[female=0]", "y[female=1]", "y[female=1 vs female=0]"} <= labels
    direct = RegressionDiscontinuity(df, "y", "x", 0.0, cluster="cl", covariates=["female", "li"]).fit()
    assert res.estimate("y").estimate == direct.estimate("y").estimate

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

"""The data preparation's one-pass indexing equals the sorting it replaced, and reads numeric columns in place."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.exclusions import index_dtype, period_index
from cteimpact.did.panel import _factorize_sorted, _numeric, _sorted_counts, _stable_order, prepare_staggered_data
from cteimpact.errors import AllMissingError, InvalidValueError


@pytest.mark.parametrize("values", [
    np.array([2007.0, 2003.0, 2005.0, 2003.0, 2007.0]),
    np.array([-3.0, 5.0, -3.0, 0.0]),
    np.array([0.5, 1.5, 0.5]),                      # not whole numbers: hashed
    np.array([1.0, 1e9, 3.0, 1e9]),                 # a wide span: hashed
    np.array([0.0, 2004.0, 2006.0, 0.0, 2004.0]),   # cohorts
    np.array([7.0]),
])
def test_period_index_is_unique_with_inverse(values: np.ndarray) -> None:
    times, idx = period_index(values)
    u, inv = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(times, u)
    np.testing.assert_array_equal(idx, inv)
    assert idx.dtype == index_dtype(u.size)


@pytest.mark.parametrize("ids", [
    np.array([5, 3, 3, 9, 5, 1], dtype=np.int64),
    np.array([-7, 2, -7, 100], dtype=np.int64),
    np.array([10**12, 3, 10**12], dtype=np.int64),  # a wide span: hashed
    np.array([4, 2, 4], dtype=np.int32),
    np.array(["b", "a", "b"], dtype=object),
])
def test_factorize_sorted_equals_pandas(ids: np.ndarray) -> None:
    codes, uniques = _factorize_sorted(ids)
    ref_codes, ref_uniques = pd.factorize(pd.Series(ids), sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    np.testing.assert_array_equal(np.asarray(uniques), np.asarray(ref_uniques))


def test_stable_order_and_sorted_counts() -> None:
    rng = np.random.default_rng(0)
    cohorts = rng.choice([0.0, 2004.0, 2006.0, 2007.0], size=1000)
    distinct, codes = period_index(cohorts)
    order = _stable_order(cohorts, distinct, codes)
    np.testing.assert_array_equal(order, np.argsort(cohorts, kind="stable"))
    counts = _sorted_counts(cohorts[order])
    u, c = np.unique(cohorts, return_counts=True)
    assert counts == {float(a): int(b) for a, b in zip(u, c, strict=True)}


def test_numeric_reads_float_columns_in_place_and_read_only() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, np.nan], "k": [1, 2, 3]})
    y = _numeric(frame, "y", "outcome")
    assert np.shares_memory(y, frame["y"].to_numpy())
    assert not y.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        y[0] = 5.0
    k = _numeric(frame, "k", "time")
    assert k.dtype == np.float64
    np.testing.assert_array_equal(k, [1.0, 2.0, 3.0])


def test_numeric_errors_unchanged() -> None:
    frame = pd.DataFrame({"y": [np.nan, np.nan], "z": [1.0, np.inf], "s": ["1", "x"]})
    with pytest.raises(AllMissingError, match="outcome column 'y' has no non-missing value in 2 rows"):
        _numeric(frame, "y", "outcome")
    with pytest.raises(InvalidValueError, match="covariate column 'z' has 1 infinite values"):
        _numeric(frame, "z", "covariate")
    with pytest.raises(Exception, match="must be numeric"):
        _numeric(frame, "s", "covariate")


def test_prepared_panel_shares_outcome_and_leaves_frame_unchanged(mpdta: pd.DataFrame) -> None:
    before = mpdta.copy()
    d = prepare_staggered_data(mpdta, outcome="lemp", time="year", unit="countyreal", cohort="first.treat")
    pd.testing.assert_frame_equal(mpdta, before)
    assert d.observations is not None
    assert np.shares_memory(d.observations.outcome, mpdta["lemp"].to_numpy())
    assert d.observations.period.dtype == np.int8
    np.testing.assert_array_equal(d.times[d.observations.period], mpdta["year"].to_numpy(dtype=float))
    # the counts per cohort and period: every unit in every period
    for g, counts in d.cohort_period_students.items():
        n_units = int((mpdta.groupby("countyreal")["first.treat"].first() == g).sum())
        np.testing.assert_array_equal(counts, np.full(d.n_periods, float(n_units)))


def test_unsorted_rows_give_the_same_estimates(mpdta: pd.DataFrame) -> None:
    """Rows shuffled, unit ids remapped to a sparse set: the same ATT(g,t) and standard errors, bit for bit."""
    kw = {"outcome": "lemp", "time": "year", "unit": "countyreal", "cohort": "first.treat"}
    ref = CallawaySantAnna(mpdta, **kw).fit().group_time  # type: ignore[arg-type]
    shuffled = mpdta.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled["countyreal"] = shuffled["countyreal"] * 7 + 1_000
    got = CallawaySantAnna(shuffled, **kw).fit().group_time  # type: ignore[arg-type]
    np.testing.assert_array_equal(got["att"].to_numpy(), ref["att"].to_numpy())
    np.testing.assert_allclose(got["se"].to_numpy(), ref["se"].to_numpy(), rtol=1e-12)

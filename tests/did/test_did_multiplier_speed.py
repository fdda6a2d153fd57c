"""The multiplier bootstrap's shortcuts give the numbers of the plain computation, bit for bit.

* equal influence-base columns (comparison units' influence functions of cells with the same two periods, a cohort's
  weight column next to the constant when unweighted) are summed once and copied;
* the kernel draws the bytes of all draws of a row group before adding (per-draw draws, one fair word per eight
  draws), and adds into a contiguous accumulator per part;
* the draws do not depend on the number of threads.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.influence import InfluenceFunctions
from cteimpact.did.multiplier import _draw_byte, _draw_bytes, _first_equal_column, _key, multiplier_draws, two_point


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
@pytest.mark.parametrize("n_draws", [1, 9, 64, 999])
def test_draw_bytes_equal_draw_byte(kind: str, n_draws: int) -> None:
    key = _key(11)
    alias = two_point(kind).alias  # type: ignore[arg-type]
    out = np.full(n_draws, -1, dtype=np.int64)
    for group in (0, 1, 12345):
        _draw_bytes(key, np.int64(group), np.int64(n_draws), alias, out)
        expected = [_draw_byte(key, np.int64(group), np.int64(b), np.int64(n_draws), alias) for b in range(n_draws)]
        np.testing.assert_array_equal(out, expected)


def test_first_equal_column() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    c = a.copy()
    c[-1] += 1e-15 * max(1.0, abs(c[-1]))  # differs in the last bit: not equal
    block = np.column_stack([a, b, a, c, b, np.ones(50), np.ones(50)])
    first = _first_equal_column(block, block.sum(axis=0))
    np.testing.assert_array_equal(first, [0, 1, 0, 3, 1, 5, 5])


def _plain_draws(infl: InfluenceFunctions, n_draws: int, kind: str, seed: int) -> np.ndarray:
    """Σ_i V_ib B_i with the multipliers written out (the definition), for comparison to 1e-12."""
    tp = two_point(kind)  # type: ignore[arg-type]
    key = _key(seed)
    alias = tp.alias
    base = np.zeros((infl.n, infl.n_base))
    for a, b, cols, block in infl.base_blocks():
        base[a:b, cols] = block
    v = np.empty((infl.n, n_draws))
    for g in range((infl.n + 7) // 8):
        byte = np.array([_draw_byte(key, np.int64(g), np.int64(d), np.int64(n_draws), alias) for d in range(n_draws)])
        for bit in range(8):
            r = 8 * g + bit
            if r < infl.n:
                v[r] = np.where((byte >> bit) & 1, tp.b, tp.a)
    return v.T @ base


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
def test_draws_with_equal_columns_match_definition_and_threads(mpdta: pd.DataFrame, kind: str) -> None:
    fit = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year",
                           cohort="first.treat").estimate_group_time()
    infl = fit.estimates.influence
    # the never-treated block has equal columns (pre-period cells of different cohorts with the same periods)
    blocks = list(infl.base_blocks())
    never = next(block for a, b, cols, block in blocks if infl.seg_cohort[0] == 0 and a == 0)
    first = _first_equal_column(never, never.sum(axis=0))
    assert (first != np.arange(first.size)).any()
    got = multiplier_draws(infl, n_draws=57, weights=kind, seed=4)  # type: ignore[arg-type]
    np.testing.assert_allclose(got, _plain_draws(infl, 57, kind, 4), rtol=0, atol=1e-10)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = multiplier_draws(infl, n_draws=57, weights=kind, seed=4)  # type: ignore[arg-type]
    finally:
        numba.set_num_threads(before)
    assert one.tobytes() == got.tobytes()


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
def test_kernel_threads_give_the_same_bytes(kind: str) -> None:
    """Large enough for the parts to run on threads: 1 thread and several give the same bytes, equal to the
    explicit multipliers."""
    from cteimpact.did.multiplier import _subset_sums

    rng = np.random.default_rng(7)
    block = rng.normal(size=(40_003, 3))
    key = _key(9)
    n_draws = 5
    alias = two_point(kind).alias  # type: ignore[arg-type]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _subset_sums(block, np.int64(3), key, np.int64(n_draws), alias)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        many = _subset_sums(block, np.int64(3), key, np.int64(n_draws), alias)
    finally:
        numba.set_num_threads(before)
    assert one.tobytes() == many.tobytes()
    groups = np.arange((block.shape[0] + 3 + 7) // 8)
    byte = np.array([[_draw_byte(key, np.int64(g), np.int64(b), np.int64(n_draws), alias) for b in range(n_draws)]
                     for g in groups])
    rows = np.arange(block.shape[0]) + 3
    u = (byte[rows // 8] >> (rows % 8)[:, None]) & 1
    np.testing.assert_allclose(one, u.T @ block, rtol=0, atol=1e-9)

"""The leaner CS paths of issue 16 give the numbers of the plain computations they replace, bit for bit.

* cells without covariates and with unit weights write their influence functions in place (column-major blocks);
* the compiled scatter builds a column-major outcome array and the outcome summary in the same pass;
* the unit scan counts each unit's rows (balancing reads them);
* the rows' cohorts of :class:`~cteimpact.did.cells.ObservationStats` are made on first use;
* the multiplier kernel reads the base in place, counts the constant's bits as integers, adds four row groups per
  pass and generates the two-point bytes in vectorised loops: the same bytes and sums as the definitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.grouptime import _unweighted_cell
from cteimpact.did.multiplier import (
    _column_subset_sums,
    _column_sums,
    _draw_byte,
    _draw_bytes,
    _group_bytes,
    _key,
    two_point,
)
from cteimpact.did.panelscan import scan_units, scatter_outcomes
from cteimpact.errors import DataDroppedWarning
from cteimpact.scan import finite_summary


def _panel(rng: np.random.Generator, n_units: int, n_t: int = 5) -> pd.DataFrame:
    cohort = rng.choice([0, 2004, 2006, 2007], size=n_units, p=[0.4, 0.1, 0.2, 0.3])
    years = np.arange(2003, 2003 + n_t)
    return pd.DataFrame({"id": np.repeat(np.arange(n_units), n_t), "year": np.tile(years, n_units),
                         "g": np.repeat(cohort, n_t), "y": rng.normal(size=n_units * n_t)})


def test_unweighted_cell_equals_weighted_closed_form() -> None:
    """The in-place cell equals the weighted closed form with weights of one, element for element (exactly)."""
    rng = np.random.default_rng(3)
    n_t, n = 5, 700
    y_by_t = rng.normal(size=(n_t, n))
    treat, ctrl = [(0, 150), (150, 260)], [(300, 700)]
    t, b = 3, 1
    cols_t = [np.zeros(z - a) for a, z in treat]
    cols_c = [np.zeros(z - a) for a, z in ctrl]
    att, n1, n0 = _unweighted_cell(y_by_t, t, b, np.ones(n), treat, ctrl, cols_t, cols_c, n, "dr", 0.995)
    ww = np.ones(n)

    def plain(rows: list[tuple[int, int]]) -> tuple[list[np.ndarray], float, float]:
        dys = [y_by_t[t, a:z] - y_by_t[b, a:z] for a, z in rows]
        return dys, sum(float(ww[a:z].sum()) for a, z in rows), sum(
            float(np.dot(ww[a:z], dy)) for (a, z), dy in zip(rows, dys, strict=True))

    dy_t, w1, s1 = plain(treat)
    dy_c, w0, s0 = plain(ctrl)
    eta1, eta0 = s1 / w1, s0 / w0
    assert att == float(eta1 - eta0)
    assert (n1, n0) == (260, 400)
    for (a, z), dy, col in zip(treat, dy_t, cols_t, strict=True):
        assert np.array_equal(col, (n / w1) * ww[a:z] * (dy - eta1))
    for (a, z), dy, col in zip(ctrl, dy_c, cols_c, strict=True):
        assert np.array_equal(col, (-n / w0) * ww[a:z] * (dy - eta0))


@pytest.mark.parametrize("seed", range(3))
def test_scatter_outcomes_layout_and_summary(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_units, n_t = 53, 4
    codes = np.repeat(np.arange(n_units), n_t).astype(np.int32)
    t_idx = np.tile(np.arange(n_t), n_units).astype(np.int8)
    perm = rng.permutation(codes.size)
    codes, t_idx = codes[perm], t_idx[perm]
    y = rng.normal(size=codes.size) * 10.0 ** rng.integers(-3, 4)
    inv = rng.permutation(n_units)
    got, summary = scatter_outcomes(y, codes, t_idx, inv, n_t)
    expected = np.full((n_units, n_t), np.nan)
    expected[inv[codes], t_idx] = y
    np.testing.assert_array_equal(got, expected)
    assert got.flags.f_contiguous  # each period's outcomes contiguous
    n_fin, lo, hi, big, _ = finite_summary(y)
    assert summary[:4] == (n_fin, lo, hi, big)
    assert summary[4] == y[0]  # the first in row order


def test_scan_counts_rows_of_units() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 40, size=300).astype(np.int32)
    t_idx = rng.integers(0, 6, size=300).astype(np.int8)
    rows = np.zeros(40, dtype=np.int64)
    scan_units(codes, t_idx, np.zeros(300), 40, 6, unit_rows=rows)
    np.testing.assert_array_equal(rows, np.bincount(codes, minlength=40))


def test_compiled_preparation_equals_numpy_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forced compiled preparation (column-major scatter, outcome summary, unit row counts) and the numpy one give
    the same prepared arrays and the same fit, bit for bit; both outcome arrays are column-major."""
    import cteimpact.did.panel as panel

    rng = np.random.default_rng(11)
    df = _panel(rng, 120).sample(frac=1.0, random_state=4)
    df = df[~((df["id"] % 17 == 0) & (df["year"] == 2005))]  # some units unbalanced: dropped
    monkeypatch.setattr(panel, "COMPILED_FROM", 1)
    with pytest.warns(DataDroppedWarning, match="balance the panel"):
        a = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g")
    monkeypatch.setattr(panel, "COMPILED_FROM", 10 ** 15)
    with pytest.warns(DataDroppedWarning, match="balance the panel"):
        b = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g")
    ya, yb = a.prepared.y_wide, b.prepared.y_wide
    assert ya is not None and yb is not None
    assert ya.flags.f_contiguous and yb.flags.f_contiguous
    np.testing.assert_array_equal(ya, yb)
    assert a.prepared.outcome_summary is not None and b.prepared.outcome_summary is None
    assert a.prepared.n == b.prepared.n == 120 - len(range(0, 120, 17))
    fa, fb = a.fit(), b.fit()
    pd.testing.assert_frame_equal(fa.group_time, fb.group_time, check_exact=True)
    assert fa.estimate("y").std_error == fb.estimate("y").std_error


def test_observation_cohorts_made_on_first_use(mpdta: pd.DataFrame) -> None:
    d = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year",
                         cohort="first.treat").prepared
    obs = d.observations
    assert obs is not None
    assert "cohort" not in vars(obs)
    expected = d.row_cohort[np.argsort(d.row_id)][obs.unit]  # unit codes index the sorted identifiers
    np.testing.assert_array_equal(obs.cohort, expected)
    assert obs.cohort is obs.cohort  # made once


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
@pytest.mark.parametrize("n_draws", [1, 7, 999])
def test_group_bytes_equal_draw_bytes(kind: str, n_draws: int) -> None:
    key = _key(21)
    alias = two_point(kind).alias  # type: ignore[arg-type]
    ref = np.empty(n_draws, dtype=np.int64)
    got = np.empty(n_draws, dtype=np.uint8)
    words = np.empty((n_draws + 1) // 2, dtype=np.uint64)
    for group in (0, 3, 98765):
        _draw_bytes(key, np.int64(group), np.int64(n_draws), alias, ref)
        _group_bytes(key, np.int64(group), np.int64(n_draws), alias, words, got)
        np.testing.assert_array_equal(got.astype(np.int64), ref)


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
@pytest.mark.parametrize("row0", [0, 3, 21])
@pytest.mark.parametrize("rows", [5, 37, 70])
def test_column_subset_sums_with_weights_and_constant(kind: str, row0: int, rows: int) -> None:
    """Columns picked in place from a column-major block, the weights and the constant (counted as bits), in any
    order, equal the sums with the explicit multiplier bits (groups of four and fewer, partial first and last
    groups)."""
    rng = np.random.default_rng(rows + row0)
    vals = np.asfortranarray(rng.normal(size=(rows, 3)))
    w = rng.uniform(0.5, 2.0, size=rows)
    src = np.array([2, -2, 0, -1], dtype=np.int64)
    key = _key(8)
    n_draws = 11
    alias = two_point(kind).alias  # type: ignore[arg-type]
    got = _column_subset_sums(vals, src, w, np.int64(row0), key, np.int64(n_draws), alias)
    x = np.column_stack([vals[:, 2], np.ones(rows), vals[:, 0], w])
    u = np.zeros((rows, n_draws))
    for r in range(rows):
        g, bit = divmod(r + row0, 8)
        for b in range(n_draws):
            u[r, b] = (_draw_byte(key, np.int64(g), np.int64(b), np.int64(n_draws), alias) >> bit) & 1
    np.testing.assert_allclose(got, u.T @ x, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[:, 1], u.sum(axis=0))  # the constant's sums are exact counts
    sums = np.empty(4)
    _column_sums(vals, src, w, sums)
    np.testing.assert_array_equal(sums, np.ascontiguousarray(x).sum(axis=0))  # bit for bit


def test_stored_base_blocks_equal_copied_blocks(mpdta: pd.DataFrame) -> None:
    """The column-major blocks stored with the influence functions (no copy) hold what the copied blocks hold:
    the influence functions, each treated cohort's weights and the constant."""
    import dataclasses

    fit = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                           weights="lpop").estimate_group_time()
    infl = fit.estimates.influence
    assert infl.seg_blocks is not None
    copied = dataclasses.replace(infl, seg_blocks=None)
    for (a, b, cols, stored), (a2, b2, cols2, block), vals in zip(infl.base_blocks("F"), copied.base_blocks("F"),
                                                                   infl.seg_vals, strict=True):
        assert (a, b) == (a2, b2)
        np.testing.assert_array_equal(cols, cols2)
        np.testing.assert_array_equal(stored, block)
        assert np.shares_memory(stored, vals)
    np.testing.assert_array_equal(infl.gram(), copied.gram())


@pytest.mark.parametrize("values", [
    np.array([2007.0, 2003.0, 2005.0, 2003.0, 2007.0, 2004.0, 2006.0]),   # consecutive: offsets are the indices
    np.array([2007.0, 2003.0, 2005.0, 2003.0, 2007.0]),                  # gaps: offsets mapped to ranks
    np.array([-3.0, 5.0, -3.0, 0.0]),
    np.array([0.5, 1.5, 0.5]),                                           # not whole numbers: hashed
    np.array([1.0, 1e9, 3.0, 1e9]),                                      # a wide span: hashed
    np.array([2004, 2009, 2004, 2005], dtype=np.int64),
    np.array([7.0]),
])
def test_compiled_period_index_is_unique_with_inverse(monkeypatch: pytest.MonkeyPatch, values: np.ndarray) -> None:
    import cteimpact.did.exclusions as exclusions

    monkeypatch.setattr(exclusions, "COMPILED_FROM", 1)
    times, idx = exclusions.period_index(values)
    u, inv = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(times, u)
    assert times.dtype == values.dtype
    np.testing.assert_array_equal(idx, inv)
    assert idx.dtype == exclusions.index_dtype(u.size)


@pytest.mark.parametrize("ids", [
    np.array([5, 3, 3, 9, 5, 1], dtype=np.int64),
    np.array([-7, 2, -7, 100], dtype=np.int64),
    np.array([10**12, 3, 10**12], dtype=np.int64),
])
def test_compiled_factorize_equals_pandas(monkeypatch: pytest.MonkeyPatch, ids: np.ndarray) -> None:
    import cteimpact.did.panel as panel

    monkeypatch.setattr(panel, "COMPILED_FROM", 1)
    codes, uniques = panel._factorize_sorted(ids)
    ref_codes, ref_uniques = pd.factorize(pd.Series(ids), sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    np.testing.assert_array_equal(np.asarray(uniques), np.asarray(ref_uniques))


def test_unweighted_cell_failure_leaves_zero_influence() -> None:
    """A cell refused for overlap leaves zeros in its influence-function columns, as the weighted form does."""
    from cteimpact.did.twobytwo import CellFailure

    rng = np.random.default_rng(5)
    y_by_t = rng.normal(size=(3, 1000))
    treat, ctrl = [(0, 996)], [(996, 1000)]
    cols_t, cols_c = [np.zeros(996)], [np.zeros(4)]
    with pytest.raises(CellFailure, match="overlap"):
        _unweighted_cell(y_by_t, 2, 1, np.ones(1000), treat, ctrl, cols_t, cols_c, 1000, "dr", 0.995)
    assert not cols_t[0].any() and not cols_c[0].any()

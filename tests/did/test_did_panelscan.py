"""The one-pass unit scan (duplicates, cohort constancy, unit cohorts) agrees with the general path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.panel import _check_duplicates, _constant_within, _raise_duplicates, _raise_not_constant
from cteimpact.did.panelscan import scan_units
from cteimpact.errors import DuplicateRowsError, InvalidValueError


def _general(codes: np.ndarray, t_idx: np.ndarray, g: np.ndarray, n_units: int, n_t: int
             ) -> tuple[str | None, np.ndarray | None]:
    try:
        _check_duplicates(codes, t_idx, n_units, n_t, "id", "year")
        return None, _constant_within(g, codes, n_units, "cohort column 'g'", "id")
    except (DuplicateRowsError, InvalidValueError) as err:
        return f"{type(err).__name__}: {err}", None


def _fused(codes: np.ndarray, t_idx: np.ndarray, g: np.ndarray, n_units: int, n_t: int
           ) -> tuple[str | None, np.ndarray | None]:
    n_dup_rows, n_dup_units, n_bad, first = scan_units(codes, t_idx, g, n_units, n_t)
    try:
        _raise_duplicates(n_dup_rows, n_dup_units, "id", "year")
        _raise_not_constant(n_bad, n_units, "cohort column 'g'", "id")
    except (DuplicateRowsError, InvalidValueError) as err:
        return f"{type(err).__name__}: {err}", None
    return None, first


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("code_dtype", [np.uint8, np.uint16, np.int64])
def test_scan_matches_general_path(seed: int, code_dtype: type) -> None:
    rng = np.random.default_rng(seed)
    n_units, n_t = int(rng.integers(5, 200)), int(rng.integers(2, 8))
    n_units = min(n_units, 250)
    codes = np.repeat(np.arange(n_units), n_t)
    t_idx = np.tile(np.arange(n_t), n_units).astype(np.uint8)
    unit_g = rng.choice([0.0, 3.0, 5.0, np.inf], size=n_units)
    g = unit_g[codes].copy()
    kind = seed % 4
    if kind in (1, 3):  # duplicated unit-period rows (and possibly also changing cohorts)
        extra = rng.integers(0, codes.size, size=int(rng.integers(1, 30)))
        codes, t_idx, g = np.r_[codes, codes[extra]], np.r_[t_idx, t_idx[extra]], np.r_[g, g[extra]]
    if kind in (2, 3):  # cohorts changing within some units
        flip = rng.integers(0, g.size, size=int(rng.integers(1, 20)))
        g[flip] = g[flip] + 1.0
    if seed % 5 == 0:  # unbalanced: drop rows
        keep = rng.random(codes.size) > 0.2
        codes, t_idx, g = codes[keep], t_idx[keep], g[keep]
    perm = rng.permutation(codes.size)
    codes, t_idx, g = codes[perm].astype(code_dtype), t_idx[perm], g[perm]
    msg_general, first_general = _general(codes, t_idx, g, n_units, n_t)
    msg_fused, first_fused = _fused(codes, t_idx, g, n_units, n_t)
    assert msg_fused == msg_general
    if kind == 1:
        assert msg_fused is not None and msg_fused.startswith("DuplicateRowsError")
    if kind == 2 and msg_fused is not None:
        assert "changes within a unit" in msg_fused
    if first_general is not None:
        assert first_fused is not None
        seen = np.zeros(n_units, dtype=bool)
        seen[codes] = True
        np.testing.assert_array_equal(first_fused[seen], first_general[seen])


def test_scan_counts() -> None:
    codes = np.array([0, 0, 0, 1, 1, 2, 2], dtype=np.uint8)
    t_idx = np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.uint8)
    g = np.array([3.0, 3.0, 3.0, 0.0, 4.0, 5.0, 5.0])
    assert scan_units(codes, t_idx, g, 3, 2)[:3] == (3, 2, 1)


def _panel(rng: np.random.Generator, n: int = 60) -> pd.DataFrame:
    cohorts = rng.choice([0, 2004, 2006], size=n)
    years = np.arange(2003, 2008)
    return pd.DataFrame({"id": np.repeat(np.arange(n) * 3 + 7, years.size), "year": np.tile(years, n),
                         "g": np.repeat(cohorts, years.size), "y": rng.normal(size=n * years.size)})


@pytest.mark.parametrize("compiled_from", [1, 10**15], ids=["scan", "numpy"])
def test_estimator_errors_through_the_scan(monkeypatch: pytest.MonkeyPatch, compiled_from: int) -> None:
    """The same errors whether the unit checks run as the compiled scan (any length) or in numpy."""
    import cteimpact.did.panel as panel

    monkeypatch.setattr(panel, "COMPILED_FROM", compiled_from)
    rng = np.random.default_rng(3)
    df = _panel(rng)
    dup = pd.concat([df, df.iloc[[0, 1, 6]]], ignore_index=True)
    with pytest.raises(DuplicateRowsError, match=r"3 rows repeat a \(id, year\) combination \(2 units affected\)"):
        CallawaySantAnna(dup, outcome="y", unit="id", time="year", cohort="g").fit()
    bad = df.copy()
    bad.loc[[0, 5, 11], "g"] = 2007
    with pytest.raises(InvalidValueError, match=r"cohort column 'g' changes within a unit for 3 of 60 units"):
        CallawaySantAnna(bad, outcome="y", unit="id", time="year", cohort="g").fit()


def test_estimates_identical_on_scan_and_general_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanned path (forced for short data) and the general one (forced by a cell limit of zero, and by the
    length threshold) give the same effects and SEs."""
    import cteimpact.did.panel as panel
    import cteimpact.did.panelscan as panelscan

    rng = np.random.default_rng(4)
    df = _panel(rng, 80).sample(frac=1.0, random_state=2)
    monkeypatch.setattr(panel, "COMPILED_FROM", 1)
    a = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g").fit()
    monkeypatch.setattr(panelscan, "MAX_CELLS", 0)
    c = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g").fit()
    pd.testing.assert_frame_equal(a.group_time, c.group_time, check_exact=True)
    monkeypatch.setattr(panel, "COMPILED_FROM", 10**15)
    b = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g").fit()
    pd.testing.assert_frame_equal(a.group_time, b.group_time, check_exact=True)
    assert a.estimate("y").estimate == b.estimate("y").estimate
    assert a.estimate("y").std_error == b.estimate("y").std_error


@pytest.mark.parametrize("seed", range(4))
def test_scatter_wide_matches_numpy_scatter(seed: int) -> None:
    from cteimpact.did.panelscan import scatter_wide

    rng = np.random.default_rng(seed)
    n_units, n_t = 97, 6
    codes = np.repeat(np.arange(n_units), n_t).astype(np.uint8)
    t_idx = np.tile(np.arange(n_t), n_units).astype(np.int8)
    keep = rng.random(codes.size) > (0.1 if seed % 2 else 0.0)  # odd seeds: some cells stay NaN
    perm = rng.permutation(int(keep.sum()))
    codes, t_idx = codes[keep][perm], t_idx[keep][perm]
    y = rng.normal(size=codes.size)
    inv = rng.permutation(n_units)
    expected = np.full((n_units, n_t), np.nan)
    expected.reshape(-1)[inv[codes].astype(np.int64) * n_t + t_idx] = y
    got = scatter_wide(y, codes, t_idx, inv, n_t)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got).sum() == n_units * n_t - codes.size


def test_unit_weights_of_one_give_the_unweighted_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled layout (unweighted; forced for short data) and the general one (a weight column of ones) agree
    exactly."""
    import cteimpact.did.panel as panel

    monkeypatch.setattr(panel, "COMPILED_FROM", 1)
    rng = np.random.default_rng(9)
    df = _panel(rng, 70).sample(frac=1.0, random_state=1).assign(w=1.0)
    a = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g").fit()
    b = CallawaySantAnna(df, outcome="y", unit="id", time="year", cohort="g", weights="w").fit()
    np.testing.assert_array_equal(a.group_time["att"].to_numpy(), b.group_time["att"].to_numpy())
    np.testing.assert_array_equal(a.group_time["se"].to_numpy(), b.group_time["se"].to_numpy())

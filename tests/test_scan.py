"""The compiled scans (cteimpact.scan) return exactly what the numpy forms of their callers return."""

from __future__ import annotations

import numpy as np
import pytest

import cteimpact.did.exclusions as exclusions
import cteimpact.limits as limits


def _numpy_and_compiled(monkeypatch: pytest.MonkeyPatch, module: object, fn: object, arr: np.ndarray) -> tuple:
    monkeypatch.setattr(module, "COMPILED_FROM", 1)
    compiled = fn(arr)  # type: ignore[operator]
    monkeypatch.setattr(module, "COMPILED_FROM", 10 ** 15)
    return fn(arr), compiled  # type: ignore[operator]


@pytest.mark.parametrize("case", ["normal", "nan", "inf", "allnan", "negzero", "empty", "huge"])
def test_max_abs_compiled_equals_numpy(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    rng = np.random.default_rng(len(case))
    v = rng.normal(scale=50.0, size=5000)
    if case == "nan":
        v[rng.integers(0, v.size, 40)] = np.nan
    elif case == "inf":
        v[[3, 99]] = [np.inf, -np.inf]
        v[7] = -1e6
    elif case == "allnan":
        v[:] = np.nan
    elif case == "negzero":
        v = np.array([-0.0, 0.0, -0.0])
    elif case == "empty":
        v = np.zeros(0)
    elif case == "huge":
        v[11] = -3e200
    expected, got = _numpy_and_compiled(monkeypatch, limits, limits.max_abs, v)
    assert got == expected
    assert isinstance(got, float)
    if case == "inf":
        assert got == 1e6
    if case == "huge":
        assert got == 3e200


@pytest.mark.parametrize("case", ["int", "float", "gaps", "fraction", "nan", "negative", "one"])
def test_period_index_compiled_equals_numpy(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    rng = np.random.default_rng(len(case) + 10)
    t = rng.integers(2003, 2010, size=4000).astype(np.float64)
    if case == "int":
        t = t.astype(np.int64)
    elif case == "gaps":
        t = rng.choice([1990.0, 2001.0, 2040.0], size=4000)
    elif case == "fraction":
        t[17] = 2004.5
    elif case == "nan":
        t[5] = np.nan
    elif case == "negative":
        t = t - 4000.0
    elif case == "one":
        t = np.full(10, 7.0)
    (vals_np, idx_np), (vals_c, idx_c) = _numpy_and_compiled(monkeypatch, exclusions, exclusions.period_index, t)
    assert vals_c.dtype == vals_np.dtype and idx_c.dtype == idx_np.dtype
    np.testing.assert_array_equal(vals_c, vals_np)
    np.testing.assert_array_equal(idx_c, idx_np)
    if case not in ("nan",):
        np.testing.assert_array_equal(vals_c[idx_c], t)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16])
@pytest.mark.parametrize("case", ["dense", "sparse", "negative", "single"])
def test_factorize_sorted_compiled_equals_numpy(monkeypatch: pytest.MonkeyPatch, dtype: type, case: str) -> None:
    import cteimpact.did.panel as panel

    rng = np.random.default_rng(7)
    ids = rng.integers(0, 300, size=2000)
    if case == "sparse":
        ids = ids * 3 + 11
    elif case == "negative":
        ids = ids - 150
    elif case == "single":
        ids = np.full(50, 5)
    ids = ids.astype(dtype)
    (codes_np, uni_np), (codes_c, uni_c) = _numpy_and_compiled(monkeypatch, panel, panel._factorize_sorted, ids)
    assert codes_c.dtype == codes_np.dtype
    np.testing.assert_array_equal(codes_c, codes_np)
    assert uni_c.equals(uni_np) and uni_c.dtype == uni_np.dtype
    np.testing.assert_array_equal(np.asarray(uni_c)[codes_c], ids)


@pytest.mark.parametrize("case", ["normal", "constant", "constant_nan", "huge", "allnan", "negzero"])
def test_outcome_checks_compiled_equal_numpy(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """The DiD outcome checks raise the same errors (or none) on the compiled and numpy paths."""
    from types import SimpleNamespace

    import cteimpact.did.estimator as est
    from cteimpact.errors import DesignError

    rng = np.random.default_rng(len(case))
    y = rng.normal(size=(300, 5))
    if case in ("constant", "constant_nan"):
        y[:] = 2.5
    if case == "constant_nan":
        y[0, :2] = np.nan
        y[4, 3] = np.inf
    if case == "huge":
        y[7, 1] = -4e160
    if case == "allnan":
        y[:] = np.nan
    if case == "negzero":
        y[:] = 0.0
        y[3, 3] = -0.0
    d = SimpleNamespace(y_wide=y, obs_y=None, outcome="earn", x_wide=None, obs_x=None, covariates=[])
    messages: list[str | None] = []
    for threshold in (1, 10 ** 15):
        monkeypatch.setattr(est, "COMPILED_FROM", threshold)
        try:
            est._check_values(d)  # type: ignore[arg-type]
            messages.append(None)
        except DesignError as err:
            messages.append(str(err))
    assert messages[0] == messages[1]
    if case == "constant_nan":
        assert messages[0] is not None and "constant (all 2.5) in the 1,497 observations" in messages[0]
    if case == "huge":
        assert messages[0] is not None and "up to 4e+160" in messages[0]
    if case in ("normal", "allnan"):
        assert messages[0] is None

"""reuse_reference_calls: inside a run, an rdrobust call with the same arguments is computed once; its result, notes
and warnings are those of a new call."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from cteimpact.rd.adapters._capture import ReferencePackageWarning, call_reference, reuse_reference_calls


def _fake_rdrobust(calls: list[int]):
    def rdrobust(y: np.ndarray, x: np.ndarray, **kwargs: Any) -> dict[str, float]:
        calls.append(1)
        print("Mass points detected in the running variable.")
        warnings.warn("something odd in the data", UserWarning, stacklevel=1)
        return {"estimate": float(np.sum(y) - np.sum(x)) + float(kwargs.get("h") or 0.0)}

    rdrobust.__module__, rdrobust.__qualname__ = "rdrobust.rdrobust", "rdrobust"
    return rdrobust


def _call(func, y, x, context: str, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, outcome = call_reference(func, y, x, context=context, **kwargs)
    return result, outcome, [str(w.message) for w in caught], [w.category for w in caught]


def test_same_arguments_are_computed_once_inside_the_block_and_warn_again() -> None:
    calls: list[int] = []
    func = _fake_rdrobust(calls)
    y, x = np.arange(5.0), np.linspace(-1, 1, 5)
    with reuse_reference_calls():
        first = _call(func, y, x, "rdrobust on outcome 'a'", h=0.5)
        again = _call(func, y.copy(), x.copy(), "rdrobust on outcome 'a', again", h=0.5)
    assert len(calls) == 1
    assert again[0] == first[0]
    assert again[1].notes == first[1].notes == ("Mass points detected in the running variable.",)
    assert again[1].warnings == first[1].warnings == ("something odd in the data",)
    # the warning is re-issued with the context of the call that reused the result
    assert again[2] == ["rdrobust on outcome 'a', again: something odd in the data"]
    assert again[3] == [ReferencePackageWarning]


@pytest.mark.parametrize("change", ["y", "h", "dtype"])
def test_other_arguments_are_computed(change: str) -> None:
    calls: list[int] = []
    func = _fake_rdrobust(calls)
    y, x = np.arange(5.0), np.linspace(-1, 1, 5)
    other_y = {"y": y + np.array([0, 0, 0, 0, 1e-12]), "h": y, "dtype": y.astype(np.float32)}[change]
    with reuse_reference_calls():
        _call(func, y, x, "c", h=0.5)
        _call(func, other_y, x, "c", h=0.25 if change == "h" else 0.5)
    assert len(calls) == 2


def test_nothing_is_reused_outside_the_block_or_after_it() -> None:
    calls: list[int] = []
    func = _fake_rdrobust(calls)
    y, x = np.arange(5.0), np.linspace(-1, 1, 5)
    _call(func, y, x, "c")
    _call(func, y, x, "c")
    assert len(calls) == 2
    with reuse_reference_calls():
        _call(func, y, x, "c")
    with reuse_reference_calls():
        _call(func, y, x, "c")  # a new block (a verification's re-run) computes again
    assert len(calls) == 4


def test_other_functions_are_not_reused() -> None:
    calls: list[int] = []
    func = _fake_rdrobust(calls)
    func.__qualname__ = "rdbwselect"
    y, x = np.arange(5.0), np.linspace(-1, 1, 5)
    with reuse_reference_calls():
        _call(func, y, x, "c")
        _call(func, y, x, "c")
    assert len(calls) == 2


def test_arrays_with_equal_values_in_another_memory_layout_are_the_same_argument() -> None:
    """The key hashes the values in C order, whatever the array's layout: a Fortran-ordered copy and a strided view
    of equal values reuse the call; the same values in another shape do not."""
    calls: list[int] = []
    func = _fake_rdrobust(calls)
    covs = np.arange(12.0).reshape(6, 2)
    wide = np.repeat(np.linspace(-1, 1, 6), 2)
    with reuse_reference_calls():
        _call(func, covs, wide[::2], "c", h=0.5)
        _call(func, np.asfortranarray(covs), np.linspace(-1, 1, 6), "c", h=0.5)
        assert len(calls) == 1
        _call(func, covs.reshape(3, 4), wide[::2], "c", h=0.5)
    assert len(calls) == 2

"""Compiled single passes over long numeric arrays: the largest finite magnitude (with the count, range and first
of the finite values: :func:`finite_summary`), and the dense index of
whole-numbered values within a small span (periods; integer unit identifiers).

Each replaces several whole-array numpy passes (and their temporaries) with one or two loops and returns exactly
what the numpy form returns; the callers (:func:`cteimpact.limits.max_abs`, the DiD outcome checks,
:func:`cteimpact.did.exclusions.period_index`, ``cteimpact.did.panel._factorize_sorted``) use them for long arrays
only and keep the numpy form for the rest. Importing this module imports numba, so the callers import it lazily.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["dense_offsets", "finite_max_abs", "finite_summary", "seen_offsets", "summary_step",
           "take_offsets"]


@numba.njit(cache=True, nogil=True)
def finite_max_abs(v: np.ndarray) -> float:  # pragma: no cover - compiled
    """Largest finite ``abs(v[i])`` of a 1-d float64 array (0.0 when none is finite)."""
    best = 0.0
    for i in range(v.size):
        a = abs(v[i])
        if a > best and a != np.inf:
            best = a
    return best


@numba.njit(cache=True, nogil=True)
def dense_offsets(t: np.ndarray, lo: float, span: int, out: np.ndarray) -> np.ndarray:  # pragma: no cover
    """How many values of ``t`` (float64) equal ``lo + k`` for ``k = 0 .. span - 1``, writing each value's offset
    ``t - lo`` into ``out`` in the same pass (the index of each value among ``lo … lo + span − 1``); an empty array
    as soon as a value is not whole-numbered or outside the span (NaN included)."""
    counts = np.zeros(span, dtype=np.int64)
    for i in range(t.size):
        off = t[i] - lo
        p = np.int64(off)
        if p != off or p < 0 or p >= span:
            return np.empty(0, dtype=np.int64)
        counts[p] += 1
        out[i] = p
    return counts


@numba.njit(cache=True, nogil=True)
def seen_offsets(ids: np.ndarray, lo: int, span: int) -> np.ndarray:  # pragma: no cover - compiled
    """Flags of the offsets ``ids - lo`` that occur (signed integers, all within ``0 .. span - 1``)."""
    seen = np.zeros(span, dtype=np.bool_)
    for i in range(ids.size):
        seen[np.int64(ids[i]) - lo] = True
    return seen


@numba.njit(cache=True, nogil=True)
def take_offsets(ids: np.ndarray, lo: int, rank: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``rank[ids - lo]`` (signed integers, offsets checked by the caller)."""
    out = np.empty(ids.size, dtype=rank.dtype)
    for i in range(ids.size):
        out[i] = rank[np.int64(ids[i]) - lo]
    return out


@numba.njit(cache=True, nogil=True)
def summary_step(x: float, n: int, lo: float, hi: float, big: float, first: float
                 ) -> tuple[int, float, float, float, float]:  # pragma: no cover - compiled
    """The running summary ``(n, lo, hi, big, first)`` of :func:`finite_summary` after one more value ``x``
    (unchanged when ``x`` is not finite); compiled passes that summarise values as they go call it."""
    if np.isfinite(x):
        if n == 0:
            lo = hi = first = x
        else:
            if x < lo:
                lo = x
            if x > hi:
                hi = x
        a = abs(x)
        if a > big:
            big = a
        n += 1
    return n, lo, hi, big, first


@numba.njit(cache=True, nogil=True)
def finite_summary(v: np.ndarray) -> tuple[int, float, float, float, float]:  # pragma: no cover - compiled
    """Of the finite values of a 1-d float64 array: their number, minimum, maximum, largest magnitude and the first
    of them (zeros when none is finite)."""
    n = 0
    lo = hi = big = first = 0.0
    for i in range(v.size):
        n, lo, hi, big, first = summary_step(v[i], n, lo, hi, big, first)
    return n, lo, hi, big, first

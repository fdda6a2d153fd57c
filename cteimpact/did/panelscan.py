"""Compiled passes over a panel's rows: the two checks of unit identification (no unit twice in a period, a
cohort constant within each unit), and the unit × period outcome array of a balanced panel (:func:`scatter_wide`).

:func:`scan_units` returns the counts that :func:`cteimpact.did.panel._identify_units` needs for its errors (rows
repeating a unit-period pair and the units they touch; units whose cohort changes) and each unit's cohort (the
value of its last row, as the general path's scatter gives), with no temporary arrays of the rows' length. It
covers the common case (unit × period table of at most 200 million cells); the general path handles the rest.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["MAX_CELLS", "scan_units", "scatter_wide"]

MAX_CELLS = 200_000_000


@numba.njit(cache=True, nogil=True)
def _scan(codes: np.ndarray, t_idx: np.ndarray, g: np.ndarray, n_units: int, n_t: int
          ) -> tuple[int, int, int, np.ndarray]:  # pragma: no cover - compiled
    seen = np.zeros(n_units * n_t, dtype=np.uint8)
    dup_unit = np.zeros(n_units, dtype=np.uint8)
    n_dup_rows = 0
    n_dup_units = 0
    first = np.empty(n_units)
    n = codes.size
    for i in range(n):
        u = np.int64(codes[i])
        k = u * n_t + np.int64(t_idx[i])
        if seen[k]:
            n_dup_rows += 1
            if not dup_unit[u]:
                dup_unit[u] = 1
                n_dup_units += 1
        else:
            seen[k] = 1
        first[u] = g[i]
    bad = dup_unit  # reused: the duplicate flags are no longer needed once counted
    bad[:] = 0
    n_bad = 0
    for i in range(n):
        u = np.int64(codes[i])
        if g[i] != first[u] and not bad[u]:
            bad[u] = 1
            n_bad += 1
    return n_dup_rows, n_dup_units, n_bad, first


def scan_units(codes: np.ndarray, t_idx: np.ndarray, g: np.ndarray, n_units: int, n_t: int
               ) -> tuple[int, int, int, np.ndarray]:
    """Duplicate unit-period rows and cohort constancy in one pass.

    Parameters
    ----------
    codes, t_idx : numpy.ndarray
        Each row's unit code (``0 .. n_units - 1``) and period index (``0 .. n_t - 1``), integers.
    g : numpy.ndarray
        Each row's cohort (float).
    n_units, n_t : int
        Numbers of units and periods (``n_units * n_t <= MAX_CELLS``).

    Returns
    -------
    n_dup_rows, n_dup_units, n_bad_units : int
        Rows repeating an earlier row's (unit, period), the units with such rows, and the units whose cohort
        differs between rows (the caller raises on duplicates first, as the general path does).
    unit_cohort : numpy.ndarray
        Each unit's cohort: the value of its last row.
    """
    n_dup_rows, n_dup_units, n_bad, first = _scan(codes, t_idx, np.asarray(g, dtype=float), int(n_units), int(n_t))
    return int(n_dup_rows), int(n_dup_units), int(n_bad), first


@numba.njit(cache=True, nogil=True)
def _scatter(y: np.ndarray, codes: np.ndarray, t_idx: np.ndarray, row_of_unit: np.ndarray, n_t: int,
             out: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in range(y.size):
        out[np.int64(row_of_unit[codes[i]]) * n_t + np.int64(t_idx[i])] = y[i]


def scatter_wide(y: np.ndarray, codes: np.ndarray, t_idx: np.ndarray, row_of_unit: np.ndarray, n_t: int
                 ) -> np.ndarray:
    """The unit × period array of a balanced panel's outcome in one pass: row ``i`` goes to
    ``(row_of_unit[codes[i]], t_idx[i])``; cells no row reaches stay NaN.

    Parameters
    ----------
    y : numpy.ndarray
        The rows' outcomes (float64).
    codes, t_idx : numpy.ndarray
        Each row's unit code and period index (integers).
    row_of_unit : numpy.ndarray
        Each unit's row in the output (a permutation of ``0 .. n_units - 1``).
    n_t : int
        Number of periods.
    """
    out = np.full((row_of_unit.size, n_t), np.nan)
    _scatter(np.asarray(y, dtype=float), codes, t_idx, row_of_unit, int(n_t), out.reshape(-1))
    return out

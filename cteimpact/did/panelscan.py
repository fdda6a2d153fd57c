"""Compiled passes over a panel's rows: the two checks of unit identification (no unit twice in a period, a
cohort constant within each unit, each unit's rows), and the unit × period outcome array of a balanced panel with
the summary of its outcomes that the value checks need (:func:`scatter_wide`).

:func:`scan_units` returns the counts that :func:`cteimpact.did.panel._identify_units` needs for its errors (rows
repeating a unit-period pair and the units they touch; units whose cohort changes) and each unit's cohort (the
value of its last row, as the general path's scatter gives) in one loop over the rows, with no temporary arrays of
the rows' length. It covers the common case (unit × period table of at most 200 million cells); the general path
handles the rest.
"""

from __future__ import annotations

import numba
import numpy as np

from cteimpact.scan import summary_step

__all__ = ["MAX_CELLS", "scan_units", "scatter_outcomes", "scatter_wide"]

MAX_CELLS = 200_000_000


@numba.njit(cache=True, nogil=True)
def _scan(codes: np.ndarray, t_idx: np.ndarray, g: np.ndarray, n_units: int, n_t: int, rows_out: np.ndarray
          ) -> tuple[int, int, int, np.ndarray]:  # pragma: no cover - compiled
    count = rows_out.size > 0
    seen = np.zeros(n_units * n_t, dtype=np.uint8)
    state = np.zeros(n_units, dtype=np.uint8)  # 1: seen; 2: has a repeated period; 4: cohort changes
    n_dup_rows = 0
    n_dup_units = 0
    n_bad = 0
    last = np.empty(n_units)
    for i in range(codes.size):
        u = np.int64(codes[i])
        k = u * n_t + np.int64(t_idx[i])
        if seen[k]:
            n_dup_rows += 1
            if not state[u] & 2:
                state[u] |= 2
                n_dup_units += 1
        else:
            seen[k] = 1
        x = g[i]
        # a unit's cohort changes exactly when two of its rows in a row differ (in row order)
        if state[u] & 1:
            if x != last[u] and not state[u] & 4:
                state[u] |= 4
                n_bad += 1
        else:
            state[u] |= 1
        last[u] = x
        if count:
            rows_out[u] += 1
    return n_dup_rows, n_dup_units, n_bad, last


def scan_units(codes: np.ndarray, t_idx: np.ndarray, g: np.ndarray, n_units: int, n_t: int, *,
               unit_rows: np.ndarray | None = None) -> tuple[int, int, int, np.ndarray]:
    """Duplicate unit-period rows and cohort constancy in one pass (and, into ``unit_rows``, each unit's rows).

    Parameters
    ----------
    codes, t_idx : numpy.ndarray
        Each row's unit code (``0 .. n_units - 1``) and period index (``0 .. n_t - 1``), integers.
    g : numpy.ndarray
        Each row's cohort (float).
    n_units, n_t : int
        Numbers of units and periods (``n_units * n_t <= MAX_CELLS``).
    unit_rows : numpy.ndarray, optional
        ``n_units`` zeros (int64) that receive each unit's number of rows (``np.bincount(codes)``).

    Returns
    -------
    n_dup_rows, n_dup_units, n_bad_units : int
        Rows repeating an earlier row's (unit, period), the units with such rows, and the units whose cohort
        differs between rows (the caller raises on duplicates first, as the general path does).
    unit_cohort : numpy.ndarray
        Each unit's cohort: the value of its last row.
    """
    rows_out = np.zeros(0, dtype=np.int64) if unit_rows is None else unit_rows
    n_dup_rows, n_dup_units, n_bad, first = _scan(codes, t_idx, np.asarray(g, dtype=float), int(n_units), int(n_t),
                                                  rows_out)
    return int(n_dup_rows), int(n_dup_units), int(n_bad), first


@numba.njit(cache=True, nogil=True)
def _scatter(y: np.ndarray, codes: np.ndarray, t_idx: np.ndarray, row_of_unit: np.ndarray, n_units: int,
             out: np.ndarray, summary: np.ndarray) -> None:  # pragma: no cover - compiled
    n = 0
    lo = hi = big = first = 0.0
    for i in range(y.size):
        x = y[i]
        out[np.int64(t_idx[i]) * n_units + np.int64(row_of_unit[codes[i]])] = x
        n, lo, hi, big, first = summary_step(x, n, lo, hi, big, first)
    summary[0] = n
    summary[1] = lo
    summary[2] = hi
    summary[3] = big
    summary[4] = first


def scatter_outcomes(y: np.ndarray, codes: np.ndarray, t_idx: np.ndarray, row_of_unit: np.ndarray, n_t: int
                     ) -> tuple[np.ndarray, tuple[int, float, float, float, float]]:
    """The unit × period array of a balanced panel's outcome in one pass: row ``i`` goes to
    ``(row_of_unit[codes[i]], t_idx[i])``; cells no row reaches stay NaN. The same pass summarises the finite
    outcomes as :func:`cteimpact.scan.finite_summary` does (the first of them in row order).

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

    Returns
    -------
    y_wide : numpy.ndarray
        ``n_units × n_t``, column-major (each period's outcomes contiguous, as the estimators read them).
    summary : tuple
        Number, minimum, maximum, largest magnitude and first of the finite outcomes (zeros when none).
    """
    n_units = row_of_unit.size
    by_period = np.full((int(n_t), n_units), np.nan)
    summary = np.zeros(5)
    _scatter(np.asarray(y, dtype=float), codes, t_idx, row_of_unit, int(n_units), by_period.reshape(-1), summary)
    return by_period.T, (int(summary[0]), float(summary[1]), float(summary[2]), float(summary[3]),
                         float(summary[4]))


def scatter_wide(y: np.ndarray, codes: np.ndarray, t_idx: np.ndarray, row_of_unit: np.ndarray, n_t: int
                 ) -> np.ndarray:
    """The unit × period array of :func:`scatter_outcomes` alone."""
    return scatter_outcomes(y, codes, t_idx, row_of_unit, n_t)[0]

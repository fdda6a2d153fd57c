"""Nearest-neighbour residuals of rdrobust's ``vce="nn"`` from per-value counts and sums.

rdrobust sorts the rows by score; for each row it starts from every other row with the same score and, while fewer
than ``nnmatch`` other rows are in the window, adds the whole next distinct value on the nearer side (both sides
when they are equally near, to a relative tolerance of ``sqrt(machine epsilon)``; only the side that remains at the
ends). The window therefore depends on the score value alone, not on the row: with ``J`` other rows in the window of
outcome sum ``S`` (self included), the residual of row ``i`` is ``sqrt(J/(J+1)) (y_i − (S − y_i)/J)``
``= sqrt((J+1)/J) (y_i − S/(J+1))``, a scaled deviation from the window mean that is the same for every row of the
value. Its per-cell sums follow from the cell's count, sum and centred sum of squares.
"""

from __future__ import annotations

import numpy as np

from cteimpact.rd.sufficient.design import Side

__all__ = ["nn_windows"]

_TOL = float(np.sqrt(np.finfo(np.float64).eps))


def nn_windows(side: Side, matches: int) -> tuple[np.ndarray, np.ndarray]:
    """For every cell, the scale ``sqrt((J+1)/J)`` and the window means ``S/(J+1)`` of its score value (one per
    fitted column).

    Parameters
    ----------
    side
        The cells of the estimation sample on one side (scores as the distances are to be measured).
    matches
        The minimum number of neighbours (rdrobust's ``nnmatch``).

    Returns
    -------
    tuple of numpy.ndarray
        ``(scale, window_mean)``: one value per cell, and cells × columns.
    """
    values, inverse = np.unique(side.x, return_inverse=True)
    counts = np.bincount(inverse, weights=side.n.astype(float)).astype(np.int64)
    sums = np.stack([np.bincount(inverse, weights=side.sums[:, j]) for j in range(side.columns)], axis=1)
    total = int(counts.sum())
    cap = min(matches, total - 1)
    k_values = len(values)
    scale = np.empty(k_values)
    mean = np.empty((k_values, side.columns))
    for k in range(k_values):
        lo = hi = k
        others = int(counts[k]) - 1
        while others < cap:
            if lo == 0:
                hi += 1
                others += int(counts[hi])
            elif hi == k_values - 1:
                lo -= 1
                others += int(counts[lo])
            else:
                d_left = values[k] - values[lo - 1]
                d_right = values[hi + 1] - values[k]
                tol = max(d_left, d_right) * _TOL
                if d_left - d_right > tol:
                    hi += 1
                    others += int(counts[hi])
                elif d_right - d_left > tol:
                    lo -= 1
                    others += int(counts[lo])
                else:
                    hi += 1
                    lo -= 1
                    others += int(counts[hi]) + int(counts[lo])
        scale[k] = np.sqrt((others + 1) / others)
        mean[k] = np.sum(sums[lo:hi + 1], axis=0) / (others + 1)
    return scale[inverse], mean[inverse]

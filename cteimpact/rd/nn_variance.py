"""Nearest-neighbour conditional (co)variances of outcomes given a sorted running variable (Abadie & Imbens 2006;
the ``sigmaNN`` estimator of Armstrong & Kolesár's RDHonest), in O(n log n).

For observation ``k`` let ``d_k`` be the distance to its ``J``-th nearest other observation; the neighbour set is every
other observation within ``d_k`` (ties included, so it can hold more than ``J``), with ``J_k`` members and mean
``ybar_k``. The estimate is ``J_k / (J_k + 1) * (y_k - ybar_k)(y_k - ybar_k)'``.

Observations sharing a score value have the same distances to every other observation, so the neighbour set (self
included) is the same for the whole tie group: it is computed once per distinct value from the group counts and sums
of the ``J`` distinct values on either side. This gives the reference's result (``rdhonest.variance.sigma_nn``, which
sorts all distances for every observation and is quadratic in n) to rounding, with ties handled identically.
"""

from __future__ import annotations

import numpy as np

from cteimpact.errors import DesignError

__all__ = ["nearest_neighbour_variance"]


def nearest_neighbour_variance(x: np.ndarray, y: np.ndarray, j: int = 3) -> np.ndarray:
    """Nearest-neighbour (co)variances of ``y`` given a sorted running variable ``x`` (unit weights).

    Parameters
    ----------
    x
        Running variable, sorted ascending, finite (n values).
    y
        Outcomes: n values, or an n × k array.
    j
        Number of nearest neighbours (fewer when there are at most ``j`` other observations).

    Returns
    -------
    numpy.ndarray
        n × k² array of the products ``(y_k - ybar_k)_a (y_k - ybar_k)_b`` scaled by ``J_k / (J_k + 1)``, row-major
        over ``(a, b)``; a vector when ``y`` is a vector.
    """
    xv = np.asarray(x, dtype=float)
    yv = np.asarray(y, dtype=float)
    vector = yv.ndim == 1
    ym = yv.reshape(len(yv), -1)
    n = len(xv)
    if ym.shape[0] != n:
        raise DesignError(f"nearest-neighbour variance: {ym.shape[0]} outcome rows for {n} running-variable values")
    if j < 1:
        raise DesignError(f"nearest-neighbour variance: J must be at least 1, got {j}")
    k = ym.shape[1]
    if n < 2:
        out = np.zeros((n, k * k))
        return out[:, 0] if vector else out
    if np.any(np.diff(xv) < 0):
        raise DesignError("nearest-neighbour variance: the running variable must be sorted")
    jj = min(j, n - 1)

    values, starts, counts = np.unique(xv, return_index=True, return_counts=True)
    g = len(values)
    group_sums = np.add.reduceat(ym, starts, axis=0)            # g × k
    group_of = np.repeat(np.arange(g), counts)

    # the jj-th smallest distance to another observation: candidates are the own group (distance 0, counts - 1
    # others) and the jj nearest distinct values on either side, with their multiplicities
    offsets = np.concatenate([-np.arange(1, jj + 1), np.arange(1, jj + 1)])
    idx = np.arange(g)[:, None] + offsets[None, :]
    inside = (idx >= 0) & (idx < g)
    safe = np.clip(idx, 0, g - 1)
    dist = np.where(inside, np.abs(values[safe] - values[:, None]), np.inf)
    mult = np.where(inside, counts[safe], 0)
    dist = np.column_stack([np.zeros(g), dist])
    mult = np.column_stack([counts - 1, mult])
    order = np.argsort(dist, axis=1, kind="stable")
    dist_sorted = np.take_along_axis(dist, order, axis=1)
    cum = np.cumsum(np.take_along_axis(mult, order, axis=1), axis=1)
    first = np.argmax(cum >= jj, axis=1)
    radius = dist_sorted[np.arange(g), first]

    # the neighbour set (self included): every distinct value within the radius, found by walking outwards while
    # the distance (computed as the reference does, |x_i - x_k|) stays within it; the walk is at most jj steps
    # except where rounding makes further distances equal
    total_count = counts.astype(np.int64).copy()
    total_sum = group_sums.copy()
    for step_sign in (-1, 1):
        current = np.arange(g)
        active = np.ones(g, dtype=bool)
        while True:
            nxt = current + step_sign
            ok = active & (nxt >= 0) & (nxt < g)
            if not ok.any():
                break
            cand = np.clip(nxt, 0, g - 1)
            ok &= np.abs(values[cand] - values) <= radius
            if not ok.any():
                break
            total_count[ok] += counts[cand[ok]]
            total_sum[ok] += group_sums[cand[ok]]
            current = np.where(ok, nxt, current)
            active = ok

    others = (total_count[group_of] - 1).astype(float)         # J_k
    mean = (total_sum[group_of] - ym) / others[:, None]
    diff = ym - mean
    scale = others / (others + 1.0)
    out = (diff[:, :, None] * diff[:, None, :]).reshape(n, k * k) * scale[:, None]
    return out[:, 0] if vector else out

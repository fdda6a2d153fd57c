"""Multiple-testing adjustments: Holm's step-down, computed as statsmodels computes it (the field's reference
implementation in Python), without its call of ``gc.collect()``, which costs a third of a second in a process
holding a large heap (a run adjusts a family of tests dozens of times)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["holm_adjust"]


def holm_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values, bit for bit those of
    ``statsmodels.stats.multitest.multipletests(method="holm")``: with the ``m`` p-values sorted, the adjusted
    value of ``p_(i)`` is ``min(1, max_{j <= i} (m - j + 1) p_(j))``. Missing (NaN) p-values stay missing and do
    not count among the tests."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        vals = p[ok]
        order = np.argsort(vals)  # the same sort as statsmodels (ties get the same adjusted value either way)
        stepped = np.maximum.accumulate(np.take(vals, order) * np.arange(vals.size, 0, -1))
        stepped[stepped > 1] = 1
        adj = np.empty_like(stepped)
        adj[order] = stepped
        out[ok] = adj
    return out

"""Multiple-testing adjustments, through statsmodels (the field's reference implementation in Python)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["holm_adjust"]


def holm_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``);
    missing (NaN) p-values stay missing and do not count among the tests."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out

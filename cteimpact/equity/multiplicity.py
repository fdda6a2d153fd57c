"""Multiplicity control across the tests of an equity analysis: Holm and Benjamini–Hochberg adjusted p-values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from cteimpact.errors import OptionError
from cteimpact.stats.multiple_testing import holm_adjust

__all__ = ["MULTIPLICITY_METHODS", "MultiplicityMethod", "adjust_pvalues", "bh_adjust"]

MultiplicityMethod = Literal["holm", "bh"]
"""``holm``: Holm (1979) step-down, controls the family-wise error rate. ``bh``: Benjamini & Hochberg (1995)
step-up, controls the false discovery rate (independent or positively dependent tests)."""
MULTIPLICITY_METHODS: tuple[str, ...] = get_args(MultiplicityMethod)

METHOD_TEXT = {
    "holm": "Holm (1979) step-down adjustment (family-wise error rate)",
    "bh": "Benjamini & Hochberg (1995) step-up adjustment (false discovery rate)",
}


def bh_adjust(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg (1995) adjusted p-values (q-values of the step-up procedure).

    With the ``m`` p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of ``p_(i)`` is
    ``min_{j >= i} min(1, m p_(j) / j)``; it agrees with ``statsmodels.stats.multitest.multipletests(method=
    "fdr_bh")``. Missing (NaN) p-values stay missing and do not count among the ``m`` tests.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = p[ok]
    order = np.argsort(vals, kind="stable")
    ranked = vals[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(stepped, 1.0)
    out[ok] = adj
    return out


def adjust_pvalues(pvalues: Sequence[float] | np.ndarray, method: MultiplicityMethod) -> np.ndarray:
    """Adjusted p-values of one family of tests by ``method`` (``"holm"`` or ``"bh"``); NaN stays NaN.

    Raises
    ------
    OptionError
        An unknown method.
    """
    if method == "holm":
        return holm_adjust(pvalues)
    if method == "bh":
        return bh_adjust(pvalues)
    raise OptionError(f"multiplicity must be one of {', '.join(MULTIPLICITY_METHODS)}, got {method!r}")

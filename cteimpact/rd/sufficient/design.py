"""One side of the cutoff as score cells, kernel weights and polynomial design rows (shared by the bandwidth
selector and the estimator).

Every quantity here is per cell; a sum over students is a count-weighted sum over cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Kernel", "Side", "kernel_weights", "powers"]

Kernel = Literal["triangular", "uniform", "epanechnikov"]


def kernel_weights(x: np.ndarray, cutoff: float, h: float, kernel: Kernel) -> np.ndarray:
    """Kernel weight ``K((x − c)/h)/h`` of each value (zero outside the bandwidth), as rdrobust defines them."""
    u = (x - cutoff) / h
    inside = np.abs(u) <= 1
    if kernel == "epanechnikov":
        return (0.75 * (1 - u**2) * inside) / h
    if kernel == "uniform":
        return (0.5 * inside) / h
    return ((1 - np.abs(u)) * inside) / h


def powers(u: np.ndarray, order: int) -> np.ndarray:
    """Rows ``(1, u, u², …, u^order)`` built by successive multiplication."""
    out = np.empty((len(u), order + 1))
    out[:, 0] = 1.0
    for j in range(1, order + 1):
        out[:, j] = out[:, j - 1] * u
    return out


@dataclass(frozen=True, eq=False)
class Side:
    """The cells on one side of the cutoff.

    Attributes
    ----------
    x
        Score value of each cell (possibly standardised; distances and kernel weights are computed on it).
    cluster
        Integer cluster code of each cell, or ``None``.
    n, sum_y, m2_y
        Rows, outcome sum and within-cell centred sum of squares of each cell.
    """

    x: np.ndarray
    cluster: np.ndarray | None
    n: np.ndarray
    sum_y: np.ndarray
    m2_y: np.ndarray

    def subset(self, keep: np.ndarray) -> Side:
        """The cells where ``keep`` is true."""
        return Side(x=self.x[keep], cluster=None if self.cluster is None else self.cluster[keep], n=self.n[keep],
                    sum_y=self.sum_y[keep], m2_y=self.m2_y[keep])

    def scaled(self, factor: float) -> Side:
        """The same cells with the score divided by ``factor``."""
        return Side(x=self.x / factor, cluster=self.cluster, n=self.n, sum_y=self.sum_y, m2_y=self.m2_y)

    @property
    def rows(self) -> int:
        """Student rows in these cells."""
        return int(np.sum(self.n))

    @property
    def distinct(self) -> int:
        """Distinct score values."""
        return int(np.unique(self.x).size)

    @property
    def clusters(self) -> int:
        """Distinct clusters (0 without clustering)."""
        return 0 if self.cluster is None else int(np.unique(self.cluster).size)

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
    n
        Rows of each cell.
    sums
        Per cell, the sums of the fitted columns (cells × m: the outcome, and the take-up of a fuzzy design).
    cross
        Per cell, their centred sums of squares and cross-products (cells × m × m).
    """

    x: np.ndarray
    cluster: np.ndarray | None
    n: np.ndarray
    sums: np.ndarray
    cross: np.ndarray

    def subset(self, keep: np.ndarray) -> Side:
        """The cells where ``keep`` is true."""
        return Side(x=self.x[keep], cluster=None if self.cluster is None else self.cluster[keep], n=self.n[keep],
                    sums=self.sums[keep], cross=self.cross[keep])

    def first_column(self) -> Side:
        """The same cells with the outcome only (a fuzzy design's bandwidth selected as a sharp one's)."""
        return Side(x=self.x, cluster=self.cluster, n=self.n, sums=self.sums[:, :1], cross=self.cross[:, :1, :1])

    def scaled(self, factor: float) -> Side:
        """The same cells with the score divided by ``factor``."""
        return Side(x=self.x / factor, cluster=self.cluster, n=self.n, sums=self.sums, cross=self.cross)

    @property
    def columns(self) -> int:
        """Fitted columns (1: sharp; 2: outcome and take-up)."""
        return int(self.sums.shape[1])

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

    def constant(self, column: int) -> bool:
        """Whether ``column`` takes one value on every row of these cells."""
        means = self.sums[:, column] / self.n
        return bool(np.all(self.cross[:, column, column] == 0) and np.ptp(means) == 0)

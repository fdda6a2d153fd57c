"""A kernel-weighted polynomial fit on one side's cells and its variance "meat" for each ``vce``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from cteimpact.rd.sufficient.design import Kernel, Side, kernel_weights, powers
from cteimpact.rd.sufficient.nearest import nn_windows
from cteimpact.rd.sufficient.variance import (
    ResidualMoments,
    ResidualSums,
    cr1_meat,
    cr3_meat,
    hetero_meat,
    residual_sums,
)

__all__ = ["Vce", "WeightedFit", "fit_side", "inverse_spd", "meat", "residuals"]

Vce = Literal["nn", "hc1", "cr1", "cr3"]


def inverse_spd(gram: np.ndarray, *, fallback: bool = False) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix by Cholesky (a pseudo-inverse if that fails and
    ``fallback``)."""
    try:
        factor = cho_factor(gram, lower=True)
    except np.linalg.LinAlgError:
        if not fallback:
            raise
        return np.linalg.pinv(gram)
    return cho_solve(factor, np.eye(gram.shape[0]))


@dataclass(frozen=True, eq=False)
class WeightedFit:
    """A weighted least-squares polynomial fit on the cells with positive weight.

    Attributes
    ----------
    cells
        The cells inside the bandwidth.
    w
        Their kernel weights.
    r
        Their design rows ``(1, x − c, …)``.
    gram, inv_gram
        ``Σ n w R R'`` and its inverse.
    beta
        The coefficients (one column per fitted column: the outcome, and the take-up of a fuzzy design).
    """

    cells: Side
    w: np.ndarray
    r: np.ndarray
    gram: np.ndarray
    inv_gram: np.ndarray
    beta: np.ndarray


def fit_side(side: Side, cutoff: float, h: float, order: int, kernel: Kernel) -> WeightedFit | None:
    """Fit a polynomial of ``order`` within bandwidth ``h``; ``None`` with fewer distinct values than coefficients."""
    w_all = kernel_weights(side.x, cutoff, h, kernel)
    keep = w_all > 0
    cells = side.subset(keep)
    if cells.distinct < order + 1:
        return None
    w = w_all[keep]
    r = powers(cells.x - cutoff, order)
    gram = (r * (cells.n * w)[:, None]).T @ r
    inv = inverse_spd(gram, fallback=True)
    beta = inv @ (r.T @ (w[:, None] * cells.sums))
    return WeightedFit(cells=cells, w=w, r=r, gram=gram, inv_gram=inv, beta=beta)


def residuals(fit: WeightedFit, vce: Vce, nnmatch: int) -> ResidualMoments:
    """The residual sums the variance of ``vce`` uses: nearest-neighbour deviations, or the fit's residuals scaled
    by ``sqrt(n/(n − k))`` (``hc1`` without clusters) or not (cluster-robust)."""
    if vce == "nn":
        scale, centre = nn_windows(fit.cells, nnmatch)
        return residual_sums(fit.cells, centre, scale)
    fitted = fit.r @ fit.beta
    if vce == "hc1":
        rows = fit.cells.rows
        return residual_sums(fit.cells, fitted, float(np.sqrt(rows / (rows - fit.r.shape[1]))))
    return residual_sums(fit.cells, fitted, 1.0)


def meat(fit: WeightedFit, res: ResidualSums, vce: Vce) -> np.ndarray:
    """``Σ`` of the squared scores of the fit's coefficients under ``vce`` (to be sandwiched by ``inv_gram``), for the
    combined residual ``res``."""
    a = fit.r * fit.w[:, None]
    if vce in ("nn", "hc1"):
        return hetero_meat(a, res)
    codes = fit.cells.cluster
    if codes is None:  # pragma: no cover - the estimator refuses cluster variances without clusters
        raise ValueError("cluster-robust variance without cluster codes")
    if vce == "cr1":
        return cr1_meat(a, res, codes, rows=fit.cells.rows, k_df=fit.r.shape[1])
    return cr3_meat(fit.r, fit.w, fit.cells, res, codes, fit.gram)

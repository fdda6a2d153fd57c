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
    cr2_meat,
    cr3_meat,
    hetero_meat,
    residual_sums,
)

__all__ = ["HETEROSKEDASTIC", "Vce", "WeightedFit", "fit_side", "hc_scale", "inverse_spd", "leverage", "meat",
           "residuals"]

HETEROSKEDASTIC = ("nn", "hc0", "hc1", "hc2", "hc3")
"""Variance estimators without clusters (a sum of squared row scores)."""


def hc_scale(vce: Vce, rows: int, k: int, leverage: np.ndarray) -> float | np.ndarray:
    """rdrobust's residual scale of the plug-in estimators: 1 (``hc0`` and the cluster ones), ``sqrt(n/(n − k))``
    (``hc1``), ``1/sqrt(1 − h_ii)`` (``hc2``) or ``1/(1 − h_ii)`` (``hc3``), with ``1 − h_ii`` floored at 1e-8. The
    leverage ``h_ii = w_i R_i' G⁻¹ R_i`` is a function of the score, the same for every row of a cell."""
    if vce == "hc1":
        return float(np.sqrt(rows / (rows - k)))
    if vce == "hc2":
        return np.sqrt(1 / np.maximum(1 - leverage, 1e-8))
    if vce == "hc3":
        return 1 / np.maximum(1 - leverage, 1e-8)
    return 1.0


def leverage(r: np.ndarray, inv_gram: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``h_ii = w_i R_i' G⁻¹ R_i`` of each cell."""
    return np.sum((r @ inv_gram) * (r * w[:, None]), axis=1)

Vce = Literal["nn", "hc0", "hc1", "hc2", "hc3", "cr1", "cr2", "cr3"]


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
    as :func:`hc_scale` says."""
    if vce == "nn":
        scale, centre = nn_windows(fit.cells, nnmatch)
        return residual_sums(fit.cells, centre, scale)
    fitted = fit.r @ fit.beta
    lev = leverage(fit.r, fit.inv_gram, fit.w) if vce in ("hc2", "hc3") else np.zeros(len(fit.w))
    return residual_sums(fit.cells, fitted, hc_scale(vce, fit.cells.rows, fit.r.shape[1], lev))


def meat(fit: WeightedFit, res: ResidualSums, vce: Vce) -> np.ndarray:
    """``Σ`` of the squared scores of the fit's coefficients under ``vce`` (to be sandwiched by ``inv_gram``), for the
    combined residual ``res``."""
    a = fit.r * fit.w[:, None]
    if vce in HETEROSKEDASTIC:
        return hetero_meat(a, res)
    codes = fit.cells.cluster
    if codes is None:  # pragma: no cover - the estimator refuses cluster variances without clusters
        raise ValueError("cluster-robust variance without cluster codes")
    if vce == "cr1":
        return cr1_meat(a, res, codes, rows=fit.cells.rows, k_df=fit.r.shape[1])
    if vce == "cr2":
        return cr2_meat(fit.r, fit.w, fit.cells, res, codes, fit.inv_gram)
    return cr3_meat(fit.r, fit.w, fit.cells, res, codes, fit.gram)

"""Weighted least squares with heteroskedasticity-robust (HC1) or cluster-robust (CR1) covariance.

Both steps of the surrogate index are linear regressions: the index itself (long-run outcome on surrogates and
covariates, in the observational sample) and the treatment comparisons (each column of the index's design on the
treatment indicator, with optional adjustment covariates, in the experimental sample). The second step needs the
*joint* covariance of the treatment coefficient across several regressions that share a design matrix, which
statsmodels does not give; one small implementation therefore serves both steps, and the tests check it against
``statsmodels`` (``OLS``/``WLS`` with ``cov_type="HC1"`` and ``"cluster"``) to 1e-10.

Conventions (those of statsmodels and Stata):

* weights ``w`` are analytic/sampling weights: ``b = (X'WX)⁻¹ X'Wy``;
* HC1: ``V = n/(n−k) · B M B`` with ``B = (X'WX)⁻¹`` and ``M = Σᵢ sᵢsᵢ'``, scores ``sᵢ = xᵢ wᵢ eᵢ``;
* CR1: ``V = G/(G−1) · (n−1)/(n−k) · B M B`` with ``M = Σ_g s_g s_g'``, ``s_g`` the sum of the scores of cluster
  ``g``;
* R² is the weighted, centred one: ``1 − Σ w e² / Σ w (y − ȳ_w)²``.

Coefficients come from a QR factorisation of ``√w·X`` (no normal equations), after
:func:`check_full_rank` has refused a rank-deficient design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import linalg

from cteimpact.surrogate.errors import CollinearColumnsError

__all__ = ["CovType", "LeastSquares", "check_full_rank", "coefficient_row_covariance", "fit_least_squares",
           "robust_factor"]

CovType = Literal["HC1", "CR1"]
"""``HC1``: heteroskedasticity-robust with the ``n/(n−k)`` factor; ``CR1``: cluster-robust with
``G/(G−1)·(n−1)/(n−k)``."""

_RANK_TOL = 1e-10
"""Relative tolerance on the singular values of the column-normalised design below which a column is dependent."""


@dataclass(frozen=True, eq=False)
class LeastSquares:
    """A weighted least-squares fit.

    Attributes
    ----------
    params
        Coefficients (``k``).
    cov
        Their HC1 or CR1 covariance (``k × k``).
    resid
        Residuals ``y − X b`` (unweighted), one per row.
    bread
        ``(X'WX)⁻¹``.
    n, k
        Rows and coefficients.
    n_clusters
        Clusters (``None`` for HC1).
    r_squared
        Weighted centred R².
    cov_type
        ``"HC1"`` or ``"CR1"``.
    """

    params: np.ndarray
    cov: np.ndarray
    resid: np.ndarray
    bread: np.ndarray
    n: int
    k: int
    n_clusters: int | None
    r_squared: float
    cov_type: CovType


def robust_factor(n: int, k: int, n_clusters: int | None) -> float:
    """The small-sample factor of the sandwich: ``n/(n−k)`` (HC1) or ``G/(G−1)·(n−1)/(n−k)`` (CR1)."""
    if n_clusters is None:
        return n / (n - k)
    return (n_clusters / (n_clusters - 1)) * ((n - 1) / (n - k))


def _meat(scores: np.ndarray, cluster: np.ndarray | None, n_clusters: int | None) -> np.ndarray:
    """``Σ s s'`` over rows, or over cluster sums of the rows' scores."""
    if cluster is None or n_clusters is None:
        return scores.T @ scores
    summed = np.zeros((n_clusters, scores.shape[1]))
    np.add.at(summed, cluster, scores)
    return summed.T @ summed


def check_full_rank(x: np.ndarray, labels: Sequence[str], *, columns: Sequence[str], what: str) -> None:
    """Refuse a design whose columns are linearly dependent, naming the dependent set.

    Columns are taken in order; the first one that adds nothing to the span of those before it is reported with
    the earlier columns it is a combination of.

    Parameters
    ----------
    x
        Design matrix (``n × k``), weights already applied (``√w·X``).
    labels
        Column names as the message shows them (``"the intercept"``, ``"surrogate 'credential'"``...).
    columns
        The bare column names (``"intercept"``, ``"credential"``), for :attr:`CollinearColumnsError.columns`.
    what
        The sample and regression, for the message.

    Raises
    ------
    CollinearColumnsError
        The columns are dependent.
    """
    n = x.shape[0]
    norms = np.sqrt(np.einsum("ij,ij->j", x, x))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        j = int(zero[0])
        raise CollinearColumnsError(f"{what}: {labels[j]} is zero in all {n:,} rows used, so its coefficient is "
                                    "not identified; drop it", columns=(columns[j],))
    # with unit-norm columns, |R_jj| of a QR factorisation is the distance of column j from the span of the
    # columns before it: (numerically) zero when it adds nothing
    r = np.linalg.qr(x / norms, mode="reduced")[1]
    diag = np.abs(np.diag(r))
    dependent = np.flatnonzero(diag <= _RANK_TOL)
    if dependent.size:
        j = int(dependent[0])
        coef = np.linalg.lstsq(r[:j, :j], r[:j, j], rcond=None)[0]
        used = [int(i) for i in np.flatnonzero(np.abs(coef) > 1e-8)]
        if used == [0] and columns[0] == "intercept":
            detail = f"{labels[j]} is constant in the {n:,} rows used"
        else:
            detail = (f"{labels[j]} is a linear combination of "
                      f"{', '.join(labels[i] for i in used) if used else 'the columns before it'}")
        raise CollinearColumnsError(
            f"{what}: columns are collinear: {detail}, so their coefficients are not identified; drop one of them "
            "or combine them into one column", columns=(columns[j], *(columns[i] for i in used)))


def fit_least_squares(x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None,
                      cluster: np.ndarray | None = None, n_clusters: int | None = None) -> LeastSquares:
    """Weighted least squares of ``y`` on ``x`` with HC1 (no ``cluster``) or CR1 covariance.

    Parameters
    ----------
    x
        Design (``n × k``, full column rank; see :func:`check_full_rank`), intercept included by the caller.
    y
        Outcome (``n``).
    weights
        Positive weights, or ``None``.
    cluster, n_clusters
        Cluster codes ``0 … G−1`` and ``G``, or ``None`` for HC1.

    Returns
    -------
    LeastSquares
    """
    n, k = x.shape
    sw = np.ones(n) if weights is None else np.sqrt(weights)
    q, r = np.linalg.qr(x * sw[:, None], mode="reduced")
    params = linalg.solve_triangular(r, q.T @ (y * sw))
    r_inv = linalg.solve_triangular(r, np.eye(k))
    bread = r_inv @ r_inv.T
    resid = y - x @ params
    w = np.ones(n) if weights is None else weights
    scores = x * (w * resid)[:, None]
    cov = robust_factor(n, k, n_clusters) * (bread @ _meat(scores, cluster, n_clusters) @ bread)
    ybar = float(np.sum(w * y) / np.sum(w))
    tss = float(np.sum(w * (y - ybar) ** 2))
    r2 = 1.0 - float(np.sum(w * resid**2)) / tss if tss > 0 else float("nan")
    return LeastSquares(params, (cov + cov.T) / 2, resid, bread, n, k, n_clusters, r2,
                        "HC1" if n_clusters is None else "CR1")


def coefficient_row_covariance(x: np.ndarray, responses: np.ndarray, *, row: int,
                               weights: np.ndarray | None = None, cluster: np.ndarray | None = None,
                               n_clusters: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Coefficient ``row`` of the regressions of each column of ``responses`` on ``x``, and their joint covariance.

    With ``B = (X'WX)⁻¹`` and ``aᵢ = wᵢ (B xᵢ)_row``, the coefficient of response ``m`` is ``Σᵢ aᵢ yᵢₘ`` and its
    influence on row ``i`` is ``aᵢ eᵢₘ`` (``e`` the residuals of each regression). The covariance is the HC1/CR1
    sandwich of those influences: for each single response it equals the ``(row, row)`` element of
    :func:`fit_least_squares`'s covariance.

    Parameters
    ----------
    x
        Shared design (``n × p``, full column rank).
    responses
        ``n × m`` responses.
    row
        Which coefficient (for example 1: the treatment indicator after the intercept).
    weights, cluster, n_clusters
        As in :func:`fit_least_squares`.

    Returns
    -------
    coef : numpy.ndarray
        The ``m`` coefficients.
    cov : numpy.ndarray
        Their ``m × m`` covariance.
    """
    n, p = x.shape
    sw = np.ones(n) if weights is None else np.sqrt(weights)
    q, r = np.linalg.qr(x * sw[:, None], mode="reduced")
    coefs = linalg.solve_triangular(r, q.T @ (responses * sw[:, None]))  # p × m
    resid = responses - x @ coefs
    r_inv = linalg.solve_triangular(r, np.eye(p))
    bread = r_inv @ r_inv.T
    w = np.ones(n) if weights is None else weights
    a = w * (x @ bread[row])
    infl = resid * a[:, None]
    cov = robust_factor(n, p, n_clusters) * _meat(infl, cluster, n_clusters)
    return coefs[row].copy(), (cov + cov.T) / 2

"""Per-observation scores of rdrobust's estimators, for covariances between RD estimates that share clusters.

rdrobust reports one estimate at a time. Comparing two subgroups (female and male students of the same
consortia) needs the covariance of the two estimates, which is not zero when both use observations of the same
clusters. For a fit with given bandwidths the conventional and bias-corrected estimators are linear in the
outcome (Calonico, Cattaneo & Titiunik 2014): ``tau = sum_i w_i D_i s`` with weights ``w_i`` from the local
polynomial design and ``s`` the combination of the columns of ``D = (Y, T, Z)`` (``s = 1`` for a sharp design
without covariates; the delta-method vector for fuzzy and covariate-adjusted designs). The cluster-robust (CR1)
variance rdrobust reports for each side is

    V_side = f_side * sum_g (sum_{i in g} w_i * r_i' s)^2,   f = (n - 1) / (n - k) * G / (G - 1),

with ``r_i`` the residuals of ``D`` from the order-``q`` fit on bandwidth ``b`` (robust) or the order-``p`` fit on
``h`` (conventional), ``n`` and ``G`` the observations and clusters of the side's estimation window and ``k`` the
number of polynomial coefficients (``q + 1`` robust, ``p + 1`` conventional). :func:`fit_scores` reproduces these
pieces; :func:`cluster_covariance` combines two fits' scores into their covariance, scaling the cross products
by ``sqrt(f_a f_b)`` so that the 2 × 2 matrix stays positive semi-definite. The tests check that the diagonal
reproduces rdrobust's standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.stats.kernels import bandwidth_weights

__all__ = ["FitScores", "cluster_covariance", "fit_scores"]


@dataclass(frozen=True)
class SideScores:
    cluster: np.ndarray
    """Cluster code of each observation in the side's estimation window."""
    score_bc: np.ndarray
    score_cl: np.ndarray
    factor_bc: float
    factor_cl: float


@dataclass(frozen=True)
class FitScores:
    """Scores of one fit, left and right of the cutoff."""

    left: SideScores
    right: SideScores

    def variance(self, robust: bool = True) -> float:
        """The CR1 variance implied by the scores (equals rdrobust's for ``vce='cr1'``)."""
        total = 0.0
        for side in (self.left, self.right):
            score = side.score_bc if robust else side.score_cl
            sums = np.bincount(side.cluster, weights=score)
            total += (side.factor_bc if robust else side.factor_cl) * float(np.dot(sums, sums))
        return total


def _side(x: np.ndarray, d: np.ndarray, cl: np.ndarray, fw: np.ndarray | None, c: float, h: float, b: float,
          p: int, q: int, deriv: int, kernel: str, s: np.ndarray) -> SideScores:
    w_h = bandwidth_weights(x, cutoff=c, bandwidth=h, kernel=kernel, weights=fw)
    w_b = bandwidth_weights(x, cutoff=c, bandwidth=b, kernel=kernel, weights=fw)
    ind = (w_h > 0) if h > b else (w_b > 0)
    xe, de, ce = x[ind] - c, d[ind], cl[ind]
    wh, wb = w_h[ind][:, None], w_b[ind][:, None]
    n = xe.size
    r_q = np.vander(xe, q + 1, increasing=True)
    r_p = r_q[:, : p + 1]
    rw_p = r_p * wh
    rw_q = r_q * wb
    inv_g_p = np.linalg.inv(r_p.T @ rw_p)
    inv_g_q = np.linalg.inv(r_q.T @ rw_q)
    u = (xe / h)[:, None]
    big_l = rw_p.T @ (u ** (p + 1))
    m = (r_q @ inv_g_q[p + 1, :])[:, None] * wb
    q_q = rw_p - h ** (p + 1) * m * big_l.reshape(1, -1)
    fac = math.factorial(deriv)
    w_bc = fac * (inv_g_p @ q_q.T)[deriv, :]
    w_cl = fac * (inv_g_p @ rw_p.T)[deriv, :]
    res_b = de - r_q @ (inv_g_q @ (rw_q.T @ de))
    res_h = de - r_p @ (inv_g_p @ (rw_p.T @ de))
    g = int(np.unique(ce).size)

    def factor(k: int) -> float:
        if g <= 1 or n <= k:
            return math.nan
        return ((n - 1) / (n - k)) * (g / (g - 1))

    return SideScores(cluster=ce, score_bc=w_bc * (res_b @ s), score_cl=w_cl * (res_h @ s),
                      factor_bc=factor(q + 1), factor_cl=factor(p + 1))


def _combination(fit: LocalPolynomialFit, n_covariates: int, fuzzy: bool) -> np.ndarray:
    gamma = None if fit.coef_covariates is None else np.asarray(fit.coef_covariates, dtype=float)
    if gamma is not None:
        gamma = gamma.reshape(n_covariates, -1)
    if not fuzzy:
        if gamma is None:
            return np.array([1.0])
        return np.concatenate([[1.0], -gamma[:, 0]])
    if fit.first_stage is None:
        raise ValueError("fuzzy scores need the fit's first stage")
    tau_t = fit.first_stage.estimate
    tau_y = fit.estimate * tau_t
    s = [1.0 / tau_t, -tau_y / tau_t**2]
    if gamma is None:
        return np.array(s)
    return np.concatenate([s, -(1.0 / tau_t) * gamma[:, 0] + (tau_y / tau_t**2) * gamma[:, 1]])


def fit_scores(
    fit: LocalPolynomialFit,
    *,
    x: np.ndarray,
    y: np.ndarray,
    cluster: np.ndarray,
    fuzzy: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> FitScores:
    """Scores of ``fit`` (its bandwidths, orders and kernel) on the data it was estimated on."""
    x = np.asarray(x, dtype=float)
    cols = [np.asarray(y, dtype=float)]
    if fuzzy is not None:
        cols.append(np.asarray(fuzzy, dtype=float))
    n_cov = 0
    if covariates is not None:
        cov = np.asarray(covariates, dtype=float).reshape(x.size, -1)
        n_cov = cov.shape[1]
        cols.extend(cov.T)
    d = np.column_stack(cols)
    s = _combination(fit, n_cov, fuzzy is not None)
    c = fit.cutoff
    cl = np.asarray(cluster).astype(np.int64)
    fw = None if weights is None else np.asarray(weights, dtype=float)
    left = x < c
    right = ~left
    sides = []
    for mask, h, b in ((left, fit.h[0], fit.b[0]), (right, fit.h[1], fit.b[1])):
        sides.append(_side(x[mask], d[mask], cl[mask], None if fw is None else fw[mask], c, h, b, fit.p, fit.q,
                           fit.deriv, fit.kernel, s))
    return FitScores(sides[0], sides[1])


def cluster_covariance(a: FitScores, b: FitScores, *, robust: bool = True) -> float:
    """Covariance of two estimates whose observations share clusters (zero when no cluster is shared).

    Cluster codes must come from the same coding (the common sample's). Each side's cross products are scaled by
    ``sqrt(f_a f_b)``, the geometric mean of the two fits' CR1 factors.
    """
    total = 0.0
    for sa, sb in ((a.left, b.left), (a.right, b.right)):
        score_a = sa.score_bc if robust else sa.score_cl
        score_b = sb.score_bc if robust else sb.score_cl
        size = int(max(sa.cluster.max(initial=-1), sb.cluster.max(initial=-1))) + 1
        sums_a = np.bincount(sa.cluster, weights=score_a, minlength=size)
        sums_b = np.bincount(sb.cluster, weights=score_b, minlength=size)
        fa = sa.factor_bc if robust else sa.factor_cl
        fb = sb.factor_bc if robust else sb.factor_cl
        total += math.sqrt(fa * fb) * float(np.dot(sums_a, sums_b))
    return total

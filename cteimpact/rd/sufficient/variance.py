"""Residual sums per cell and the "meat" matrices of rdrobust's variance estimators, from cell sums.

A residual is constant-shifted within a cell (``e_i = a (y_i − m_c)`` with ``a`` and ``m_c`` the same for every row
of the cell), so each cell contributes its residual total ``Σ e_i = a (S_c − n_c m_c)`` and its residual sum of
squares ``Σ e_i² = a² (M2_c + n_c (ȳ_c − m_c)²)``:

* heteroskedasticity-robust (``hc1``, ``nn``): ``Σ_i e_i² A_i A_i'`` = ``Σ_c (Σ e²)_c A_c A_c'``;
* cluster-robust CR1: ``Σ_g s_g s_g'`` with ``s_g = Σ_{c ∈ g} A_c (Σ e)_c``, times
  ``(n − 1)/(n − k) · G/(G − 1)`` where ``n`` counts rows (students), ``G`` clusters;
* CR2 (Bell & McCaffrey 2002, as rdrobust implements it): the score ``u_g`` adjusted by ``(I − H_gg)^{-1/2}``
  through the eigen-decomposition of ``C L_g C'`` (``C'C = G^{-1}``); with different bandwidths, of the bias
  regression's ``L_g``;
* CR3 (Pustejovsky & Tipton 2018, as rdrobust implements it): per cluster ``L_g = Σ_{c ∈ g} n_c w_c R_c R_c'`` and
  the score ``u_g + L_g (G − L_g)^{-1} u_g``; with different main and bias bandwidths the robust variance's
  leverage comes from the bias regression (``u_Q + P_g (G_q − L_g)^{-1} u_q``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cteimpact.rd.sufficient.design import Side

__all__ = ["ResidualMoments", "ResidualSums", "cr1_meat", "cr2_meat", "cr2_mixed_meat", "cr3_meat", "cr3_mixed_meat",
           "hetero_meat", "residual_sums"]


@dataclass(frozen=True, eq=False)
class ResidualSums:
    """Per cell: the sum of the residuals and the sum of their squares (one residual per row, a combination of
    the fitted columns' residuals; see :func:`combine`)."""

    total: np.ndarray
    squares: np.ndarray


@dataclass(frozen=True, eq=False)
class ResidualMoments:
    """Per cell and fitted column: the sums of the residuals (cells × m) and of their products (cells × m × m)."""

    total: np.ndarray
    cross: np.ndarray

    def combine(self, s: np.ndarray) -> ResidualSums:
        """The sums of the combined residual ``Σ_j s_j e_ij`` (rdrobust's delta-method weights ``s``)."""
        return ResidualSums(total=self.total @ s, squares=np.einsum("cjk,j,k->c", self.cross, s, s))


def residual_sums(side: Side, centre: np.ndarray, scale: float | np.ndarray) -> ResidualMoments:
    """Residuals ``scale · (v_ij − centre_cj)`` of each fitted column ``j`` summed over each cell's rows, and their
    products summed: ``scale² (M2_c,jk + n_c (v̄_cj − centre_cj)(v̄_ck − centre_ck))``."""
    centre = centre.reshape(len(side.n), -1)
    sc = np.asarray(scale, dtype=float).reshape(-1, 1) if np.ndim(scale) else float(scale)
    gap = side.sums / side.n[:, None] - centre
    total = sc * (side.sums - side.n[:, None] * centre)
    sc2 = (np.asarray(sc) ** 2).reshape(-1, 1, 1) if np.ndim(sc) else float(sc) ** 2
    cross = sc2 * (side.cross + side.n[:, None, None] * gap[:, :, None] * gap[:, None, :])
    return ResidualMoments(total=total, cross=cross)


def hetero_meat(a: np.ndarray, res: ResidualSums) -> np.ndarray:
    """``Σ_i e_i² A_i A_i'`` with ``A`` the per-cell score rows."""
    return (a * res.squares[:, None]).T @ a


def _cluster_index(codes: np.ndarray) -> tuple[np.ndarray, int]:
    labels, inverse = np.unique(codes, return_inverse=True)
    return inverse, len(labels)


def cr1_meat(a: np.ndarray, res: ResidualSums, codes: np.ndarray, *, rows: int, k_df: int) -> np.ndarray:
    """CR1: ``(n − 1)/(n − k) · G/(G − 1) · Σ_g s_g s_g'`` (NaN with a single cluster)."""
    inverse, g = _cluster_index(codes)
    scores = np.zeros((g, a.shape[1]))
    np.add.at(scores, inverse, a * res.total[:, None])
    factor = ((rows - 1) / (rows - k_df)) * (g / (g - 1)) if g > 1 else np.nan
    return factor * (scores.T @ scores)


def cr3_meat(r: np.ndarray, w: np.ndarray, side: Side, res: ResidualSums, codes: np.ndarray,
             gram: np.ndarray) -> np.ndarray:
    """CR3 with one bandwidth: ``Σ_g (u_g + L_g (G − L_g)^{-1} u_g)(…)'``.

    ``r`` are the design rows, ``w`` the kernel weights, ``gram`` is ``G = Σ n w R R'``.
    """
    inverse, g = _cluster_index(codes)
    k = r.shape[1]
    meat = np.zeros((k, k))
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(g + 1))
    for j in range(g):
        idx = order[bounds[j]:bounds[j + 1]]
        rg = r[idx]
        lev = (rg * (side.n[idx] * w[idx])[:, None]).T @ rg
        u = rg.T @ (w[idx] * res.total[idx])
        try:
            adj = np.linalg.solve(gram - lev, u)
        except np.linalg.LinAlgError:
            adj = np.linalg.pinv(gram - lev) @ u
        score = u + lev @ adj
        meat += np.outer(score, score)
    return meat


def cr3_mixed_meat(q_rows: np.ndarray, r_q: np.ndarray, w_b: np.ndarray, side: Side, res: ResidualSums,
                   codes: np.ndarray, gram_q: np.ndarray) -> np.ndarray:
    """CR3 of the bias-corrected estimator when ``h ≠ b``: scores ``Q_g'e_g + P_g (G_q − L_g)^{-1} u_q`` with the
    leverage ``L_g`` of the bias (order ``q``, bandwidth ``b``) regression and ``P_g = Σ n Q R_q'``."""
    inverse, g = _cluster_index(codes)
    k = q_rows.shape[1]
    k_q = r_q.shape[1]
    meat = np.zeros((k, k))
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(g + 1))
    for j in range(g):
        idx = order[bounds[j]:bounds[j + 1]]
        rg = r_q[idx]
        nw = side.n[idx] * w_b[idx]
        lev = (rg * nw[:, None]).T @ rg
        cross = (q_rows[idx] * side.n[idx][:, None]).T @ rg
        try:
            inv = np.linalg.inv(gram_q - lev)
        except np.linalg.LinAlgError:
            inv = np.zeros((k_q, k_q))
        e = res.total[idx]
        u_q = rg.T @ (w_b[idx] * e)
        score = q_rows[idx].T @ e + cross @ (inv @ u_q)
        meat += np.outer(score, score)
    return meat


def _clusters(codes: np.ndarray) -> list[np.ndarray]:
    inverse, g = _cluster_index(codes)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(g + 1))
    return [order[bounds[j]:bounds[j + 1]] for j in range(g)]


def cr2_meat(r: np.ndarray, w: np.ndarray, side: Side, res: ResidualSums, codes: np.ndarray,
             inv_gram: np.ndarray) -> np.ndarray:
    """CR2 with one bandwidth: scores ``u_g + L_g C' V c(σ²) V' C u_g`` where ``C L_g C' = V diag(σ²) V'``, ``C`` the
    upper Cholesky factor of ``G^{-1}`` and ``c(σ²) = ((1 − σ²)^{-1/2} − 1)/σ²`` (0 for ``σ² < 1e-14``); the plain
    score when ``G^{-1}`` has no Cholesky factor."""
    k = r.shape[1]
    meat = np.zeros((k, k))
    try:
        c_half = np.linalg.cholesky(inv_gram).T
    except np.linalg.LinAlgError:
        c_half = None
    for idx in _clusters(codes):
        rg = r[idx]
        lev = (rg * (side.n[idx] * w[idx])[:, None]).T @ rg
        u = rg.T @ (w[idx] * res.total[idx])
        score = u
        if c_half is not None:
            sigma2, vecs = np.linalg.eigh(c_half @ lev @ c_half.T)
            sigma2 = np.maximum(sigma2, 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                coef = np.where(sigma2 < 1e-14, 0, (1 / np.sqrt(np.maximum(1 - sigma2, 1e-8)) - 1) / sigma2)
            adj = vecs @ (coef * (vecs.T @ (c_half @ u)))
            score = u + lev @ (c_half.T @ adj)
        meat += np.outer(score, score)
    return meat


def cr2_mixed_meat(q_rows: np.ndarray, r_q: np.ndarray, w_b: np.ndarray, side: Side, res: ResidualSums,
                   codes: np.ndarray, inv_gram_q: np.ndarray) -> np.ndarray:
    """CR2 of the bias-corrected estimator when ``h ≠ b``: ``Q_g'e_g + P_g Λ_g u_q`` with ``Λ_g`` the CR2 adjustment of
    the bias regression's leverage (on the range of ``L_g``, eigenvalues of ``σ V' G_q^{-1} V σ`` clipped to
    ``[0, 1 − 1e-10]``); the plain score when ``L_g`` vanishes."""
    k = q_rows.shape[1]
    meat = np.zeros((k, k))
    for idx in _clusters(codes):
        rg = r_q[idx]
        lev = (rg * (side.n[idx] * w_b[idx])[:, None]).T @ rg
        e = res.total[idx]
        score = q_rows[idx].T @ e
        sigma2, vecs = np.linalg.eigh(lev)
        sigma = np.sqrt(np.maximum(sigma2, 0.0))
        keep = sigma > (sigma.max() * 1e-10 if sigma.size else 0.0)
        if np.any(keep):
            v_r, sig = vecs[:, keep], sigma[keep]
            t_mat = np.diag(sig) @ (v_r.T @ (inv_gram_q @ v_r)) @ np.diag(sig)
            tau, w_g = np.linalg.eigh(0.5 * (t_mat + t_mat.T))
            tau = np.minimum(np.maximum(tau, 0.0), 1 - 1e-10)
            gamma = 1.0 / np.sqrt(1.0 - tau) - 1.0
            a = v_r @ np.diag(1.0 / sig) @ w_g
            lam = a @ (gamma[:, None] * a.T)
            cross = (q_rows[idx] * side.n[idx][:, None]).T @ rg
            score = score + cross @ (lam @ (rg.T @ (w_b[idx] * e)))
        meat += np.outer(score, score)
    return meat

"""Fast local polynomial RD fits at FIXED bandwidths, several outcomes at once, reproducing rdrobust.

The diagnostic suite runs many auxiliary fits at bandwidths that are already known (covariate balance at the
estimate's bandwidths, placebo cutoffs, the bandwidth grid, attrition). At fixed bandwidths rdrobust's estimators
are closed-form (Calonico, Cattaneo & Titiunik 2014): per side, with kernel weights ``W_h``, ``W_b`` and
polynomial bases ``R_p``, ``R_q`` of ``x - c``,

    beta_p  = (R_p' W_h R_p)^-1 R_p' W_h D                  (conventional)
    beta_bc = (R_p' W_h R_p)^-1 Q_q' D,   Q_q = R_p W_h - h^(p+1) W_b R_q (R_q' W_b R_q)^-1 e_(p+1) L'
                                           L = R_p' W_h ((x - c) / h)^(p+1)     (bias-corrected)

and the variances are sandwich forms in the residuals (nearest-neighbour residuals for ``nn``; plug-in residuals
from the order-``p`` fit on ``h`` and the order-``q`` fit on ``b`` for ``hc0``/``hc1``; summed by cluster with the
CR1 factor for ``cr1``). This module computes them for a matrix of outcomes sharing one running variable, so five
balance covariates cost about one fit. The nearest-neighbour residuals come from rdrobust's own kernel
(``rdrobust.funs._nn_residuals_jit``) so they are identical by construction.

Scope: sharp designs without adjustment covariates, ``deriv = 0``, variance ``nn``, ``hc0``, ``hc1`` or ``cr1``,
optional weights. Anything else goes to rdrobust itself (:func:`supported`). ``tests/rd/test_rd_fixed_bandwidth.py``
checks every quantity against rdrobust 2.1.1 at rtol 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from scipy.linalg import cho_factor, cho_solve

from cteimpact.errors import DesignError
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.stats.kernels import bandwidth_weights, kernel_name

__all__ = ["fit_fixed_bandwidth", "supported"]

SUPPORTED_VCE = ("nn", "hc0", "hc1", "cr1")


def _nn_kernel() -> Any:
    try:
        from rdrobust.funs import _nn_residuals_jit
    except ImportError:  # pragma: no cover - present in the supported rdrobust releases
        return None
    return _nn_residuals_jit


def supported(*, vce: str, fuzzy: np.ndarray | None = None, covariates: np.ndarray | None = None,
              deriv: int = 0, **_: Any) -> bool:
    """Whether :func:`fit_fixed_bandwidth` covers this fit (otherwise call rdrobust)."""
    if vce not in SUPPORTED_VCE or fuzzy is not None or covariates is not None or deriv != 0:
        return False
    return vce != "nn" or _nn_kernel() is not None


def _inv_spd(m: np.ndarray) -> np.ndarray:
    c, low = cho_factor(m, lower=True)
    return cho_solve((c, low), np.eye(m.shape[0]))


def _n_distinct(v: np.ndarray) -> int:
    """Number of distinct values (linear time when ``v`` is sorted, as it is on the diagnostic windows)."""
    if v.size < 2:
        return int(v.size)
    step = np.diff(v)
    if np.all(step >= 0):
        return 1 + int(np.count_nonzero(step))
    return int(np.unique(v).size)


def _dups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``x``: size of each observation's tie group and its 1-based position in it."""
    n = x.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], x[1:] != x[:-1]]))
    sizes = np.diff(np.concatenate([starts, [n]]))
    group = np.repeat(np.arange(starts.size), sizes)
    dups = sizes[group].astype(np.int64)
    dupsid = (np.arange(n) - starts[group] + 1).astype(np.int64)
    return dups, dupsid


class _Side:
    """One side of the cutoff: estimates, weights and variance pieces for every outcome column."""

    def __init__(self, x: np.ndarray, d: np.ndarray, cl: np.ndarray | None, fw: np.ndarray | None, c: float,
                 h: float, b: float, p: int, q: int, kernel: str, vce: str, nnmatch: int, left: bool) -> None:
        w_h = bandwidth_weights(x, cutoff=c, bandwidth=h, kernel=kernel, weights=fw)
        w_b = bandwidth_weights(x, cutoff=c, bandwidth=b, kernel=kernel, weights=fw)
        self.n = int(x.size)
        self.n_h = int(np.count_nonzero(w_h > 0))
        self.n_b = int(np.count_nonzero(w_b > 0))
        side = "left" if left else "right"
        if _n_distinct(x[w_h > 0]) < p + 1 or _n_distinct(x[w_b > 0]) < q + 1:
            raise DesignError(
                f"too few distinct running-variable values with positive weight {side} of the cutoff {c:g} "
                f"({self.n_h} within h = {h:g}, {self.n_b} within b = {b:g}) to fit polynomials of orders {p} and {q}"
            )
        ind = (w_h > 0) if h > b else (w_b > 0)
        xe, de = x[ind], d[ind]
        wh, wb = w_h[ind][:, None], w_b[ind][:, None]
        n = xe.size
        r_q = np.vander(xe - c, q + 1, increasing=True)
        r_p = r_q[:, : p + 1]
        rw_p = r_p * wh
        rw_q = r_q * wb
        inv_g_p = _inv_spd(r_p.T @ rw_p)
        inv_g_q = _inv_spd(r_q.T @ rw_q)
        big_l = rw_p.T @ (((xe - c) / h) ** (p + 1))[:, None]
        m = (r_q @ inv_g_q[p + 1, :])[:, None] * wb
        q_q = rw_p - h ** (p + 1) * m * big_l.reshape(1, -1)
        self.beta_p = inv_g_p @ (rw_p.T @ de)  # (p+1, k)
        beta_q = inv_g_q @ (rw_q.T @ de)
        beta_bc = inv_g_p @ (q_q.T @ de)
        self.tau_cl = self.beta_p[0]
        self.tau_bc = beta_bc[0]
        self.w_cl = (inv_g_p @ rw_p.T)[0]
        self.w_bc = (inv_g_p @ q_q.T)[0]
        if vce == "nn":
            kern = _nn_kernel()
            dups, dupsid = _dups(xe)
            k = de.shape[1]
            z_cols = np.ascontiguousarray(de[:, 1:], dtype=np.float64).reshape(n, k - 1)
            res = kern(np.ascontiguousarray(xe, dtype=np.float64), np.ascontiguousarray(de[:, 0], dtype=np.float64),
                       np.zeros(n, dtype=np.float64), z_cols, dups, dupsid, int(nnmatch), 0, int(k - 1), int(n))
            res_h = res_b = res
        else:
            res_h = de - r_p @ self.beta_p
            res_b = de - r_q @ beta_q
            if vce == "hc1":
                res_h = res_h * math.sqrt(n / (n - (p + 1)))
                res_b = res_b * math.sqrt(n / (n - (q + 1)))
        self.res_h, self.res_b = res_h, res_b
        self.rw_p, self.inv_g_p = rw_p, inv_g_p
        self.cluster: np.ndarray | None = None if cl is None else cl[ind]
        self.n_clusters = None if self.cluster is None else int(np.unique(self.cluster).size)
        self.n_eff = n
        self.p, self.q = p, q

    def variances(self) -> tuple[np.ndarray, np.ndarray]:
        """Conventional and robust variances of ``tau`` on this side, per outcome column."""
        if self.cluster is None:
            v_cl = ((self.w_cl[:, None] * self.res_h) ** 2).sum(axis=0)
            v_rb = ((self.w_bc[:, None] * self.res_b) ** 2).sum(axis=0)
            return v_cl, v_rb
        codes = np.unique(self.cluster, return_inverse=True)[1]
        g, n = self.n_clusters or 0, self.n_eff

        def cr1(w: np.ndarray, r: np.ndarray, k: int) -> np.ndarray:
            f = ((n - 1) / (n - k)) * (g / (g - 1)) if g > 1 else math.nan
            sums = np.stack([np.bincount(codes, weights=w * r[:, j], minlength=g) for j in range(r.shape[1])])
            return f * (sums**2).sum(axis=1)

        return cr1(self.w_cl, self.res_h, self.p + 1), cr1(self.w_bc, self.res_b, self.q + 1)

    def vcov(self, j: int) -> np.ndarray:
        """Conventional variance matrix of the order-``p`` coefficients of outcome column ``j`` (for plots)."""
        score = self.rw_p * self.res_h[:, j][:, None]
        if self.cluster is None:
            meat = score.T @ score
        else:
            codes = np.unique(self.cluster, return_inverse=True)[1]
            g = self.n_clusters or 0
            sums = np.stack([np.bincount(codes, weights=score[:, i], minlength=g) for i in range(score.shape[1])], 1)
            n = self.n_eff
            f = ((n - 1) / (n - (self.p + 1))) * (g / (g - 1)) if g > 1 else math.nan
            meat = f * (sums.T @ sums)
        return self.inv_g_p @ meat @ self.inv_g_p


def fit_fixed_bandwidth(
    ys: np.ndarray | Sequence[np.ndarray],
    x: np.ndarray,
    *,
    cutoff: float,
    h: tuple[float, float],
    b: tuple[float, float],
    p: int = 1,
    q: int | None = None,
    kernel: str = "triangular",
    vce: str = "nn",
    cluster: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    nnmatch: int = 3,
    level: float = 95.0,
    **_: Any,
) -> list[LocalPolynomialFit]:
    """Fit every column of ``ys`` (n × k, or a list of arrays) on the running variable ``x`` at bandwidths
    ``h``, ``b``; one :class:`~cteimpact.rd.adapters.rdrobust.LocalPolynomialFit` per column, equal to rdrobust's.

    ``x`` must be sorted when ``vce='nn'`` (nearest neighbours are found by position, as rdrobust does after
    sorting). Extra keyword arguments (rdrobust options irrelevant at fixed bandwidths) are ignored.
    """
    q = p + 1 if q is None else int(q)
    kernel = kernel_name(kernel)
    x = np.asarray(x, dtype=float)
    d = np.column_stack([np.asarray(v, dtype=float) for v in ys]) if isinstance(ys, (list, tuple)) else \
        np.asarray(ys, dtype=float).reshape(x.size, -1)
    if vce == "nn" and x.size > 1 and np.any(np.diff(x) < 0):
        order = np.argsort(x, kind="stable")
        x, d = x[order], d[order]
        cluster = None if cluster is None else np.asarray(cluster)[order]
        weights = None if weights is None else np.asarray(weights)[order]
    left = x < cutoff
    cl = None if cluster is None else np.asarray(cluster)
    fw = None if weights is None else np.asarray(weights, dtype=float)
    sides = [_Side(x[m], d[m], None if cl is None else cl[m], None if fw is None else fw[m], cutoff, hh, bb, p, q,
                   kernel, vce, nnmatch, is_left)
             for m, hh, bb, is_left in ((left, h[0], b[0], True), (~left, h[1], b[1], False))]
    v_cl_l, v_rb_l = sides[0].variances()
    v_cl_r, v_rb_r = sides[1].variances()
    quant = float(-stats.norm.ppf(abs((1 - level / 100) / 2)))
    fits = []
    n_unique = (_n_distinct(x[left]), _n_distinct(x[~left]))
    for j in range(d.shape[1]):
        tau_cl = float(sides[1].tau_cl[j] - sides[0].tau_cl[j])
        tau_bc = float(sides[1].tau_bc[j] - sides[0].tau_bc[j])
        se_cl = math.sqrt(float(v_cl_l[j] + v_cl_r[j]))
        se_rb = math.sqrt(float(v_rb_l[j] + v_rb_r[j]))
        taus = (tau_cl, tau_bc, tau_bc)
        ses = (se_cl, se_cl, se_rb)
        zs = tuple(t / s if s > 0 else math.nan for t, s in zip(taus, ses, strict=True))
        ps = tuple(float(2 * stats.norm.cdf(-abs(z))) if math.isfinite(z) else math.nan for z in zs)
        ci = tuple((t - quant * s, t + quant * s) for t, s in zip(taus, ses, strict=True))
        clusters = None if cl is None else (sides[0].n_clusters or 0, sides[1].n_clusters or 0)
        fits.append(LocalPolynomialFit(
            estimate=tau_cl, estimate_bc=tau_bc, se=se_cl, se_robust=se_rb, z=(zs[0], zs[1], zs[2]),
            p_value=(ps[0], ps[1], ps[2]), ci=(ci[0], ci[1], ci[2]), h=(float(h[0]), float(h[1])),
            b=(float(b[0]), float(b[1])), n=(sides[0].n, sides[1].n), n_h=(sides[0].n_h, sides[1].n_h),
            n_b=(sides[0].n_b, sides[1].n_b), n_unique=n_unique,
            cutoff=float(cutoff), p=p, q=q, deriv=0, kernel=kernel, vce=vce, bwselect="Manual",
            level=float(level),
            bias=(float(sides[0].tau_cl[j] - sides[0].tau_bc[j]), float(sides[1].tau_cl[j] - sides[1].tau_bc[j])),
            limits=(float(sides[0].tau_cl[j]), float(sides[1].tau_cl[j])),
            limits_bc=(float(sides[0].tau_bc[j]), float(sides[1].tau_bc[j])),
            beta_left=sides[0].beta_p[:, j].copy(), beta_right=sides[1].beta_p[:, j].copy(),
            vcov_left=sides[0].vcov(j), vcov_right=sides[1].vcov(j),
            n_clusters=None if cl is None else int(np.unique(np.concatenate(
                [sides[0].cluster if sides[0].cluster is not None else [],
                 sides[1].cluster if sides[1].cluster is not None else []])).size),
            n_clusters_side=clusters, notes=("fixed-bandwidth fit (cteimpact, rdrobust formulas)",)))
    return fits

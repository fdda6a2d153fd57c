"""Restricted wild cluster bootstrap (WCR) for few clusters: aggregated Callaway–Sant'Anna effects and TWFE.

With few clusters (the pathway setting: ~40 consortia, of which 8 never treated) cluster-robust standard errors
are biased down and normal critical values over-reject. The restricted wild cluster bootstrap-t (Cameron, Gelbach &
Miller 2008; MacKinnon & Webb 2017; Roodman, MacKinnon, Nielsen & Webb 2019, "Fast and wild") imposes the null
hypothesis, flips cluster-level residuals with Rademacher or Webb multipliers, and compares the t-statistic with the
distribution of re-studentised bootstrap t-statistics. Confidence intervals come from inverting the test.

TWFE (:func:`wild_twfe`)
    ``y_it = α_i + λ_t + β D_it + u_it``. By Frisch–Waugh–Lovell the fixed effects are partialled out of ``D``
    (``D̃``) and, per draw, out of the flipped restricted residuals; the bootstrap coefficient and its cluster-robust
    standard error are recomputed exactly for every draw.

Callaway–Sant'Anna aggregates (:func:`wild_recentered`)
    Every ATT(g,t) is a difference of weighted group means (treated and comparison units; in repeated
    cross-sections also pre and post period), and its influence function is a sum of parts, one per group. The
    restricted residuals are ``r = ψ + (θ̂ − θ_0) h`` with ``h`` allocating the excess effect as a regression on a
    treatment dummy would; a bootstrap sample flips them by cluster, and its influence function — hence its
    cluster-robust standard error — is recomputed with every group mean re-estimated in the bootstrap sample
    (each part's flipped values minus their weighted group mean). Without covariates this is exactly the WCR
    bootstrap of the equivalent regressions (checked against refitting every bootstrap sample); with covariates
    the outcome-regression and propensity-score coefficients are held at their estimates (a score bootstrap in the
    sense of Kline & Santos 2012, with the null imposed). :func:`wild_estimand` is the simpler score bootstrap that
    re-estimates only ``θ``; it over-rejects with few comparison clusters and is kept for comparison.

Weights: Rademacher (±1), or Webb's six-point distribution (±√(1/2), ±1, ±√(3/2)), recommended below about 12
clusters. With Rademacher weights and ``2^G`` at most the number of draws, all ``2^G`` sign vectors are enumerated.
The p-value is symmetric: the share of ``|t*| ≥ |t|``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

from cteimpact.errors import DesignError, OptionError
from cteimpact.limits import check_memory

__all__ = ["ScoreParts", "WildResult", "WildWeights", "demean_two_way", "wild_estimand", "wild_recentered",
           "wild_twfe", "wild_weights"]

WildWeights = Literal["rademacher", "webb"]


@dataclass(frozen=True)
class WildResult:
    """Result of a restricted wild cluster bootstrap test and its inverted confidence interval."""

    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    ci_level: float
    n_draws: int
    n_clusters: int
    weights: str
    null: float
    enumerated: bool

    def to_dict(self) -> dict[str, object]:
        return {"estimate": self.estimate, "std_error": self.std_error, "statistic": self.statistic,
                "p_value": self.p_value, "ci_lower": self.ci_lower, "ci_upper": self.ci_upper,
                "ci_level": self.ci_level, "n_draws": self.n_draws, "n_clusters": self.n_clusters,
                "weights": self.weights, "null": self.null, "enumerated": self.enumerated}


def wild_weights(n_clusters: int, n_draws: int, kind: WildWeights, seed: int | None) -> tuple[np.ndarray, bool]:
    """Multipliers ``G × B`` (enumerating all Rademacher sign vectors when there are at most ``n_draws``)."""
    if n_clusters < 2:
        raise DesignError(f"the wild cluster bootstrap needs at least two clusters, got {n_clusters}")
    if n_draws < 1:
        raise OptionError(f"the number of wild bootstrap draws must be positive, got {n_draws}")
    # the multipliers, the integers they are drawn from, and the bootstrap scores built from them
    check_memory(int(n_draws), 8 * 6 * n_clusters, items="draws", breakdown=f"{6 * n_clusters:,} values × 8 bytes",
                 what=f"the wild cluster bootstrap ({n_clusters:,} clusters)",
                 option="--wild-bootstrap, [design.inference] wild_bootstrap")
    if kind == "rademacher":
        if n_clusters <= 20 and 2 ** n_clusters <= n_draws:
            codes = np.arange(2 ** n_clusters, dtype=np.int64)
            bits = (codes[None, :] >> np.arange(n_clusters, dtype=np.int64)[:, None]) & 1
            return 2.0 * bits - 1.0, True
        rng = np.random.default_rng(seed)
        return rng.integers(0, 2, size=(n_clusters, n_draws)).astype(float) * 2 - 1, False
    if kind == "webb":
        rng = np.random.default_rng(seed)
        pts = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
        return pts[rng.integers(0, 6, size=(n_clusters, n_draws))], False
    raise OptionError(f"wild bootstrap weights must be 'rademacher' or 'webb', got {kind!r}")


def _invert(pfun: Callable[[float], float], est: float, se: float, alpha: float) -> tuple[float, float]:
    """Confidence interval ``{θ0 : p(θ0) > alpha}`` by bracketing and bisection on each side of ``est``."""
    if not (se > 0 and math.isfinite(se)):
        return math.nan, math.nan

    def side(direction: float) -> float:
        inside = est
        step = 2.0 * se
        outside = est + direction * step
        k = 0
        while pfun(outside) > alpha:
            inside = outside
            step *= 2
            outside = est + direction * step
            k += 1
            if k > 60:
                return direction * math.inf
        for _ in range(80):
            mid = 0.5 * (inside + outside)
            if pfun(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) <= 1e-10 * max(1.0, abs(est)) + 1e-8 * se:
                break
        return 0.5 * (inside + outside)

    return side(-1.0), side(1.0)


def _tstats(delta: np.ndarray, score: np.ndarray, scale: float) -> np.ndarray:
    se = np.sqrt((score ** 2).sum(axis=0)) * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, delta / se, 0.0)


def _test_and_interval(estimate: float, se: float, tstar: Callable[[float], np.ndarray], v: np.ndarray,
                       enumerated: bool, *, weights: WildWeights, alpha: float, null: float) -> WildResult:
    """The bootstrap-t test of ``θ = null`` and the confidence interval that inverts it.

    ``tstar(θ0)`` gives the bootstrap t-statistics under the restricted null ``θ = θ0`` (one per column of the
    multipliers ``v``); the p-value is the share of them at least as large in magnitude as ``(θ̂ − θ0) / se``.
    """

    def pvalue(theta0: float) -> float:
        t0 = (estimate - theta0) / se if se > 0 else 0.0
        return float(np.mean(np.abs(tstar(theta0)) >= abs(t0) - 1e-12 * max(1.0, abs(t0))))

    p = pvalue(null)
    lo, hi = _invert(pvalue, estimate, se, alpha)
    return WildResult(estimate, se, (estimate - null) / se if se > 0 else math.nan, p, lo, hi, 1 - alpha,
                      int(v.shape[1]), int(v.shape[0]), weights, null, enumerated)


def wild_estimand(psi_c: np.ndarray, h_c: np.ndarray, estimate: float, n: int, *, n_draws: int = 999,
                  weights: WildWeights = "webb", seed: int | None = None, alpha: float = 0.05,
                  null: float = 0.0) -> WildResult:
    """Restricted wild cluster bootstrap-t for an asymptotically linear estimator.

    Parameters
    ----------
    psi_c
        Cluster sums of the influence function ``ψ`` (length G).
    h_c
        Cluster sums of the score derivative ``h`` (length G; they sum to ``n``).
    estimate
        ``θ̂``.
    n
        Number of units (the influence function's denominator).
    """
    g = psi_c.size
    v, enumerated = wild_weights(g, n_draws, weights, seed)
    se = math.sqrt(float(psi_c @ psi_c)) / n

    def tstar(theta0: float) -> np.ndarray:
        r = psi_c + (estimate - theta0) * h_c
        vr = v * r[:, None]
        delta = vr.sum(axis=0) / n
        score = vr - h_c[:, None] * delta[None, :]
        return _tstats(delta, score, 1.0 / n)

    return _test_and_interval(estimate, se, tstar, v, enumerated, weights=weights, alpha=alpha, null=null)


def _indicator(codes: np.ndarray, m: int) -> sparse.csr_matrix:
    """Sparse ``m × N`` matrix with a 1 in row ``codes[i]`` of column ``i``."""
    n = codes.size
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(m, n))


@dataclass(frozen=True, eq=False)
class ScoreParts:
    """Cluster sums of the group-time influence functions split by the groups whose means each 2×2 comparison
    estimates (its *roles*: treated and comparison units; for repeated cross-sections also pre and post period).

    Attributes
    ----------
    psi
        ``K × R × G``: cluster sums of cell ``k``'s influence function over role ``r``.
    share
        ``K × R × G``: cluster shares of the role's weight (each ``[k, r, :]`` sums to 1, or is 0 for an empty role).
    h
        ``K × R × G``: cluster sums of the score derivative ``h`` (restricted-residual allocation, see
        :func:`wild_recentered`).
    cohort_w
        ``C × G``: cluster sums of ``w_i 1{G_i = g}`` (the cohort-weight columns of the influence base).
    count
        ``G``: rows per cluster.
    """

    psi: np.ndarray
    share: np.ndarray
    h: np.ndarray
    cohort_w: np.ndarray
    count: np.ndarray

    def for_estimand(self, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(psi_parts, h_parts, shares)`` (``P × G``) of the estimand with coefficient vector ``coef`` on the
        influence base: one part per (cell, role) with a non-zero coefficient, plus the cohort-weight part."""
        k = self.psi.shape[0]
        a = coef[:k]
        used = np.flatnonzero(a != 0)
        psi = (a[used, None, None] * self.psi[used]).reshape(-1, self.psi.shape[2])
        h = (a[used, None, None] * self.h[used]).reshape(-1, self.h.shape[2])
        share = self.share[used].reshape(-1, self.share.shape[2])
        z = coef[k:k + self.cohort_w.shape[0]] @ self.cohort_w + coef[-1] * self.count
        n = self.count.sum()
        psi = np.vstack([psi, z[None, :]])
        h = np.vstack([h, np.zeros((1, z.size))])
        share = np.vstack([share, (self.count / n)[None, :]])
        return psi, h, share


def wild_recentered(psi_parts: np.ndarray, h_parts: np.ndarray, shares: np.ndarray, estimate: float, n: int, *,
                    n_draws: int = 999, weights: WildWeights = "webb", seed: int | None = None,
                    alpha: float = 0.05, null: float = 0.0) -> WildResult:
    """Restricted wild cluster bootstrap-t that re-estimates the group means in every bootstrap sample.

    The estimator is ``θ̂ − θ = (1/n) Σ_i ψ_i`` with ``ψ`` a sum of parts, each a weighted deviation from the mean
    of one group (a role of a 2×2 comparison). Under ``H0: θ = θ0`` the restricted residuals are
    ``r = ψ + (θ̂ − θ0) h``; a bootstrap sample flips them by cluster (``V_c r``), and its influence function is
    that of the *re-estimated* group means: each part's flipped values minus their weighted group mean
    (``V_c r_pc − share_pc Σ_c' V_c' r_pc'``). For a difference in group means this is exactly the WCR bootstrap of
    the regression on a group dummy with CR0 standard errors (tests/did/test_did_bootstrap.py checks it against
    refitting every bootstrap sample).

    Parameters
    ----------
    psi_parts, h_parts, shares
        ``P × G`` cluster sums of each part of ``ψ`` and of ``h``, and each part's cluster weight shares.
    estimate, n
        ``θ̂`` and the number of units (the influence function's denominator).
    """
    g = psi_parts.shape[1]
    v, enumerated = wild_weights(g, n_draws, weights, seed)
    psi_tot = psi_parts.sum(axis=0)
    h_tot = h_parts.sum(axis=0)
    se = math.sqrt(float(psi_tot @ psi_tot)) / n

    def pieces(parts: np.ndarray, tot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = parts @ v  # P × B: Σ_c V_c part_pc
        score = v * tot[:, None] - shares.T @ u
        return score, (tot @ v) / n

    s_psi, d_psi = pieces(psi_parts, psi_tot)
    s_h, d_h = pieces(h_parts, h_tot)

    def tstar(theta0: float) -> np.ndarray:
        shift = estimate - theta0
        return _tstats(d_psi + shift * d_h, s_psi + shift * s_h, 1.0 / n)

    return _test_and_interval(estimate, se, tstar, v, enumerated, weights=weights, alpha=alpha, null=null)


def demean_two_way(z: np.ndarray, unit: np.ndarray, time: np.ndarray, *, tol: float = 1e-13,
                   max_iter: int = 10_000) -> np.ndarray:
    """Residuals of ``z`` (``N`` or ``N × m``) on unit and time dummies.

    Balanced panels: one exact sweep (``z − unit mean − time mean + grand mean``); otherwise alternating
    projections until the unit means of the residuals vanish (relative tolerance ``tol``). Group means use sparse
    indicator products, so many columns (bootstrap draws) are demeaned at once.
    """
    z2 = np.asarray(z, dtype=float)
    single = z2.ndim == 1
    out = (z2[:, None] if single else z2).copy()
    n_u = int(unit.max()) + 1
    n_t = int(time.max()) + 1
    su, st = _indicator(unit, n_u), _indicator(time, n_t)
    cu = np.asarray(su.sum(axis=1)).ravel()
    ct = np.asarray(st.sum(axis=1)).ravel()
    balanced = bool(np.all(cu == n_t) and np.all(ct == n_u) and unit.size == n_u * n_t)
    if balanced:
        um = (su @ out) / cu[:, None]
        tm = (st @ out) / ct[:, None]
        out = out - um[unit] - tm[time] + out.mean(axis=0, keepdims=True)
        return out[:, 0] if single else out
    for _ in range(max_iter):
        scale = float(np.abs(out).max()) if out.size else 0.0
        out -= ((su @ out) / cu[:, None])[unit]
        out -= ((st @ out) / ct[:, None])[time]
        resid = float(np.abs((su @ out) / cu[:, None]).max()) if out.size else 0.0
        if resid <= tol * max(1.0, scale):
            break
    return out[:, 0] if single else out


def wild_twfe(y: np.ndarray, d: np.ndarray, unit: np.ndarray, time: np.ndarray, cluster: np.ndarray, *,
              n_draws: int = 999, weights: WildWeights = "webb", seed: int | None = None, alpha: float = 0.05,
              null: float = 0.0, chunk: int = 64, dof_k: int | None = None) -> WildResult:
    """Restricted wild cluster bootstrap-t for the TWFE coefficient on ``d`` (codes ``unit``, ``time`` and
    ``cluster`` start at 0). ``dof_k`` is the parameter count of the small-sample factor of the reported
    standard error (it cancels in the bootstrap p-value)."""
    n_obs = y.size
    g = int(cluster.max()) + 1
    v, enumerated = wild_weights(g, n_draws, weights, seed)
    dt = demean_two_way(d, unit, time)
    yt = demean_two_way(y, unit, time)
    sdd = float(dt @ dt)
    if not sdd > 0:
        raise DesignError("the treatment has no variation after removing unit and time effects")
    beta = float(dt @ yt) / sdd
    resid = yt - dt * beta
    n_units = int(unit.max()) + 1
    n_periods = int(time.max()) + 1
    k = dof_k if dof_k is not None else n_units + n_periods - 1 + 1
    scale = math.sqrt(g / (g - 1) * (n_obs - 1) / max(n_obs - k, 1))
    h_c = np.bincount(cluster, weights=dt * dt, minlength=g)

    def crse(score_c: np.ndarray) -> float:
        return math.sqrt(float(score_c @ score_c)) / sdd * scale

    se = crse(np.bincount(cluster, weights=dt * resid, minlength=g))

    # Everything below is linear in the null value beta0: with restricted residuals u_r = yt - beta0 * dt,
    # M(V*u_r) = M(V*yt) - beta0 * M(V*dt). Precompute the cluster scores of both parts once (G x B).
    b_draws = v.shape[1]
    s_y = np.empty((g, b_draws))
    s_d = np.empty((g, b_draws))
    a_y = np.empty(b_draws)
    a_d = np.empty(b_draws)
    sc = _indicator(cluster, g)
    for c0 in range(0, b_draws, chunk):
        vb = v[:, c0:c0 + chunk]
        vcl = vb[cluster]
        for src, s_out, a_out in ((yt, s_y, a_y), (dt, s_d, a_d)):
            flipped = src[:, None] * vcl
            mz = demean_two_way(flipped, unit, time)
            a_out[c0:c0 + vb.shape[1]] = (dt @ flipped) / sdd
            s_out[:, c0:c0 + vb.shape[1]] = sc @ (dt[:, None] * mz)

    def tstar(beta0: float) -> np.ndarray:
        delta = a_y - beta0 * a_d
        score = (s_y - beta0 * s_d) - h_c[:, None] * delta[None, :]
        return _tstats(delta, score, scale / sdd)

    return _test_and_interval(beta, se, tstar, v, enumerated, weights=weights, alpha=alpha, null=null)

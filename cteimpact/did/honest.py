"""HonestDiD-style sensitivity of event-study effects to violations of parallel trends (Rambachan & Roth 2023).

Rambachan & Roth (2023, *Review of Economic Studies* 90(5), 2555–2591) write the event-study coefficients as
``β = δ + τ`` (``τ_pre = 0``), where ``δ`` is the difference in trends, and bound the post-treatment ``δ`` by what
the pre-treatment coefficients reveal. The target is ``θ = l'τ_post``. Two restrictions are provided:

``smoothness`` — Δ^SD(M)
    ``|(δ_{t+1} − δ_t) − (δ_t − δ_{t−1})| <= M`` for every period (the slope of the differential trend changes by
    at most ``M`` per period; ``M = 0`` allows exactly linear trends). Confidence intervals are the optimal
    fixed-length intervals (FLCI) of Armstrong & Kolesár (2018) for affine estimators ``a'β̂``: for an estimator
    unbiased under linear trends (``Σ_k k·a_{−k} = Σ_t t·l_t``), the worst-case bias over Δ^SD(M) is
    ``M (Σ_{r>=1} |Σ_{t>r}(t−r) l_t| + |Σ_t t l_t| + Σ_{r>=1} |Σ_{k>r}(k−r) a_{−k}|)`` (our derivation from the
    second-difference representation of δ), and the interval is ``a'β̂ ± cv_α(bias/sd)·sd`` with ``cv_α(b)`` the
    ``1 − α`` quantile of ``|N(b, 1)|`` (computed exactly, not simulated). The pre-period weights are chosen to
    minimise the half-length: for each standard deviation bound ``h`` the minimal-bias weights solve a convex
    program (SLSQP), and ``h`` is optimised by bounded scalar minimisation between the least-variance estimator
    and the least-bias estimator.

``relative_magnitude`` — Δ^RM(M̄)
    Post-treatment first differences of ``δ`` are at most ``M̄`` times the largest pre-treatment first difference.
    Δ^RM is a union of polyhedra (which pre-period difference is largest, and its sign); for each, the moment
    inequalities ``A(β̂ − τ) <= 0`` on the post-period rows are tested with the conditional–least-favourable
    hybrid test of Andrews, Roth & Pakes (2023) (``"C-LF"``, ``κ = α/10``), and the confidence set is the union
    of the acceptance regions over a grid of ``θ`` (HonestDiD's defaults: 1000 points on ``±20`` standard
    deviations), refined at the endpoints by bisection. The least-favourable critical value is simulated (1000
    seeded draws), so results agree with R ``HonestDiD`` to grid and simulation precision, not to many digits.

The breakdown value is the largest ``M`` (or ``M̄``) at which the interval still excludes zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from cteimpact.errors import EstimationError, OptionError

__all__ = ["HonestResult", "flci_smoothness", "honest_sensitivity", "rm_confidence_set"]

Restriction = Literal["relative_magnitude", "smoothness"]


@dataclass(frozen=True, eq=False)
class HonestResult:
    """Robust confidence intervals over a range of restriction values.

    Attributes
    ----------
    restriction
        ``"relative_magnitude"`` (values are ``M̄``) or ``"smoothness"`` (values are ``M``).
    method
        ``"C-LF"`` or ``"FLCI"``.
    table
        ``value, lb, ub`` for each restriction value.
    original
        The conventional interval ``l'β̂_post ± z sd``.
    breakdown
        Largest restriction value at which the robust interval excludes 0 (``0`` if even the smallest value
        includes 0; ``None`` if not computed).
    """

    restriction: str
    method: str
    table: pd.DataFrame
    original: tuple[float, float]
    breakdown: float | None
    l_vec: tuple[float, ...]
    n_pre: int
    n_post: int
    alpha: float

    def to_dict(self) -> dict[str, object]:
        return {"restriction": self.restriction, "method": self.method,
                "table": self.table.to_dict(orient="records"), "original": list(self.original),
                "breakdown": self.breakdown, "l_vec": list(self.l_vec), "n_pre": self.n_pre,
                "n_post": self.n_post, "alpha": self.alpha}


# ---------------------------------------------------------------------------------------------------------------
# smoothness: FLCI
# ---------------------------------------------------------------------------------------------------------------


def _folded_normal_cv(b: float, alpha: float) -> float:
    """``c`` with ``P(|N(b, 1)| <= c) = 1 − α``."""
    b = abs(b)

    def f(c: float) -> float:
        return float(stats.norm.cdf(c - b) - stats.norm.cdf(-c - b) - (1 - alpha))

    hi = b + stats.norm.ppf(1 - alpha / 2) + 10.0
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-14))


def flci_smoothness(betahat: np.ndarray, sigma: np.ndarray, n_pre: int, l_vec: np.ndarray, m: float,
                    alpha: float = 0.05) -> tuple[float, float, np.ndarray]:
    """Optimal FLCI under Δ^SD(M): ``(lower, upper, estimator weights on β̂)``."""
    k = n_pre
    tbar = l_vec.size
    if k < 1:
        raise OptionError("the smoothness restriction needs at least one pre-period coefficient")
    sig_pre = sigma[:k, :k]
    sig_pp = sigma[:k, k:]
    var_post = float(l_vec @ sigma[k:, k:] @ l_vec)
    tt = np.arange(1, tbar + 1, dtype=float)
    s_tl = float(tt @ l_vec)
    c_post = sum(abs(float(np.dot(tt[r:] - r, l_vec[r:]))) for r in range(1, tbar)) + abs(s_tl)
    kk = np.arange(1, k + 1, dtype=float)  # k periods before the reference
    ar = np.array([[max(kk[j] - r, 0.0) if kk[j] > r else 0.0 for j in range(k)] for r in range(1, k)])

    def pre_vec(mv: np.ndarray) -> np.ndarray:
        return mv[::-1]  # m_k (k periods before) -> chronological order of β̂_pre

    def variance(mv: np.ndarray) -> float:
        a = pre_vec(mv)
        return float(a @ sig_pre @ a + 2 * a @ sig_pp @ l_vec + var_post)

    def half_from(mv: np.ndarray) -> float:
        sd = math.sqrt(max(variance(mv), 0.0))
        bias = m * (c_post + (np.abs(ar @ mv).sum() if k > 1 else 0.0))
        return _folded_normal_cv(bias / sd, alpha) * sd if sd > 0 else bias

    # least-bias estimator: all weight on the nearest pre-period
    m_bias = np.zeros(k)
    m_bias[0] = s_tl
    # least-variance estimator subject to the trend constraint (closed form)
    p = np.eye(k)[::-1]
    q = p.T @ sig_pre @ p
    c = 2 * p.T @ sig_pp @ l_vec
    kkm = np.vstack([np.hstack([2 * q, kk[:, None]]), np.hstack([kk[None, :], [[0.0]]])])
    rhs = np.concatenate([-c, [s_tl]])
    m_var = np.linalg.solve(kkm, rhs)[:k]
    if k == 1:
        best = m_bias
    elif m == 0.0:
        best = m_var
    else:
        h_min = math.sqrt(variance(m_var))
        h_max = math.sqrt(variance(m_bias))

        def min_bias_given_h(h: float) -> np.ndarray:
            x0 = np.concatenate([m_bias, np.abs(ar @ m_bias) + 1e-12])
            cons = [
                {"type": "ineq", "fun": lambda x: x[k:] - ar @ x[:k], "jac": lambda x: np.hstack([-ar, np.eye(k - 1)])},
                {"type": "ineq", "fun": lambda x: x[k:] + ar @ x[:k], "jac": lambda x: np.hstack([ar, np.eye(k - 1)])},
                {"type": "eq", "fun": lambda x: np.array([kk @ x[:k] - s_tl]),
                 "jac": lambda x: np.concatenate([kk, np.zeros(k - 1)])[None, :]},
                {"type": "ineq", "fun": lambda x: np.array([h * h - variance(x[:k])])},
            ]
            obj = np.concatenate([np.zeros(k), np.ones(k - 1)])
            start = x0 if variance(m_bias) <= h * h else np.concatenate([m_var, np.abs(ar @ m_var)])
            res = optimize.minimize(lambda x: float(obj @ x), start, jac=lambda x: obj, constraints=cons,
                                    method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
            return res.x[:k] if res.success else start[:k]

        if h_max <= h_min * (1 + 1e-12):
            best = m_bias
        else:
            def objective(h: float) -> float:
                return half_from(min_bias_given_h(h))

            opt = optimize.minimize_scalar(objective, bounds=(h_min, h_max), method="bounded",
                                           options={"xatol": 1e-10 * h_max})
            cands = [(objective(h_min), min_bias_given_h(h_min)), (opt.fun, min_bias_given_h(float(opt.x))),
                     (half_from(m_bias), m_bias)]
            best = min(cands, key=lambda z: z[0])[1]
    half = half_from(best)
    weights = np.concatenate([pre_vec(best), l_vec])
    centre = float(weights @ betahat)
    return centre - half, centre + half, weights


# ---------------------------------------------------------------------------------------------------------------
# relative magnitudes: ARP conditional / least-favourable hybrid
# ---------------------------------------------------------------------------------------------------------------


def _a_rm(k: int, tbar: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """Constraint matrix of Δ^RM for the largest pre-period difference at ``s`` (``-(k-1) <= s <= 0``) with the
    given sign; columns are ``δ`` without the reference period (``k`` pre, ``tbar`` post)."""
    n = k + tbar + 1  # including δ_0
    atil = np.zeros((k + tbar, n))
    for r in range(k + tbar):
        atil[r, r] = -1.0
        atil[r, r + 1] = 1.0
    vmax = np.zeros(n)
    vmax[k + s - 1] = -1.0
    vmax[k + s] = 1.0
    if not positive:
        vmax = -vmax
    aub = np.vstack([np.tile(vmax, (k, 1)), np.tile(mbar * vmax, (tbar, 1))])
    a = np.vstack([atil - aub, -atil - aub])
    a = a[(a * a).sum(axis=1) > 1e-10]
    return np.delete(a, k, axis=1)


def _gamma_matrix(l_vec: np.ndarray) -> np.ndarray:
    """An invertible matrix whose first row is ``l'`` (completed with unit vectors)."""
    tbar = l_vec.size
    rows = [l_vec]
    for j in range(tbar):
        cand = np.vstack([*rows, np.eye(tbar)[j]])
        if np.linalg.matrix_rank(cand) == cand.shape[0]:
            rows.append(np.eye(tbar)[j])
        if len(rows) == tbar:
            break
    g = np.vstack(rows)
    if abs(np.linalg.det(g)) < 1e-12:
        raise EstimationError("could not complete l_vec to a basis")
    return g


def _eta_lp(y: np.ndarray, x: np.ndarray, sd: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``min η s.t. y − X τ <= η sd``: value, solution, and the dual weights (>= 0) of the constraints."""
    mrows, kdim = x.shape
    c = np.concatenate([[1.0], np.zeros(kdim)])
    a_ub = -np.column_stack([sd, x])
    res = optimize.linprog(c, A_ub=a_ub, b_ub=-y, bounds=[(None, None)] * (kdim + 1), method="highs")
    if res.status != 0:
        return math.nan, np.full(kdim, np.nan), np.full(mrows, np.nan)
    lam = -np.asarray(res.ineqlin.marginals)
    return float(res.fun), res.x[1:], lam


MAX_VERTEX_SUBSETS = 50_000


def _dual_vertices(sd: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """Vertices of the dual feasible set ``{λ >= 0 : λ'sd = 1, λ'X = 0}`` of the ARP linear program.

    By LP duality ``η(y) = max_v v'y`` over these vertices, so the test statistic, the optimal dual solution and
    the conditioning event of the ARP test (the values of ``c`` for which the optimal vertex stays optimal when
    ``y`` moves along ``Σγ``) follow exactly from the vertex list, for every ``θ`` and every simulated draw,
    without solving a linear program each time. Returns ``None`` when there are too many candidate bases.

    Every candidate basis (``k + 1`` rows of ``[sd, X]``) is solved in one batched call."""
    m, k = x.shape
    w = np.column_stack([sd, x])
    n_sub = math.comb(m, k + 1)
    if n_sub > MAX_VERTEX_SUBSETS:
        return None
    # scale each column on its own: the standard deviations (outcome units, e.g. dollars) and the constraint
    # coefficients (order 1) differ by orders of magnitude, and one common scale would make every basis look
    # singular; column scaling does not change which bases are singular
    col_scale = np.abs(w).max(axis=0)
    col_scale[col_scale == 0] = 1.0
    subsets = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(m), k + 1)), dtype=np.intp,
                          count=n_sub * (k + 1)).reshape(n_sub, k + 1)
    bases = w[subsets]  # (n_sub, k + 1, k + 1): rows of the basis
    regular = np.abs(np.linalg.det(bases / col_scale)) >= 1e-12
    subsets, bases = subsets[regular], bases[regular]
    if subsets.shape[0] == 0:
        return np.zeros((0, m))
    e1 = np.zeros((subsets.shape[0], k + 1, 1))
    e1[:, 0, 0] = 1.0
    lam = np.linalg.solve(np.swapaxes(bases, 1, 2), e1)[:, :, 0]
    feasible = lam.min(axis=1) >= -1e-10 * np.maximum(1.0, np.abs(lam).max(axis=1))
    subsets, lam = subsets[feasible], lam[feasible]
    if subsets.shape[0] == 0:
        return np.zeros((0, m))
    verts = np.zeros((subsets.shape[0], m))
    np.put_along_axis(verts, subsets, np.maximum(lam, 0.0), axis=1)
    return np.unique(np.round(verts, 14), axis=0)


def _lf_cv(verts: np.ndarray | None, x: np.ndarray | None, sig_y: np.ndarray, kappa: float, sims: int,
           seed: int) -> float:
    """Least-favourable critical value: the ``1 − κ`` quantile of ``η(−ξ)``, ``ξ ~ N(0, Σ_Y)`` (seeded)."""
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.diag(sig_y))
    # Σ_Y = AΣA' is positive semi-definite by construction; rounding noise must not raise a warning
    draws = rng.multivariate_normal(np.zeros(sig_y.shape[0]), sig_y, size=sims, method="eigh", check_valid="ignore")
    if x is None or x.shape[1] == 0:
        eta = (draws / sd).max(axis=1)
    elif verts is not None:
        eta = (-draws @ verts.T).max(axis=1) if verts.size else np.full(sims, -np.inf)
    else:
        eta = np.array([_eta_lp(-d, x, sd)[0] for d in draws])
    eta = eta[np.isfinite(eta)]
    if eta.size == 0:
        raise EstimationError("HonestDiD: the least-favourable critical value is undefined (the dual of the "
                              "ARP linear program has no feasible vertex for these event-study coefficients)")
    return float(np.quantile(eta, 1 - kappa))


def _truncnorm_ppf(p: float, lo: float, hi: float) -> float:
    """Quantile ``p`` of the standard normal truncated to ``[lo, hi]``.

    The same log-space formula as ``scipy.stats.truncnorm.ppf`` (agrees to 1e-14 relative), written for scalars
    because the ARP test calls it hundreds of thousands of times and scipy's per-call overhead dominated."""
    if not lo < hi:
        return lo
    if lo > 0:  # upper tail: reflect, so that the log-CDFs below are computed where they are accurate
        return -_truncnorm_ppf(1.0 - p, -hi, -lo)
    if p <= 0.0:
        return lo
    if p >= 1.0:
        return hi
    log_cdf = np.logaddexp(math.log1p(-p) + special.log_ndtr(lo), math.log(p) + special.log_ndtr(hi))
    return float(special.ndtri_exp(log_cdf))


def _vlo_vup_nonuisance(y: np.ndarray, sigma: np.ndarray, a: np.ndarray, d: np.ndarray
                        ) -> tuple[float, float, float, float, float]:
    """Conditional test pieces for max normalised moment without nuisance parameters."""
    st = np.sqrt(np.diag(a @ sigma @ a.T))
    at = a / st[:, None]
    dt = d / st
    mom = at @ y - dt
    j = int(np.argmax(mom))
    gamma = at[j]
    abar = at - at[j][None, :]
    dbar = dt - dt[j]
    sg2 = float(gamma @ sigma @ gamma)
    c = sigma @ gamma / sg2
    z = y - c * float(gamma @ y)
    ac = abar @ c
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = (dbar - abar @ z) / ac
    vlo = float(obj[ac < 0].max()) if np.any(ac < 0) else -math.inf
    vup = float(obj[ac > 0].min()) if np.any(ac > 0) else math.inf
    return float(mom[j]), float(dt[j]), vlo, vup, math.sqrt(sg2)


def _test_nonuisance(y: np.ndarray, sigma: np.ndarray, a: np.ndarray, d: np.ndarray, alpha: float, kappa: float,
                     lf_cv: float) -> bool:
    mom, dtj, vlo, vup, sgb = _vlo_vup_nonuisance(y, sigma, a, d)
    if mom > lf_cv:
        return True
    alt = (alpha - kappa) / (1 - kappa)
    # critical value of the truncated normal N(dtj, sgb²) on [vlo, vup]
    lo, hi = (vlo - dtj) / sgb, (vup - dtj) / sgb
    cv = max(0.0, dtj + sgb * _truncnorm_ppf(1 - alt, lo, hi))
    return bool(mom + dtj > cv)


def _test_nuisance(y: np.ndarray, x: np.ndarray, sigma: np.ndarray, alpha: float, kappa: float, lf_cv: float,
                   verts: np.ndarray | None) -> bool:
    """ARP conditional–LF hybrid test of ``∃τ: E[y] − Xτ <= 0`` (reject = True)."""
    if verts is None:
        return _test_nuisance_lp(y, x, sigma, alpha, kappa, lf_cv)
    if verts.shape[0] == 0:
        return False  # the LP is unbounded below: never reject (as HonestDiD)
    vals = verts @ y
    j = int(np.argmax(vals))
    eta = float(vals[j])
    if eta > lf_cv:
        return True
    gam = verts[j]
    s2 = float(gam @ sigma @ gam)
    if abs(s2) < np.finfo(float).eps:
        return eta > 0
    sgb = math.sqrt(s2)
    bvec = sigma @ gam / s2
    s_t = y - bvec * float(gam @ y)
    coef = verts @ bvec - 1.0
    const = verts @ s_t
    others = np.arange(verts.shape[0]) != j
    up = others & (coef > 1e-12)
    dn = others & (coef < -1e-12)
    vup = float((-const[up] / coef[up]).min()) if up.any() else math.inf
    vlo = float((const[dn] / (-coef[dn])).max()) if dn.any() else -math.inf
    return _conditional_rejects(eta, sgb, min(vlo, eta), max(vup, eta), lf_cv, alpha, kappa)


def _conditional_rejects(eta: float, sgb: float, vlo: float, vup: float, lf_cv: float, alpha: float,
                         kappa: float) -> bool:
    """Second stage of the ARP hybrid test: reject when the statistic exceeds the ``1 − (α − κ)/(1 − κ)`` quantile
    of the normal truncated to the conditioning interval ``[vlo, min(vup, lf_cv)]`` (all scaled by ``sgb``)."""
    alt = (alpha - kappa) / (1 - kappa)
    zlo = vlo / sgb
    zup = min(vup, lf_cv) / sgb
    maxstat = eta / sgb
    if not (zlo <= maxstat <= zup):
        return False
    cv = max(0.0, _truncnorm_ppf(1 - alt, zlo, zup))
    return bool(maxstat > cv)


def _test_nuisance_lp(y: np.ndarray, x: np.ndarray, sigma: np.ndarray, alpha: float, kappa: float,
                      lf_cv: float) -> bool:
    """LP version of :func:`_test_nuisance` for problems too large for vertex enumeration."""
    sd = np.sqrt(np.diag(sigma))
    eta, _, lam = _eta_lp(y, x, sd)
    if not math.isfinite(eta):
        return False
    if eta > lf_cv:
        return True
    gam = np.maximum(lam, 0.0)
    s2 = float(gam @ sigma @ gam)
    if abs(s2) < np.finfo(float).eps:
        return eta > 0
    sgb = math.sqrt(s2)
    vlo, vup = _vlo_vup_dual(eta, y, x, sd, gam, sigma)
    return _conditional_rejects(eta, sgb, vlo, vup, lf_cv, alpha, kappa)


def _vlo_vup_dual(eta: float, y: np.ndarray, x: np.ndarray, sd: np.ndarray, gam: np.ndarray,
                  sigma: np.ndarray) -> tuple[float, float]:
    """Truncation bounds by the dual approach of ARP: the range of ``c`` for which the dual LP's value at
    ``s + b c`` equals ``c`` (bisection, tolerance 1e-6 as HonestDiD)."""
    w = np.column_stack([sd, x])
    s2 = float(gam @ sigma @ gam)
    bvec = sigma @ gam / s2
    s_t = y - bvec * float(gam @ y)
    beq = np.zeros(w.shape[1])
    beq[0] = 1.0

    def is_sol(c: float) -> bool:
        f = s_t + bvec * c
        res = optimize.linprog(-f, A_eq=w.T, b_eq=beq, bounds=[(0, None)] * w.shape[0], method="highs")
        return res.status == 0 and abs(c + float(res.fun)) <= 1e-6

    sgb = math.sqrt(s2)
    lo0, hi0 = min(-100.0, eta - 20 * sgb), max(100.0, eta + 20 * sgb)
    if not is_sol(eta):
        return eta, math.inf
    vup, vlo = math.inf, -math.inf
    if not is_sol(hi0):
        lo, hi = eta, hi0
        while hi - lo > 1e-6:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if is_sol(mid) else (lo, mid)
        vup = 0.5 * (lo + hi)
    if not is_sol(lo0):
        lo, hi = lo0, eta
        while hi - lo > 1e-6:
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if is_sol(mid) else (mid, hi)
        vlo = 0.5 * (lo + hi)
    return vlo, vup


def rm_confidence_set(betahat: np.ndarray, sigma: np.ndarray, n_pre: int, l_vec: np.ndarray, mbar: float, *,
                      alpha: float = 0.05, grid_points: int = 1000, grid: tuple[float, float] | None = None,
                      lf_sims: int = 1000, seed: int = 0, refine: bool = True) -> tuple[float, float]:
    """Robust confidence set for ``θ = l'τ_post`` under Δ^RM(M̄) (C-LF hybrid): ``(lower, upper)``."""
    k, tbar = n_pre, l_vec.size
    if k < 1:
        raise OptionError("relative magnitudes need at least one pre-period coefficient")
    sd_theta = math.sqrt(float(l_vec @ sigma[k:, k:] @ l_vec))
    lo_g, hi_g = grid if grid is not None else (-20 * sd_theta, 20 * sd_theta)
    theta_grid = np.linspace(lo_g, hi_g, grid_points)
    kappa = alpha / 10
    gam = _gamma_matrix(l_vec)
    ginv = np.linalg.inv(gam)
    accepted = np.zeros(grid_points, dtype=bool)
    tests = []
    for s in range(-(k - 1), 1):
        for positive in (True, False):
            a = _a_rm(k, tbar, mbar, s, positive)
            post_rows = np.flatnonzero(np.abs(a[:, k:]).sum(axis=1) > 0)
            y_full = a @ betahat
            sig_y = a @ sigma @ a.T
            test: Callable[[float], bool]
            if tbar == 1:
                a_r = a[post_rows]
                lf = _lf_cv(None, None, a_r @ sigma @ a_r.T, kappa, lf_sims, seed)
                e_post = np.zeros(k + tbar)
                e_post[k] = 1.0

                def test_nn(theta: float, a_r: np.ndarray = a_r, lf: float = lf, e_post: np.ndarray = e_post) -> bool:
                    y = betahat - e_post * theta
                    return not _test_nonuisance(y, sigma, a_r, np.zeros(a_r.shape[0]), alpha, kappa, lf)

                test = test_nn
            else:
                agi = a[:, k:] @ ginv
                y_r = y_full[post_rows]
                x_r = agi[post_rows, 1:]
                one_r = agi[post_rows, 0]
                sig_r = sig_y[np.ix_(post_rows, post_rows)]
                verts = _dual_vertices(np.sqrt(np.diag(sig_r)), x_r)
                lf = _lf_cv(verts, x_r, sig_r, kappa, lf_sims, seed)

                def test_nu(theta: float, y_r: np.ndarray = y_r, x_r: np.ndarray = x_r, one_r: np.ndarray = one_r,
                            sig_r: np.ndarray = sig_r, lf: float = lf, verts: np.ndarray | None = verts) -> bool:
                    return not _test_nuisance(y_r - one_r * theta, x_r, sig_r, alpha, kappa, lf, verts)

                test = test_nu
            acc = np.array([test(float(t)) for t in theta_grid])
            accepted |= acc
            tests.append((test, acc))
    if not accepted.any():
        return math.nan, math.nan
    idx = np.flatnonzero(accepted)
    lo_i, hi_i = int(idx[0]), int(idx[-1])
    lower, upper = float(theta_grid[lo_i]), float(theta_grid[hi_i])
    if not refine:
        return lower, upper

    def any_accepts(theta: float) -> bool:
        return any(t(theta) for t, _ in tests)

    def bisect(inside: float, outside: float) -> float:
        for _ in range(40):
            mid = 0.5 * (inside + outside)
            if any_accepts(mid):
                inside = mid
            else:
                outside = mid
        return inside

    if lo_i > 0:
        lower = bisect(lower, float(theta_grid[lo_i - 1]))
    if hi_i < grid_points - 1:
        upper = bisect(upper, float(theta_grid[hi_i + 1]))
    return lower, upper


# ---------------------------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------------------------


def honest_sensitivity(betahat: Sequence[float] | np.ndarray, sigma: np.ndarray, *, n_pre: int,
                       l_vec: Sequence[float] | np.ndarray | None = None,
                       restriction: Restriction = "relative_magnitude", values: Sequence[float] | None = None,
                       alpha: float = 0.05, breakdown: bool = True, grid_points: int = 1000, lf_sims: int = 1000,
                       seed: int = 0, refine: bool = True) -> HonestResult:
    """Sensitivity of ``θ = l'τ_post`` to violations of parallel trends.

    Parameters
    ----------
    betahat, sigma
        Event-study coefficients (pre-periods first, chronological, reference period excluded) and covariance.
    n_pre
        Number of pre-period coefficients.
    l_vec
        Weights on the post-period effects (default: the first post period).
    restriction
        ``"relative_magnitude"`` (Δ^RM, C-LF intervals; default values ``M̄ = 0, 0.5, 1, 1.5, 2``) or
        ``"smoothness"`` (Δ^SD, FLCI; default ``M`` from 0 to twice the largest pre-period second difference's
        standard error, 6 values).
    breakdown
        Also compute the breakdown value (bisection on the restriction value).
    """
    b = np.asarray(betahat, dtype=float).reshape(-1)
    sig = np.asarray(sigma, dtype=float)
    if sig.shape != (b.size, b.size):
        raise OptionError(f"sigma must be {b.size}×{b.size}, got {sig.shape}")
    if not 1 <= n_pre < b.size:
        raise OptionError(f"n_pre must be between 1 and {b.size - 1}, got {n_pre}")
    tbar = b.size - n_pre
    lv = np.zeros(tbar) if l_vec is None else np.asarray(l_vec, dtype=float).reshape(-1)
    if l_vec is None:
        lv[0] = 1.0
    if lv.size != tbar:
        raise OptionError(f"l_vec needs {tbar} values (one per post period), got {lv.size}")
    if restriction not in ("relative_magnitude", "smoothness"):
        raise OptionError(f"restriction must be 'relative_magnitude' or 'smoothness', got {restriction!r}")
    z = float(stats.norm.ppf(1 - alpha / 2))
    est = float(lv @ b[n_pre:])
    sd = math.sqrt(float(lv @ sig[n_pre:, n_pre:] @ lv))
    original = (est - z * sd, est + z * sd)

    if restriction == "smoothness":
        if values is None:
            values = list(np.linspace(0, 2 * sd, 6))

        def ci(v: float) -> tuple[float, float]:
            lo, hi, _ = flci_smoothness(b, sig, n_pre, lv, v, alpha)
            return lo, hi

        method = "FLCI"
    else:
        if values is None:
            values = [0.0, 0.5, 1.0, 1.5, 2.0]

        def ci(v: float) -> tuple[float, float]:
            return rm_confidence_set(b, sig, n_pre, lv, v, alpha=alpha, grid_points=grid_points,
                                     lf_sims=lf_sims, seed=seed, refine=refine)

        method = "C-LF"
    rows = [{"value": float(v), "lb": lo, "ub": hi} for v in values for lo, hi in [ci(float(v))]]
    table = pd.DataFrame(rows)
    bd: float | None = None
    if breakdown:
        bd = _breakdown(ci, table)
    return HonestResult(restriction, method, table, original, bd, tuple(float(x) for x in lv), n_pre, tbar, alpha)


def _breakdown(ci: Callable[[float], tuple[float, float]], table: pd.DataFrame) -> float:
    """Largest restriction value whose interval excludes zero (bisection between the table's values)."""
    f = ci

    def excludes(v: float) -> bool:
        lo, hi = f(v)
        return bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0))

    vals = table["value"].to_numpy(dtype=float)
    ex = [bool(r.lb > 0 or r.ub < 0) for r in table.itertuples()]
    if not ex[0]:
        return 0.0 if not excludes(0.0) else vals[0]
    if all(ex):
        lo = float(vals[-1])
        hi = lo * 2 if lo > 0 else 1.0
        for _ in range(20):
            if not excludes(hi):
                break
            lo, hi = hi, hi * 2
        else:
            return math.inf
    else:
        first_fail = ex.index(False)
        lo, hi = float(vals[first_fail - 1]), float(vals[first_fail])
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if excludes(mid):
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-3 * max(abs(hi), 1e-8):
            break
    return lo

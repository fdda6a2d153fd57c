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
    minimise the half-length, a convex function of the weights; it is minimised exactly (no iterative solver
    whose success flag could depend on rounding): along the piecewise-linear path of the bias–variance frontier,
    computed once per event study, and a root of the stationarity condition on the one segment where it
    changes sign (see :class:`_SmoothnessFLCI`). Results are the global optimum, equivariant to the outcome's
    units, and the same bits on any number of threads.

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
from cteimpact.stats.bisection import bisect_boundary
from cteimpact.threads import one_blas_thread

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
        includes 0; ``None`` if not computed). :attr:`fragile` judges it for relative magnitudes.
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

    @property
    def fragile(self) -> bool | None:
        """Relative magnitudes: True when the breakdown value is below 1, i.e. the effect is no longer significant
        once post-treatment violations of parallel trends may be as large as the largest pre-treatment one; ``None``
        for smoothness restrictions (no natural scale) or when the breakdown value was not computed."""
        if self.restriction != "relative_magnitude" or self.breakdown is None:
            return None
        return bool(self.breakdown < 1.0)

    def to_dict(self) -> dict[str, object]:
        return {"restriction": self.restriction, "method": self.method,
                "table": self.table.to_dict(orient="records"), "original": list(self.original),
                "breakdown": self.breakdown, "l_vec": list(self.l_vec), "n_pre": self.n_pre,
                "n_post": self.n_post, "alpha": self.alpha, "fragile": self.fragile,
                "fragile_rule": (None if self.restriction != "relative_magnitude" else
                                 "breakdown value below 1: the robust interval includes zero once post-treatment "
                                 "violations of parallel trends may reach the largest pre-treatment one")}


# ---------------------------------------------------------------------------------------------------------------
# smoothness: FLCI
# ---------------------------------------------------------------------------------------------------------------


def _folded_normal_cv(b: float, alpha: float) -> float:
    """``c`` with ``P(|N(b, 1)| <= c) = 1 − α``."""
    b = abs(b)
    target = 1 - alpha

    def f(c: float) -> float:
        return float(special.ndtr(c - b) - special.ndtr(-c - b) - target)

    hi = b + stats.norm.ppf(1 - alpha / 2) + 10.0
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-14))


def _cv_slopes(t: float, c: float) -> tuple[float, float]:
    """Partial derivatives of the half-length ``g(B, S) = S·cv_α(B/S)`` at ``t = B/S`` (``c = cv_α(t)``).

    Differentiating ``Φ(c − t) − Φ(−c − t) = 1 − α`` gives ``cv'(t) = (φ(c − t) − φ(c + t))/(φ(c − t) + φ(c + t))``;
    then ``∂g/∂B = cv'(t)`` and ``∂g/∂S = cv(t) − t·cv'(t)``, written as ``(c − t) + t(1 − cv'(t))`` so that it
    keeps its digits for large ``t`` (both are positive: ``cv`` is increasing and convex with asymptote
    ``t + z_{1−α}``)."""
    lo, hi = float(np.exp(-0.5 * (c - t) ** 2)), float(np.exp(-0.5 * (c + t) ** 2))
    denom = lo + hi
    d_b = (lo - hi) / denom
    d_s = (c - t) + t * (2.0 * hi / denom)
    return d_b, d_s


def _second_difference_basis(k: int) -> np.ndarray:
    """``D`` with ``m = D u``: the inverse of ``u_r = Σ_{j>r}(j − r) m_j`` (``r = 0, …, k−1``), i.e.
    ``m_j = u_{j−1} − 2u_j + u_{j+1}`` (``u_k = u_{k+1} = 0``). Integer entries, so the change of variables is exact."""
    d = np.zeros((k, k))
    for j in range(1, k + 1):
        for r, coef in ((j - 1, 1.0), (j, -2.0), (j + 1, 1.0)):
            if r < k:
                d[j - 1, r] = coef
    return d


@dataclass(frozen=True)
class _PathSegment:
    """On ``mu_lo <= μ <= mu_hi`` the penalised solution is ``v(μ) = alpha + μ·beta`` (``signs`` its sign pattern)."""

    mu_hi: float
    mu_lo: float
    alpha: np.ndarray
    beta: np.ndarray
    signs: np.ndarray

    def v(self, mu: float) -> np.ndarray:
        return self.alpha + mu * self.beta


def _l1_qp_path(r: np.ndarray, q: np.ndarray, *, scale: float) -> list[_PathSegment]:
    """Exact solution path of ``min_v ½v'Rv + q'v + μ‖v‖₁`` for ``μ`` from ``‖q‖_∞`` (``v = 0``) down to ``0``.

    ``R`` must be positive definite. The path is piecewise linear in ``μ`` (homotopy / LARS-lasso): on a fixed
    active set ``A`` with signs ``σ`` the optimality conditions ``R_AA v_A + q_A + μσ_A = 0`` give ``v_A`` affine in
    ``μ``; a variable leaves when it reaches zero and enters when its gradient ``|R_jA v_A + q_j|`` reaches ``μ``.
    One event at a time, ties broken by the lowest index (removals first); the variable that just entered cannot
    leave at the same event and the one that just left cannot re-enter with its old sign (the only roots of those
    linear events are the current ``μ``), so degenerate ties cannot cycle. Every
    segment end is checked against the optimality conditions (``scale`` sets the tolerance); a violation raises
    :class:`EstimationError` rather than returning a point that is not optimal."""
    n = q.size
    mu = float(np.max(np.abs(q))) if n else 0.0
    if mu == 0.0:
        return [_PathSegment(0.0, 0.0, np.zeros(n), np.zeros(n), np.zeros(n))]
    signs = np.zeros(n)
    j0 = int(np.argmax(np.abs(q)))  # first index among exact ties
    signs[j0] = -math.copysign(1.0, float(q[j0]))
    last_added: int | None = j0
    last_removed: tuple[int, float] | None = None  # (index, the gradient's sign on the boundary it left from)
    segments: list[_PathSegment] = []
    for _ in range(20 * n + 20):
        act = np.flatnonzero(signs)
        ina = np.flatnonzero(signs == 0)
        r_aa = r[np.ix_(act, act)]
        alpha = np.zeros(n)
        beta = np.zeros(n)
        alpha[act] = -np.linalg.solve(r_aa, q[act])
        beta[act] = -np.linalg.solve(r_aa, signs[act])
        best_mu, best_key = 0.0, (1, n)
        best_event: tuple[str, int, float] | None = None
        for j in act:  # leaves when v_j reaches 0 (moving toward 0 as μ decreases iff σ_j β_j > 0)
            if j == last_added or signs[j] * beta[j] <= 0:
                continue
            mu_j = min(max(float(-alpha[j] / beta[j]), 0.0), mu)
            if mu_j > best_mu or (mu_j == best_mu and mu_j > 0 and (0, int(j)) < best_key):
                best_mu, best_key, best_event = mu_j, (0, int(j)), ("leave", int(j), 0.0)
        gam = r[np.ix_(ina, act)] @ alpha[act] + q[ina]
        dlt = r[np.ix_(ina, act)] @ beta[act]
        for j, g0, g1 in zip(ina, gam, dlt, strict=True):  # enters when g_j(μ) = s·μ, slack μ(1 − sδ) − sγ
            for s in (1.0, -1.0):
                slope = 1.0 - s * g1
                if slope <= 0 or last_removed == (int(j), s):  # it just left this boundary: slack grows from 0
                    continue
                mu_j = min(max(float(s * g0 / slope), 0.0), mu)
                if mu_j > best_mu or (mu_j == best_mu and mu_j > 0 and (1, int(j)) < best_key):
                    best_mu, best_key, best_event = mu_j, (1, int(j)), ("enter", int(j), -s)
        segments.append(_PathSegment(mu, best_mu, alpha, beta, signs.copy()))
        if best_event is None or best_mu <= 0.0:
            break
        kind, idx, sign = best_event
        if kind == "leave":
            last_removed, last_added = (idx, -float(signs[idx])), None
            signs[idx] = 0.0
        else:
            signs[idx] = sign
            last_added, last_removed = idx, None
        mu = best_mu
    else:
        raise EstimationError(f"smoothness FLCI: the solution path did not reach μ = 0 in {20 * n + 20} steps "
                              f"({n} free weights)")
    _check_path(r, q, segments, scale=scale)
    return segments


def _check_path(r: np.ndarray, q: np.ndarray, segments: list[_PathSegment], *, scale: float) -> None:
    """Optimality conditions of the penalised problem at both ends of every path segment."""
    tol_g = 1e-8 * scale
    for seg in segments:
        for mu in (seg.mu_hi, seg.mu_lo):
            v = seg.v(mu)
            g = r @ v + q
            act = seg.signs != 0
            tol_v = 1e-8 * max(1.0, float(np.max(np.abs(v))))
            viol = max(float(np.max(np.abs(g[act] + mu * seg.signs[act]), initial=0.0)),
                       float(np.max(np.abs(g[~act]), initial=0.0)) - mu)
            wrong_sign = float(np.max(-seg.signs[act] * v[act], initial=0.0))
            if viol > tol_g * max(1.0, float(np.max(np.abs(v)))) or wrong_sign > tol_v:
                raise EstimationError(f"smoothness FLCI: optimality conditions violated at μ = {mu:.6g} "
                                      f"(gradient residual {viol:.3g}, tolerance {tol_g:.3g}; sign residual "
                                      f"{wrong_sign:.3g}); the covariance of the event-study coefficients is "
                                      "too ill-conditioned for an exact solution")


class _SmoothnessFLCI:
    """The Δ^SD(M) FLCI problem of one event study, solved exactly for any ``M``.

    Weights ``m_j`` on the coefficient ``j`` periods before the reference enter through ``u_r = Σ_{j>r}(j − r) m_j``
    (``r = 0, …, k−1``): ``u_0 = Σ_t t l_t`` is the linear-trend constraint and the bias term is ``Σ_{r>=1}|u_r|``,
    so with ``v = (u_1, …, u_{k−1})`` the half-length is ``g(B, S) = S·cv_α(B/S)`` of the worst-case bias
    ``B(v) = M(c_post + ‖v‖₁)`` and the standard deviation ``S(v)`` (the square root of a convex quadratic).
    ``cv_α`` is convex and increasing, so ``g`` is jointly convex and increasing in both arguments and the
    half-length is a convex function of ``v``. Its minimiser therefore lies on the bias–variance frontier traced
    by ``min ½V(v) + μ‖v‖₁`` (``μ`` from ``∞``, the least-bias estimator ``v = 0``, to ``0``, the least-variance
    one), which is piecewise linear in ``μ`` and computed exactly once per event study (:func:`_l1_qp_path`).
    Stationarity of the half-length at a frontier point ``v(μ)`` reads ``μ·∂g/∂S = M·S·∂g/∂B`` (the lasso
    condition with multiplier ``μ``), so ``ψ(μ) = μ·∂g/∂S − M·S·∂g/∂B`` changes sign once along the path, from
    negative to positive as ``μ`` grows; its root is found by Brent's method on the segment where it changes sign.
    """

    def __init__(self, sigma: np.ndarray, n_pre: int, l_vec: np.ndarray) -> None:
        k = n_pre
        if k < 1:
            raise OptionError("the smoothness restriction needs at least one pre-period coefficient")
        sig = np.asarray(sigma, dtype=float)
        if not np.isfinite(sig).all():
            raise EstimationError("smoothness FLCI: the covariance of the event-study coefficients has "
                                  f"{int((~np.isfinite(sig)).sum())} non-finite entries")
        sig = 0.5 * (sig + sig.T)
        self.k, self.l_vec, self.sigma = k, np.asarray(l_vec, dtype=float), sig
        tbar = self.l_vec.size
        tt = np.arange(1, tbar + 1, dtype=float)
        self.s_tl = float(tt @ self.l_vec)
        self.c_post = sum(abs(float(np.dot(tt[r:] - r, self.l_vec[r:]))) for r in range(1, tbar)) + abs(self.s_tl)
        # chronological pre-period weights a = P·m = P·D·u = s_tl·e0 + E1·v
        e = _second_difference_basis(k)[::-1]
        self.e0, self.e1 = e[:, 0], e[:, 1:]
        sig_pre, sig_pp = sig[:k, :k], sig[:k, k:]
        r = self.e1.T @ sig_pre @ self.e1
        r = 0.5 * (r + r.T)
        q = self.e1.T @ (sig_pre @ self.e0 * self.s_tl + sig_pp @ self.l_vec)
        eig = np.linalg.eigvalsh(r) if k > 1 else np.ones(1)
        if not eig[0] > 1e-12 * eig[-1]:
            ratio = max(float(eig[0]), 0.0) / max(float(eig[-1]), 1e-300)
            raise EstimationError(
                f"smoothness FLCI: the covariance of the {k} pre-period event-study coefficients is singular "
                f"(eigenvalue ratio {ratio:.1e} of its second differences; e.g. fewer clusters than pre-periods); "
                "the restriction needs it positive definite")
        scale = float(np.max(np.abs(q), initial=0.0)) + float(np.max(np.abs(r), initial=0.0))
        self.path = _l1_qp_path(r, q, scale=max(scale, np.finfo(float).tiny))
        self.sd_min = self.sd(self.path[-1].v(0.0))
        if not self.sd_min > 0:
            raise EstimationError("smoothness FLCI: the least-variance estimator unbiased under linear trends has "
                                  "zero variance; the covariance of the event-study coefficients is degenerate")

    def weights(self, v: np.ndarray) -> np.ndarray:
        """Weights on ``β̂`` (pre-periods chronological, then post-periods)."""
        return np.concatenate([self.s_tl * self.e0 + self.e1 @ v, self.l_vec])

    def sd(self, v: np.ndarray) -> float:
        w = self.weights(v)
        return math.sqrt(max(float(w @ self.sigma @ w), 0.0))

    def half_length(self, v: np.ndarray, m: float, alpha: float) -> float:
        s = self.sd(v)
        bias = m * (self.c_post + float(np.abs(v).sum()))
        return _folded_normal_cv(bias / s, alpha) * s

    def _psi(self, seg: _PathSegment, mu: float, m: float, alpha: float) -> float:
        v = seg.v(mu)
        s = self.sd(v)
        t = m * (self.c_post + float(np.abs(v).sum())) / s
        d_b, d_s = _cv_slopes(t, _folded_normal_cv(t, alpha))
        return mu * d_s - m * s * d_b

    def solve(self, m: float, alpha: float) -> tuple[np.ndarray, float]:
        """Optimal free coordinates ``v`` and the half-length for smoothness bound ``m``."""
        if m < 0 or not math.isfinite(m):
            raise OptionError(f"the smoothness bound M must be finite and >= 0, got {m}")
        if m == 0.0:
            v = self.path[-1].v(0.0)
            return v, self.half_length(v, m, alpha)
        first = self.path[0]
        if self._psi(first, first.mu_hi, m, alpha) <= 0:  # the least-bias estimator (v = 0) is optimal
            v = np.zeros(self.k - 1)
            return v, self.half_length(v, m, alpha)
        cands: list[tuple[float, float, np.ndarray]] = []
        ends: list[tuple[float, np.ndarray]] = []
        for seg in self.path:
            v_hi, v_lo = seg.v(seg.mu_hi), seg.v(seg.mu_lo)
            ends += [(self.half_length(v_hi, m, alpha), v_hi), (self.half_length(v_lo, m, alpha), v_lo)]
            if seg.mu_lo == seg.mu_hi:
                continue
            p_hi, p_lo = self._psi(seg, seg.mu_hi, m, alpha), self._psi(seg, seg.mu_lo, m, alpha)
            if p_lo <= 0 < p_hi:
                mu = seg.mu_lo if p_lo == 0 else float(optimize.brentq(
                    lambda x, seg=seg: self._psi(seg, x, m, alpha), seg.mu_lo, seg.mu_hi,
                    xtol=1e-15 * seg.mu_hi, rtol=4 * np.finfo(float).eps, maxiter=200))
                v = seg.v(mu)
                cands.append((self.half_length(v, m, alpha), -mu, v))
        if not cands:
            raise EstimationError(f"smoothness FLCI: no stationary point of the half-length on the solution path "
                                  f"(M = {m:.6g})")
        half, _, v = min(cands, key=lambda z: (z[0], z[1]))
        # certificate: a convex function's stationary point is no worse than any other point of the frontier
        worst = min(h for h, _ in ends)
        if half > worst * (1 + 1e-10):
            raise EstimationError(f"smoothness FLCI: the stationary point (half-length {half:.10g}) is worse than "
                                  f"a breakpoint of the frontier ({worst:.10g}) at M = {m:.6g}")
        return v, half

    def interval(self, betahat: np.ndarray, m: float, alpha: float) -> tuple[float, float, np.ndarray]:
        v, half = self.solve(m, alpha)
        weights = self.weights(v)
        centre = float(weights @ np.asarray(betahat, dtype=float))
        return centre - half, centre + half, weights


def flci_smoothness(betahat: np.ndarray, sigma: np.ndarray, n_pre: int, l_vec: np.ndarray, m: float,
                    alpha: float = 0.05) -> tuple[float, float, np.ndarray]:
    """Optimal FLCI under Δ^SD(M): ``(lower, upper, estimator weights on β̂)``.

    Solved exactly (see :class:`_SmoothnessFLCI`): the result is the global minimiser of the half-length over
    affine estimators unbiased under linear trends, and the same bits on any number of threads."""
    return _SmoothnessFLCI(sigma, n_pre, l_vec).interval(betahat, float(m), alpha)


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
    vup = math.inf if is_sol(hi0) else _bracket_midpoint(is_sol, eta, hi0)
    vlo = -math.inf if is_sol(lo0) else _bracket_midpoint(is_sol, eta, lo0)
    return vlo, vup


def _bracket_midpoint(holds: Callable[[float], bool], inside: float, outside: float) -> float:
    """The boundary of ``holds`` between ``inside`` (true) and ``outside`` (false), in either order on the line:
    the bracket halved until it is at most 1e-6 wide, then its midpoint (as HonestDiD's bisection)."""
    while abs(outside - inside) > 1e-6:
        mid = 0.5 * (inside + outside)
        inside, outside = (mid, outside) if holds(mid) else (inside, mid)
    return 0.5 * (inside + outside)


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

    if lo_i > 0:
        lower = bisect_boundary(any_accepts, float(theta_grid[lo_i - 1]), lower, steps=40)
    if hi_i < grid_points - 1:
        upper = bisect_boundary(any_accepts, float(theta_grid[hi_i + 1]), upper, steps=40)
    return lower, upper


# ---------------------------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------------------------


@one_blas_thread()
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
        problem = _SmoothnessFLCI(sig, n_pre, lv)  # the solution path does not depend on M: computed once

        def ci(v: float) -> tuple[float, float]:
            lo, hi, _ = problem.interval(b, v, alpha)
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

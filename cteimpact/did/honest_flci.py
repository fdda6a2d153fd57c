"""Smoothness restriction Δ^SD(M) of HonestDiD (Rambachan & Roth 2023): the optimal fixed-length confidence interval
(Armstrong & Kolesár 2018), solved exactly.

For an affine estimator ``a'β̂`` unbiased under linear trends (``Σ_k k·a_{−k} = Σ_t t·l_t``), the worst-case bias
over Δ^SD(M) is ``M (Σ_{r>=1} |Σ_{t>r}(t−r) l_t| + |Σ_t t l_t| + Σ_{r>=1} |Σ_{k>r}(k−r) a_{−k}|)`` (our derivation
from the second-difference representation of δ), and the interval is ``a'β̂ ± cv_α(bias/sd)·sd`` with ``cv_α(b)``
the ``1 − α`` quantile of ``|N(b, 1)|`` (computed exactly, not simulated). The pre-period weights minimise the
half-length, a convex function of the weights; it is minimised exactly along the piecewise-linear bias–variance
frontier (see :class:`_SmoothnessFLCI`), so the interval is the global optimum — no iterative solver that could
stop early — equivariant to the outcome's units and the same bits on any number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from cteimpact.errors import EstimationError, OptionError

__all__ = ["flci_smoothness"]

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

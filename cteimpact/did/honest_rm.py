"""Relative-magnitudes restriction Δ^RM(M̄) of HonestDiD (Rambachan & Roth 2023): the conditional–least-favourable
hybrid confidence set of Andrews, Roth & Pakes (2023).

Post-treatment first differences of ``δ`` are at most ``M̄`` times the largest pre-treatment first difference.
Δ^RM is a union of polyhedra (which pre-period difference is largest, and its sign); for each, the moment
inequalities ``A(β̂ − τ) <= 0`` on the post-period rows are tested with the ``"C-LF"`` hybrid test (``κ = α/10``),
and the confidence set is the union of the acceptance regions over a grid of ``θ`` (HonestDiD's defaults: 1000
points on ``±20`` standard deviations), refined at the endpoints. The tests are evaluated for the whole grid at once
(arrays over ``θ``); the endpoint refinement is a search over nested dyadic sub-grids, the same points bisection
would visit when the acceptance boundary between two grid points is a single crossing. The least-favourable
critical value is simulated (1000 seeded draws), so results agree with R ``HonestDiD`` to grid and simulation
precision, not to many digits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import optimize, special

from cteimpact.errors import EstimationError, OptionError

__all__ = ["rm_confidence_set"]

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


def _vertex_directions(x: np.ndarray) -> np.ndarray | None:
    """Directions of the vertices of the dual feasible set ``{λ >= 0 : λ'sd = 1, λ'X = 0}`` of the ARP linear
    program, for any positive ``sd``: the rows of the returned matrix ``U`` (non-negative, summing to one), and the
    vertices are ``U_i / (U_i·sd)``.

    A vertex has a basis of ``k + 1`` rows of ``[sd, X]`` (``k`` columns of ``X``); its ``λ`` is zero off the basis
    and, on it, orthogonal to the ``k`` columns of ``X_B``, so it is the (one-dimensional) left null vector of
    ``X_B`` scaled to ``λ'sd = 1``. Since ``sd > 0``, that scaled vector is non-negative exactly when the null
    vector has one sign, which does not depend on ``sd``: the vertex directions are computed once per event study
    (every candidate basis in one batched SVD) and rescaled for each restriction value and polyhedron. By LP
    duality ``η(y) = max_v v'y`` over the vertices, so the test statistic, the optimal dual solution and the
    conditioning event of the ARP test follow from the vertex list for every ``θ`` and every simulated draw without
    solving a linear program. Returns ``None`` when there are more than ``MAX_VERTEX_SUBSETS`` candidate bases."""
    m, k = x.shape
    n_sub = math.comb(m, k + 1)
    if n_sub > MAX_VERTEX_SUBSETS:
        return None
    subsets = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(m), k + 1)), dtype=np.intp,
                          count=n_sub * (k + 1)).reshape(n_sub, k + 1)
    # scale each column on its own (rank decisions do not change), so that one threshold fits every column
    col_scale = np.abs(x).max(axis=0)
    col_scale[col_scale == 0] = 1.0
    bases = (x / col_scale)[subsets]  # (n_sub, k + 1, k)
    u, sv, _ = np.linalg.svd(bases, full_matrices=True)
    regular = sv[:, -1] > 1e-12 * np.maximum(sv[:, 0], np.finfo(float).tiny)
    mu = u[regular, :, -1]  # left null vector of each regular X_B
    subsets = subsets[regular]
    mu = mu * np.where(mu.sum(axis=1) < 0, -1.0, 1.0)[:, None]
    feasible = mu.min(axis=1) >= -1e-10 * np.abs(mu).max(axis=1)
    mu, subsets = np.maximum(mu[feasible], 0.0), subsets[feasible]
    if subsets.shape[0] == 0:
        return np.zeros((0, m))
    dirs = np.zeros((subsets.shape[0], m))
    np.put_along_axis(dirs, subsets, mu / mu.sum(axis=1, keepdims=True), axis=1)
    return np.unique(np.round(dirs, 14), axis=0)


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


def _truncnorm_ppf(p: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Quantile ``p`` of the standard normal truncated to ``[lo, hi]``, elementwise (``lo`` where ``lo >= hi``).

    The log-space formula of ``scipy.stats.truncnorm.ppf`` (agrees to 1e-14 relative), with the upper tail
    (``lo > 0``) reflected so that the log-CDFs are computed where they are accurate; written on arrays because
    the ARP test evaluates it for a whole grid of ``θ`` at once."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    flip = lo > 0
    a, b = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
    q = np.where(flip, 1.0 - p, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_cdf = np.logaddexp(np.log1p(-q) + special.log_ndtr(a), np.log(q) + special.log_ndtr(b))
        x = special.ndtri_exp(log_cdf)
    x = np.where(q <= 0.0, a, np.where(q >= 1.0, b, x))
    return np.where(lo < hi, np.where(flip, -x, x), lo)


def _conditional_rejects(eta: np.ndarray, sgb: np.ndarray, vlo: np.ndarray, vup: np.ndarray, lf_cv: float,
                         alpha: float, kappa: float) -> np.ndarray:
    """Second stage of the ARP hybrid test: reject when the statistic exceeds the ``1 − (α − κ)/(1 − κ)`` quantile
    of the normal truncated to the conditioning interval ``[vlo, min(vup, lf_cv)]`` (all scaled by ``sgb``)."""
    alt = (alpha - kappa) / (1 - kappa)
    with np.errstate(divide="ignore", invalid="ignore"):
        zlo = vlo / sgb
        zup = np.minimum(vup, lf_cv) / sgb
        maxstat = eta / sgb
    inside = (zlo <= maxstat) & (maxstat <= zup)
    cv = np.maximum(0.0, _truncnorm_ppf(1 - alt, zlo, zup))
    return inside & (maxstat > cv)


def _reject_no_nuisance(mom: np.ndarray, sgb_rows: np.ndarray, cross: np.ndarray, alpha: float, kappa: float,
                        lf_cv: float) -> np.ndarray:
    """ARP conditional–LF hybrid test of ``E[A y] <= 0`` without nuisance parameters, for each column of the
    normalised moments ``mom = Ã y`` (the rows of ``A`` divided by their standard deviations; reject = True).

    ``sgb_rows[j]`` is the standard deviation of ``Ã_j y`` and ``cross[i, j] = (Ã_i − Ã_j)ΣÃ_j' / Ã_jΣÃ_j'`` the
    coefficient of the conditioning direction of row ``j`` in moment ``i``."""
    cols = np.arange(mom.shape[1])
    j = np.argmax(mom, axis=0)
    mom_j = mom[j, cols]
    sgb = sgb_rows[j]
    ac = cross[:, j]
    # the moments given the statistic are (mom_i − mom_j) − ac_i·mom_j; the bounds are where they reach zero
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = -((mom - mom_j) - ac * mom_j) / ac
        vlo = np.where(ac < 0, obj, -np.inf).max(axis=0)
        vup = np.where(ac > 0, obj, np.inf).min(axis=0)
        alt = (alpha - kappa) / (1 - kappa)
        cv = np.maximum(0.0, sgb * _truncnorm_ppf(1 - alt, vlo / sgb, vup / sgb))
    return (mom_j > lf_cv) | (mom_j > cv)


def _reject_vertices(y: np.ndarray, verts: np.ndarray, vsv: np.ndarray, alpha: float, kappa: float,
                     lf_cv: float) -> np.ndarray:
    """ARP conditional–LF hybrid test of ``∃τ: E[y] − Xτ <= 0`` for each column of ``y`` (reject = True), from the
    dual vertices ``verts`` and ``vsv = verts Σ verts'``."""
    if verts.shape[0] == 0:
        return np.zeros(y.shape[1], dtype=bool)  # the LP is unbounded below: never reject (as HonestDiD)
    vals = verts @ y  # (vertices, grid)
    cols = np.arange(y.shape[1])
    j = np.argmax(vals, axis=0)
    eta = vals[j, cols]
    s2 = np.diag(vsv)[j]
    degenerate = np.abs(s2) < np.finfo(float).eps
    s2 = np.where(degenerate, 1.0, s2)
    # moving y along Σγ/γ'Σγ by c changes vertex i's value by coef_i·c; the optimal vertex stays optimal while
    # const_i + coef_i·c <= c for every other vertex
    coef = vsv[:, j] / s2 - 1.0
    const = vals - (coef + 1.0) * eta
    others = np.arange(verts.shape[0])[:, None] != j[None, :]
    up = others & (coef > 1e-12)
    dn = others & (coef < -1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        vup = np.where(up, -const / coef, np.inf).min(axis=0)
        vlo = np.where(dn, const / -coef, -np.inf).max(axis=0)
    cond = _conditional_rejects(eta, np.sqrt(s2), np.minimum(vlo, eta), np.maximum(vup, eta), lf_cv, alpha, kappa)
    return (eta > lf_cv) | np.where(degenerate, eta > 0, cond)




def _lp_rejects(y: np.ndarray, x: np.ndarray, sigma: np.ndarray, alpha: float, kappa: float,
                lf_cv: float) -> np.ndarray:
    """LP version of :func:`_reject_vertices` for problems too large for vertex enumeration (one LP per column)."""
    out = np.zeros(y.shape[1], dtype=bool)
    sd = np.sqrt(np.diag(sigma))
    for col in range(y.shape[1]):
        yc = y[:, col]
        eta, _, lam = _eta_lp(yc, x, sd)
        if not math.isfinite(eta):
            continue
        if eta > lf_cv:
            out[col] = True
            continue
        gam = np.maximum(lam, 0.0)
        s2 = float(gam @ sigma @ gam)
        if abs(s2) < np.finfo(float).eps:
            out[col] = eta > 0
            continue
        vlo, vup = _vlo_vup_dual(eta, yc, x, sd, gam, sigma)
        out[col] = bool(_conditional_rejects(np.array([eta]), np.array([math.sqrt(s2)]), np.array([vlo]),
                                             np.array([vup]), lf_cv, alpha, kappa)[0])
    return out


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


THETA_STEPS = 40  # endpoint refinement: the bracket between two grid points is narrowed 2^40-fold
_STEPS_PER_ROUND = 8


def _refine_boundary(accepts: Callable[[np.ndarray], np.ndarray], outside: float, inside: float, *,
                     steps: int = THETA_STEPS) -> float:
    """The point nearest ``outside`` where ``accepts`` still holds, between ``outside`` (rejected) and ``inside``
    (accepted), to ``|inside − outside| / 2^steps``.

    Each round evaluates the ``2^8 − 1`` interior points of a dyadic sub-grid of the bracket in one call and keeps
    the sub-interval at the accepted point nearest ``outside``: when the acceptance region crosses the bracket once,
    these are the brackets that ``steps`` halvings (bisection) visit, at a fraction of the calls; when it crosses
    more than once, the outermost crossing found is kept (the wider, conservative interval)."""
    done = 0
    while done < steps:
        bits = min(_STEPS_PER_ROUND, steps - done)
        n = 2**bits
        pts = outside + (inside - outside) * (np.arange(1, n) / n)
        acc = np.flatnonzero(accepts(pts))
        if acc.size:
            first = int(acc[0])
            inside, outside = float(pts[first]), (float(pts[first - 1]) if first > 0 else outside)
        else:
            outside = float(pts[-1])
        done += bits
    return inside


@dataclass(frozen=True)
class _Polyhedron:
    """One polyhedron of Δ^RM(M̄) (which pre-period difference is largest, and its sign) at one ``M̄``: the test of
    ``θ`` as a function on arrays of ``θ`` (accept = True)."""

    y: np.ndarray  # moments at θ = 0 (post-period rows)
    slope: np.ndarray  # their change per unit of θ
    x: np.ndarray | None  # nuisance columns (None: no nuisance parameters, one post period)
    cov: np.ndarray  # covariance of the moments
    lf_cv: float
    reject: Callable[[np.ndarray], np.ndarray]

    def accepts(self, theta: np.ndarray) -> np.ndarray:
        return ~self.reject(self.y[:, None] - self.slope[:, None] * theta[None, :])


class _RelativeMagnitudes:
    """The Δ^RM confidence sets of one event study for any ``M̄``.

    What does not depend on ``M̄`` is computed once: the basis completing ``l`` (the nuisance parameters are the
    other post-period effects) and the directions of the dual vertices of the ARP linear program
    (:func:`_vertex_directions`): ``M̄`` and the choice of the largest pre-period difference enter the constraint
    rows only through their pre-period columns, so the post-period rows of every polyhedron have the same nuisance
    columns ``X`` and differ only in their standard deviations ``sd``. Per ``M̄`` and polyhedron, what remains is
    the moments' covariance, the vertices rescaled to ``sd`` and the least-favourable critical value."""

    def __init__(self, betahat: np.ndarray, sigma: np.ndarray, n_pre: int, l_vec: np.ndarray, *, alpha: float,
                 grid_points: int, grid: tuple[float, float] | None, lf_sims: int, seed: int, refine: bool) -> None:
        k, tbar = n_pre, l_vec.size
        if k < 1:
            raise OptionError("relative magnitudes need at least one pre-period coefficient")
        self.betahat, self.sigma, self.k, self.tbar, self.l_vec = betahat, sigma, k, tbar, l_vec
        self.alpha, self.kappa, self.lf_sims, self.seed, self.refine = alpha, alpha / 10, lf_sims, seed, refine
        sd_theta = math.sqrt(float(l_vec @ sigma[k:, k:] @ l_vec))
        lo_g, hi_g = grid if grid is not None else (-20 * sd_theta, 20 * sd_theta)
        self.theta_grid = np.linspace(lo_g, hi_g, grid_points)
        self.ginv = np.linalg.inv(_gamma_matrix(l_vec)) if tbar > 1 else np.ones((1, 1))
        self._dirs: dict[tuple[tuple[int, ...], bytes], np.ndarray | None] = {}

    def _directions(self, x_r: np.ndarray) -> np.ndarray | None:
        key = (x_r.shape, x_r.tobytes())  # the same bits for every polyhedron and M̄ (see the class docstring)
        if key not in self._dirs:
            self._dirs[key] = _vertex_directions(x_r)
        return self._dirs[key]

    def polyhedra(self, mbar: float) -> list[_Polyhedron]:
        k, tbar, sigma, b = self.k, self.tbar, self.sigma, self.betahat
        alpha, kappa = self.alpha, self.kappa
        out = []
        for s in range(-(k - 1), 1):
            for positive in (True, False):
                a = _a_rm(k, tbar, mbar, s, positive)
                a_r = a[np.abs(a[:, k:]).sum(axis=1) > 0]  # post-period rows
                sig_y = a_r @ sigma @ a_r.T
                if tbar == 1:  # no nuisance parameters: the moments A(β̂ − e_post θ) themselves
                    lf = _lf_cv(None, None, sig_y, kappa, self.lf_sims, self.seed)
                    st = np.sqrt(np.diag(sig_y))
                    at = a_r / st[:, None]
                    sig_at = at @ sigma  # row j: Ã_j Σ (Σ symmetric)
                    s2 = np.einsum("ij,ij->i", sig_at, at)
                    cross = np.column_stack([(at - at[j]) @ sig_at[j] / s2[j] for j in range(at.shape[0])])

                    out.append(_Polyhedron(at @ b, at[:, k], None, sig_y / np.outer(st, st), lf, partial(
                        _reject_no_nuisance, sgb_rows=np.sqrt(s2), cross=cross, alpha=alpha, kappa=kappa, lf_cv=lf)))
                    continue
                agi = a_r[:, k:] @ self.ginv
                x_r, one_r = agi[:, 1:], agi[:, 0]
                dirs = self._directions(x_r)
                sd = np.sqrt(np.diag(sig_y))
                if dirs is None:
                    lf = _lf_cv(None, x_r, sig_y, kappa, self.lf_sims, self.seed)
                    out.append(_Polyhedron(a_r @ b, one_r, x_r, sig_y, lf, partial(
                        _lp_rejects, x=x_r, sigma=sig_y, alpha=alpha, kappa=kappa, lf_cv=lf)))
                    continue
                verts = dirs / (dirs @ sd)[:, None] if dirs.size else dirs
                vsv = verts @ sig_y @ verts.T
                lf = _lf_cv(verts, x_r, sig_y, kappa, self.lf_sims, self.seed)
                out.append(_Polyhedron(a_r @ b, one_r, x_r, sig_y, lf, partial(
                    _reject_vertices, verts=verts, vsv=vsv, alpha=alpha, kappa=kappa, lf_cv=lf)))
        return out

    @staticmethod
    def _accepts(polys: list[_Polyhedron], theta: np.ndarray) -> np.ndarray:
        """``θ`` accepted by at least one polyhedron's test (each tests only what the earlier ones rejected)."""
        acc = np.zeros(theta.size, dtype=bool)
        for poly in polys:
            todo = np.flatnonzero(~acc)
            if todo.size == 0:
                break
            acc[todo] = poly.accepts(theta[todo])
        return acc

    def _ends(self, mbar: float) -> tuple[list[_Polyhedron], int, int] | None:
        """The polyhedra at ``mbar`` and the first and last accepted grid indices (``None``: nothing accepted)."""
        polys = self.polyhedra(mbar)
        accepted = self._accepts(polys, self.theta_grid)
        if not accepted.any():
            return None
        idx = np.flatnonzero(accepted)
        return polys, int(idx[0]), int(idx[-1])

    def _end(self, polys: list[_Polyhedron], i: int, step: int) -> float:
        """The confidence set's end at accepted grid index ``i``, refined towards ``i + step`` (rejected) if that
        grid point exists."""
        grid = self.theta_grid
        if not self.refine or not 0 <= i + step < grid.size:
            return float(grid[i])
        return _refine_boundary(lambda theta: self._accepts(polys, theta), float(grid[i + step]), float(grid[i]))

    def confidence_set(self, mbar: float) -> tuple[float, float]:
        """``(lower, upper)`` of the C-LF confidence set under Δ^RM(``mbar``); ``(nan, nan)`` if it is empty."""
        ends = self._ends(mbar)
        if ends is None:
            return math.nan, math.nan
        polys, lo_i, hi_i = ends
        return self._end(polys, lo_i, -1), self._end(polys, hi_i, 1)

    def excludes_zero(self, mbar: float) -> bool:
        """Whether :meth:`confidence_set` at ``mbar`` lies on one side of zero (its lower end > 0 or upper end < 0),
        refining an end only when zero lies between it and the neighbouring rejected grid point (the refined end
        stays strictly between the two)."""
        ends = self._ends(mbar)
        if ends is None:
            return False
        polys, lo_i, hi_i = ends
        grid = self.theta_grid
        for i, step, sign in ((lo_i, -1, 1.0), (hi_i, 1, -1.0)):  # lower end > 0, then upper end < 0
            inside = sign * float(grid[i])
            outside = sign * float(grid[i + step]) if self.refine and 0 <= i + step < grid.size else inside
            if outside >= 0 and inside > 0:
                return True
            if inside > 0 and sign * self._end(polys, i, step) > 0:
                return True
        return False


def rm_confidence_set(betahat: np.ndarray, sigma: np.ndarray, n_pre: int, l_vec: np.ndarray, mbar: float, *,
                      alpha: float = 0.05, grid_points: int = 1000, grid: tuple[float, float] | None = None,
                      lf_sims: int = 1000, seed: int = 0, refine: bool = True) -> tuple[float, float]:
    """Robust confidence set for ``θ = l'τ_post`` under Δ^RM(M̄) (C-LF hybrid): ``(lower, upper)``.

    ``grid_points`` values of ``θ`` on ``grid`` (default ``±20`` standard deviations of ``l'β̂_post``) are tested;
    with ``refine`` the endpoints are narrowed to ``2^-40`` of the grid spacing (:func:`_refine_boundary`)."""
    return _RelativeMagnitudes(np.asarray(betahat, dtype=float), np.asarray(sigma, dtype=float), n_pre,
                               np.asarray(l_vec, dtype=float), alpha=alpha, grid_points=grid_points, grid=grid,
                               lf_sims=lf_sims, seed=seed, refine=refine).confidence_set(float(mbar))

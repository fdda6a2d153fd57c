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
    changes sign (see :mod:`cteimpact.did.honest_flci`). Results are the global optimum, equivariant to the
    outcome's units, and the same bits on any number of threads.

``relative_magnitude`` — Δ^RM(M̄)
    Post-treatment first differences of ``δ`` are at most ``M̄`` times the largest pre-treatment first difference.
    Δ^RM is a union of polyhedra (which pre-period difference is largest, and its sign); for each, the moment
    inequalities ``A(β̂ − τ) <= 0`` on the post-period rows are tested with the conditional–least-favourable
    hybrid test of Andrews, Roth & Pakes (2023) (``"C-LF"``, ``κ = α/10``), and the confidence set is the union
    of the acceptance regions over a grid of ``θ`` (HonestDiD's defaults: 1000 points on ``±20`` standard
    deviations), refined at the endpoints (see :mod:`cteimpact.did.honest_rm`). The least-favourable critical
    value is simulated (1000 seeded draws), so results agree with R ``HonestDiD`` to grid and simulation
    precision, not to many digits.

The breakdown value is the largest ``M`` (or ``M̄``) at which the interval still excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.did.honest_flci import _folded_normal_cv as _folded_normal_cv
from cteimpact.did.honest_flci import _SmoothnessFLCI as _SmoothnessFLCI
from cteimpact.did.honest_flci import flci_smoothness
from cteimpact.did.honest_rm import _RelativeMagnitudes, rm_confidence_set
from cteimpact.errors import OptionError
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
        Also compute the breakdown value (bisection on the restriction value, bracketed by ``values``, to a
        relative tolerance of ``BREAKDOWN_RTOL``; see :func:`_breakdown`).
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

    ci_of: Callable[[float], tuple[float, float]]
    decide: Callable[[float], bool] | None = None
    if restriction == "smoothness":
        if values is None:
            values = list(np.linspace(0, 2 * sd, 6))
        problem = _SmoothnessFLCI(sig, n_pre, lv)  # the solution path does not depend on M: computed once

        def flci(v: float) -> tuple[float, float]:
            lo, hi, _ = problem.interval(b, v, alpha)
            return lo, hi

        ci_of, method = flci, "FLCI"
    else:
        if values is None:
            values = [0.0, 0.5, 1.0, 1.5, 2.0]
        # what does not depend on M̄ (the basis, the dual-vertex directions) is computed once for all values
        rm_problem = _RelativeMagnitudes(b, sig, n_pre, lv, alpha=alpha, grid_points=grid_points, grid=None,
                                         lf_sims=lf_sims, seed=seed, refine=refine)
        ci_of, method = rm_problem.confidence_set, "C-LF"
        decide = rm_problem.excludes_zero  # the same decision, refining an end only when zero is next to it
    cache: dict[float, tuple[float, float]] = {}

    def ci(v: float) -> tuple[float, float]:
        """The interval at ``v``, computed once per value within this call (the table and the breakdown search
        may both ask for it)."""
        if v not in cache:
            cache[v] = ci_of(v)
        return cache[v]

    rows = [{"value": float(v), "lb": lo, "ub": hi} for v in values for lo, hi in [ci(float(v))]]
    table = pd.DataFrame(rows)
    bd: float | None = None
    if breakdown:
        bd = _breakdown(ci, table, None if decide is None else
                        (lambda v: _interval_excludes_zero(*cache[v]) if v in cache else decide(v)))
    return HonestResult(restriction, method, table, original, bd, tuple(float(x) for x in lv), n_pre, tbar, alpha)


BREAKDOWN_RTOL = 1e-3  # the breakdown search stops when its bracket is within 0.1% of its upper end


def _interval_excludes_zero(lo: float, hi: float) -> bool:
    return bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0))


def _breakdown(ci: Callable[[float], tuple[float, float]], table: pd.DataFrame,
               decide: Callable[[float], bool] | None = None) -> float:
    """Largest restriction value whose interval excludes zero.

    The intervals widen with the restriction value, so "excludes zero" holds below the breakdown value and fails
    above it. The search is bracketed by the table: between the last value that excludes zero and the first that
    does not (between 0 and the first value when only 0 excludes it; doubling past the last value when all do,
    up to 2^20 times, else ``inf``), then bisection until the bracket is within ``BREAKDOWN_RTOL`` of its upper end;
    the lower end (a value that excludes zero) is returned. ``decide(v)``, if given, is used instead of ``ci(v)``
    for whether the interval at ``v`` excludes zero (it must give the same answer)."""

    def excludes(v: float) -> bool:
        return decide(v) if decide is not None else _interval_excludes_zero(*ci(v))

    vals = table["value"].to_numpy(dtype=float)
    ex = [bool(r.lb > 0 or r.ub < 0) for r in table.itertuples()]
    if not ex[0]:
        if vals[0] <= 0 or not excludes(0.0):
            return 0.0
        lo, hi = 0.0, float(vals[0])
    elif all(ex):
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
        if hi - lo <= BREAKDOWN_RTOL * max(abs(hi), 1e-8):
            break
    return lo

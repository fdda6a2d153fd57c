"""HonestDiD relative magnitudes (cteimpact.did.honest_rm): the tests evaluated on arrays of θ, the dual-vertex
directions computed once per event study, the endpoint refinement, and nothing computed twice within one call."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import cteimpact.did.honest_rm as rm
from cteimpact.did import honest_sensitivity
from cteimpact.stats.bisection import bisect_boundary

RESULTS = Path(__file__).with_name("results")
SYNTH = json.loads((RESULTS / "synth_did_event_study.json").read_text())
S_BETA, S_SIGMA = np.array(SYNTH["betahat"]), np.array(SYNTH["sigma"])
S_K, S_L = int(SYNTH["n_pre"]), np.array(SYNTH["l_vec"])

# ``honest_sensitivity(S_BETA, S_SIGMA, n_pre=S_K, l_vec=S_L)`` (relative magnitudes, default values and breakdown)
# as computed by the per-θ implementation (one test call per grid point, bisection refinement) at commit d933942
BEFORE_TABLE = [(0.0, 432.7699224065609, 3198.340317883819), (0.5, -12920.161253387083, 14361.31031020308),
                (1.0, -14361.31031020308, 14361.31031020308), (1.5, -14361.31031020308, 14361.31031020308),
                (2.0, -14361.31031020308, 14361.31031020308)]
BEFORE_BREAKDOWN = 0.027099609375


def _problem(seed: int, k: int, tbar: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = k + tbar
    a = rng.normal(size=(n, 3 * n))
    sigma = a @ a.T / (3 * n) * 0.01
    beta = np.concatenate([rng.normal(size=k) * 0.03, 0.3 + rng.normal(size=tbar) * 0.05])
    return beta, sigma, np.full(tbar, 1.0 / tbar)


def test_study_intervals_and_breakdown_equal_the_per_theta_implementation() -> None:
    res = honest_sensitivity(S_BETA, S_SIGMA, n_pre=S_K, l_vec=S_L)
    for row, (value, lb, ub) in zip(res.table.itertuples(), BEFORE_TABLE, strict=True):
        assert row.value == value
        # the refinement narrows the bracket between two grid points 2^40-fold; the rest is rounding in the test
        assert row.lb == pytest.approx(lb, rel=1e-8, abs=1e-6)
        assert row.ub == pytest.approx(ub, rel=1e-8, abs=1e-6)
    assert res.breakdown == BEFORE_BREAKDOWN


@pytest.mark.parametrize(("seed", "k", "tbar"), [(1, 3, 3), (2, 5, 2),
                                                pytest.param(3, 9, 4, marks=pytest.mark.slow)])
def test_vertex_test_equals_the_linear_programming_test_on_the_grid(seed: int, k: int, tbar: int) -> None:
    """The vertex-list test on an array of θ makes the decisions that the LP version (HiGHS for each θ, truncation
    bounds by bisection on the dual LP) makes one θ at a time, for every polyhedron of Δ^RM; both decisions occur."""
    beta, sigma, l_vec = _problem(seed, k, tbar)
    est, sd = float(l_vec @ beta[k:]), math.sqrt(float(l_vec @ sigma[k:, k:] @ l_vec))
    problem = rm._RelativeMagnitudes(beta, sigma, k, l_vec, alpha=0.05, grid_points=11,
                                     grid=(est - 6 * sd, est + 6 * sd), lf_sims=1000, seed=0, refine=False)
    theta = problem.theta_grid
    polys = problem.polyhedra(0.3)
    assert len(polys) == 2 * k
    n_reject = 0
    for poly in polys:
        assert poly.x is not None and poly.x.shape[1] == tbar - 1
        y = poly.y[:, None] - poly.slope[:, None] * theta[None, :]
        vec = poly.reject(y)
        lp = rm._lp_rejects(y, poly.x, poly.cov, 0.05, 0.005, poly.lf_cv)
        assert np.array_equal(vec, lp), np.flatnonzero(vec != lp)
        n_reject += int(vec.sum())
    assert 0 < n_reject < theta.size * len(polys)


@pytest.mark.parametrize(("seed", "m", "k"), [(4, 6, 2), (5, 8, 3), (6, 12, 5)])
def test_vertex_directions_give_the_linear_program_value(seed: int, m: int, k: int) -> None:
    """``max_v v'y`` over the rescaled vertex directions equals the LP ``min η s.t. y − Xτ <= η sd`` for any ``sd``."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=(m // 2, k))
    x = np.vstack([x0, -x0 * rng.uniform(0.5, 2.0, size=(m // 2, 1))])  # rows in ± pairs, as the Δ^RM moments
    dirs = rm._vertex_directions(x)
    assert dirs is not None and dirs.shape[0] > 0
    assert (dirs >= 0).all() and np.allclose(dirs.sum(axis=1), 1.0)
    for _ in range(5):
        sd = rng.uniform(0.1, 10.0, size=m)
        verts = dirs / (dirs @ sd)[:, None]
        assert np.abs(verts @ x).max() < 1e-9 * max(1.0, float(np.abs(verts).max()))
        y = rng.normal(size=m)
        eta_lp = rm._eta_lp(y, x, sd)[0]
        assert float((verts @ y).max()) == pytest.approx(eta_lp, rel=1e-9, abs=1e-12)


def test_too_many_bases_fall_back_to_the_linear_program() -> None:
    assert rm._vertex_directions(np.ones((40, 6))) is None  # C(40, 7) > MAX_VERTEX_SUBSETS


@pytest.mark.parametrize("boundary", [0.1234567890123, -3.3, 7.0])
def test_dyadic_refinement_equals_bisection_for_one_crossing(boundary: float) -> None:
    def holds(t: float) -> bool:
        return t >= boundary

    def accepts(t: np.ndarray) -> np.ndarray:
        return t >= boundary

    outside, inside = boundary - 1.7, boundary + 0.9
    ours = rm._refine_boundary(accepts, outside, inside)
    bisected = bisect_boundary(holds, outside, inside, steps=40)
    assert ours >= boundary and bisected >= boundary
    assert abs(ours - bisected) <= 4 * np.finfo(float).eps * max(abs(boundary), 1.0) + 2.6 / 2**40
    assert ours - boundary <= 2.6 / 2**40  # within the bracket width after 40 halvings


def test_dyadic_refinement_keeps_the_outermost_crossing() -> None:
    """Accepted on two pieces: the crossing nearest ``outside`` is kept (the conservative, wider interval)."""

    def accepts(t: np.ndarray) -> np.ndarray:
        return (t >= 0.30) & (t <= 0.32) | (t >= 0.6)

    assert rm._refine_boundary(accepts, 0.0, 1.0) == pytest.approx(0.30, abs=1e-11)


def test_truncated_normal_quantile_matches_scipy() -> None:
    from scipy import stats

    lo = np.array([-np.inf, -2.0, 0.5, 3.0, -1.0, 8.0, 1.0])
    hi = np.array([np.inf, 1.0, 2.0, np.inf, -0.5, 9.0, 1.0])
    for p in (0.05, 0.5, 0.9444):
        got = rm._truncnorm_ppf(p, lo, hi)
        ok = lo < hi
        assert got[ok] == pytest.approx(stats.truncnorm.ppf(p, lo[ok], hi[ok]), rel=1e-12)
        assert got[~ok] == pytest.approx(lo[~ok])


def test_each_value_and_the_vertex_directions_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One ``honest_sensitivity`` call: the vertex directions once, each restriction value's interval once; the
    breakdown search asks only for values the table does not have, each once, and only whether zero is excluded."""
    sets: list[float] = []
    decisions: list[float] = []
    n_dirs = 0
    confidence_set = rm._RelativeMagnitudes.confidence_set
    excludes_zero = rm._RelativeMagnitudes.excludes_zero
    vertex_directions = rm._vertex_directions

    def spy_set(self: rm._RelativeMagnitudes, mbar: float) -> tuple[float, float]:
        sets.append(mbar)
        return confidence_set(self, mbar)

    def spy_excludes(self: rm._RelativeMagnitudes, mbar: float) -> bool:
        decisions.append(mbar)
        return excludes_zero(self, mbar)

    def spy_dirs(x: np.ndarray) -> np.ndarray | None:
        nonlocal n_dirs
        n_dirs += 1
        return vertex_directions(x)

    monkeypatch.setattr(rm._RelativeMagnitudes, "confidence_set", spy_set)
    monkeypatch.setattr(rm._RelativeMagnitudes, "excludes_zero", spy_excludes)
    monkeypatch.setattr(rm, "_vertex_directions", spy_dirs)
    res = honest_sensitivity(S_BETA, S_SIGMA, n_pre=S_K, l_vec=S_L, values=[0.0, 0.5, 1.0])
    assert n_dirs == 1
    assert sets == [0.0, 0.5, 1.0]
    assert len(decisions) == len(set(decisions)) > 5 and not set(decisions) & set(sets)
    assert all(0.0 < v < 0.5 for v in decisions)  # bracketed by the table's values
    assert res.breakdown == BEFORE_BREAKDOWN


def test_breakdown_between_zero_and_the_first_value() -> None:
    """When only ``M = 0`` excludes zero and the first value is above it, the breakdown value lies between them
    (it used to be reported as the first value, whose interval includes zero)."""
    beta, sigma, l_vec = _problem(7, 4, 2)
    res = honest_sensitivity(beta, sigma, n_pre=4, l_vec=l_vec, restriction="smoothness", values=[1.0, 2.0])
    assert not (res.table["lb"].iloc[0] > 0 or res.table["ub"].iloc[0] < 0)
    zero = honest_sensitivity(beta, sigma, n_pre=4, l_vec=l_vec, restriction="smoothness", values=[0.0],
                              breakdown=False).table.iloc[0]
    assert zero.lb > 0
    assert res.breakdown is not None and 0 < res.breakdown < 1.0
    at = honest_sensitivity(beta, sigma, n_pre=4, l_vec=l_vec, restriction="smoothness",
                            values=[res.breakdown, res.breakdown * (1 + 2e-3)], breakdown=False).table
    assert at["lb"].iloc[0] > 0 and at["lb"].iloc[1] <= 0
    assert math.isfinite(res.breakdown)


# ``honest_sensitivity(*_problem(8, 4, 1))`` (one post period: the test without nuisance parameters), computed by
# the per-θ implementation at commit d933942
BEFORE_ONE_POST = [(0.0, 0.018501216058907657, 0.37526378212451883), (0.5, -0.07656156056255414, 0.4351247746540131),
                   (1.0, -0.2500556325909905, 0.5810083173087611), (1.5, -0.43476276906553113, 0.7628974086515684),
                   (2.0, -0.6232036857005376, 0.950264507619035)]


def test_one_post_period_equals_the_per_theta_implementation() -> None:
    beta, sigma, l_vec = _problem(8, 4, 1)
    res = honest_sensitivity(beta, sigma, n_pre=4, l_vec=l_vec)
    for row, (value, lb, ub) in zip(res.table.itertuples(), BEFORE_ONE_POST, strict=True):
        assert row.value == value
        assert row.lb == pytest.approx(lb, rel=1e-12, abs=1e-15)
        assert row.ub == pytest.approx(ub, rel=1e-12, abs=1e-15)
    assert res.breakdown == 0.170166015625


@pytest.mark.parametrize("case", ["study", "random"])
def test_excludes_zero_decides_as_the_refined_confidence_set(case: str) -> None:
    """The breakdown search's shortcut (refine an end only when zero lies next to it) gives the decision of the full
    confidence set, on both sides of the breakdown value and where zero sits between a grid point and its end."""
    if case == "study":
        beta, sigma, k, l_vec = S_BETA, S_SIGMA, S_K, S_L
    else:
        beta, sigma, l_vec = _problem(9, 5, 3)
        beta = -beta  # the effect below zero: the upper end decides
        k = 5
    problem = rm._RelativeMagnitudes(beta, sigma, k, l_vec, alpha=0.05, grid_points=1000, grid=None, lf_sims=1000,
                                     seed=0, refine=True)
    decisions = []
    for mbar in np.linspace(0.0, 0.8, 17):
        lo, hi = problem.confidence_set(float(mbar))
        full = bool(lo > 0 or hi < 0)
        assert problem.excludes_zero(float(mbar)) == full, mbar
        decisions.append(full)
    assert decisions[0] and not decisions[-1]

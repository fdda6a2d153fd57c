"""The Δ^SD(M) FLCI is solved exactly: the global optimum, on any scale, with the same bits on 1 or 2 threads.

``results/synth_did_event_study.json`` is the event study that the shipped DiD study hands to the FLCI on the
synthetic data of the pipeline tests (dollar outcome, eight pre-periods); the former SLSQP search failed on it and
returned a starting point whose choice depended on the number of BLAS threads.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from cteimpact.did import honest_sensitivity
from cteimpact.did.honest import _folded_normal_cv, _SmoothnessFLCI, flci_smoothness
from cteimpact.errors import EstimationError, OptionError

RESULTS = Path(__file__).with_name("results")
REPO = Path(__file__).resolve().parents[2]
SYNTH = json.loads((RESULTS / "synth_did_event_study.json").read_text())
S_BETA, S_SIGMA = np.array(SYNTH["betahat"]), np.array(SYNTH["sigma"])
S_K, S_L = int(SYNTH["n_pre"]), np.array(SYNTH["l_vec"])
S_SD = math.sqrt(float(S_L @ S_SIGMA[S_K:, S_K:] @ S_L))


def _half_length(sigma: np.ndarray, k: int, l_vec: np.ndarray, pre: np.ndarray, m: float) -> float:
    """Half-length of the FLCI of the affine estimator with chronological pre-period weights ``pre``, from the
    formula in the module docstring, computed in the original weights (not the solver's coordinates)."""
    w = np.concatenate([pre, l_vec])
    sd = math.sqrt(float(w @ sigma @ w))
    mw = pre[::-1]  # weight on the coefficient j periods before the reference, j = 1..k
    tt = np.arange(1, l_vec.size + 1, dtype=float)
    c_post = sum(abs(float((tt[r:] - r) @ l_vec[r:])) for r in range(1, l_vec.size)) + abs(float(tt @ l_vec))
    c_pre = sum(abs(sum((j - r) * mw[j - 1] for j in range(r + 1, k + 1))) for r in range(1, k))
    return _folded_normal_cv(m * (c_post + c_pre) / sd, 0.05) * sd


def _direct_search_best(sigma: np.ndarray, k: int, l_vec: np.ndarray, m: float, starts: list[np.ndarray]) -> float:
    """Smallest half-length Nelder–Mead finds over pre-period weights satisfying the linear-trend constraint
    (parametrised by the first k−1 weights; the last is solved from ``Σ j m_j = Σ t l_t``)."""
    tt = np.arange(1, l_vec.size + 1, dtype=float)
    s_tl = float(tt @ l_vec)
    jj = np.arange(1, k + 1, dtype=float)

    def pre_from(free: np.ndarray) -> np.ndarray:
        mw = np.append(free, (s_tl - jj[:-1] @ free) / k)  # m_1..m_k
        return mw[::-1]

    best = math.inf
    for start in starts:
        free0 = start[::-1][:-1]
        res = optimize.minimize(lambda f: _half_length(sigma, k, l_vec, pre_from(f), m), free0, method="Nelder-Mead",
                                options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20_000, "maxfev": 40_000})
        best = min(best, float(res.fun))
    return best


def _random_problem(rng: np.random.Generator, k: int, tbar: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    n = k + tbar
    a = rng.normal(size=(n, n))
    sigma = (a @ a.T / n + 0.05 * np.eye(n)) * scale**2
    return rng.normal(size=n) * scale, sigma


@pytest.mark.slow  # validation by direct search: 18 Nelder–Mead searches (the random problems below stay fast)
def test_flci_is_the_global_optimum_on_the_synthetic_did_event_study() -> None:
    """No pre-period weights found by direct search (from the solver's optimum, the least-bias and the least-variance
    estimators and random points) give a shorter interval; the SLSQP-era answer was up to 14% wider here."""
    rng = np.random.default_rng(3)
    for m in (0.2 * S_SD, S_SD, 2 * S_SD):
        lo, hi, w = flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, m)
        half = (hi - lo) / 2
        pre = w[:S_K]
        assert abs(float(np.arange(1, S_K + 1) @ pre[::-1]) - float(np.arange(1, S_L.size + 1) @ S_L)) <= 1e-12
        assert half == pytest.approx(_half_length(S_SIGMA, S_K, S_L, pre, m), rel=1e-12)
        least_bias = np.zeros(S_K)
        least_bias[-1] = float(np.arange(1, S_L.size + 1) @ S_L)
        _, _, w_var = flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, 0.0)
        starts = [pre, least_bias, w_var[:S_K], *(pre + rng.normal(size=S_K) * 0.5 for _ in range(3))]
        best = _direct_search_best(S_SIGMA, S_K, S_L, m, starts)
        assert half <= best * (1 + 1e-12), (m, half, best)
        assert half < _half_length(S_SIGMA, S_K, S_L, least_bias, m)
        assert half < _half_length(S_SIGMA, S_K, S_L, w_var[:S_K], m)


@pytest.mark.parametrize("seed", range(6))
def test_flci_is_the_global_optimum_on_random_event_studies(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    k, tbar = int(rng.integers(2, 7)), int(rng.integers(1, 5))
    beta, sigma = _random_problem(rng, k, tbar, 1.0)
    l_vec = rng.dirichlet(np.ones(tbar))
    sd = math.sqrt(float(l_vec @ sigma[k:, k:] @ l_vec))
    for m in (0.05 * sd, 0.5 * sd, 3 * sd):
        lo, hi, w = flci_smoothness(beta, sigma, k, l_vec, m)
        half = (hi - lo) / 2
        assert half == pytest.approx(_half_length(sigma, k, l_vec, w[:k], m), rel=1e-12)
        starts = [w[:k], *(w[:k] + rng.normal(size=k) for _ in range(3))]
        assert half <= _direct_search_best(sigma, k, l_vec, m, starts) * (1 + 1e-12)


@pytest.mark.parametrize("scale", [1e-3, 1e3, 1e5])
def test_flci_is_equivariant_to_the_outcome_units(scale: float) -> None:
    """Dollars or thousands of dollars: the interval scales exactly (the SLSQP search failed on dollar scales)."""
    lo, hi, w = flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, S_SD)
    lo_s, hi_s, w_s = flci_smoothness(S_BETA * scale, S_SIGMA * scale**2, S_K, S_L, S_SD * scale)
    assert lo_s == pytest.approx(lo * scale, rel=1e-10)
    assert hi_s == pytest.approx(hi * scale, rel=1e-10)
    assert w_s == pytest.approx(w, rel=1e-9, abs=1e-12)


def test_flci_half_length_is_nondecreasing_in_m_and_matches_the_solver_class() -> None:
    problem = _SmoothnessFLCI(S_SIGMA, S_K, S_L)
    halves = []
    for m in np.linspace(0, 3 * S_SD, 13):
        lo, hi, w = flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, float(m))
        lo2, hi2, w2 = problem.interval(S_BETA, float(m), 0.05)
        assert (lo, hi) == (lo2, hi2) and np.array_equal(w, w2)
        halves.append((hi - lo) / 2)
    assert np.all(np.diff(halves) >= 0)


def test_flci_rejects_a_singular_pre_period_covariance() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 3))  # rank 3 < 5 pre-periods
    sigma = a @ a.T + np.diag([0, 0, 0, 0, 0, 1.0, 1.0])
    with pytest.raises(EstimationError, match=r"covariance of the 5 pre-period event-study coefficients is singular"):
        flci_smoothness(np.zeros(7), sigma, 5, np.array([1.0, 0.0]), 0.1)


def test_flci_rejects_bad_m_and_non_finite_covariance() -> None:
    with pytest.raises(OptionError, match=r"smoothness bound M must be finite and >= 0, got -1"):
        flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, -1.0)
    with pytest.raises(OptionError, match="finite"):
        flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, math.nan)
    bad = S_SIGMA.copy()
    bad[0, 1] = bad[1, 0] = math.nan
    with pytest.raises(EstimationError, match="2 non-finite entries"):
        flci_smoothness(S_BETA, bad, S_K, S_L, 1.0)


_THREAD_SCRIPT = """
import json, sys
import numpy as np
from cteimpact.did.honest import flci_smoothness, honest_sensitivity
d = json.loads(open(sys.argv[1]).read())
b, s, k, l = np.array(d["betahat"]), np.array(d["sigma"]), d["n_pre"], np.array(d["l_vec"])
sd = float(np.sqrt(l @ s[k:, k:] @ l))
for m in np.linspace(0, 2 * sd, 6):
    lo, hi, w = flci_smoothness(b, s, k, l, float(m))
    print(repr(lo), repr(hi), w.tobytes().hex())
r = honest_sensitivity(b, s, n_pre=k, l_vec=l, restriction="smoothness")
print([(repr(x.lb), repr(x.ub)) for x in r.table.itertuples()], repr(r.breakdown))
"""


def test_flci_bits_do_not_depend_on_the_number_of_blas_threads(tmp_path: Path) -> None:
    """The same bits with 1 and 2 BLAS/OpenMP threads (threadpoolctl is not a dependency: environment variables of a
    fresh interpreter). The SLSQP-era code gave half-lengths 6060 vs 6796 at the second M on this input."""
    script = tmp_path / "flci_threads.py"
    script.write_text(_THREAD_SCRIPT)
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads, "NUMBA_NUM_THREADS": threads}
        proc = subprocess.run([sys.executable, str(script), str(RESULTS / "synth_did_event_study.json")],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert len(outs[0].splitlines()) == 7
    assert outs[0] == outs[1]


def test_honest_sensitivity_smoothness_reuses_one_solution_path() -> None:
    """``honest_sensitivity`` (one path for all M) and per-M ``flci_smoothness`` calls agree exactly."""
    res = honest_sensitivity(S_BETA, S_SIGMA, n_pre=S_K, l_vec=S_L, restriction="smoothness", breakdown=True)
    for row in res.table.itertuples():
        lo, hi, _ = flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, float(row.value))
        assert (row.lb, row.ub) == (lo, hi)
    assert res.breakdown is not None
    lo, hi, _ = flci_smoothness(S_BETA, S_SIGMA, S_K, S_L, res.breakdown)
    assert lo > 0 or hi < 0


@pytest.mark.slow  # diff_diff's FLCI zooms a grid of SLSQP solves over the standard deviation: ~10 s per M
@pytest.mark.parametrize("m", [0.01, 0.05])
def test_flci_is_never_longer_than_diff_diffs_at_nine_pre_periods(m: float) -> None:
    """With 9 pre-periods our exact FLCI equals ``diff_diff``'s (an independent implementation of HonestDiD's
    formulation) to its solver's precision and is never longer."""
    dd = pytest.importorskip("diff_diff.honest_did")
    rng = np.random.default_rng(11)
    k, tbar = 9, 2
    beta, sigma = _random_problem(rng, k, tbar, 0.1)
    l_vec = np.full(tbar, 0.5)
    lo, hi, _ = flci_smoothness(beta, sigma, k, l_vec, m)
    lo_dd, hi_dd, _ = dd._flci_solve(beta[:k], beta[k:], sigma, l_vec, k, tbar, m, 0.05)
    assert hi - lo <= (hi_dd - lo_dd) * (1 + 1e-12)
    assert hi - lo == pytest.approx(hi_dd - lo_dd, rel=1e-6)
    assert (lo, hi) == pytest.approx((lo_dd, hi_dd), abs=1e-5 * (hi - lo))

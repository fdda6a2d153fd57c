"""The fixed-bandwidth fast path reproduces rdrobust 2.1.1 (every reported quantity, rtol 1e-9)."""

from __future__ import annotations

import itertools
import warnings
import zlib

import numpy as np
import pytest

from cteimpact.errors import DesignError
from cteimpact.rd.adapters import fit_rdrobust
from cteimpact.rd.fixed_bandwidth import fit_fixed_bandwidth, supported

RTOL = 1e-9


def _data(seed: int, n: int = 3000, ties: bool = False):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    if ties:
        x = np.round(x, 2)  # mass points
    g = rng.integers(0, 120, n)
    ys = np.column_stack([1 + x + 0.4 * (x >= 0) + rng.normal(size=n),
                          rng.normal(size=n) + x**2,
                          (rng.uniform(size=n) < 0.3 + 0.1 * (x >= 0)).astype(float)])
    w = rng.uniform(0.5, 2.0, n)
    order = np.argsort(x, kind="stable")
    return x[order], ys[order], g[order], w[order]


CONFIGS = list(itertools.product(
    ["nn", "hc0", "hc1", "cr1"],
    [("triangular", 1, (0.3, 0.3), (0.3, 0.3)), ("epanechnikov", 1, (0.25, 0.35), (0.4, 0.5)),
     ("uniform", 2, (0.5, 0.5), (0.6, 0.6)), ("triangular", 1, (0.4, 0.4), (0.3, 0.3))],
    [False, True],  # ties
    [False, True],  # weights
))


@pytest.mark.parametrize(("vce", "spec", "ties", "use_w"), CONFIGS)
def test_fast_fixed_fits_equal_rdrobust(vce, spec, ties, use_w):
    kernel, p, h, b = spec
    # a stable seed per configuration (the built-in hash of strings changes from one process to the next)
    x, ys, g, w = _data(zlib.crc32(repr((vce, kernel, p, ties, use_w)).encode()) % 1000, ties=ties)
    cl = g if vce == "cr1" else None
    wt = w if use_w else None
    fast = fit_fixed_bandwidth(ys, x, cutoff=0.0, h=h, b=b, p=p, kernel=kernel, vce=vce, cluster=cl, weights=wt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(ys.shape[1]):
            ref = fit_rdrobust(ys[:, j], x, h=h, b=b, p=p, kernel=kernel, vce=vce, cluster=cl, weights=wt)
            got = fast[j]
            for attr in ("estimate", "estimate_bc", "se", "se_robust"):
                assert getattr(got, attr) == pytest.approx(getattr(ref, attr), rel=RTOL), (attr, j)
            for attr in ("z", "p_value", "limits", "limits_bc"):
                np.testing.assert_allclose(getattr(got, attr), getattr(ref, attr), rtol=RTOL, err_msg=attr)
            # the bias correction can be near zero (1e-5 beside estimates of 1e-1): relative to the estimate's scale
            scale = max(abs(ref.estimate), 1.0)
            np.testing.assert_allclose(got.bias, ref.bias, rtol=RTOL, atol=RTOL * scale, err_msg="bias")
            np.testing.assert_allclose(np.asarray(got.ci), np.asarray(ref.ci), rtol=RTOL)
            np.testing.assert_allclose(got.beta_left, ref.beta_left, rtol=RTOL, atol=1e-12)
            np.testing.assert_allclose(got.vcov_left, ref.vcov_left, rtol=1e-8, atol=1e-14)
            assert got.n == ref.n and got.n_h == ref.n_h and got.n_b == ref.n_b
            assert got.n_clusters_side == ref.n_clusters_side and got.n_clusters == ref.n_clusters


def test_unsorted_input_is_sorted_for_nearest_neighbours():
    x, ys, _, _ = _data(3)
    perm = np.random.default_rng(0).permutation(x.size)
    a = fit_fixed_bandwidth(ys, x, cutoff=0.0, h=(0.3, 0.3), b=(0.4, 0.4), vce="nn")
    b = fit_fixed_bandwidth(ys[perm], x[perm], cutoff=0.0, h=(0.3, 0.3), b=(0.4, 0.4), vce="nn")
    for fa, fb in zip(a, b, strict=True):
        assert fa.se_robust == pytest.approx(fb.se_robust, rel=1e-12)


def test_scope():
    assert supported(vce="nn") and supported(vce="cr1")
    assert not supported(vce="cr2") and not supported(vce="hc3")
    assert not supported(vce="nn", fuzzy=np.ones(3)) and not supported(vce="nn", covariates=np.ones((3, 1)))


def test_too_few_values_within_bandwidth():
    x = np.linspace(-0.995, 0.995, 200)  # spacing 0.01: at most one value within 0.005 of the cutoff a side
    ys = np.column_stack([x, x**2])
    with pytest.raises(DesignError, match="too few distinct running-variable values"):
        fit_fixed_bandwidth(ys, x, cutoff=0.0, h=(0.005, 0.005), b=(0.005, 0.005))


def test_senate_fixed_bandwidth_matches_golden(senate, golden):
    ref = golden["cases"]["rdrobust_fixed_2014"]["result"]
    d = senate.dropna(subset=["vote"]).sort_values("margin", kind="stable")
    fit = fit_fixed_bandwidth([d["vote"].to_numpy(float)], d["margin"].to_numpy(float), cutoff=0.0,
                              h=(16.79369, 16.79369), b=(27.43745, 27.43745))[0]
    np.testing.assert_allclose([fit.estimate, fit.estimate_bc, fit.estimate_bc], ref["coef"], rtol=RTOL)
    np.testing.assert_allclose([fit.se, fit.se, fit.se_robust], ref["se"], rtol=RTOL)
    np.testing.assert_allclose(np.asarray(fit.ci), ref["ci"], rtol=RTOL)
    assert list(fit.n_h) == ref["N_h"]

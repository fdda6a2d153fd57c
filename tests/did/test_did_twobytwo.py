"""The 2×2 DR / IPW / OR estimators: influence functions against the empirical influence function.

For an estimator computed from weighted data, the influence function of observation i is
n × w_i × ∂θ̂/∂w_i (a relative perturbation of its weight): differencing the estimate numerically gives the exact
empirical influence function, independent of any formula. Every analytic influence function below must
match it (central differences, step 1e-6: relative tolerance 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest

from cteimpact.did.twobytwo import CellFailure, did_panel, did_rcs, logit_fit, wls_fit


def _data(seed: int, n: int = 240, covariates: bool = True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-0.8 * x - 0.5 * x ** 2 + 0.8))).astype(float)
    post = (rng.uniform(size=n) < 0.5).astype(float)
    y = 1 + 2 * x ** 2 + 1.5 * x * post + d * post + rng.normal(size=n) + 0.5 * d * x
    dy = x ** 2 + 0.7 * x + d * 0.4 + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    xm = np.column_stack([np.ones(n), x, rng.normal(size=n)]) if covariates else np.ones((n, 1))
    return y, dy, post, d, xm, w


def _numeric_if(fn, w: np.ndarray, idx: range, eps: float = 1e-6) -> np.ndarray:
    n = w.size
    out = []
    for i in idx:
        wp = w.copy()
        wp[i] *= 1 + eps
        wm = w.copy()
        wm[i] *= 1 - eps
        out.append(n * (fn(wp) - fn(wm)) / (2 * eps))
    return np.array(out)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
@pytest.mark.parametrize("covariates", [True, False])
@pytest.mark.parametrize("kind", ["panel", "rcs"])
def test_influence_function_equals_empirical_influence(method: str, covariates: bool, kind: str) -> None:
    y, dy, post, d, x, w = _data(11, covariates=covariates)
    if kind == "panel":
        def fn(ww: np.ndarray) -> float:
            return did_panel(dy, d, x, ww, method)[0]
        _, inf = did_panel(dy, d, x, w, method)
    else:
        def fn(ww: np.ndarray) -> float:
            return did_rcs(y, post, d, x, ww, method)[0]
        _, inf = did_rcs(y, post, d, x, w, method)
    idx = range(0, 240, 7)
    num = _numeric_if(fn, w, idx)
    np.testing.assert_allclose(num, inf[list(idx)], rtol=1e-5, atol=1e-6 * np.abs(inf).max())
    assert abs(inf.mean()) <= 1e-10 * np.abs(inf).max()


def test_no_covariates_all_methods_agree() -> None:
    _, dy, _, d, _, w = _data(2, covariates=False)
    x1 = np.ones((dy.size, 1))
    panel = [did_panel(dy, d, x1, w, m) for m in ("dr", "ipw", "reg")]
    for att, inf in panel[1:]:
        assert att == pytest.approx(panel[0][0], abs=1e-13)
        np.testing.assert_allclose(inf, panel[0][1], atol=1e-11)
    # and equal the weighted difference in mean changes
    t, c = d == 1, d == 0
    direct = np.average(dy[t], weights=w[t]) - np.average(dy[c], weights=w[c])
    assert panel[0][0] == pytest.approx(direct, abs=1e-13)


def test_logit_and_wls_match_closed_forms() -> None:
    rng = np.random.default_rng(0)
    n = 500
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-x[:, 1]))).astype(float)
    w = rng.uniform(0.5, 2, n)
    p = logit_fit(x, d, w)
    # first-order condition of the weighted logit
    assert np.abs(x.T @ (w * (d - p))).max() <= 1e-9
    beta = wls_fit(x, x[:, 1] * 2 + 1, w)
    assert beta == pytest.approx([1.0, 2.0], abs=1e-12)


def test_collinear_covariates_fail_cleanly() -> None:
    _, dy, _, d, x, w = _data(3)
    xc = np.column_stack([x, x[:, 1]])
    with pytest.raises(CellFailure, match="singular"):
        did_panel(dy, d, xc, w, "reg")


def test_perfect_separation_reports_no_overlap() -> None:
    n = 100
    x = np.column_stack([np.ones(n), np.linspace(-1, 1, n)])
    d = (x[:, 1] > 0).astype(float)
    with pytest.raises(CellFailure, match=r"overlap|separation|singular"):
        did_panel(np.zeros(n), d, x, np.ones(n), "dr")

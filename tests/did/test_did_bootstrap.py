"""Multiplier bootstrap (chunked, counter-based bits) and the restricted wild cluster bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cteimpact.did import CallawaySantAnna, simulate_staggered
from cteimpact.did.multiplier import (
    _draw_byte,
    _key,
    _subset_sums,
    multiplier_draws,
    quantile_type1,
    two_point,
)
from cteimpact.did.wild import demean_two_way, wild_estimand, wild_twfe, wild_weights


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
@pytest.mark.parametrize("row0", [0, 5, 13])
def test_kernel_equals_explicit_multipliers(kind: str, row0: int) -> None:
    """The table kernel gives exactly Σ_r U_rb x_r for the bits U defined by the counter generator."""
    rng = np.random.default_rng(0)
    block = rng.standard_normal((37, 4))
    key = _key(5)
    n_draws = 23
    alias = two_point(kind).alias  # type: ignore[arg-type]
    got = _subset_sums(block, np.int64(row0), key, np.int64(n_draws), alias)
    u = np.zeros((37, n_draws))
    for r in range(37):
        g, bit = divmod(r + row0, 8)
        for b in range(n_draws):
            u[r, b] = (_draw_byte(key, np.int64(g), np.int64(b), np.int64(n_draws), alias) >> bit) & 1
    np.testing.assert_allclose(got, u.T @ block, rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", ["rademacher", "mammen"])
def test_two_point_moments_and_bit_frequencies(kind: str) -> None:
    tp = two_point(kind)  # type: ignore[arg-type]
    q = tp.q
    mean = (1 - q) * tp.a + q * tp.b
    var = (1 - q) * tp.a ** 2 + q * tp.b ** 2
    third = (1 - q) * tp.a ** 3 + q * tp.b ** 3
    assert abs(mean) <= 1e-15 and abs(var - 1) <= 1e-14
    if kind == "mammen":
        assert abs(third - 1) <= 1e-8
        assert tp.a == pytest.approx((1 - math.sqrt(5)) / 2, abs=1e-9)
    key = _key(1)
    alias = tp.alias
    bits = np.array([(_draw_byte(key, np.int64(g), np.int64(b), np.int64(64), alias) >> k) & 1
                     for g in range(200) for b in range(64) for k in range(8)])
    assert abs(bits.mean() - q) <= 4 * math.sqrt(q * (1 - q) / bits.size)


def _mpdta_fit(mpdta: pd.DataFrame, **kw):
    return CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat").fit(**kw)


def test_bootstrap_is_deterministic_and_chunk_invariant(mpdta: pd.DataFrame) -> None:
    cs = CallawaySantAnna(mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    res = cs.fit()
    a = multiplier_draws(res.influence, n_draws=257, seed=42)
    b = multiplier_draws(res.influence, n_draws=257, seed=42, column_chunk=3)
    c = multiplier_draws(res.influence, n_draws=257, seed=43)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    r1 = _mpdta_fit(mpdta, bootstrap=199, seed=7).to_dict()
    r2 = _mpdta_fit(mpdta, bootstrap=199, seed=7).to_dict()
    assert r1 == r2


@pytest.mark.parametrize("weights", ["mammen", "rademacher"])
def test_bootstrap_se_close_to_analytic_and_bands_wider(mpdta: pd.DataFrame, weights: str) -> None:
    an = _mpdta_fit(mpdta)
    bs = _mpdta_fit(mpdta, bootstrap=1999, seed=11, multiplier=weights)
    ratio = bs.estimand_se / an.estimand_se
    ok = np.isfinite(ratio)
    # IQR-based SE from 1999 draws: sampling error about 3.5% per estimate
    assert np.all(np.abs(ratio[ok] - 1) < 0.15), ratio[ok]
    assert np.median(np.abs(ratio[ok] - 1)) < 0.05
    crit = bs.bootstrap["critical_values"]
    z = stats.norm.ppf(0.975)
    for fam, k in (("attgt", 12), ("dynamic", 7), ("calendar", 4), ("group", 3)):
        bonf = stats.norm.ppf(1 - 0.025 / k)
        assert z <= crit[fam] <= bonf + 0.1, (fam, crit[fam])
    row = bs.estimate("lemp[event=2]")
    assert row.ci_type == "simultaneous"
    assert row.ci_upper - row.ci_lower == pytest.approx(2 * crit["dynamic"] * row.std_error)
    assert bs.estimate("lemp").ci_type == "pointwise"


@pytest.mark.filterwarnings("ignore::cteimpact.did.errors.FewClustersWarning")
def test_cluster_bootstrap_matches_cluster_analytic(mpdta: pd.DataFrame) -> None:
    df = mpdta.assign(state=mpdta["countyreal"] // 1000)
    cs = CallawaySantAnna(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                          cluster="state")
    an = cs.fit()
    bs = cs.fit(bootstrap=1999, seed=3)
    ratio = bs.estimand_se / an.estimand_se
    ok = np.isfinite(ratio)
    assert np.median(np.abs(ratio[ok] - 1)) < 0.08
    assert bs.bootstrap is not None and bs.bootstrap["clustered"]


def test_quantile_type1_is_r_type1() -> None:
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert quantile_type1(x, 0.5) == 3.0
    assert quantile_type1(x, 0.2) == 1.0
    assert quantile_type1(x, 0.21) == 2.0
    assert quantile_type1(x, 1.0) == 5.0


# ---------------------------------------------------------------------------------------------------------------
# restricted wild cluster bootstrap
# ---------------------------------------------------------------------------------------------------------------


def _brute_force_wcr_twfe(y: np.ndarray, d: np.ndarray, unit: np.ndarray, time: np.ndarray, cl: np.ndarray,
                          v: np.ndarray, beta0: float) -> float:
    """WCR for TWFE by re-estimating on every bootstrap sample: restricted fit, flipped residuals, refit."""
    g = int(cl.max()) + 1

    def fit(yy: np.ndarray) -> tuple[float, float]:
        dt = demean_two_way(d, unit, time)
        yt = demean_two_way(yy, unit, time)
        b = (dt @ yt) / (dt @ dt)
        e = yt - dt * b
        s = np.bincount(cl, weights=dt * e, minlength=g)
        return b, math.sqrt(s @ s) / (dt @ dt)

    b_hat, se_hat = fit(y)
    t_hat = (b_hat - beta0) / se_hat
    y_r = y - beta0 * d
    u_r = demean_two_way(y_r, unit, time)
    fitted_r = y_r - u_r + beta0 * d
    ts = []
    for j in range(v.shape[1]):
        ystar = fitted_r + v[cl, j] * u_r
        b, se = fit(ystar)
        ts.append((b - beta0) / se)
    return float(np.mean(np.abs(np.array(ts)) >= abs(t_hat) - 1e-12 * max(1.0, abs(t_hat))))


@pytest.mark.parametrize("beta0", [0.0, 0.3])
def test_wild_twfe_equals_refitting_every_bootstrap_sample(beta0: float) -> None:
    df, _ = simulate_staggered(seed=5, n_clusters=9, n_never_clusters=3, units_per_cluster=3,
                               periods=range(2010, 2018), cohorts={2013: 3, 2015: 3})
    units = df["unit"].to_numpy()
    times = df["time"].to_numpy() - 2010
    cl = df["cluster"].to_numpy()
    d = df["treated"].to_numpy(dtype=float)
    y = df["y"].to_numpy()
    res = wild_twfe(y, d, units, times, cl, n_draws=999, weights="rademacher", null=beta0)
    assert res.enumerated and res.n_draws == 2 ** 9
    v, _ = wild_weights(9, 999, "rademacher", None)
    assert res.p_value == pytest.approx(_brute_force_wcr_twfe(y, d, units, times, cl, v, beta0), abs=1e-12)
    assert res.ci_lower < res.estimate < res.ci_upper


def test_wild_estimand_properties() -> None:
    rng = np.random.default_rng(2)
    g = 40
    psi = rng.normal(size=g)
    psi -= psi.mean()
    h = rng.uniform(0.5, 1.5, g)
    h *= 1000 / h.sum()
    res = wild_estimand(psi, h, 0.01, 1000, n_draws=999, weights="webb", seed=1)
    se = math.sqrt(psi @ psi) / 1000
    assert res.std_error == pytest.approx(se)
    # the test of the point estimate itself never rejects; its interval contains the estimate
    at_est = wild_estimand(psi, h, 0.01, 1000, n_draws=999, weights="webb", seed=1, null=0.01)
    assert at_est.p_value == 1.0
    assert res.ci_lower < 0.01 < res.ci_upper
    # with many clusters of similar size the WCR interval is close to the analytic one
    assert (res.ci_upper - res.ci_lower) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.2)
    # same seed, same result
    assert wild_estimand(psi, h, 0.01, 1000, n_draws=999, weights="webb", seed=1).to_dict() == res.to_dict()


@pytest.mark.filterwarnings("ignore::cteimpact.did.errors.FewClustersWarning")
@pytest.mark.filterwarnings("ignore::cteimpact.did.errors.PretestUnavailableWarning")
def test_wild_bootstrap_rows_in_results() -> None:
    df, _ = simulate_staggered(seed=8, n_clusters=20, n_never_clusters=5, units_per_cluster=5)
    res = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster").fit(
        wild_bootstrap=199, seed=2, twfe=True, aggregations=("simple", "dynamic"))
    row = res.estimate("y")
    assert row.ci_type == "wild_cluster_bootstrap"
    assert row.p_value == res.wild["y"].p_value
    assert res.twfe is not None and res.twfe.wild is not None
    assert "y[event=overall]" in res.wild


def _brute_force_wcr_difference_in_means(dy: np.ndarray, d: np.ndarray, cl: np.ndarray, v: np.ndarray,
                                         theta0: float) -> float:
    """WCR for the regression of the outcome change on a treatment dummy (CR0), refitting every sample."""
    g = int(cl.max()) + 1
    x = np.column_stack([np.ones(d.size), d])

    def fit(y: np.ndarray) -> tuple[float, float]:
        b = np.linalg.lstsq(x, y, rcond=None)[0]
        e = y - x @ b
        xt = d - d.mean()
        s = np.bincount(cl, weights=xt * e, minlength=g)
        return float(b[1]), math.sqrt(s @ s) / (xt @ xt)

    th, se = fit(dy)
    t0 = (th - theta0) / se
    mu_r = float(np.mean(dy - theta0 * d))
    u_r = dy - theta0 * d - mu_r
    ts = []
    for j in range(v.shape[1]):
        b, s = fit(mu_r + theta0 * d + v[cl, j] * u_r)
        ts.append((b - theta0) / s)
    return float(np.mean(np.abs(np.array(ts)) >= abs(t0) - 1e-12 * max(1.0, abs(t0))))


@pytest.mark.parametrize("theta0", [0.0, 0.4])
def test_cs_wild_bootstrap_equals_refitting_every_sample(theta0: float) -> None:
    """Two periods, one treated cohort: the CS ATT is a difference in mean outcome changes, and the re-estimating
    score bootstrap equals the WCR bootstrap of the dummy regression with every sample refitted (all 2^9 sign
    vectors enumerated)."""
    rng = np.random.default_rng(4)
    n_cl, per = 9, 5
    cl = np.repeat(np.arange(n_cl), per)
    g = np.where(cl < 4, 2, 0)
    shock = rng.normal(size=n_cl)[cl]
    y1 = rng.normal(size=cl.size) + shock
    y2 = y1 + 0.3 * (g > 0) + rng.normal(size=cl.size) + 0.5 * shock
    df = pd.DataFrame({"id": np.repeat(np.arange(cl.size), 2), "t": np.tile([1, 2], cl.size),
                       "g": np.repeat(g, 2), "cl": np.repeat(cl, 2), "y": np.column_stack([y1, y2]).ravel()})
    with pytest.warns(Warning, match="only 9 clusters"):
        cs = CallawaySantAnna(df, outcome="y", unit="id", time="t", cohort="g", cluster="cl")
    from cteimpact.did.grouptime import enumerate_cells, estimate_cells, score_parts
    from cteimpact.did.wild import wild_recentered

    d = cs.prepared
    cells = enumerate_cells(d.times, d.groups, d.row_cohort, anticipation=0, base_period="varying",
                            control="never")
    est = estimate_cells(d, cells)
    assert d.row_cluster is not None
    parts = score_parts(d, cells, est.influence, d.row_cluster, 9)
    coef = np.zeros(est.influence.n_base)
    coef[0] = 1.0
    res = wild_recentered(*parts.for_estimand(coef), float(est.att[0]), d.n, n_draws=999, weights="rademacher",
                          null=theta0)
    assert res.enumerated
    order = np.argsort(d.row_id)  # rows are sorted by cohort; bring back the unit order of dy
    dy = (y2 - y1)[d.row_id[order].astype(int)]
    v, _ = wild_weights(9, 999, "rademacher", None)
    ref = _brute_force_wcr_difference_in_means(dy, (g > 0).astype(float)[d.row_id[order].astype(int)],
                                               cl[d.row_id[order].astype(int)], v, theta0)
    assert res.p_value == pytest.approx(ref, abs=1e-12)
    assert res.estimate == pytest.approx(dy[g[d.row_id[order].astype(int)] > 0].mean()
                                         - dy[g[d.row_id[order].astype(int)] == 0].mean(), abs=1e-13)

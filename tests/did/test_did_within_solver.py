"""The within solver (cteimpact/did/within.py) behind TWFE, event-study TWFE and Sun–Abraham.

Cross-check: ``linearmodels.PanelOLS`` with one set of fixed effects absorbed (units, or cohorts of repeated
cross-sections) and the period effects as explicit dummies — an exact one-way demeaning, independent of ours — and
its clustered covariance without small-sample factors (``debiased=False``, effects not counted), scaled in the
test by fixest's ``G/(G−1) · (n−1)/(n−K)`` with ``K`` counted here. Coefficients and standard errors agree to
1e-10 (relative) on balanced panels, unbalanced panels and repeated cross-sections, with and without covariates,
clustered by unit and by a coarser cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from linearmodels.panel import PanelOLS

from cteimpact.did import simulate_staggered, sun_abraham, twfe, twfe_event_study
from cteimpact.did import within as within_mod
from cteimpact.did.panel import prepare_staggered_data
from cteimpact.did.twfe import FALLBACK_NOTE, _fit, indicator, long_panel
from cteimpact.did.wild import demean_two_way
from cteimpact.did.within import fit_within, two_way
from cteimpact.errors import DataDroppedWarning, DesignError, MissingColumnError, OptionError

RTOL = 1e-10


def _data(kind: str) -> pd.DataFrame:
    df, _ = simulate_staggered(seed=3, n_clusters=30, n_never_clusters=8, units_per_cluster=5)
    rng = np.random.default_rng(7)
    df = df.copy()
    df["x1"] = rng.normal(size=len(df)) + 0.3 * df["treated"]
    df["x2"] = rng.gamma(2.0, size=len(df)) + 0.01 * df["time"] * (df["cohort"] > 0)
    df["y"] = df["y"] + 0.5 * df["x1"] - 0.2 * df["x2"]
    if kind == "unbalanced":
        df = df.loc[rng.random(len(df)) > 0.2].reset_index(drop=True)
    elif kind == "rcs":
        df = df.loc[rng.random(len(df)) > 0.3].reset_index(drop=True)
        df["unit"] = np.arange(len(df))  # every observation a different person
    return df


@pytest.fixture(scope="module", params=["balanced", "unbalanced", "rcs"])
def data(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame]:
    return str(request.param), _data(str(request.param))


def _options(kind: str) -> dict[str, object]:
    if kind == "rcs":
        return {"panel": False}
    return {"unit": "unit", "allow_unbalanced": kind == "unbalanced"} if kind != "balanced" else {"unit": "unit"}


def _reference(df: pd.DataFrame, x: pd.DataFrame, *, rcs: bool, cluster: str | None
               ) -> tuple[pd.Series, pd.Series]:
    """linearmodels: absorbed units (or cohorts), explicit period dummies; fixest small-sample factor."""
    tdum = pd.get_dummies(df["time"], prefix="t", drop_first=True, dtype=float)
    exog = pd.concat([x.reset_index(drop=True), tdum.reset_index(drop=True)], axis=1)
    n = len(df)
    if rcs:
        idx = pd.MultiIndex.from_arrays([np.arange(n), df["time"].to_numpy()])
        other = pd.DataFrame({"cohort": df["cohort"].to_numpy()}, index=idx)
        mod = PanelOLS(pd.Series(df["y"].to_numpy(), index=idx), exog.set_axis(idx), other_effects=other)
        fe_groups = df["cohort"].to_numpy()
    else:
        idx = pd.MultiIndex.from_arrays([df["unit"].to_numpy(), df["time"].to_numpy()])
        mod = PanelOLS(pd.Series(df["y"].to_numpy(), index=idx), exog.set_axis(idx), entity_effects=True)
        fe_groups = df["unit"].to_numpy()
    cl = df[cluster].to_numpy() if cluster is not None else (np.arange(n) if rcs else df["unit"].to_numpy())
    codes = pd.factorize(cl)[0]
    res = mod.fit(cov_type="clustered", clusters=pd.DataFrame({"c": codes}, index=idx), debiased=False,
                  group_debias=False, auto_df=False, count_effects=False)
    g = int(codes.max()) + 1

    def nested(groups: np.ndarray) -> bool:
        return bool(pd.DataFrame({"f": groups, "c": codes}).groupby("f")["c"].nunique().max() == 1)

    n_fe, n_t = len(np.unique(fe_groups)), df["time"].nunique()
    fe_nested, t_nested = nested(fe_groups), nested(df["time"].to_numpy())
    k_fe = (0 if fe_nested else n_fe) + (0 if t_nested else n_t) - (1 if not fe_nested and not t_nested else 0)
    k = x.shape[1] + k_fe
    factor = g / (g - 1) * (n - 1) / (n - k)
    names = list(x.columns)
    se = np.sqrt(np.diag(res.cov.loc[names, names].to_numpy()) * factor)
    return res.params[names], pd.Series(se, index=names)


def _close(ours: np.ndarray | float, ref: np.ndarray | float) -> None:
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(ref, dtype=float), rtol=RTOL, atol=0)


def _treated(df: pd.DataFrame) -> np.ndarray:
    return ((df["cohort"] > 0) & (df["time"] >= df["cohort"])).to_numpy(dtype=float)


@pytest.mark.parametrize("covs", [(), ("x1", "x2")])
@pytest.mark.parametrize("cluster", [None, "cluster"])
def test_twfe_matches_linearmodels(data: tuple[str, pd.DataFrame], covs: tuple[str, ...], cluster: str | None) -> None:
    kind, df = data
    res = twfe(df, outcome="y", time="time", cohort="cohort", cluster=cluster, covariates=list(covs),
               **_options(kind))  # type: ignore[arg-type]
    x = pd.DataFrame({"treated": _treated(df), **{c: df[c].to_numpy() for c in covs}})
    params, se = _reference(df, x, rcs=kind == "rcs", cluster=cluster)
    assert res.n_obs == len(df)
    _close(float(res.estimate), params["treated"])
    _close(res.std_error, se["treated"])
    assert res.solver_note is None


@pytest.mark.parametrize("covs", [(), ("x1",)])
@pytest.mark.parametrize("cluster", [None, "cluster"])
def test_event_study_matches_linearmodels(data: tuple[str, pd.DataFrame], covs: tuple[str, ...],
                                          cluster: str | None) -> None:
    kind, df = data
    es, cov = twfe_event_study(df, outcome="y", time="time", cohort="cohort", cluster=cluster, covariates=covs,
                               **{k: v for k, v in _options(kind).items() if k != "allow_unbalanced"}
                               ) if kind != "unbalanced" else _unbalanced_event_study(df, cluster, covs)
    ev = np.where(df["cohort"] > 0, df["time"] - df["cohort"], np.nan)
    levels = [e for e in np.unique(ev[~np.isnan(ev)]) if e != -1]
    x = pd.DataFrame({f"e{int(e)}": (ev == e).astype(float) for e in levels})
    for c in covs:
        x[c] = df[c].to_numpy()
    params, se = _reference(df, x, rcs=kind == "rcs", cluster=cluster)
    assert list(es["event_time"]) == [float(e) for e in levels]
    _close(es["estimate"].to_numpy(), params[[f"e{int(e)}" for e in levels]].to_numpy())
    _close(es["std_error"].to_numpy(), se[[f"e{int(e)}" for e in levels]].to_numpy())
    _close(np.sqrt(np.diag(cov)), es["std_error"].to_numpy())


def _unbalanced_event_study(df: pd.DataFrame, cluster: str | None, covs: tuple[str, ...]
                            ) -> tuple[pd.DataFrame, np.ndarray]:
    # twfe_event_study has no allow_unbalanced option: the event study of twfe() on the unbalanced panel
    res = twfe(df, outcome="y", unit="unit", time="time", cohort="cohort", cluster=cluster, allow_unbalanced=True,
               event_study=True, covariates=covs)
    assert res.event_study is not None and res.event_cov is not None
    return res.event_study, res.event_cov


@pytest.mark.parametrize("covs", [(), ("x1", "x2")])
@pytest.mark.parametrize("cluster", [None, "cluster"])
def test_sun_abraham_matches_linearmodels(covs: tuple[str, ...], cluster: str | None) -> None:
    df = _data("balanced")  # sun_abraham() takes panels; unbalanced panels and cross-sections: the test below
    res = sun_abraham(df, outcome="y", unit="unit", time="time", cohort="cohort", cluster=cluster, covariates=covs)
    ev = np.where(df["cohort"] > 0, df["time"] - df["cohort"], np.nan)
    cells = sorted({(int(g), int(e)) for g, e in zip(df["cohort"], ev, strict=True) if g > 0 and e != -1})
    x = pd.DataFrame({f"g{g}_e{e}": ((df["cohort"] == g) & (ev == e)).to_numpy(dtype=float) for g, e in cells})
    for c in covs:
        x[c] = df[c].to_numpy()
    params, se = _reference(df, x, rcs=False, cluster=cluster)
    names = [f"g{g}_e{e}" for g, e in cells]
    ce = res.cohort_effects
    assert [(int(g), int(e)) for g, e in zip(ce["cohort"], ce["event_time"], strict=True)] == cells
    _close(ce["estimate"].to_numpy(), params[names].to_numpy())
    _close(ce["std_error"].to_numpy(), se[names].to_numpy())


def test_sun_abraham_unbalanced_and_rcs_through_prepared_data() -> None:
    """sun_abraham_from_prepared on an unbalanced panel and on repeated cross-sections (cohort effects)."""
    from cteimpact.did import sun_abraham_from_prepared

    for kind in ("unbalanced", "rcs"):
        df = _data(kind)
        opts = {"unit": "unit", "allow_unbalanced": True} if kind == "unbalanced" else {"panel": False}
        d = prepare_staggered_data(df, outcome="y", time="time", cohort="cohort", cluster="cluster",
                                   control="never", covariates=("x1",), **opts)  # type: ignore[arg-type]
        res = sun_abraham_from_prepared(d, with_covariates=True)
        ev = np.where(df["cohort"] > 0, df["time"] - df["cohort"], np.nan)
        cells = sorted({(int(g), int(e)) for g, e in zip(df["cohort"], ev, strict=True) if g > 0 and e != -1})
        x = pd.DataFrame({f"g{g}_e{e}": ((df["cohort"] == g) & (ev == e)).to_numpy(dtype=float) for g, e in cells})
        x["x1"] = df["x1"].to_numpy()
        params, se = _reference(df, x, rcs=kind == "rcs", cluster="cluster")
        names = [f"g{g}_e{e}" for g, e in cells]
        _close(res.cohort_effects["estimate"].to_numpy(), params[names].to_numpy())
        _close(res.cohort_effects["std_error"].to_numpy(), se[names].to_numpy())


def test_demeaning_methods_agree_with_dummy_regression() -> None:
    """Balanced closed form, the exact small-dimension solve and alternating projections all give the residual of
    a least-squares fit on both sets of dummies."""
    rng = np.random.default_rng(0)
    n_a, n_b = 60, 7
    a = np.repeat(np.arange(n_a), n_b)
    b = np.tile(np.arange(n_b), n_a)
    z = rng.normal(size=a.size) + a * 0.1 + b ** 2
    cases = {"balanced": (a, b, z)}
    keep = rng.random(a.size) > 0.25
    cases["exact"] = (a[keep], b[keep], z[keep])
    cases["rcs"] = (rng.integers(0, 5, 400), rng.integers(0, 6, 400), rng.normal(size=400))
    for name, (ca, cb, cz) in cases.items():
        dummies = np.column_stack([np.eye(ca.max() + 1)[ca], np.eye(cb.max() + 1)[cb]])
        fitted = dummies @ np.linalg.lstsq(dummies, cz, rcond=None)[0]
        fe = two_way(ca, cb)
        assert fe.method == ("balanced" if name == "balanced" else "exact")
        np.testing.assert_allclose(fe.demean(cz), cz - fitted, rtol=0, atol=1e-12)
        np.testing.assert_allclose(demean_two_way(cz, ca, cb), cz - fitted, rtol=0, atol=1e-11)
    hinted = two_way(a, b, balanced=True)
    assert hinted.method == "balanced"
    assert hinted.demean(z).tobytes() == two_way(a, b).demean(z).tobytes()


def test_iterative_fallback_when_both_dimensions_are_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(within_mod, "EXACT_LEVELS", 3)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 40, 500), rng.integers(0, 9, 500)
    z = rng.normal(size=500)
    fe = two_way(a, b)
    assert fe.method == "iterative"
    dummies = np.column_stack([np.eye(40)[a], np.eye(9)[b]])
    fitted = dummies @ np.linalg.lstsq(dummies, z, rcond=None)[0]
    np.testing.assert_allclose(fe.demean(z), z - fitted, rtol=0, atol=1e-11)


def test_duplicated_codes_are_not_taken_for_a_balanced_panel() -> None:
    # every unit has 2 rows and every period 2, yet unit 0 is seen twice in period 0 and never in period 1
    a = np.array([0, 0, 1, 1])
    b = np.array([0, 0, 1, 1])
    assert two_way(a, b).method == "exact"


@pytest.mark.filterwarnings("ignore::linearmodels.panel.utility.AbsorbingEffectWarning")
def test_collinear_regressors_fall_back_to_panelols_and_say_so() -> None:
    df = _data("balanced")
    d = prepare_staggered_data(df, outcome="y", unit="unit", time="time", cohort="cohort")
    lp = long_panel(d)
    tr = lp.treated
    # collinear only once the unit effects are removed (PanelOLS refuses regressors collinear before that)
    twice = 2 * tr + np.sin(lp.unit)
    fit = fit_within(lp.y, [("a", lambda: tr), ("b", lambda: twice)], two_way(lp.unit, lp.time), lp.cluster,
                     lp.n_clusters)
    assert fit is None
    res = _fit(lp, [("treated", lambda: tr), ("twice", lambda: twice)])
    assert res.note == FALLBACK_NOTE and "linearmodels.PanelOLS" in FALLBACK_NOTE
    assert len(res.params) == 1  # PanelOLS dropped one of the two
    ref = twfe(df, outcome="y", unit="unit", time="time", cohort="cohort")
    coef = float(res.params.iloc[0]) * (2.0 if res.params.index[0] == "twice" else 1.0)
    np.testing.assert_allclose(coef, float(ref.estimate), rtol=1e-8)
    shown = replace(ref, solver_note=res.note).summary()
    assert "fitted with linearmodels.PanelOLS" in shown and "fitted with linearmodels" not in ref.summary()
    with pytest.raises(DesignError, match="covariate 'twice' is collinear with the other regressors"):
        _fit(replace(lp, x=twice[:, None], covariates=("twice",)), [("treated", lambda: tr)])


def test_absorbed_event_dummy_is_dropped_like_panelols() -> None:
    """A regressor the fixed effects absorb is dropped (not an error), as linearmodels' drop_absorbed."""
    df = _data("balanced")
    d = prepare_staggered_data(df, outcome="y", unit="unit", time="time", cohort="cohort")
    lp = long_panel(d)
    period0 = indicator(lp.time, 0)
    fit = fit_within(lp.y, [("treated", lambda: lp.treated), ("first_period", lambda: period0)],
                     two_way(lp.unit, lp.time), lp.cluster, lp.n_clusters)
    assert fit is not None and fit.names == ("treated",) and fit.absorbed == ("first_period",)


def test_results_are_byte_identical_across_runs() -> None:
    df = _data("unbalanced")
    runs = [twfe(df, outcome="y", unit="unit", time="time", cohort="cohort", allow_unbalanced=True,
                 event_study=True, covariates=["x1"]) for _ in range(2)]
    assert float(runs[0].estimate).hex() == float(runs[1].estimate).hex()
    assert runs[0].std_error.hex() == runs[1].std_error.hex()
    assert runs[0].event_cov is not None and runs[1].event_cov is not None
    assert runs[0].event_cov.tobytes() == runs[1].event_cov.tobytes()
    sa = [sun_abraham(_data("balanced"), outcome="y", unit="unit", time="time", cohort="cohort") for _ in range(2)]
    assert sa[0].covariance.tobytes() == sa[1].covariance.tobytes()


def test_covariate_errors_name_the_column() -> None:
    df = _data("balanced")
    base = {"outcome": "y", "unit": "unit", "time": "time", "cohort": "cohort"}
    with pytest.raises(MissingColumnError, match="income"):
        twfe(df, covariates=["income"], **base)  # type: ignore[arg-type]
    bad = df.assign(school_type=np.where(df["unit"] % 2 == 0, "rural", "urban"))
    # a text covariate is categorical (indicator columns, cteimpact.did.factors); constant within units, its
    # indicator is absorbed by the unit effects
    with pytest.raises(DesignError, match="covariate 'school_type=urban' is constant within the unit and period"):
        sun_abraham(bad, covariates=["school_type"], **base)  # type: ignore[arg-type]
    const = df.assign(region=df["unit"] % 3, trend=df["time"] * 2.0)
    n = len(df)
    with pytest.raises(DesignError, match=rf"covariate 'region' is constant within the unit and period fixed "
                                          rf"effects \({n:,} observations\)"):
        twfe(const, covariates=["x1", "region"], **base)  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="covariates 'region', 'trend' are constant"):
        twfe_event_study(const, covariates=["region", "trend"], **base)  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="covariate 'trend'"):
        sun_abraham(const, covariates=["trend"], **base)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match=r"list of column names.*'x1'"):
        twfe(df, covariates="x1", **base)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match=r"wild cluster bootstrap .* covariates \(got 1: x1\)"):
        twfe(df, covariates=["x1"], wild_bootstrap=99, **base)  # type: ignore[arg-type]


def test_missing_covariate_rows_are_dropped_in_the_flow() -> None:
    df = _data("balanced")
    df.loc[[3, 50, 51], "x1"] = np.nan
    with pytest.warns(DataDroppedWarning, match="3 with covariate 'x1' missing"):
        res = twfe(df, outcome="y", unit="unit", time="time", cohort="cohort", covariates=["x1"],
                   allow_unbalanced=True)
    assert res.n_obs == len(df) - 3
    steps = [(step.excluded, step.reason) for step in res.sample_flow.exclusions()]
    assert (3, "covariate 'x1' missing") in steps


_THREADS_SCRIPT = """
import hashlib, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from test_did_within_solver import _data
from cteimpact.did import sun_abraham, twfe
df = _data("unbalanced")
r = twfe(df, outcome="y", unit="unit", time="time", cohort="cohort", allow_unbalanced=True, event_study=True,
         covariates=["x1", "x2"], cluster="cluster")
s = sun_abraham(_data("balanced"), outcome="y", unit="unit", time="time", cohort="cohort", covariates=["x1"])
h = hashlib.sha256(float(r.estimate).hex().encode() + r.std_error.hex().encode() + r.event_cov.tobytes()
                   + s.covariance.tobytes() + s.cohort_effects["estimate"].to_numpy().tobytes())
print(h.hexdigest())
"""


def test_results_are_byte_identical_on_one_or_two_threads() -> None:
    root = Path(__file__).resolve().parents[2]
    digests = []
    for threads in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads, "NUMBA_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, str(Path(__file__).parent)], env=env,
                             capture_output=True, text=True, check=False, cwd=root)
        assert out.returncode == 0, out.stderr
        digests.append(out.stdout.strip())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


def test_disconnected_fixed_effects_count_one_degree_per_connected_set() -> None:
    """Two groups of units observed in disjoint sets of periods form two connected sets: ``K`` is the rank of the
    explicit unit and period dummies (n_a + n_b − 2), and the standard error equals the dummy regression's CR1 with
    fixest's factor ``G/(G−1)·(n−1)/(n−rank)``."""
    rng = np.random.default_rng(11)
    units_a, units_b = np.arange(30), np.arange(30, 70)
    rows = [(u, t) for u in units_a for t in (0, 1, 2) if rng.random() > 0.15]
    rows += [(u, t) for u in units_b for t in (3, 4, 5, 6) if rng.random() > 0.15]
    a = np.array([r[0] for r in rows])
    b = np.array([r[1] for r in rows])
    x = rng.normal(size=a.size) + 0.3 * b
    y = 0.7 * x + rng.normal(size=70)[a] + rng.normal(size=7)[b] + rng.normal(size=a.size)
    cluster = rng.integers(0, 35, size=a.size)  # clusters cutting across units and periods: neither is nested
    fe = two_way(a, b)
    assert within_mod.connected_sets(fe) == 2
    fit = fit_within(y, [("x", lambda: x)], fe, cluster, 35)
    assert fit is not None
    dummies = np.column_stack([x, (a[:, None] == np.arange(70)).astype(float),
                               (b[:, None] == np.arange(7)).astype(float)])
    rank = int(np.linalg.matrix_rank(dummies))
    assert fit.dof_k == rank == 1 + 70 + 7 - 2
    coef, *_ = np.linalg.lstsq(dummies, y, rcond=None)
    resid = y - dummies @ coef
    bread = np.linalg.pinv(dummies.T @ dummies)
    scores = np.vstack([np.bincount(cluster, weights=dummies[:, j] * resid, minlength=35)
                        for j in range(dummies.shape[1])]).T
    g, n = scores.shape[0], y.size
    v = bread @ scores.T @ scores @ bread * (g / (g - 1)) * ((n - 1) / (n - rank))
    np.testing.assert_allclose(fit.params[0], coef[0], rtol=1e-10)
    np.testing.assert_allclose(np.sqrt(fit.cov[0, 0]), np.sqrt(v[0, 0]), rtol=1e-10)

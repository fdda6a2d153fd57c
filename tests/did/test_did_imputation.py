"""Imputation DiD (Borusyak, Jaravel & Spiess 2024): :func:`cteimpact.did.imputation_did`.

References
----------
* ``did::mpdta`` (``lemp``, 500 counties, 2003–2007) against the Python package ``diff-diff`` 3.13.0
  (``diff_diff.ImputationDiD``, BJS Theorem 3 conservative variance clustered by unit), whose printed numbers on this
  data were: overall ATT −0.04770991827781727 (SE 0.013222488650016436); event times 0–3: −0.03106693, −0.05223486,
  −0.13607811, −0.10470747 (SEs 0.01357725, 0.01881243, 0.03534197, 0.03376585). The ATT is compared with those
  printed digits (1e-12) and, when ``diff_diff`` is importable, every horizon with its run (1e-8).
* An explicit construction: ``statsmodels`` OLS on unit and period dummies (plus a covariate) fitted on untreated
  observations, predictions for treated ones, averages (1e-10); and the variance from dense design matrices
  ``v = −Z_0 (Z_0'Z_0)⁺ Z_1'w`` and BJS eq. 10 averages (1e-10).
* Simulations with effects known by cohort and horizon (bias and interval coverage).
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cteimpact.did import ImputationResult, imputation_did
from cteimpact.errors import CteImpactError, DesignError, MissingColumnError, OptionError

MPDTA = {"outcome": "lemp", "time": "year", "unit": "countyreal", "cohort": "first.treat"}


def _panel(seed: int, *, n_units: int = 60, periods: int = 6, noise: float = 1.0, covariate: bool = False,
           cohorts: tuple[int, ...] = (0, 3, 4, 5)) -> pd.DataFrame:
    """Balanced panel, effects ``1 + 0.5·(g − 3) + 0.3·(t − g)`` (heterogeneous by cohort and horizon)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), periods)
    t = np.tile(np.arange(1, periods + 1), n_units)
    g_unit = np.array([cohorts[i % len(cohorts)] for i in range(n_units)])
    g = g_unit[unit]
    alpha = rng.normal(size=n_units)[unit]
    lam = np.linspace(0, 1, periods)[t - 1]
    x = rng.normal(size=unit.size)
    treated = (g > 0) & (t >= g)
    effect = np.where(treated, 1.0 + 0.5 * (g - 3) + 0.3 * (t - g), 0.0)
    y = alpha + lam + (0.7 * x if covariate else 0.0) + effect + noise * rng.normal(size=unit.size)
    return pd.DataFrame({"y": y, "t": t, "id": unit, "g": g, "x": x, "effect": effect,
                         "cl": unit // 3})


def _explicit(df: pd.DataFrame, covs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Untreated/treated masks, the imputed effects and the dense designs (statsmodels OLS with dummies)."""
    ev = np.where(df["g"] > 0, df["t"] - df["g"], -np.inf)
    treated = ev >= 0
    z = pd.get_dummies(df["id"].astype(str), prefix="u", dtype=float)
    z = pd.concat([z, pd.get_dummies(df["t"].astype(str), prefix="t", dtype=float).iloc[:, 1:], df[covs]], axis=1)
    z = z.to_numpy(dtype=float)
    fit = sm.OLS(df["y"].to_numpy()[~treated], z[~treated]).fit()
    tau = df["y"].to_numpy()[treated] - fit.predict(z[treated])
    return treated, tau, z, fit.resid


def test_mpdta_matches_diff_diff(mpdta: pd.DataFrame) -> None:
    res = imputation_did(mpdta, **MPDTA, horizons=True)
    assert res.att == pytest.approx(-0.04770991827781727, abs=1e-12)
    assert res.att_se == pytest.approx(0.013222488650016436, abs=1e-12)
    printed = {0: (-0.03106693, 0.01357725), 1: (-0.05223486, 0.01881243), 2: (-0.13607811, 0.03534197),
               3: (-0.10470747, 0.03376585)}
    for h, (b, se) in printed.items():
        row = res.estimate(f"lemp[bjs,event={h}]")
        assert row.estimate == pytest.approx(b, abs=1e-8)
        assert row.std_error == pytest.approx(se, abs=1e-8)
    assert (res.n_treated, res.n_untreated, res.n_clusters, res.n_not_imputable) == (291, 2209, 500, 0)
    diff_diff = pytest.importorskip("diff_diff")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = diff_diff.ImputationDiD().fit(mpdta, outcome="lemp", unit="countyreal", time="year",
                                            first_treat="first.treat")
        es = ref.aggregate("event_study")
    assert res.att == pytest.approx(ref.overall_att, abs=1e-10)
    assert res.att_se == pytest.approx(ref.overall_se, abs=1e-10)
    for e, b, se in zip(es.event_time, es.att, es.se, strict=True):
        if e >= 0:
            row = res.estimate(f"lemp[bjs,event={e}]")
            assert row.estimate == pytest.approx(b, abs=1e-10)
            assert row.std_error == pytest.approx(se, abs=1e-10)


@pytest.mark.parametrize("covariate", [False, True])
def test_point_estimates_equal_explicit_construction(covariate: bool) -> None:
    df = _panel(1, covariate=covariate)
    covs = ["x"] if covariate else []
    treated, tau, _, _ = _explicit(df, covs)
    res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", covariates=covs or None,
                         horizons=[0, 1, 2])
    assert res.att == pytest.approx(tau.mean(), abs=1e-10)
    ev = (df["t"] - df["g"]).to_numpy()[treated]
    for h in (0, 1, 2):
        assert res.estimate(f"y[bjs,event={h}]").estimate == pytest.approx(tau[ev == h].mean(), abs=1e-10)
    assert res.n_treated == int(treated.sum())


@pytest.mark.filterwarnings("ignore::cteimpact.did.FewClustersWarning")
def test_variance_equals_dense_theorem3_construction() -> None:
    df = _panel(2, covariate=True)
    treated, tau, z, resid = _explicit(df, ["x"])
    z0, z1 = z[~treated], z[treated]
    cl = df["cl"].to_numpy()
    cells = (df["g"].astype(str) + "_" + df["t"].astype(str)).to_numpy()[treated]
    ev = (df["t"] - df["g"]).to_numpy()[treated]
    res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", covariates=["x"], horizons=[1],
                         cluster="cl")
    for label, w in (("y[bjs]", np.full(tau.size, 1 / tau.size)), ("y[bjs,event=1]", (ev == 1) / np.sum(ev == 1))):
        v0 = -z0 @ np.linalg.pinv(z0.T @ z0) @ (z1.T @ w)
        tbar = pd.Series(w**2 * tau).groupby(cells).transform("sum") / pd.Series(w**2).groupby(cells).transform("sum")
        eps = np.where(w > 0, tau - tbar.fillna(0).to_numpy(), 0.0)
        s = pd.Series(v0 * resid).groupby(cl[~treated]).sum().add(
            pd.Series(w * eps).groupby(cl[treated]).sum(), fill_value=0.0)
        assert res.estimate(label).std_error == pytest.approx(float(np.sqrt(np.sum(s**2))), abs=1e-10)
    assert res.n_clusters == df["cl"].nunique()


def test_pretrend_test_coefficients_and_wald() -> None:
    df = _panel(3)
    res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", pretrends=2)
    ev = np.where(df["g"] > 0, df["t"] - df["g"], -np.inf)
    un = ev < 0
    z = pd.concat([pd.get_dummies(df["id"].astype(str), dtype=float),
                   pd.get_dummies(df["t"].astype(str), dtype=float).iloc[:, 1:],
                   pd.DataFrame({"p1": (ev == -1) * 1.0, "p2": (ev == -2) * 1.0})], axis=1)[un]
    fit = sm.OLS(df["y"][un].to_numpy(), z.to_numpy()).fit()
    assert res.pretrend is not None
    np.testing.assert_allclose(res.pretrend["estimate"], fit.params[-2:], atol=1e-10)
    assert list(res.pretrend["event_time"]) == [-1.0, -2.0]
    assert res.pretrend_df == 2 and 0 <= res.pretrend_pvalue <= 1 and res.pretrend_stat > 0
    one = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", pretrends=1)
    assert one.pretrend is not None
    b, se = float(one.pretrend["estimate"].iloc[0]), float(one.pretrend["std_error"].iloc[0])
    assert one.pretrend_stat == pytest.approx((b / se) ** 2, rel=1e-10)
    assert "Pre-trend test (BJS Test 1, 2 pre-periods)" in res.summary()
    assert one.att == pytest.approx(res.att, abs=1e-12)  # the test does not change the estimates


def test_pretrend_rejects_a_violation() -> None:
    df = _panel(4, n_units=120, noise=0.3)
    ev = np.where(df["g"] > 0, df["t"] - df["g"], -np.inf)
    df.loc[ev == -1, "y"] += 1.0  # a dip-free jump just before treatment: parallel trends fail
    res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", pretrends=1)
    assert res.pretrend_pvalue < 1e-6


def test_known_effects_unbiased_and_covered() -> None:
    reps, hits, errs = 200, 0, []
    for seed in range(reps):
        df = _panel(1000 + seed, n_units=40, periods=5, noise=1.0)
        truth = df.loc[(df["g"] > 0) & (df["t"] >= df["g"]), "effect"].mean()
        res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g")
        row = res.estimate("y[bjs]")
        errs.append(row.estimate - truth)
        hits += int(row.ci_lower <= truth <= row.ci_upper)
    errs_a = np.asarray(errs)
    assert abs(errs_a.mean()) < 3 * errs_a.std() / np.sqrt(reps)
    assert 0.9 <= hits / reps <= 1.0  # the Theorem 3 variance is conservative under heterogeneous effects


def test_noise_free_effects_recovered_exactly() -> None:
    df = _panel(5, noise=0.0)
    res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", horizons=True)
    on = (df["g"] > 0) & (df["t"] >= df["g"])
    assert res.att == pytest.approx(df.loc[on, "effect"].mean(), abs=1e-10)
    for h in range(3):
        assert res.estimate(f"y[bjs,event={h}]").estimate == pytest.approx(
            df.loc[on & (df["t"] - df["g"] == h), "effect"].mean(), abs=1e-10)


def test_anticipation_window_excluded_and_recorded() -> None:
    df = _panel(6, noise=0.0)
    ev = np.where(df["g"] > 0, df["t"] - df["g"], -np.inf)
    df.loc[ev == -1, "y"] += 5.0  # anticipation response one period ahead
    base = imputation_did(df, outcome="y", time="t", unit="id", cohort="g")
    ant = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", anticipation=1)
    on = (df["g"] > 0) & (df["t"] >= df["g"])
    assert ant.att == pytest.approx(df.loc[on, "effect"].mean(), abs=1e-10)
    assert abs(base.att - ant.att) > 0.5
    n_window = int(np.sum(ev == -1))
    assert any(s.excluded == n_window and "anticipation" in s.reason for s in ant.sample_flow.exclusions())
    assert ant.n_untreated == base.n_untreated - n_window
    assert ant.options["anticipation"] == 1


def test_unit_without_untreated_observation_is_dropped_with_a_record() -> None:
    df = _panel(7)
    lone = int(df.loc[df["g"] == 4, "id"].iloc[0])
    df = df[~((df["id"] == lone) & (df["t"] < 4))]  # this unit is only observed once treated
    with pytest.warns(UserWarning, match=r"3 treated observations cannot be imputed \(1 units"):
        res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g")
    assert res.n_not_imputable == 3
    assert any(s.excluded == 3 and "cannot be imputed" in s.reason for s in res.sample_flow.exclusions())
    keep = df[df["id"] != lone]
    _, tau, _, _ = _explicit(keep.reset_index(drop=True), [])
    assert res.att == pytest.approx(tau.mean(), abs=1e-10)
    assert "3 treated observations could not be imputed" in res.summary()


def test_contract_rows_options_and_determinism() -> None:
    df = _panel(8)
    res = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", horizons=[0, 2], pretrends=1,
                         level=0.9)
    assert isinstance(res, ImputationResult)
    assert res.labels == ("y[bjs]", "y[bjs,event=0]", "y[bjs,event=2]")
    tidy = res.tidy()
    assert list(tidy["label"]) == list(res.labels)
    d = res.to_dict()
    assert d["options"]["horizons"] == [0, 2] and d["options"]["pretrends"] == 1 and d["options"]["level"] == 0.9
    assert d["details"]["n_treated"] == res.n_treated
    dist = res.sampling_distribution()
    assert dist.labels == res.labels
    np.testing.assert_allclose(np.sqrt(np.diag(dist.cov)), [e.std_error for e in res.estimates], rtol=1e-12)
    assert res.estimate("y[bjs]").ci_level == 0.9
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.att = 0.0  # type: ignore[misc]
    again = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", horizons=[0, 2], pretrends=1,
                           level=0.9)
    assert json.dumps(res.to_dict(), sort_keys=True, default=str) == json.dumps(again.to_dict(), sort_keys=True,
                                                                                  default=str)
    assert "Effective N:" in res.summary()


def test_bad_input_is_typed_and_named() -> None:
    df = _panel(9)
    with pytest.raises(OptionError, match=r"horizon 9 has no treated observation; available horizons: 0, 1, 2, 3"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", horizons=[9])
    with pytest.raises(OptionError, match="pretrends must be a non-negative integer"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", pretrends=-1)
    with pytest.raises(OptionError, match=r"pretrends=6: no untreated observation at event time"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", pretrends=6)
    with pytest.raises(OptionError, match="horizons must be non-negative integers"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", horizons=[-1])
    with pytest.raises(MissingColumnError, match="nope"):
        imputation_did(df, outcome="nope", time="t", unit="id", cohort="g")
    df["fixed"] = df["id"] * 2.0  # a unit-level covariate: absorbed by the unit effects (15 x (6 + 2 + 3 + 4) = 225
    # untreated unit-periods: never-treated units in all 6 periods, cohorts 3, 4, 5 before treatment)
    with pytest.raises(DesignError, match=r"covariate 'fixed' is absorbed by the unit and period fixed effects "
                                          r"among the 225 untreated observations"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", covariates=["fixed"])
    df["x2"] = 2.0 * df["x"] + df["t"]  # collinear with x and the period effects
    with pytest.raises(DesignError, match="not identified from the untreated observations"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", covariates=["x", "x2"])
    assert issubclass(DesignError, CteImpactError)


@pytest.mark.parametrize(("ours", "theirs"), [({"leave_out": True}, {"leave_one_out": True}),
                                              ({"average_by": "horizon"}, {"aux_partition": "horizon"}),
                                              ({"average_by": "horizon", "leave_out": True},
                                               {"aux_partition": "horizon", "leave_one_out": True})])
def test_mpdta_variance_options_match_diff_diff(mpdta: pd.DataFrame, ours: dict, theirs: dict) -> None:
    diff_diff = pytest.importorskip("diff_diff")
    res = imputation_did(mpdta, **MPDTA, horizons=True, **ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = diff_diff.ImputationDiD(**theirs).fit(mpdta, outcome="lemp", unit="countyreal", time="year",
                                                    first_treat="first.treat")
        es = ref.aggregate("event_study")
    assert res.att_se == pytest.approx(ref.overall_se, abs=1e-10)
    base = imputation_did(mpdta, **MPDTA)
    assert abs(res.att_se - base.att_se) > 1e-5  # the option changes the variance
    assert res.att == base.att  # but not the estimate
    for e, se in zip(es.event_time, es.se, strict=True):
        if e >= 0:
            assert res.estimate(f"lemp[bjs,event={e}]").std_error == pytest.approx(se, abs=1e-10)
    assert {k: res.options[k] for k in ours} == ours


@pytest.mark.filterwarnings("ignore::cteimpact.did.FewClustersWarning")
def test_leave_out_falls_back_in_single_cluster_cells() -> None:
    df = _panel(10)
    df["byg"] = df["g"]  # one cluster per cohort: every cohort x period cell has a single cluster
    full = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", cluster="byg")
    loo = imputation_did(df, outcome="y", time="t", unit="id", cohort="g", cluster="byg", leave_out=True)
    assert loo.att_se == pytest.approx(full.att_se, abs=1e-14)
    assert loo.n_leave_out_fallback == full.n_treated and full.n_leave_out_fallback == 0
    assert f"{full.n_treated} treated observations (over all estimates) lie in cells with a single cluster" \
        in loo.summary()
    with pytest.raises(OptionError, match="average_by must be 'cohort_period' or 'horizon', got 'cohort'"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", average_by="cohort")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="leave_out must be True or False"):
        imputation_did(df, outcome="y", time="t", unit="id", cohort="g", leave_out=1)  # type: ignore[arg-type]

"""Controlled Goodman-Bacon decomposition (Goodman-Bacon 2021, section 5; R bacondecomp 0.1.3's ``bacon(y ~ D + x1 +
x2, ...)``, GitHub evanjflack/bacondecomp at ec99dd0): the within-timing-group component and the covariate-adjusted
2×2 of each timing-group pair add up to the TWFE coefficient with covariates.

The printed castle example of bacondecomp (``l_homicide ~ post + l_pop + l_income``) cannot be reproduced: the shared
castle.csv has no ``l_income`` (nor ``l_pop``; it has ``population``, ``unemployrt`` and ``poverty``), and the
package's vignette source stores no output for the controlled example. The tests check instead the exact identities
(to 1e-10) on castle with the covariates it has and on synthetic data, and one pair's 2×2 and weight against an
explicit construction with dummy-variable regressions following the package's documented steps (eqs. 23–27 of the
2019 working paper)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.did import bacon_decomposition, twfe
from cteimpact.errors import DesignError

CASTLE_KW = {"outcome": "l_homicide", "unit": "state", "time": "year", "treatment": "post"}
COVS = ["l_pop", "unemployrt", "poverty"]


@pytest.fixture(scope="module")
def castle(reference_data: Path) -> pd.DataFrame:
    df = pd.read_csv(reference_data / "castle.csv")
    df["post"] = (df["cdl"] > 0).astype(int)
    df["l_pop"] = np.log(df["population"])
    return df


def _quiet(fn, *args, **kw):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _ols(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(x, y, rcond=None)[0]


def _fe(frame: pd.DataFrame, unit: str, time: str) -> np.ndarray:
    """Intercept, unit and period dummies (one of each left out)."""
    u = pd.get_dummies(frame[unit], drop_first=True, dtype=float).to_numpy()
    t = pd.get_dummies(frame[time], drop_first=True, dtype=float).to_numpy()
    return np.column_stack([np.ones(len(frame)), u, t])


def _check_identities(res, twfe_coef: float) -> None:  # type: ignore[no-untyped-def]
    assert res.twfe == pytest.approx(twfe_coef, abs=1e-10)
    assert abs(res.weighted_sum - res.twfe) <= 1e-10
    assert abs(res.omega * res.beta_within + (1 - res.omega) * res.beta_between - res.twfe) <= 1e-10
    tab = res.two_by_twos
    assert abs(tab["weight"].sum() + res.omega - 1.0) <= 1e-12
    # eq. 26: the pairs' weighted average is the between component
    assert abs(float((tab["weight"] * tab["estimate"]).sum() / tab["weight"].sum()) - res.beta_between) <= 1e-10
    assert 0.0 < res.omega < 1.0
    summ = res.summary.set_index("type")
    assert summ.loc["Within timing groups", "weight"] == pytest.approx(res.omega, abs=1e-15)
    assert summ.loc["Within timing groups", "avg_estimate"] == pytest.approx(res.beta_within, abs=1e-15)
    assert float(summ["weight"].sum()) == pytest.approx(1.0, abs=1e-12)


def test_castle_identity_and_twfe_with_covariates(castle: pd.DataFrame) -> None:
    res = _quiet(bacon_decomposition, castle, **CASTLE_KW, covariates=COVS)
    # the TWFE coefficient with covariates, by explicit dummy-variable OLS and by cteimpact's twfe
    x = np.column_stack([castle["post"].to_numpy(float), castle[COVS].to_numpy(float),
                         _fe(castle, "state", "year")])
    beta = float(_ols(castle["l_homicide"].to_numpy(float), x)[0])
    _check_identities(res, beta)
    assert _quiet(twfe, castle, **CASTLE_KW, covariates=COVS).estimate == pytest.approx(res.twfe, abs=1e-12)
    # 21 adopting states in 5 adoption years (2005-2009) and never-treated states: 10 pairs of adoption years,
    # 5 against the never treated
    assert sorted(res.two_by_twos["type"].value_counts().items()) == [("Both Treated", 10),
                                                                      ("Treated vs Untreated", 5)]
    assert list(res.covariates) == COVS and res.options["covariates"] == COVS
    rec = res.record()
    assert rec["omega"] == res.omega and rec["covariates"] == COVS and rec["beta_between"] == res.beta_between
    assert "controlling for l_pop, unemployrt, poverty" in res.summary()
    # without covariates the decomposition is the published one (Theorem 1; tested against bacondecomp elsewhere)
    plain = _quiet(bacon_decomposition, castle, **CASTLE_KW)
    assert plain.covariates == () and np.isnan(plain.omega)
    assert set(plain.two_by_twos["type"]) == {"Earlier vs Later Treated", "Later vs Earlier Treated",
                                              "Treated vs Untreated"}
    assert _quiet(bacon_decomposition, castle, **CASTLE_KW, covariates=[]).twfe == plain.twfe


def _synthetic(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, periods = 40, 7
    unit = np.repeat(np.arange(n), periods)
    time = np.tile(np.arange(1, periods + 1), n)
    cohort = np.repeat(rng.choice([0, 3, 4, 6], size=n, p=[0.3, 0.25, 0.25, 0.2]), periods)
    x1 = rng.normal(size=n * periods) + 0.3 * time + 0.5 * (cohort == 4) * time
    x2 = rng.gamma(2.0, size=n * periods) + 0.2 * (cohort == 3) * time
    d = ((cohort > 0) & (time >= cohort)).astype(float)
    y = 0.05 * unit + 0.1 * time + 0.4 * x1 - 0.3 * x2 + d * (1 + 0.2 * (time - cohort)) + rng.normal(size=n * periods)
    return pd.DataFrame({"u": unit, "t": time, "g": cohort, "x1": x1, "x2": x2, "y": y})


def test_synthetic_identity_and_explicit_pair() -> None:
    df = _synthetic()
    kw = {"outcome": "y", "unit": "u", "time": "t", "cohort": "g"}
    res = _quiet(bacon_decomposition, df, **kw, covariates=["x1", "x2"])
    fe = _fe(df, "u", "t")
    d = ((df["g"] > 0) & (df["t"] >= df["g"])).to_numpy(float)
    xs = df[["x1", "x2"]].to_numpy(float)
    y = df["y"].to_numpy(float)
    _check_identities(res, float(_ols(y, np.column_stack([d, xs, fe]))[0]))
    # explicit construction (dummy-variable regressions) of Omega and of the pair (3, 6)
    work = df.assign(D=d)
    design = np.column_stack([xs, fe])
    work["p"] = design @ _ols(d, design)  # treatment predicted by the covariates and fixed effects
    work["res"] = work["D"] - work["p"]
    r_i = work.groupby("u")["res"].transform("mean")
    r_t = work.groupby("t")["res"].transform("mean")
    r_kt = work.groupby(["g", "t"])["res"].transform("mean")
    r_k = work.groupby("g")["res"].transform("mean")
    tilde = work["res"] - r_i - r_t + work["res"].mean()
    within = work["res"] - r_i - (r_kt - r_k)
    assert res.omega == pytest.approx(float(np.var(within) / np.var(tilde)), abs=1e-12)
    for c in ("x1", "x2", "p"):
        work[f"g_{c}"] = work.groupby(["g", "t"])[c].transform("mean")
    pair = work[work["g"].isin([3, 6])].reset_index(drop=True)
    fe_p = _fe(pair, "u", "t")

    def resid(v: np.ndarray) -> np.ndarray:
        return v - fe_p @ _ols(v, fe_p)

    d_til = resid(pair["D"].to_numpy(float))
    gx = np.column_stack([resid(pair[c].to_numpy(float)) for c in ("g_x1", "g_x2")])
    one_gx = np.column_stack([np.ones(len(pair)), gx])
    fitted = one_gx @ _ols(d_til, one_gx)
    r2 = 1 - float(np.sum((d_til - fitted) ** 2)) / float(np.sum((d_til - d_til.mean()) ** 2))
    v_d = float(np.var(d_til))
    dp = fitted - resid(pair["g_p"].to_numpy(float))
    v_dp = float(np.var(dp))
    yp = pair["y"].to_numpy(float)
    b_d = float(_ols(yp, np.column_stack([pair["D"].to_numpy(float), pair[["g_x1", "g_x2"]].to_numpy(float),
                                          fe_p]))[0])
    b_b = float(_ols(yp, np.column_stack([dp, fe_p]))[0])
    n_obs = len(pair)
    est = ((1 - r2) * v_d * b_d + v_dp * b_b) / ((1 - r2) * v_d + v_dp)
    tab = res.two_by_twos.set_index(["treated", "control"])
    assert float(tab.loc[(3.0, 6.0), "estimate"]) == pytest.approx(est, abs=1e-10)
    # weights relative to another pair: N² ((1 - R²) V_D + V_δ) up to the common scale
    s_36 = n_obs ** 2 * ((1 - r2) * v_d + v_dp)
    total = float(tab["weight"].sum())
    assert float(tab.loc[(3.0, 6.0), "weight"]) / total == pytest.approx(
        s_36 / sum(_pair_weight(work, a, b) for a, b in tab.index), rel=1e-9)
    assert float(tab.loc[(3.0, 0.0), "weight"]) > 0 and tab.loc[(3.0, 0.0), "type"] == "Treated vs Untreated"


def _pair_weight(work: pd.DataFrame, a: float, b: float) -> float:
    pair = work[work["g"].isin([a, b])].reset_index(drop=True)
    fe_p = _fe(pair, "u", "t")

    def resid(v: np.ndarray) -> np.ndarray:
        return v - fe_p @ _ols(v, fe_p)

    d_til = resid(pair["D"].to_numpy(float))
    gx = np.column_stack([np.ones(len(pair))] + [resid(pair[c].to_numpy(float)) for c in ("g_x1", "g_x2")])
    fitted = gx @ _ols(d_til, gx)
    dp = fitted - resid(pair["g_p"].to_numpy(float))
    return len(pair) ** 2 * (float(np.mean((d_til - fitted) ** 2)) + float(np.var(dp)))


def test_categorical_and_bad_covariates() -> None:
    df = _synthetic()
    kw = {"outcome": "y", "unit": "u", "time": "t", "cohort": "g"}
    rng = np.random.default_rng(9)
    df["zone"] = np.array(["a", "b", "c"])[rng.integers(0, 3, len(df))]  # time-varying factor
    manual = df.assign(zb=(df["zone"] == "b").astype(float), zc=(df["zone"] == "c").astype(float))
    a = _quiet(bacon_decomposition, df, **kw, covariates=["x1", "zone"])
    b = _quiet(bacon_decomposition, manual, **kw, covariates=["x1", "zb", "zc"])
    assert abs(a.twfe - b.twfe) <= 1e-12 and abs(a.omega - b.omega) <= 1e-12
    np.testing.assert_allclose(a.two_by_twos["estimate"], b.two_by_twos["estimate"], rtol=0, atol=1e-10)
    assert a.covariates == ("x1", "zone=b", "zone=c")
    df["fixed"] = df["u"] * 0.5  # constant within units: absorbed by the unit effects
    with pytest.raises(DesignError, match=r"covariate\(s\) 'fixed' do not vary within units over time \(40 units"):
        _quiet(bacon_decomposition, df, **kw, covariates=["x1", "fixed"])


BASE = ["--outcome", "y", "--unit", "u", "--time", "t", "--cohort", "g"]


def test_cli_bacon_with_covariates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _synthetic()
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["did", str(path), *BASE, "--estimator", "bacon", "--covariates", "x1,x2", "--json",
                     "--min-cell", "2"])
    out = capsys.readouterr()
    assert code == 0, out.err
    obj = json.loads(out.out)
    res = _quiet(bacon_decomposition, pd.read_csv(path), outcome="y", unit="u", time="t", cohort="g",
                 covariates=["x1", "x2"])
    det = obj["results"]["details"]
    assert det["omega"] == pytest.approx(res.omega, rel=1e-12)
    assert det["twfe"] == pytest.approx(res.twfe, rel=1e-12)
    assert det["weighted_sum"] == pytest.approx(res.twfe, abs=1e-10)
    assert len(det["two_by_twos"]) == len(res.two_by_twos)
    assert obj["options"]["covariates"] == ["x1", "x2"]
    # with --min-cell above the never treated (about 12 units) the overall row and every component are hidden
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["did", str(path), *BASE, "--estimator", "bacon", "--covariates", "x1,x2", "--json",
                     "--min-cell", "40"])
    obj = json.loads(capsys.readouterr().out)
    det = obj["results"]["details"]
    assert code == 0 and obj["estimates"][0]["suppressed"] is True
    assert det["omega"] is None and det["beta_within"] is None and det["twfe"] is None and det["summary"] is None
    assert all(r["suppressed"] and r["estimate"] is None for r in det["two_by_twos"])


def test_record_counts_are_integers() -> None:
    res = _quiet(bacon_decomposition, _synthetic(), outcome="y", unit="u", time="t", cohort="g", covariates=["x1"])
    summ = {r["type"]: r for r in res.record()["summary"]}
    assert summ["Both Treated"]["n_comparisons"] == 3 and isinstance(summ["Both Treated"]["n_comparisons"], int)
    assert summ["Within timing groups"]["n_comparisons"] is None
    assert json.loads(json.dumps(res.record()))["omega"] == res.omega

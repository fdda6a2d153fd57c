"""Integrated-moments pre-test of conditional parallel trends (R did's ``conditional_did_pretest``, did 2.5.1 on
GitHub bcallaway11/did at 71ba8a5; no published numbers exist for it: the package's example is not run and its tests
check only ranges). Checked here: each moment ``J(g, t, x)`` equals the Callaway–Sant'Anna IPW pre-period ATT(g, t)
computed with the outcome replaced by ``Y · 1{X ≤ x}`` (the construction R uses), the statistic and the bootstrap
quantities follow their definitions, the test rejects a violated conditional parallel trend and not a valid one,
and bad input is a typed error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from did_cli_helpers import MPDTA_ARGS
from study_helpers import run_cli as _run

from cteimpact.did import CallawaySantAnna
from cteimpact.did.conditional_pretest import conditional_did_pretest
from cteimpact.errors import DesignError, OptionError

KW = {"outcome": "lemp", "time": "year", "unit": "countyreal", "cohort": "first.treat"}


@pytest.fixture(scope="module")
def mpdta(reference_data: Path) -> pd.DataFrame:
    return pd.read_csv(reference_data / "mpdta.csv")


@pytest.fixture(scope="module")
def pretest(mpdta: pd.DataFrame):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return conditional_did_pretest(mpdta, **KW, covariates=["lpop"], biters=499, seed=3)


def _pre_att(frame: pd.DataFrame) -> dict[tuple[float, float], float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(frame, **KW, covariates=["lpop"], method="ipw").fit(twfe=False)
    gt = res.group_time
    pre = gt[gt["time"] < gt["group"]]
    return {(float(g), float(t)): float(a) for g, t, a in zip(pre["group"], pre["time"], pre["att"], strict=True)}


def test_moments_are_ipw_att_of_the_weighted_outcome(mpdta: pd.DataFrame, pretest) -> None:  # type: ignore[no-untyped-def]
    cells = list(zip(pretest.cells["group"], pretest.cells["time"], strict=True))
    assert cells == [(2006.0, 2004.0), (2006.0, 2005.0), (2007.0, 2004.0), (2007.0, 2005.0), (2007.0, 2006.0)]
    # units in the order of the prepared panel (by cohort, then unit): thresholds are their first-period lpop
    first = mpdta[mpdta["year"] == 2003].set_index("countyreal")
    order = mpdta[mpdta["year"] == 2003].sort_values(["first.treat", "countyreal"], key=lambda s: s.replace(
        0, -1) if s.name == "first.treat" else s)["countyreal"].to_numpy()
    lpop = first.loc[order, "lpop"].to_numpy()
    # the largest lpop: every unit below it, so the moment is the plain IPW pre-period ATT
    top = int(np.argmax(lpop))
    plain = _pre_att(mpdta)
    np.testing.assert_allclose(pretest.moments[top], [plain[c] for c in cells], rtol=0, atol=1e-12)
    # other thresholds: R's construction, the outcome set to 0 for units above the threshold
    for j in (int(np.argmin(lpop)) + 0, int(np.argsort(lpop)[100]), int(np.argsort(lpop)[350])):
        keep = mpdta["countyreal"].map(first["lpop"]) <= lpop[j]
        att = _pre_att(mpdta.assign(lemp=mpdta["lemp"].where(keep, 0.0)))
        np.testing.assert_allclose(pretest.moments[j], [att[c] for c in cells], rtol=0, atol=1e-12)


def test_statistic_and_bootstrap_definitions(pretest) -> None:  # type: ignore[no-untyped-def]
    n = pretest.n
    assert n == 500 and pretest.moments.shape == (500, 5)
    assert pretest.statistic == pytest.approx(n * float(np.sum(np.mean(pretest.moments ** 2, axis=0))), rel=1e-14)
    boot = pretest.bootstrap
    assert boot.size == 499 and np.all(boot > 0)
    assert pretest.p_value == float(np.mean(boot > pretest.statistic))
    assert pretest.critical_value == float(np.quantile(boot, 0.95, method="inverted_cdf"))
    assert pretest.reject is (pretest.statistic > pretest.critical_value)
    # mpdta with lpop: conditional parallel trends is not rejected (R did's own regression test expects the same on
    # a subsample)
    assert pretest.p_value > 0.05 and not pretest.reject
    d = pretest.to_dict()
    assert d["statistic"] == pretest.statistic and len(d["cells"]) == 5 and d["options"]["covariates"] == ["lpop"]
    assert "Cramér-von Mises statistic" in pretest.summary() and "not rejected" in pretest.summary()


def test_seed_reproducible_and_clusters(mpdta: pd.DataFrame, pretest) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = conditional_did_pretest(mpdta, **KW, covariates=["lpop"], biters=499, seed=3)
        other = conditional_did_pretest(mpdta, **KW, covariates=["lpop"], biters=499, seed=4)
        df = mpdta.assign(state=mpdta["countyreal"] // 1000)
        clustered = conditional_did_pretest(df, **KW, covariates=["lpop"], biters=199, seed=3, cluster="state")
    assert np.array_equal(again.bootstrap, pretest.bootstrap) and again.p_value == pretest.p_value
    assert other.statistic == pretest.statistic and not np.array_equal(other.bootstrap, pretest.bootstrap)
    assert clustered.n_clusters == df["state"].nunique() < clustered.n
    assert clustered.statistic == pretest.statistic


def _dgp(violate: bool, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, periods = 600, 4
    x = rng.normal(size=n)
    g = np.where(rng.random(n) < 1 / (1 + np.exp(-x)), 4, 0)  # selection on x
    rows = []
    for t in range(1, periods + 1):
        # trends depend on x for everyone (conditional parallel trends holds); with violate, the treated units'
        # pre-period trend depends on x differently
        trend = t * (0.5 * x) + (violate * (g == 4) * t * 0.6 * np.maximum(x, 0))
        y = x + trend + (g > 0) * (t >= g) + rng.normal(scale=0.5, size=n)
        rows.append(pd.DataFrame({"id": np.arange(n), "t": t, "g": g, "x": x, "y": y}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("violate", [False, True])
def test_rejects_violation_only(violate: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = conditional_did_pretest(_dgp(violate), outcome="y", time="t", unit="id", cohort="g", covariates=["x"],
                                      biters=299, seed=1)
    assert len(res.cells) == 2  # cohort 4: (4, 2) and (4, 3)
    if violate:
        assert res.p_value < 0.01 and res.reject
    else:
        assert res.p_value > 0.05 and not res.reject


def test_bad_input(mpdta: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match="needs covariates"):
        conditional_did_pretest(mpdta, **KW, covariates=[])
    for bad, match in (({"biters": 1}, "biters must be an integer of at least 2"),
                       ({"alpha": 1.5}, "alpha must be a number strictly between 0 and 1"),
                       ({"seed": -1}, "seed must be a non-negative integer")):
        with pytest.raises(OptionError, match=match):
            conditional_did_pretest(mpdta, **KW, covariates=["lpop"], **bad)  # type: ignore[arg-type]
    treated_only = mpdta[mpdta["first.treat"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no never-treated unit: the last-treated cohort (2007) is the comparison group and its periods from 2007 on
        # are dropped (R did's rule, as for CallawaySantAnna)
        last = conditional_did_pretest(treated_only, **KW, covariates=["lpop"], biters=9)
        assert list(last.cells["group"]) == [2006.0, 2006.0] and list(last.cells["time"]) == [2004.0, 2005.0]
        early = mpdta[mpdta["first.treat"].isin([0, 2004])]
        with pytest.raises(DesignError, match="no pre-treatment cell"):
            conditional_did_pretest(early, **KW, covariates=["lpop"], biters=9)


# ---- command line ----------------------------------------------------------------------------------------------

BASE = MPDTA_ARGS


def test_cli_conditional_pretest(mpdta: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = tmp_path / "m.csv"
    mpdta.to_csv(path, index=False)
    code, out, err = _run(["did", str(path), *BASE, "--covariates", "lpop", "--conditional-pretest", "--seed", "3",
                           "--no-twfe", "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)["conditional_pretest"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the command line reads the unit column as text (identifiers): the same units in the same order
        res = conditional_did_pretest(pd.read_csv(path, dtype={"countyreal": str}), **KW, covariates=["lpop"], seed=3)
    assert obj["statistic"] == pytest.approx(res.statistic, rel=1e-12)
    assert obj["p_value"] == res.p_value and obj["biters"] == 1000 and obj["seed"] == 3
    assert obj["cells"][0]["n_treated"] == 40  # cohort 2006: 40 counties (shown: at least --min-cell)
    code, out, err = _run(["did", str(path), *BASE, "--covariates", "lpop", "--conditional-pretest", "--seed", "3",
                           "--no-twfe", "--min-cell", "50"], capsys)
    assert code == 0, err
    assert "Conditional pre-test (integrated moments, 5 pre-treatment cells)" in out
    assert out.rstrip().splitlines()[-1].startswith("Privacy:")
    code, out, err = _run(["did", str(path), *BASE, "--covariates", "lpop", "--conditional-pretest", "--seed", "3",
                           "--no-twfe", "--min-cell", "50", "--json"], capsys)
    assert json.loads(out)["conditional_pretest"]["cells"][0]["n_treated"] is None  # 40 < 50: not shown


@pytest.mark.parametrize(("args", "words"), [
    (["--conditional-pretest"], ["--conditional-pretest needs --covariates"]),
    (["--estimator", "twfe", "--covariates", "lpop", "--conditional-pretest"],
     ["--conditional-pretest", "--estimator twfe"]),
])
def test_cli_conditional_pretest_errors(mpdta: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], words: list[str]) -> None:
    path = tmp_path / "m.csv"
    mpdta.to_csv(path, index=False)
    code, out, err = _run(["did", str(path), *BASE, *args], capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    for w in words:
        assert w in err

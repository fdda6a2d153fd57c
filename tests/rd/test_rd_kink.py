"""Regression kink designs (rdrobust ``deriv=1``): agreement with a direct rdrobust call on the Senate data shipped
with rdrobust, element by element (rdrobust's documentation prints no deriv=1 numbers to compare against), the
``<outcome>[kink]`` label, recovery of a known change in slope, and the errors (``p < 1`` and bad columns)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from rdrobust import rdrobust
from study_helpers import run_cli

from cteimpact.errors import DataValidationError, OptionError
from cteimpact.rd.kink import kink_rd
from cteimpact.rd.options import RDOptions


@pytest.fixture(scope="module")
def senate_complete(senate):
    return senate.dropna(subset=["vote", "margin"]).reset_index(drop=True)


def _kink_data(n=6000, seed=0, fuzzy=False):
    """y has slope 0.5 below 0 and 1.7 above (a kink of 1.2); fuzzy: treatment intensity t kinks by 0.6 and y = 2 t
    + smooth, so the ratio of kinks is 2."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    if fuzzy:
        t = 0.2 * x + 0.6 * np.maximum(x, 0) + rng.normal(scale=0.02, size=n)
        y = 1 + 2 * t + 0.3 * x + rng.normal(scale=0.02, size=n)
        return pd.DataFrame({"x": x, "y": y, "t": t})
    y = 1 + 0.5 * x + 1.2 * np.maximum(x, 0) + rng.normal(scale=0.1, size=n)
    return pd.DataFrame({"x": x, "y": y})


def _direct(y, x, **kw):
    """rdrobust called directly with cteimpact's default options spelled out."""
    base = {"c": 0.0, "deriv": 1, "p": 2, "kernel": "triangular", "bwselect": "mserd", "vce": "nn", "nnmatch": 3,
            "level": 95.0, "masspoints": "adjust", "bwrestrict": True, "stdvars": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdrobust(np.asarray(y, float), np.asarray(x, float), **{**base, **kw})


def _same(res, ref):
    f = res.fit
    np.testing.assert_allclose([f.estimate, f.estimate_bc], np.asarray(ref.coef, float).reshape(-1)[:2], rtol=1e-12)
    np.testing.assert_allclose([f.se, f.se_robust], np.asarray(ref.se, float).reshape(-1)[[0, 2]], rtol=1e-12)
    np.testing.assert_allclose(f.p_value, np.asarray(ref.pv, float).reshape(-1), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(f.ci), np.asarray(ref.ci, float), rtol=1e-12)
    np.testing.assert_allclose(f.h + f.b, np.asarray(ref.bws, float).reshape(-1), rtol=1e-12)
    assert f.n_h == tuple(int(v) for v in ref.N_h)
    assert f.deriv == 1


@pytest.mark.parametrize("opts", [{"p": 1}, {"p": 2}, {"p": 2, "kernel": "uniform", "bwselect": "msetwo"}])
def test_sharp_kink_matches_direct_rdrobust_on_senate(senate_complete, opts):
    res = kink_rd(senate_complete, outcome="vote", score="margin", cutoff=0, **opts)
    ref = _direct(senate_complete["vote"], senate_complete["margin"], **opts)
    _same(res, ref)
    assert res.label == "vote[kink]" and res.design == "sharp kink"


def test_default_order_is_rdrobusts_kink_default(senate_complete):
    res = kink_rd(senate_complete, outcome="vote", score="margin", cutoff=0)
    assert (res.fit.p, res.fit.q) == (2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = rdrobust(senate_complete["vote"].to_numpy(float), senate_complete["margin"].to_numpy(float), deriv=1)
    assert int(ref.p) == 2 and res.fit.estimate == pytest.approx(float(np.asarray(ref.coef, float)[0, 0]), rel=1e-12)


def test_sharp_kink_senate_reference_values(senate_complete):
    """rdrobust 2.1.1, vote on margin, deriv=1, p=2 (mserd, triangular, nn): computed by a direct rdrobust call
    (the published illustrations print no kink output)."""
    res = kink_rd(senate_complete, outcome="vote", score="margin", cutoff=0, p=2)
    assert res.fit.estimate == pytest.approx(0.707476, abs=5e-6)
    assert res.fit.estimate_bc == pytest.approx(1.003731, abs=5e-6)
    assert res.fit.se_robust == pytest.approx(0.709056, abs=5e-6)
    assert res.fit.h[0] == pytest.approx(19.841749, abs=5e-6)
    assert res.fit.n_h == (389, 346)


def test_fuzzy_kink_matches_direct_rdrobust_and_recovers_ratio():
    d = _kink_data(fuzzy=True)
    res = kink_rd(d, outcome="y", score="x", cutoff=0, treatment="t")
    ref = _direct(d["y"], d["x"], fuzzy=d["t"].to_numpy(float))
    _same(res, ref)
    assert res.fit.first_stage is not None
    np.testing.assert_allclose(res.fit.first_stage.estimate, np.asarray(ref.tau_T, float).reshape(-1)[0], rtol=1e-12)
    assert res.design == "fuzzy kink"
    lo, hi = res.fit.ci[2]
    assert lo < 2.0 < hi and res.fit.estimate == pytest.approx(2.0, abs=0.3)
    tidy = res.tidy()
    assert list(tidy["label"]) == ["y[kink]", "y[kink first stage]"]
    assert tidy.loc[1, "ci_lower"] < 0.6 < tidy.loc[1, "ci_upper"]


def test_sharp_kink_recovers_change_in_slope():
    res = kink_rd(_kink_data(), outcome="y", score="x", cutoff=0, p=2)
    lo, hi = res.fit.ci[2]
    assert lo < 1.2 < hi
    assert res.fit.estimate == pytest.approx(1.2, abs=0.25)


def test_clustered_kink_matches_direct_call():
    d = _kink_data()
    d["g"] = np.arange(len(d)) % 200
    res = kink_rd(d, outcome="y", score="x", cutoff=0, cluster="g")
    ref = _direct(d["y"], d["x"], cluster=d["g"].to_numpy(), vce="cr1")
    _same(res, ref)
    assert res.fit.vce == "cr1"


@pytest.mark.parametrize("p", [0])
def test_p_below_one_is_a_typed_error(senate_complete, p):
    with pytest.raises(OptionError, match=r"p \(polynomial order\) must be at least 1 for a kink design.*got p=0"):
        kink_rd(senate_complete, outcome="vote", score="margin", cutoff=0, p=p)
    with pytest.raises(OptionError, match="at least 1 for a kink"):
        kink_rd(senate_complete, outcome="vote", score="margin", cutoff=0, options=RDOptions(p=0))


def test_missing_values_are_an_error_not_dropped(senate):
    with pytest.raises(DataValidationError, match="outcome column 'vote' has 93 missing"):
        kink_rd(senate, outcome="vote", score="margin", cutoff=0)


def test_small_cells_hide_every_number(senate_complete):
    res = kink_rd(senate_complete, outcome="vote", score="margin", cutoff=0, min_cell=400)
    assert res.suppressed is not None and "400" in res.suppressed
    row = res.tidy().iloc[0]
    assert row["label"] == "vote[kink]" and bool(row["suppressed"])
    assert row[["estimate", "se_robust", "ci_lower", "n_left"]].isna().all()
    d = res.to_dict()
    assert d["fit"] is None and d["estimates"][0]["estimate"] is None
    assert "not shown" in res.summary() and "0.707" not in res.summary()


def _run(capsys, *args):
    return run_cli(["rd-kink", *map(str, args)], capsys)


@pytest.fixture(scope="module")
def senate_csv(tmp_path_factory, senate_complete):
    path = tmp_path_factory.mktemp("kink") / "senate.csv"
    senate_complete.to_csv(path, index=False)
    return path


def test_cli_json_reports_the_kink(capsys, senate_csv):
    code, out, err = _run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0", "--p", "2",
                          "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["label"] == "vote[kink]" and obj["deriv"] == 1 and obj["options"]["p"] == 2
    assert obj["estimates"][0]["estimate"] == pytest.approx(0.707476, abs=5e-6)
    code, out, _ = _run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0")
    assert code == 0 and "vote[kink]: 0.7075" in out and "change in the slope" in out and "p = 2" in out


@pytest.mark.parametrize(("args", "message"), [
    (("--p", "0"), "p (polynomial order) must be at least 1 for a kink design"),
    (("--fuzzy", "nope"), "column 'nope' (role 'treatment') is not in the data"),
    (("--cluster", "termshouse"), "cluster column 'termshouse' has"),
])
def test_cli_errors_exit_2_one_line(capsys, senate_csv, tmp_path, args, message):
    target = tmp_path / "out.json"
    code, out, err = _run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0",
                          "--output", target, *args)
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cteimpact: error") and message in lines[0]
    assert not target.exists()

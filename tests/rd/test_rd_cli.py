"""``cteimpact rd``: the JSON contract, restrictions, diagnostics, errors (exit 2, one line)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from cteimpact.cli.app import main
from cteimpact.results import ResultsRecord

CONTRACT_KEYS = ("estimate", "estimate_bc", "se", "se_robust", "ci", "ci_robust", "p_robust", "h", "b", "n",
                 "n_effective", "sample_flow")


@pytest.fixture(scope="module")
def senate_csv(tmp_path_factory, senate):
    path = tmp_path_factory.mktemp("rd") / "senate.csv"
    senate.to_csv(path, index=False)
    return path


def run(capsys, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["rd", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract_matches_golden(capsys, senate_csv, golden):
    code, out, err = run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0", "--json")
    assert code == 0, err
    obj = json.loads(out)
    for key in CONTRACT_KEYS:
        assert key in obj, key
    ref = golden["cases"]["rdrobust_default"]["result"]
    np.testing.assert_allclose(obj["estimate"], ref["coef"][0], rtol=1e-12)
    np.testing.assert_allclose(obj["estimate_bc"], ref["coef"][1], rtol=1e-12)
    np.testing.assert_allclose([obj["se"], obj["se_robust"]], [ref["se"][0], ref["se"][2]], rtol=1e-12)
    np.testing.assert_allclose(obj["ci"], ref["ci"][0], rtol=1e-12)
    np.testing.assert_allclose(obj["ci_robust"], ref["ci"][2], rtol=1e-12)
    np.testing.assert_allclose(obj["p_robust"], ref["pv"][2], rtol=1e-12)
    np.testing.assert_allclose(obj["h"], ref["h"], rtol=1e-12)
    np.testing.assert_allclose(obj["b"], ref["b"], rtol=1e-12)
    assert obj["n"] == ref["N"] and obj["n_effective"] == ref["N_h"]
    assert obj["sample_flow"]["rows_read"] == 1390 and obj["sample_flow"]["rows_used"] == 1297
    record = ResultsRecord.from_dict(obj["results"])
    assert record.estimate("vote").estimate == obj["estimate"]


def test_json_output_is_deterministic(capsys, senate_csv):
    args = (senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0", "--cluster", "state", "--json")
    _, first, _ = run(capsys, *args)
    _, second, _ = run(capsys, *args)
    assert first == second


def test_diagnostics_keys(capsys, senate_csv):
    code, out, err = run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0",
                         "--baseline-covariates", "presdemvoteshlag1,population", "--diagnostics", "--json",
                         "--n-jobs", "1")
    assert code == 0, err
    obj = json.loads(out)
    assert set(obj["density_test"]) >= {"statistic", "p_value", "verdict", "evidence"}
    np.testing.assert_allclose(obj["density_test"]["statistic"], -0.8752730140676568, rtol=1e-9)
    for key in ("covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity", "polynomial_order", "donut",
                "attrition"):
        assert obj[key]["verdict"] in ("pass", "flag", "not_run"), key
        assert obj[key]["table"], key
    assert obj["wwc_review"]["overall"] in ("met", "not_met", "needs_human_review")


def test_where_restriction_and_cutoff_column(capsys, tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    import pandas as pd

    cut = np.where(rng.uniform(size=n) < 0.5, 50.0, 55.0)
    score = rng.uniform(20, 85, n)
    d = pd.DataFrame({"score": score, "cutoff": cut, "y": 0.01 * (score - cut) - 0.3 * (score >= cut)
                      + rng.normal(scale=0.3, size=n), "cohort": rng.integers(2012, 2018, n),
                      "award_year": 2014})
    path = tmp_path / "d.parquet"
    d.to_parquet(path)
    code, out, err = run(capsys, path, "--outcome", "y", "--running", "score", "--cutoff-column", "cutoff",
                         "--where", "cohort >= award_year", "--json")
    assert code == 0, err
    obj = json.loads(out)
    step = obj["sample_flow"]["steps"][0]
    assert step["reason"] == "restriction: cohort >= award_year"
    assert step["excluded"] == int((d["cohort"] < 2014).sum())
    assert [c["label"] for c in obj["cutoffs"]] == ["y[cutoff=50]", "y[cutoff=55]"]
    assert obj["cutoff"] == 0.0


@pytest.mark.parametrize(("args", "message"), [
    (("--cutoff", "200"), "cutoff 200 is outside the range of the running variable 'margin'"),
    (("--cutoff", "0", "--fuzzy", "dopen2"), "column 'dopen2' (role 'treatment') is not in the data"),
    (("--cutoff", "0", "--h", "a,b"), "--h takes one number or two"),
    (("--cutoff", "0", "--cluster", "termshouse"), "cluster column 'termshouse' has 282 missing values"),
    ((), "give --cutoff, or --cutoff-column"),
])
def test_errors_exit_2_with_one_line(capsys, senate_csv, args, message):
    code, out, err = run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", *args)
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("cteimpact: error")]
    assert len(lines) == 1 and message in lines[0]


def test_power_and_mde_keys(capsys, senate_csv, golden):
    code, out, err = run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0",
                         "--power-tau", "5", "--mde", "--json")
    assert code == 0, err
    obj = json.loads(out)
    np.testing.assert_allclose(obj["power"]["power"], golden["cases"]["rdpower_tau5"]["result"]["power_rbc"],
                               rtol=1e-9)
    np.testing.assert_allclose(obj["mde"]["mde"], golden["cases"]["rdmde_default"]["result"]["mde"], rtol=1e-9)


def test_plot_and_output_files(capsys, senate_csv, tmp_path):
    png = tmp_path / "rd.png"
    rec = tmp_path / "results.json"
    code, out, err = run(capsys, senate_csv, "--outcome", "vote", "--running", "margin", "--cutoff", "0",
                         "--plot", png, "--output", rec)
    assert code == 0, err
    assert png.stat().st_size > 1000
    assert json.loads(rec.read_text())["schema"] == "cteimpact.results/1"
    assert "robust_bias_corrected" in out  # the text summary

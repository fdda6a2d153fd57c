"""``cteimpact did --estimator imputation`` (Borusyak, Jaravel & Spiess 2024): the JSON equals the Python API
(:func:`cteimpact.did.imputation_did`), ``--horizons`` / ``--pretrends`` apply to it only (exit 2 elsewhere), and
rows of a tiny cohort are suppressed."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from did_cli_helpers import PANEL_ARGS, PANEL_KW, write_cli_panel
from did_cli_helpers import cli_panel as _panel
from study_helpers import run_cli as _run

from cteimpact.did import imputation_did

KW = PANEL_KW
BASE = PANEL_ARGS


@pytest.fixture
def panel(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    return write_cli_panel(tmp_path)


def _json(path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = _run(["did", str(path), *BASE, "--estimator", "imputation", *extra, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def _rows(obj: dict) -> dict[str, dict]:
    return {e["label"]: e for e in obj["estimates"]}


@pytest.mark.parametrize(("extra", "kwargs"), [
    ([], {}),
    (["--horizons", "all", "--pretrends", "2"], {"horizons": True, "pretrends": 2}),
    (["--horizons", "0,2", "--covariates", "x", "--level", "0.9"], {"horizons": [0, 2], "covariates": ["x"],
                                                                    "level": 0.9}),
    (["--horizons", "all", "--anticipation", "1", "--cluster", "cluster"],
     {"horizons": True, "anticipation": 1, "cluster": "cluster"}),
])
def test_json_equals_python(panel, capsys: pytest.CaptureFixture[str], extra: list[str], kwargs: dict) -> None:
    path, df = panel
    obj = _json(path, extra, capsys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = imputation_did(df, **KW, **kwargs)
    assert obj["estimator"] == "imputation"
    rows = _rows(obj)
    assert list(rows) == [e.label for e in res.estimates]
    assert len(rows) == 1 + len(res.event_study)
    for e in res.estimates:
        r = rows[e.label]
        assert r["suppressed"] is False
        assert r["estimate"] == pytest.approx(e.estimate, rel=1e-12, abs=1e-14)
        assert r["std_error"] == pytest.approx(e.std_error, rel=1e-12)
        assert r["ci_lower"] == pytest.approx(e.ci_lower, rel=1e-12, abs=1e-14)
    details = obj["results"]["details"]
    assert details["att"] == pytest.approx(res.att, rel=1e-12)
    assert [r["event_time"] for r in details["event_study"]] == list(res.event_study["event_time"])
    if res.pretrend is not None:
        assert details["pretrend"]["wald"] == pytest.approx(res.pretrend_stat, rel=1e-12)
        assert details["pretrend"]["df"] == kwargs["pretrends"]
        assert [c["estimate"] for c in details["pretrend"]["coefficients"]] == pytest.approx(
            list(res.pretrend["estimate"]), rel=1e-12)
        assert any("Pre-trend test (BJS Test 1" in n for n in obj["notes"])
    else:
        assert details["pretrend"] is None
    assert obj["options"]["horizons"] == [int(h) for h in res.event_study["event_time"]]
    assert obj["privacy"]["suppressed_estimates"] == 0
    assert obj["results"]["sampling_distribution"]["labels"] == [e.label for e in res.estimates]


def test_text_output(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = panel
    code, out, err = _run(["did", str(path), *BASE, "--estimator", "imputation", "--horizons", "all",
                           "--pretrends", "1"], capsys)
    assert code == 0, err
    assert "Borusyak, Jaravel & Spiess (2024) imputation DiD" in out
    assert "y[bjs,event=2]" in out and "Pre-trend test (BJS Test 1, 1 pre-periods)" in out
    assert out.rstrip().splitlines()[-1].startswith("Privacy:")


@pytest.mark.parametrize(("args", "words"), [
    (["--estimator", "twfe", "--horizons", "all"], ["--horizons", "--estimator twfe", "imputation"]),
    (["--estimator", "sun-abraham", "--pretrends", "2"], ["--pretrends", "--estimator sun-abraham", "imputation"]),
    (["--horizons", "0,1"], ["--horizons", "--estimator cs", "imputation"]),
    (["--pretrends", "1"], ["--pretrends", "--estimator cs", "imputation"]),
    (["--estimator", "imputation", "--method", "ipw"], ["--method", "--estimator imputation"]),
    (["--estimator", "imputation", "--treatment", "d"], ["--treatment", "--estimator imputation"]),
    (["--estimator", "imputation", "--horizons", "0,x"], ["--horizons", "'0,x'"]),
    (["--estimator", "imputation", "--horizons", "-1"], ["--horizons", "at least 0"]),
    (["--estimator", "imputation", "--pretrends", "-1"], ["--pretrends"]),
    (["--estimator", "imputation", "--horizons", "9"], ["horizon 9", "available horizons: 0, 1, 2"]),
    (["--estimator", "imputation", "--pretrends", "9"], ["pretrends=9", "event time"]),
])
def test_bad_options_exit_2(panel, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                            words: list[str]) -> None:
    path, _ = panel
    out_file = tmp_path / "out.json"
    code, out, err = _run(["did", str(path), *BASE, *args, "--output", str(out_file)], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err
    assert not out_file.exists()


def test_needs_cohort(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = panel
    code, _, err = _run(["did", str(path), "--outcome", "y", "--unit", "unit", "--time", "time", "--estimator",
                         "imputation"], capsys)
    assert code == 2 and "--estimator imputation needs --cohort" in err


def test_tiny_cohort_suppressed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # cohorts 2 and 5 have 5 units each (< 10), cohort 3 has 15, 20 never treated. Horizon 3 is seen only in
    # cohort 2 and pre-period -3 only in cohort 5: both hidden. Every other row is of 20 students (the never-treated
    # group), so complementary suppression hides exactly one more row of the family (overall and event rows)
    path = tmp_path / "tiny.csv"
    _panel({2: 1, 3: 3, 5: 1}).to_csv(path, index=False)
    obj = _json(path, ["--horizons", "all", "--pretrends", "3"], capsys)
    rows = _rows(obj)
    hidden = rows["y[bjs,event=3]"]
    assert hidden["suppressed"] is True and hidden["estimate"] is None and hidden["std_error"] is None
    assert "fewer than 10 students" in hidden["suppression"]
    compl = [r for r in obj["estimates"] if r["suppressed"] and r["label"] != "y[bjs,event=3]"]
    assert len(compl) == 1 and compl[0]["suppression"].startswith("complementary suppression")
    assert obj["privacy"]["suppressed_estimates"] == 2
    assert sum(not r["suppressed"] and r["estimate"] is not None for r in obj["estimates"]) == 3
    assert "y[bjs,event=3]" not in obj["results"]["sampling_distribution"]["labels"]
    es = {r["event_time"]: r for r in obj["results"]["details"]["event_study"]}
    assert es[3.0]["suppressed"] and es[3.0]["estimate"] is None and es[3.0]["n_obs"] is None
    assert sum(not r["suppressed"] and r["estimate"] is not None for r in es.values()) >= 2
    pre = {r["event_time"]: r for r in obj["results"]["details"]["pretrend"]["coefficients"]}
    assert pre[-3.0]["suppressed"] and pre[-3.0]["estimate"] is None and pre[-3.0]["std_error"] is None
    assert pre[-1.0]["suppressed"] is False and math.isfinite(pre[-1.0]["estimate"])
    # the text output names no number of a hidden row
    code, out, err = _run(["did", str(path), *BASE, "--estimator", "imputation", "--horizons", "all"], capsys)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if "event=3" in ln)
    assert "‡" in line and re.search(r"\d\.\d", line) is None
    # above the never-treated group (20 students) every estimate is hidden
    obj = _json(path, ["--horizons", "all", "--min-cell", "25"], capsys)
    assert all(e["suppressed"] and e["estimate"] is None for e in obj["estimates"])
    assert obj["results"]["details"]["att"] is None and obj["results"]["details"]["att_se"] is None


def test_reruns_byte_identical_with_categorical_covariate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _panel({3: 3, 4: 3})
    df["zone"] = np.array(["north", "south", "east"])[np.random.default_rng(2).integers(0, 3, len(df))]
    path = tmp_path / "zones.csv"
    df.to_csv(path, index=False)
    outs = []
    for _ in range(2):
        code, out, err = _run(["did", str(path), *BASE, "--estimator", "imputation", "--covariates", "x,zone",
                               "--horizons", "all", "--json"], capsys)
        assert code == 0, err
        outs.append(out)
    assert outs[0] == outs[1]
    obj = json.loads(outs[0])
    # 'east' is the first level in sorted order: the reference, as an explicit one-hot coding
    manual = pd.read_csv(path).assign(zn=lambda f: (f["zone"] == "north").astype(float),
                                      zs=lambda f: (f["zone"] == "south").astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = imputation_did(manual, **KW, covariates=["x", "zn", "zs"], horizons=True)
    for row, e in zip(obj["estimates"], res.estimates, strict=True):
        assert row["estimate"] == pytest.approx(e.estimate, rel=1e-12, abs=1e-14)
        assert row["std_error"] == pytest.approx(e.std_error, rel=1e-12)
    assert obj["options"]["covariate_coding"][0]["reference"] == "east"
    assert obj["options"]["covariates"] == ["x", "zone=north", "zone=south"]

"""``cteimpact did --estimator``: each comparison estimator's JSON equals the Python API, options that do not apply
are one-line errors (exit 2), small cells are suppressed, and ``--honest`` / ``--pretrend-power`` on CS."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest
from did_cli_helpers import PANEL_ARGS, PANEL_KW, write_cli_panel
from did_cli_helpers import cli_panel as _panel
from study_helpers import run_cli as _run

from cteimpact.did import (
    CallawaySantAnna,
    bacon_decomposition,
    etwfe,
    sun_abraham,
    twfe,
    twfe_event_study,
)

KW = PANEL_KW
BASE = PANEL_ARGS


@pytest.fixture
def panel(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    return write_cli_panel(tmp_path)


def _json(path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = _run(["did", str(path), *BASE, *extra, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def _rows(obj: dict) -> dict[str, dict]:
    return {e["label"]: e for e in obj["estimates"]}


def _same(obj: dict, res: object) -> None:
    rows = _rows(obj)
    assert list(rows) == [e.label for e in res.estimates]  # type: ignore[attr-defined]
    for e in res.estimates:  # type: ignore[attr-defined]
        r = rows[e.label]
        assert r["suppressed"] is False
        assert r["estimate"] == pytest.approx(e.estimate, rel=1e-10, abs=1e-12)
        if math.isfinite(e.std_error):
            assert r["std_error"] == pytest.approx(e.std_error, rel=1e-10)
            assert r["ci_lower"] == pytest.approx(e.ci_lower, rel=1e-10, abs=1e-12)
    assert obj["results"]["schema"] == "cteimpact.results/1"
    assert obj["results"]["estimates"] == obj["estimates"]
    for key in ("sample_flow", "options", "notes", "privacy"):
        assert key in obj
    assert obj["privacy"]["suppressed_estimates"] == 0


def test_twfe_and_covariates_equal_python(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, df = panel
    obj = _json(path, ["--estimator", "twfe"], capsys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = twfe(df, **KW)
        res_x = twfe(df, **KW, covariates=["x"])
    assert obj["estimator"] == "twfe"
    _same(obj, res)
    assert obj["results"]["details"]["estimate"] == pytest.approx(float(res.estimate), rel=1e-10)
    obj_x = _json(path, ["--estimator", "twfe", "--covariates", "x"], capsys)
    _same(obj_x, res_x)
    assert obj_x["estimates"][0]["estimate"] != pytest.approx(obj["estimates"][0]["estimate"], rel=1e-6)


def test_event_study_equals_twfe_event_study(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, df = panel
    obj = _json(path, ["--estimator", "event-study", "--covariates", "x"], capsys)
    es, _cov = twfe_event_study(df, **KW, covariates=["x"])
    rows = _rows(obj)
    for e, b, s in zip(es["event_time"], es["estimate"], es["std_error"], strict=True):
        r = rows[f"y[twfe,event={int(e)}]"]
        assert r["estimate"] == pytest.approx(b, rel=1e-10, abs=1e-12)
        assert r["std_error"] == pytest.approx(s, rel=1e-10)
    assert len(obj["results"]["details"]["event_study"]) == len(es)


def test_sun_abraham_equals_python(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, df = panel
    obj = _json(path, ["--estimator", "sun-abraham", "--covariates", "x", "--level", "0.9"], capsys)
    res = sun_abraham(df, **KW, covariates=["x"], level=0.9)
    _same(obj, res)
    assert obj["estimates"][0]["ci_level"] == 0.9
    assert obj["results"]["details"]["att"] == pytest.approx(res.att, rel=1e-10)


@pytest.mark.parametrize(("extra", "kwargs"), [([], {}), (["--control", "never", "--covariates", "x"],
                                                           {"control": "never", "covariates": ["x"]})])
def test_etwfe_equals_python(panel, capsys: pytest.CaptureFixture[str], extra: list[str], kwargs: dict) -> None:
    path, df = panel
    obj = _json(path, ["--estimator", "etwfe", *extra], capsys)
    res = etwfe(df, **KW, **kwargs)
    _same(obj, res)
    assert obj["options"]["control"] == kwargs.get("control", "notyet")


def test_etwfe_logit_equals_python_and_rejects_non_binary(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, df = panel
    obj = _json(path, ["--estimator", "etwfe", "--family", "logit", "--outcome", "b"], capsys)
    res = etwfe(df, **{**KW, "outcome": "b"}, family="logit")
    _same(obj, res)
    code, out, err = _run(["did", str(path), *BASE, "--estimator", "etwfe", "--family", "logit", "--json"], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "logit" in err and "'y'" in err and "250 of 250" in err


def test_bacon_equals_python(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, df = panel
    obj = _json(path, ["--estimator", "bacon"], capsys)
    bd = bacon_decomposition(df, **KW)
    _same(obj, bd)
    got = obj["results"]["details"]["two_by_twos"]
    want = bd.two_by_twos.to_dict(orient="records")
    assert [(r["treated"], r["control"]) for r in got] == [(r["treated"], r["control"]) for r in want]
    assert [r["estimate"] for r in got] == pytest.approx([r["estimate"] for r in want], rel=1e-10)


@pytest.mark.parametrize(("args", "words"), [
    (["--estimator", "twfe", "--method", "dr"], ["--method", "twfe"]),
    (["--estimator", "sun-abraham", "--bootstrap", "99"], ["--bootstrap", "sun-abraham"]),
    (["--estimator", "bacon", "--level", "0.9"], ["--level", "bacon"]),
    (["--estimator", "etwfe", "--anticipation", "1"], ["--anticipation", "etwfe"]),
    (["--estimator", "etwfe", "--treatment", "treated"], ["--treatment", "etwfe"]),
    (["--estimator", "twfe", "--students", "unit"], ["--students", "twfe"]),
    (["--estimator", "event-study", "--honest", "smoothness"], ["--honest", "event-study"]),
    (["--family", "logit"], ["--family", "cs"]),
    (["--mbar", "0,1"], ["--mbar", "--honest relative-magnitudes"]),
    (["--honest", "relative-magnitudes", "--m", "0,1"], ["--m", "--honest smoothness"]),
])
def test_options_that_do_not_apply_exit_2(panel, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          args: list[str], words: list[str]) -> None:
    path, _ = panel
    target = tmp_path / "out.json"
    code, out, err = _run(["did", str(path), *BASE, *args, "--output", str(target), "--json"], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    for w in words:
        assert w in lines[0]
    assert not target.exists()


@pytest.mark.parametrize("estimator", ["twfe", "event-study", "sun-abraham", "etwfe", "bacon"])
def test_tiny_cohort_suppressed(tmp_path: Path, capsys: pytest.CaptureFixture[str], estimator: str) -> None:
    # cohort 5 has 5 units (< 10): its rows are hidden; the overall estimate (35 treated, 20 comparison) is shown
    path = tmp_path / "tiny.csv"
    _panel({3: 3, 4: 3, 5: 1}).to_csv(path, index=False)
    obj = _json(path, ["--estimator", estimator], capsys)
    rows = obj["estimates"]
    overall = rows[0]
    assert overall["suppressed"] is False and overall["estimate"] is not None
    details = obj["results"]["details"]
    if estimator == "etwfe":
        hidden = _rows(obj)["y[etwfe,group=5]"]
        assert hidden["suppressed"] is True and hidden["estimate"] is None and hidden["std_error"] is None
        assert "fewer than 10 students" in hidden["suppression"]
        assert "y[etwfe,group=5]" not in obj["results"]["sampling_distribution"]["labels"]
        cells = [c for c in details["cell_effects"] if c["cohort"] == 5.0]
        assert cells and all(c["suppressed"] and c["estimate"] is None for c in cells)
        assert obj["privacy"]["suppressed_estimates"] >= 1
        # counts of rows involving cohort 5 would give its size by subtraction: not shown
        agg = {(r["type"], r["level"]): r for r in details["aggregations"]}
        assert agg[("simple", None)]["n_obs"] is None and agg[("calendar", 5.0)]["n_obs"] is None
        # cohort sizes 20, 15, 15, 5: cohort 5 and (complementary) one cohort of 15 are hidden, the other shown
        shown = {g: agg[("group", g)]["n_obs"] for g in (3.0, 4.0)}
        assert sorted(shown.values(), key=str) in ([45, None], [30, None])
        assert agg[("group", 5.0)]["n_obs"] is None
    elif estimator == "sun-abraham":
        cells = [c for c in details["cohort_effects"] if c["cohort"] == 5.0]
        assert cells and all(c["suppressed"] and c["estimate"] is None for c in cells)
        # event time 0 averages 15 + 15 + 5 students: shown
        assert _rows(obj)["y[sun_abraham,event=0]"]["suppressed"] is False
    elif estimator == "bacon":
        tt = [r for r in details["two_by_twos"] if 5.0 in (r["treated"], r["control"])]
        assert tt and all(r["suppressed"] and r["estimate"] is None and r["weight"] is None for r in tt)
    elif estimator == "event-study":
        # event time -4 is seen only in cohort 5 (first treated in 5, observed from period 1): hidden
        hidden = _rows(obj)["y[twfe,event=-4]"]
        assert hidden["suppressed"] is True and hidden["estimate"] is None and "fewer than 10" in hidden["suppression"]
        es = {r["event_time"]: r for r in details["event_study"]}
        assert es[-4.0]["suppressed"] and es[-4.0]["estimate"] is None and es[-4.0]["std_error"] is None
    else:
        assert obj["privacy"]["suppressed_estimates"] == 0
    # with --min-cell above the never-treated group (20 students) every estimate is hidden
    obj = _json(path, ["--estimator", estimator, "--min-cell", "25"], capsys)
    assert all(e["suppressed"] and e["estimate"] is None for e in obj["estimates"])
    assert obj["privacy"]["suppressed_estimates"] == len(obj["estimates"])
    assert obj["results"]["sampling_distribution"] is None or not obj["results"]["sampling_distribution"]["labels"]


def test_text_output_is_the_summary(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = panel
    for estimator, head in (("twfe", "Two-way fixed effects"), ("sun-abraham", "Sun & Abraham"),
                            ("etwfe", "Extended two-way fixed effects (Wooldridge 2021), linear"),
                            ("bacon", "Goodman-Bacon")):
        code, out, err = _run(["did", str(path), *BASE, "--estimator", estimator], capsys)
        assert code == 0, err
        assert head in out and "no estimates suppressed" in out


def test_text_and_plot_hide_the_tiny_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.csv"
    df = _panel({3: 3, 4: 3, 5: 1})
    df.to_csv(path, index=False)
    hidden = twfe(pd.read_csv(path), **KW, event_study=True).estimate("y[twfe,event=-4]")
    plot = tmp_path / "es.png"
    code, out, err = _run(["did", str(path), *BASE, "--estimator", "event-study", "--plot", str(plot)], capsys)
    assert code == 0, err
    line = next(r for r in out.splitlines() if r.startswith("y[twfe,event=-4]"))
    assert "‡" in line and f"{hidden.estimate:.4f}" not in out and f"{hidden.std_error:.4f}" not in out
    assert "2 estimates were suppressed" in out
    assert plot.stat().st_size > 0


def test_output_file_is_the_printed_object(panel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = panel
    target = tmp_path / "sa.json"
    obj = _json(path, ["--estimator", "sun-abraham", "--output", str(target)], capsys)
    assert json.loads(target.read_text()) == obj


def test_honest_and_pretrend_power_on_cs(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, df = panel
    obj = _json(path, ["--no-twfe", "--honest", "relative-magnitudes", "--mbar", "0,1", "--pretrend-power"], capsys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort").fit(twfe=False)
    h = res.honest_did(restriction="relative_magnitude", values=[0.0, 1.0])
    assert [r["value"] for r in obj["honest"]["table"]] == [0.0, 1.0]
    assert [r["lb"] for r in obj["honest"]["table"]] == pytest.approx(list(h.table["lb"]), rel=1e-9)
    assert obj["honest"]["restriction"] == "relative_magnitude"
    p = res.pretrend_power()
    assert obj["pretrend_power"]["slope_wald"] == pytest.approx(p.slope_wald, rel=1e-9)
    obj = _json(path, ["--no-twfe", "--honest", "smoothness", "--m", "0,0.05"], capsys)
    h = res.honest_did(restriction="smoothness", values=[0.0, 0.05])
    assert [r["ub"] for r in obj["honest"]["table"]] == pytest.approx(list(h.table["ub"]), rel=1e-9)
    assert "pretrend_power" not in obj
    code, out, err = _run(["did", str(path), *BASE, "--no-twfe", "--honest", "smoothness", "--pretrend-power"],
                          capsys)
    assert code == 0, err
    assert out.index("HonestDiD (smoothness, FLCI)") < out.index("Pre-trend power (Roth 2022)") < out.index("Privacy:")
    # the CS keys are unchanged
    assert {"att_gt", "aggregates", "pretest", "twfe", "results", "estimates"} <= set(obj)


@pytest.mark.reference
def test_mpdta_sun_abraham_and_etwfe(reference_file, capsys: pytest.CaptureFixture[str]) -> None:
    path = reference_file("mpdta.csv")
    args = ["--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat"]
    df = pd.read_csv(path)
    kw = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}
    for estimator, res in (("sun-abraham", sun_abraham(df, **kw)), ("etwfe", etwfe(df, **kw))):
        code, out, err = _run(["did", str(path), *args, "--estimator", estimator, "--json"], capsys)
        assert code == 0, err
        _same(json.loads(out), res)


def test_reruns_are_byte_identical(panel, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = panel
    outs = []
    for _ in range(2):
        code, out, err = _run(["did", str(path), *BASE, "--estimator", "etwfe", "--covariates", "x", "--json"], capsys)
        assert code == 0, err
        outs.append(out)
    assert outs[0] == outs[1] and '"estimator": "etwfe"' in outs[0]

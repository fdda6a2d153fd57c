"""``[surrogate]`` in a run: the long-run projection of the design's effect, its record, pricing, verification,
determinism and the bad inputs (one line, exit code 2).

The data are the shared synthetic students with three derived columns (tests/pipeline/surrogate_study.py): the
index is fitted on the cohorts of 2013 and before, the RD study sample holds the award cohorts (2014-2018).
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from surrogate_study import DATA_NAME, write_spec, write_surrogate_data

from cteimpact.cli.app import main
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.pipeline.run import run_analysis
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.records import RunRecords
from cteimpact.surrogate import SurrogateIndex

REPO = Path(__file__).resolve().parents[2]
SURROGATES = ["credential", "graduated", "earnings_age19"]


@contextmanager
def _quiet() -> Iterator[None]:
    """The RD's notes on few clusters within the bandwidth are not the subject of these tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def surrogate_data(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the derived data and the shipped contracts (read only)."""
    folder = tmp_path_factory.mktemp("surrogate-data")
    write_surrogate_data(synth_dir, folder)
    shutil.copytree(REPO / "analyses" / "contracts", folder / "contracts")
    return folder


@pytest.fixture(scope="module")
def priced_run(surrogate_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the specification with [surrogate] and a contract paying on the projected ITT."""
    folder = tmp_path_factory.mktemp("surrogate-spec")
    spec = write_spec(folder, pricing=True)
    shutil.copytree(surrogate_data / "contracts", folder / "contracts")
    out = tmp_path_factory.mktemp("surrogate-run") / "run"
    with _quiet():
        record = run_analysis(spec, out, data_root=surrogate_data, progress=False)
    return {"spec": spec, "run": out, "data": surrogate_data, "results": record.results}


def _study_frame(data: Path) -> pd.DataFrame:
    frame = pd.read_parquet(data / DATA_NAME)
    for expr in ("cohort >= award_year", "cohort <= award_year + 3"):
        frame = frame[evaluate_restriction(frame, expr)]
    return frame


def test_projection_is_the_design_effect_on_the_index_plus_the_index_variance(priced_run: dict[str, Any]) -> None:
    """Re-compute by hand: the index fitted on cohorts <= 2013, the RD (same options) on the index and the surrogates,
    estimate = the RD's centre on the index, variance = its variance + τ'Σ_β τ."""
    data = priced_run["data"]
    frame = pd.read_parquet(data / DATA_NAME)
    training = frame[frame["cohort"] <= 2013]
    model = SurrogateIndex(training, outcome="earnings_age26", surrogates=SURROGATES,
                           covariates=["female", "low_income"], cluster="district_id").fit()
    study = _study_frame(data).copy()
    study["h"] = model.index(study).values.reindex(study.index)
    rd = RegressionDiscontinuity(study, ["h", *SURROGATES], "rubric_score", None, cutoff_column="cutoff",
                                 fuzzy="pathway", cluster="consortium_id", assignment_unit="consortium_id")
    with _quiet():
        dist = rd.fit(diagnostics=False, local_randomization=False).sampling_distribution()
    pos = {lab: i for i, lab in enumerate(dist.labels)}
    _, cov_beta = model.surrogate_block()
    rec = priced_run["results"]["surrogate"]
    assert rec["labels"] == ["earnings_age26[surrogate]", "earnings_age26[surrogate][reduced_form]"]
    labels = ("earnings_age26[surrogate]", "earnings_age26[surrogate][reduced_form]")
    for kind, label in zip((None, "reduced_form"), labels, strict=True):
        def lab(name: str, kind: str | None = kind) -> str:
            return name if kind is None else f"{name}[{kind}]"
        tau = np.array([dist.mean[pos[lab(s)]] for s in SURROGATES])
        design_var = dist.cov[pos[lab("h")], pos[lab("h")]]
        model_var = float(tau @ cov_beta @ tau)
        proj = next(p for p in rec["projections"] if p["label"] == label)
        assert proj["centre"] == pytest.approx(dist.mean[pos[lab("h")]], rel=1e-10, abs=1e-10)
        assert proj["variance"]["design"] == pytest.approx(design_var, rel=1e-10)
        assert proj["variance"]["model"] == pytest.approx(model_var, rel=1e-10)
        assert proj["variance"]["total"] == pytest.approx(design_var + model_var, rel=1e-10)
        assert proj["std_error"] == pytest.approx(math.sqrt(design_var + model_var), rel=1e-10)
        assert model_var > 0  # the index's uncertainty is carried into the effect
        assert list(proj["surrogate_effects"].values()) == pytest.approx(tau.tolist(), rel=1e-10)
    coef = {c["term"]: c for c in rec["model"]["coefficients"]}
    for term, value in model.coef.items():
        assert coef[term]["estimate"] == pytest.approx(value, rel=1e-10)
    assert rec["model"]["cov_type"] == "CR1"
    assert rec["model"]["n"] == model.n


def test_the_projected_label_is_priced_from_the_joined_sampling_distribution(priced_run: dict[str, Any]) -> None:
    res = priced_run["results"]
    label = "earnings_age26[surrogate][reduced_form]"
    priced = {e["label"]: e for e in res["pricing"]["estimates"]}
    proj = next(p for p in res["surrogate"]["projections"] if p["label"] == label)
    assert priced[label]["centre"] == proj["centre"]
    assert priced[label]["std_error"] == pytest.approx(proj["std_error"], rel=1e-12)
    dist = res["surrogate"]["projection"]["sampling_distribution"]
    assert dist["labels"] == res["surrogate"]["labels"]
    assert dist["mean"][1] == proj["centre"]
    # the design's record is not changed by the projection
    assert all("surrogate" not in e["label"] for e in res["design"]["estimates"])


def test_joined_results_carry_the_label_in_their_sampling_distribution(priced_run: dict[str, Any]) -> None:
    from cteimpact.results.contract import ResultsRecord
    from cteimpact.surrogate.projection import ProjectedResults

    res = priced_run["results"]
    design = ResultsRecord.from_dict(res["design"])
    projection = ResultsRecord.from_dict(res["surrogate"]["projection"])
    joined = ProjectedResults(design, projection)  # type: ignore[arg-type]
    dist = joined.sampling_distribution()
    assert "earnings_age26[surrogate]" in dist.labels and "dropout[reduced_form]" in dist.labels
    i = dist.labels.index("earnings_age26[surrogate]")
    j = dist.labels.index("dropout[reduced_form]")
    assert dist.cov[i, j] == 0.0  # estimates of different results drawn independently, as the RD's outcomes
    assert "earnings_age26[surrogate]" in joined.labels


def test_validation_at_the_observed_horizon(priced_run: dict[str, Any]) -> None:
    res = priced_run["results"]
    checks = res["surrogate"]["validation"]
    assert [c["estimand"] for c in checks] == ["primary", "reduced_form"]
    design = {e["label"]: e for e in res["surrogate"]["design_effects"]}
    for c in checks:
        assert c["outcome"] == "earnings_age21"
        assert c["difference_se"] > 0
        assert c["statistic"] == pytest.approx(c["difference"] / c["difference_se"], rel=1e-12)
        assert c["flagged"] == (c["p_value"] < c["alpha"])
        assert c["flagged"] is False  # surrogacy holds by construction in these data
        assert c["verdict"].startswith("Not flagged at the 5% level")
        direct_label = "earnings_age21" if c["estimand"] == "primary" else "earnings_age21[reduced_form]"
        assert c["estimates"][0]["label"] == direct_label
        assert design[direct_label]["estimate"] == c["estimates"][0]["estimate"]
    assert len(res["surrogate"]["assumptions"]) == 3
    assert res["surrogate"]["assumptions"][0].startswith("Surrogacy: the program changes 'earnings_age26'")
    assert "regression discontinuity" in res["surrogate"]["assumptions"][2]


def test_training_flow_and_small_cells(priced_run: dict[str, Any]) -> None:
    rec = priced_run["results"]["surrogate"]
    flow = rec["training"]["sample_flow"]
    reasons = [s["reason"] for s in flow["steps"]]
    assert "surrogate training restriction: cohort <= 2013" in reasons
    model_flow = rec["model"]["sample_flow"]
    assert model_flow["rows_read"] == flow["rows_read"] == 30_386  # the flow continues from the data read
    assert model_flow["steps"][:len(flow["steps"])] == flow["steps"]
    missing = [s["reason"] for s in model_flow["steps"][len(flow["steps"]):]]
    assert "long-run outcome 'earnings_age26' missing" in missing  # each exclusion of the fit recorded
    assert rec["model"]["n"] == model_flow["rows_used"]
    arms = rec["study_sample"]["arms"]
    assert set(arms["rows"]) == {"treated", "comparison"}
    assert all(v is None or v >= rec["min_cell"] for v in arms["rows"].values())
    assert rec["suppressed"] is False
    assert rec["training"]["overlap_rows"] == 0 and rec["training"]["independent"] is True  # older cohorts only


def test_records_reader(priced_run: dict[str, Any]) -> None:
    run = priced_run["run"]
    records = RunRecords.from_dicts(json.loads((run / "results.json").read_text()),
                                    json.loads((run / "manifest.json").read_text()))
    s = records.results.surrogate
    assert s is not None and s.primary is not None
    assert s.primary.centre == priced_run["results"]["surrogate"]["projections"][0]["centre"]
    assert s.primary.centre.path == "results.json:surrogate.projections[0].centre"
    assert s.model is not None and s.model.coefficient("credential") is not None
    assert s.check("reduced_form") is not None and s.flagged is False
    row = records.results.estimate("earnings_age26[surrogate][reduced_form]")
    assert row is not None and row.estimate is not None
    assert row.estimate.path.startswith("results.json:surrogate.projection.estimates[1]")
    assert str(row.outcome) == "earnings_age26"
    assert records.results.estimate("dropout") is not None  # the design's rows first


def test_verify_and_determinism(priced_run: dict[str, Any], tmp_path: Path) -> None:
    from cteimpact.pipeline.verify import verify_run

    v = verify_run(priced_run["run"], data_root=priced_run["data"])
    assert v.ok, v.reasons
    assert any(r.path.startswith("surrogate.") for r in v.comparison.rows)  # the section is compared
    copy = tmp_path / "copy"
    shutil.copytree(priced_run["run"], copy)
    with _quiet():
        assert main(["verify", str(copy), "--quiet", "--data-root", str(priced_run["data"])]) == 0
    cert = json.loads((copy / "certificate.json").read_text(encoding="utf-8"))
    assert cert["headline_estimate"]["label"] == "earnings_age26[surrogate][reduced_form]"
    again = tmp_path / "again"
    with _quiet():
        run_analysis(priced_run["spec"], again, data_root=priced_run["data"], progress=False)
    assert (again / "results.json").read_bytes() == (priced_run["run"] / "results.json").read_bytes()
    assert (again / "tables" / "surrogate-projection.csv").read_bytes() == \
        (priced_run["run"] / "tables" / "surrogate-projection.csv").read_bytes()


def test_a_run_without_surrogate_has_no_section_and_the_same_spec_hash(priced_run: dict[str, Any]) -> None:
    from cteimpact.pipeline.spec import load_spec

    spec = load_spec(REPO / "analyses" / "ccpt-dropout-rd.toml")
    assert spec.surrogate is None and "surrogate" not in spec.resolved()
    assert "surrogate" in load_spec(priced_run["spec"]).resolved()


# -- bad input: one line, exit code 2, nothing written ------------------------------------------------------------


def _cli(spec: Path, data: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", str(spec), "--out", str(out), "--data-root", str(data), "--quiet"])
    err = capsys.readouterr().err.strip()
    return code, err


def _variant(frame_edit: Any, data: Path, folder: Path) -> Path:
    frame = pd.read_parquet(data / DATA_NAME)
    frame = frame_edit(frame)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / DATA_NAME, index=False)
    return folder


def _one_line(code: int, err: str, out: Path) -> str:
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err  # nothing estimated (no warning), one line
    assert lines[0].startswith("cteimpact: error: ")
    assert not out.exists()
    return lines[0]


def test_training_sample_without_the_long_run_outcome(surrogate_data: Path, tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "spec", replace={'training = ["cohort <= 2013"]': 'training = ["cohort >= 2014"]'})
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, surrogate_data, out, capsys), out)
    kept = int((pd.read_parquet(surrogate_data / DATA_NAME)["cohort"] >= 2014).sum())
    assert "training sample lacks the long-run outcome 'earnings_age26'" in line
    assert f"kept {kept:,} of 30,386 rows read and 0 of them have 'earnings_age26'" in line


def test_long_run_outcome_column_absent(surrogate_data: Path, tmp_path: Path, capsys) -> None:
    data = _variant(lambda f: f.drop(columns="earnings_age26"), surrogate_data, tmp_path / "data")
    spec = write_spec(tmp_path / "spec")
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, data, out, capsys), out)
    assert "column 'earnings_age26' (role 'long-run outcome') is not in the data" in line
    assert "[surrogate]" in line


def test_training_restriction_keeps_no_row(surrogate_data: Path, tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "spec", replace={'training = ["cohort <= 2013"]':
                                                  'training = ["cohort <= 2013", "cohort > 2013"]'})
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, surrogate_data, out, capsys), out)
    before = int((pd.read_parquet(surrogate_data / DATA_NAME)["cohort"] <= 2013).sum())
    assert f"training restriction 'cohort > 2013' keeps no row (0 of the {before:,} rows before it" in line


def test_surrogate_missing_in_one_arm(surrogate_data: Path, tmp_path: Path, capsys) -> None:
    def drop_treated(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        study = evaluate_restriction(frame, "cohort >= award_year") & evaluate_restriction(
            frame, "cohort <= award_year + 3")
        frame.loc[study & (frame["rubric_score"] >= frame["cutoff"]), "credential"] = np.nan
        return frame

    data = _variant(drop_treated, surrogate_data, tmp_path / "data")
    study = _study_frame(data)
    treated = int((study["rubric_score"] >= study["cutoff"]).sum())
    control = study[study["rubric_score"] < study["cutoff"]]
    spec = write_spec(tmp_path / "spec")
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, data, out, capsys), out)
    assert (f"surrogate 'credential' is missing in all {treated:,} rows of the treated arm "
            "(rubric_score >= cutoff)") in line
    assert f"has it in {int(control['credential'].notna().sum()):,} of {len(control):,} rows" in line


def test_surrogate_not_in_the_data(surrogate_data: Path, tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "spec", replace={'"credential", "graduated"': '"credentials", "graduated"'})
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, surrogate_data, out, capsys), out)
    assert "column 'credentials' (role 'surrogate') is not in the data; did you mean 'credential'?" in line


@pytest.mark.parametrize(("old", "new", "words"), [
    ('cluster = "district_id"\n', 'cluster = "district_id"\nvce = "hc1"\n', "vce = 'hc1' with cluster"),
    ('validation_outcome = "earnings_age21"', 'validation_outcome = "earnings_age26"', "validation_outcome"),
    ('outcome = "earnings_age26"', 'outcome = "earnings_age26"\nhorizon = 26', "horizon"),
    ('training = ["cohort <= 2013"]', 'training = ["cohort <== 2013"]', "training"),
    ('training = ["cohort <= 2013"]', 'training = []', "training"),
    ('covariates = ["female", "low_income"]', 'covariates = ["female", "graduated"]', "graduated"),
    ('covariates = ["female", "low_income"]', 'covariates = ["female"]\nlabel = "dropout"', "also an estimate"),
])
def test_bad_surrogate_section(old: str, new: str, words: str, surrogate_data: Path, tmp_path: Path,
                               capsys) -> None:
    spec = write_spec(tmp_path / "spec", replace={old: new})
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, surrogate_data, out, capsys), out)
    assert "surrogate" in line and words in line


def test_price_command_reads_the_projected_label_from_the_run(priced_run: dict[str, Any], capsys) -> None:
    """``cteimpact price --results RUN`` finds the projection's results record in results.json."""
    contract = priced_run["data"] / "contracts" / "pathways-earnings-share.toml"
    label = "earnings_age26[surrogate][reduced_form]"
    code = main(["price", str(contract), "--results", str(priced_run["run"]), "--map", f"earnings_age19={label}",
                 "--draws", "2000", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    priced = json.loads(captured.out)
    row = next(e for e in priced["estimates"] if e["contract_estimate"] == "earnings_age19")
    proj = next(p for p in priced_run["results"]["surrogate"]["projections"] if p["label"] == label)
    assert row["label"] == label and row["centre"] == proj["centre"]


def test_validation_outcome_missing_in_one_arm(surrogate_data: Path, tmp_path: Path, capsys) -> None:
    def young(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[frame["rubric_score"] >= frame["cutoff"], "earnings_age21"] = np.nan
        return frame

    data = _variant(young, surrogate_data, tmp_path / "data")
    study = _study_frame(data)
    treated = int((study["rubric_score"] >= study["cutoff"]).sum())
    spec = write_spec(tmp_path / "spec")
    out = tmp_path / "run"
    line = _one_line(*_cli(spec, data, out, capsys), out)
    assert f"validation outcome 'earnings_age21' is missing in all {treated:,} rows of the treated arm" in line


def test_headline_is_the_projected_estimate_the_contract_pays_on(priced_run: dict[str, Any]) -> None:
    from cteimpact.pipeline.certificate import headline_rows

    res = priced_run["results"]
    head = res["headline"]
    label = "earnings_age26[surrogate][reduced_form]"
    assert head["label"] == label and head["priced_as"] == ["earnings_gain"]
    assert head["source"] == "surrogate.projection.estimates[1]"
    row = res["surrogate"]["projection"]["estimates"][1]
    assert row["label"] == label
    proj = next(p for p in res["surrogate"]["projections"] if p["label"] == label)
    assert head["estimate"] == proj["centre"] and head["point_estimate"] == row["estimate"]
    assert head["std_error"] == row["std_error"]
    assert label in [r["label"] for r in headline_rows(res)]  # the certificate re-computes it


def test_same_bytes_on_one_and_two_threads(priced_run: dict[str, Any], tmp_path: Path) -> None:
    """The run with [surrogate] in fresh interpreters with 1 and 2 BLAS/OpenMP/numba threads: identical
    results.json, and identical to the run of the fixture (same seed)."""
    import os
    import subprocess
    import sys

    thread_vars = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
    procs = []
    for threads in (1, 2):
        work = tmp_path / f"t{threads}"
        work.mkdir()
        env = {**os.environ, "PYTHONPATH": str(REPO), **dict.fromkeys(thread_vars, str(threads))}
        procs.append(subprocess.Popen(
            [sys.executable, "-W", "ignore", "-m", "cteimpact", "run", str(priced_run["spec"]), "--data-root",
             str(priced_run["data"]), "--out", "run", "--quiet"], cwd=work, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    one = (tmp_path / "t1" / "run" / "results.json").read_bytes()
    assert one == (tmp_path / "t2" / "run" / "results.json").read_bytes()
    assert one == (priced_run["run"] / "results.json").read_bytes()
    assert b'"earnings_age26[surrogate][reduced_form]"' in one

"""cteimpact run / verify on the CCPT dropout RD study.

The tests of the run (``rd_run``: the whole study, shared with the reporting tests) and of its verification are
end to end and marked ``slow``; the checks of bad specifications stop before any computation and stay in the
fast loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.pipeline.run import run_analysis
from cteimpact.provenance import find_identifiers, sha256_file

ANALYSES = Path(__file__).resolve().parents[2] / "analyses"


@pytest.mark.slow
def test_run_writes_results_manifest_figures_tables(rd_run) -> None:
    out = rd_run.out_dir
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "cteimpact.run/1"
    labels = [e["label"] for e in results["design"]["estimates"]]
    assert {"dropout", "graduated", "dropout[reduced_form]", "dropout[first_stage]"} <= set(labels)
    assert results["pricing"]["thresholds"][0]["estimate"] == "dropout[reduced_form]"
    flow = results["sample_flow"]
    assert [s["reason"] for s in flow["steps"]] == ["restriction: cohort >= award_year",
                                                    "restriction: cohort <= award_year + 3"]
    manifest = json.loads((out / "manifest.json").read_text())
    roles = [i["role"] for i in manifest["inputs"]]
    assert roles == ["data", "contract", "specification", "truth"]  # synthetic data: their truth.json too
    data_in = manifest["inputs"][0]
    assert data_in["records"] == flow["rows_read"]
    assert not Path(data_in["path"]).is_absolute()  # locations are recorded relative to the run directory
    assert data_in["sha256"] == sha256_file(out / data_in["path"])
    recorded = {k: v for k, v in manifest.items() if k != "command"}  # the command is what the caller typed
    assert str(out.parent.parent) not in json.dumps(recorded)
    assert manifest["specification"]["pricing"]["contract"]["contract"]["name"].startswith("CCPT")
    assert manifest["environment"]["packages"]["rdrobust"] is not None
    listed = {o["path"]: o["sha256"] for o in manifest["outputs"]}
    assert "results.json" in listed
    assert "figures/rd-dropout.png" in listed
    for path, digest in listed.items():
        assert sha256_file(out / path) == digest
    assert "timestamp" not in (out / "results.json").read_text().lower()


@pytest.mark.slow
def test_same_seed_gives_byte_identical_outputs(rd_run, synth_dir: Path, tmp_path: Path) -> None:
    again = run_analysis(ANALYSES / "ccpt-dropout-rd.toml", tmp_path / "again", data_root=synth_dir, progress=False)
    first = {o["path"]: o["sha256"] for o in rd_run.manifest["outputs"]}
    second = {o["path"]: o["sha256"] for o in again.manifest["outputs"]}
    assert first == second  # results.json, every table and every figure


@pytest.mark.slow
def test_no_student_identifier_in_any_output(rd_run, synth_dir: Path) -> None:
    ids = set(pd.read_parquet(synth_dir / "students.parquet", columns=["student_id"])["student_id"])
    files = [p for p in rd_run.out_dir.rglob("*") if p.is_file()]
    assert len(files) > 20
    assert find_identifiers(files, ids) == {}


@pytest.mark.slow
def test_verify_passes_on_an_untouched_run(rd_study_verification) -> None:
    _, v = rd_study_verification  # an untouched copy of rd_run, verified once per session (tests/conftest.py)
    assert v.ok
    assert v.comparison.n_compared > 1000
    assert [i.status for i in v.inputs] == ["unchanged"] * 4


@pytest.mark.slow
def test_verify_fails_on_a_changed_number_with_a_table(rd_run, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(rd_run.out_dir, run)
    results = json.loads((run / "results.json").read_text())
    results["design"]["estimates"][0]["estimate"] += 0.01
    (run / "results.json").write_text(json.dumps(results, indent=2))
    assert main(["verify", str(run), "--quiet"]) == 3
    out = capsys.readouterr().out
    assert "design.estimates[0].estimate" in out
    assert "NO" in out
    assert "NOT VERIFIED" in out
    cert = json.loads((run / "certificate.json").read_text())
    assert cert["verdict"] == "not verified"
    assert cert["recomputation"]["mismatched"] == 1


@pytest.mark.slow
def test_verify_fails_when_one_byte_of_the_input_changes(rd_run, synth_dir: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    raw = bytearray((synth_dir / "students.parquet").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (data / "students.parquet").write_bytes(bytes(raw))
    run = tmp_path / "run"
    shutil.copytree(rd_run.out_dir, run)
    code = main(["verify", str(run), "--data-root", str(data), "--quiet"])
    out = capsys.readouterr()
    if code == 2:  # the flipped byte made the Parquet file unreadable: reported as bad data, one line
        assert "students.parquet" in out.err
        return
    assert code == 3
    assert "data           changed" in out.out
    cert = json.loads((run / "certificate.json").read_text())
    assert cert["inputs"][0]["status"] == "changed"


@pytest.mark.slow
def test_certificate_holds_inputs_table_thresholds_and_payment(rd_run, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(rd_run.out_dir, run)
    assert main(["verify", str(run), "--quiet"]) == 0
    cert = json.loads((run / "certificate.json").read_text())
    assert cert["verdict"] == "verified"
    assert {i["role"] for i in cert["inputs"]} == {"data", "contract", "specification", "truth"}
    assert cert["recomputation"]["compared"] == cert["recomputation"]["matched"] > 1000
    assert cert["payment_due"]["total_at_estimate"] >= 0
    due = cert["payment_due"]
    assert set(due["by_payor_at_estimate"]) == {"state", "districts"}
    assert sum(due["by_payor_at_estimate"].values()) == pytest.approx(due["total_at_estimate"], rel=1e-12, abs=1e-6)
    assert sum(due["by_payor_npv_at_estimate"].values()) == pytest.approx(due["npv_at_estimate"], rel=1e-12,
                                                                          abs=1e-6)
    assert all("met_at_estimate" in t for t in cert["thresholds"])
    # same software and platform: numbers must be identical, and the attestation says so
    assert cert["tolerance_policy"]["default"] == {"rtol": 0.0, "atol": 0.0}
    assert cert["environment"] == {"same": True, "accepted": False, "differences": [],
                                   "comparison": "identical numbers"}
    assert "same cteimpact version" in cert["attestation"]
    assert [i["source"] for i in cert["inputs"]] == ["manifest", "specification", "manifest", "data folder"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('type = "rd"', 'type = "rdd"'), "design.type must be one of 'rd', 'did'"),
        (lambda s: s.replace('dropout = "dropout"\n', 'dropout = "drop_out"\n'),
         "column 'drop_out' (role 'dropout') is not in the data; did you mean 'dropout'?"),
        (lambda s: s.replace("[data.columns]", "[data.mapping]"), "unknown key 'data.mapping'"),
        (lambda s: s.replace('outcomes = ["dropout", "graduated"]', 'outcomes = ["dropout", "graduatd"]'),
         "column 'graduatd' (role 'design') is not in the data; did you mean 'graduated'?"),
        (lambda s: s.replace('dropout = "dropout[reduced_form]"', 'dropout = "earnings_age19"'),
         "is priced on the estimate 'earnings_age19', which the design does not produce"),
        (lambda s: s.replace("[study]", "[studdy]"), "unknown key 'studdy'; did you mean 'study'?"),
        (lambda s: s.replace('kernel = "triangular"', "") .replace('vce = "cr3"', 'vce = "robust"'),
         "design.estimation.vce = 'robust' is not allowed"),
    ],
)
def test_bad_specifications_fail_before_any_computation(spec_copy, synth_dir: Path, tmp_path: Path, capsys,
                                                          edit, message) -> None:
    spec = spec_copy("ccpt-dropout-rd.toml")
    spec.write_text(edit(spec.read_text()))
    out = tmp_path / "out"
    code = main(["run", str(spec), "--out", str(out), "--data-root", str(synth_dir), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert message in err[0]
    assert not out.exists()  # nothing was computed or written

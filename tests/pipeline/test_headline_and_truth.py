"""One headline estimate per run, named once and shown with the same value everywhere; synthetic data recognised and
estimates recorded against their truth; the run date, the validator and the date of verification recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cteimpact.cli.app import main
from cteimpact.reporting.numbers import FORMATTERS


@pytest.fixture(scope="module")
def light_run(light_rd_study: dict[str, Path]) -> dict[str, Path]:
    """The quick RD study run through ``cteimpact run`` with the run date 2026-01-01 (``light_rd_study`` of
    tests/conftest.py, shared with other folders)."""
    return {"spec": light_rd_study["spec"], "run": light_rd_study["run"], "data": light_rd_study["data"]}


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text(encoding="utf-8"))


def test_the_headline_is_the_priced_estimate_at_the_centre_of_its_interval(light_run: dict[str, Path]) -> None:
    res = _results(light_run["run"])
    head = res["headline"]
    assert head["label"] == "dropout[reduced_form]"  # what the contract pays on, not the participation LATE
    assert head["priced_as"] == ["dropout_prevented"]
    index = int(head["source"].removeprefix("design.estimates[").rstrip("]"))
    row = res["design"]["estimates"][index]
    assert row["label"] == head["label"]
    dist = res["design"]["sampling_distribution"]
    centre = dist["mean"][dist["labels"].index(head["label"])]
    assert head["estimate"] == centre  # the bias-corrected centre of the robust interval
    assert head["estimate"] != row["estimate"]  # ... which is not rdrobust's conventional point estimate
    assert head["ci_lower"] < head["estimate"] < head["ci_upper"]
    assert head["point_estimate"] == row["estimate"]
    priced = next(e for e in res["pricing"]["estimates"] if e["label"] == head["label"])
    assert priced["centre"] == head["estimate"]  # pricing simulates around the same value
    assert head["name"].startswith("dropout — ")


def test_console_and_certificate_show_the_headline_value(light_run: dict[str, Path], tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(light_run["run"], run)
    res = _results(run)
    head = res["headline"]
    assert head["unit"] == "proportion"  # a 0/1 outcome: written in percentage points, as the reports write it
    value = FORMATTERS["effect"](head["estimate"], head["std_error"], kind="proportion").replace("\xa0", " ")
    assert value.endswith(" pp")
    assert main(["verify", str(run), "--quiet", "--spec", str(light_run["spec"]), "--data-root",
                 str(light_run["data"]), "--validator", "Jane Analyst", "--validator-organisation",
                 "State Audit Office"]) == 0
    out = capsys.readouterr().out
    assert f"Headline (re-computed): {res['headline']['name']} = {value}" in out
    cert = json.loads((run / "certificate.json").read_text(encoding="utf-8"))
    assert cert["headline_estimate"] == res["headline"]
    assert cert["validator"] == {"name": "Jane Analyst", "organisation": "State Audit Office"}
    assert len(cert["verified_on"]) == 10 and cert["verified_on"][4] == "-"


@pytest.mark.slow  # runs the study again
def test_run_prints_the_headline(light_run: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert main(["run", str(light_run["spec"]), "--out", str(tmp_path / "again"), "--data-root",
                 str(light_run["data"]), "--quiet"]) == 0
    out = capsys.readouterr().out
    head = _results(tmp_path / "again")["headline"]
    value = FORMATTERS["effect"](head["estimate"], head["std_error"], kind="proportion").replace("\xa0", " ")
    assert f"Headline: {head['name']} = {value} (95% CI [" in out and "\xa0" not in out
    assert "priced as dropout_prevented" in out


@pytest.mark.slow  # verifies the run (re-runs the study)
def test_run_date_and_validator_come_from_the_environment(light_run: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = json.loads((light_run["run"] / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_date"] == "2026-01-01"
    assert "run_date" not in (light_run["run"] / "results.json").read_text(encoding="utf-8")  # not hashed
    run = tmp_path / "run"
    shutil.copytree(light_run["run"], run)
    monkeypatch.setenv("CTEIMPACT_VALIDATOR", "Validation Unit")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767312000")  # 2026-01-02
    assert main(["verify", str(run), "--quiet", "--spec", str(light_run["spec"]), "--data-root",
                 str(light_run["data"])]) == 0
    cert = json.loads((run / "certificate.json").read_text(encoding="utf-8"))
    assert cert["validator"] == {"name": "Validation Unit", "organisation": None}
    assert cert["verified_on"] == "2026-01-02"


def test_synthetic_data_are_recognised_and_compared_with_their_truth(light_run: dict[str, Path]) -> None:
    res = _results(light_run["run"])
    assert res["data"]["synthetic"] is True
    assert res["data"]["generator"]["seed"] == 7
    truth = json.loads((light_run["data"] / "truth.json").read_text(encoding="utf-8"))
    rows = {r["label"]: r for r in res["truth"]["rows"]}
    itt = rows["dropout[reduced_form]"]
    assert itt["truth"] == truth["rd"]["estimands"]["dropout"]["pooled"]["itt"]
    assert itt["truth_path"] == "rd.estimands.dropout.pooled.itt"
    assert itt["estimate"] == res["headline"]["estimate"]
    assert itt["z"] == pytest.approx((itt["estimate"] - itt["truth"]) / itt["std_error"], rel=1e-12)
    assert rows["dropout"]["truth"] == truth["rd"]["estimands"]["dropout"]["pooled"]["late"]  # fuzzy: the LATE
    assert rows["dropout[first_stage]"]["truth"] == truth["rd"]["estimands"]["pathway"]["pooled"]["first_stage"]
    assert rows["dropout[female=1]"]["truth"] == truth["rd"]["estimands"]["dropout"]["pooled"]["subgroups"][
        "female=1"]["late"]
    assert "dropout[female=1 vs female=0]" not in rows  # no truth for a difference: left out, not invented
    # a sampling check, not an identity: the estimators recover the truth (|z| < 4 for every compared estimate)
    assert all(abs(r["z"]) < 4 for r in rows.values() if r["z"] is not None)
    assert res["truth"]["summary"]["compared"] == len(rows) >= 10
    roles = [i["role"] for i in json.loads((light_run["run"] / "manifest.json").read_text())["inputs"]]
    assert roles == ["data", "contract", "specification", "truth"]


@pytest.mark.slow  # runs the study again
def test_data_without_their_truth_are_not_called_synthetic(light_run: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(light_run["data"] / "students.parquet", data / "students.parquet")
    (data / "truth.json").write_text(json.dumps({"schema": "cteimpact.synth-truth/1", "files": {}}))
    out = tmp_path / "run"
    assert main(["run", str(light_run["spec"]), "--out", str(out), "--data-root", str(data), "--quiet"]) == 0
    res = _results(out)
    assert res["data"]["synthetic"] is False
    assert res["truth"] is None


@pytest.mark.slow  # runs and verifies the study again
def test_a_changed_truth_file_is_a_finding(light_run: dict[str, Path], tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(light_run["data"], data)
    run = tmp_path / "runs" / "run"
    assert main(["run", str(light_run["spec"]), "--out", str(run), "--data-root", str(data), "--quiet"]) == 0
    truth = json.loads((data / "truth.json").read_text(encoding="utf-8"))
    truth["rd"]["estimands"]["dropout"]["pooled"]["itt"] = -0.5
    (data / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify", str(run), "--quiet"]) == 3
    out = capsys.readouterr().out
    assert "input truth (truth.json) is changed" in out
    assert "truth.rows" in out  # the re-computed comparison differs too


@pytest.mark.slow  # runs the study again
def test_the_command_records_paths_relative_to_the_working_folder(light_run: dict[str, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(light_run["spec"].parent, tmp_path / "project")
    spec = (tmp_path / "project" / "study.toml").absolute()
    assert main(["run", str(spec), "--out", str(tmp_path / "runs" / "x"), "--data-root", str(light_run["data"]),
                 "--quiet"]) == 0
    command = json.loads((tmp_path / "runs" / "x" / "manifest.json").read_text())["command"]
    assert command.startswith("cteimpact run project/study.toml --out runs/x --data-root ")
    assert str(tmp_path) not in command

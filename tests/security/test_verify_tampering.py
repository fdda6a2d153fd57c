"""``cteimpact verify`` against tampering: every kind of artefact a validator receives, altered, is caught.

Each case copies an untouched, verified run (with its specification, contract and data), alters one thing the way
someone who wanted a different payment certified would, and requires ``verify`` to exit 3 naming what was altered,
with a certificate that says "not verified".
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.pipeline.run import run_analysis

ANALYSES = Path(__file__).resolve().parents[2] / "analyses"


pytestmark = pytest.mark.slow  # end to end: every case verifies (re-runs) the study


@pytest.fixture(scope="module")
def study(light_rd_study: dict[str, Path]) -> dict[str, Path]:
    """A project folder (specification, contracts, data) and an untouched run of it (``light_rd_study`` of
    tests/conftest.py: ``root/project``, ``root/data``, ``root/runs/clean``)."""
    return light_rd_study


def _copy_project(study: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """The project and its run copied side by side, so the manifest's relative locations still resolve."""
    shutil.copytree(study["project"], tmp_path / "project")
    shutil.copytree(study["run"], tmp_path / "runs" / "run")
    (tmp_path / "data").symlink_to(study["data"], target_is_directory=True)
    return {"project": tmp_path / "project", "spec": tmp_path / "project" / "study.toml",
            "contract": tmp_path / "project" / "contracts" / "ccpt-dropout-rate-card.toml",
            "data": tmp_path / "data", "run": tmp_path / "runs" / "run"}


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


def _write_manifest(run: Path, manifest: dict) -> None:
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _rehash(run: Path, rel: str) -> None:
    """Rewrite the manifest's hash of ``rel`` to match the (tampered) file, as a careful forger would."""
    manifest = _manifest(run)
    for o in manifest["outputs"]:
        if o["path"] == rel:
            data = (run / rel).read_bytes()
            o["sha256"] = hashlib.sha256(data).hexdigest()
            o["bytes"] = len(data)
    _write_manifest(run, manifest)


def _verify(paths: dict[str, Path], capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, dict]:
    code = main(["verify", str(paths["run"]), "--quiet", *extra])
    captured = capsys.readouterr()
    cert_path = paths["run"] / "certificate.json"
    cert = json.loads(cert_path.read_text(encoding="utf-8")) if cert_path.exists() else {}
    return code, captured.out + captured.err, cert


def test_an_untouched_copy_verifies(study: dict[str, Path], tmp_path: Path, capsys) -> None:
    paths = _copy_project(study, tmp_path)
    code, out, cert = _verify(paths, capsys)
    assert code == 0, out
    assert cert["verdict"] == "verified"
    assert cert["findings"] == []
    assert cert["outputs_compared"] == len(_manifest(paths["run"])["outputs"])
    assert "VERIFIED" in out


def _flip_one_data_value(paths: dict[str, Path]) -> None:
    frame = pd.read_parquet(paths["data"] / "students.parquet")
    altered = paths["run"].parent.parent / "data-altered"
    altered.mkdir()
    for f in paths["data"].iterdir():
        if f.name != "students.parquet":
            (altered / f.name).symlink_to(f)
    frame.loc[frame.index[0], "dropout"] = 1 - frame.loc[frame.index[0], "dropout"]
    frame.to_parquet(altered / "students.parquet", index=False)
    (paths["data"]).unlink()
    paths["data"].symlink_to(altered, target_is_directory=True)


def _edit_spec_key(paths: dict[str, Path]) -> None:
    spec = paths["spec"]
    spec.write_text(spec.read_text(encoding="utf-8").replace("draws = 20000", "draws = 30000"), encoding="utf-8")


def _edit_contract_key(paths: dict[str, Path]) -> None:
    c = paths["contract"]
    c.write_text(c.read_text(encoding="utf-8").replace("price = 25_000", "price = 250_000"), encoding="utf-8")


def _edit_embedded_spec(paths: dict[str, Path]) -> None:
    manifest = _manifest(paths["run"])
    manifest["specification"]["pricing"]["contract"]["outcomes"][0]["payment"]["price"] = 250000.0
    _write_manifest(paths["run"], manifest)


def _nudge_a_result(paths: dict[str, Path]) -> None:
    path = paths["run"] / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results["design"]["estimates"][0]["estimate"] *= 1 + 1e-12
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    _rehash(paths["run"], "results.json")


def _edit_a_table_cell(paths: dict[str, Path]) -> None:
    path = paths["run"] / "tables" / "estimates.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "estimate"] = frame.loc[0, "estimate"] * 2
    frame.to_csv(path, index=False, lineterminator="\n")
    _rehash(paths["run"], "tables/estimates.csv")


def _swap_a_figure(paths: dict[str, Path]) -> None:
    figures = paths["run"] / "figures"
    a, b = figures / "rd-dropout.png", figures / "rd-graduated.png"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    _rehash(paths["run"], "figures/rd-dropout.png")
    _rehash(paths["run"], "figures/rd-graduated.png")


def _add_a_file(paths: dict[str, Path]) -> None:
    (paths["run"] / "tables" / "payment-schedule-final.csv").write_text("payor,amount\nstate,2900000\n",
                                                                        encoding="utf-8")


def _edit_versions(paths: dict[str, Path]) -> None:
    manifest = _manifest(paths["run"])
    manifest["environment"]["packages"]["numpy"] = "1.0.0"
    manifest["code"]["cteimpact"] = "9.9.9"
    _write_manifest(paths["run"], manifest)


def _remove_an_output(paths: dict[str, Path]) -> None:
    (paths["run"] / "tables" / "rd_fits.csv").unlink()


TAMPERING: list[tuple[str, Callable[[dict[str, Path]], None], list[str]]] = [
    ("input byte", _flip_one_data_value, ["input data (students.parquet) is changed"]),
    ("spec key", _edit_spec_key, ["input specification (study.toml) is changed", "pricing.draws"]),
    ("contract key", _edit_contract_key,
     ["input contract (ccpt-dropout-rate-card.toml) is changed", "pricing.contract.outcomes[0].payment.price"]),
    ("embedded spec", _edit_embedded_spec,
     ["specification embedded in manifest.json differs", "pricing.contract.outcomes[0].payment.price"]),
    ("results number at 1e-12", _nudge_a_result, ["design.estimates[0].estimate"]),
    ("table cell, hash rewritten", _edit_a_table_cell, ["tables/estimates.csv", "column 'estimate'"]),
    ("figure, hash rewritten", _swap_a_figure, ["figures/rd-dropout.png", "pixels differ"]),
    ("extra file", _add_a_file, ["tables/payment-schedule-final.csv was not written by the run"]),
    ("manifest version fields", _edit_versions,
     ["environment.packages.numpy: 1.0.0 in the run", "code.cteimpact: 9.9.9 in the run"]),
    ("output removed", _remove_an_output, ["output tables/rd_fits.csv is missing"]),
]


@pytest.mark.parametrize(("case", "tamper", "named"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_verify_catches_tampering(study: dict[str, Path], tmp_path: Path, capsys, case: str,
                                  tamper: Callable[[dict[str, Path]], None], named: list[str]) -> None:
    paths = _copy_project(study, tmp_path)
    tamper(paths)
    code, out, cert = _verify(paths, capsys)
    assert code == 3, f"{case}: exit {code}\n{out}"
    assert "NOT VERIFIED" in out
    for text in named:
        assert text in out, f"{case}: {text!r} not named in the output"
    assert cert["verdict"] == "not verified"
    assert cert["reasons"]


def test_a_run_under_altered_terms_is_not_certified(study: dict[str, Path], tmp_path: Path, capsys) -> None:
    """The reviewer's case: the run was made with 10x the price and no significance rule; its manifest points back
    at the untouched specification and contract (with their true hashes). The validator must not certify it, and
    the certificate's payment is the one the agreed terms give."""
    paths = _copy_project(study, tmp_path)
    honest_cert_code = main(["verify", str(paths["run"]), "--quiet"])
    assert honest_cert_code == 0
    honest_due = json.loads((paths["run"] / "certificate.json").read_text())["payment_due"]["total_at_estimate"]
    capsys.readouterr()

    forged = tmp_path / "forged"
    shutil.copytree(paths["project"], forged)
    contract = forged / "contracts" / "ccpt-dropout-rate-card.toml"
    text = contract.read_text(encoding="utf-8").replace("price = 25_000", "price = 250_000")
    contract.write_text(text.replace("require_significance = true", "require_significance = false"),
                        encoding="utf-8")
    run = tmp_path / "runs" / "forged"
    run_analysis(forged / "study.toml", run, data_root=paths["data"], progress=False)
    manifest = _manifest(run)
    clean = _manifest(paths["run"])
    manifest["inputs"] = clean["inputs"]  # point back at the untouched specification and contract
    _write_manifest(run, manifest)
    forged_due = json.loads((run / "results.json").read_text())["pricing"]["payments"]["at_estimate"]
    assert forged_due > honest_due

    code = main(["verify", str(run), "--quiet"])
    out = capsys.readouterr().out
    assert code == 3
    assert "pricing.contract.outcomes[0].payment.price" in out
    assert "pricing.contract.outcomes[0].payment.require_significance" in out
    cert = json.loads((run / "certificate.json").read_text())
    assert cert["verdict"] == "not verified"
    assert cert["payment_due"]["total_at_estimate"] == honest_due  # re-computed from the agreed terms


def test_the_validator_names_the_files_it_received(study: dict[str, Path], tmp_path: Path, capsys) -> None:
    """Moved elsewhere, the run verifies when the validator names the files; the certificate says who named them."""
    run = tmp_path / "elsewhere" / "deep" / "run"
    shutil.copytree(study["run"], run)
    assert main(["verify", str(run), "--quiet"]) == 2
    assert "pass --spec" in capsys.readouterr().err
    code = main(["verify", str(run), "--quiet", "--spec", str(study["spec"]), "--data-root", str(study["data"])])
    assert code == 0, capsys.readouterr().out
    cert = json.loads((run / "certificate.json").read_text())
    assert {i["role"]: i["source"] for i in cert["inputs"]} == {"data": "validator", "contract": "specification",
                                                               "specification": "validator", "truth": "data folder"}


def test_an_accepted_environment_difference_is_recorded(study: dict[str, Path], tmp_path: Path, capsys) -> None:
    paths = _copy_project(study, tmp_path)
    _edit_versions(paths)
    code, out, cert = _verify(paths, capsys, "--accept-environment")
    assert code == 0, out
    assert cert["environment"]["accepted"] is True
    assert "environment.packages.numpy: 1.0.0 in the run" in " ".join(cert["environment"]["differences"])
    assert cert["tolerance_policy"]["default"] == {"rtol": 1e-8, "atol": 1e-10}
    assert "differs from the run's" in cert["attestation"]


def test_report_files_are_checked_against_what_report_recorded(study: dict[str, Path], tmp_path: Path,
                                                               capsys) -> None:
    """``cteimpact report`` lists its files in the manifest: a listed file edited afterwards is caught, and a file
    under report/ that it did not list is not the run's."""
    paths = _copy_project(study, tmp_path)
    report = paths["run"] / "report"
    report.mkdir()
    listed = report / "impact-report.qmd"
    listed.write_text("payment due: $0\n", encoding="utf-8")
    manifest = _manifest(paths["run"])
    manifest["report"] = {"files": [{"path": "report/impact-report.qmd",
                                     "sha256": hashlib.sha256(listed.read_bytes()).hexdigest()}]}
    _write_manifest(paths["run"], manifest)
    code, out, _ = _verify(paths, capsys)
    assert code == 0, out
    listed.write_text("payment due: $2,900,000\n", encoding="utf-8")
    (report / "summary.html").write_text("<p>verified</p>", encoding="utf-8")
    code, out, _ = _verify(paths, capsys)
    assert code == 3
    assert "report file report/impact-report.qmd changed after 'cteimpact report' wrote it" in out
    assert "report/summary.html was not written by the run" in out


def test_a_symbolic_link_in_the_run_is_reported(study: dict[str, Path], tmp_path: Path, capsys) -> None:
    paths = _copy_project(study, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the run", encoding="utf-8")
    (paths["run"] / "tables" / "notes.txt").symlink_to(secret)
    code, out, _ = _verify(paths, capsys)
    assert code == 3
    assert "tables/notes.txt is a symbolic link" in out

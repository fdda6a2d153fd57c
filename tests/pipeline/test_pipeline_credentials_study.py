"""The third shipped study (analyses/ccpt-credentials-rd.toml): interim outcomes, equity, the surrogate projection
of earnings at 26 and the equity-premium rate card, end to end.

Bad specifications and contracts stop before any estimation and stay in the fast loop; the runs are ``slow``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cteimpact.cli.app import main

REPO = Path(__file__).resolve().parents[2]
ANALYSES = REPO / "analyses"
SPEC = ANALYSES / "ccpt-credentials-rd.toml"


def _project(folder: Path, *, diagnostics: bool = True, draws: int | None = None,
             contract_edit: tuple[str, str] | None = None, spec_edit: tuple[str, str] | None = None) -> Path:
    """The shipped study and its contracts written into ``folder`` (optionally lighter or edited)."""
    shutil.copytree(ANALYSES / "contracts", folder / "contracts", dirs_exist_ok=True)
    text = SPEC.read_text(encoding="utf-8")
    if not diagnostics:
        text = text.replace("[design.diagnostics]\nenabled = true", "[design.diagnostics]\nenabled = false")
    if draws is not None:
        text = text.replace("draws = 200000", f"draws = {draws}")
    if spec_edit is not None:
        assert spec_edit[0] in text
        text = text.replace(*spec_edit)
    if contract_edit is not None:
        path = folder / "contracts" / "ccpt-credentials-rate-card.toml"
        contract = path.read_text(encoding="utf-8")
        assert contract_edit[0] in contract
        path.write_text(contract.replace(*contract_edit), encoding="utf-8")
    spec = folder / "study.toml"
    spec.write_text(text, encoding="utf-8")
    return spec


def _one_line_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith("cteimpact: warning")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_the_study_is_shipped_and_reads_every_interim_role() -> None:
    from cteimpact.pipeline.spec import load_spec
    from cteimpact.pipeline.studies import SHIPPED_STUDIES, shipped_study

    assert "ccpt-credentials-rd" in SHIPPED_STUDIES
    spec = load_spec(shipped_study("ccpt-credentials-rd"))
    roles = spec.data.columns
    for role in ("pathway_completion", "credential", "postsecondary_enrollment", "grade_at_entry", "concentrator"):
        assert role in roles, role
    assert spec.surrogate is not None and spec.surrogate.outcome == "earnings_age26"
    assert spec.equity is not None
    assert set(spec.equity.subgroups) == {"race_ethnicity", "low_income", "english_learner", "special_ed", "female",
                                          "grade_at_entry"}
    assert spec.surrogate_labels() == ["earnings_age26[surrogate]"]


def test_an_equity_premium_for_a_group_not_in_the_data_is_one_line(tmp_path: Path, synth_data: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec = _project(tmp_path, contract_edit=('group = "low_income=1"\nrate', 'group = "low_income=7"\nrate'))
    out = tmp_path / "run"
    line = _one_line_exit_2(["run", str(spec), "--out", str(out), "--data-root", str(synth_data), "--quiet"], capsys)
    assert "low_income" in line and "7" in line
    assert "students" in line or "rows" in line  # the levels present, with their counts
    assert not out.exists()


def test_an_equity_column_not_in_the_data_is_one_line(tmp_path: Path, synth_data: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    spec = _project(tmp_path, spec_edit=('"female", "grade_at_entry"]', '"female", "grade_at_entry", "tribe"]'))
    out = tmp_path / "run"
    line = _one_line_exit_2(["run", str(spec), "--out", str(out), "--data-root", str(synth_data), "--quiet"], capsys)
    assert "tribe" in line and "[equity]" in line
    assert not out.exists()


def test_a_training_sample_without_the_long_run_outcome_is_one_line(tmp_path: Path, synth_data: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # cohorts entering 9th grade from 2014 have not reached 26 by the last wage year (2025)
    spec = _project(tmp_path, spec_edit=('training = ["cohort <= 2013"]', 'training = ["cohort >= 2015"]'))
    out = tmp_path / "run"
    line = _one_line_exit_2(["run", str(spec), "--out", str(out), "--data-root", str(synth_data), "--quiet"], capsys)
    assert "earnings_age26" in line and "training" in line
    assert not out.exists()


@pytest.fixture(scope="module")
def credentials_run(tmp_path_factory: pytest.TempPathFactory, synth_data: Path) -> Path:
    root = tmp_path_factory.mktemp("credentials")
    spec = _project(root, diagnostics=False, draws=20000)
    out = root / "run"
    assert main(["run", str(spec), "--out", str(out), "--data-root", str(synth_data), "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_the_run_holds_interim_effects_projection_equity_and_pricing(credentials_run: Path) -> None:
    results = json.loads((credentials_run / "results.json").read_text())
    labels = {e["label"] for e in results["design"]["estimates"]}
    assert {"credential", "completer", "postsecondary", "credential[low_income=1]"} <= labels
    surrogate = results["surrogate"]
    assert surrogate["label"] == "earnings_age26[surrogate]"
    assert surrogate["assumptions"]
    projection = surrogate["projections"][0]
    if not projection.get("suppressed"):
        v = projection["variance"]
        assert v["total"] == pytest.approx(v["design"] + v["model"], rel=1e-12)
    equity = results["equity"]
    columns = {row["column"] for row in equity["details"]["effects"]}
    assert columns == {"race_ethnicity", "low_income", "english_learner", "special_ed", "female", "grade_at_entry"}
    pricing = results["pricing"]
    assert set(pricing["gross_vs_impact"]) == {"credential", "completion"}
    assert pricing["equity"]["premiums"][0]["group"] == "low_income=1"
    assert pricing["equity"]["floors"][0]["group"] == "low_income=1"
    assert [s["label"] for s in pricing["benefits"]["streams"]] == ["earnings_age26[surrogate]"]
    for rel in ("equity/subgroup_effects.csv", "equity/tests.csv", "equity/access_rates.csv",
                "equity/access_gaps.csv", "tables/pricing.csv"):
        assert (credentials_run / rel).is_file(), rel


@pytest.mark.slow
def test_the_run_verifies(credentials_run: Path) -> None:
    from cteimpact.pipeline.verify import verify_run

    verification = verify_run(credentials_run, progress=False)
    assert verification.ok, verification.reasons()


@pytest.mark.slow
def test_interim_effects_and_the_projection_recover_their_truth(tmp_path: Path) -> None:
    """At scale 0.25 (seed 2024), the study's interim-outcome effects and its projected effect on earnings at 26
    are within sampling error of truth.json: |z| < 3 for every estimate the run compares with its truth, and for the
    projection against the true effect of the award on earnings at 26 at the cutoff (surrogacy holds in the
    synthetic world by construction)."""
    from cteimpact.synth import generate

    data = tmp_path / "data"
    generate(data, seed=2024, scale=0.25)
    spec = _project(tmp_path, diagnostics=False, draws=20000)
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out), "--data-root", str(data), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = {r["label"]: r for r in results["truth"]["rows"]}
    for label in ("credential", "completer", "postsecondary", "credential[low_income=1]", "completer[low_income=1]"):
        assert abs(rows[label]["z"]) < 3, (label, rows[label])
    truth = json.loads((data / "truth.json").read_text())["surrogate"]
    assert truth["surrogacy_holds"] is True
    projection = results["surrogate"]["projections"][0]
    z = (projection["estimate"] - truth["true_effect"]) / projection["std_error"]
    assert abs(z) < 3, (projection["estimate"], truth["true_effect"], projection["std_error"])
    assert results["surrogate"]["validation"][0]["flagged"] is False


@pytest.mark.slow
def test_price_reprices_the_run_from_its_results(credentials_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``cteimpact price`` on the run's results.json finds every label the contract draws (the outcomes, the
    low-income group's estimate, the projected earnings) without --estimate-source: the equity record repeats the
    design's subgroup labels, and the design's record is the one the run priced from."""
    results = json.loads((credentials_run / "results.json").read_text())
    contract = ANALYSES / "contracts" / "ccpt-credentials-rate-card.toml"
    code = main(["price", str(contract), "--results", str(credentials_run / "results.json"), "--draws", "20000",
                 "--seed", str(results["seeds"]["pricing"]), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    priced = json.loads(out.out)
    assert priced["equity"]["premiums"][0]["label"] == "credential[low_income=1]"
    assert priced["equity"]["premiums"][0]["group_centre"] == pytest.approx(
        results["pricing"]["equity"]["premiums"][0]["group_centre"], rel=1e-12)
    assert [s["label"] for s in priced["benefits"]["streams"]] == ["earnings_age26[surrogate]"]

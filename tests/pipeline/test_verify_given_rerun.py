"""``verify_run(..., rerun=DIR)``: a re-computation already written (``cteimpact demo`` computes it at the same time as
the run) is compared in place of one computed by the verification, and accepted only if it read the files the
verification locates, ran the run's command and was computed by this software on this platform."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from cteimpact.pipeline.run import execute, prepare_run
from cteimpact.pipeline.verify import verify_run

REPO = Path(__file__).resolve().parents[2]
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"
COMMAND = f"cteimpact run {DID_SPEC.relative_to(REPO)} --out runs/did --data-root data"  # did_study_run's


def _rerun(data_root: Path, target: Path, command: str = COMMAND) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        execute(prepare_run(DID_SPEC, data_root=data_root), target, progress=False, command=command)
    return target


def _verify(run_dir: Path, rerun: Path, data_root: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return verify_run(run_dir, progress=False, rerun=rerun, data_root=data_root)


def test_a_rerun_of_the_same_inputs_verifies_as_a_computed_one(did_study_run, synth_data: Path,
                                                               tmp_path: Path) -> None:
    given = _verify(did_study_run.out_dir, _rerun(synth_data, tmp_path / "rerun"), synth_data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        computed = verify_run(did_study_run.out_dir, progress=False, data_root=synth_data)
    assert given.ok and computed.ok
    assert given.findings == computed.findings == ()
    assert given.comparison.n_compared == computed.comparison.n_compared > 1000
    assert given.outputs_compared == computed.outputs_compared > 5


def test_a_rerun_of_other_data_is_refused(did_study_run, synth_data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-data"
    shutil.copytree(synth_data, other)
    panel = pd.read_csv(other / "district_panel.csv")
    panel.loc[panel.index[:5], "earnings_age19"] += 1000.0
    panel.to_csv(other / "district_panel.csv", index=False)
    verdict = _verify(did_study_run.out_dir, _rerun(other, tmp_path / "rerun"), synth_data)
    assert not verdict.ok
    # the changed data file, and the synthetic truth, which names the data files by their hash and so no longer
    # describes the changed one (the re-computation records none)
    assert [f.subject for f in verdict.findings if f.kind == "input"] == ["data", "truth"]
    assert "the re-computation given read another data file" in verdict.findings[0].message
    assert verdict.comparison.mismatches


def test_a_rerun_of_another_command_is_a_finding(did_study_run, synth_data: Path, tmp_path: Path) -> None:
    verdict = _verify(did_study_run.out_dir, _rerun(synth_data, tmp_path / "rerun", command="cteimpact run x.toml"),
                      synth_data)
    assert not verdict.ok
    assert [(f.kind, f.subject) for f in verdict.findings] == [("manifest", "command")]
    assert verdict.comparison.mismatches == ()  # the numbers themselves agree


def test_an_incomplete_rerun_directory_is_refused(did_study_run, synth_data: Path, tmp_path: Path) -> None:
    from cteimpact.errors import RunDirectoryError

    rerun = _rerun(synth_data, tmp_path / "rerun")
    (rerun / "manifest.json").unlink()
    with pytest.raises(RunDirectoryError):
        _verify(did_study_run.out_dir, rerun, synth_data)

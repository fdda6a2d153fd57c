"""Run directories are atomic and owned: claimed before estimation, written in a staging folder, moved into place,
never clobbering another folder, locked against a concurrent writer; verify and report open complete runs only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cteimpact.cli.app import main
from cteimpact.errors import RunDirectoryError
from cteimpact.pipeline.run_directory import StagedRun, open_run

REPO = Path(__file__).resolve().parents[2]
ANALYSES = REPO / "analyses"


@pytest.fixture(scope="module")
def light(light_rd_study: dict[str, Path]) -> dict[str, Path]:
    """The quick RD study and its run (``light_rd_study`` of tests/conftest.py, shared with other folders)."""
    return {"spec": light_rd_study["spec"], "run": light_rd_study["run"], "data": light_rd_study["data"]}


def _run(light: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["run", str(light["spec"]), "--out", str(out), "--data-root", str(light["data"]), "--quiet", *extra])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".replaced-" in p.name
                  or p.name.endswith(".lock"))


@pytest.fixture
def no_estimation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Estimation must not start: the design runner fails the test if called."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("estimation started before the output folder was checked")

    monkeypatch.setattr("cteimpact.pipeline.run.run_design", refuse)


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line on stderr (warnings, one line each, may precede it; never a traceback)."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if " warning: " not in line]
    assert len(err) == 1, err
    return err[0]


def test_a_run_is_moved_into_place_with_nothing_left_beside_it(light: dict[str, Path]) -> None:
    run = light["run"]
    assert (run / "manifest.json").is_file()
    assert _leftovers(run.parent) == []
    opened = open_run(run)
    assert opened.results["schema"] == "cteimpact.run/1"


def test_another_run_is_not_replaced_without_overwrite(light: dict[str, Path], capsys, no_estimation) -> None:
    before = _snapshot(light["run"])
    assert _run(light, light["run"]) == 2
    line = _one_line(capsys)
    assert "already holds a cteimpact run; pass --overwrite to replace it" in line
    assert _snapshot(light["run"]) == before


@pytest.mark.slow  # runs the study again
def test_overwrite_replaces_a_previous_run_and_clears_it(light: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(light["run"], out)
    (out / "figures" / "stale-figure.png").write_bytes(b"from an older run")
    assert _run(light, out, "--overwrite") == 0
    assert not (out / "figures" / "stale-figure.png").exists()
    new, first = _snapshot(out), _snapshot(light["run"])
    assert set(new) == set(first)
    # same inputs and seed: the same bytes (the manifest records the command and locations relative to the run)
    assert {k: v for k, v in new.items() if k != "manifest.json"} == {k: v for k, v in first.items()
                                                                       if k != "manifest.json"}
    assert _leftovers(tmp_path) == []


def test_a_folder_that_is_not_a_run_is_never_cleared(light: dict[str, Path], tmp_path: Path, capsys,
                                                     no_estimation) -> None:
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("my work", encoding="utf-8")
    assert _run(light, out, "--overwrite") == 2
    assert "is not empty (1 entries) and is not a cteimpact run directory" in _one_line(capsys)
    assert (out / "chapter1.tex").read_text(encoding="utf-8") == "my work"


@pytest.mark.slow  # runs the study again
def test_an_empty_folder_is_used(light: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert _run(light, out) == 0
    assert (out / "manifest.json").is_file()


@pytest.mark.slow  # runs the study again
def test_missing_parent_folders_are_created(light: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "run"
    assert _run(light, out) == 0
    assert (out / "results.json").is_file()


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: a chmod 555 folder, or (as root, whom permissions do not stop) sysfs."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    sysfs = Path("/sys")
    probe = sysfs / "cteimpact-probe"
    try:
        probe.mkdir()
    except OSError:
        return sysfs
    probe.rmdir()  # pragma: no cover - a writable /sys
    pytest.skip("no read-only folder is available to this root process")


def test_a_read_only_out_fails_before_estimation(light: dict[str, Path], tmp_path: Path, capsys,
                                                 no_estimation) -> None:
    folder = _read_only_folder(tmp_path)
    assert _run(light, folder / "run") == 2
    line = _one_line(capsys)
    assert "cannot" in line
    assert str(folder) in line
    assert not (folder / "run").exists()


def test_a_concurrent_run_into_the_same_directory_is_refused(light: dict[str, Path], tmp_path: Path, capsys,
                                                             no_estimation) -> None:
    out = tmp_path / "busy"
    holder = textwrap.dedent(f"""
        import sys, time
        from cteimpact.pipeline.run_directory import StagedRun
        with StagedRun({str(out)!r}):
            print("holding", flush=True)
            sys.stdin.readline()
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        assert _run(light, out) == 2
        assert "another cteimpact process is writing" in _one_line(capsys)
    finally:
        proc.communicate("done\n", timeout=30)
    assert proc.returncode == 0
    assert _leftovers(tmp_path) == []  # the holder's staging folder and lock are gone


@pytest.mark.slow  # runs the study again
def test_a_run_that_fails_midway_leaves_no_trace(light: dict[str, Path], tmp_path: Path, capsys,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    previous = tmp_path / "run"
    shutil.copytree(light["run"], previous)
    before = _snapshot(previous)
    calls = {"n": 0}
    from cteimpact.pipeline.artefacts import RunDirectory

    original = RunDirectory.write_figure

    def fail_on_third(self: RunDirectory, relative: str, fig: object) -> Path:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device", str(self.root / relative))
        return original(self, relative, fig)  # type: ignore[arg-type]

    monkeypatch.setattr(RunDirectory, "write_figure", fail_on_third)
    assert _run(light, previous, "--overwrite") == 2
    line = _one_line(capsys)
    assert "cannot write the run directory" in line
    assert "No space left on device" in line
    assert ".partial-" not in line  # the staging folder is an implementation detail
    assert _snapshot(previous) == before  # the previous run is intact
    assert _leftovers(tmp_path) == []
    fresh = tmp_path / "fresh"
    calls["n"] = 0
    assert _run(light, fresh) == 2
    capsys.readouterr()
    assert not fresh.exists()
    assert _leftovers(tmp_path) == []


def test_verify_and_report_refuse_an_incomplete_run(light: dict[str, Path], tmp_path: Path, capsys) -> None:
    staging = tmp_path / ".run.partial-1a2b3c4d"
    shutil.copytree(light["run"], staging)
    for command in (["verify", str(staging), "--quiet"], ["report", str(staging), "--to", "html"]):
        assert main(command) == 2
        assert "staging folder of a run that has not completed" in _one_line(capsys)
    no_manifest = tmp_path / "no-manifest"
    shutil.copytree(light["run"], no_manifest)
    (no_manifest / "manifest.json").unlink()
    for command in (["verify", str(no_manifest), "--quiet"], ["report", str(no_manifest), "--to", "html"]):
        assert main(command) == 2
        assert "results.json is there but manifest.json (written last) is missing" in _one_line(capsys)
    assert not (no_manifest / "certificate.json").exists()
    assert not (no_manifest / "report").exists()
    missing_output = tmp_path / "missing-output"
    shutil.copytree(light["run"], missing_output)
    (missing_output / "tables" / "estimates.csv").unlink()
    assert main(["report", str(missing_output), "--to", "html"]) == 2
    assert "1 output(s) listed in manifest.json are missing (first: tables/estimates.csv)" in _one_line(capsys)
    assert not (missing_output / "report").exists()


def test_verify_refuses_a_run_being_written(light: dict[str, Path], tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(light["run"], run)
    with StagedRun(run, overwrite=True):
        assert main(["verify", str(run), "--quiet"]) == 2
        assert "another cteimpact process is writing" in _one_line(capsys)
    assert not (run / "certificate.json").exists()


def test_open_run_names_a_schema_it_does_not_read(light: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(light["run"], run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["schema"] = "cteimpact.manifest/99"
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunDirectoryError, match=r"incompatible cteimpact \(manifest 'cteimpact.manifest/99'"):
        open_run(run)


def test_a_deeply_nested_or_huge_record_is_refused(light: dict[str, Path], tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(light["run"], run)
    (run / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["verify", str(run), "--quiet"]) == 2
    assert "results.json" in _one_line(capsys)


def test_a_missing_certificate_folder_fails_before_verifying(light: dict[str, Path], tmp_path: Path, capsys,
                                                             no_estimation) -> None:
    target = tmp_path / "no-such-folder" / "certificate.json"
    assert main(["verify", str(light["run"]), "--quiet", "--certificate", str(target)]) == 2
    assert "folder" in _one_line(capsys)
    assert not target.parent.exists()


# -- data and contract paths in a specification -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('path = "students.parquet"', 'path = "../../../../etc/students.parquet"'),
         "data.path '../../../../etc/students.parquet' leaves the folder it is relative to"),
        (lambda s: s.replace('path = "students.parquet"', 'path = "sub/../../students.parquet"'),
         "data.path 'sub/../../students.parquet' leaves the folder"),
        (lambda s: s.replace('path = "students.parquet"', 'path = "/etc/students.parquet"'),
         "data.path '/etc/students.parquet' is an absolute path"),
        (lambda s: s.replace('contract = "contracts/ccpt-dropout-rate-card.toml"',
                             'contract = "../contracts/ccpt-dropout-rate-card.toml"'),
         "pricing.contract '../contracts/ccpt-dropout-rate-card.toml' leaves the folder"),
    ],
)
def test_spec_paths_stay_inside_their_folder(light: dict[str, Path], tmp_path: Path, capsys, no_estimation,
                                             edit, message) -> None:
    spec = tmp_path / "study.toml"
    shutil.copytree(light["spec"].parent / "contracts", tmp_path / "contracts")
    spec.write_text(edit(light["spec"].read_text(encoding="utf-8")), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--data-root", str(light["data"]), "--quiet"]) == 2
    assert message in _one_line(capsys)
    assert not out.exists()


@pytest.mark.slow  # runs the study again
def test_an_explicit_data_file_may_be_anywhere(light: dict[str, Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "agency" / "extract"
    elsewhere.mkdir(parents=True)
    shutil.copy(light["data"] / "students.parquet", elsewhere / "ccpt-extract.parquet")
    out = tmp_path / "run"
    assert main(["run", str(light["spec"]), "--out", str(out), "--data",
                 str(elsewhere / "ccpt-extract.parquet"), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["path"] == "../agency/extract/ccpt-extract.parquet"
    assert main(["verify", str(out), "--quiet"]) == 0


def test_file_system_errors_exit_2_with_one_line(tmp_path: Path, capsys) -> None:
    folder = _read_only_folder(tmp_path)
    assert main(["synth", "--out", str(folder / "data"), "--scale", "0.01"]) == 2
    line = _one_line(capsys)
    assert line.startswith("cteimpact: error:")
    assert "internal error" not in line

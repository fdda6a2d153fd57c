"""Shared test fixtures: the reference-data folder (skipped with a reason when absent) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def reference_data_dir() -> Path | None:
    """``$CTEIMPACT_REFERENCE_DATA`` or ``../shared/reference-data`` beside the checkout, if it exists."""
    env = os.environ.get("CTEIMPACT_REFERENCE_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "reference-data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """The reference-data folder; tests that need it are skipped, with the reason, when it is absent."""
    d = reference_data_dir()
    if d is None:
        pytest.skip(
            "reference data not found: set CTEIMPACT_REFERENCE_DATA or place the shared folder at "
            f"{REPO.parent / 'shared' / 'reference-data'}"
        )
    return d


@pytest.fixture
def reference_file(reference_data: Path):
    """Return a function giving a named file in the reference-data folder, skipping when that file is absent."""

    def get(name: str) -> Path:
        path = reference_data / name
        if not path.is_file():
            pytest.skip(f"reference file {name} not found in {reference_data}")
        return path

    return get


SPEC = REPO / "analyses" / "ccpt-dropout-rd.toml"
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"

# The shared study fixtures below are built once per session and only read by the tests that use them: a test that
# changes a run or its data copies it first (``shutil.copytree``). They serve the end-to-end tests (marked ``slow``)
# and the quick smoke tests of the fast loop (``pytest -m "not slow"``), which use only ``synth_data`` and
# ``light_rd_study``.


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic data (seed 7, scale 0.05), generated once and shared by the pipeline, reporting, security and
    provenance tests; never changed (a test that alters data works on a copy)."""
    from cteimpact.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, seed=7, scale=0.05)
    return out


@pytest.fixture(scope="session")
def rd_study_run(tmp_path_factory: pytest.TempPathFactory, synth_data: Path):
    """One run of analyses/ccpt-dropout-rd.toml on ``synth_data`` (its :class:`RunRecord`); the pipeline tests read
    it, ``verified_run`` is a verified copy of it."""
    from cteimpact.pipeline.run import run_analysis

    out = tmp_path_factory.mktemp("rd-run") / "run"
    return run_analysis(SPEC, out, data_root=synth_data, progress=False,
                        command=f"cteimpact run {SPEC.relative_to(REPO)} --out runs/ccpt --data-root data")


@pytest.fixture(scope="session")
def did_study_run(tmp_path_factory: pytest.TempPathFactory, synth_data: Path):
    """One run of analyses/pathways-earnings-did.toml on ``synth_data`` (its :class:`RunRecord`); the pipeline tests
    read it, ``verified_did_run`` (tests/reporting) is a verified copy of it."""
    import warnings

    from cteimpact.pipeline.run import run_analysis

    out = tmp_path_factory.mktemp("did-run") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(DID_SPEC, out, data_root=synth_data, progress=False,
                            command=f"cteimpact run {DID_SPEC.relative_to(REPO)} --out runs/did --data-root data")


@pytest.fixture(scope="session")
def rd_study_verification(tmp_path_factory: pytest.TempPathFactory, synth_data: Path, rd_study_run):
    """``rd_study_run`` copied (with a copy of its data in ``../data``), verified once and certified:
    ``(run directory, Verification)``. Read only, like every shared fixture here."""
    import shutil

    from study_helpers import verified_copy

    base = tmp_path_factory.mktemp("report-run")
    shutil.copytree(synth_data, base / "data")
    return verified_copy(rd_study_run.out_dir, base / "run")


@pytest.fixture(scope="session")
def did_study_verification(tmp_path_factory: pytest.TempPathFactory, did_study_run):
    """``did_study_run`` copied, verified once and certified: ``(run directory, Verification)``."""
    from study_helpers import verified_copy

    return verified_copy(did_study_run.out_dir, tmp_path_factory.mktemp("did-verified") / "run")


@pytest.fixture(scope="session")
def verified_run(rd_study_verification) -> Path:
    """A run of analyses/ccpt-dropout-rd.toml on synthetic data (seed 7, scale 0.05; a copy of the data in
    ``../data``), verified (certificate.json written). Shared by the reporting and security tests, which copy it
    before changing anything."""
    return rd_study_verification[0]


@pytest.fixture(scope="session")
def light_rd_study(tmp_path_factory: pytest.TempPathFactory, synth_data: Path) -> dict[str, Path]:
    """The quick RD study (:func:`study_helpers.write_light_rd_spec`: no diagnostics, fewer pricing draws) run once
    through ``cteimpact run`` with the run date set to 2026-01-01 (``SOURCE_DATE_EPOCH``): ``root/project`` holds
    the specification (``spec``) and its contracts, ``root/data`` a copy of ``synth_data`` and ``root/runs/clean``
    the run (``run``). Tests copy the run (and project) before changing anything."""
    import shutil

    from study_helpers import write_light_rd_spec

    from cteimpact.cli.app import main

    root = tmp_path_factory.mktemp("light-rd")
    project = root / "project"
    project.mkdir()
    spec = write_light_rd_spec(project)
    data = root / "data"
    shutil.copytree(synth_data, data)
    run = root / "runs" / "clean"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
        assert main(["run", str(spec), "--out", str(run), "--data-root", str(data), "--quiet"]) == 0
    return {"root": root, "project": project, "spec": spec, "data": data, "run": run}

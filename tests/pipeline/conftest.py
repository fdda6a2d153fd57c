"""Fixtures for the run/verify pipeline: a small synthetic data set and a completed run of the RD study."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cteimpact.synth import generate

REPO = Path(__file__).resolve().parents[2]
ANALYSES = REPO / "analyses"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic data (seed 7, scale 0.05) shared by the pipeline tests."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, seed=7, scale=0.05)
    return out


@pytest.fixture(scope="session")
def rd_run(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path):
    """One completed run of analyses/ccpt-dropout-rd.toml on the synthetic data."""
    from cteimpact.pipeline.run import run_analysis

    out = tmp_path_factory.mktemp("runs") / "rd"
    return run_analysis(ANALYSES / "ccpt-dropout-rd.toml", out, data_root=synth_dir, progress=False)


@pytest.fixture
def spec_copy(tmp_path: Path):
    """Copy a shipped specification (and its contracts) into tmp_path so a test can edit it."""

    def copy(name: str) -> Path:
        shutil.copytree(ANALYSES / "contracts", tmp_path / "contracts")
        target = tmp_path / name
        shutil.copy(ANALYSES / name, target)
        return target

    return copy

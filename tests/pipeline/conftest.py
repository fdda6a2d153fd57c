"""Fixtures for the run/verify pipeline: a small synthetic data set and a completed run of the RD study (both
built once per session in tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANALYSES = REPO / "analyses"


@pytest.fixture(scope="session")
def synth_dir(synth_data: Path) -> Path:
    """Synthetic data (seed 7, scale 0.05) shared by the pipeline tests (``synth_data`` of tests/conftest.py)."""
    return synth_data


@pytest.fixture(scope="session")
def rd_run(rd_study_run):
    """One completed run of analyses/ccpt-dropout-rd.toml on the synthetic data (``rd_study_run`` of
    tests/conftest.py)."""
    return rd_study_run


@pytest.fixture
def spec_copy(tmp_path: Path):
    """Copy a shipped specification (and its contracts) into tmp_path so a test can edit it."""

    def copy(name: str) -> Path:
        shutil.copytree(ANALYSES / "contracts", tmp_path / "contracts")
        target = tmp_path / name
        shutil.copy(ANALYSES / name, target)
        return target

    return copy

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

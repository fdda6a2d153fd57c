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


@pytest.fixture(scope="session")
def verified_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of analyses/ccpt-dropout-rd.toml on synthetic data (seed 7, scale 0.05; the data in ``../data``),
    verified (certificate.json written). Shared by the reporting and security tests, which copy it before changing
    anything."""
    from cteimpact.pipeline.certificate import build_certificate
    from cteimpact.pipeline.run import run_analysis
    from cteimpact.pipeline.verify import verify_run
    from cteimpact.results.serialization import write_json
    from cteimpact.synth import generate

    base = tmp_path_factory.mktemp("report-run")
    generate(base / "data", seed=7, scale=0.05)
    out = base / "run"
    run_analysis(SPEC, out, data_root=base / "data", progress=False,
                 command=f"cteimpact run {SPEC.relative_to(REPO)} --out runs/ccpt --data-root data")
    verification = verify_run(out, progress=False)
    assert verification.ok, verification.reasons
    write_json(build_certificate(verification), out / "certificate.json")
    return out

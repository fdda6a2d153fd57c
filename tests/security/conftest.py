"""Fixtures of the security tests: one verified run of the CCPT dropout RD study on small synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "analyses" / "ccpt-dropout-rd.toml"


@pytest.fixture(scope="session")
def verified_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of analyses/ccpt-dropout-rd.toml on synthetic data (seed 7, scale 0.05), with its certificate.json.

    Tests copy it before planting anything in it."""
    from cteimpact.pipeline.certificate import build_certificate
    from cteimpact.pipeline.run import run_analysis
    from cteimpact.pipeline.verify import verify_run
    from cteimpact.results.serialization import write_json
    from cteimpact.synth import generate

    base = tmp_path_factory.mktemp("hostile-base")
    generate(base / "data", seed=7, scale=0.05)
    out = base / "run"
    run_analysis(SPEC, out, data_root=base / "data", progress=False,
                 command=f"cteimpact run {SPEC.relative_to(REPO)} --out runs/ccpt --data-root data")
    verification = verify_run(out, progress=False)
    assert verification.ok, verification.reasons
    write_json(build_certificate(verification), out / "certificate.json")
    return out

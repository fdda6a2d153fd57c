"""Fixtures of the reporting tests: the sample report, rendered once per session with the fallback renderer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from reporting_sample import build_sample

from cteimpact.reporting import RenderResult, render


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@dataclass(frozen=True)
class RenderedSample:
    folder: Path
    qmd: Path
    result: RenderResult

    @property
    def html(self) -> str:
        return self.result.outputs["html"].read_text(encoding="utf-8")

    @property
    def pdf(self) -> Path:
        return self.result.outputs["pdf"]


@pytest.fixture(scope="session")
def rendered_sample(tmp_path_factory: pytest.TempPathFactory) -> RenderedSample:
    folder = tmp_path_factory.mktemp("sample")
    _, qmd = build_sample(folder)
    result = render(qmd, to=("html", "pdf"), engine="fallback")
    plt.close("all")
    return RenderedSample(folder, qmd, result)


@pytest.fixture(scope="session")
def verified_did_run(did_study_verification) -> Path:
    """A run of analyses/pathways-earnings-did.toml on the synthetic data of ``verified_run`` (seed 7, scale 0.05),
    verified: the verified copy of ``did_study_run`` (tests/conftest.py). Tests copy it before changing anything."""
    return did_study_verification[0]


@pytest.fixture(scope="session")
def reported(verified_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two copies of the verified RD run, reported with the fallback: ``cli`` through `cteimpact report`, ``api``
    through :func:`report_run`."""
    import shutil

    from cteimpact.cli.app import main
    from cteimpact.reporting.run_reports import report_run

    base = tmp_path_factory.mktemp("reported")
    cli_dir, api_dir = base / "cli" / "run", base / "api" / "run"
    shutil.copytree(verified_run, cli_dir)
    shutil.copytree(verified_run, api_dir)
    assert main(["report", str(cli_dir), "--engine", "fallback"]) == 0
    report_run(api_dir, to=("html", "pdf"), engine="fallback")
    return {"cli": cli_dir, "api": api_dir, "original": verified_run}


@pytest.fixture(scope="session")
def reported_did(verified_did_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the verified DiD run, reported (HTML and PDF) with the fallback."""
    import shutil

    from cteimpact.reporting.run_reports import report_run

    run = tmp_path_factory.mktemp("reported-did") / "run"
    shutil.copytree(verified_did_run, run)
    report_run(run, to=("html", "pdf"), engine="fallback")
    return run

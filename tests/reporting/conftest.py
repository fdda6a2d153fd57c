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

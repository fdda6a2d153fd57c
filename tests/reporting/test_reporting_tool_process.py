"""The one runner of the renderers' command-line tools (quarto, pandoc): its environment and its failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cteimpact.reporting.errors import RenderError
from cteimpact.reporting.tool_process import run_renderer, tool_environment


def _tool(tmp_path: Path, body: str) -> list[str]:
    """A command that runs ``body`` as a Python script (stands in for quarto or pandoc)."""
    script = tmp_path / "tool.py"
    script.write_text(body, encoding="utf-8")
    return [sys.executable, str(script)]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "report.qmd"
    path.write_text("# Report\n", encoding="utf-8")
    return path


def test_a_tool_runs_in_the_source_folder_without_a_render_date(tmp_path, source, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    command = _tool(tmp_path, "import os; print(os.getcwd()); print(os.environ['SOURCE_DATE_EPOCH'])")
    done = run_renderer(command, renderer="pandoc", source=source, target="html", timeout=60)
    cwd, epoch = done.stdout.split()
    assert Path(cwd).resolve() == source.parent.resolve() and epoch == "0"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert tool_environment()["SOURCE_DATE_EPOCH"] == "1700000000"


def test_a_failing_tool_is_a_render_error_quoting_its_diagnostic(tmp_path, source):
    cleaned: list[str] = []
    command = _tool(tmp_path, "import sys; print('progress', file=sys.stderr); "
                              "print('error: unknown option --x', file=sys.stderr); sys.exit(3)")
    with pytest.raises(RenderError) as info:
        run_renderer(command, renderer="pandoc", source=source, target="pdf", timeout=60,
                     on_failure=lambda: cleaned.append("partial output removed"))
    err = info.value
    assert str(err) == "pandoc failed (exit 3) rendering report.qmd to PDF: error: unknown option --x"
    assert (err.renderer, err.target, err.detail) == ("pandoc", "pdf", "error: unknown option --x")
    assert cleaned == ["partial output removed"]


def test_the_diagnostic_comes_from_stdout_only_when_asked(tmp_path, source):
    command = _tool(tmp_path, "import sys; print('ERROR: no such format'); sys.exit(1)")
    with pytest.raises(RenderError) as info:
        run_renderer(command, renderer="quarto", source=source, target="html", timeout=60, stdout_diagnostic=True)
    assert info.value.detail == "ERROR: no such format"
    with pytest.raises(RenderError) as info:
        run_renderer(command, renderer="pandoc", source=source, target="html", timeout=60)
    assert info.value.detail == "(no diagnostic output)"


def test_a_tool_that_cannot_start_or_finish_is_a_render_error(tmp_path, source):
    cleaned: list[str] = []
    with pytest.raises(RenderError, match=r"^quarto could not run on report\.qmd for HTML: ") as info:
        run_renderer([str(tmp_path / "no-such-quarto")], renderer="quarto", source=source, target="html",
                     timeout=60, on_failure=lambda: cleaned.append("x"))
    assert info.value.renderer == "quarto" and info.value.detail
    with pytest.raises(RenderError, match=r"^pandoc could not run on report\.qmd for PDF: .*timed out"):
        run_renderer(_tool(tmp_path, "import time; time.sleep(30)"), renderer="pandoc", source=source,
                     target="pdf", timeout=0.5, on_failure=lambda: cleaned.append("y"))
    assert cleaned == []  # nothing was produced, nothing is removed

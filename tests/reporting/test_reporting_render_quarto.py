"""Rendering through the quarto CLI.

The adapter (command line, environment, where outputs land, error translation) is tested against a stand-in
``quarto`` script that records how it was called. The real-quarto tests run only where quarto is installed (on
PATH or named by QUARTO_PATH) and are skipped with that reason otherwise.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from reporting_helpers import external_references, pdf_outline
from reporting_sample import HEADLINE, build_sample

from cteimpact.reporting import (
    RendererNotFoundError,
    RenderError,
    UnresolvedReferenceWarning,
    find_quarto,
    format_full,
    render,
)


def _installed_quarto() -> Path | None:
    try:
        return find_quarto()
    except RendererNotFoundError:
        return None


requires_quarto = pytest.mark.skipif(
    _installed_quarto() is None,
    reason="quarto CLI not installed (not on PATH, QUARTO_PATH unset): the fallback renderer is tested instead",
)
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="the stand-in quarto is a POSIX shell script")

FAKE_QUARTO = textwrap.dedent("""\
    #!/bin/sh
    if [ "$1" = "--version" ]; then echo "1.6.40"; exit 0; fi
    {
      echo "args: $*"
      echo "cwd: $(pwd)"
      echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
    } >> "$FAKE_QUARTO_LOG"
    if [ -n "$FAKE_QUARTO_FAIL" ]; then
      echo "Starting render..." >&2
      echo "ERROR: $FAKE_QUARTO_FAIL" >&2
      exit 1
    fi
    out=""; prev=""
    for a in "$@"; do
      if [ "$prev" = "--output" ]; then out="$a"; fi
      prev="$a"
    done
    if [ -n "$FAKE_QUARTO_WARN" ]; then echo "WARNING (quarto): $FAKE_QUARTO_WARN" >&2; fi
    printf 'rendered: %s\\n' "$*" > "$out"
    """)


@pytest.fixture
def fake_quarto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    binary = tmp_path / "bin" / "quarto"
    binary.parent.mkdir()
    binary.write_text(FAKE_QUARTO)
    binary.chmod(0o755)
    log = tmp_path / "quarto.log"
    monkeypatch.setenv("QUARTO_PATH", str(binary))
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("FAKE_QUARTO_FAIL", raising=False)
    monkeypatch.delenv("FAKE_QUARTO_WARN", raising=False)
    return log


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "run" / "report.qmd"
    src.parent.mkdir()
    src.write_text("---\ntitle: T\n---\n\nText.\n", encoding="utf-8")
    return src


@posix_only
def test_quarto_is_called_for_self_contained_html_and_typst_pdf(fake_quarto, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_QUARTO_WARN", "Unable to resolve crossref @fig-nope")
    src = _source(tmp_path)
    with pytest.warns(UnresolvedReferenceWarning, match="Unable to resolve crossref @fig-nope"):
        result = render(src, output_dir=tmp_path / "out")  # auto: QUARTO_PATH wins over the fallback
    assert result.renderer == "quarto"
    assert result.engine == "quarto 1.6.40"
    assert dict(result.versions) == {"quarto": "1.6.40"}
    html, pdf = result.outputs["html"], result.outputs["pdf"]
    assert html == (tmp_path / "out" / "report.html").resolve() and pdf == (tmp_path / "out" / "report.pdf").resolve()
    assert html.read_text() == (
        "rendered: render report.qmd --to html --output .report.cteimpact-render.html -M embed-resources:true\n"
    )
    assert pdf.read_text() == "rendered: render report.qmd --to typst --output .report.cteimpact-render.pdf\n"
    log = fake_quarto.read_text().splitlines()
    assert log.count(f"cwd: {src.parent.resolve()}") == 2
    assert log.count("SOURCE_DATE_EPOCH=0") == 2  # Quarto's typst then writes no render date
    assert sorted(p.name for p in src.parent.iterdir()) == ["report.qmd"]  # nothing left beside the source
    assert result.warnings == ("quarto: WARNING (quarto): Unable to resolve crossref @fig-nope",)


@posix_only
def test_quarto_renders_in_place_without_renaming(fake_quarto, tmp_path):
    src = _source(tmp_path)
    result = render(src, to="html", engine="quarto")
    assert result.outputs["html"] == src.with_suffix(".html").resolve()
    assert "--output report.html -M embed-resources:true" in result.outputs["html"].read_text()


@posix_only
def test_a_source_date_epoch_of_the_caller_is_kept(fake_quarto, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    render(_source(tmp_path), to="pdf", engine="quarto")
    assert "SOURCE_DATE_EPOCH=1700000000" in fake_quarto.read_text()


@posix_only
def test_a_quarto_failure_is_a_one_line_render_error(fake_quarto, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_QUARTO_FAIL", "Unable to render report.qmd")
    src = _source(tmp_path)
    with pytest.raises(RenderError, match=r"^quarto failed \(exit 1\) rendering report\.qmd to HTML: "
                                          r"ERROR: Unable to render report\.qmd$") as info:
        render(src, engine="quarto")
    assert info.value.renderer == "quarto" and info.value.target == "html"
    assert sorted(p.name for p in src.parent.iterdir()) == ["report.qmd"]


@posix_only
def test_quarto_path_may_name_a_folder(fake_quarto, tmp_path, monkeypatch):
    monkeypatch.setenv("QUARTO_PATH", str(tmp_path / "bin"))
    assert find_quarto() == tmp_path / "bin" / "quarto"


# -- the real quarto ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quarto_sample(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("quarto-sample")
    _, qmd = build_sample(folder)
    return qmd, render(qmd, engine="quarto", output_dir=folder / "first")


@requires_quarto
def test_real_quarto_html_is_self_contained_and_exact(quarto_sample):
    _, result = quarto_sample
    assert result.engine.startswith("quarto ")
    html = result.outputs["html"].read_text(encoding="utf-8")
    assert external_references(html) == []
    assert format_full(HEADLINE) in html


@requires_quarto
def test_real_quarto_pdf_has_the_expected_sections(quarto_sample):
    _, result = quarto_sample
    outline = " | ".join(pdf_outline(result.outputs["pdf"]))
    for title in ("Summary of findings", "Design and estimand", "Impact estimates", "Subgroups", "Sensitivity"):
        assert title in outline


@requires_quarto
def test_real_quarto_rerender_is_byte_identical(quarto_sample, tmp_path):
    qmd, first = quarto_sample
    again = render(qmd, engine="quarto", output_dir=tmp_path)
    for fmt in ("html", "pdf"):
        assert again.outputs[fmt].read_bytes() == first.outputs[fmt].read_bytes(), fmt


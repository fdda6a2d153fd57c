"""The fallback renderer (pandoc + Typst from PyPI): self-contained HTML, numbered figures and tables with
resolved cross-references, PDF with the expected sections, byte-identical re-renders, typed errors."""

from __future__ import annotations

import re
import shutil
import textwrap
import warnings
from pathlib import Path

import pypandoc
import pytest
from pypdf import PdfReader
from reporting_helpers import collect_resources, external_references, pdf_outline, pdf_text
from reporting_sample import HEADLINE, SECTION_TITLES, build_sample

from cteimpact.errors import OptionError
from cteimpact.reporting import (
    RendererNotFoundError,
    RenderError,
    UnresolvedReferenceWarning,
    format_full,
    render,
)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


# -- engine ------------------------------------------------------------------------------------------------------


def test_result_names_the_engine_and_its_versions(rendered_sample):
    result = rendered_sample.result
    pandoc_version = pypandoc.get_pandoc_version()
    assert result.renderer == "fallback"
    assert result.engine == f"fallback: pandoc {pandoc_version} + typst {result.versions['typst']}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", result.versions["typst"])
    assert result.versions["pandoc"] == pandoc_version
    assert result.warnings == ()
    assert result.to_dict() == {
        "engine": result.engine,
        "renderer": "fallback",
        "versions": dict(result.versions),
        "source": "sample.qmd",
        "outputs": {"html": "sample.html", "pdf": "sample.pdf"},
        "warnings": [],
    }


# -- HTML --------------------------------------------------------------------------------------------------------


def test_html_references_no_external_file(rendered_sample):
    html = rendered_sample.html
    assert external_references(html) == []
    # both figures are embedded (PNG and SVG), the stylesheet is inline
    assert html.count('src="data:image/png;base64,') == 1
    assert html.count('src="data:image/svg+xml;base64,') == 1
    assert "<link" not in html and "<script" not in html


def test_html_contains_the_headline_estimate_exactly(rendered_sample):
    text = format_full(HEADLINE)
    assert text == "-0.04231187396514237"
    assert f"The headline estimate at full precision is {text}." in rendered_sample.html


def test_html_numbers_figures_and_tables(rendered_sample):
    html = rendered_sample.html
    captions = re.findall(r'<span class="caption-label"><strong>([^<]+)</strong></span>', html)
    assert captions == ["Table 1:", "Figure 1:", "Table 2:", "Figure 2:", "Table 3:"]
    assert re.search(r"<figcaption><span class=\"caption-label\"><strong>Figure 1:</strong></span>\s+Dropout rate "
                     r"by grant score", html)
    assert re.search(r'<table id="tbl-bandwidths"[^>]*>\s*<caption><span class="caption-label"><strong>Table 3:',
                     html)


def test_html_cross_references_resolve_to_links(rendered_sample):
    html = rendered_sample.html
    for target, text in [
        ("tbl-impacts", "Table 1"),
        ("fig-rd", "Figure 1"),
        ("sec-design", "Section 2"),
        ("sec-sensitivity", "Section 5"),
        ("fig-es", "Figure 2"),
        ("tbl-bandwidths", "Table 3"),
    ]:
        assert f'<a href="#{target}">{text}</a>' in html
    assert "?@" not in html and "@fig-" not in html and "@tbl-" not in html and "@sec-" not in html
    parser = collect_resources(html)
    anchors = {value[1:] for _, name, value in parser.references if name == "href" and value.startswith("#")}
    assert anchors and anchors <= parser.ids  # every internal link lands on an element


def test_html_sections_are_numbered_and_listed(rendered_sample):
    html = rendered_sample.html
    numbers = re.findall(r'<h[12] data-number="([\d.]+)" id="(sec-[a-z]+)"', html)
    assert numbers == [("1", "sec-summary"), ("2", "sec-design"), ("2.1", "sec-bandwidth"), ("3", "sec-impacts"),
                       ("4", "sec-subgroups"), ("5", "sec-sensitivity")]
    assert '<h1 class="unnumbered" id="sec-repro">Reproducibility</h1>' in html
    assert '<nav id="TOC" role="doc-toc">' in html


def test_html_callouts_tables_and_notes(rendered_sample):
    html = rendered_sample.html
    assert re.search(r'<div class="callout callout-important" role="note">\s*<div class="callout-title">\s*'
                     r"Bottom line for the payor", html)
    assert re.search(r'<div class="callout callout-tip" role="note">\s*<div class="callout-title">\s*Tip', html)
    assert "<strong>$2,483,912</strong> ($2.48 million)" in html
    assert '<td style="text-align: right;">[-0.066, -0.018]</td>' in html
    assert "‡ Suppressed to protect privacy: values based on fewer than 10 students are not shown" in html
    assert "students_with_id &amp; other *literal* text stay as written." in html
    assert "<colgroup>" not in html  # columns sized to their content (tbl-colwidths: false)


# -- PDF ---------------------------------------------------------------------------------------------------------


def test_pdf_has_the_expected_sections(rendered_sample):
    outline = pdf_outline(rendered_sample.pdf)
    assert outline == ["1 Summary of findings", "2 Design and estimand", "2.1 Bandwidth", "3 Impact estimates",
                       "4 Subgroups", "5 Sensitivity", "Reproducibility"]
    text = pdf_text(rendered_sample.pdf)
    for title in SECTION_TITLES:
        assert title in text


def test_pdf_numbers_figures_and_tables_and_resolves_references(rendered_sample):
    text = pdf_text(rendered_sample.pdf)
    for caption in ["Table 1: Impact of funding at the cutoff", "Figure 1: Dropout rate by grant score",
                    "Table 2: Dropout rate by subgroup", "Figure 2: Event study of earnings",
                    "Table 3: Bandwidth sensitivity"]:
        assert caption in text
    assert "Table 1). The jump at the cutoff is visible in Figure 1; the design is set out in Section 2" in text
    assert "Figure 2 shows the event study; Table 3 varies the bandwidth." in text
    assert "?@" not in text and "@fig" not in text
    # Typst sets a hyphen before a digit as a true minus sign (U+2212)
    assert format_full(HEADLINE).replace("-", "\u2212") in text
    assert "$2,483,912" in text and "‡ Suppressed to protect privacy" in text


def test_pdf_pages_are_numbered_and_undated(rendered_sample):
    reader = PdfReader(rendered_sample.pdf)
    n = len(reader.pages)
    assert n >= 3
    for i, page in enumerate(reader.pages, 1):
        assert f"{i} of {n}" in " ".join((page.extract_text() or "").split())
    info = reader.metadata or {}
    assert info.get("/Title") == "Impact of the career pathway grants"
    assert "/CreationDate" not in info and "/ModDate" not in info
    raw = rendered_sample.pdf.read_bytes()
    assert b"CreateDate" not in raw and b"ModifyDate" not in raw and b"CreationDate" not in raw
    assert reader.pages[0].mediabox.width == 612 and reader.pages[0].mediabox.height == 792  # US letter


# -- determinism -------------------------------------------------------------------------------------------------


def test_rerender_is_byte_identical(rendered_sample, tmp_path):
    again = render(rendered_sample.qmd, engine="fallback", output_dir=tmp_path / "again")
    for fmt in ("html", "pdf"):
        assert again.outputs[fmt].read_bytes() == rendered_sample.result.outputs[fmt].read_bytes(), fmt


def test_same_source_elsewhere_gives_the_same_bytes(rendered_sample, tmp_path):
    # the sample rebuilt from scratch in another folder: figures, .qmd, HTML and PDF all identical
    _, qmd = build_sample(tmp_path / "elsewhere" / "deeper")
    assert qmd.read_bytes() == rendered_sample.qmd.read_bytes()
    for figure in ("figures/rd_plot.png", "figures/event_study.svg"):
        assert (qmd.parent / figure).read_bytes() == (rendered_sample.folder / figure).read_bytes()
    result = render(qmd, engine="fallback")
    for fmt in ("html", "pdf"):
        assert result.outputs[fmt].read_bytes() == rendered_sample.result.outputs[fmt].read_bytes(), fmt


# -- Quarto syntax the filter handles -----------------------------------------------------------------------------


def test_front_matter_switches_off_numbering_and_contents(tmp_path):
    qmd = _write(tmp_path, "plain.qmd", """
        ---
        title: Plain
        ---

        # Methods {#sec-methods}

        See @sec-methods, @fig-a and [-@fig-a]; also [see @tbl-b, panel A].

        ![A plot](a.svg){#fig-a}

        | x | y |
        |---|--:|
        | a | 1 |

        : Counts {#tbl-b}

        ::: callout-warning
        ## A *titled* warning

        Body.
        :::
        """)
    (tmp_path / "a.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    )
    result = render(qmd, to="html,pdf", engine="fallback")
    html = result.outputs["html"].read_text(encoding="utf-8")
    assert "data-number=" not in html and '<nav id="TOC"' not in html
    assert '<a href="#sec-methods">Methods</a>' in html  # an unnumbered section is referred to by its title
    assert '<a href="#fig-a">Figure 1</a> and <a href="#fig-a">1</a>' in html
    assert 'see <a href="#tbl-b">Table 1</a>, panel A' in html
    # a heading inside a callout is its title, not a section
    assert re.search(r'<div class="callout-title">\s*A <em>titled</em> warning', html)
    assert "<h2" not in html
    text = pdf_text(result.outputs["pdf"])
    assert "See Methods, Figure 1 and 1; also see Table 1, panel A." in text
    assert "A titled warning" in text and "Figure 1: A plot" in text and "Table 1: Counts" in text


def test_explicit_column_widths(tmp_path):
    qmd = _write(tmp_path, "widths.qmd", """
        ---
        title: Widths
        tbl-colwidths: false
        ---

        | long text | number |
        |-----------|-------:|
        | a         | 1      |

        : Sized {#tbl-a tbl-colwidths="[75,25]"}

        | other | n |
        |-------|--:|
        | b     | 2 |

        : Auto {#tbl-b}
        """)
    html = render(qmd, to="html", engine="fallback").outputs["html"].read_text(encoding="utf-8")
    assert html.count("<colgroup>") == 1
    assert '<col style="width: 75%" />' in html and '<col style="width: 25%" />' in html
    assert "tbl-colwidths" not in html


def test_unresolved_references_warn_and_show_as_quarto_does(tmp_path):
    qmd = _write(tmp_path, "dangling.qmd", """
        ---
        title: Dangling
        ---

        See @fig-missing and @smith2020.
        """)
    with pytest.warns(UnresolvedReferenceWarning) as caught:
        result = render(qmd, engine="fallback")
    messages = sorted({str(w.message) for w in caught})
    assert messages == [
        "dangling.qmd: unresolved citation @smith2020 (the document has no bibliography)",
        "dangling.qmd: unresolved cross-reference @fig-missing",
    ]
    assert result.warnings == (
        "unresolved cross-reference @fig-missing",
        "unresolved citation @smith2020 (the document has no bibliography)",
    )
    assert "<strong>?@fig-missing</strong> and <strong>?@smith2020</strong>" in result.outputs["html"].read_text()
    assert "?@fig-missing and ?@smith2020" in pdf_text(result.outputs["pdf"])


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "renderer", "pattern"), [
    ("html", "pandoc", r"pandoc could not embed a resource of missing\.qmd .*Could not fetch resource figures/none"),
    ("pdf", "typst", r"typst failed rendering missing\.qmd to PDF: error: file not found .*figures/none\.png"),
])
def test_a_missing_figure_is_a_render_error(tmp_path, target, renderer, pattern):
    qmd = _write(tmp_path, "missing.qmd", """
        ---
        title: Missing
        ---

        ![Gone](figures/none.png){#fig-gone}
        """)
    with pytest.raises(RenderError, match=pattern) as info:
        render(qmd, to=target, engine="fallback")
    assert info.value.renderer == renderer and info.value.target == target
    assert "\n" not in str(info.value)
    assert not (tmp_path / f"missing.{target}").exists()  # no output that is not self-contained


def test_a_typst_failure_is_summarised_in_one_line(tmp_path):
    qmd = _write(tmp_path, "broken.qmd", """
        ---
        title: Broken
        ---

        ```{=typst}
        #let x = (
        ```
        """)
    with pytest.raises(RenderError, match=r"^typst failed rendering broken\.qmd to PDF: error: unclosed delimiter"):
        render(qmd, to="pdf", engine="fallback")
    assert not (tmp_path / "broken.pdf").exists()


def test_a_pandoc_failure_is_summarised_in_one_line(tmp_path):
    qmd = _write(tmp_path, "yaml.qmd", """
        ---
        title: [unclosed
        ---

        Text.
        """)
    with pytest.raises(RenderError, match=r"^pandoc failed \(exit \d+\) rendering yaml\.qmd to HTML: .*YAML") as info:
        render(qmd, to="html", engine="fallback")
    assert info.value.renderer == "pandoc"
    assert "\n" not in str(info.value) and len(info.value.detail) <= 400


def test_options_are_checked(rendered_sample, tmp_path):
    with pytest.raises(OptionError, match="to must name output formats"):
        render(rendered_sample.qmd, to="docx")
    with pytest.raises(OptionError, match="to must name output formats"):
        render(rendered_sample.qmd, to=())
    with pytest.raises(OptionError, match="engine must be one of auto, quarto, fallback"):
        render(rendered_sample.qmd, engine="latex")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="does not exist"):
        render(tmp_path / "nope.qmd")


def test_quarto_asked_for_but_absent(rendered_sample, tmp_path, monkeypatch):
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no quarto here
    with pytest.raises(RendererNotFoundError, match="quarto is not installed: put it on PATH or set QUARTO_PATH"):
        render(rendered_sample.qmd, engine="quarto", output_dir=tmp_path)
    # auto falls back to pandoc + typst (pandoc is found through pypandoc, not PATH)
    result = render(rendered_sample.qmd, engine="auto", to="html", output_dir=tmp_path)
    assert result.renderer == "fallback"


def test_a_wrong_quarto_path_is_reported(rendered_sample, tmp_path, monkeypatch):
    monkeypatch.setenv("QUARTO_PATH", str(tmp_path / "no-such-quarto"))
    with pytest.raises(RendererNotFoundError, match=r"QUARTO_PATH is set to .*no-such-quarto"):
        render(rendered_sample.qmd, engine="auto", output_dir=tmp_path)


def test_output_dir_and_names(rendered_sample, tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(rendered_sample.folder / "figures", copy / "figures")
    shutil.copy(rendered_sample.qmd, copy / "report.qmd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean document renders without any warning
        result = render(copy / "report.qmd", to=["pdf"], engine="fallback", output_dir=tmp_path / "out")
    assert dict(result.outputs) == {"pdf": (tmp_path / "out" / "report.pdf").resolve()}
    assert result.outputs["pdf"].read_bytes() == rendered_sample.pdf.read_bytes()
    assert result.to_dict(relative_to=tmp_path)["outputs"] == {"pdf": "out/report.pdf"}

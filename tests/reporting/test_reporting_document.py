"""The .qmd builder: the markdown it writes, that data text survives rendering literally, label checks."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.reporting import (
    QmdDocument,
    ReportContentError,
    escape_markdown,
    format_percent,
    render,
    suppress_small_cells,
)
from cteimpact.reporting.markdown import front_matter, pipe_table

TRICKY = [
    "$5 and $6",
    "a|b",
    "a*b*c",
    "under_score_name",
    "@fig-x and @smith2020",
    "<b>not bold</b>",
    "# not a heading",
    "- not a list",
    "1. not a list",
    "[not](a link)",
    "`not code`",
    "~sub~ ^sup^",
    "&amp; stays",
    "back\\slash",
    ": not a definition",
]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th", "p", "h1", "li"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th", "p", "h1", "li") and self._cell is not None:
            self.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _texts(html: str) -> list[str]:
    parser = _Cells()
    parser.feed(html)
    return parser.cells


def test_front_matter_is_quoted_yaml():
    text = front_matter({"title": 'A "quoted": title', "toc": True, "depth": 2, "format": {"html": {"x": False}},
                         "author": ["A", "B"], "empty": []})
    assert text == "\n".join([
        "---",
        'title: "A \\"quoted\\": title"',
        "toc: true",
        "depth: 2",
        "format:",
        "  html:",
        "    x: false",
        "author:",
        '  - "A"',
        '  - "B"',
        "empty: []",
        "---",
    ])


def test_pipe_table_layout():
    table = pipe_table(["Name", "n"], [["a|b", "12"], ["c\\|d", "3"]], ["left", "right"])
    assert table.splitlines() == [
        "| Name | n   |",
        "| :--- | --: |",
        "| a\\|b | 12  |",
        "| c\\|d | 3   |",
    ]


def test_builder_writes_quarto_markdown(tmp_path):
    doc = QmdDocument("Title", subtitle="Sub", authors=["A. Author"], toc=False, number_sections=False)
    doc.heading("Results", label="sec-results")
    doc.paragraph(f"See {doc.ref('tbl-a')} and {doc.ref('fig-a')}.")
    frame = pd.DataFrame({"Outcome": ["Dropout"], "Estimate": [-0.0423], "N": [np.int64(18234)]})
    doc.table(frame, caption="Impacts", label="tbl-a", note="Robust CI.")
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "a plot.png").write_bytes(b"not read")
    doc.figure(tmp_path / "figs" / "a plot.png", caption="A plot", label="fig-a", width="80%", alt="Dots")
    doc.callout("Careful.", kind="warning", title='Say "hi"')
    qmd = doc.write(tmp_path / "r.qmd").read_text(encoding="utf-8")
    assert qmd.startswith('---\ntitle: "Title"\nsubtitle: "Sub"\nauthor:\n  - "A. Author"\n')
    assert "toc: false\n" in qmd and "number-sections: false\n" in qmd and "engine: \"markdown\"\n" in qmd
    assert "tbl-colwidths: false\n" in qmd and "    embed-resources: true\n" in qmd
    assert "# Results {#sec-results}\n\nSee @tbl-a and @fig-a.\n" in qmd
    assert (
        "| Outcome | Estimate | N      |\n"
        "| :------ | -------: | -----: |\n"
        "| Dropout | -0.0423  | 18,234 |\n"
        "\n: Impacts {#tbl-a}\n\n::: {.table-note}\nRobust CI.\n:::\n"
    ) in qmd
    # an absolute path is written relative to the .qmd; a space needs angle brackets
    assert '![A plot](<figs/a plot.png>){#fig-a width="80%" fig-alt="Dots"}' in qmd
    assert '::: {.callout-warning title="Say \\"hi\\""}\nCareful.\n:::' in qmd


def test_data_text_renders_literally(tmp_path):
    doc = QmdDocument(TRICKY[0] + " " + TRICKY[2], toc=False)
    doc.table(pd.DataFrame({"text": TRICKY, "n": range(len(TRICKY))}), caption="Tricky", label="tbl-tricky")
    for t in TRICKY:
        doc.text(t)
    path = doc.write(tmp_path / "tricky.qmd")
    html = render(path, to="html", engine="fallback").outputs["html"].read_text(encoding="utf-8")
    texts = _texts(html)
    assert texts[0] == "$5 and $6 a*b*c"  # the title
    for t in TRICKY:
        expected = t if t != "&amp; stays" else "&amp; stays"
        assert texts.count(expected) == 2, t  # once in the table, once as a paragraph
    assert "<b>" not in html and "<em>" not in html and "<sub>" not in html and "<a href=\"a" not in html


def test_escape_markdown():
    assert escape_markdown("$1 | *a*") == "\\$1 \\| \\*a\\*"
    assert escape_markdown("- item") == "\\- item"
    assert escape_markdown("12. item") == "12\\. item"
    assert escape_markdown("3) item") == "3\\) item"
    assert escape_markdown("+ item") == "\\+ item"
    assert escape_markdown("3.5 is fine") == "3.5 is fine"
    assert escape_markdown("two\nlines") == "two lines"


def test_numeric_columns_are_right_aligned_and_text_left():
    doc = QmdDocument("T")
    frame = pd.DataFrame({
        "label": ["a", "b"], "money": ["$1,234", "-$5"], "ci": ["[-0.1, 0.2]", "[0.3, 0.4]"],
        "p": ["<0.001", "0.5"], "pct": ["4.2%", "—"], "mixed": ["1.0", "n/a"],
    })
    doc.table(frame, caption="Align", label="tbl-align", align={"mixed": "center"})
    rule = doc.to_qmd().split("\n| label")[1].splitlines()[1]
    kinds = {(True, False): "left", (False, True): "right", (True, True): "center", (False, False): "default"}
    cells = [cell.strip() for cell in rule.strip("|").split("|")]
    assert [kinds[(c.startswith(":"), c.endswith(":"))] for c in cells] == [
        "left", "right", "right", "right", "right", "center"
    ]


def test_suppressed_table_carries_its_rule():
    doc = QmdDocument("T")
    frame = pd.DataFrame({"group": ["a", "b", "c"], "n": [100, 4, 50], "rate": [0.1, 0.2, 0.3]})
    doc.table(suppress_small_cells(frame, n_column="n", complementary=False), caption="By group", label="tbl-g",
              formatters={"rate": format_percent}, note="Source: synthetic.")
    qmd = doc.to_qmd()
    assert "| b     | ‡   | ‡     |" in qmd
    assert "0.2" not in qmd and "20.0%" not in qmd and "| 4 " not in qmd
    assert re.search(r"::: \{\.table-note\}\nSource: synthetic\. ‡ Suppressed to protect privacy: values based on "
                     r"fewer than 10 students are not shown\. Cells suppressed in this table: 2\.\n:::", qmd)


def test_fences_nest():
    doc = QmdDocument("T")
    doc.callout("::: {.inner}\ntext\n:::", kind="note")
    assert ":::: {.callout-note}\n::: {.inner}\ntext\n:::\n::::" in doc.to_qmd()


@pytest.mark.parametrize(("method", "label"), [
    ("figure", "rd-plot"), ("figure", "tbl-x"), ("figure", "fig-"), ("table", "fig-x"), ("table", "tbl x"),
    ("heading", "fig-x"), ("heading", "sec-trailing-"),
])
def test_malformed_labels_are_rejected(method, label):
    doc = QmdDocument("T")
    calls = {
        "figure": lambda: doc.figure("a.png", caption="c", label=label),
        "table": lambda: doc.table(pd.DataFrame({"a": [1]}), caption="c", label=label),
        "heading": lambda: doc.heading("H", label=label),
    }
    with pytest.raises(ReportContentError, match=r"label .* is not valid"):
        calls[method]()


def test_label_consistency_is_checked():
    doc = QmdDocument("T")
    doc.heading("A", label="sec-a")
    with pytest.raises(ReportContentError, match="'sec-a' is defined twice"):
        doc.heading("B", label="sec-a")
    doc.paragraph(f"{doc.ref('fig-later')} and {doc.ref('sec-a')} and \\@fig-escaped and mail@fig-domain.org")
    with pytest.raises(ReportContentError, match=r"1 cross-reference\(s\) to undefined label\(s\): @fig-later"):
        doc.to_qmd()
    doc.figure("x.png", caption="Later", label="fig-later")
    assert "@fig-later" in doc.to_qmd()
    assert doc.labels == ("sec-a", "fig-later")
    with pytest.raises(ReportContentError, match="cannot refer to 'table-a'"):
        doc.ref("table-a")


def test_missing_figure_file_is_reported_at_write(tmp_path):
    doc = QmdDocument("T")
    doc.figure("figures/none.png", caption="c", label="fig-none")
    with pytest.raises(ReportContentError, match=r"figure file 'figures/none\.png' does not exist"):
        doc.write(tmp_path / "r.qmd")
    assert doc.write(tmp_path / "r.qmd", check_files=False).is_file()


@pytest.mark.parametrize(("call", "pattern"), [
    (lambda d: d.heading("H", level=5), "heading level must be 1 to 4"),
    (lambda d: d.callout("x", kind="danger"), "callout kind must be one of"),
    (lambda d: d.figure("a.png", caption="c", label="fig-a", width="wide"), "figure width 'wide'"),
    (lambda d: d.table(pd.DataFrame({"a": [1]}), caption="c", label="tbl-a", widths=[50, 50]), "1 percentages"),
    (lambda d: d.table(pd.DataFrame(index=[0]), caption="c", label="tbl-a"), "has no columns"),
    (lambda d: d.table(pd.DataFrame({"a": [1]}), caption="c", label="tbl-a", align={"b": "left"}),
     "align names column 'b'"),
    (lambda d: d.table([[1]], caption="c", label="tbl-a"), "DataFrame or SuppressedTable"),
    (lambda d: d.write(Path("report.html")), r"written to a \.qmd file"),
])
def test_bad_content_is_a_typed_error(call, pattern):
    with pytest.raises(ReportContentError, match=pattern):
        call(QmdDocument("T"))


def test_document_options_are_checked():
    with pytest.raises(ReportContentError, match="non-empty title"):
        QmdDocument(" ")
    with pytest.raises(ReportContentError, match="papersize"):
        QmdDocument("T", papersize="legal")  # type: ignore[arg-type]
    with pytest.raises(ReportContentError, match="toc_depth"):
        QmdDocument("T", toc_depth=7)

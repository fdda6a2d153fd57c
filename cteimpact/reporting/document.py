"""A builder for the Quarto markdown (.qmd) of a report whose every number is computed before it is written.

The .qmd needs no code execution: headings, paragraphs, tables and figures are plain markdown, so Quarto and the
pandoc + Typst fallback show exactly the numbers Python wrote, and a researcher can open and extend the file.

Example
-------
>>> doc = QmdDocument("Impact of the pathway grants", subtitle="Regression discontinuity")
>>> doc.heading("Findings", label="sec-findings")
>>> doc.paragraph(f"The estimates are in {doc.ref('tbl-impacts')}.")
>>> doc.table(frame, caption="Impact estimates", label="tbl-impacts")     # doctest: +SKIP
>>> doc.figure("figures/rd.png", caption="Dropout by grant score", label="fig-rd")
>>> doc.write("report.qmd")                                                  # doctest: +SKIP

Labels follow Quarto: ``fig-…`` for figures, ``tbl-…`` for tables, ``sec-…`` for sections; ``doc.ref(label)``
gives the cross-reference (``@fig-rd``), which renders as a link "Figure 1". Every label is checked when the
document is written: a reference to a label the document does not define, a duplicate label or a missing figure
file is a :class:`~cteimpact.reporting.errors.ReportContentError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from cteimpact.provenance.suppression import SuppressedTable
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.formatting import MISSING, format_frame, format_suppressed
from cteimpact.reporting.markdown import (
    Align,
    Markdown,
    attributes,
    code_block,
    code_span,
    escape_markdown,
    front_matter,
    one_line,
    pipe_table,
    safe_text,
)

__all__ = ["CalloutKind", "QmdDocument", "check_references"]

CalloutKind = Literal["note", "tip", "warning", "caution", "important"]
_CALLOUT_KINDS = ("note", "tip", "warning", "caution", "important")

_LABEL = re.compile(r"(fig|tbl|sec)-[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*")
_REFERENCE = re.compile(r"(?<![\\\w])@((?:fig|tbl|sec)-[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*)")
_FENCED_CODE = re.compile(r"^(`{3,})[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(?<![`\\])(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
_FIGURE_SLOT = "\x00figure:{}\x00"  # replaced by the figure's path when the document is written
_WIDTH = re.compile(r"\d+(?:\.\d+)?(?:%|in|cm|mm|px|pt|em)")
_NUMERIC_TEXT = re.compile(
    r"[<>≤≥~+\-−]?\s*[$€£]?\s*[+\-−]?[$€£]?\d[\d,]*(?:\.\d+)?(?:[eE][+\-]?\d+)?\s*(?:%|pp| pp|x|×)?"
    r"|[\[(]\s*[+\-−]?[$€£]?[\d,.]+\s*,\s*[+\-−]?[$€£]?[\d,.]+\s*[\])]"
)


def _check_label(label: str, kind: str, what: str) -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label) or not label.startswith(kind + "-"):
        raise ReportContentError(
            f"{what} label {label!r} is not valid: it must start with '{kind}-' followed by letters or digits "
            f"joined by '-' or '_' (for example '{kind}-impacts')"
        )
    return label


def _column_align(texts: Sequence[str], markers: set[str]) -> Align:
    """Right for columns of numbers (including intervals, percentages and markers), left otherwise."""
    shown = [t for t in texts if t and t not in markers]
    if shown and all(_NUMERIC_TEXT.fullmatch(t.strip()) for t in shown):
        return "right"
    return "left"


def _formatted_frame(data: pd.DataFrame | SuppressedTable, formatters: Mapping[str, Callable[[Any], str]] | None,
                     missing: str, markers: set[str], notes: list[str]) -> pd.DataFrame:
    """A table's cells as text; a :class:`SuppressedTable` adds its marker to ``markers`` and its rule to
    ``notes``.

    Raises
    ------
    ReportContentError
        ``data`` is neither a DataFrame nor a SuppressedTable.
    """
    if isinstance(data, SuppressedTable):
        markers.add(data.marker)
        notes.append(escape_markdown(data.note))
        return format_suppressed(data, formatters, missing=missing)
    if isinstance(data, pd.DataFrame):
        return format_frame(data, formatters, missing=missing)
    raise ReportContentError(f"table data must be a DataFrame or SuppressedTable, got {type(data).__name__}")


def _with_index_column(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its index as the first column (headed by the index's name, else left blank)."""
    name = frame.index.name if frame.index.name is not None else ""
    frame = frame.reset_index(names=str(name) if name else "index")
    if not name:
        frame = frame.rename(columns={"index": ""})
    return frame


def _check_named_columns(option: str, names: Iterable[str], header: Sequence[str], label: str) -> None:
    """Refuse an ``option`` (``align``, ``code``) naming a column the table does not have (the first, sorted)."""
    unknown = sorted(set(names) - set(header))
    if unknown:
        raise ReportContentError(f"{option} names column {unknown[0]!r}, which table {label!r} does not have")


def _pipe_table(frame: pd.DataFrame, header: Sequence[str], align: Mapping[str, Align], code: Sequence[str],
                markers: set[str]) -> str:
    """The pipe table of the formatted ``frame``: header and cells escaped, ``code`` columns as inline code,
    columns aligned as ``align`` says or, by default, right for numbers."""
    cells = [[str(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    aligns: list[Align] = [
        align.get(h) or _column_align([r[j] for r in cells], markers) for j, h in enumerate(header)
    ]
    as_code = [h in set(code) for h in header]
    return pipe_table(
        [escape_markdown(h) for h in header],
        # a pipe inside inline code would show its escaping backslash in a pipe table: such cells are text
        [[code_span(c) if as_code[j] and c and c not in markers and "|" not in c else escape_markdown(c)
          for j, c in enumerate(row)] for row in cells],
        aligns,
    )


def _colwidths(widths: Sequence[float] | None, n_columns: int, label: str) -> str | None:
    """Relative column widths as Quarto's ``tbl-colwidths`` attribute (None: as wide as their content).

    Raises
    ------
    ReportContentError
        Not one width per column, or a width outside (0, 100].
    """
    if widths is None:
        return None
    if len(widths) != n_columns or any(not 0 < float(w) <= 100 for w in widths):
        raise ReportContentError(
            f"widths of table {label!r} must be {n_columns} percentages between 0 and 100, got {widths!r}"
        )
    return "[" + ",".join(format(float(w), "g") for w in widths) + "]"


class QmdDocument:
    """A Quarto markdown document assembled block by block.

    Parameters
    ----------
    title, subtitle
        Plain text (written literally).
    authors
        Plain-text author names.
    abstract
        Markdown paragraph shown under the title.
    toc, toc_depth
        Table of contents and the heading levels it lists.
    number_sections
        Number the headings (1, 1.1, ...); ``@sec-…`` references then read "Section 2.1".
    papersize
        Paper size of the PDF (``"us-letter"`` or ``"a4"``).
    lang
        Language of the text (hyphenation, quotes).
    metadata
        Further front-matter keys, merged last (for Quarto options such as ``crossref``).
    """

    def __init__(
        self,
        title: str,
        *,
        subtitle: str | None = None,
        authors: Sequence[str] = (),
        abstract: str | None = None,
        toc: bool = True,
        toc_depth: int = 2,
        number_sections: bool = True,
        papersize: Literal["us-letter", "a4"] = "us-letter",
        lang: str = "en",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(title, str) or not title.strip():
            raise ReportContentError("a report needs a non-empty title")
        if papersize not in ("us-letter", "a4"):
            raise ReportContentError(f"papersize must be 'us-letter' or 'a4', got {papersize!r}")
        if isinstance(toc_depth, bool) or not isinstance(toc_depth, int) or not 1 <= toc_depth <= 4:
            raise ReportContentError(f"toc_depth must be an integer from 1 to 4, got {toc_depth!r}")
        meta: dict[str, Any] = {"title": escape_markdown(title)}
        if subtitle:
            meta["subtitle"] = escape_markdown(subtitle)
        if authors:
            meta["author"] = [escape_markdown(a) for a in authors]
        if abstract:
            meta["abstract"] = abstract
        meta.update(
            {
                "lang": lang,
                "toc": bool(toc),
                "toc-depth": toc_depth,
                "number-sections": bool(number_sections),
                "engine": "markdown",
                # Let every output size table columns to their content (Quarto and the fallback filter agree).
                "tbl-colwidths": False,
                "format": {
                    "html": {"embed-resources": True},
                    "typst": {"papersize": papersize},
                },
            }
        )
        meta.update(dict(metadata or {}))
        self._meta = meta
        self._blocks: list[str] = []
        self._labels: dict[str, str] = {}
        self._figures: list[str] = []

    # -- metadata and references ---------------------------------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels defined so far, in document order."""
        return tuple(self._labels)

    def ref(self, label: str) -> Markdown:
        """The cross-reference to ``label`` (``"@fig-rd"``), rendered as a link reading "Figure 1".

        The label may be defined later in the document; it is checked when the document is written.
        """
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            raise ReportContentError(
                f"cannot refer to {label!r}: labels start with 'fig-', 'tbl-' or 'sec-' followed by letters or "
                "digits joined by '-' or '_'"
            )
        return Markdown("@" + label)

    def _define(self, label: str, kind: str, what: str) -> str:
        _check_label(label, kind, what)
        if label in self._labels:
            raise ReportContentError(f"label {label!r} is defined twice; each figure, table and section needs its own")
        self._labels[label] = kind
        return label

    # -- blocks --------------------------------------------------------------------------------------------------

    def heading(self, text: str, *, level: int = 1, label: str | None = None, numbered: bool = True) -> None:
        """A heading (plain text) at ``level`` 1–4, with an optional ``sec-…`` label; ``numbered=False`` leaves it
        out of the section numbering (appendix, references)."""
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
            raise ReportContentError(f"heading level must be 1 to 4, got {level!r}")
        if label is not None:
            self._define(label, "sec", "section")
        attr = attributes(label, () if numbered else ("unnumbered",))
        self._blocks.append(("#" * level) + " " + escape_markdown(text) + (" " + attr if attr else ""))

    def paragraph(self, markdown: str) -> None:
        """A paragraph of markdown (emphasis, links, ``doc.ref(...)``); escape data-derived text with
        :func:`~cteimpact.reporting.markdown.escape_markdown`."""
        text = str(markdown).strip()
        if text:
            self._blocks.append(text)

    def text(self, plain: str) -> None:
        """A paragraph of plain text, written literally (no markup is interpreted)."""
        self.paragraph(escape_markdown(plain))

    def bullets(self, items: Sequence[str], *, ordered: bool = False) -> None:
        """A bulleted (or numbered) list; each item is markdown on one line."""
        if not items:
            return
        lines = [
            (f"{i}." if ordered else "-") + " " + one_line(item) for i, item in enumerate(items, 1)
        ]
        self._blocks.append("\n".join(lines))

    def table(
        self,
        data: pd.DataFrame | SuppressedTable,
        *,
        caption: str,
        label: str,
        note: str | None = None,
        formatters: Mapping[str, Callable[[Any], str]] | None = None,
        align: Mapping[str, Align] | None = None,
        widths: Sequence[float] | None = None,
        index: bool = False,
        missing: str = MISSING,
        code: Sequence[str] = (),
    ) -> None:
        """A captioned, numbered pipe table.

        Parameters
        ----------
        data
            The table; cells are formatted by ``formatters`` (column → function returning text), otherwise
            integers as counts, other numbers with three significant digits, text as is; cell text is written
            literally. A :class:`SuppressedTable` shows its marker in suppressed cells and adds its rule to the
            note.
        caption
            Markdown caption (one line).
        label
            ``tbl-…`` label.
        note
            Markdown note printed under the table (sources, abbreviations, significance).
        align
            Column → ``"left" | "right" | "center"``; by default columns of numbers are right-aligned.
        widths
            Relative column widths (percentages of the text width, e.g. ``[50, 25, 25]``) for tables of long text;
            by default columns are as wide as their content.
        index
            Include the frame's index as the first column.
        code
            Columns whose cells are shown as inline code (hashes, paths, full-precision numbers): copied exactly by
            every renderer, never re-typeset (Typst would turn a hyphen before a digit into a minus sign).
        """
        self._define(label, "tbl", "table")
        markers = {missing}
        notes = [note] if note else []
        frame = _formatted_frame(data, formatters, missing, markers, notes)
        if index:
            frame = _with_index_column(frame)
        if frame.shape[1] == 0:
            raise ReportContentError(f"table {label!r} has no columns")
        header = [
            " ".join(str(part) for part in c) if isinstance(c, tuple) else str(c) for c in frame.columns
        ]
        _check_named_columns("align", align or {}, header, label)
        _check_named_columns("code", code, header, label)
        table = _pipe_table(frame, header, align or {}, code, markers)
        colwidths = _colwidths(widths, len(header), label)
        block = table + "\n\n: " + one_line(caption) + " " + attributes(label, tbl_colwidths=colwidths)
        if notes:
            block += "\n\n" + self._fenced(" ".join(one_line(n) for n in notes), ("table-note",))
        self._blocks.append(block)

    def figure(
        self,
        path: str | os.PathLike[str],
        *,
        caption: str,
        label: str,
        width: str | None = None,
        alt: str | None = None,
    ) -> None:
        """A captioned, numbered figure.

        ``path`` is relative to the .qmd file (an absolute path is made relative when the document is written);
        ``width`` is a CSS-like length (``"80%"``, ``"5in"``); ``alt`` is the text read by screen readers
        (default: the caption).
        """
        self._define(label, "fig", "figure")
        if width is not None and not _WIDTH.fullmatch(str(width)):
            raise ReportContentError(f"figure width {width!r} must be a length such as '80%' or '5in'")
        target = os.fspath(path)
        self._figures.append(target)
        attr = attributes(label, width=width, fig_alt=one_line(safe_text(alt)) if alt else None)
        self._blocks.append(f"![{' '.join(str(caption).split())}]({_FIGURE_SLOT.format(len(self._figures) - 1)}){attr}")

    def callout(self, body: str, *, kind: CalloutKind = "note", title: str | None = None) -> None:
        """A Quarto callout box (note, tip, warning, caution, important); ``body`` is markdown, ``title`` plain
        text (default: the kind's name)."""
        if kind not in _CALLOUT_KINDS:
            raise ReportContentError(f"callout kind must be one of {', '.join(_CALLOUT_KINDS)}, got {kind!r}")
        title_attr = {"title": escape_markdown(title)} if title else {}  # Quarto reads the title as markdown
        self._blocks.append(self._fenced(str(body).strip(), (f"callout-{kind}",), **title_attr))

    def raw(self, markdown: str) -> None:
        """Markdown written as is (an escape hatch for Quarto features the builder does not cover)."""
        self._blocks.append(str(markdown).rstrip())

    def code_block(self, text: str, *, language: str) -> None:
        """A fenced code block showing ``text`` exactly (commands, JSON); ``language`` names its syntax."""
        self._blocks.append(code_block(text, language=language))

    @staticmethod
    def _fenced(body: str, classes: Sequence[str], **pairs: str) -> str:
        longest = max((len(m) for m in re.findall(r"^:{3,}", body, flags=re.MULTILINE)), default=2)
        fence = ":" * max(3, longest + 1)
        return f"{fence} {attributes(None, classes, **pairs)}\n{body}\n{fence}"

    # -- output --------------------------------------------------------------------------------------------------

    def _check_references(self, text: str) -> None:
        prose = _INLINE_CODE.sub(" ", _FENCED_CODE.sub(" ", text))  # "@fig-x" inside code is no reference
        missing = sorted(set(_REFERENCE.findall(prose)) - set(self._labels))
        if missing:
            defined = ", ".join(self._labels) or "none"
            raise ReportContentError(
                f"{len(missing)} cross-reference(s) to undefined label(s): {', '.join('@' + m for m in missing)}; "
                f"labels defined: {defined}"
            )

    def to_qmd(self, *, figure_paths: Sequence[str] | None = None) -> str:
        """The document as Quarto markdown (front matter, then the blocks separated by blank lines)."""
        paths = list(figure_paths) if figure_paths is not None else [Path(p).as_posix() for p in self._figures]
        blocks = [
            re.sub("\x00figure:(\\d+)\x00", lambda m: _link_target(paths[int(m.group(1))]), block)
            for block in self._blocks
        ]
        body = "\n\n".join(blocks)
        self._check_references(body)
        return front_matter(self._meta) + "\n\n" + body + "\n"

    def write(self, path: str | os.PathLike[str], *, check_files: bool = True) -> Path:
        """Write the .qmd to ``path``; figure paths are written relative to its folder (POSIX separators).

        With ``check_files`` every figure file must exist.
        """
        out = Path(path)
        if out.suffix.lower() not in (".qmd", ".md"):
            raise ReportContentError(f"a report source is written to a .qmd file, got {out.name!r}")
        base = out.parent.resolve()
        relative = []
        for figure in self._figures:
            p = Path(figure)
            resolved = p if p.is_absolute() else base / p
            if check_files and not resolved.is_file():
                raise ReportContentError(
                    f"figure file {figure!r} does not exist (looked for {resolved}); save the figure before "
                    "writing the report, with a path relative to the report's folder"
                )
            try:
                rel = Path(os.path.relpath(resolved, base)).as_posix()
            except ValueError:  # another drive on Windows
                rel = resolved.as_posix()
            relative.append(rel)
        text = self.to_qmd(figure_paths=relative)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8", newline="\n")
        return out


_DEFINED = re.compile(r"\{#((?:fig|tbl|sec)-[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*)[\s}]")


def check_references(text: str) -> None:
    """Check a report source written by a template: every label (``{#fig-x}``, ``{#tbl-x}``, ``{#sec-x}``) is
    defined once, and every cross-reference (``@tbl-x``) names a defined label.

    Raises
    ------
    ReportContentError
        A label is defined twice, or a reference names an undefined label.
    """
    prose = _INLINE_CODE.sub(" ", _FENCED_CODE.sub(" ", text))
    defined = _DEFINED.findall(prose)
    twice = sorted({d for d in defined if defined.count(d) > 1})
    if twice:
        raise ReportContentError(f"label(s) defined twice: {', '.join(twice)}; each figure, table and section needs "
                                 "its own")
    missing = sorted(set(_REFERENCE.findall(prose)) - set(defined))
    if missing:
        raise ReportContentError(
            f"{len(missing)} cross-reference(s) to undefined label(s): {', '.join('@' + m for m in missing)}")


def _link_target(path: str) -> str:
    return f"<{path}>" if re.search(r"[\s()<>]", path) else path

"""What every section builder needs: the run's records, the document being written, the figures it shows.

Every string a section builder gives the document is text and is written literally (escaped): the run directory is
someone else's, and any text in it may hold markdown, HTML or Quarto syntax. Markup is :class:`Markdown`, built with
:func:`~cteimpact.reporting.markdown.md` from templates of this package, which escapes every value it fills in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.provenance.hashing import sha256_file
from cteimpact.provenance.suppression import SUPPRESSION_MARKER, SuppressedTable, suppress_small_cells
from cteimpact.reporting.document import CalloutKind, QmdDocument
from cteimpact.reporting.markdown import Markdown, as_markdown, code_span, one_line, safe_text
from cteimpact.reporting.rundir import RunContents
from cteimpact.reporting.wording import OutcomeInfo, outcome_info

__all__ = ["FIGURE_FOLDER", "ReportContext", "SectionDocument", "report_figure_name", "slug"]

FIGURE_FOLDER = "figures"
"""Folder, beside the report source, that holds the copies of the run's figures the report shows."""


def slug(*parts: Any) -> str:
    """Label-safe text: letters and digits joined by ``-`` (``"dropout[female=1]"`` → ``"dropout-female-1"``)."""
    text = "-".join(str(p) for p in parts if p is not None and str(p) != "")
    out = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return out or "x"


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def report_figure_name(name: str) -> str:
    """The name under which the report's folder holds a copy of the run's figure ``name``: the name itself when it
    is letters, digits, ``.``, ``_`` and ``-``, else a slug of it with a short hash (so that the markdown never
    carries a file name that needs quoting, and two names never share a copy)."""
    if _PLAIN_NAME.fullmatch(name) and ".." not in name:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,8}", suffix):
        stem, suffix = name, "bin"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug(stem)[:60]}-{digest}.{suffix.lower()}"


class SectionDocument:
    """The report document as the section builders write to it: a ``str`` is text, written literally (escaped);
    only :class:`Markdown` is written as markup.

    Parameters
    ----------
    document
        The :class:`QmdDocument` being built.
    """

    def __init__(self, document: QmdDocument) -> None:
        self.document = document

    @property
    def labels(self) -> tuple[str, ...]:
        return self.document.labels

    def ref(self, label: str) -> Markdown:
        """The cross-reference to ``label`` (``@sec-x``)."""
        return self.document.ref(label)

    def heading(self, text: str, *, level: int = 1, label: str | None = None, numbered: bool = True) -> None:
        """A heading of plain text (always written literally)."""
        self.document.heading(str(text), level=level, label=label, numbered=numbered)

    def paragraph(self, content: str) -> None:
        """A paragraph: text, or :class:`Markdown`."""
        self.document.paragraph(as_markdown(content))

    def text(self, plain: str) -> None:
        """A paragraph of plain text (always written literally)."""
        self.document.text(str(plain))

    def bullets(self, items: Sequence[str], *, ordered: bool = False) -> None:
        """A list whose items are text or :class:`Markdown`."""
        self.document.bullets([as_markdown(i) for i in items], ordered=ordered)

    def callout(self, body: str, *, kind: CalloutKind = "note", title: str | None = None) -> None:
        """A callout box; ``body`` is text or :class:`Markdown`, ``title`` plain text."""
        self.document.callout(as_markdown(body), kind=kind, title=None if title is None else str(title))

    def code_block(self, text: str, *, language: str) -> None:
        """A code block showing ``text`` exactly."""
        self.document.code_block(str(text), language=language)

    def raw(self, content: str) -> None:
        """A block of :class:`Markdown` (text is escaped)."""
        self.document.raw(as_markdown(content))


@dataclass
class ReportContext:
    """A report being built from a run.

    Attributes
    ----------
    run
        The run directory's records.
    doc
        The document the sections write to.
    figures
        Report-relative figure path → the run's figure file; copied beside the source before it is written.
    """

    run: RunContents
    document: QmdDocument
    figures: dict[str, Path] = field(default_factory=dict)
    _figure_by_hash: dict[str, str] = field(default_factory=dict)
    _infos: dict[str, OutcomeInfo] = field(default_factory=dict)
    suppressed_cells: int = 0
    """Cells suppressed so far in the report's tables (small-cell rule)."""
    doc: SectionDocument = field(init=False, repr=False)
    """The document as sections write to it (text escaped, :class:`Markdown` as markup)."""

    def __post_init__(self) -> None:
        self.doc = SectionDocument(self.document)

    # -- numbers -------------------------------------------------------------------------------------------------
    @property
    def level(self) -> float:
        return self.run.level

    @property
    def alpha(self) -> float:
        return 1.0 - self.run.level

    @property
    def level_text(self) -> str:
        return f"{round(100 * self.run.level):d}%"

    @property
    def min_cell(self) -> int:
        return self.run.min_cell

    @property
    def currency_symbol(self) -> str:
        currency = str(((self.run.pricing or {}).get("contract") or {}).get("currency") or "USD")
        return {"USD": "$", "GBP": "£", "EUR": "€"}.get(currency, currency + " ")

    def info(self, outcome: str) -> OutcomeInfo:
        """How ``outcome`` is named and written."""
        if outcome not in self._infos:
            self._infos[outcome] = outcome_info(outcome, self.run.spec, currency=self.currency_symbol)
        return self._infos[outcome]

    def info_for_label(self, label: str) -> OutcomeInfo:
        """The outcome of the estimate ``label`` (``"dropout[reduced_form]"`` → dropout; a first stage is the
        take-up of the treatment, a proportion)."""
        row = self.run.estimate(label) or {}
        if label.endswith("[first_stage]") or "first_stage" in label.split("[")[-1]:
            fuzzy = self.run.options.get("fuzzy")
            return self.info(str(fuzzy) if fuzzy else "pathway")
        return self.info(str(row.get("outcome") or label.split("[")[0]))

    # -- figures and tables --------------------------------------------------------------------------------------
    def figure(self, name: str, *, caption: str, label: str, width: str | None = "85%",
               alt: str | None = None) -> str | None:
        """Show the run's ``figures/<name>``; returns the label it is shown under.

        A figure whose bytes equal one already shown is not repeated: the label of the first is returned (the
        caller refers to it). Returns None when the run has no such figure.
        """
        source = self.run.figure(name)
        if source is None:
            return None
        digest = sha256_file(source)
        if digest in self._figure_by_hash:
            return self._figure_by_hash[digest]
        target = f"{FIGURE_FOLDER}/{report_figure_name(name)}"
        self.figures[target] = source
        # alt text is an attribute, read as plain text: no markup to escape, but no shortcode opener either
        plain_alt = one_line(safe_text(alt)).replace("{{", "{ {") if alt else None
        self.document.figure(target, caption=as_markdown(caption), label=label, width=width, alt=plain_alt)
        self._figure_by_hash[digest] = label
        return label

    def ref(self, label: str) -> Markdown:
        return self.document.ref(label)

    def table(self, data: pd.DataFrame | SuppressedTable, *, caption: str, label: str, note: str | None = None,
              **kwargs: Any) -> None:
        """A table (see :meth:`QmdDocument.table`); an empty frame is not written."""
        if isinstance(data, pd.DataFrame) and data.empty:
            return
        if isinstance(data, SuppressedTable):
            self.suppressed_cells += data.n_suppressed
            if data.n_suppressed == 0:  # state the rule briefly where it hid nothing
                data = replace(data, note=f"No cell describes fewer than {data.min_cell} students, the privacy "
                                          f"rule's minimum (smaller cells would show {data.marker}).")
        self.document.table(data, caption=as_markdown(caption), label=label,
                            note=None if note is None else as_markdown(note), **kwargs)

    def suppress(self, frame: pd.DataFrame, *, n_column: str, value_columns: Sequence[str],
                 count_columns: Sequence[str] = (), by: str | None = None, unit: str = "students",
                 complementary: bool = True) -> SuppressedTable:
        """Small-cell suppression of a table of counts or estimates by group (the run's ``min_cell``).

        Each count column hides, with it, the values computed from its students and the row's total
        (``n_column``), so a hidden count cannot be recovered by subtraction. ``complementary=False`` for tables
        whose rows do not add up to a total (variants of one estimate).
        """
        dependents = {c: [*value_columns, n_column] for c in count_columns}
        return suppress_small_cells(frame, n_column=n_column, value_columns=list(value_columns),
                                    count_columns=dependents, min_cell=self.min_cell, by=by, unit=unit,
                                    complementary=complementary)

    def flagged(self, frame: pd.DataFrame, hidden: Sequence[bool], *, value_columns: Sequence[str]
                ) -> pd.DataFrame | SuppressedTable:
        """``frame`` with the rows the run itself suppressed (``suppressed: true`` in ``results.json``) shown with
        the marker in ``value_columns`` and the rule in the note; ``frame`` unchanged when no row is hidden."""
        rows = np.asarray(list(hidden), dtype=bool)
        if not rows.any():
            return frame
        mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
        cols = [c for c in value_columns if c in frame.columns]
        mask.loc[rows, cols] = True
        values = frame.astype(object).copy()
        values = values.where(~mask, None)
        n = int(mask.to_numpy().sum())
        note = (f"{SUPPRESSION_MARKER} Suppressed to protect privacy: estimates describing fewer than "
                f"{self.min_cell} students, or that would reveal one by subtraction from a total, are not shown "
                f"(the run's results record marks them suppressed). Cells suppressed in this table: {n}.")
        return SuppressedTable(values=values, suppressed=mask, min_cell=self.min_cell, marker=SUPPRESSION_MARKER,
                               note=note)

    @staticmethod
    def code(text: Any) -> Markdown:
        """Inline code (hashes, paths, full-precision values): copied exactly, never re-typeset."""
        return code_span(text)

    @staticmethod
    def esc(text: Any) -> Markdown:
        """``text`` written literally, as a piece of :class:`Markdown`."""
        return as_markdown(text)

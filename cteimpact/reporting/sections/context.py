"""What every section builder needs: the run's records, the document being written, the figures it shows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.provenance.hashing import sha256_file
from cteimpact.provenance.suppression import SUPPRESSION_MARKER, SuppressedTable, suppress_small_cells
from cteimpact.reporting.document import QmdDocument
from cteimpact.reporting.markdown import escape_markdown
from cteimpact.reporting.rundir import RunContents
from cteimpact.reporting.wording import OutcomeInfo, outcome_info

__all__ = ["FIGURE_FOLDER", "ReportContext", "slug"]

FIGURE_FOLDER = "figures"
"""Folder, beside the report source, that holds the copies of the run's figures the report shows."""


def slug(*parts: Any) -> str:
    """Label-safe text: letters and digits joined by ``-`` (``"dropout[female=1]"`` → ``"dropout-female-1"``)."""
    text = "-".join(str(p) for p in parts if p is not None and str(p) != "")
    out = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return out or "x"


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
    doc: QmdDocument
    figures: dict[str, Path] = field(default_factory=dict)
    _figure_by_hash: dict[str, str] = field(default_factory=dict)
    _infos: dict[str, OutcomeInfo] = field(default_factory=dict)
    suppressed_cells: int = 0
    """Cells suppressed so far in the report's tables (small-cell rule)."""

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
        target = f"{FIGURE_FOLDER}/{name}"
        self.figures[target] = source
        self.doc.figure(target, caption=caption, label=label, width=width, alt=alt)
        self._figure_by_hash[digest] = label
        return label

    def ref(self, label: str) -> str:
        return self.doc.ref(label)

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
        self.doc.table(data, caption=caption, label=label, note=note, **kwargs)

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
    def code(text: Any) -> str:
        """Inline code (hashes, paths, full-precision values): copied exactly, never re-typeset."""
        body = str(text)
        fence = "`" * (max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
        pad = " " if body.startswith("`") or body.endswith("`") else ""
        return f"{fence}{pad}{body}{pad}{fence}"

    @staticmethod
    def esc(text: Any) -> str:
        return escape_markdown(text)

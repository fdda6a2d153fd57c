"""Side-by-side comparison of several results: :func:`compare`.

One column per model; for each estimate label its estimate with the standard error in parentheses below it, then
the number of rows (or units) used, the design, and every option that at least two models set to different values
(an option only one model has is not a difference). Works for any results honouring the contract (RD, DiD, results
records, external estimates), so a main specification can be set beside its robustness checks. Estimates hidden by
the small-cell rule show the suppression marker; a model without a given estimate shows an empty cell.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.contract import ImpactResults
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.serialization import to_jsonable
from cteimpact.results.text import format_number

__all__ = ["COMPARISON_COLUMNS", "ComparisonTable", "compare"]

COMPARISON_COLUMNS: tuple[str, ...] = ("model", "label", "outcome", "term", "estimate", "std_error", "p_value",
                                       "ci_lower", "ci_upper", "ci_level", "ci_type", "n_effective", "suppressed")
"""Columns of :attr:`ComparisonTable.numbers`."""

_MAX_OPTION_TEXT = 40


@dataclass(frozen=True)
class ComparisonTable:
    """The comparison built by :func:`compare`.

    Attributes
    ----------
    frame
        The formatted table: one column per model; rows ``label`` (estimate) and ``label (SE)``, then ``N``,
        ``design`` and ``option: name`` for each option that differs (empty where a model lacks it).
    numbers
        The numbers behind it at full precision, one row per model and label (columns
        :data:`COMPARISON_COLUMNS`).
    """

    frame: pd.DataFrame
    numbers: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """A copy of :attr:`frame`."""
        return self.frame.copy()

    def to_text(self) -> str:
        """The table as aligned plain text."""
        rows = [["", *map(str, self.frame.columns)]]
        rows += [[str(idx), *map(str, row)] for idx, row in zip(self.frame.index, self.frame.to_numpy(), strict=True)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
        lines.insert(1, "-" * max(len(line) for line in lines))
        return "\n".join(lines)

    def to_html(self) -> str:
        """The table as HTML (every string escaped)."""
        esc = html.escape
        parts = ['<table class="cteimpact-comparison">', "<thead><tr><th></th>"]
        parts += [f"<th>{esc(str(c))}</th>" for c in self.frame.columns]
        parts.append("</tr></thead><tbody>")
        for idx, row in zip(self.frame.index, self.frame.to_numpy(), strict=True):
            parts.append(f"<tr><th>{esc(str(idx))}</th>"
                         + "".join(f'<td style="text-align:right">{esc(str(v))}</td>' for v in row) + "</tr>")
        parts.append("</tbody></table>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<ComparisonTable {len(self.frame.columns)} models × {len(self.frame.index)} rows>"


def _option_text(value: object) -> str:
    text = json.dumps(to_jsonable(value), ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _MAX_OPTION_TEXT else text[: _MAX_OPTION_TEXT - 1] + "…"


def _names(models: Sequence[ImpactResults], names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [f"({i + 1})" for i in range(len(models))]
    if isinstance(names, str):
        raise OptionError(f"names must be a list of strings, got the single string {names!r}")
    out = [str(n) for n in names]
    if len(out) != len(models):
        raise OptionError(f"names has {len(out)} entries for {len(models)} models; give one name per model")
    repeated = sorted({n for n in out if out.count(n) > 1})
    if repeated:
        raise OptionError(f"names must be unique; repeated: {', '.join(repeated)}")
    return out


def _labels(models: Sequence[ImpactResults], labels: Sequence[str] | Literal["primary", "all"]) -> list[str]:
    if labels == "all":
        return list(dict.fromkeys(lab for m in models for lab in m.labels))
    if labels == "primary":
        chosen = list(dict.fromkeys(e.label for m in models for e in m.estimates if e.label == e.outcome))
        # a model without a primary estimate (an external estimate's label is free) contributes its first
        chosen += [m.estimates[0].label for m in models
                   if m.estimates and not any(e.label == e.outcome for e in m.estimates)]
        return list(dict.fromkeys(chosen))
    if isinstance(labels, str):
        raise OptionError(f"labels must be 'primary', 'all' or a list of labels, got {labels!r}")
    wanted = [str(lab) for lab in labels]
    known = {lab for m in models for lab in m.labels}
    missing = [lab for lab in wanted if lab not in known]
    if missing:
        raise OptionError(f"no model has an estimate labelled {', '.join(repr(x) for x in missing)}; labels: "
                          f"{', '.join(sorted(known))}")
    return wanted


def _cell(e: EffectEstimate | None, digits: int) -> tuple[str, str]:
    if e is None:
        return "", ""
    if e.suppressed:
        return SUPPRESSION_MARKER, f"({SUPPRESSION_MARKER})"
    return format_number(e.estimate, digits), f"({format_number(e.std_error, digits)})"


def compare(models: Sequence[ImpactResults], *, names: Sequence[str] | None = None,
            labels: Sequence[str] | Literal["primary", "all"] = "primary", digits: int = 4) -> ComparisonTable:
    """Set several results side by side.

    Parameters
    ----------
    models
        Results honouring the contract (RD, DiD, results records, external estimates).
    names
        Column names, one per model (default ``(1)``, ``(2)``, ...).
    labels
        Estimates to show: ``"primary"`` (default: each outcome's primary estimate), ``"all"``, or a list of
        labels.
    digits
        Decimals shown.

    Returns
    -------
    ComparisonTable
        ``print()`` shows it as text, a notebook as HTML; ``.frame`` is the formatted DataFrame and ``.numbers``
        the numbers at full precision.

    Raises
    ------
    OptionError
        No models, something that is not a result, names not one per model or repeated, unknown labels.
    """
    if isinstance(models, ImpactResults):
        models = [models]
    models = list(models)
    if not models:
        raise OptionError("compare needs at least one result")
    for i, m in enumerate(models):
        if not isinstance(m, ImpactResults):
            raise OptionError(f"compare: model {i + 1} is a {type(m).__name__}, not a fitted result "
                              "(RD, DiD, ResultsRecord or ExternalEstimate)")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 12:
        raise OptionError(f"digits must be a whole number from 0 to 12, got {digits!r}")
    cols = _names(models, names)
    shown = _labels(models, labels)
    lookup = [{e.label: e for e in m.estimates} for m in models]

    index: list[str] = []
    body: list[list[str]] = []
    for lab in shown:
        cells = [_cell(lk.get(lab), digits) for lk in lookup]
        index += [lab, f"{lab} (SE)"]
        body += [[c[0] for c in cells], [c[1] for c in cells]]
    index += ["N", "design"]
    body.append([f"{m.sample_flow.rows_used:,} {m.sample_flow.current_unit}" for m in models])
    body.append([m._design_name() for m in models])
    keys = list(dict.fromkeys(k for m in models for k in m.options))
    for key in keys:
        texts = [_option_text(m.options[key]) if key in m.options else "" for m in models]
        present = {t for t, m in zip(texts, models, strict=True) if key in m.options}
        if len(present) > 1:
            index.append(f"option: {key}")
            body.append(texts)
    frame = pd.DataFrame(body, index=pd.Index(index, name=None), columns=pd.Index(cols, name="model"))

    records = []
    for name, m in zip(cols, models, strict=True):
        for e in m.estimates:
            if e.label in shown:
                records.append({"model": name, **{c: getattr(e, c) for c in COMPARISON_COLUMNS[1:]}})
    numbers = pd.DataFrame(records, columns=list(COMPARISON_COLUMNS))
    return ComparisonTable(frame, numbers)


"""Reports of impact studies and validator certificates: Quarto markdown built from computed results, rendered
to self-contained HTML and PDF with Quarto or, where Quarto is not installed, with pandoc and Typst from PyPI.

Python computes every number first; the .qmd written by :class:`QmdDocument` contains them as text, so any
renderer shows exactly the certified numbers and needs no code execution.

Modules
-------
``document``
    :class:`QmdDocument`, the builder of report sources (headings, paragraphs, tables, figures, callouts,
    cross-references).
``formatting``
    Numbers for readers: money, counts, effects, intervals, percentages, p-values.
``suppression``
    Small-cell suppression of subgroup tables, with the rule stated in a table note.
``render``
    :func:`render` and :class:`RenderResult` (which engine produced which file).
``quarto_cli``, ``pandoc_typst``
    Adapters around the quarto CLI and around pandoc + Typst (the fallback).
"""

from cteimpact.provenance.suppression import (
    DEFAULT_MIN_CELL,
    SUPPRESSION_MARKER,
    SuppressedTable,
    suppress_small_cells,
)
from cteimpact.reporting.document import CalloutKind, QmdDocument
from cteimpact.reporting.errors import (
    RendererNotFoundError,
    RenderError,
    ReportContentError,
    UnresolvedReferenceWarning,
)
from cteimpact.reporting.formatting import (
    MISSING,
    decimals_for_se,
    format_ci,
    format_count,
    format_effect,
    format_frame,
    format_full,
    format_money,
    format_number,
    format_p_value,
    format_percent,
    format_percentage_points,
    format_ratio,
    format_suppressed,
)
from cteimpact.reporting.markdown import escape_markdown
from cteimpact.reporting.quarto_cli import find_quarto
from cteimpact.reporting.render import (
    RendererWarning,
    RenderResult,
    available_engine,
    render,
    render_document,
)

__all__ = [
    "DEFAULT_MIN_CELL",
    "MISSING",
    "SUPPRESSION_MARKER",
    "CalloutKind",
    "QmdDocument",
    "RenderError",
    "RenderResult",
    "RendererNotFoundError",
    "RendererWarning",
    "ReportContentError",
    "SuppressedTable",
    "UnresolvedReferenceWarning",
    "available_engine",
    "decimals_for_se",
    "escape_markdown",
    "find_quarto",
    "format_ci",
    "format_count",
    "format_effect",
    "format_frame",
    "format_full",
    "format_money",
    "format_number",
    "format_p_value",
    "format_percent",
    "format_percentage_points",
    "format_ratio",
    "format_suppressed",
    "render",
    "render_document",
    "suppress_small_cells",
]

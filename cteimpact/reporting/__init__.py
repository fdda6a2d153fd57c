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
``rundir``, ``reports``, ``run_reports``
    The reports of a run directory: :func:`load_run` reads it (typed records, :mod:`cteimpact.records`),
    :func:`build_report` fills the impact-study report or the validator's certificate from the Jinja2 templates in
    ``templates/`` (``templating``: the sandboxed environment; ``numbers``: the formatters and the ledger of every
    number shown; ``facts``: outcomes, figures and the small-cell rule), :func:`report_run` writes and renders both
    and records them in the run's manifest (``cteimpact report``). These are imported on first use, so rendering
    alone does not load the analysis pipeline.
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

# The reports of a run directory read the pipeline's records; they are loaded on first use (PEP 562).
_LAZY = {
    "BuiltReport": "cteimpact.reporting.reports",
    "build_report": "cteimpact.reporting.reports",
    "NotARunDirectoryError": "cteimpact.reporting.rundir",
    "RunContents": "cteimpact.reporting.rundir",
    "UnsafeRunDirectoryError": "cteimpact.reporting.rundir",
    "load_run": "cteimpact.reporting.rundir",
    "RunReports": "cteimpact.reporting.run_reports",
    "report_run": "cteimpact.reporting.run_reports",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cteimpact.reporting' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MIN_CELL",
    "MISSING",
    "SUPPRESSION_MARKER",
    "BuiltReport",
    "CalloutKind",
    "NotARunDirectoryError",
    "QmdDocument",
    "RenderError",
    "RenderResult",
    "RendererNotFoundError",
    "RendererWarning",
    "ReportContentError",
    "RunContents",
    "RunReports",
    "SuppressedTable",
    "UnresolvedReferenceWarning",
    "UnsafeRunDirectoryError",
    "available_engine",
    "build_report",
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
    "load_run",
    "render",
    "render_document",
    "report_run",
    "suppress_small_cells",
]

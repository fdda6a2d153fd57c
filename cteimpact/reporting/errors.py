"""Errors and warnings of report building and rendering (subclasses of the shared cteimpact base classes)."""

from __future__ import annotations

from cteimpact.errors import CteImpactError, CteImpactWarning, OptionError

__all__ = [
    "RenderError",
    "RendererNotFoundError",
    "ReportContentError",
    "UnresolvedReferenceWarning",
    "summarize_stderr",
]


class ReportContentError(OptionError):
    """The content given to the report builder is inconsistent: a malformed or duplicate label, a cross-reference to
    a label the document does not define, a figure file that does not exist, a table without columns."""


class RenderError(CteImpactError, RuntimeError):
    """A renderer (quarto, pandoc or typst) failed on a report source; the message quotes its diagnostic.

    Attributes
    ----------
    renderer
        ``"quarto"``, ``"pandoc"`` or ``"typst"``.
    target
        The output being produced (``"html"`` or ``"pdf"``).
    detail
        The renderer's diagnostic summarised in one line.
    """

    def __init__(self, message: str, *, renderer: str, target: str, detail: str = "") -> None:
        self.renderer = renderer
        self.target = target
        self.detail = detail
        super().__init__(message)


class RendererNotFoundError(RenderError):
    """No renderer can run: quarto was asked for but is not installed, or the fallback's Python packages
    (``pypandoc_binary``, ``typst``) are missing."""


class UnresolvedReferenceWarning(CteImpactWarning):
    """A cross-reference (``@fig-x``, ``@tbl-x``, ``@sec-x``) names a label the document does not define, or a
    citation has no bibliography to resolve it; the output shows ``?@label`` in its place."""


def summarize_stderr(text: str, *, limit: int = 400) -> str:
    """One line that says what a renderer complained about.

    Lines that carry an error (``error``, ``ERROR``, ``[WARNING]``...) come first; progress chatter and source
    excerpts are dropped; whitespace is collapsed and the result is cut at ``limit`` characters.
    """
    lines = [" ".join(line.split()) for line in str(text).splitlines()]
    lines = [line for line in lines if line and not set(line) <= set("│┌─└^|~ ")]
    if not lines:
        return "(no diagnostic output)"
    keys = ("error", "failed", "not found", "could not", "cannot", "warning", "unknown", "does not exist")
    flagged = [line for line in lines if any(k in line.lower() for k in keys)]
    chosen = flagged or lines[-3:]
    summary = " | ".join(dict.fromkeys(chosen))
    if len(summary) > limit:
        summary = summary[: limit - 1].rstrip() + "…"
    return summary

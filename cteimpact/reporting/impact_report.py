"""The impact-study report of a run directory, as Quarto markdown.

>>> from cteimpact.reporting import load_run, build_impact_report, write_report
>>> run = load_run("runs/ccpt")                                           # doctest: +SKIP
>>> built = build_impact_report(run)                                      # doctest: +SKIP
>>> write_report(built, "runs/ccpt/report/impact-report.qmd")             # doctest: +SKIP

Sections: summary of findings; the program and the counterfactual; design and estimand; data and sample flow;
specification; impact estimates; validity checks; standards checklist; Pay-for-Success pricing; limitations;
reproducibility (commands, inputs and hashes, seeds, versions, certified values at full precision, the resolved
specification). Every number comes from the run's ``results.json``, ``manifest.json`` and, when present,
``certificate.json``; figures are the run's own PNGs, copied beside the source.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cteimpact.reporting.document import QmdDocument
from cteimpact.reporting.rundir import RunContents
from cteimpact.reporting.sections.appendix import add_appendix
from cteimpact.reporting.sections.checks import add_checks
from cteimpact.reporting.sections.context import ReportContext
from cteimpact.reporting.sections.data import add_data
from cteimpact.reporting.sections.design import add_design
from cteimpact.reporting.sections.impacts import add_impacts
from cteimpact.reporting.sections.limitations import add_limitations
from cteimpact.reporting.sections.pricing import add_pricing
from cteimpact.reporting.sections.program import add_program
from cteimpact.reporting.sections.specification import add_specification
from cteimpact.reporting.sections.standards import add_standards
from cteimpact.reporting.sections.summary import add_summary

__all__ = ["BuiltReport", "build_impact_report", "write_report"]


@dataclass(frozen=True)
class BuiltReport:
    """A report source not yet written: the document and the run figures it shows.

    Attributes
    ----------
    document
        The Quarto markdown document.
    figures
        Path relative to the source (``figures/rd-dropout.png``) → the run's figure file to copy there.
    """

    document: QmdDocument
    figures: dict[str, Path]


def build_impact_report(run: RunContents) -> BuiltReport:
    """The impact-study report of ``run`` (see the module docstring)."""
    title = str(run.study.get("title") or run.study.get("name") or "Impact study")
    doc = QmdDocument(title, subtitle="Impact study report", toc=True, toc_depth=2, number_sections=True)
    ctx = ReportContext(run, doc)
    add_summary(ctx)
    add_program(ctx)
    add_design(ctx)
    add_data(ctx)
    add_specification(ctx)
    add_impacts(ctx)
    add_checks(ctx)
    add_standards(ctx)
    add_pricing(ctx)
    add_limitations(ctx)
    add_appendix(ctx)
    return BuiltReport(doc, dict(ctx.figures))


def write_report(built: BuiltReport, path: str | os.PathLike[str]) -> Path:
    """Copy the report's figures beside ``path`` and write the .qmd there.

    Figures land in the source's folder (``figures/…``), where both renderers read them; an existing copy with
    the same bytes is left as it is.
    """
    out = Path(path)
    base = out.parent
    for relative, source in built.figures.items():
        target = base / relative
        if target.resolve() == Path(source).resolve():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != Path(source).read_bytes():
            shutil.copyfile(source, target)
    return built.document.write(out)

"""The program and the counterfactual: what was offered, to whom, and who stands in for "without it"."""

from __future__ import annotations

from collections.abc import Mapping

from cteimpact.reporting.formatting import format_count
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import rd_facts
from cteimpact.reporting.sections.context import ReportContext

__all__ = ["add_program"]


def _rd_counterfactual(ctx: ReportContext) -> list[Markdown]:
    run = ctx.run
    o = run.options
    running = ctx.code(o.get("running") or run.details.get("running") or "the score")
    unit = o.get("assignment_unit")
    unit_text = md(" Scores were assigned to units of {}, so all students of a unit share its side.",
                   ctx.code(unit)) if unit else Markdown()
    if o.get("cutoff_column"):
        cut = md(" The cutoff differs between groups (column {}); the analysis centres each score on its group's "
                 "cutoff, so the pooled cutoff is 0.", ctx.code(o["cutoff_column"]))
    else:
        value = finite(o.get("cutoff"))
        cut = md(" The cutoff is {:g}.", value) if value is not None else Markdown()
    paras = [md(
        "Assignment followed a score, {}: units scoring at or above the cutoff were assigned to the program, units "
        "below it were not.{}{} Students just below the cutoff are the counterfactual: they resemble the students "
        "just above it in everything but assignment, so the difference in outcomes at the cutoff measures what "
        "assignment did there.", running, cut, unit_text)]
    if rd_facts.is_fuzzy(run):
        fuzzy = o.get("fuzzy")
        paras.append(md(
            "Assignment did not fix participation: the treatment actually received ({}) changes at the cutoff but "
            "not from 0 to 1 (a fuzzy design). The report therefore gives both the effect of assignment (intention "
            "to treat) and, dividing it by the jump in participation, the effect of participating for the students "
            "whose participation assignment changed (the local average treatment effect).", ctx.code(fuzzy)))
    return paras


def _did_counterfactual(ctx: ReportContext) -> list[Markdown]:
    o = ctx.run.options
    control = {"never": "units that never adopted the program",
               "notyet": "units that had not yet adopted it (including those that never did)"}.get(
        str(o.get("control")), "comparison units")
    unit = ctx.code(o.get("unit") or "unit")
    time = ctx.code(o.get("time") or "time")
    cohort = ctx.code(o.get("cohort") or "first treated")
    return [
        md("Units ({}) adopted the program in different years ({}; observed over {}). For each adoption cohort and "
           "year, the counterfactual change in outcomes is the change over the same years among {}: the "
           "difference-in-differences compares the adopters' change with theirs. The estimate rests on parallel "
           "trends: without the program, adopters' outcomes would have moved like the comparison units'.",
           unit, cohort, time, control),
        Markdown("Cohorts are never compared with units treated earlier (whose outcomes already carry effects), "
                 "which is what makes the estimator robust to effects that differ across cohorts and grow with "
                 "exposure."),
    ]


def add_program(ctx: ReportContext) -> None:
    """``sec-program``: the study's description, the contract's program, the counterfactual."""
    run = ctx.run
    doc = ctx.doc
    doc.heading("The program and the counterfactual", label="sec-program")
    description = run.study.get("description")
    if description:
        doc.text(str(description))
    pricing = run.pricing
    if pricing is not None:
        contract: Mapping[str, object] = pricing.get("contract") or {}
        if contract.get("description"):
            doc.paragraph(md("The Pay-for-Success contract *{}*: {}", contract.get("name"),
                             contract.get("description")))
        spec = pricing.get("contract_spec") or {}
        cohorts = [c for c in spec.get("cohorts", []) or [] if isinstance(c, Mapping)]
        students = sum(finite(c.get("students")) or 0.0 for c in cohorts)
        if cohorts and students:
            doc.paragraph(f"The contract covers {len(cohorts)} cohort{'s' if len(cohorts) != 1 else ''} of "
                          f"students served, {format_count(round(students))} students in all.")
    doc.heading("Counterfactual", level=2, label="sec-counterfactual")
    paras = _rd_counterfactual(ctx) if run.design_type == "rd" else _did_counterfactual(ctx)
    for p in paras:
        doc.paragraph(p)

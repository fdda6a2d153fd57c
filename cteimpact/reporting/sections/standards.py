"""The WWC-style standards checklist: each item with its status, the evidence and the handbook it follows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from cteimpact.reporting.formatting import format_number
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import did_facts, rd_facts
from cteimpact.reporting.sections.context import ReportContext, slug
from cteimpact.reporting.wording import verdict_name

__all__ = ["add_standards"]


def _rd(ctx: ReportContext) -> None:
    run = ctx.run
    shown = False
    for y in run.outcomes:
        review = rd_facts.standards(run, y)
        if review is None:
            continue
        shown = True
        info = ctx.info(y)
        items = [i for i in review.get("items", []) or [] if isinstance(i, Mapping)]
        rows = [{"Standard": str(i.get("title") or i.get("key")), "Status": verdict_name(i.get("status")),
                 "Evidence": str(i.get("evidence") or "")} for i in items]
        citations = list(dict.fromkeys(str(i.get("citation")) for i in items if i.get("citation")))
        unverified = [str(i.get("title")) for i in items if i.get("threshold_verified") is False]
        note = f"Overall: {verdict_name(review.get('overall'))}."
        if unverified:
            note += (" The thresholds of " + "; ".join(u.lower() for u in unverified) + " were not "
                     "verified against the handbook by cteimpact: a reviewer must judge them (status 'needs "
                     "review').")
        if citations:
            note += " Sources: " + " | ".join(citations) + "."
        ctx.table(pd.DataFrame(rows), caption=f"{info.title}: WWC-style standards review of the regression "
                                              "discontinuity design",
                  label=f"tbl-standards-{slug(y)}", widths=[24, 12, 64], note=note)
    if not shown:
        ctx.doc.paragraph("The run records no standards review (diagnostics were not computed).")


def _did(ctx: ReportContext) -> None:
    shown = False
    for y in ctx.run.outcomes:
        found = did_facts.extra_for(ctx.run, y, "baseline_equivalence")
        items = found if isinstance(found, list) else (found.get("cohorts") or found.get("rows") or []
                                                       if isinstance(found, Mapping) else [])
        rows: list[dict[str, Any]] = []
        for r in items:
            if not isinstance(r, Mapping):
                continue
            rows.append({"Cohort": format_number(finite(r.get("group") or r.get("cohort")), digits=6),
                         "Standardised difference": format_number(finite(r.get("effect_size") or r.get("es")),
                                                                  decimals=3, signed=True),
                         "WWC category": str(r.get("category") or "")})
        if rows:
            shown = True
            info = ctx.info(y)
            ctx.table(pd.DataFrame(rows), caption=f"{info.title}: baseline equivalence of each adoption cohort "
                                                  "with its comparison units",
                      label=f"tbl-standards-{slug(y)}",
                      note="WWC rule for comparison-group designs: |d| ≤ 0.05 satisfied; 0.05 < |d| ≤ 0.25 "
                           "satisfied only with statistical adjustment for the baseline measure; |d| > 0.25 not "
                           "satisfied.")
    if not shown:
        ctx.doc.paragraph(md(
            "The What Works Clearinghouse reviews a difference-in-differences study as a comparison-group design: "
            "it requires baseline equivalence of the adopting and comparison units in the outcome before adoption "
            "(WWC Procedures and Standards Handbook 5.0). The run records no baseline-equivalence review; the event "
            "study's pre-adoption estimates ({}) are the evidence available here.", ctx.ref("sec-checks")))


def add_standards(ctx: ReportContext) -> None:
    """``sec-standards``."""
    ctx.doc.heading("Standards checklist", label="sec-standards")
    ctx.doc.paragraph(Markdown(
        "The checklist follows the What Works Clearinghouse standards for the design. An item is *met* or *NOT MET* "
        "where the rule can be checked from the data, and *needs review* where it rests on facts outside the data "
        "(how scores were set, whether the cutoff was known) or on a threshold cteimpact does not verify."))
    if ctx.run.design_type == "rd":
        _rd(ctx)
    elif ctx.run.design_type == "did":
        _did(ctx)

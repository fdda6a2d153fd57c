"""Data and sample flow: what was read, every exclusion with its reason and count, the estimation samples."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from cteimpact.reporting.formatting import format_count
from cteimpact.reporting.markdown import md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import rd_facts
from cteimpact.reporting.sections.context import ReportContext

__all__ = ["add_data"]


def _flow_rows(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = [{"Step": f"rows read from {flow.get('source', 'the data')}", "Excluded": None,
             "Remaining": flow.get("rows_read"), "Unit": flow.get("unit", "rows")}]
    for s in flow.get("steps", []) or []:
        if s.get("kind") == "aggregate":
            rows.append({"Step": f"aggregated: {s.get('reason')}", "Excluded": None, "Remaining": s.get("remaining"),
                         "Unit": s.get("unit")})
        else:
            rows.append({"Step": str(s.get("reason")), "Excluded": s.get("excluded"), "Remaining": s.get("remaining"),
                         "Unit": s.get("unit")})
    return rows


def _counts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for c in columns:
        frame[c] = pd.array([None if finite(v) is None else int(v) for v in frame[c]], dtype="Int64")
    return frame


def _rd_samples(ctx: ReportContext) -> None:
    run = ctx.run
    rows = []
    for y in run.outcomes:
        f = rd_facts.fit_for(run, y)
        if f is None:
            continue
        fit = f.get("fit") or {}
        n, nh = fit.get("n") or [None, None], fit.get("n_h") or [None, None]
        est = run.estimate(y) or {}
        rows.append({"Outcome": ctx.info(y).title, "Below the cutoff": n[0], "At or above": n[1],
                     "Within h, below": nh[0], "Within h, above": nh[1],
                     "Effective N": est.get("n_effective")})
    if not rows:
        return
    frame = _counts(pd.DataFrame(rows), ["Below the cutoff", "At or above", "Within h, below", "Within h, above",
                                         "Effective N"])
    table = ctx.suppress(frame, n_column="Effective N", value_columns=[],
                         count_columns=["Below the cutoff", "At or above", "Within h, below", "Within h, above"])
    ctx.table(table, caption="Students in each outcome's estimation sample, by side of the cutoff",
              label="tbl-rd-samples",
              note="Within h: students inside the bandwidth of the primary estimate, who carry its weight. "
                   "Effective N is their total.")


def _rd_outcome_flows(ctx: ReportContext, common: int) -> None:
    """Exclusions specific to each outcome's estimation sample (steps after the common flow)."""
    run = ctx.run
    per_outcome: dict[str, dict[str, int]] = {}
    final: dict[str, Any] = {}
    reasons: list[str] = []
    for y in run.outcomes:
        f = rd_facts.fit_for(run, y)
        sf = (f or {}).get("sample_flow")
        if not isinstance(sf, Mapping):
            continue
        per_outcome[y] = {}
        for s in (sf.get("steps") or [])[common:]:
            if s.get("kind") == "aggregate":
                continue
            reason = str(s.get("reason"))
            per_outcome[y][reason] = int(s.get("excluded") or 0)
            if reason not in reasons:
                reasons.append(reason)
        final[y] = sf.get("rows_used")
    if not per_outcome or not reasons:
        return
    cols = {ctx.info(y).title: [per_outcome[y].get(r) for r in reasons] + [final.get(y)] for y in per_outcome}
    frame = _counts(pd.DataFrame({"Exclusion": [*reasons, "Estimation sample"], **cols}), list(cols))
    ctx.table(frame, caption="Further exclusions of each outcome's estimation sample", label="tbl-flow-outcomes",
              note="Rows of the analysis sample without the values an estimate needs; the last row is the sample "
                   "the estimate is computed on, before the bandwidth is applied.")


def add_data(ctx: ReportContext) -> None:
    """``sec-data``: input files, the sample flow, outcome-specific exclusions and estimation samples."""
    run = ctx.run
    doc = ctx.doc
    doc.heading("Data and sample flow", label="sec-data")
    data_inputs = [i for i in run.manifest.get("inputs", []) or [] if i.get("role") == "data"]
    flow = run.results.get("sample_flow") or {}
    for item in data_inputs:
        name = PurePosixPath(str(item.get("path", ""))).name
        records = item.get("records")
        count = f" ({format_count(records)} records)" if records is not None else ""
        listed = md(" Rows were excluded only for the reasons listed in {}, each with its count: no row was dropped "
                    "silently.", ctx.ref("tbl-flow")) if flow else ""
        doc.paragraph(md("The analysis read {}{}; its SHA-256 hash is in {}.{}", ctx.code(name), count,
                         ctx.ref("sec-reproducibility"), listed))
    if flow:
        frame = _counts(pd.DataFrame(_flow_rows(flow)), ["Excluded", "Remaining"])
        ctx.table(frame, caption="Sample flow: from the rows read to the analysis sample", label="tbl-flow",
                  note="Restrictions of the specification in the order applied; counts of the rows they remove.")
    if run.design_type == "rd":
        _rd_outcome_flows(ctx, len(flow.get("steps", []) or []))
    else:
        est_flow = run.design.get("sample_flow")
        if isinstance(est_flow, Mapping) and est_flow.get("steps"):
            frame = _counts(pd.DataFrame(_flow_rows(est_flow)), ["Excluded", "Remaining"])
            ctx.table(frame, caption="Estimation flow: from the analysis sample to the estimation panel",
                      label="tbl-flow-estimation",
                      note="Exclusions made by the estimator (missing values, units not observed in every period "
                           "of a balanced panel) and the aggregation to the panel's units.")
    if run.design_type == "rd":
        _rd_samples(ctx)

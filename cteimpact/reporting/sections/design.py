"""Design and estimand: the estimator, what each estimate means, how uncertainty is measured, the fitted settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cteimpact.reporting.formatting import MISSING, format_count, format_number
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import did_facts, rd_facts
from cteimpact.reporting.sections.context import ReportContext

__all__ = ["add_design"]

_VCE = {"nn": "nearest-neighbour heteroskedasticity-robust", "hc0": "HC0", "hc1": "HC1", "hc2": "HC2",
        "hc3": "HC3", "cr1": "cluster-robust (CR1)", "cr2": "cluster-robust (CR2, bias-reduced)",
        "cr3": "cluster-robust (CR3, jackknife-type)"}


def _pair(values: Any, fmt: Any = None) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != 2:
        return MISSING
    f = fmt or (lambda v: format_number(finite(v), digits=4))
    return f"{f(values[0])} / {f(values[1])}"


def _rd(ctx: ReportContext) -> None:
    run = ctx.run
    doc = ctx.doc
    o = run.options
    fuzzy = rd_facts.is_fuzzy(run)
    doc.paragraph(f"Estimator: {run.design.get('estimator') or 'regression discontinuity'}.")
    items: list[Markdown] = []
    if fuzzy:
        items += [
            md("**Primary estimate** (labelled with the outcome, e.g. {}): the local average treatment effect at the "
               "cutoff, the jump in the outcome divided by the jump in participation (fuzzy RD).",
               ctx.code(run.outcomes[0])),
            md("**Intention to treat** ({}): the jump in the outcome at the cutoff, the effect of assignment on all "
               "students there.", ctx.code("[reduced_form]")),
            md("**First stage** ({}): the jump in participation at the cutoff.", ctx.code("[first_stage]")),
        ]
    else:
        items.append(Markdown("**Primary estimate** (labelled with the outcome): the jump in the outcome at the "
                              "cutoff, the average effect of assignment for students at the cutoff (sharp RD)."))
    items += [
        md("**Subgroups** ({} and the like) are estimated separately, with tests of the difference between levels; "
           "**cutoff-specific** estimates ({}) are those of each group's own cutoff, with a test of equal effects.",
           ctx.code("[female=1]"), ctx.code("[cutoff=…]")),
    ]
    doc.bullets(items)
    vce = _VCE.get(str(o.get("vce_used") or o.get("vce")), str(o.get("vce_used") or o.get("vce") or "robust"))
    cluster = o.get("cluster")
    doc.paragraph(md(
        "Inference is robust bias-corrected (Calonico, Cattaneo and Titiunik 2014): the point estimate is the "
        "conventional local polynomial estimate; its {} confidence interval is centred on the bias-corrected "
        "estimate and uses the robust standard error, which accounts for the bias correction. Standard errors are "
        "{}{}. Conventional and bias-corrected rows are reported for completeness only: their intervals "
        "under-cover.", ctx.level_text, vce, md(", clustered by {}", ctx.code(cluster)) if cluster else ""))
    # settings per outcome (transposed: one column per outcome)
    main = [rd_facts.fit_for(run, y) for y in run.outcomes]
    shown = [(y, f) for y, f in zip(run.outcomes, main, strict=True) if f is not None]
    if shown:
        rows: dict[str, list[str]] = {
            "Polynomial order p (bias q)": [], "Kernel": [], "Bandwidth selector": [],
            "Bandwidth h (below / above)": [], "Bias bandwidth b (below / above)": [], "Variance": [],
            "Clusters within h (below / above)": []}
        for _, f in shown:
            fit: Mapping[str, Any] = f.get("fit") or {}
            rows["Polynomial order p (bias q)"].append(f"{fit.get('p', MISSING)} ({fit.get('q', MISSING)})")
            rows["Kernel"].append(str(fit.get("kernel", MISSING)))
            rows["Bandwidth selector"].append(str(fit.get("bwselect", MISSING)))
            rows["Bandwidth h (below / above)"].append(_pair(fit.get("h")))
            rows["Bias bandwidth b (below / above)"].append(_pair(fit.get("b")))
            rows["Variance"].append(str(fit.get("vce", MISSING)))
            rows["Clusters within h (below / above)"].append(
                _pair(fit.get("n_clusters_side"), lambda v: format_count(v)) if fit.get("n_clusters_side")
                else MISSING)
        frame = pd.DataFrame(rows, index=[ctx.info(y).title for y, _ in shown]).T
        frame.index.name = "Setting"
        running = run.details.get("running") or o.get("running")
        ctx.table(frame, caption="Local polynomial settings of each outcome's primary estimate",
                  label="tbl-rd-settings", index=True,
                  note=md("Bandwidths are in units of the running variable ({}). Sample sizes by side of the "
                          "cutoff are in {}.", running, ctx.ref("tbl-rd-samples")))
    cutoffs = [t for t in run.details.get("cutoff_tests", []) or [] if isinstance(t, Mapping)]
    if cutoffs:
        values = ", ".join(f"{v:g}" for v in (finite(c) for c in cutoffs[0].get("cutoffs", [])) if v is not None)
        doc.paragraph(f"The design has several cutoffs ({values}); the pooled estimate uses the score centred on "
                      "each group's cutoff, and cutoff-specific estimates are reported beside it.")
    lr = run.details.get("local_randomization") or {}
    if lr:
        first = next(iter(lr.values()))
        doc.paragraph(
            "As a complement that does not rely on extrapolating a polynomial to the cutoff, the report gives a local "
            f"randomisation analysis (Cattaneo, Frandsen and Titiunik 2015): within a small window around the cutoff "
            f"chosen where baseline covariates are balanced, assignment is treated as random across "
            f"{first.get('unit') or 'units'}, and the difference in mean outcomes is tested with "
            f"{format_count(first.get('reps'))} re-randomisations.")


def _did(ctx: ReportContext) -> None:
    run = ctx.run
    doc = ctx.doc
    o = run.options
    doc.paragraph(f"Estimator: {run.design.get('estimator') or 'difference-in-differences'}.")
    doc.bullets([
        Markdown("**ATT(g, t)**: the average effect in year *t* on units that adopted in year *g*, each estimated "
                 "from a 2×2 comparison with the comparison units over the same years."),
        Markdown("**Primary estimate** (labelled with the outcome): the simple average of the post-adoption "
                 "ATT(g, t), weighted by cohort size."),
        md("**Event study** ({}): effects by years since adoption *e*, averaged over cohorts; negative *e* are "
           "pre-adoption placebo estimates. **Cohort** ({}) and **calendar-year** ({}) aggregations average the "
           "same building blocks differently.", ctx.code("[event=e]"), ctx.code("[group=g]"),
           ctx.code("[calendar=t]")),
    ])
    method = {"dr": "doubly robust", "ipw": "inverse probability weighted", "reg": "outcome regression"}.get(
        str(o.get("method")), str(o.get("method") or MISSING))
    rows = [
        ("Comparison units", {"never": "never treated", "notyet": "not yet treated"}.get(str(o.get("control")),
                                                                                     str(o.get("control")))),
        ("2×2 estimator", method),
        ("Base period", str(o.get("base_period", MISSING))),
        ("Anticipation (periods)", str(o.get("anticipation", MISSING))),
        ("Covariates", ", ".join(o.get("covariates") or []) or "none"),
        ("Clustered by", str(o.get("cluster") or "unit")),
        ("Data", str(o.get("data_mode", MISSING))),
    ]
    for outcome, det in did_facts.details_by_outcome(run).items():
        boot = det.get("bootstrap") if isinstance(det.get("bootstrap"), Mapping) else None
        rows.append((f"Units ({outcome})", format_count(det.get("n_units"))))
        if det.get("n_clusters") is not None:
            rows.append((f"Clusters ({outcome})", format_count(det.get("n_clusters"))))
        if boot:
            rows.append(("Inference", f"multiplier bootstrap, {format_count(boot.get('n_draws'))} draws "
                                      f"({boot.get('weights')} weights); bands "
                                      + ("simultaneous (sup-t)" if boot.get("bands") else "pointwise")))
        else:
            rows.append(("Inference", "analytic influence-function standard errors; pointwise intervals"))
        break
    frame = pd.DataFrame(rows, columns=["Setting", "Value"])
    ctx.table(frame, caption="Difference-in-differences settings", label="tbl-did-settings")
    citation = next((d.get("citation") for d in did_facts.details_by_outcome(run).values() if d.get("citation")),
                    None)
    if citation:
        doc.paragraph(f"Reference: {citation}")


def add_design(ctx: ReportContext) -> None:
    """``sec-design``."""
    ctx.doc.heading("Design and estimand", label="sec-design")
    if ctx.run.design_type == "rd":
        _rd(ctx)
    elif ctx.run.design_type == "did":
        _did(ctx)
    else:
        ctx.doc.paragraph(f"Estimator: {ctx.run.design.get('estimator') or ctx.run.design_type}.")

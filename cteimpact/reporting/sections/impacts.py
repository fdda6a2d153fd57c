"""Impact estimates: the main table (estimates, standard errors, intervals with their type, effective N, relative
effects and effect sizes), alternative inference, subgroups, cutoffs, local randomisation; the DiD aggregations."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cteimpact.provenance.suppression import SUPPRESSION_MARKER, SuppressedTable
from cteimpact.reporting.formatting import MISSING, format_count, format_number, format_p_value, format_percent
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import did_facts, rd_facts
from cteimpact.reporting.sections.context import ReportContext, slug
from cteimpact.reporting.wording import OutcomeInfo, ci_type_name, p_text

__all__ = ["add_impacts", "cox_index"]

_RIGHT = "right"


def cox_index(p_control: float, effect: float, n: float | None) -> float | None:
    """WWC effect size of a difference in proportions: ``ω [logit(p_c + effect) − logit(p_c)] / 1.65`` with
    ``ω = 1 − 3 / (4N − 9)`` (WWC Procedures Handbook 4.1, Appendix E); None outside (0, 1)."""
    p_t = p_control + effect
    if not (0 < p_control < 1 and 0 < p_t < 1):
        return None
    omega = 1.0 - 3.0 / (4.0 * n - 9.0) if n is not None and n > 2.25 else 1.0
    return omega * (math.log(p_t / (1 - p_t)) - math.log(p_control / (1 - p_control))) / 1.65


def _cells(info: OutcomeInfo, row: Mapping[str, Any]) -> dict[str, str]:
    se = row.get("std_error")
    return {"Estimate": info.effect(row.get("estimate"), se), "SE": info.se(se),
            "CI": info.ci(row.get("ci_lower"), row.get("ci_upper"), se),
            "p": format_p_value(finite(row.get("p_value")))}


def _aligned(frame: pd.DataFrame, *columns: str) -> dict[str, str]:
    return {c: _RIGHT for c in columns if c in frame.columns}


# -- regression discontinuity ---------------------------------------------------------------------------------------


def _rd_main(ctx: ReportContext) -> None:
    run = ctx.run
    fuzzy = rd_facts.is_fuzzy(run)
    rows = []
    derived_notes: list[str] = []
    for y in run.outcomes:
        info = ctx.info(y)
        parts = ([(f"{y}[reduced_form]", "Intention to treat"), (f"{y}[first_stage]", "First stage (take-up)"),
                  (y, "Local average treatment effect")] if fuzzy else [(y, "Effect at the cutoff")])
        pc = rd_facts.control_mean(run, y)
        for label, what in parts:
            row = run.estimate(label)
            if row is None:
                continue
            row_info = ctx.info_for_label(label)
            cells = _cells(row_info, row)
            rel = cox = MISSING
            est = finite(row.get("estimate"))
            is_jump = label == f"{y}[reduced_form]" or (not fuzzy and label == y)
            if is_jump and est is not None and pc is not None and pc != 0:
                rel = format_percent(est / pc, signed=True)
                if info.kind == "proportion":
                    d = cox_index(pc, est, finite(row.get("n_effective")))
                    cox = format_number(d, decimals=3, signed=True) if d is not None else MISSING
                derived_notes.append(f"{info.name}: {info.level(pc)}")
            rows.append({"Outcome": info.title, "Estimand": what, **cells,
                         "Effective N": format_count(finite(row.get("n_effective"))),
                         "Relative": rel, "Cox index": cox, "_hidden": bool(row.get("suppressed"))})
    if not rows:
        return
    frame = pd.DataFrame(rows).rename(columns={"CI": f"{ctx.level_text} CI"})
    hidden = frame.pop("_hidden").tolist()
    first = run.estimate(run.outcomes[0]) or {}
    kind = ci_type_name(first.get("ci_type"))
    note = (f"Intervals and p-values are {kind} (Calonico, Cattaneo and Titiunik 2014): each interval is centred on "
            "the bias-corrected estimate, so it need not be centred on the point estimate shown. Proportions are "
            "written in percentage points (pp). Effective N: students within the bandwidth. ")
    if derived_notes:
        note += ("Relative: the effect divided by the outcome's mean just below the cutoff, the recorded intercept "
                 "of the outcome's fit below the cutoff (" + "; ".join(derived_notes)
                 + "). Cox index: the What Works Clearinghouse effect size of a 0/1 outcome, "
                 "ω·[logit(p + effect) − logit(p)]/1.65 with p that mean and ω = 1 − 3/(4N − 9); ")
    note += ("not defined (—) for the local average treatment effect, and for outcomes other than proportions, "
             "whose standard deviation the run does not record.") if derived_notes else ""
    shown = ctx.flagged(frame, hidden, value_columns=["Estimate", "SE", f"{ctx.level_text} CI", "p", "Effective N",
                                                      "Relative", "Cox index"])
    ctx.table(shown, caption="Impact estimates at the cutoff", label="tbl-impacts", note=note,
              align=_aligned(frame, "Estimate", "SE", f"{ctx.level_text} CI", "p", "Relative", "Cox index"))


def _rd_alternative(ctx: ReportContext) -> None:
    run = ctx.run
    rows = []
    for y in run.outcomes:
        info = ctx.info(y)
        for label in (y, f"{y}[conventional]", f"{y}[bias_corrected]"):
            row = run.estimate(label)
            if row is None:
                continue
            rows.append({"Outcome": info.title, "Inference": ci_type_name(row.get("ci_type")), **_cells(info, row),
                         "_hidden": bool(row.get("suppressed"))})
    if len(rows) <= len(run.outcomes):
        return
    frame = pd.DataFrame(rows).rename(columns={"CI": f"{ctx.level_text} CI"})
    hidden = frame.pop("_hidden").tolist()
    ctx.table(ctx.flagged(frame, hidden, value_columns=["Estimate", "SE", f"{ctx.level_text} CI", "p"]),
              caption="The primary estimates under the three kinds of inference rdrobust reports",
              label="tbl-impacts-inference",
              note="Conventional: conventional estimate and standard error. Bias-corrected: bias-corrected estimate "
                   "with the conventional standard error (its interval under-covers). Robust bias-corrected: the "
                   "report's inference.",
              align=_aligned(frame, "Estimate", "SE", f"{ctx.level_text} CI", "p"))


def _fit_side_counts(fit_record: Mapping[str, Any] | None) -> tuple[Any, Any]:
    fit = (fit_record or {}).get("fit") or {}
    nh = fit.get("n_h") or [None, None]
    return nh[0], nh[1]


def _int_column(frame: pd.DataFrame, *columns: str) -> None:
    for c in columns:
        frame[c] = pd.array([None if v is None or finite(v) is None else int(v) for v in frame[c]], dtype="Int64")


def _shown(table: SuppressedTable, *, drop: tuple[str, ...] = (), rename: Mapping[str, str] | None = None
           ) -> SuppressedTable:
    """``table`` without its helper columns (``drop``) and with columns renamed for readers."""
    names = dict(rename or {})
    return SuppressedTable(values=table.values.drop(columns=list(drop)).rename(columns=names),
                           suppressed=table.suppressed.drop(columns=list(drop)).rename(columns=names),
                           min_cell=table.min_cell, marker=table.marker, note=table.note)


def _rd_subgroups(ctx: ReportContext) -> None:
    run = ctx.run
    rows = []
    for f in rd_facts.fits(run):
        if f.get("kind") != "subgroup":
            continue
        row = run.estimate(str(f.get("label")))
        if row is None:
            continue
        group = f.get("group") or [None, None]
        info = ctx.info(str(f.get("outcome")))
        below, above = _fit_side_counts(f)
        rows.append({"Outcome": info.title, "Subgroup": f"{group[0]} = {group[1]}",
                     "_key": f"{f.get('outcome')}|{group[0]}", **_cells(info, row), "Below": below, "Above": above,
                     "Effective N": finite(row.get("n_effective"))})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    _int_column(frame, "Below", "Above", "Effective N")
    table = ctx.suppress(frame, n_column="Effective N", value_columns=["Estimate", "SE", "CI", "p"],
                         count_columns=["Below", "Above"], by="_key")
    hidden = {k for k, m in zip(frame["_key"], table.suppressed["Estimate"], strict=True) if bool(m)}
    shown = _shown(table, drop=("_key",), rename={"CI": f"{ctx.level_text} CI"})
    estimand = "local average treatment effect" if rd_facts.is_fuzzy(run) else "effect at the cutoff"
    ctx.table(shown, caption="Impact estimates by subgroup", label="tbl-subgroups",
              align=_aligned(shown.values, "Estimate", "SE", f"{ctx.level_text} CI", "p"),
              note=f"Each subgroup's {estimand}, estimated on its own students with its own bandwidth (robust "
                   "bias-corrected inference). Below / Above: students within the bandwidth on each side of the "
                   "cutoff.")
    _rd_subgroup_differences(ctx, hidden)


def _rd_subgroup_differences(ctx: ReportContext, hidden: set[str]) -> None:
    run = ctx.run
    comparisons = [c for c in run.details.get("subgroup_comparisons", []) or [] if isinstance(c, Mapping)]
    rows = []
    any_hidden = False
    for c in comparisons:
        info = ctx.info(str(c.get("outcome")))
        ci = c.get("ci") or [None, None]
        if f"{c.get('outcome')}|{c.get('column')}" in hidden or c.get("suppressed"):
            any_hidden = True
            cells = dict.fromkeys(("Difference", "SE", "CI", "p"), SUPPRESSION_MARKER)
        else:
            se = c.get("se")
            cells = {"Difference": info.effect(c.get("difference"), se), "SE": info.se(se),
                     "CI": info.ci(ci[0], ci[1], se), "p": format_p_value(finite(c.get("p_value")))}
        rows.append({"Outcome": info.title,
                     "Comparison": f"{c.get('column')} = {c.get('level_a')} minus {c.get('column')} = "
                                   f"{c.get('level_b')}", **cells})
    if not rows:
        return
    frame = pd.DataFrame(rows).rename(columns={"CI": f"{ctx.level_text} CI"})
    methods = sorted({re.sub(r";\s*correlation [^)]*", "", str(c.get("method"))).strip()
                      for c in comparisons if c.get("method")})
    note = "Tests of equal effects across a subgroup's levels."
    if methods:
        note += " Covariance of the two estimates: " + "; ".join(methods) + "."
    if any_hidden:
        note = note + md(" {} Not shown: a level of the subgroup is suppressed in {}.", SUPPRESSION_MARKER,
                         ctx.ref("tbl-subgroups"))
    ctx.table(frame, caption="Differences between subgroups", label="tbl-subgroup-differences", note=note,
              align=_aligned(frame, "Difference", "SE", f"{ctx.level_text} CI", "p"))


def _rd_cutoffs(ctx: ReportContext) -> None:
    run = ctx.run
    rows = []
    for f in rd_facts.fits(run):
        if f.get("kind") != "cutoff":
            continue
        row = run.estimate(str(f.get("label")))
        if row is None:
            continue
        info = ctx.info(str(f.get("outcome")))
        below, above = _fit_side_counts(f)
        cut = finite(f.get("cutoff_value"))
        rows.append({"Outcome": info.title, "Cutoff": f"{cut:g}" if cut is not None else MISSING,
                     "_key": str(f.get("outcome")), **_cells(info, row), "Below": below, "Above": above,
                     "Effective N": finite(row.get("n_effective"))})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    _int_column(frame, "Below", "Above", "Effective N")
    table = ctx.suppress(frame, n_column="Effective N", value_columns=["Estimate", "SE", "CI", "p"],
                         count_columns=["Below", "Above"], by="_key")
    shown = _shown(table, drop=("_key",), rename={"CI": f"{ctx.level_text} CI"})
    tests = []
    for t in run.details.get("cutoff_tests", []) or []:
        tests.append(f"{ctx.info(str(t.get('outcome'))).name}: χ²({t.get('df')}) = "
                     f"{format_number(finite(t.get('statistic')), digits=3)}, {p_text(t.get('p_value'))}")
    note = "Each cutoff's own estimate, on the students of the groups it applies to."
    if tests:
        note += " Test of equal effects across cutoffs: " + "; ".join(tests) + "."
    ctx.table(shown, caption="Impact estimates at each cutoff", label="tbl-cutoffs", note=note,
              align=_aligned(shown.values, "Estimate", "SE", f"{ctx.level_text} CI", "p"))


def _rd_local_randomization(ctx: ReportContext) -> None:
    run = ctx.run
    lr = run.details.get("local_randomization") or {}
    rows = []
    for outcome, r in lr.items():
        if not isinstance(r, Mapping):
            continue
        info = ctx.info(str(outcome))
        window = r.get("window") or [None, None]
        n = r.get("n") or [None, None]
        units = r.get("units") or [None, None]
        ci = r.get("ci") or [None, None]
        total = None if n[0] is None or n[1] is None else n[0] + n[1]
        lo, hi = finite(window[0]), finite(window[1])
        se = r.get("se_asymptotic")
        rows.append({"Outcome": info.title,
                     "Window": MISSING if lo is None or hi is None else f"[{lo:.4g}, {hi:.4g}]",
                     "Units (below / above)": f"{format_count(units[0])} / {format_count(units[1])}",
                     "Below": n[0], "Above": n[1], "Difference": info.effect(r.get("estimate"), se),
                     "Randomisation p": format_p_value(finite(r.get("p_value"))),
                     "Asymptotic p": format_p_value(finite(r.get("p_asymptotic"))),
                     "Randomisation CI": info.ci(ci[0], ci[1], se), "_total": total})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    _int_column(frame, "Below", "Above", "_total")
    values = ["Difference", "Randomisation p", "Asymptotic p", "Randomisation CI"]
    table = ctx.suppress(frame, n_column="_total", value_columns=values, count_columns=["Below", "Above"])
    shown = _shown(table, drop=("_total",))
    first = next(iter(lr.values()))
    ctx.table(shown, caption="Local randomisation: difference in mean outcomes in a window around the cutoff",
              label="tbl-local-randomization", align=_aligned(shown.values, *values),
              note="Window on the centred score, chosen where baseline covariates are balanced. Below / Above: "
                   f"students in the window. Randomisation p: {format_count(first.get('reps'))} re-randomisations "
                   "of the assignment across units (sharp null of no effect); the interval inverts the test under "
                   "a constant effect.")


def _rd_plots(ctx: ReportContext) -> None:
    for y in ctx.run.outcomes:
        info = ctx.info(y)
        ctx.figure(f"rd-{y}.png", label=f"fig-rd-{slug(y)}",
                   caption=f"{info.title} by the centred score: binned means (bins of fewer than "
                           f"{ctx.min_cell} students not shown) and the local polynomial fit on each side of the "
                           "cutoff",
                   alt=f"Regression discontinuity plot of {info.name}")


def _rd(ctx: ReportContext) -> None:
    doc = ctx.doc
    refs = [ctx.ref(f"fig-rd-{slug(y)}") for y in ctx.run.outcomes if ctx.run.figure(f"rd-{y}.png")]
    shows = md("; {} show{} the discontinuity", Markdown(", ").join(refs), "s" if len(refs) == 1 else "")
    doc.paragraph(md("{} gives the estimates at the cutoff{}.", ctx.ref("tbl-impacts"), shows if refs else ""))
    _rd_main(ctx)
    _rd_plots(ctx)
    _rd_alternative(ctx)
    if any(f.get("kind") == "subgroup" for f in rd_facts.fits(ctx.run)):
        doc.heading("Subgroups", level=2, label="sec-subgroups")
        _rd_subgroups(ctx)
    if any(f.get("kind") == "cutoff" for f in rd_facts.fits(ctx.run)):
        doc.heading("Cutoffs", level=2, label="sec-cutoffs")
        _rd_cutoffs(ctx)
    if ctx.run.details.get("local_randomization"):
        doc.heading("Local randomisation", level=2, label="sec-local-randomization")
        _rd_local_randomization(ctx)


# -- difference-in-differences --------------------------------------------------------------------------------------

_AGGREGATIONS = (("", "Simple ATT (primary)"), ("[group=overall]", "Cohort-weighted ATT"),
                 ("[event=overall]", "Average over event times e ≥ 0"),
                 ("[calendar=overall]", "Average over calendar years"))


def _did_effect_sizes(ctx: ReportContext, outcome: str) -> dict[str, str]:
    found = did_facts.extra_for(ctx.run, outcome, "effect_sizes")
    items = found if isinstance(found, list) else ([found] if isinstance(found, Mapping) else [])
    out = {}
    for es in items:
        if isinstance(es, Mapping) and es.get("label"):
            kind = {"hedges_g": "g", "cox_index": "Cox"}.get(str(es.get("kind")), str(es.get("kind") or ""))
            out[str(es["label"])] = f"{format_number(finite(es.get('estimate')), decimals=3, signed=True)} ({kind})"
    return out


def _did(ctx: ReportContext) -> None:
    run = ctx.run
    rows = []
    any_es = False
    for y in run.outcomes:
        info = ctx.info(y)
        sizes = _did_effect_sizes(ctx, y)
        any_es = any_es or bool(sizes)
        for suffix, what in _AGGREGATIONS:
            row = run.estimate(f"{y}{suffix}")
            if row is None:
                continue
            rows.append({"Outcome": info.title, "Aggregation": what, **_cells(info, row),
                         "Interval": ci_type_name(row.get("ci_type")),
                         "Effect size": sizes.get(f"{y}{suffix}", MISSING), "_hidden": bool(row.get("suppressed"))})
    if rows:
        frame = pd.DataFrame(rows).rename(columns={"CI": f"{ctx.level_text} CI"})
        hidden = frame.pop("_hidden").tolist()
        if not any_es:
            frame = frame.drop(columns=["Effect size"])
        shown = ctx.flagged(frame, hidden, value_columns=["Estimate", "SE", f"{ctx.level_text} CI", "p",
                                                          "Effect size"])
        ctx.table(shown, caption="Average effects on the treated (Callaway and Sant'Anna)", label="tbl-impacts",
                  align=_aligned(frame, "Estimate", "SE", f"{ctx.level_text} CI", "p"),
                  note="The simple ATT weights every post-adoption cohort-year by cohort size; the other rows "
                       "aggregate the same group-time effects by cohort, by years since adoption and by calendar "
                       "year." + (" Effect sizes: Hedges' g (continuous outcomes) or the Cox index (proportions), "
                                  "as recorded by the run (WWC)." if any_es else ""))
    for y, det in did_facts.details_by_outcome(run).items():
        agg = det.get("aggregates") or {}
        info = ctx.info(y)
        for family, key, title in (("group", "group", "cohort"), ("calendar", "time", "calendar year")):
            elements = (agg.get(family) or {}).get("elements") or []
            if not elements:
                continue
            table_rows = []
            for el in elements:
                element = finite(el.get(key))
                table_rows.append({title.capitalize(): MISSING if element is None else f"{element:g}",
                                   "ATT": info.effect(el.get("att"), el.get("se")), "SE": info.se(el.get("se")),
                                   "CI": info.ci(el.get("ci_lower"), el.get("ci_upper"), el.get("se")),
                                   "Interval": ci_type_name(el.get("ci_type")),
                                   "p": format_p_value(finite(el.get("p_value"))),
                                   "_hidden": bool(el.get("suppressed"))})
            frame = pd.DataFrame(table_rows).rename(columns={"CI": f"{ctx.level_text} CI"})
            hidden = frame.pop("_hidden").tolist()
            ctx.table(ctx.flagged(frame, hidden, value_columns=["ATT", "SE", f"{ctx.level_text} CI", "p"]),
                      caption=f"{info.title}: effects by {title}", label=f"tbl-did-{family}-{slug(y)}",
                      align=_aligned(frame, "ATT", "SE", f"{ctx.level_text} CI", "p"))
    wild_rows = []
    for y, det in did_facts.details_by_outcome(run).items():
        info = ctx.info(y)
        for label, w in (det.get("wild_cluster_bootstrap") or {}).items():
            if isinstance(w, Mapping):
                wild_rows.append({"Estimate": label, "Value": info.effect(w.get("estimate"), w.get("std_error")),
                                  "Wild bootstrap p": format_p_value(finite(w.get("p_value"))),
                                  "CI": info.ci(w.get("ci_lower"), w.get("ci_upper"), w.get("std_error")),
                                  "Clusters": format_count(w.get("n_clusters")),
                                  "Draws": format_count(w.get("n_draws")), "Weights": str(w.get("weights"))})
    if wild_rows:
        frame = pd.DataFrame(wild_rows).rename(columns={"CI": f"{ctx.level_text} CI"})
        ctx.table(frame, caption="Restricted wild cluster bootstrap (few clusters)", label="tbl-did-wild",
                  note="With few clusters, the wild cluster bootstrap (null imposed) gives more reliable tests than "
                       "the analytic cluster-robust standard errors.")


def add_impacts(ctx: ReportContext) -> None:
    """``sec-impacts``."""
    ctx.doc.heading("Impact estimates", label="sec-impacts")
    if ctx.run.design_type == "rd":
        _rd(ctx)
    elif ctx.run.design_type == "did":
        _did(ctx)

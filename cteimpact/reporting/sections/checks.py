"""Validity checks with their verdicts, tables and figures.

RD: manipulation (density) test, continuity of baseline covariates, placebo cutoffs, sensitivity to the bandwidth,
the polynomial order and a donut, differential attrition, with the RD plot in the impact section. DiD: the event
study with its bands, the pre-trend test and its power, TWFE against the heterogeneity-robust estimate, the
Goodman-Bacon decomposition, HonestDiD sensitivity, the group-time effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cteimpact.reporting.formatting import MISSING, format_count, format_number, format_p_value, format_percent
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import did_facts, rd_facts
from cteimpact.reporting.sections.context import ReportContext, slug
from cteimpact.reporting.wording import OutcomeInfo, ci_type_name, p_text, verdict_name

__all__ = ["add_checks"]

_CHECK_CAPTIONS = {
    "density_test": "Manipulation test: density of the running variable on each side of the cutoff",
    "covariate_balance": "Continuity of baseline covariates at the cutoff (standardised differences)",
    "placebo_cutoffs": "Placebo cutoffs: estimates where there is no discontinuity",
    "bandwidth_sensitivity": "Sensitivity of the estimate to the bandwidth",
    "polynomial_order": "Sensitivity of the estimate to the polynomial order",
    "donut": "Sensitivity of the estimate to excluding observations nearest the cutoff (donut)",
    "attrition": "Differential attrition: share with the outcome missing on each side of the cutoff",
}


def _int(frame: pd.DataFrame, *columns: str) -> None:
    for c in columns:
        frame[c] = pd.array([None if finite(v) is None else int(v) for v in frame[c]], dtype="Int64")


def _right(frame: pd.DataFrame, *columns: str) -> dict[str, str]:
    return {c: "right" for c in columns if c in frame.columns}


# -- regression discontinuity ---------------------------------------------------------------------------------------


def _robust_cells(info: OutcomeInfo, r: Mapping[str, Any], level: str) -> dict[str, Any]:
    se = r.get("se_robust")
    return {"Estimate": info.effect(r.get("estimate"), se),
            f"{level} CI": info.ci(r.get("ci_robust_lower"), r.get("ci_robust_upper"), se),
            "p": format_p_value(finite(r.get("p_robust")))}


def _sensitivity_table(ctx: ReportContext, outcome: str, checks: Mapping[str, Mapping[str, Any]]) -> None:
    info = ctx.info(outcome)
    rows = []
    for name, key, what, fmt in (
            ("bandwidth_sensitivity", "multiplier", "bandwidth", lambda v: f"× {v:g} the chosen bandwidth"),
            ("polynomial_order", "p", "polynomial order", lambda v: f"order {v:g}"),
            ("donut", "share_excluded", "donut",
             lambda v: "none excluded" if v == 0 else f"nearest {format_percent(v)} excluded")):
        check = checks.get(name)
        if not check:
            continue
        for r in check.get("table") or []:
            value = finite(r.get(key))
            rows.append({"Check": what, "Variant": fmt(value) if value is not None else MISSING,
                         "h (below / above)": f"{format_number(finite(r.get('h_left')), digits=3)} / "
                                              f"{format_number(finite(r.get('h_right')), digits=3)}",
                         **_robust_cells(info, r, ctx.level_text), "Effective N": r.get("n_effective")})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    _int(frame, "Effective N")
    table = ctx.suppress(frame, n_column="Effective N", value_columns=["Estimate", f"{ctx.level_text} CI", "p"],
                         complementary=False)
    ctx.table(table, caption=f"{info.title}: the estimate under other bandwidths, polynomial orders and "
                             "donuts", label=f"tbl-sensitivity-{slug(outcome)}",
              align=_right(frame, "Estimate", f"{ctx.level_text} CI", "p"),
              note="Robust bias-corrected estimates and intervals; the main specification is the row with "
                   "bandwidth × 1, polynomial order 1 (or the order used) and no donut.")


def _balance_table(ctx: ReportContext, outcome: str, check: Mapping[str, Any]) -> None:
    rows = []
    for r in check.get("table") or []:
        se = r.get("se_robust")
        measure = {"cox_index": "Cox index", "hedges_g": "Hedges' g"}.get(str(r.get("effect_size_measure")),
                                                                          str(r.get("effect_size_measure") or ""))
        rows.append({"Covariate": str(r.get("covariate")),
                     "Difference": format_number(finite(r.get("estimate")), digits=3) if se is None else
                     _num(r.get("estimate"), se),
                     f"{ctx.level_text} CI": _ci(r.get("ci_robust_lower"), r.get("ci_robust_upper"), se),
                     "p": format_p_value(finite(r.get("p_robust"))), "Holm p": format_p_value(finite(r.get("p_holm"))),
                     "Std. difference": (format_number(finite(r.get("effect_size")), decimals=3, signed=True)
                                         + (f" ({measure})" if measure else "")),
                     "Effective N": r.get("n_effective")})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    _int(frame, "Effective N")
    values = ["Difference", f"{ctx.level_text} CI", "p", "Holm p", "Std. difference"]
    table = ctx.suppress(frame, n_column="Effective N", value_columns=values, complementary=False)
    info = ctx.info(outcome)
    ctx.table(table, caption=f"{info.title}: jumps in baseline covariates at the cutoff",
              label=f"tbl-balance-{slug(outcome)}", align=_right(frame, *values),
              note="Robust bias-corrected RD estimates of each covariate at the outcome's bandwidth; Holm-adjusted "
                   "p-values across covariates; standardised differences as the WWC computes them (|d| ≤ 0.05 "
                   "satisfies baseline equivalence, 0.05–0.25 requires statistical adjustment).")


def _num(x: Any, se: Any) -> str:
    from cteimpact.reporting.formatting import format_effect

    return format_effect(finite(x), se=finite(se))


def _ci(lo: Any, hi: Any, se: Any) -> str:
    from cteimpact.reporting.formatting import format_ci

    return format_ci(finite(lo), finite(hi), se=finite(se))


def _placebo_table(ctx: ReportContext, outcome: str, check: Mapping[str, Any]) -> None:
    info = ctx.info(outcome)
    rows = []
    for r in check.get("table") or []:
        cut = finite(r.get("cutoff"))
        rows.append({"Placebo cutoff": f"{cut:.4g}" if cut is not None else MISSING,
                     **_robust_cells(info, r, ctx.level_text), "Holm p": format_p_value(finite(r.get("p_holm"))),
                     "Effective N": r.get("n_effective")})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    _int(frame, "Effective N")
    values = ["Estimate", f"{ctx.level_text} CI", "p", "Holm p"]
    table = ctx.suppress(frame, n_column="Effective N", value_columns=values, complementary=False)
    ctx.table(table, caption=f"{info.title}: estimates at placebo cutoffs",
              label=f"tbl-placebo-{slug(outcome)}", align=_right(frame, *values),
              note="Each placebo cutoff uses the observations on one side of the true cutoff only, with the main "
                   "estimate's bandwidths; a significant jump where there is no cutoff would question the design.")


def _rd_outcome(ctx: ReportContext, outcome: str) -> None:
    run = ctx.run
    doc = ctx.doc
    checks = rd_facts.checks(run, outcome)
    info = ctx.info(outcome)
    if not checks:
        return
    doc.heading(info.title, level=2, label=f"sec-checks-{slug(outcome)}")
    rows = [{"Check": str(c.get("title") or k), "Verdict": verdict_name(c.get("verdict")),
             "Evidence": str(c.get("evidence") or "")} for k, c in checks.items()]
    ctx.table(pd.DataFrame(rows), caption=f"{info.title}: validity checks and their verdicts",
              label=f"tbl-checks-{slug(outcome)}", widths=[26, 9, 65],
              note="pass: no evidence against the design at the stated level; FLAG: evidence against it, to be "
                   "weighed by the reader; not run: the check could not be computed.")
    for name, check in checks.items():
        label = f"fig-check-{slug(outcome)}-{slug(name)}"
        text = _CHECK_CAPTIONS.get(name, str(check.get("title") or name))
        caption = f"{info.title}: {text[:1].lower()}{text[1:]}"
        if name == "density_test":
            caption = _CHECK_CAPTIONS[name] + f" ({(check.get('details') or {}).get('unit') or 'units'})"
        shown = ctx.figure(f"check-{outcome}-{name}.png", caption=caption, label=label, width="62%")
        if shown is not None and shown != label:
            doc.paragraph(md("The {} does not depend on the outcome: it is the one in {}.",
                             str(check.get("title") or name).lower(), ctx.ref(shown)))
        if name == "covariate_balance":
            _balance_table(ctx, outcome, check)
        elif name == "placebo_cutoffs":
            _placebo_table(ctx, outcome, check)
    _sensitivity_table(ctx, outcome, checks)


def _rd(ctx: ReportContext) -> None:
    run = ctx.run
    alpha = None
    for y in run.outcomes:
        opts = ((run.details.get("diagnostics") or {}).get(y) or {}).get("options") or {}
        alpha = finite(opts.get("alpha"))
        if alpha is not None:
            break
    if not any(rd_facts.checks(run, y) for y in run.outcomes):
        ctx.doc.paragraph("The run did not compute validity checks (diagnostics were disabled in the specification); "
                          "the design has not been checked.")
        return
    ctx.doc.paragraph(md(
        "Each check gives a verdict at level {:g}: *pass* when the "
        "data show no evidence against the design, *FLAG* when they do. Checks that run several tests (covariates, "
        "placebo cutoffs) decide on Holm-adjusted p-values. The RD plots of the outcomes are in "
        "{}.", alpha if alpha is not None else 0.05, ctx.ref("sec-impacts")))
    for y in run.outcomes:
        _rd_outcome(ctx, y)


# -- difference-in-differences --------------------------------------------------------------------------------------


def _find_figure(ctx: ReportContext, outcome: str, tokens: Sequence[str]) -> str | None:
    names = ctx.run.figure_names
    several = len(ctx.run.outcomes) > 1
    for name in names:
        low = name.lower()
        if any(t in low for t in tokens) and (not several or outcome.lower() in low):
            return name
    return None


def _did_event_study(ctx: ReportContext, outcome: str, det: Mapping[str, Any]) -> None:
    info = ctx.info(outcome)
    dyn = ((det.get("aggregates") or {}).get("dynamic") or {}).get("elements") or []
    boot = det.get("bootstrap") if isinstance(det.get("bootstrap"), Mapping) else None
    rows = []
    for el in dyn:
        e = finite(el.get("event"))
        rows.append({"Years since adoption": MISSING if e is None else f"{e:g}",
                     "Period": "pre" if e is not None and e < 0 else "post",
                     "ATT": info.effect(el.get("att"), el.get("se")), "SE": info.se(el.get("se")),
                     f"{ctx.level_text} band": info.ci(el.get("ci_lower"), el.get("ci_upper"), el.get("se")),
                     "Band": ci_type_name(el.get("ci_type")), "p": format_p_value(finite(el.get("p_value")))})
    label = f"fig-event-study-{slug(outcome)}"
    name = _find_figure(ctx, outcome, ("event",))
    caption = (f"{info.title}: event study, effects by years since adoption with "
               + ("simultaneous" if boot and boot.get("bands") else "pointwise") + " bands")
    if name:
        ctx.figure(name, caption=caption, label=label, width="80%")
    if rows:
        frame = pd.DataFrame(rows)
        crit = finite(((boot or {}).get("critical_values") or {}).get("dynamic"))
        note = ("Pre-adoption rows (negative years) are placebo estimates: under parallel trends they are zero. ")
        if boot and boot.get("bands"):
            note += (f"Bands are simultaneous over all event times (sup-t critical value "
                     f"{format_number(crit, digits=4)} from {format_count(boot.get('n_draws'))} multiplier-bootstrap "
                     "draws), so they cover the whole path with the stated probability.")
        ctx.table(frame, caption=f"{info.title}: event-study estimates",
                  label=f"tbl-event-study-{slug(outcome)}", note=note,
                  align=_right(frame, "ATT", "SE", f"{ctx.level_text} band", "p"))


def _did_pretrends(ctx: ReportContext, outcome: str, det: Mapping[str, Any]) -> None:
    doc = ctx.doc
    info = ctx.info(outcome)
    text: list[str] = []
    rejected = False
    decision = did_facts.pretest_decision(det)
    event = det.get("pretest_event_study") if isinstance(det.get("pretest_event_study"), Mapping) else None
    cells = det.get("pretest") if isinstance(det.get("pretest"), Mapping) else None
    if decision is not None:
        _, _, p_dec = decision
        rejected = p_dec is not None and p_dec < ctx.alpha
    if event is not None:
        f = finite(event.get("p_value_f"))
        text.append(f"The joint test that every event-study pre-adoption effect is zero "
                    f"{'rejects' if rejected else 'does not reject'} parallel pre-trends: "
                    f"W = {format_number(finite(event.get('statistic')), digits=4)} on {event.get('df')} degrees of "
                    f"freedom, {p_text(finite(event.get('p_value')))}"
                    + (f" (small-sample F version for {event.get('n_clusters')} clusters: {p_text(f)})"
                       if f is not None else "") + ".")
    if cells is not None:
        pc = finite(cells.get("p_value"))
        text.append(f"The test on every pre-adoption group-time effect (as R's did reports it) gives "
                    f"W = {format_number(finite(cells.get('statistic')), digits=4)} on {cells.get('df')} degrees "
                    f"of freedom, {p_text(pc)}"
                    + ("; with many pre-adoption cells, each estimated from one cohort's clusters, that test "
                       "over-rejects (cteimpact's simulations: about 80% at the 5% level with 42 cells and 202 "
                       "clusters), so the event-study test is the one to judge by." if event is not None else "."))
    if decision is None:
        text.append("No pre-test of parallel trends could be computed (no usable pre-adoption periods).")
    elif rejected:
        text.append(md("The pre-adoption data contradict the assumption the estimates rest on; the sensitivity "
                       "analysis in {} shows how far conclusions survive violations of it.",
                       ctx.ref(f"sec-honest-{slug(outcome)}")))
    power = did_facts.extra_for(ctx.run, outcome, "pretrend_power")
    if isinstance(power, Mapping):
        target = finite(power.get("target_power"))
        lead = ("" if rejected else "Passing a pre-test is weak evidence when the test has little power "
                                    "(Roth 2022): ")
        text.append(
            f"{lead}a linear pre-trend would be detected with probability {format_percent(target, decimals=0)} "
            f"only if its slope reached {info.effect(power.get('slope_any_significant'))} per year (any "
            f"pre-period coefficient significant) or {info.effect(power.get('slope_wald'))} per year (joint Wald "
            "test).")
    elif not rejected:
        text.append("The run does not record the power of the pre-test (Roth 2022), so passing it should not be "
                    "read as evidence of parallel trends.")
    doc.paragraph(Markdown(" ").join(t if isinstance(t, Markdown) else t[:1].upper() + t[1:] for t in text))


def _did_twfe(ctx: ReportContext, outcome: str, det: Mapping[str, Any]) -> None:
    info = ctx.info(outcome)
    twfe = det.get("twfe") if isinstance(det.get("twfe"), Mapping) else None
    simple = ctx.run.estimate(outcome)
    if twfe is None or simple is None:
        ctx.doc.paragraph("The run did not estimate the two-way fixed-effects comparison.")
        return
    rows = [
        {"Estimator": "Callaway & Sant'Anna (heterogeneity-robust), simple ATT",
         "Estimate": info.effect(simple.get("estimate"), simple.get("std_error")),
         "SE": info.se(simple.get("std_error")),
         f"{ctx.level_text} CI": info.ci(simple.get("ci_lower"), simple.get("ci_upper"), simple.get("std_error"))},
        {"Estimator": f"Two-way fixed effects ({twfe.get('description') or 'unit and period effects'})",
         "Estimate": info.effect(twfe.get("estimate"), twfe.get("se")), "SE": info.se(twfe.get("se")),
         f"{ctx.level_text} CI": info.ci(twfe.get("ci_lower"), twfe.get("ci_upper"), twfe.get("se"))},
    ]
    frame = pd.DataFrame(rows)
    ctx.table(frame, caption=f"{info.title}: two-way fixed effects against the heterogeneity-robust "
                             "estimate", label=f"tbl-twfe-{slug(outcome)}",
              align=_right(frame, "Estimate", "SE", f"{ctx.level_text} CI"),
              note="With staggered adoption and effects that change over time, the TWFE coefficient weights "
                   "group-time effects with weights that can be negative (it uses already-treated units as "
                   "controls); the difference between the rows measures how much that matters here.")


def _did_bacon(ctx: ReportContext, outcome: str) -> None:
    info = ctx.info(outcome)
    bacon = did_facts.extra_for(ctx.run, outcome, "bacon")
    if not isinstance(bacon, Mapping):
        ctx.doc.paragraph("The run does not record a Goodman-Bacon decomposition of the TWFE estimate.")
        return
    rows = []
    for r in bacon.get("summary") or []:
        rows.append({"Comparison": str(r.get("type")), "Weight": format_percent(finite(r.get("weight"))),
                     "Average 2×2 estimate": info.effect(r.get("avg_estimate"))})
    if rows:
        frame = pd.DataFrame(rows)
        ctx.table(frame, caption=f"{info.title}: Goodman-Bacon decomposition of the TWFE estimate",
                  label=f"tbl-bacon-{slug(outcome)}", align=_right(frame, "Weight", "Average 2×2 estimate"),
                  note=f"TWFE {info.effect(bacon.get('twfe'))} = weighted sum of the 2×2 comparisons "
                       f"{info.effect(bacon.get('weighted_sum'))}. 'Later vs Earlier Treated' comparisons use "
                       "already-treated cohorts as controls: with effects that grow over time they bias TWFE.")
    name = _find_figure(ctx, outcome, ("bacon",))
    if name:
        ctx.figure(name, caption=f"{info.title}: 2×2 comparisons of the Goodman-Bacon decomposition",
                   label=f"fig-bacon-{slug(outcome)}", width="70%")


def _did_honest(ctx: ReportContext, outcome: str) -> None:
    info = ctx.info(outcome)
    found = did_facts.extra_for(ctx.run, outcome, "honest")
    results = found if isinstance(found, list) else ([found] if isinstance(found, Mapping) else [])
    if not results:
        ctx.doc.paragraph("The run does not record a HonestDiD sensitivity analysis (Rambachan and Roth 2023).")
        return
    for k, h in enumerate(r for r in results if isinstance(r, Mapping)):
        restriction = str(h.get("restriction"))
        symbol = "M̄" if restriction == "relative_magnitude" else "M"
        rows = [{symbol: format_number(finite(r.get("value")), digits=3),
                 "Robust CI": info.ci(r.get("lb"), r.get("ub"))} for r in h.get("table") or []]
        original = h.get("original") or [None, None]
        breakdown = finite(h.get("breakdown"))
        what = ("post-adoption violations of parallel trends up to M̄ times the largest pre-adoption one"
                if restriction == "relative_magnitude" else
                "changes in the slope of the trend difference of at most M per period")
        frame = pd.DataFrame(rows)
        method = h.get("method")
        ctx.table(frame, caption=f"{info.title}: HonestDiD robust confidence sets ({method})",
                  label=f"tbl-honest-{slug(outcome)}-{k}", align=_right(frame, "Robust CI"),
                  note=f"Intervals valid under {what} (Rambachan and Roth 2023). Original interval "
                       f"{info.ci(original[0], original[1])}. Breakdown value: "
                       + (format_number(breakdown, digits=3) if breakdown is not None else "not computed")
                       + " (the largest value at which the robust interval still excludes zero).")
    name = _find_figure(ctx, outcome, ("honest",))
    if name:
        ctx.figure(name, caption=f"{info.title}: HonestDiD sensitivity", label=f"fig-honest-{slug(outcome)}",
                   width="70%")


def _did_group_time(ctx: ReportContext, outcome: str, det: Mapping[str, Any]) -> None:
    info = ctx.info(outcome)
    cells = [c for c in det.get("att_gt") or [] if isinstance(c, Mapping)]
    if not cells:
        return
    rows = [{"Cohort": _year(c.get("group")), "Year": _year(c.get("time")),
             "ATT(g, t)": info.effect(c.get("att"), c.get("se")), "SE": info.se(c.get("se")),
             f"{ctx.level_text} CI": info.ci(c.get("ci_lower"), c.get("ci_upper"), c.get("se")),
             "Treated": c.get("n_treated"), "Comparison": c.get("n_comparison"), "_cohort": str(c.get("group")),
             "_hidden": bool(c.get("suppressed"))}
            for c in cells]
    frame = pd.DataFrame(rows)
    hidden = frame.pop("_hidden").tolist()
    _int(frame, "Treated", "Comparison")
    student_units = _units_are_students(ctx)
    if student_units:
        frame["_n"] = frame["Treated"].astype("Float64") + frame["Comparison"].astype("Float64")
        table = ctx.suppress(frame, n_column="_n", value_columns=["ATT(g, t)", "SE", f"{ctx.level_text} CI"],
                             count_columns=["Treated", "Comparison"], by="_cohort")
        from cteimpact.provenance.suppression import SuppressedTable

        shown: Any = SuppressedTable(values=table.values.drop(columns=["_cohort", "_n"]),
                                     suppressed=table.suppressed.drop(columns=["_cohort", "_n"]),
                                     min_cell=table.min_cell, marker=table.marker, note=table.note)
    else:
        shown = ctx.flagged(frame.drop(columns=["_cohort"]), hidden,
                            value_columns=["ATT(g, t)", "SE", f"{ctx.level_text} CI", "Treated", "Comparison"])
    ctx.table(shown, caption=f"{info.title}: group-time effects ATT(g, t)",
              label=f"tbl-att-gt-{slug(outcome)}", align=_right(frame, "ATT(g, t)", "SE", f"{ctx.level_text} CI"),
              note="Treated / Comparison: units in each 2×2 comparison"
                   + ("" if student_units else " (panel units, not students: each is a mean over many students)")
                   + ".")


def _year(value: Any) -> str:
    v = finite(value)
    return MISSING if v is None else f"{v:g}"


def _units_are_students(ctx: ReportContext) -> bool:
    unit = ctx.run.options.get("unit")
    columns = (ctx.run.spec.get("data") or {}).get("columns") or {}
    aggregate_roles = {"district", "school", "consortium"}
    return not any(col == unit and role in aggregate_roles for role, col in columns.items())


def _did(ctx: ReportContext) -> None:
    doc = ctx.doc
    for outcome, det in did_facts.details_by_outcome(ctx.run).items():
        info = ctx.info(outcome)
        several = len(ctx.run.outcomes) > 1
        level = 3 if several else 2
        if several:
            doc.heading(info.title, level=2, label=f"sec-checks-{slug(outcome)}")
        doc.heading("Event study and pre-trends", level=level, label=f"sec-event-study-{slug(outcome)}")
        _did_event_study(ctx, outcome, det)
        _did_pretrends(ctx, outcome, det)
        doc.heading("TWFE and the Goodman-Bacon decomposition", level=level, label=f"sec-twfe-{slug(outcome)}")
        _did_twfe(ctx, outcome, det)
        _did_bacon(ctx, outcome)
        doc.heading("Sensitivity to violations of parallel trends", level=level, label=f"sec-honest-{slug(outcome)}")
        _did_honest(ctx, outcome)
        doc.heading("Group-time effects", level=level, label=f"sec-att-gt-{slug(outcome)}")
        _did_group_time(ctx, outcome, det)


def add_checks(ctx: ReportContext) -> None:
    """``sec-checks``."""
    ctx.doc.heading("Validity checks", label="sec-checks")
    if ctx.run.design_type == "rd":
        _rd(ctx)
    elif ctx.run.design_type == "did":
        _did(ctx)

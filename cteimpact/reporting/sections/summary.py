"""Summary of findings in plain words: what changed, by how much, how sure, whether the design held up, what is
owed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cteimpact.reporting.formatting import format_number, format_percent, format_ratio
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import did_facts, rd_facts
from cteimpact.reporting.sections.context import ReportContext
from cteimpact.reporting.sections.pricing_words import money, threshold_text, thresholds
from cteimpact.reporting.wording import OutcomeInfo, ci_type_name, p_text, significance_clause, verdict_name

__all__ = ["add_summary", "design_name", "effect_sentence"]


def design_name(ctx: ReportContext) -> str:
    if ctx.run.design_type == "rd":
        return "fuzzy regression discontinuity" if rd_facts.is_fuzzy(ctx.run) else "sharp regression discontinuity"
    if ctx.run.design_type == "did":
        return "staggered difference-in-differences"
    return ctx.run.design_type or "impact"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _verb(estimate: float | None, *, significant: bool) -> str:
    if estimate is None or estimate == 0:
        return "did not change" if significant else "is estimated not to have changed"
    word = "lowered" if estimate < 0 else "raised"
    return word if significant else f"is estimated to have {word}"


def effect_sentence(ctx: ReportContext, actor: str, info: OutcomeInfo, row: Mapping[str, Any], *, what: str,
                    baseline: float | None = None, baseline_where: str = "") -> str:
    """One sentence on an effect: direction, size with its interval, relative change, significance.

    ``baseline`` (a recorded mean of the untreated side) adds the relative change ``estimate / baseline``.
    """
    est = finite(row.get("estimate"))
    se = row.get("std_error")
    p = finite(row.get("p_value"))
    significant = p is not None and p < ctx.alpha
    ci = info.ci(row.get("ci_lower"), row.get("ci_upper"), se)
    ci_kind = ci_type_name(row.get("ci_type"))
    verb = _verb(est, significant=significant)
    size = "" if est is None or est == 0 else f" by {info.size(est, se)}"
    text = f"{actor} {verb} {info.name}{size} ({what}; {ctx.level_text} CI {ci}, {ci_kind})"
    if baseline is not None and est is not None and baseline != 0:
        rel = est / baseline
        text += (f", from {info.level(baseline)} {baseline_where} (a relative change of "
                 f"{format_percent(rel, signed=True)})")
    clause = significance_clause(p, ctx.level)
    if significant:
        return text + f"; {clause}."
    interval_has_zero = _has_zero(row)
    tail = ": the interval includes no effect" if interval_has_zero else ""
    return text + f", but the estimate is {clause}{tail}."


def _has_zero(row: Mapping[str, Any]) -> bool:
    lo, hi = finite(row.get("ci_lower")), finite(row.get("ci_upper"))
    return lo is not None and hi is not None and lo <= 0 <= hi


def _rd_outcome(ctx: ReportContext, outcome: str) -> Markdown | None:
    run = ctx.run
    info = ctx.info(outcome)
    primary = run.estimate(outcome)
    if primary is None:
        return None
    parts: list[str] = []
    if rd_facts.is_fuzzy(run):
        itt = run.estimate(f"{outcome}[reduced_form]")
        if itt is not None:
            parts.append(effect_sentence(
                ctx, "Scoring at or above the cutoff", info, itt, what="intention-to-treat effect at the cutoff",
                baseline=rd_facts.control_mean(run, outcome), baseline_where="just below the cutoff"))
        fs_row = run.estimate(f"{outcome}[first_stage]")
        fs = rd_facts.first_stage(run, outcome)
        treat = ctx.info_for_label(f"{outcome}[first_stage]")
        if fs_row is not None:
            f_stat = finite((fs or {}).get("f_statistic"))
            f_text = f", F = {format_number(f_stat, digits=3)}" if f_stat is not None else ""
            est_fs = finite(fs_row.get("estimate"))
            direction = "raised" if (est_fs or 0) >= 0 else "lowered"
            parts.append(f"Scoring at or above the cutoff {direction} {treat.name} by "
                         f"{treat.size(est_fs, fs_row.get('std_error'))} (first stage{f_text}).")
        parts.append(effect_sentence(ctx, f"For the students whose {treat.name} the cutoff changed, taking part",
                                     info, primary, what="local average treatment effect"))
    else:
        parts.append(effect_sentence(
            ctx, "Scoring at or above the cutoff", info, primary, what="effect at the cutoff",
            baseline=rd_facts.control_mean(run, outcome), baseline_where="just below the cutoff"))
    return md("**{}.** {}", info.title, " ".join(parts))


def _rd_checks(ctx: ReportContext) -> list[Markdown]:
    run = ctx.run
    lines: list[Markdown] = []
    check_parts = []
    for outcome in run.outcomes:
        checks = rd_facts.checks(run, outcome)
        if not checks:
            continue
        name = ctx.info(outcome).name
        ran = {k: c for k, c in checks.items() if c.get("verdict") != "not_run"}
        flagged = [str(c.get("title") or k).lower() for k, c in ran.items() if c.get("verdict") == "flag"]
        not_run = len(checks) - len(ran)
        if not flagged:
            text = f"for {name}, all {len(ran)} validity checks that ran pass"
        else:
            text = (f"for {name}, {len(ran) - len(flagged)} of {len(ran)} validity checks pass; flagged: "
                    + "; ".join(flagged))
        if not_run:
            text += f" ({not_run} could not be run)"
        check_parts.append(text)
    if check_parts:
        lines.append(md("**Design checks.** {} ({}).", _capital("; ".join(check_parts)), ctx.ref("sec-checks")))
    reviews = []
    for outcome in run.outcomes:
        review = rd_facts.standards(run, outcome)
        if review is None:
            continue
        failing = [str(i.get("title")) for i in review.get("items", []) if i.get("status") == "not_met"]
        review_n = sum(1 for i in review.get("items", []) if i.get("status") == "needs_human_review")
        text = f"{ctx.info(outcome).name}: {verdict_name(review.get('overall'))}"
        if failing:
            text += " (" + "; ".join(f.lower() for f in failing) + ")"
        if review_n:
            text += f", {review_n} item{'s' if review_n != 1 else ''} for a reviewer's judgement"
        reviews.append(text)
    if reviews:
        lines.append(md("**Standards.** The WWC-style checklist rates the design as follows: {} ({}).",
                        "; ".join(reviews), ctx.ref("sec-standards")))
    return lines


def _did_outcome(ctx: ReportContext, outcome: str) -> Markdown | None:
    row = ctx.run.estimate(outcome)
    if row is None:
        return None
    info = ctx.info(outcome)
    text = effect_sentence(ctx, "Launching the program", info, row,
                           what="average effect on the treated after launch, Callaway & Sant'Anna")
    return md("**{}.** {}", info.title, text)


def _did_checks(ctx: ReportContext) -> list[Markdown]:
    parts = []
    for outcome, det in did_facts.details_by_outcome(ctx.run).items():
        decision = did_facts.pretest_decision(det)
        name = ctx.info(outcome).name
        if decision is not None and decision[2] is not None:
            kind, p = decision[0], float(decision[2])
            verdict = "rejects" if p < ctx.alpha else "does not reject"
            parts.append(f"for {name}, the joint {kind} pre-trend test {verdict} parallel pre-trends "
                         f"({p_text(p)})")
        twfe = det.get("twfe") if isinstance(det.get("twfe"), Mapping) else None
        simple = ctx.run.estimate(outcome)
        if twfe is not None and simple is not None:
            info = ctx.info(outcome)
            parts.append(f"two-way fixed effects give {info.effect(twfe.get('estimate'), twfe.get('se'))} against "
                         f"{info.effect(simple.get('estimate'), simple.get('std_error'))} heterogeneity-robust")
    if not parts:
        return []
    return [md("**Design checks.** {} ({}).", _capital("; ".join(parts)), ctx.ref("sec-checks"))]


def _pricing(ctx: ReportContext) -> list[Markdown]:
    pricing = ctx.run.pricing
    if pricing is None:
        return []
    pay = pricing.get("payments") or {}
    contract = pricing.get("contract") or {}
    out = []
    ths = thresholds(ctx)
    met_text = ""
    if ths:
        bits = []
        for th in ths:
            met = th.get("met_at_estimate")
            state = "met" if met else ("not met" if met is False else "of unknown status")
            bits.append(f"{threshold_text(ctx, th)} is {state} at the estimate")
        met_text = ": " + "; ".join(bits)
    q = pay.get("quantiles") or {}
    text = md("**Payment.** Under the contract *{}*, ", contract.get("name") or "priced in this run") + (
        f"the payment due at the point estimate is {money(ctx, pay.get('at_estimate'))}{met_text}. Allowing for the "
        f"estimate's uncertainty, the expected payment is {money(ctx, pay.get('expected'), compact=True)} "
        f"(5th to 95th percentile {money(ctx, q.get('5'), compact=True)} to "
        f"{money(ctx, q.get('95'), compact=True)}) and the probability of any payment is "
        f"{format_percent(pay.get('p_any'))}")
    inv = pricing.get("investors") if isinstance(pricing.get("investors"), Mapping) else None
    if inv is not None:
        moic = (inv.get("moic") or {}).get("expected")
        text += (f"; investors ({money(ctx, inv.get('invested'), compact=True)} invested) lose money with "
                 f"probability {format_percent(pricing.get('p_investor_loss'))} (expected multiple "
                 f"{format_ratio(moic)})")
    out.append(text + md(" ({}).", ctx.ref("sec-pricing")))
    extra = []
    bcr = finite(pricing.get("benefit_cost_ratio"))
    if bcr is not None:
        extra.append(f"At the estimate, the benefits counted are {format_ratio(bcr)} times the program's costs "
                     "(present values)")
    wrong = [name for name, p in (pricing.get("payors") or {}).items()
             if isinstance(p, Mapping) and p.get("pays_more_than_benefit")]
    if wrong:
        extra.append("expected payments exceed the expected benefit to " + ", ".join(str(w) for w in wrong)
                     + " (the wrong-pockets problem)")
    if extra:
        out.append(md("**Value for money.** {}.", "; ".join(extra)))
    return out


def _verification(ctx: ReportContext) -> Markdown:
    cert = ctx.run.certificate
    if cert is None:
        return md("The run has not yet been verified independently; a validator re-computes every number with "
                  "{} ({}).", ctx.code("cteimpact verify"), ctx.ref("sec-reproducibility"))
    rc: Mapping[str, Any] = cert.get("recomputation") or {}
    compared = rc.get("compared")
    verdict = str(cert.get("verdict") or "unknown")
    n = f"{int(compared):,} values" if isinstance(compared, int) else "the values"
    return md("An independent re-computation of {} of the run's results gave the verdict **{}** (the validator's "
              "certificate accompanies this report; {}).", n, verdict, ctx.ref("sec-reproducibility"))


def add_summary(ctx: ReportContext) -> None:
    """The summary section (``sec-summary``)."""
    run = ctx.run
    doc = ctx.doc
    doc.heading("Summary of findings", label="sec-summary")
    title = run.study.get("title") or run.study.get("name") or "this study"
    doc.paragraph(md(
        "This report sets out the results of *{}*, a {} study run with cteimpact (run {}). Every number below is "
        "taken from the run's results file. {}", title, design_name(ctx),
        ctx.code(run.study.get("name") or run.root.name), _verification(ctx)))
    items: list[Markdown] = []
    for outcome in run.outcomes:
        sentence = _rd_outcome(ctx, outcome) if run.design_type == "rd" else _did_outcome(ctx, outcome)
        if sentence:
            items.append(sentence)
    items += _rd_checks(ctx) if run.design_type == "rd" else _did_checks(ctx)
    items += _pricing(ctx)
    doc.callout(Markdown("\n\n").join(items), kind="important", title="Findings in brief")
    if run.design_type == "rd":
        doc.paragraph(md(
            "Regression discontinuity estimates describe students at the cutoff: they say what the program did where "
            "scores were close to the cutoff, not what it would do for every student ({}).",
            ctx.ref("sec-limitations")))

"""Limitations, computed from the run wherever possible: what the estimates cannot say, which checks flagged,
which warnings the estimators raised, thresholds below the minimum detectable effect, the verification state."""

from __future__ import annotations

from collections.abc import Mapping

from cteimpact.reporting.formatting import format_number, format_percent
from cteimpact.reporting.markdown import Markdown, md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections import did_facts, rd_facts
from cteimpact.reporting.sections.context import ReportContext
from cteimpact.reporting.sections.pricing_words import money, threshold_text, thresholds
from cteimpact.reporting.wording import p_text, verdict_name

__all__ = ["WEAK_FIRST_STAGE_F", "add_limitations"]

WEAK_FIRST_STAGE_F = 10.0
"""First-stage F below which a fuzzy RD's local average treatment effect is treated as weakly identified."""


def _sentence(text: object) -> str:
    """Recorded evidence as a sentence: capital first letter, final full stop."""
    s = str(text or "").strip()
    if not s:
        return ""
    s = s[:1].upper() + s[1:]
    return s if s.endswith((".", "!", "?")) else s + "."


def _item(title: object, text: object) -> Markdown:
    """A limitation: its title in bold, then the text (both written literally unless :class:`Markdown`)."""
    return md("**{}.** {}", title, text)


def _rd_items(ctx: ReportContext) -> list[Markdown]:
    run = ctx.run
    items = [_item("Local to the cutoff", "The estimates describe students whose scores were near the cutoff; "
                   "students far from it, or programs with another cutoff, may see different effects.")]
    if rd_facts.is_fuzzy(run):
        items.append(_item("Compliers", "The local average treatment effect applies to the students whose "
                           "participation the cutoff changed, not to those who would (or would not) have "
                           "participated either way."))
        for y in run.outcomes:
            fs = rd_facts.first_stage(run, y)
            f_stat = finite((fs or {}).get("f_statistic"))
            if f_stat is not None and f_stat < WEAK_FIRST_STAGE_F:
                items.append(_item(
                    f"Weak first stage ({ctx.info(y).name})",
                    f"The jump in participation has F = {format_number(f_stat, digits=3)}, below "
                    f"{format_number(WEAK_FIRST_STAGE_F)}: the local average treatment effect and its interval are "
                    "unreliable; rely on the intention-to-treat estimate."))
    for label, warning in rd_facts.fit_warnings(run):
        items.append(_item(md("Estimator warning ({})", ctx.code(label)), warning))
    notes = list(dict.fromkeys(str(n).split(": ", 1)[-1] for n in run.details.get("notes") or []))
    for note in notes:
        extra = (" The score takes few distinct values; rdrobust adjusts the bandwidths and variance for them, "
                 "and the local randomisation analysis does not rely on a continuous score."
                 if "mass point" in note.lower() else "")
        items.append(_item("Note from the estimator", f"{note}{extra}"))
    for y in run.outcomes:
        name = ctx.info(y).name
        for key, check in rd_facts.checks(run, y).items():
            verdict = check.get("verdict")
            if verdict in ("flag", "not_run"):
                items.append(_item(f"{'Flagged' if verdict == 'flag' else 'Not run'}: "
                                   f"{str(check.get('title') or key).lower()} ({name})",
                                   _sentence(check.get("evidence"))))
        review = rd_facts.standards(run, y)
        for item in (review or {}).get("items", []) or []:
            if item.get("status") == "not_met":
                items.append(_item(f"Standard not met: {str(item.get('title')).lower()} ({name})",
                                   _sentence(item.get("evidence"))))
        for lr_note in ((run.details.get("local_randomization") or {}).get(y) or {}).get("notes") or []:
            items.append(_item(f"Local randomisation ({name})", lr_note))
    n_sub = sum(1 for f in rd_facts.fits(run) if f.get("kind") == "subgroup")
    if n_sub:
        items.append(_item("Subgroups", f"{n_sub} subgroup estimates are reported without adjustment for multiple "
                           "comparisons; read differences between subgroups as exploratory."))
    return items


def _did_items(ctx: ReportContext) -> list[Markdown]:
    items = [_item("Parallel trends", "The estimates assume that, without the program, adopters' outcomes would "
                   "have moved like the comparison units'; the pre-adoption estimates test this only for the years "
                   "observed.")]
    for y, det in did_facts.details_by_outcome(ctx.run).items():
        name = ctx.info(y).name
        decision = did_facts.pretest_decision(det)
        p = None if decision is None else decision[2]
        if p is not None and p < ctx.alpha:
            items.append(_item(f"Pre-trends ({name})", f"The joint pre-test rejects parallel pre-trends "
                                                       f"({p_text(p)})."))
        if did_facts.extra_for(ctx.run, y, "pretrend_power") is None:
            items.append(_item(f"Power of the pre-test ({name})", "Not recorded: a pre-test that passes may simply "
                               "lack power against trends large enough to matter."))
        honest = did_facts.extra_for(ctx.run, y, "honest")
        for h in honest if isinstance(honest, list) else ([honest] if isinstance(honest, Mapping) else []):
            b = finite(h.get("breakdown")) if isinstance(h, Mapping) else None
            if b is not None and h.get("restriction") == "relative_magnitude" and b < 1:
                items.append(_item(f"Fragile to trend violations ({name})",
                                   "The effect stays significant only if post-adoption violations of parallel trends "
                                   f"are below {format_number(b, digits=2)} times the largest pre-adoption one "
                                   "(HonestDiD breakdown value)."))
        bacon = did_facts.extra_for(ctx.run, y, "bacon")
        if isinstance(bacon, Mapping):
            for r in bacon.get("summary") or []:
                w = finite(r.get("weight"))
                if str(r.get("type")).startswith("Later vs Earlier") and w:
                    items.append(_item(f"TWFE bias ({name})",
                                       f"{format_percent(w)} of the TWFE estimate's weight is on comparisons that "
                                       "use already-treated units as controls; report the heterogeneity-robust "
                                       "estimate, not TWFE."))
        for note in det.get("notes") or []:
            items.append(_item(f"Note from the estimator ({name})", note))
    return items


def _pricing_items(ctx: ReportContext) -> list[Markdown]:
    pricing = ctx.run.pricing
    if pricing is None:
        return []
    items = []
    for th in thresholds(ctx):
        if th.get("below_mde"):
            label = str(th.get("estimate") or "")
            mde = finite(th.get("mde"))
            mde_text = (f" ({ctx.info_for_label(label).size(mde)} at 80% power)" if label and mde is not None
                        and th.get("measure") != "relative" else "")
            if th.get("kind") == "significance":
                items.append(_item("Payment requires statistical significance",
                                   f"The condition \"{threshold_text(ctx, th)}\" is met with 80% probability only "
                                   "if the program's true effect is at least the evaluation's minimum detectable "
                                   f"effect{mde_text}; a program whose true effect sits near the significance bound "
                                   "would be paid about half the time."))
            else:
                items.append(_item("Threshold below the minimum detectable effect",
                                   f"The condition \"{threshold_text(ctx, th)}\" is below the smallest effect the "
                                   f"evaluation can reliably detect{mde_text}: for a program whose true effect is "
                                   "near this threshold, whether it is met is close to a coin flip."))
    for name, p in (pricing.get("payors") or {}).items():
        if isinstance(p, Mapping) and p.get("pays_more_than_benefit"):
            items.append(_item(f"Wrong pockets ({name})",
                               f"The payor {name} is expected to pay {money(ctx, p.get('payment'))} (present value) "
                               f"for an expected benefit to it of {money(ctx, p.get('benefit'))}: the savings land "
                               "in other budgets, so it has no budgetary reason to pay."))
    for note in pricing.get("notes") or []:
        items.append(_item("Pricing note", note))
    return items


def add_limitations(ctx: ReportContext) -> None:
    """``sec-limitations``."""
    run = ctx.run
    ctx.doc.heading("Limitations", label="sec-limitations")
    items = _rd_items(ctx) if run.design_type == "rd" else _did_items(ctx) if run.design_type == "did" else []
    items += _pricing_items(ctx)
    if ctx.suppressed_cells:
        items.append(_item("Privacy", f"{ctx.suppressed_cells} table cell{'s' if ctx.suppressed_cells != 1 else ''} "
                           f"describing fewer than {ctx.min_cell} students "
                           f"{'are' if ctx.suppressed_cells != 1 else 'is'} suppressed (‡), with complementary cells "
                           "where a total would reveal them."))
    cert = run.certificate
    if cert is None:
        items.append(_item("Not yet verified", "No validator's certificate accompanies the run."))
    elif cert.get("verdict") != "verified":
        reasons = "; ".join(str(r) for r in cert.get("reasons") or [])
        items.append(_item("Verification failed", f"The validator's verdict is {verdict_name(cert.get('verdict'))}"
                           + (f": {reasons}" if reasons else "") + "."))
    ctx.doc.paragraph("Each item below is drawn from the run's own records: the checks, the estimators' warnings and "
                      "the pricing analysis.")
    ctx.doc.bullets(items)

"""Pay-for-Success pricing: the contract, the estimates it pays on, the probability each threshold is met, the
payments and their distribution, investor returns, each payor's benefit against its payment (the wrong-pockets
flag) and the benefit–cost ratio."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from cteimpact.reporting.formatting import (
    MISSING,
    format_count,
    format_number,
    format_percent,
    format_ratio,
)
from cteimpact.reporting.markdown import md
from cteimpact.reporting.rundir import finite
from cteimpact.reporting.sections.context import ReportContext
from cteimpact.reporting.sections.pricing_words import money, outcome_name, threshold_text, thresholds
from cteimpact.reporting.wording import ci_type_name

__all__ = ["add_pricing"]


def _right(frame: pd.DataFrame, *columns: str) -> dict[str, str]:
    return {c: "right" for c in columns if c in frame.columns}


def _plain(v: Any) -> str:
    """An input parameter as given (``0.03``, ``9,932``), not rounded to significant digits."""
    x = finite(v)
    if x is None:
        return MISSING if v is None else str(v)
    return format_count(x) if x == int(x) and abs(x) >= 1 else f"{x:.6g}"


def _yes(flag: Any) -> str:
    return "yes" if flag is True else ("no" if flag is False else MISSING)


def _contract(ctx: ReportContext, pricing: Mapping[str, Any]) -> None:
    doc = ctx.doc
    contract = pricing.get("contract") or {}
    spec = pricing.get("contract_spec") or {}
    rate = format_percent(finite(contract.get("discount_rate")))
    doc.paragraph(md(
        "Contract: *{}* ({} of {}; discounted at {} a year over {} years). Payments are computed from the design's "
        "estimates: the effect per student times the students served, never gross outcomes unless the contract says "
        "so.", contract.get("name"), contract.get("currency") or "USD", contract.get("dollar_year") or MISSING, rate,
        contract.get("years") or MISSING))
    rows = []
    for o in spec.get("outcomes") or []:
        if not isinstance(o, Mapping):
            continue
        pay = o.get("payment") or {}
        kind = str(pay.get("kind") or MISSING).replace("_", " ")
        price = finite(pay.get("price"))
        terms = kind + (f", {money(ctx, price)} per outcome" if price is not None else "")
        if pay.get("basis"):
            terms += f" ({pay.get('basis')} basis)"
        rows.append({"Outcome paid for": outcome_name(o.get("name")), "Estimate": str(o.get("estimate")),
                     "Good direction": str(o.get("direction") or MISSING), "Payment": terms,
                     "Significance required": _yes(pay.get("require_significance"))})
    if rows:
        ctx.table(pd.DataFrame(rows), caption="Outcomes the contract pays for", label="tbl-contract-outcomes")
    payors = [p for p in spec.get("payors") or [] if isinstance(p, Mapping)]
    if payors:
        frame = pd.DataFrame([{"Payor": str(p.get("name")), "Level": str(p.get("level") or MISSING),
                               "Share of payments": format_percent(finite(p.get("share")), decimals=0)}
                              for p in payors])
        ctx.table(frame, caption="Payors and their shares", label="tbl-contract-payors")


def _estimates(ctx: ReportContext, pricing: Mapping[str, Any]) -> None:
    rows = []
    for e in pricing.get("estimates") or []:
        if not isinstance(e, Mapping):
            continue
        info = ctx.info_for_label(str(e.get("label")))
        se = e.get("std_error")
        rows.append({"Outcome": outcome_name(e.get("outcome")), "Estimate": str(e.get("label")),
                     "Centre": info.effect(e.get("centre"), se), "SE": info.se(se),
                     f"{ctx.level_text} CI": info.ci(e.get("ci_lower"), e.get("ci_upper"), se),
                     "Interval": ci_type_name(e.get("ci_type")), "MDE": info.effect(e.get("mde"))})
    if not rows:
        return
    sim = pricing.get("simulation") or {}
    frame = pd.DataFrame(rows)
    sources = "; ".join(str(e.get("mde_source")) for e in pricing.get("estimates") or []
                        if isinstance(e, Mapping) and e.get("mde_source"))
    ctx.table(frame, caption="Estimates the payments are computed from", label="tbl-priced-estimates",
              align=_right(frame, "Centre", "SE", f"{ctx.level_text} CI", "MDE"),
              note=md("Payments are simulated from {} draws (seed {}) of the estimates' {} sampling distribution: "
                      "centre {}; scale {}. MDE: minimum detectable effect at 80% power{}.",
                      format_count(sim.get("draws")), ctx.code(sim.get("seed")), sim.get("family") or "normal",
                      sim.get("centre"), sim.get("scale"), f" ({sources})" if sources else ""))


def _thresholds(ctx: ReportContext) -> None:
    rows = []
    for th in thresholds(ctx):
        label = str(th.get("estimate") or "")
        info = ctx.info_for_label(label) if label else None
        mde = finite(th.get("mde"))
        rows.append({"Condition": threshold_text(ctx, th), "Met at the estimate": _yes(th.get("met_at_estimate")),
                     "P(met)": format_percent(finite(th.get("p_met"))),
                     "P(met), normal": format_percent(finite(th.get("p_met_closed_form"))),
                     "MDE": info.size(mde) if info is not None and mde is not None else MISSING,
                     "Below the MDE": _yes(th.get("below_mde"))})
    if not rows:
        return
    frame = pd.DataFrame(rows)
    ctx.table(frame, caption="Payment thresholds: whether each is met at the estimate, and how likely",
              label="tbl-thresholds", widths=[40, 12, 10, 12, 16, 10],
              note="Met at the estimate: what a certified result triggers. P(met): share of the simulated draws that "
                   "meet the condition (with its significance requirement); normal: the same probability from the "
                   "estimate's normal distribution. A threshold below the evaluation's minimum detectable effect is "
                   "met or missed almost by chance.")


def _payments(ctx: ReportContext, pricing: Mapping[str, Any]) -> None:
    pay = pricing.get("payments") or {}
    q = pay.get("quantiles") or {}
    rows = [
        ("Payment at the point estimate (nominal)", money(ctx, pay.get("at_estimate"))),
        ("Payment at the point estimate (present value)", money(ctx, pay.get("npv_at_estimate"))),
        ("Expected payment (nominal)", money(ctx, pay.get("expected"))),
        ("Expected payment (present value)", money(ctx, pay.get("expected_npv"))),
    ]
    for k in sorted(q, key=lambda v: float(v)):
        rows.append((f"{float(k):g}th percentile of payments", money(ctx, q[k])))
    rows.append(("Probability of any payment", format_percent(finite(pay.get("p_any")))))
    caps = {"outcome_caps": "an outcome's cap", "per_student": "the per-student cap", "project": "the project cap"}
    for cap, p in (pay.get("p_cap_binds") or {}).items():
        rows.append((f"Probability {caps.get(str(cap), str(cap).replace('_', ' '))} binds", format_percent(finite(p))))
    frame = pd.DataFrame(rows, columns=["Quantity", "Value"])
    ctx.table(frame, caption="Payments: at the estimate and over its uncertainty", label="tbl-payments",
              align={"Value": "right"})
    by_year = pay.get("by_year_at_estimate") or []
    payors = pricing.get("payors") or {}
    if by_year:
        data: dict[str, list[str]] = {"Year": [str(i) for i in range(len(by_year))],
                                      "Total": [money(ctx, v) for v in by_year]}
        for name, p in payors.items():
            years = (p or {}).get("payment_by_year_at_estimate") or []
            if len(years) == len(by_year):
                data[str(name)] = [money(ctx, v) for v in years]
        frame = pd.DataFrame(data)
        ctx.table(frame, caption="Payments due by contract year at the point estimate (nominal)",
                  label="tbl-payments-by-year", align=_right(frame, *[c for c in data if c != "Year"]))
    ctx.figure("pricing-distribution.png", label="fig-pricing-distribution",
               caption="Distribution of the total payment over the simulated draws of the estimates")
    ctx.figure("pricing-curve.png", label="fig-pricing-curve",
               caption="Payment as a function of the effect: the contract's schedule against the estimate's "
                       "sampling distribution")


def _investors(ctx: ReportContext, pricing: Mapping[str, Any]) -> None:
    inv = pricing.get("investors")
    if not isinstance(inv, Mapping):
        return
    doc = ctx.doc
    doc.heading("Investor returns", level=2, label="sec-investors")
    irr = pricing.get("irr") or {}
    moic = inv.get("moic") or {}
    iq = irr.get("quantiles") or {}
    mq = moic.get("quantiles") or {}

    def pct_q(qs: Mapping[str, Any]) -> str:
        return " / ".join(format_percent(finite(qs.get(k)), decimals=1) for k in ("5", "50", "95"))

    rows = [
        ("Capital invested", money(ctx, inv.get("invested"))),
        ("Received at the point estimate", money(ctx, inv.get("received_at_estimate"))),
        ("Expected received", money(ctx, inv.get("expected_received"))),
        ("Multiple on invested capital: at the estimate", format_ratio(finite(moic.get("at_estimate")))),
        ("Multiple: expected", format_ratio(finite(moic.get("expected")))),
        ("Multiple: 5th / 50th / 95th percentile",
         " / ".join(format_ratio(finite(mq.get(k))) for k in ("5", "50", "95"))),
        ("IRR at the point estimate", format_percent(finite(irr.get("at_estimate")))),
        ("IRR: 5th / 50th / 95th percentile", pct_q(iq)),
        ("Probability of a loss", format_percent(finite(pricing.get("p_investor_loss")))),
        ("Expected loss", money(ctx, inv.get("expected_loss"))),
        ("Largest possible loss", money(ctx, inv.get("max_loss"))),
    ]
    be = finite(pricing.get("break_even_effect"))
    if be is not None:
        primary = next((e for e in pricing.get("estimates") or [] if isinstance(e, Mapping)), None)
        info = ctx.info_for_label(str(primary.get("label"))) if primary else None
        rows.append(("Break-even effect", info.effect(be) if info else format_number(be)))
    frame = pd.DataFrame(rows, columns=["Quantity", "Value"])
    ctx.table(frame, caption="Investors: what they put in and what they get back", label="tbl-investors",
              align={"Value": "right"},
              note=f"IRR: internal rate of return (a total loss counts as -100%). Break-even: "
                   f"{pricing.get('break_even_basis') or 'the effect at which investors recover capital'}.")
    tranches = inv.get("tranches") or {}
    if tranches:
        frame = pd.DataFrame([{"Tranche": str(name), "Kind": str(t.get("kind")).replace("_", " "),
                               "Principal": money(ctx, t.get("principal")),
                               "Return cap": format_percent(finite(t.get("return_cap"))),
                               "Expected multiple": format_ratio(finite(t.get("expected_multiple"))),
                               "P(loss)": format_percent(finite(t.get("p_loss"))),
                               "Expected loss": money(ctx, t.get("expected_loss"))}
                              for name, t in tranches.items() if isinstance(t, Mapping)])
        ctx.table(frame, caption="Capital stack", label="tbl-tranches",
                  align=_right(frame, "Principal", "Return cap", "Expected multiple", "P(loss)", "Expected loss"))


def _payors(ctx: ReportContext, pricing: Mapping[str, Any]) -> None:
    payors = pricing.get("payors") or {}
    if not payors:
        return
    doc = ctx.doc
    doc.heading("Who pays and who benefits", level=2, label="sec-payors")
    rows = []
    for name, p in payors.items():
        if not isinstance(p, Mapping):
            continue
        flag = p.get("pays_more_than_benefit")
        rows.append({"Payor": str(name), "Level": str(p.get("level") or MISSING),
                     "Expected payment (PV)": money(ctx, p.get("payment")),
                     "Expected benefit (PV)": money(ctx, p.get("benefit")),
                     "Net benefit": money(ctx, p.get("net_benefit")),
                     "P(payment > benefit)": format_percent(finite(p.get("p_payment_exceeds_benefit"))),
                     "Wrong pockets": "YES" if flag else ("no" if flag is False else MISSING)})
    frame = pd.DataFrame(rows)
    ctx.table(frame, caption="Each payor's expected payment against the expected benefit to it",
              label="tbl-payors",
              align=_right(frame, "Expected payment (PV)", "Expected benefit (PV)", "Net benefit",
                           "P(payment > benefit)"),
              note="Present values at the contract's discount rate. Wrong pockets: the payor is expected to pay more "
                   "than the program saves or earns it, so it has no budgetary reason to sign.")
    ctx.figure("pricing-payors.png", label="fig-pricing-payors", width="70%",
               caption="Expected payment and expected benefit of each payor (present values)")


def _benefits(ctx: ReportContext, pricing: Mapping[str, Any]) -> None:
    b = pricing.get("benefits")
    if not isinstance(b, Mapping):
        return
    doc = ctx.doc
    doc.heading("Benefits and costs", level=2, label="sec-benefit-cost")
    rows = [(str(k).replace("_", " "), money(ctx, v)) for k, v in (b.get("by_beneficiary_at_estimate") or {}).items()]
    rows += [
        ("Total benefits at the estimate", money(ctx, b.get("total_at_estimate"))),
        ("Expected total benefits", money(ctx, b.get("expected_total"))),
        ("Program costs (present value)", money(ctx, b.get("cost_pv"))),
        ("Net benefit at the estimate", money(ctx, b.get("net_benefit_at_estimate"))),
        ("Benefit–cost ratio at the estimate", format_ratio(finite(b.get("benefit_cost_ratio")))),
        ("Probability benefits exceed costs", format_percent(finite(b.get("p_benefits_exceed_costs")))),
    ]
    for rate, ratio in (b.get("benefit_cost_ratio_by_discount_rate") or {}).items():
        rows.append((f"Benefit–cost ratio at a {format_percent(float(rate), decimals=0)} discount rate",
                     format_ratio(finite(ratio))))
    frame = pd.DataFrame(rows, columns=["Beneficiary or quantity", "Value"])
    ctx.table(frame, caption=f"Benefits by beneficiary and the benefit–cost ratio ({b.get('dollar_year')} dollars, "
                             f"present values at {format_percent(finite(b.get('discount_rate')))})",
              label="tbl-benefits", align={"Value": "right"},
              note=md("Costs: {}. Benefits follow the assumptions in {}.",
                      b.get("cost_basis") or "as given by the contract", ctx.ref("tbl-benefit-parameters")))
    w = b.get("wsipp_cte_academies")
    if isinstance(w, Mapping):
        doc.paragraph(
            "For comparison, the Washington State Institute for Public Policy reports for career and technical "
            f"education academies a benefit–cost ratio of {format_ratio(finite(w.get('benefit_cost_ratio')))} and a "
            f"{format_percent(finite(w.get('p_benefits_exceed_costs')), decimals=0)} chance that benefits exceed "
            "costs (per participant, its own dollar year).")
    params = b.get("parameters") or {}
    prows = []
    for key, p in params.items():
        if not isinstance(p, Mapping):
            continue
        value = p.get("value")
        text = ", ".join(_plain(v) for v in value) if isinstance(value, list) else _plain(value)
        prows.append({"Parameter": str(key), "Value": text, "Unit": str(p.get("unit") or ""),
                      "Source": str(p.get("source") or "") + (" (overridden by the contract)" if p.get("overridden")
                                                               else "")})
    if prows:
        ctx.table(pd.DataFrame(prows), caption="Assumptions of the benefit calculation, with their sources",
                  label="tbl-benefit-parameters", widths=[31, 11, 20, 38])


def add_pricing(ctx: ReportContext) -> None:
    """``sec-pricing`` (only when the run priced a contract)."""
    pricing = ctx.run.pricing
    if pricing is None:
        return
    doc = ctx.doc
    doc.heading("Pay-for-Success pricing", label="sec-pricing")
    _contract(ctx, pricing)
    doc.heading("Payments", level=2, label="sec-payments")
    _estimates(ctx, pricing)
    _thresholds(ctx)
    _payments(ctx, pricing)
    _investors(ctx, pricing)
    _payors(ctx, pricing)
    _benefits(ctx, pricing)
    contract = pricing.get("contract") or {}
    items = [str(n) for n in pricing.get("notes") or []]
    items += [f"Assumed: {a}" for a in contract.get("assumptions") or []]
    items += [f"Source: {s}" for s in contract.get("sources") or []]
    if items:
        doc.heading("Contract notes, assumptions and sources", level=2, label="sec-pricing-notes")
        doc.bullets(items)

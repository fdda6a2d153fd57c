"""The result of pricing a contract: :class:`PricingResults` (immutable).

``to_dict()`` carries at its top level the keys of the ``cteimpact price --json`` contract: ``expected_payment``,
``payment_quantiles`` (``"5"``, ``"50"``, ``"95"``), ``p_any_payment``, ``thresholds`` (each with ``p_met``),
``irr`` (``at_estimate``, ``quantiles``), ``p_investor_loss``, ``break_even_effect``, ``payors`` (each with
``benefit`` and ``payment``) and ``benefit_cost_ratio``; the rest of the analysis follows under its own keys.

Definitions
-----------
``expected_payment``, ``payment_quantiles``
    Mean and 5/50/95% quantiles over the draws of the total nominal payment of all payors (``payments`` also
    gives the expected NPV at the contract's discount rate).
``p_any_payment``
    Share of draws in which anything is paid.
``thresholds``
    Every schedule tier, minimum effect and significance requirement: ``p_met`` (share of draws meeting it, with
    its significance requirement), ``p_met_closed_form`` (the same probability from the estimate's normal or t
    marginal), the evaluation's minimum detectable effect in the threshold's measure (``mde``) and in the
    estimate's units (``mde_improvement``), ``below_mde``, ``met_at_estimate`` (whether the point estimate itself
    meets it: what a certified result would trigger). Two different questions are kept apart: what the *study*
    can detect — ``power_at_threshold`` (probability the estimate is significant if the true improvement sits at
    the threshold) and ``p_met_if_true_at_threshold`` (probability the condition is met then: one half for a
    threshold without significance, the "coin flip" of a threshold below the MDE) — and what *this estimate*
    shows: ``power_at_estimate``, ``estimate_margin_se`` (how many standard errors the estimate's improvement
    lies beyond ``bound_improvement``, the improvement the condition really asks for) and ``estimate_position``
    (``clearly_beyond`` / ``clearly_short`` when the estimate's 1 - alpha interval lies wholly on one side of the
    bound, ``within_uncertainty`` otherwise). A threshold below the MDE met with P(met) = 100% is the first case
    with an estimate clearly beyond it.
``estimates``
    One entry per priced estimate, naming it once: the contract's outcome (``outcome``) and its estimate label
    (``contract_estimate``), the results label it was priced on (``label``, ``term``), the single value "at the
    estimate" payments use (``centre``) and which it is (``centre_kind``: ``reported_estimate`` — the results
    row's estimate —, ``bias_corrected`` — the robust bias-corrected centre of an RD estimate, whose
    conventional estimate is ``reported_estimate`` — or ``distribution_centre``), the standard error the draws use
    (``std_error``), the outcome's scale, its admissible effects and the share of draws beyond them (priced at
    the bound).
``payments.caps``, ``payments.p_cap_binds``
    Every cap that can bind — an earnings-linked payment's per-student cap, an outcome's cap, the contract's
    per-student and project caps — with the share of draws in which it binds (the amount before it exceeds it),
    whether it binds at the estimate and the effect beyond which it binds; ``p_cap_binds`` by kind and ``any``
    (``null`` where the contract has no such cap).
``curve``
    Payment against the primary outcome's effect (the others at their centres) as a polyline: at each ``breaks``
    entry (where significance, a minimum effect or a step tier switches payments on or up) the effect appears
    twice, with the payment just short of the break and at it, so that a jump is drawn as a vertical step.
``investors.max_loss``
    What investors lose if no outcome payment is made, after guarantees: the most they can lose under the terms
    (capital at risk). ``max_simulated_loss`` is the largest loss in the draws, ``p_loss`` the probability of any
    loss and ``expected_loss`` the mean loss.
``irr``
    Investors' (all loans and equity together; recoverable grants excluded) internal rate of return at the centre
    of the sampling distribution (``at_estimate``) and its quantiles over the draws where it exists (a total loss
    counts as -100%); see :mod:`cteimpact.pricing.finance` for the conventions.
``p_investor_loss``
    Share of draws in which investors receive (outcome payments plus guarantees, undiscounted) less than they put
    in.
``break_even_effect``
    Effect of the primary outcome, in the estimate's units with the other outcomes at their centres, at which
    investors get exactly their capital back (IRR 0); without financing, at which the payments' NPV equals the PV
    of costs.
``payors``
    Each payor's expected payment (PV at its discount rate) and expected benefit to it (PV of the benefits of its
    level, e.g. ``state``), and whether it pays more than it gains (the wrong-pockets problem).
``benefit_cost_ratio``
    PV of all benefits at the centre over the PV of the program's costs (``[costs]``, or the capital drawn).
    Each payor also carries ``benefit_cost_ratio`` (its expected benefit over its expected payment, present
    values) and ``benefit_by_stream_at_estimate``.
``benefits.streams``
    Every benefit stream: what it values (``label``; ``projected`` when it is the stream's own estimate, such as
    a surrogate-index projection ``earnings_age26[surrogate]``, drawn with the other estimates so that its
    uncertainty is in ``expected_pv`` and ``pv_quantiles``; ``null`` quantiles for a stream on a paid outcome's
    effect), its value per unit by beneficiary, and its present value at the estimate and expected over the draws,
    by beneficiary.
``gross_vs_impact``
    For every outcome, whatever its payment: students achieving it (``gross_outcomes``: the level without the
    program plus the effect, in the good direction, times the students served), the outcomes the program caused
    (``impact_outcomes``: effect times students) and their difference (``deadweight_outcomes``: those who would
    have achieved it anyway); for a rate card, what a plain rate card at its price (times its years, no
    conditions or caps) would pay on each (``gross_payment``, ``impact_payment`` on the positive part of the
    impact, ``deadweight_payment``), at the estimate and expected over the draws. ``level_without_program`` and
    ``level_source`` say where the level comes from: the contract's ``baseline``, else the control-side level the
    results report (an RD fit's local fit just below the cutoff); without either the gross numbers are ``null``.
``equity``
    ``null`` without equity terms. ``premiums``: each equity premium's group estimate (``label``,
    ``group_centre``, ``group_std_error``), the premium paid at the estimate and expected (part of the outcome's
    payment, after its conditions and caps) and the share of draws paying one. ``floors``: each equity floor, the
    share of draws meeting it (``p_met``; payments are withheld in the others), its normal closed form
    ``F((improvement - bound) / SE)`` and whether the estimate meets it.

``tidy()`` rows (columns ``quantity``, ``group``, ``statistic``, ``value``) added with these blocks:
``("payor", name, "benefit_cost_ratio")``; ``("gross_vs_impact", outcome, S)`` with ``S`` one of
``gross_outcomes``, ``impact_outcomes``, ``deadweight_outcomes``, ``gross_payment``, ``impact_payment``,
``deadweight_payment`` suffixed ``_at_estimate`` or ``_expected``; ``("equity_premium", "outcome:group", S)``
with ``S`` in ``rate``, ``expected_paid``, ``paid_at_estimate``, ``p_paid``; ``("equity_floor",
"outcome:group", S)`` with ``S`` in ``floor``, ``p_met``, ``p_met_closed_form``, ``met_at_estimate`` (1 or 0);
``("benefit_stream", name, S)`` with ``S`` in ``pv_at_estimate``, ``expected_pv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.pricing.contract import Contract
from cteimpact.results.serialization import to_jsonable
from cteimpact.results.text import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PRICING_SCHEMA", "PRICING_TIDY_COLUMNS", "PricingResults"]

PRICING_SCHEMA = "cteimpact.pricing/1"
PRICING_TIDY_COLUMNS: tuple[str, ...] = ("quantity", "group", "statistic", "value")
"""The fixed schema of :meth:`PricingResults.tidy`."""


def _money(x: float | None) -> str:
    return "NA" if x is None else f"{x:,.0f}"


def _pct(x: float | None, digits: int = 1) -> str:
    return "NA" if x is None else f"{x * 100:.{digits}f}%"


_POSITION_TEXT = {"clearly_beyond": "the estimate is clearly beyond it",
                  "clearly_short": "the estimate is clearly short of it",
                  "within_uncertainty": "the estimate is within its uncertainty"}
"""A threshold's ``estimate_position`` in words (the summary's flag for a threshold below the MDE)."""


@dataclass(frozen=True)
class PricingResults:
    """Payments, investor returns and benefits of a contract priced on estimates (see the module docstring)."""

    contract: Contract
    draws: int
    seed: int | None
    distribution: Mapping[str, Any]
    evaluation: Mapping[str, Any]
    estimates: tuple[Mapping[str, Any], ...]
    thresholds: tuple[Mapping[str, Any], ...]
    payments: Mapping[str, Any]
    outcomes: Mapping[str, Any]
    payors: Mapping[str, Any]
    investors: Mapping[str, Any] | None
    irr: Mapping[str, Any]
    p_investor_loss: float | None
    break_even_effect: float | None
    break_even_effects: Mapping[str, float | None]
    break_even_basis: str
    curve: Mapping[str, Any]
    benefits: Mapping[str, Any] | None
    benefit_cost_ratio: float | None
    notes: tuple[str, ...]
    years: int
    _payment_draws: np.ndarray = field(repr=False)
    _irr_draws: np.ndarray | None = field(repr=False, default=None)
    gross_vs_impact: Mapping[str, Any] = field(default_factory=dict)
    equity: Mapping[str, Any] | None = None

    # -- headline numbers ------------------------------------------------------------------------------
    @property
    def expected_payment(self) -> float:
        """Mean total (nominal) payment over the draws."""
        return float(self.payments["expected"])

    @property
    def payment_quantiles(self) -> dict[str, float | None]:
        return dict(self.payments["quantiles"])

    @property
    def p_any_payment(self) -> float:
        return float(self.payments["p_any"])

    @property
    def payment_draws(self) -> np.ndarray:
        """Total payment of each draw (read-only)."""
        return self._payment_draws

    @property
    def irr_draws(self) -> np.ndarray | None:
        """Investors' IRR on each draw (NaN where undefined), read-only."""
        return self._irr_draws

    # -- contract outputs ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content at full precision (no timestamps); the command-line keys come first."""
        payors = {name: {"benefit": p.get("benefit"), "payment": p["payment"],
                         **{k: v for k, v in p.items() if k not in ("benefit", "payment")}}
                  for name, p in self.payors.items()}
        c = self.contract.contract
        return to_jsonable({
            "schema": PRICING_SCHEMA,
            "expected_payment": self.expected_payment,
            "payment_quantiles": self.payment_quantiles,
            "p_any_payment": self.p_any_payment,
            "thresholds": list(self.thresholds),
            "irr": dict(self.irr),
            "p_investor_loss": self.p_investor_loss,
            "break_even_effect": self.break_even_effect,
            "payors": payors,
            "benefit_cost_ratio": self.benefit_cost_ratio,
            "contract": {"name": c.name, "description": c.description, "currency": c.currency,
                         "dollar_year": c.dollar_year, "start_year": c.start_year, "discount_rate": c.discount_rate,
                         "primary_outcome": self.contract.primary_outcome.name,
                         "primary_label": self.curve.get("label"), "sources": c.sources,
                         "assumptions": c.assumptions, "years": self.years,
                         "students": self.contract.students, "cohorts": len(self.contract.cohorts)},
            "evaluation": dict(self.evaluation),
            "simulation": {"draws": self.draws, "seed": self.seed, "family": self.distribution.get("family"),
                           "joint": self.distribution.get("joint"), "df": self.distribution.get("df"),
                           "centre": self.distribution.get("centre"), "scale": self.distribution.get("scale"),
                           "outside_admissible": "draws beyond an outcome's admissible effects are priced at the "
                                                 "bound (censored); estimates[].p_draws_outside_admissible gives "
                                                 "their share"},
            "estimates": list(self.estimates),
            "payments": dict(self.payments),
            "outcomes": dict(self.outcomes),
            "investors": None if self.investors is None else dict(self.investors),
            "break_even_effects": dict(self.break_even_effects),
            "break_even_basis": self.break_even_basis,
            "benefits": None if self.benefits is None else dict(self.benefits),
            "gross_vs_impact": dict(self.gross_vs_impact),
            "equity": None if self.equity is None else dict(self.equity),
            "curve": dict(self.curve),
            "notes": list(self.notes),
            "contract_spec": self.contract.to_dict(),
        })

    def tidy(self) -> pd.DataFrame:
        """One row per reported number, columns :data:`PRICING_TIDY_COLUMNS`."""
        rows: list[tuple[str, str, str, float | None]] = []
        add = rows.append
        add(("payment", "total", "expected", self.expected_payment))
        add(("payment", "total", "expected_npv", self.payments["expected_npv"]))
        add(("payment", "total", "at_estimate", self.payments["at_estimate"]))
        for q, v in self.payment_quantiles.items():
            add(("payment", "total", f"q{q}", v))
        add(("payment", "total", "p_any", self.p_any_payment))
        for cap in self.payments["caps"]:
            add(("cap", cap["path"], "p_binds", cap["p_binds"]))
        add(("cap", "any", "p_binds", self.payments["p_cap_binds"]["any"]))
        for name, o in self.payments["by_outcome"].items():
            add(("payment", name, "expected", o["expected"]))
        for name, o in self.outcomes.items():
            add(("outcomes", name, "impact_at_estimate", o["impact_outcomes"]))
            add(("outcomes", name, "gross_at_estimate", o["gross_outcomes"]))
        for th in self.thresholds:
            grp = f"{th['outcome']}:{th['kind']}[{th['tier']}]"
            add(("threshold", grp, "at", th["at"]))
            add(("threshold", grp, "p_met", th["p_met"]))
            add(("threshold", grp, "p_met_closed_form", th["p_met_closed_form"]))
            add(("threshold", grp, "mde", th["mde"]))
        for e in self.estimates:
            add(("mde", e["outcome"], "mde", e["mde"]))
        for name, p in self.payors.items():
            add(("payor", name, "payment_pv", p["payment"]))
            add(("payor", name, "payment_nominal", p["payment_nominal"]))
            add(("payor", name, "benefit_pv", p.get("benefit")))
            add(("payor", name, "benefit_cost_ratio", p.get("benefit_cost_ratio")))
        for name, g in self.gross_vs_impact.items():
            for when, block in (("at_estimate", g["at_estimate"]), ("expected", g["expected"])):
                for key in ("gross_outcomes", "impact_outcomes", "deadweight_outcomes", "gross_payment",
                            "impact_payment", "deadweight_payment"):
                    add(("gross_vs_impact", name, f"{key}_{when}", block[key]))
        if self.equity is not None:
            for pr in self.equity["premiums"]:
                grp = f"{pr['outcome']}:{pr['group']}"
                add(("equity_premium", grp, "rate", pr["rate"]))
                add(("equity_premium", grp, "expected_paid", pr["expected_paid"]))
                add(("equity_premium", grp, "paid_at_estimate", pr["paid_at_estimate"]))
                add(("equity_premium", grp, "p_paid", pr["p_paid"]))
            for fl in self.equity["floors"]:
                grp = f"{fl['outcome']}:{fl['group']}"
                add(("equity_floor", grp, "floor", fl["floor"]))
                add(("equity_floor", grp, "p_met", fl["p_met"]))
                add(("equity_floor", grp, "p_met_closed_form", fl["p_met_closed_form"]))
                add(("equity_floor", grp, "met_at_estimate", float(fl["met_at_estimate"])))
        add(("irr", "investors", "at_estimate", self.irr.get("at_estimate")))
        for q, v in self.irr.get("quantiles", {}).items():
            add(("irr", "investors", f"q{q}", v))
        add(("investors", "all", "p_loss", self.p_investor_loss))
        if self.investors is not None:
            add(("investors", "all", "invested", self.investors["invested"]))
            add(("investors", "all", "expected_received", self.investors["expected_received"]))
            add(("investors", "all", "expected_multiple", self.investors["moic"]["expected"]))
            add(("investors", "all", "max_loss", self.investors["max_loss"]))
            add(("investors", "all", "max_simulated_loss", self.investors["max_simulated_loss"]))
        for name, v in self.break_even_effects.items():
            add(("break_even", name, "effect", v))
        add(("benefits", "all", "benefit_cost_ratio", self.benefit_cost_ratio))
        if self.benefits is not None:
            add(("benefits", "all", "p_benefits_exceed_costs", self.benefits["p_benefits_exceed_costs"]))
            for b, v in self.benefits["by_beneficiary_at_estimate"].items():
                add(("benefits", b, "pv_at_estimate", v))
            for st in self.benefits["streams"]:
                add(("benefit_stream", st["name"], "pv_at_estimate", st["pv_at_estimate"]))
                add(("benefit_stream", st["name"], "expected_pv", st["expected_pv"]))
        frame = pd.DataFrame(rows, columns=list(PRICING_TIDY_COLUMNS))
        frame["value"] = frame["value"].astype(float)
        return frame

    def summary(self) -> str:
        """A plain-text report: one section per part of the analysis (see the ``_summary_*`` helpers)."""
        lines: list[str] = []
        for section in (self._summary_header, self._summary_estimates, self._summary_outcomes,
                        self._summary_gross_vs_impact, self._summary_thresholds, self._summary_equity,
                        self._summary_payments, self._summary_payors,
                        self._summary_investors, self._summary_break_even, self._summary_benefits,
                        self._summary_notes):
            lines += section()
        return "\n".join(lines)

    def _summary_header(self) -> list[str]:
        """The contract's name and description and how the draws were made."""
        c = self.contract.contract
        lines = [f"Pay-for-Success pricing: {c.name}", ""]
        if c.description:
            lines += [c.description, ""]
        fam = self.distribution.get("family")
        joint = self.distribution.get("joint")
        lines.append(f"Monte Carlo: {self.draws:,} draws (seed {self.seed}) from the estimates' sampling "
                     f"distribution ({fam}; centre: {self.distribution.get('centre')}; scale: "
                     f"{self.distribution.get('scale')})"
                     + ("" if joint or len(self.estimates) < 2 else "; outcomes drawn as independent"))
        return lines

    def _summary_estimates(self) -> list[str]:
        """Each priced estimate: centre, standard error, interval, MDE and draws beyond the admissible effects."""
        lines = ["", "Estimates priced"]
        for e in self.estimates:
            ci = ("" if e["ci_lower"] is None else
                  f", {round((e['ci_level'] or 0.95) * 100)}% CI [{format_number(e['ci_lower'])}, "
                  f"{format_number(e['ci_upper'])}] ({e['ci_type']})")
            kind = str(e.get("centre_kind", "")).replace("_", " ")
            lines.append(f"  {e['outcome']} ← '{e['label']}' ({e['direction']} is good): centre "
                         f"{format_number(e['centre'])} ({kind}), SE {format_number(e['std_error'])}{ci}; MDE "
                         f"{format_number(e['mde'])}")
            if e.get("p_draws_outside_admissible"):
                lines.append(f"    {e['p_draws_outside_admissible']:.2%} of draws beyond what a {e['scale']} allows "
                             "(priced at the bound)")
        return lines

    def _summary_outcomes(self) -> list[str]:
        """Outcomes attributable and achieved at the estimate, and what each pays."""
        cur = self.contract.contract.currency
        lines = ["", "Outcomes at the estimate (impact = attributable to the program; gross = all achieved)"]
        for name, o in self.outcomes.items():
            gross = "NA" if o["gross_outcomes"] is None else f"{o['gross_outcomes']:,.1f}"
            lines.append(f"  {name}: impact {o['impact_outcomes']:,.1f}, gross {gross}; {o['kind']}"
                         + (f" ({o['basis']} basis)" if o["basis"] else "")
                         + f"; pays {_money(o['payment_at_estimate'])} {cur}")
        return lines

    def _summary_gross_vs_impact(self) -> list[str]:
        """What a plain rate card would pay on gross outcomes next to impact, and the deadweight between them."""
        if not self.gross_vs_impact:
            return []
        cur = self.contract.contract.currency
        lines = ["", "Gross vs impact at the estimate (what a plain rate card would pay on every student achieving "
                     "the outcome, against the outcomes the program caused; the difference is the deadweight)"]
        for name, g in self.gross_vs_impact.items():
            at = g["at_estimate"]
            if at["gross_outcomes"] is None:
                lines.append(f"  {name}: impact {at['impact_outcomes']:,.1f} outcomes; gross not counted "
                             f"(level without the program: {g['level_source']})")
                continue
            text = (f"  {name}: gross {at['gross_outcomes']:,.1f}, impact {at['impact_outcomes']:,.1f}, deadweight "
                    f"{at['deadweight_outcomes']:,.1f} outcomes")
            if g["price_per_outcome"] is not None:
                text += (f"; at {_money(g['price_per_outcome'])} {cur} each: gross {_money(at['gross_payment'])}, "
                         f"impact {_money(at['impact_payment'])}, deadweight {_money(at['deadweight_payment'])} "
                         f"(expected over the draws: deadweight {_money(g['expected']['deadweight_payment'])})")
            lines.append(text)
            lines.append(f"    level without the program {g['level_without_program']:.4g}: {g['level_source']}")
        return lines

    def _summary_equity(self) -> list[str]:
        """The equity premiums paid and the equity floors' probabilities."""
        if self.equity is None:
            return []
        cur = self.contract.contract.currency
        lines = ["", "Equity terms"]
        for pr in self.equity["premiums"]:
            lines.append(f"  premium on {pr['outcome']} for {pr['group']} ({pr['label']}, "
                         f"{format_number(pr['group_centre'])}, SE {format_number(pr['group_std_error'])}): rate "
                         f"{pr['rate']:.0%} on {pr['share']:.0%} of students; paid {_money(pr['paid_at_estimate'])} "
                         f"{cur} at the estimate, expected {_money(pr['expected_paid'])}; P(paid) = "
                         f"{pr['p_paid']:.3f}")
        for fl in self.equity["floors"]:
            sig = " and significant" if fl["require_significance"] else ""
            what = "every payment" if fl["withhold"] == "contract" else f"the {fl['outcome']} payment"
            lines.append(f"  floor on {fl['outcome']} for {fl['group']} ({fl['label']}): improvement ≥ "
                         f"{fl['floor']:.4g}{sig}, else {what} withheld; P(floor met) = {fl['p_met']:.3f} (normal "
                         f"closed form {fl['p_met_closed_form']:.3f}); met at the estimate: "
                         f"{'yes' if fl['met_at_estimate'] else 'no'}")
        return lines

    def _summary_thresholds(self) -> list[str]:
        """Each threshold with P(met), its MDE and a flag where it lies below the MDE."""
        if not self.thresholds:
            return []
        lines = ["", "Thresholds"]
        for th in self.thresholds:
            p_true = th["p_met_if_true_at_threshold"]
            flip = " (a coin flip)" if 0.4 <= p_true <= 0.6 else ""
            flag = (f"  ← below the MDE: met with probability {p_true:.0%}{flip} were the true effect at the "
                    f"threshold; {_POSITION_TEXT[th['estimate_position']]}" if th["below_mde"] else "")
            sig = " and significant" if th["requires_significance"] else ""
            pay = "" if th["pay"] is None else f", pays {_money(th['pay'])}"
            which = f"tier {th['tier']}" if th["kind"] == "tier" else th["kind"].replace("_", " ")
            lines.append(f"  {th['outcome']} {which}: improvement ≥ {th['at']:.4g} "
                         f"({th['measure']}){sig}{pay}: P(met) = {th['p_met']:.3f} (normal closed form "
                         f"{th['p_met_closed_form']:.3f}); MDE {th['mde']:.4g}{flag}")
        return lines

    def _summary_payments(self) -> list[str]:
        """Expected and quantile payments, P(any payment), caps binding and the payment's jumps."""
        c = self.contract.contract
        p = self.payments
        q = p["quantiles"]
        lines = ["", f"Payments ({c.currency}, nominal)",
                 f"  expected {_money(p['expected'])} (NPV {_money(p['expected_npv'])} at "
                 f"{c.discount_rate:.1%}); at the estimate {_money(p['at_estimate'])}",
                 f"  5% / 50% / 95%: {_money(q['5'])} / {_money(q['50'])} / {_money(q['95'])}; "
                 f"P(any payment) = {p['p_any']:.3f}"]
        if p["caps"]:
            lines.append("  P(cap binds): " + ", ".join(f"{cap['path']} {cap['p_binds']:.3f}" for cap in p["caps"])
                         + f"; any cap {p['p_cap_binds']['any']:.3f}")
        for b in self.curve.get("breaks", []):
            lines.append(f"  the payment jumps at an effect of {format_number(b['effect'])} "
                         f"({', '.join(b['causes'])}): from {_money(b['payment_below'])} to {_money(b['payment_at'])}")
        return lines

    def _summary_payors(self) -> list[str]:
        """Each payor's payment and benefit (present values), flagging one that pays more than its benefit."""
        lines = ["", "Payors (present values)"]
        for name, pp in self.payors.items():
            ben = "benefit NA" if pp.get("benefit") is None else f"benefit {_money(pp['benefit'])}"
            flag = "  ← pays more than its own benefit" if pp.get("pays_more_than_benefit") else ""
            ratio = pp.get("benefit_cost_ratio")
            bcr = "" if ratio is None else f" (benefit/payment {ratio:.2f})"
            lines.append(f"  {name} ({pp['level']}): payment {_money(pp['payment'])}, {ben}{bcr}{flag}")
        return lines

    def _summary_investors(self) -> list[str]:
        """Investors' receipts, multiple, IRR and losses, each tranche and each guarantee (none without
        financing)."""
        if self.investors is None:
            return []
        inv = self.investors
        iq = self.irr.get("quantiles", {})
        lines = ["", "Investors",
                 f"  invested {_money(inv['invested'])}; expected received {_money(inv['expected_received'])} "
                 f"(multiple {inv['moic']['expected']:.3f}); at the estimate multiple "
                 f"{inv['moic']['at_estimate']:.3f}",
                 f"  IRR at the estimate {_pct(self.irr.get('at_estimate'), 2)}; 5% / 50% / 95%: "
                 f"{_pct(iq.get('5'), 2)} / {_pct(iq.get('50'), 2)} / {_pct(iq.get('95'), 2)}",
                 f"  P(loss) = {self.p_investor_loss:.3f}; expected loss {_money(inv['expected_loss'])}; "
                 f"maximum loss under the terms {_money(inv['max_loss'])} (if nothing is paid, after "
                 f"guarantees); largest loss in the draws {_money(inv['max_simulated_loss'])}"]
        for name, tr in inv["tranches"].items():
            lines.append(f"  {name} ({tr['kind']}): principal {_money(tr['principal'])}, expected multiple "
                         f"{tr['expected_multiple']:.3f}, P(loss) {tr['p_loss']:.3f}")
        for name, g in inv["guarantees"].items():
            lines.append(f"  guarantee {name} ({g['mode']}, {_money(g['amount'])} on {g['covers']}): expected "
                         f"payout {_money(g['expected_payout'])}, P(payout) {g['p_payout']:.3f}")
        return lines

    def _summary_break_even(self) -> list[str]:
        """The primary outcome's break-even effect and what it solves."""
        be = self.break_even_effect
        return ["", f"Break-even effect ({self.contract.primary_outcome.name}): "
                    f"{'none' if be is None else format_number(be, 6)} — {self.break_even_basis}"]

    def _summary_benefits(self) -> list[str]:
        """Benefits, costs and the benefit–cost ratio (by discount rate, by beneficiary, against WSIPP's); none
        without benefits."""
        if self.benefits is None:
            return []
        b = self.benefits
        ratio = "NA" if b["benefit_cost_ratio"] is None else f"{b['benefit_cost_ratio']:.2f}"
        lines = ["", f"Benefit–cost ({b['dollar_year']} dollars, discounted at {b['discount_rate']:.1%})",
                 f"  benefits at the estimate {_money(b['total_at_estimate'])}; costs "
                 f"{_money(b['cost_pv'])} ({b['cost_basis']})",
                 f"  benefit–cost ratio {ratio}; P(benefits > costs) = "
                 + ("NA" if b["p_benefits_exceed_costs"] is None else f"{b['p_benefits_exceed_costs']:.3f}"),
                 "  ratio by discount rate: " + ", ".join(
                     f"{float(k):.0%}: {'NA' if v is None else f'{v:.2f}'}"
                     for k, v in b["benefit_cost_ratio_by_discount_rate"].items()),
                 "  by beneficiary: " + ", ".join(f"{k} {_money(v)}" for k, v in
                                                  b["by_beneficiary_at_estimate"].items() if v != 0)]
        for st in b["streams"]:
            lines.append(f"  stream {st['name']}: {_money(st['pv_at_estimate'])} at the estimate, expected "
                         f"{_money(st['expected_pv'])}" + (" (a projected estimate: its uncertainty is in the draws)"
                                                           if st["projected"] else ""))
        w = b["wsipp_cte_academies"]
        lines.append(f"  for comparison, WSIPP (Dec 2023) reports for CTE academies a ratio of "
                     f"{w['benefit_cost_ratio']:.2f} and an {w['p_benefits_exceed_costs']:.0%} chance that "
                     f"benefits exceed costs (${w['taxpayer_benefits']:,.0f} to taxpayers, "
                     f"${w['participant_benefits']:,.0f} to participants per participant, 2022 dollars)")
        return lines

    def _summary_notes(self) -> list[str]:
        """The notes and the contract's stated assumptions."""
        if not (self.notes or self.contract.contract.assumptions):
            return []
        return (["", "Notes"] + [f"  - {n}" for n in self.notes]
                + [f"  - assumed: {a}" for a in self.contract.contract.assumptions])

    # -- plots -----------------------------------------------------------------------------------------
    def plot(self, kind: Literal["curve", "distribution", "payors"] = "curve", **kwargs: Any) -> Figure:
        """The payment-versus-effect curve (default), the payment distribution, or payor benefits vs payments."""
        from cteimpact.pricing import plots

        if kind == "curve":
            return plots.plot_payment_curve(self, **kwargs)
        if kind == "distribution":
            return plots.plot_payment_distribution(self, **kwargs)
        if kind == "payors":
            return plots.plot_payor_benefits(self, **kwargs)
        raise OptionError(f"plot kind must be 'curve', 'distribution' or 'payors', got {kind!r}")

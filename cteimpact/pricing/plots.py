"""Figures of a priced contract: payment distribution, payment-versus-effect curve, payor benefits vs payments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cteimpact.plotting.style import PALETTE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.pricing.results import PricingResults

__all__ = ["plot_payment_curve", "plot_payment_distribution", "plot_payor_benefits"]


def _scale(values: np.ndarray) -> tuple[float, str]:
    top = float(np.nanmax(np.abs(values))) if values.size and np.any(np.isfinite(values)) else 0.0
    if top >= 1e6:
        return 1e6, " (millions)"
    if top >= 1e3:
        return 1e3, " (thousands)"
    return 1.0, ""


def plot_payment_distribution(res: PricingResults, *, bins: int = 60) -> Figure:
    """Histogram of total payments over the draws, with the expected payment and the 5/50/95% quantiles."""
    pay = np.asarray(res.payment_draws)
    div, unit = _scale(pay)
    cur = res.contract.contract.currency
    fig, ax = new_figure()
    ax.hist(pay / div, bins=bins, color=PALETTE["band"], edgecolor=PALETTE["treated"], linewidth=0.4)
    ax.axvline(res.expected_payment / div, color=PALETTE["neutral"], linewidth=1.6,
               label=f"expected {res.expected_payment / div:,.3g}")
    at_value: dict[float, list[str]] = {}  # quantiles that coincide (often several at $0) share one label
    for q, v in res.payment_quantiles.items():
        if v is not None:
            at_value.setdefault(float(v), []).append(f"{q}%")
    for v, names in at_value.items():
        ax.axvline(v / div, color=PALETTE["control"], linewidth=1, linestyle="--")
        ax.annotate(", ".join(names), (v / div, 1), xycoords=("data", "axes fraction"), ha="center", va="bottom",
                    fontsize=8, color=PALETTE["control"])
    ax.set_xlabel(f"total payment, {cur}{unit}")
    ax.set_ylabel("draws")
    ax.set_title(f"Payment distribution (P(any payment) = {res.p_any_payment:.2f})", pad=16)
    ax.legend(loc="upper right")
    return fig


def plot_payment_curve(res: PricingResults) -> Figure:
    """Total payment (and investors' IRR, when financed) against the primary outcome's effect, with the estimate,
    its confidence interval, the thresholds, the MDE and the break-even effect marked.

    The curve is the recorded polyline (``curve``): where the contract switches a payment on or up (significance, a
    minimum effect, a step tier) the effect appears twice, so the line rises vertically there instead of ramping
    across the jump; a filled dot marks the payment at the break (the threshold is reached at equality), an open
    dot the payment just short of it."""
    cv = res.curve
    x = np.asarray(cv["effect"], dtype=float)
    y = np.asarray(cv["payment"], dtype=float)
    div, unit = _scale(y)
    cur = res.contract.contract.currency
    est = next(e for e in res.estimates if e["outcome"] == cv["outcome"])
    fig, ax = new_figure()
    if est["ci_lower"] is not None and np.isfinite(est["ci_lower"]):
        ax.axvspan(est["ci_lower"], est["ci_upper"], color=PALETTE["band"], alpha=0.35,
                   label=f"{round((est['ci_level'] or 0.95) * 100)}% CI ({est['ci_type']})")
    ax.plot(x, y / div, color=PALETTE["treated"], label="total payment", drawstyle="default")
    breaks = cv.get("breaks") or []
    if breaks:
        bx = np.array([b["effect"] for b in breaks], dtype=float)
        ax.plot(bx, np.array([b["payment_below"] for b in breaks], dtype=float) / div, linestyle="none", marker="o",
                markersize=4, markerfacecolor="white", markeredgecolor=PALETTE["treated"], zorder=3)
        ax.plot(bx, np.array([b["payment_at"] for b in breaks], dtype=float) / div, linestyle="none", marker="o",
                markersize=4, color=PALETTE["treated"], zorder=3, label="payment jumps (filled: at the threshold)")
    ax.axvline(est["centre"], color=PALETTE["neutral"], linewidth=1.4, label="estimate (centre)")
    sign = 1.0 if est["direction"] == "increase" else -1.0
    mde = est["mde"]
    ax.axvline(sign * mde, color=PALETTE["neutral"], linestyle=":", linewidth=1.2, label=f"MDE ({mde:.3g})")
    first = True
    for th in res.thresholds:
        if th["outcome"] != cv["outcome"]:
            continue
        ax.axvline(th["at_effect"], color=PALETTE["flag"] if th["below_mde"] else PALETTE["control"],
                   linestyle="--", linewidth=0.9, label="thresholds" if first else None)
        first = False
    if res.break_even_effect is not None:
        ax.axvline(res.break_even_effect, color=PALETTE["pass"], linewidth=1.2, linestyle="-.",
                   label="break-even")
    ax.set_xlabel(f"effect on {cv['label']} (estimate units)")
    ax.set_ylabel(f"total payment, {cur}{unit}")
    handles, labels = ax.get_legend_handles_labels()
    if cv.get("investor_irr") is not None:
        irr = np.array([np.nan if v is None else v for v in cv["investor_irr"]], dtype=float)
        ax2 = ax.twinx()
        ax2.plot(x, irr * 100, color=PALETTE["accent"], linewidth=1.0, alpha=0.9, label="investor IRR (%, right)")
        ax2.set_ylabel("investor IRR (%)")
        ax2.grid(False)
        ax2.spines["right"].set_visible(True)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.set_title(f"Payment versus effect ({cv['outcome']})")
    # below the axes, so that the legend never hides the curve
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    return fig


def plot_payor_benefits(res: PricingResults) -> Figure:
    """Each payor's expected payment beside its own benefit (present values); payors asked to pay more than they
    gain are flagged."""
    names = list(res.payors)
    pay = np.array([res.payors[n]["payment"] for n in names], dtype=float)
    ben = np.array([np.nan if res.payors[n].get("benefit") is None else res.payors[n]["benefit"] for n in names],
                   dtype=float)
    div, unit = _scale(np.concatenate([pay, np.nan_to_num(ben)]))
    cur = res.contract.contract.currency
    fig, ax = new_figure(height=max(2.6, 0.6 * len(names) + 1.6))
    y = np.arange(len(names))[::-1]
    h = 0.38
    colours = [PALETTE["flag"] if res.payors[n].get("pays_more_than_benefit") else PALETTE["control"] for n in names]
    ax.barh(y + h / 2, pay / div, height=h, color=colours, label="expected payment (PV; red: above own benefit)")
    ax.barh(y - h / 2, np.nan_to_num(ben) / div, height=h, color=PALETTE["pass"], label="benefit to payor (PV)")
    ax.set_yticks(y, [f"{n} ({res.payors[n]['level']})" for n in names])
    ax.set_xlabel(f"{cur}{unit}")
    ax.axvline(0, color=PALETTE["neutral"], linewidth=0.8)
    ax.set_title("Who pays and who benefits")
    ax.legend(loc="lower right", fontsize=8)
    return fig

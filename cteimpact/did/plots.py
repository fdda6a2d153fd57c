"""Figures for staggered difference-in-differences: event study, group-time grid, Goodman-Bacon scatter,
HonestDiD sensitivity.

The functions take plain data (the tables and numbers the result objects hold), so that this module imports no
result class: :meth:`DiDResults.plot <cteimpact.did.results.DiDResults.plot>` and
:meth:`BaconDecomposition.plot <cteimpact.did.bacon.BaconDecomposition.plot>` import it only when they draw, and
importing or fitting the estimators never imports matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from cteimpact.plotting.style import PALETTE, new_figure
from cteimpact.results.intervals import size_of

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from cteimpact.did.honest import HonestResult

__all__ = ["plot_bacon", "plot_event_study", "plot_group_time", "plot_honest"]


def plot_event_study(table: pd.DataFrame, *, outcome: str, level: float = 0.95, control: str = "never",
                     title: str | None = None, **_: Any) -> Figure:
    """Dynamic effects by event time: pointwise intervals (thick) and, when computed, the simultaneous band
    (shaded); pre-treatment and post-treatment effects in different colours.

    ``table`` is the event-study table (:meth:`DiDResults.event_study`: ``element``, ``att``, ``se``, ``ci_type``,
    ``ci_lower``, ``ci_upper``, ``suppressed``); ``level`` its confidence level; ``control`` the comparison
    units (``"never"`` or ``"notyet"``).
    """
    tab = table[table["element"].notna()]
    tab = tab[~tab["suppressed"].eq(True)]  # hidden by the small-cell rule: not drawn
    fig, ax = new_figure()
    e = tab["element"].to_numpy(dtype=float)
    att = tab["att"].to_numpy(dtype=float)
    se = tab["se"].to_numpy(dtype=float)
    z = float(stats.norm.ppf(1 - size_of(level) / 2))
    simult = tab["ci_type"].to_numpy() == "simultaneous"
    if simult.any():
        lo = tab["ci_lower"].to_numpy(dtype=float)
        hi = tab["ci_upper"].to_numpy(dtype=float)
        ax.fill_between(e, lo, hi, color=PALETTE["band"], alpha=0.5, step=None,
                        label=f"simultaneous {level:.0%} band (sup-t)")
    pre = e < 0
    for mask, colour, name in ((pre, PALETTE["control"], "pre-treatment"), (~pre, PALETTE["treated"],
                                                                              "post-treatment")):
        ok = mask & np.isfinite(se)
        ax.errorbar(e[ok], att[ok], yerr=z * se[ok], fmt="o", color=colour, capsize=3, linewidth=1.6,
                    label=f"{name} (pointwise {level:.0%})")
        ref = mask & ~np.isfinite(se)
        if ref.any():
            ax.plot(e[ref], att[ref], "D", color=PALETTE["neutral"], label="reference period")
    ax.axhline(0.0, color=PALETTE["neutral"], linewidth=1, linestyle="--")
    ax.axvline(-0.5, color=PALETTE["grid"], linewidth=1)
    ax.set_xlabel("event time (periods since treatment)")
    ax.set_ylabel(f"ATT on {outcome}")
    comparison = "never-treated" if control == "never" else "not-yet-treated"
    ax.set_title(title or f"Event study: {outcome}\nCallaway & Sant'Anna, {comparison} comparison units",
                 fontsize=10)
    ax.legend(loc="best")
    return fig


def plot_group_time(group_time: pd.DataFrame, *, outcome: str, level: float = 0.95, title: str | None = None,
                    **_: Any) -> Figure:
    """Every ATT(g,t) with its interval, one panel per cohort (cells hidden by the small-cell rule are not drawn).

    ``group_time`` is the group-time table (:attr:`DiDResults.group_time`: ``group``, ``time``, ``att``, ``se``,
    ``ci_lower``, ``ci_upper``, ``post``); intervals missing there are drawn at confidence ``level``.
    """
    gt = group_time
    groups = sorted(gt["group"].unique())
    ncol = min(3, len(groups))
    nrow = math.ceil(len(groups) / ncol)
    fig, axes = new_figure(nrow, ncol, width=6.5, height=max(2.2 * nrow, 2.6), sharey=True, squeeze=False)
    z = float(stats.norm.ppf(1 - size_of(level) / 2))
    for i, g in enumerate(groups):
        ax = axes[i // ncol][i % ncol]
        sub = gt[gt["group"] == g]
        t = sub["time"].to_numpy(dtype=float)
        a = sub["att"].to_numpy(dtype=float)
        lo = sub["ci_lower"].to_numpy(dtype=float)
        hi = sub["ci_upper"].to_numpy(dtype=float)
        se = sub["se"].to_numpy(dtype=float)
        lo = np.where(np.isfinite(lo), lo, a - z * se)
        hi = np.where(np.isfinite(hi), hi, a + z * se)
        post = sub["post"].to_numpy(dtype=bool)
        for mask, colour in ((~post, PALETTE["control"]), (post, PALETTE["treated"])):
            ok = mask & np.isfinite(a)
            ax.errorbar(t[ok], a[ok], yerr=[a[ok] - lo[ok], hi[ok] - a[ok]], fmt="o", color=colour, capsize=2)
        ax.axhline(0.0, color=PALETTE["neutral"], linewidth=1, linestyle="--")
        ax.axvline(g - 0.5, color=PALETTE["grid"], linewidth=1)
        ax.set_title(f"cohort {g:g}")
    for j in range(len(groups), nrow * ncol):
        axes[j // ncol][j % ncol].set_visible(False)
    fig.suptitle(title or f"Group-time effects ATT(g,t) on {outcome} (red: pre-treatment, blue: post)")
    return fig


def plot_bacon(two_by_twos: pd.DataFrame, twfe: float, *, title: str | None = None, **_: Any) -> Figure:
    """Goodman-Bacon scatter: each 2×2 estimate against its weight, by comparison type; TWFE as a line.

    ``two_by_twos`` is :attr:`BaconDecomposition.two_by_twos` (``type``, ``weight``, ``estimate`` and, after the
    small-cell rule, ``suppressed``); ``twfe`` the TWFE estimate they decompose.
    """
    fig, ax = new_figure()
    markers = {"Earlier vs Later Treated": ("o", PALETTE["treated"]),
               "Later vs Earlier Treated": ("^", PALETTE["flag"]),
               "Treated vs Untreated": ("s", PALETTE["accent"]),
               "Both Treated": ("D", PALETTE["treated"])}  # the pairs of the decomposition with covariates
    tab = two_by_twos
    if "suppressed" in tab.columns:
        tab = tab[~tab["suppressed"].eq(True)]  # hidden by the small-cell rule: not drawn
    for typ, (m, colour) in markers.items():
        sub = tab[tab["type"] == typ]
        if sub.empty:
            continue
        ax.scatter(sub["weight"], sub["estimate"], marker=m, color=colour, label=typ, s=36)
    ax.axhline(twfe, color=PALETTE["neutral"], linestyle="--", linewidth=1, label=f"TWFE = {twfe:.4f}")
    ax.axhline(0.0, color=PALETTE["grid"], linewidth=1)
    ax.set_xlabel("weight")
    ax.set_ylabel("2×2 DiD estimate")
    ax.set_title(title or "Goodman-Bacon decomposition of the TWFE estimate")
    ax.legend(loc="best")
    return fig


def plot_honest(results: Sequence[HonestResult], *, title: str | None = None, **_: Any) -> Figure:
    """HonestDiD sensitivity: the robust confidence set at each restriction value beside the conventional
    interval, one panel per restriction (relative magnitudes M̄, smoothness M), breakdown values marked."""
    n = len(results)
    fig, axes = new_figure(1, n, width=6.5 if n == 1 else 9.0, height=3.8, squeeze=False)
    for ax, h in zip(axes[0], results, strict=True):
        tab = h.table
        x = np.arange(len(tab) + 1)
        lo = [h.original[0], *tab["lb"].tolist()]
        hi = [h.original[1], *tab["ub"].tolist()]
        colours = [PALETTE["neutral"]] + [PALETTE["treated"]] * len(tab)
        ax.vlines(x, lo, hi, colors=colours, linewidth=3)
        ax.axhline(0.0, color=PALETTE["control"], linestyle="--", linewidth=1)
        symbol = "M̄" if h.restriction == "relative_magnitude" else "M"
        ax.set_xticks(x, ["original", *[f"{v:.3g}" for v in tab["value"]]], rotation=45, ha="right", fontsize=8)
        ax.set_xlabel(symbol)
        name = "relative magnitudes" if h.restriction == "relative_magnitude" else "smoothness"
        bd = "" if h.breakdown is None else f"; breakdown {symbol} = {h.breakdown:.3g}"
        ax.set_title(f"{name} ({h.method}){bd}", fontsize=10)
    axes[0][0].set_ylabel("robust confidence set")
    fig.suptitle(title or "Sensitivity of the post-period effect to violations of parallel trends")
    return fig

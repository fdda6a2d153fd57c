"""Figures of RD results: the binned-means RD plot, the density plot of the manipulation test, and the figures of
the diagnostic checks. Every function takes plain data (numbers, arrays, mappings, data frames), not result
objects, and returns a matplotlib Figure in the cteimpact style.

Results import this module only inside their ``plot`` methods, so importing or fitting an RD design does not
import matplotlib; each diagnostic check picks its figure in :meth:`cteimpact.rd.checks.Check.plot`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.plotting.style import PALETTE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_attrition", "plot_balance", "plot_density", "plot_estimates", "plot_rd"]


def _fitted_line(beta: np.ndarray, vcov: np.ndarray, cutoff: float, grid: np.ndarray, z: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = beta.size
    r = np.vander(grid - cutoff, k, increasing=True)
    fitted = r @ beta
    v = vcov[:k, :k]
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", r, v, r), 0.0))
    return fitted, fitted - z * se, fitted + z * se


def plot_rd(*, cutoff: float, p: int, beta: tuple[np.ndarray, np.ndarray], vcov: tuple[np.ndarray, np.ndarray],
            h: tuple[float, float], estimate: float, ci: tuple[float, float], n_h: tuple[int, int],
            bins: Mapping[str, Any] | None = None, estimate_label: str = "estimate", level: float = 0.95,
            title: str = "RD plot", xlabel: str = "",
            ylabel: str = "", show_bins: bool = True, window: float | None = None) -> Figure:
    """Binned means of the outcome (with their intervals) and the fitted local polynomials within the bandwidth on
    each side, with pointwise confidence bands for the fitted conditional means.

    Parameters
    ----------
    cutoff, p, h
        The cutoff, the polynomial order and the bandwidths below / above it.
    beta, vcov
        Coefficients of the local polynomial (in powers of ``x - cutoff``) and their covariance, below / above.
    estimate, ci, n_h
        The estimate, its robust confidence interval and the observations within ``h`` below / above (annotation).
    estimate_label
        What the annotated estimate is: the jump the plotted lines show (for a fuzzy design the jump in the outcome,
        the intention-to-treat effect, not the local average effect of take-up).
    bins
        Binned means: arrays ``x``, ``mean``, ``se`` and ``left`` (True below the cutoff).
    window
        Half-width of the plotted range around the cutoff (default: the data range).
    """
    c = cutoff
    z = float(stats.norm.ppf(0.5 + level / 2))
    fig, ax = new_figure()
    if show_bins and bins is not None and len(bins["x"]):
        bx, bmean = np.asarray(bins["x"], dtype=float), np.asarray(bins["mean"], dtype=float)
        bse, bleft = np.asarray(bins["se"], dtype=float), np.asarray(bins["left"], dtype=bool)
        sel = np.ones(bx.size, dtype=bool)
        if window is not None:
            sel = np.abs(bx - c) <= window
        for is_left, colour in ((True, PALETTE["control"]), (False, PALETTE["treated"])):
            m = sel & (bleft == is_left)
            ax.errorbar(bx[m], bmean[m], yerr=z * bse[m], fmt="o", ms=3.5, color=colour,
                        ecolor=colour, elinewidth=0.8, alpha=0.85, label=None)
    for b, v, lo, hi, colour, name in (
        (beta[0], vcov[0], c - h[0], c, PALETTE["control"], "below cutoff"),
        (beta[1], vcov[1], c, c + h[1], PALETTE["treated"], "at or above cutoff"),
    ):
        grid = np.linspace(lo, hi, 101)
        fitted, band_lo, band_hi = _fitted_line(np.asarray(b), np.asarray(v), c, grid, z)
        ax.plot(grid, fitted, color=colour, linewidth=2, label=f"local polynomial (p={p}), {name}")
        ax.fill_between(grid, band_lo, band_hi, color=colour, alpha=0.18, linewidth=0)
    ax.axvline(c, color=PALETTE["neutral"], linestyle="--", linewidth=1)
    ax.text(0.02, 0.97,
            f"{estimate_label} {estimate:.4g}; robust {round(level * 100)}% CI [{ci[0]:.4g}, {ci[1]:.4g}]\n"
            f"h = {h[0]:.4g} / {h[1]:.4g}; effective N = {n_h[0]:,} / {n_h[1]:,}",
            transform=ax.transAxes, va="top", ha="left", fontsize=8.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


def plot_density(histogram: Mapping[str, Any] | None, test: Mapping[str, Any] | None, *, cutoff: float,
                 unit: str = "rows", title: str | None = None) -> Figure:
    """Histogram of the running variable (density scale, a bin edge at the cutoff) with the estimated densities
    on each side at the cutoff and their 95% intervals.

    Parameters
    ----------
    histogram
        ``edges`` and ``density`` of the bins (or None).
    test
        The density test: ``density``, ``se`` and ``h`` (below / above), ``statistic`` and ``p_value`` (or None).
    unit
        What the scores are (``"rows"``, ``"units of 'consortium_id'"``): the x-axis label.
    """
    fig, ax = new_figure()
    c = float(cutoff)
    if histogram:
        edges = np.asarray(histogram["edges"], dtype=float)
        dens = np.asarray(histogram["density"], dtype=float)
        mids = (edges[:-1] + edges[1:]) / 2
        colours = [PALETTE["control"] if m < c else PALETTE["treated"] for m in mids]
        ax.bar(edges[:-1], dens, width=np.diff(edges), align="edge", color=colours, alpha=0.45,
               edgecolor="white", linewidth=0.5)
    if test:
        for side, colour, offset in ((0, PALETTE["control"], -1), (1, PALETTE["treated"], 1)):
            d, se = float(test["density"][side]), float(test["se"][side])
            if math.isfinite(d):
                span = (edges[-1] - edges[0]) * 0.004 if histogram else 0.0
                ax.errorbar([c + offset * span], [d], yerr=[1.96 * se] if math.isfinite(se) else None, fmt="D",
                            color=colour, capsize=3)
        ax.text(0.02, 0.97, f"T = {test['statistic']:.3f}, p = {test['p_value']:.3f}\n"
                f"h = {test['h'][0]:.4g} / {test['h'][1]:.4g}", transform=ax.transAxes, va="top", fontsize=8.5)
    ax.axvline(c, color=PALETTE["neutral"], linestyle="--", linewidth=1)
    ax.set_xlabel(f"running variable ({unit})")
    ax.set_ylabel("density")
    ax.set_title(title or "Manipulation test: density at the cutoff")
    return fig


def plot_estimates(table: pd.DataFrame, *, key: str, xlabel: str, title: str, flagged: bool = False,
                   empty_title: str = "nothing estimated") -> Figure:
    """Bias-corrected estimates with their robust intervals, one per specification (row of ``table``: column
    ``key`` and ``estimate_bc``, ``ci_robust_lower``, ``ci_robust_upper``); ``empty_title`` alone when there is
    nothing to draw."""
    fig, ax = new_figure()
    if table.empty or not {key, "estimate_bc", "ci_robust_lower", "ci_robust_upper"} <= set(table.columns):
        ax.set_title(empty_title)
        return fig
    categorical = table[key].dtype == object
    x = np.arange(len(table)) if categorical else table[key].to_numpy(dtype=float)
    est = table["estimate_bc"].to_numpy(dtype=float)
    lo = table["ci_robust_lower"].to_numpy(dtype=float)
    hi = table["ci_robust_upper"].to_numpy(dtype=float)
    colour = PALETTE["flag"] if flagged else PALETTE["treated"]
    ax.vlines(x, lo, hi, color=colour, linewidth=2)
    ax.plot(x, est, "o", color=PALETTE["neutral"])
    ax.axhline(0.0, color=PALETTE["control"], linestyle="--", linewidth=1)
    if categorical:
        ax.set_xticks(x, [str(v) for v in table[key]], rotation=30, ha="right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("bias-corrected estimate (robust 95% CI)")
    ax.set_title(title)
    return fig


def plot_balance(table: pd.DataFrame, *, title: str) -> Figure:
    """Standardised differences of baseline covariates at the cutoff (``table``: ``covariate``, ``effect_size``,
    ``p_robust``), coloured by the WWC's 0.05 / 0.25 SD boundaries."""
    fig, ax = new_figure(height=max(1.8, 0.45 * len(table) + 1.2))
    if table.empty:
        ax.set_title("Covariate balance: no covariate")
        return fig
    y = np.arange(len(table))[::-1]
    es = table["effect_size"].to_numpy(dtype=float)
    colours = [PALETTE["flag"] if (math.isfinite(v) and abs(v) > 0.25) else
               (PALETTE["accent"] if (math.isfinite(v) and abs(v) > 0.05) else PALETTE["pass"]) for v in es]
    ax.barh(y, es, color=colours)
    for lim in (-0.25, -0.05, 0.05, 0.25):
        ax.axvline(lim, color=PALETTE["grid" if abs(lim) == 0.05 else "neutral"], linestyle=":", linewidth=1)
    ax.set_yticks(y, [f"{c} (p={p:.2f})" for c, p in zip(table["covariate"], table["p_robust"], strict=True)])
    ax.set_xlabel("difference at the cutoff in SD units (Hedges' g / Cox index)")
    ax.set_title(title)
    return fig


def plot_attrition(rate_left: float, rate_right: float, *, jump: float, p_value: float, title: str) -> Figure:
    """Shares with the outcome missing within the bandwidth below and above the cutoff, and the RD jump."""
    fig, ax = new_figure(width=4.5)
    rates: Sequence[float] = (rate_left, rate_right)
    ax.bar([0, 1], [100 * r for r in rates], color=[PALETTE["control"], PALETTE["treated"]], width=0.6)
    ax.set_xticks([0, 1], ["below the cutoff", "at or above"])
    ax.set_ylabel("outcome missing within the bandwidth (%)")
    ax.set_title(f"{title}\nRD jump {jump:.3g} (robust p {p_value:.3g})")
    return fig

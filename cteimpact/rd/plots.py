"""Figures of RD results: the binned-means RD plot, the density plot of the manipulation test, and the estimate
plots of the sensitivity checks. Every function returns a matplotlib Figure in the cteimpact style."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from cteimpact.plotting.style import PALETTE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.rd.diagnostics import DiagnosticCheck
    from cteimpact.rd.results import OutcomeFit

__all__ = ["plot_check", "plot_density", "plot_rd"]


def _fitted_line(beta: np.ndarray, vcov: np.ndarray, cutoff: float, grid: np.ndarray, z: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = beta.size
    r = np.vander(grid - cutoff, k, increasing=True)
    fitted = r @ beta
    v = vcov[:k, :k]
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", r, v, r), 0.0))
    return fitted, fitted - z * se, fitted + z * se


def plot_rd(fit: OutcomeFit, *, level: float = 0.95, title: str | None = None, xlabel: str | None = None,
            ylabel: str | None = None, show_bins: bool = True, window: float | None = None) -> Figure:
    """Binned means of the outcome (with their 95% intervals) and the fitted local polynomials within the
    bandwidth on each side, with pointwise confidence bands for the fitted conditional means.

    Parameters
    ----------
    fit
        The :class:`~cteimpact.rd.results.OutcomeFit` to draw.
    window
        Half-width of the plotted range around the cutoff (default: the data range).
    """
    lp = fit.fit
    c = lp.cutoff
    z = float(stats.norm.ppf(0.5 + level / 2))
    fig, ax = new_figure()
    bins = fit.bins
    if show_bins and bins is not None and bins.x.size:
        sel = np.ones(bins.x.size, dtype=bool)
        if window is not None:
            sel = np.abs(bins.x - c) <= window
        for is_left, colour in ((True, PALETTE["control"]), (False, PALETTE["treated"])):
            m = sel & (bins.left == is_left)
            ax.errorbar(bins.x[m], bins.mean[m], yerr=z * bins.se[m], fmt="o", ms=3.5, color=colour,
                        ecolor=colour, elinewidth=0.8, alpha=0.85, label=None)
    for beta, vcov, lo, hi, colour, name in (
        (lp.beta_left, lp.vcov_left, c - lp.h[0], c, PALETTE["control"], "below cutoff"),
        (lp.beta_right, lp.vcov_right, c, c + lp.h[1], PALETTE["treated"], "at or above cutoff"),
    ):
        grid = np.linspace(lo, hi, 101)
        fitted, band_lo, band_hi = _fitted_line(beta, vcov, c, grid, z)
        ax.plot(grid, fitted, color=colour, linewidth=2, label=f"local polynomial (p={lp.p}), {name}")
        ax.fill_between(grid, band_lo, band_hi, color=colour, alpha=0.18, linewidth=0)
    ax.axvline(c, color=PALETTE["neutral"], linestyle="--", linewidth=1)
    lo_ci, hi_ci = lp.ci[2]
    ax.text(0.02, 0.97,
            f"estimate {lp.estimate:.4g}; robust {round(level * 100)}% CI [{lo_ci:.4g}, {hi_ci:.4g}]\n"
            f"h = {lp.h[0]:.4g} / {lp.h[1]:.4g}; effective N = {lp.n_h[0]:,} / {lp.n_h[1]:,}",
            transform=ax.transAxes, va="top", ha="left", fontsize=8.5)
    ax.set_xlabel(xlabel or fit.running_label)
    ax.set_ylabel(ylabel or fit.outcome)
    ax.set_title(title or f"RD plot: {fit.label}")
    ax.legend(loc="lower right")
    return fig


def plot_density(check: DiagnosticCheck, *, title: str | None = None) -> Figure:
    """Histogram of the running variable (density scale, a bin edge at the cutoff) with the estimated densities
    on each side at the cutoff and their 95% intervals."""
    details: dict[str, Any] = dict(check.details)
    fig, ax = new_figure()
    hist = details.get("histogram")
    c = float(details.get("cutoff", 0.0))
    if hist:
        edges = np.asarray(hist["edges"], dtype=float)
        dens = np.asarray(hist["density"], dtype=float)
        mids = (edges[:-1] + edges[1:]) / 2
        colours = [PALETTE["control"] if m < c else PALETTE["treated"] for m in mids]
        ax.bar(edges[:-1], dens, width=np.diff(edges), align="edge", color=colours, alpha=0.45,
               edgecolor="white", linewidth=0.5)
    test = details.get("test")
    if test:
        for side, colour, offset in ((0, PALETTE["control"], -1), (1, PALETTE["treated"], 1)):
            d, se = float(test["density"][side]), float(test["se"][side])
            if math.isfinite(d):
                span = (edges[-1] - edges[0]) * 0.004 if hist else 0.0
                ax.errorbar([c + offset * span], [d], yerr=[1.96 * se] if math.isfinite(se) else None, fmt="D",
                            color=colour, capsize=3)
        ax.text(0.02, 0.97, f"T = {test['statistic']:.3f}, p = {test['p_value']:.3f}\n"
                f"h = {test['h'][0]:.4g} / {test['h'][1]:.4g}", transform=ax.transAxes, va="top", fontsize=8.5)
    ax.axvline(c, color=PALETTE["neutral"], linestyle="--", linewidth=1)
    ax.set_xlabel(f"running variable ({details.get('unit', 'rows')})")
    ax.set_ylabel("density")
    ax.set_title(title or "Manipulation test: density at the cutoff")
    return fig


def _estimates_plot(check: DiagnosticCheck, key: str, xlabel: str) -> Figure:
    table = check.table
    fig, ax = new_figure()
    if table.empty:
        ax.set_title(f"{check.title}: nothing estimated")
        return fig
    x = np.arange(len(table)) if table[key].dtype == object else table[key].to_numpy(dtype=float)
    est = table["estimate_bc"].to_numpy(dtype=float)
    lo = table["ci_robust_lower"].to_numpy(dtype=float)
    hi = table["ci_robust_upper"].to_numpy(dtype=float)
    colour = PALETTE["flag"] if check.verdict == "flag" else PALETTE["treated"]
    ax.vlines(x, lo, hi, color=colour, linewidth=2)
    ax.plot(x, est, "o", color=PALETTE["neutral"])
    ax.axhline(0.0, color=PALETTE["control"], linestyle="--", linewidth=1)
    if table[key].dtype == object:
        ax.set_xticks(x, [str(v) for v in table[key]], rotation=30, ha="right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("bias-corrected estimate (robust 95% CI)")
    ax.set_title(f"{check.title} [{check.verdict}]")
    return fig


def plot_check(check: DiagnosticCheck) -> Figure:
    """The figure of a diagnostic check."""
    if check.name == "density_test":
        return plot_density(check)
    if check.name == "covariate_balance":
        table = check.table
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
        ax.set_title(f"{check.title} [{check.verdict}]")
        return fig
    if check.name == "placebo_cutoffs":
        return _estimates_plot(check, "cutoff", "placebo cutoff")
    if check.name == "bandwidth_sensitivity":
        return _estimates_plot(check, "multiplier", "bandwidth as a multiple of the chosen h")
    if check.name == "polynomial_order":
        return _estimates_plot(check, "p", "polynomial order p")
    if check.name == "donut":
        return _estimates_plot(check, "share_excluded", "share of observations nearest the cutoff excluded")
    if check.name == "attrition":
        fig, ax = new_figure(width=4.5)
        row = dict(check.rows[0]) if check.rows else {}
        rates = [float(row.get("rate_left", math.nan)), float(row.get("rate_right", math.nan))]
        ax.bar([0, 1], [100 * r for r in rates], color=[PALETTE["control"], PALETTE["treated"]], width=0.6)
        ax.set_xticks([0, 1], ["below the cutoff", "at or above"])
        ax.set_ylabel("outcome missing within the bandwidth (%)")
        jump = row.get("estimate", 0.0)
        p = row.get("p_robust", math.nan)
        ax.set_title(f"{check.title} [{check.verdict}]\nRD jump {float(jump):.3g} (robust p {float(p):.3g})")
        return fig
    return _estimates_plot(check, "quantity", "")

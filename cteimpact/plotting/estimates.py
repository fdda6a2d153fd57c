"""Coefficient (forest) plot of effect estimates with their intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from cteimpact.plotting.style import PALETTE, new_figure
from cteimpact.results.estimate import EffectEstimate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_estimates"]


def plot_estimates(estimates: Sequence[EffectEstimate], *, title: str | None = None) -> Figure:
    """Each estimate as a point with its interval (interval type in the label), zero marked."""
    n = len(estimates)
    fig, ax = new_figure(height=max(1.6, 0.45 * n + 1.0))
    y = np.arange(n)[::-1]
    est = np.array([e.estimate for e in estimates], dtype=float)
    lo = np.array([e.ci_lower for e in estimates], dtype=float)
    hi = np.array([e.ci_upper for e in estimates], dtype=float)
    ax.hlines(y, lo, hi, color=PALETTE["treated"], linewidth=2)
    ax.plot(est, y, "o", color=PALETTE["neutral"])
    ax.axvline(0.0, color=PALETTE["control"], linewidth=1, linestyle="--")
    ax.set_yticks(y, [f"{e.label} ({e.ci_type.replace('_', ' ')} {e.ci_level:.0%})" for e in estimates])
    ax.set_xlabel("effect estimate")
    if title:
        ax.set_title(title)
    return fig

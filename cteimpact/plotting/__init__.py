"""Figure style and shared plot helpers used by every design, pricing and the reports."""

from cteimpact.plotting.estimates import plot_estimates
from cteimpact.plotting.style import PALETTE, STYLE, new_figure, save_figure, style_context

__all__ = ["PALETTE", "STYLE", "new_figure", "plot_estimates", "save_figure", "style_context"]

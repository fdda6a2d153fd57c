"""Statistics shared by the designs: multiple-testing adjustments (effect sizes: cteimpact.results.effect_sizes)."""

from cteimpact.stats.multiple_testing import holm_adjust

__all__ = ["holm_adjust"]

"""Statistics shared by the designs: multiple-testing adjustments and boundary bisection (effect sizes live in
cteimpact.results.effect_sizes)."""

from cteimpact.stats.bisection import bisect_boundary
from cteimpact.stats.multiple_testing import holm_adjust

__all__ = ["bisect_boundary", "holm_adjust"]

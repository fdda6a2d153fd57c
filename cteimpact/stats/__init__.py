"""Statistics shared by the designs: the WWC effect sizes (Cox index, Hedges' g, the small-sample correction and
baseline-equivalence categories), the kernels of local polynomial fits, multiple-testing adjustments and boundary
bisection."""

from cteimpact.stats.bisection import bisect_boundary
from cteimpact.stats.effect_sizes import (
    CoxIndex,
    cox_index,
    hedges_g,
    hedges_omega,
    pooled_sd,
    pooled_sd_from_values,
    standardized_difference,
    wwc_category,
)
from cteimpact.stats.kernels import bandwidth_weights, kernel_name, kernel_weights
from cteimpact.stats.multiple_testing import holm_adjust

__all__ = ["CoxIndex", "bandwidth_weights", "bisect_boundary", "cox_index", "hedges_g", "hedges_omega", "holm_adjust",
           "kernel_name", "kernel_weights", "pooled_sd", "pooled_sd_from_values", "standardized_difference",
           "wwc_category"]

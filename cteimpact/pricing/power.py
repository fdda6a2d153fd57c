"""Minimum detectable effects of an evaluation, to set beside a contract's thresholds.

The minimum detectable effect (MDE) of a two-sided test at level ``alpha`` with power ``power`` is

    MDE = (z_{1-alpha/2} + z_{power}) × SE

(Bloom 1995, "Minimum detectable effects: a simple way to report the statistical power of experimental designs",
Evaluation Review 19(5)); with alpha = 0.05 and power = 0.80 the multiplier is 1.95996 + 0.84162 = 2.80158. With
a Student t reference (few clusters) the t quantiles replace the normal ones. An MDE computed by the design (for
example by ``rdpower`` for a regression discontinuity) can be passed in instead.

A payment threshold below the MDE is one the evaluation cannot reliably distinguish from no effect: if the true
effect sits at the threshold, whether the estimate clears it is close to a coin flip.
"""

from __future__ import annotations

import math

from scipy import stats

from cteimpact.errors import OptionError

__all__ = ["minimum_detectable_effect"]


def minimum_detectable_effect(std_error: float, *, alpha: float = 0.05, power: float = 0.80,
                              df: float | None = None) -> float:
    """``(q_{1-alpha/2} + q_{power}) × std_error`` with normal (``df=None``) or Student t quantiles."""
    if not (std_error >= 0 and math.isfinite(std_error)):
        raise OptionError(f"std_error must be finite and non-negative, got {std_error}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise OptionError(f"alpha and power must lie strictly between 0 and 1, got {alpha} and {power}")
    dist = stats.norm if df is None else stats.t(df)
    return float((dist.ppf(1 - alpha / 2) + dist.ppf(power)) * std_error)

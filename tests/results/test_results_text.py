"""Plain-text tables of estimates (what every summary() prints)."""

from __future__ import annotations

import math

from cteimpact.results import EffectEstimate
from cteimpact.results.text import format_estimates, format_number


def test_format_number():
    assert format_number(None) == "NA"
    assert format_number(math.nan) == "NA"
    assert format_number(0.0) == "0.0000"
    assert format_number(12345.678) == "12,345.6780"
    assert format_number(-0.02345) == "-0.0234"  # round-half-even on the binary value
    assert format_number(1e-6) == "1.00e-06"  # below 10^-digits: scientific, so tiny p-values are not "0.0000"
    assert format_number(-2e-5, 3) == "-2.0e-05"


def test_format_estimates_table():
    # checked by hand: dropout z = -0.0231 / 0.0094 = -2.4574, p = erfc(2.4574 / sqrt 2) = 0.0140,
    # CI -0.0231 -/+ 1.96 x 0.0094; earnings 90% CI 1234.5 -/+ 1.6449 x 310.25
    rows = [
        EffectEstimate.from_normal("dropout", "dropout", "RD effect", -0.0231, 0.0094, n_effective=5123),
        EffectEstimate.from_normal("earnings[event=2]", "earnings", "ATT", 1234.5, 310.25, ci_level=0.9,
                                   ci_type="pointwise"),
        EffectEstimate.from_normal("x", "x", "tiny", 1e-7, 1e-8),
    ]
    assert format_estimates(rows).splitlines() == [
        "label              term         estimate   std.err   p-value                          CI  CI type       N eff",
        "-------------------------------------------------------------------------------------------------------------",
        "dropout            RD effect     -0.0231    0.0094    0.0140      95% [-0.0415, -0.0047]  conventional  5,123",
        "earnings[event=2]  ATT        1,234.5000  310.2500  6.92e-05  90% [724.1842, 1,744.8158]  pointwise        NA",
        "x                  tiny         1.00e-07  1.00e-08  1.52e-23    95% [8.04e-08, 1.20e-07]  conventional     NA",
    ]

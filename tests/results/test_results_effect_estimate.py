"""EffectEstimate: tests and intervals against closed forms.

Reference values are computed here from closed forms that do not use SciPy (which the code under test uses):
* normal: two-sided p = erfc(|z|/sqrt(2)) (``math.erfc``); quantiles from ``statistics.NormalDist`` (the Python
  standard library's independent implementation, Wichura's AS241 algorithm);
* Student t with 1 degree of freedom (Cauchy): F(t) = 1/2 + arctan(t)/pi, quantile tan(pi (p - 1/2));
* Student t with 2 degrees of freedom: F(t) = 1/2 + t / (2 sqrt(2 + t^2)), quantile (2p - 1) / sqrt(2 p (1 - p)).
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import pytest

from cteimpact.errors import OptionError
from cteimpact.results import CI_TYPES, TIDY_COLUMNS, EffectEstimate, dumps_json

REL = 1e-13  # both sides are accurate to a few units in the last place


def _close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def test_normal_closed_form_196():
    e = EffectEstimate.from_normal("dropout", "dropout", "RD effect", 1.96, 1.0)
    z975 = NormalDist().inv_cdf(0.975)
    assert _close(z975, 1.959963984540054)
    assert _close(e.p_value, math.erfc(1.96 / math.sqrt(2)))
    assert _close(e.p_value, 0.04999579029644087)
    assert e.statistic == 1.96
    # the lower limit is a difference of two numbers near 1.96: compare absolutely (a few ulps of 1.96)
    assert abs(e.ci_lower - (1.96 - z975)) < 1e-15
    assert _close(e.ci_upper, 1.96 + z975)
    assert abs(e.ci_lower - 0.0) < 4e-5  # the interval just excludes zero: [0.000036, 3.92]
    assert _close(e.ci_upper, 3.919963984540054)
    assert e.ci_level == 0.95
    assert e.ci_type == "conventional"
    assert e.n_effective is None


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize(("estimate", "se"), [(-0.023, 0.0081), (1250.0, 610.5), (0.0, 2.0)])
def test_normal_interval_and_p_value(level, estimate, se):
    e = EffectEstimate.from_normal("y", "y", "t", estimate, se, ci_level=level)
    crit = NormalDist().inv_cdf(0.5 + level / 2)
    assert _close(e.ci_lower, estimate - crit * se, 1e-12)
    assert _close(e.ci_upper, estimate + crit * se, 1e-12)
    assert _close(e.statistic, estimate / se)
    assert _close(e.p_value, math.erfc(abs(estimate / se) / math.sqrt(2)), 1e-12)


@pytest.mark.parametrize("stat", [0.25, 1.0, 3.0, 12.0])
def test_t_with_one_degree_of_freedom(stat):
    e = EffectEstimate.from_normal("y", "y", "t", 2.0 * stat, 2.0, df=1)
    crit = math.tan(math.pi * (0.975 - 0.5))
    assert _close(crit, 12.706204736174704, 1e-12)
    assert _close(e.p_value, 1.0 - 2.0 * math.atan(stat) / math.pi, 1e-12)
    assert _close(e.ci_upper - e.ci_lower, 2 * 2.0 * crit, 1e-12)


@pytest.mark.parametrize(("stat", "level"), [(3.0, 0.95), (0.5, 0.9), (10.0, 0.99)])
def test_t_with_two_degrees_of_freedom(stat, level):
    e = EffectEstimate.from_normal("y", "y", "t", stat * 0.1, 0.1, df=2, ci_level=level)
    p = 0.5 + level / 2
    crit = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    assert _close(e.p_value, 1.0 - stat / math.sqrt(2 + stat**2), 1e-12)
    assert _close(e.ci_lower, stat * 0.1 - crit * 0.1, 1e-12)
    assert _close(e.ci_upper, stat * 0.1 + crit * 0.1, 1e-12)
    if level == 0.95:
        assert _close(crit, 4.302652729749464, 1e-12)


def test_t_is_wider_than_normal_and_converges_to_it():
    widths = [EffectEstimate.from_normal("y", "y", "t", 1.0, 1.0, df=df).ci_upper for df in (3, 10, 100, 1e6)]
    assert widths == sorted(widths, reverse=True)
    normal = EffectEstimate.from_normal("y", "y", "t", 1.0, 1.0)
    assert widths[-1] > normal.ci_upper
    assert abs(widths[-1] - normal.ci_upper) < 1e-5


def test_centre_differs_from_estimate_for_robust_bias_corrected_rows():
    e = EffectEstimate.from_normal("y", "y", "RD", 2.0, 0.5, centre=1.5, ci_type="robust_bias_corrected")
    z = NormalDist().inv_cdf(0.975)
    assert e.estimate == 2.0
    assert e.statistic == 3.0  # centre / se
    assert _close(e.p_value, math.erfc(3.0 / math.sqrt(2)))
    assert _close(e.ci_lower, 1.5 - z * 0.5)
    assert _close(e.ci_upper, 1.5 + z * 0.5)


@pytest.mark.parametrize("se", [0.0, math.nan])
def test_zero_or_missing_standard_error_gives_missing_test(se):
    e = EffectEstimate.from_normal("y", "y", "t", 1.0, se)
    assert math.isnan(e.statistic)
    assert math.isnan(e.p_value)


def test_negative_standard_error_is_refused():
    with pytest.raises(OptionError, match=r"^standard error of 'y\[event=2\]' must be non-negative, got -0.1$"):
        EffectEstimate.from_normal("y[event=2]", "y", "t", 1.0, -0.1)


@pytest.mark.parametrize("df", [0, -3, math.nan])
def test_non_positive_degrees_of_freedom_are_refused(df):
    with pytest.raises(OptionError, match=r"^degrees of freedom of 'y' must be positive, got"):
        EffectEstimate.from_normal("y", "y", "t", 1.0, 1.0, df=df)


@pytest.mark.parametrize("level", [0.0, 1.0, 95, -0.5, math.nan])
def test_invalid_ci_level(level):
    with pytest.raises(OptionError, match=r"^ci_level must be in \(0, 1\), got"):
        EffectEstimate.from_normal("y", "y", "t", 1.0, 1.0, ci_level=level)


def test_invalid_ci_type_lists_the_allowed_types():
    with pytest.raises(OptionError) as info:
        EffectEstimate.from_normal("y", "y", "t", 1.0, 1.0, ci_type="robust")  # type: ignore[arg-type]
    assert str(info.value) == f"ci_type must be one of {', '.join(CI_TYPES)}, got 'robust'"


def test_to_dict_has_the_tidy_columns_and_round_trips_exactly():
    e = EffectEstimate.from_normal("earnings[event=2]", "earnings", "ATT (event time 2)", 1234.5678901234567,
                                   321.0987654321, n_effective=412, df=38, ci_type="pointwise")
    d = e.to_dict()
    assert tuple(d) == TIDY_COLUMNS
    assert EffectEstimate.from_dict(d) == e
    back = EffectEstimate.from_dict(json.loads(dumps_json(d)))
    assert back == e  # floats survive JSON bit for bit


def test_from_dict_reads_null_as_nan():
    e = EffectEstimate.from_normal("y", "y", "t", 1.0, 0.0)
    d = json.loads(dumps_json(e.to_dict()))
    assert d["statistic"] is None
    assert d["p_value"] is None
    back = EffectEstimate.from_dict(d)
    assert math.isnan(back.statistic)
    assert math.isnan(back.p_value)
    assert back.estimate == 1.0

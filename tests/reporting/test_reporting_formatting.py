"""Numbers formatted for readers: every helper against hand-worked expected text."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cteimpact.errors import MissingColumnError, OptionError
from cteimpact.reporting import (
    MISSING,
    decimals_for_se,
    format_ci,
    format_count,
    format_effect,
    format_frame,
    format_full,
    format_money,
    format_number,
    format_p_value,
    format_percent,
    format_percentage_points,
    format_ratio,
)


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (1234567.891, {}, "$1,234,568"),
        (-1234.5, {}, "-$1,234"),  # round half to even on 1234.5
        (-1235.5, {}, "-$1,236"),
        (0.4, {}, "$0"),
        (-0.4, {}, "$0"),  # no "-$0"
        (1234.5678, {"decimals": 2}, "$1,234.57"),
        (2_483_911.5, {"compact": True}, "$2.48 million"),
        (-2_500_000, {"compact": True}, "-$2.50 million"),
        (12_345_678, {"compact": True}, "$12.3 million"),
        (123_456_789, {"compact": True}, "$123 million"),
        (999_996_000, {"compact": True}, "$1.00 billion"),  # not "$1,000 million"
        (3.4e9, {"compact": True}, "$3.40 billion"),
        (500_000, {"compact": True}, "$500,000"),  # under a million: in full
        (1500, {"signed": True}, "+$1,500"),
        (1500, {"currency": "€"}, "€1,500"),
        (float("nan"), {}, MISSING),
        (None, {}, MISSING),
        (math.inf, {"missing": "n/a"}, "n/a"),
    ],
)
def test_format_money(value, kwargs, expected):
    assert format_money(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (0.0423187, {}, "0.0423"),
        (-0.0423187, {}, "-0.0423"),
        (1.23456, {}, "1.23"),
        (123.456, {}, "123"),
        (12345.6, {}, "12,346"),  # the integer part is never rounded away
        (0.09996, {}, "0.100"),  # rounding up to the next power of ten keeps 3 significant digits
        (0.0, {}, "0"),
        (-0.0001, {}, "-0.000100"),
        (-0.00009876, {}, "-9.88e-05"),  # below 1e-4: scientific
        (1.2e-13, {"digits": 2}, "1.2e-13"),
        (1.2e-13, {"signed": True}, "+1.20e-13"),
        (1.2e-13, {"decimals": 2}, "0.00"),  # fixed decimals win
        (1.23456, {"digits": 5}, "1.2346"),
        (1.23456, {"decimals": 1}, "1.2"),
        (-0.00001, {"decimals": 2}, "0.00"),  # no "-0.00"
        (0.5, {"signed": True}, "+0.500"),
        (12345.6, {"thousands": False}, "12346"),
        (np.float32(1.5), {}, "1.50"),
        (np.int64(7), {}, "7"),
        (pd.NA, {}, MISSING),
    ],
)
def test_format_number(value, kwargs, expected):
    assert format_number(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("estimate", "se", "expected"),
    [
        (-0.0423187, 0.0121043, "-0.042"),  # SE 0.012 has two significant digits at 3 decimals
        (0.0512, 0.0144, "0.051"),
        (1183.4, 402.7, "1,183"),  # SE 400 → no decimals
        (0.3, 0.00045, "0.30000"),  # SE 0.00045 → 5 decimals
        (1.5, 0.0, "1.50"),  # a zero SE cannot set the digits: significant digits instead
        (1.5, float("nan"), "1.50"),
    ],
)
def test_format_effect_takes_its_decimals_from_the_standard_error(estimate, se, expected):
    assert format_effect(estimate, se=se) == expected


def test_decimals_for_se():
    assert [decimals_for_se(s) for s in (0.0123, 0.123, 1.23, 12.3, 123.0)] == [3, 2, 1, 0, 0]
    assert decimals_for_se(0.0123, significant=1) == 2
    assert decimals_for_se(0.0) is None
    assert decimals_for_se(None) is None


def test_format_ci():
    assert format_ci(-0.0661, -0.0185, se=0.0121) == "[-0.066, -0.018]"  # 0.0185 → 0.018 (binary value below .0185)
    assert format_ci(-0.0612, -0.0243) == "[-0.0612, -0.0243]"
    assert format_ci(1.5, 12.25, decimals=1, brackets="()") == "(1.5, 12.2)"
    assert format_ci(float("nan"), 1.0) == MISSING
    with pytest.raises(OptionError, match="brackets"):
        format_ci(0, 1, brackets="[")


def test_percentages_and_p_values():
    assert format_percent(0.0423) == "4.2%"
    assert format_percent(0.873, decimals=0) == "87%"
    assert format_percent(-0.05, signed=True) == "-5.0%"
    assert format_percentage_points(-0.0423) == "-4.2 pp"
    assert format_percentage_points(0.0423) == "+4.2 pp"
    assert format_percentage_points(0.0423, signed=False) == "4.2 pp"
    assert format_p_value(0.00004) == "<0.001"
    assert format_p_value(0.001) == "0.001"
    assert format_p_value(0.04251) == "0.043"
    assert format_p_value(1.0) == "1.000"
    assert format_p_value(0.00004, decimals=4) == "<0.0001"
    with pytest.raises(OptionError, match=r"\[0, 1\]"):
        format_p_value(1.2)


def test_counts_and_ratios():
    assert format_count(12345) == "12,345"
    assert format_count(12345.0) == "12,345"
    assert format_count(np.int64(7)) == "7"
    with pytest.raises(OptionError, match="whole number"):
        format_count(12.5)
    assert format_ratio(2.3456) == "2.35"


def test_bad_arguments_are_typed_errors():
    with pytest.raises(OptionError, match="cannot format 'abc'"):
        format_number("abc")
    with pytest.raises(OptionError, match="digits"):
        format_number(1.0, digits=0)
    with pytest.raises(OptionError, match="decimals"):
        format_money(1.0, decimals=9)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_full_is_what_results_json_holds(x):
    # results.json is written with Python's shortest round-trip float text (cteimpact.results.dumps_json)
    assert format_full(x) == json.dumps(x)
    assert float(format_full(x)) == x


def test_format_full_of_integers_and_missing():
    assert format_full(18234) == "18234"
    assert format_full(float("nan")) == "null"


def test_format_frame_uses_formatters_and_defaults():
    frame = pd.DataFrame({"n": [12345, 7], "rate": [0.1234, np.nan], "name": ["a", "b"]})
    out = format_frame(frame, {"rate": format_percent})
    assert out.to_dict(orient="list") == {"n": ["12,345", "7"], "rate": ["12.3%", MISSING], "name": ["a", "b"]}
    with pytest.raises(MissingColumnError, match="'rte'"):
        format_frame(frame, {"rte": str})

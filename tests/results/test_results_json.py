"""Deterministic, full-precision JSON (dumps_json, to_jsonable, write_json)."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cteimpact.data import SampleFlow
from cteimpact.results import dumps_json, to_jsonable, write_json


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_bit_for_bit(x):
    back = json.loads(dumps_json(x))
    assert _bits(back) == _bits(x)  # also distinguishes -0.0 from 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=20))
def test_numpy_float_arrays_round_trip_bit_for_bit(values):
    arr = np.array(values, dtype=np.float64)
    back = np.array(json.loads(dumps_json({"a": arr}))["a"], dtype=np.float64)
    assert back.tobytes() == arr.tobytes()


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_is_written_as_its_exact_double_value(x):
    f32 = np.float32(x)
    back = json.loads(dumps_json(f32))
    assert back == float(f32)
    assert np.float32(back) == f32


def test_extremes():
    for x in (5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.1 + 0.2, 1 / 3):
        assert _bits(json.loads(dumps_json([x]))[0]) == _bits(x)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf")])
def test_non_finite_becomes_null(bad):
    assert dumps_json({"x": bad}) == '{\n  "x": null\n}\n'


def test_pandas_missing_values_become_null():
    assert to_jsonable([pd.NA, pd.NaT, None, np.datetime64("NaT")]) == [None, None, None, None]


class Colour(Enum):
    RED = "red"


@dataclass(frozen=True)
class Point:
    x: float
    label: str


def test_numpy_pandas_and_python_types_are_converted():
    obj = {
        "i64": np.int64(-3),
        "u8": np.uint8(200),
        "f64": np.float64(0.1),
        "b": np.bool_(True),
        "arr": np.array([[1, 2], [3, 4]], dtype=np.int32),
        "tuple": (1, "a"),
        "set": {"b", "a", "c"},
        "path": Path("out") / "results.json",
        "enum": Colour.RED,
        "dataclass": Point(1.5, "p"),
        "series": pd.Series([1.0, np.nan], index=["a", "b"]),
        "frame": pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan]}),
        "flow": SampleFlow("s", 3).exclude(1, "r"),
        3: "int key",
    }
    out = to_jsonable(obj)
    assert out == {
        "i64": -3,
        "u8": 200,
        "f64": 0.1,
        "b": True,
        "arr": [[1, 2], [3, 4]],
        "tuple": [1, "a"],
        "set": ["a", "b", "c"],
        "path": str(Path("out") / "results.json"),
        "enum": "red",
        "dataclass": {"x": 1.5, "label": "p"},
        "series": {"a": 1.0, "b": None},
        "frame": [{"a": 1, "b": 0.5}, {"a": 2, "b": None}],
        "flow": SampleFlow("s", 3).exclude(1, "r").to_dict(),
        "3": "int key",
    }
    # plain Python types only
    for key in ("i64", "u8"):
        assert type(out[key]) is int
    assert type(out["f64"]) is float
    assert type(out["b"]) is bool
    text = dumps_json(obj)
    assert json.loads(text) == out


def test_unknown_types_raise_type_error():
    with pytest.raises(TypeError, match="cannot convert complex to JSON"):
        to_jsonable(1 + 2j)


def test_dumps_json_is_deterministic_and_ends_with_a_newline():
    obj = {"b": 1, "a": [1.0, 2.5], "s": {"z", "y"}, "text": "café"}
    text = dumps_json(obj)
    assert text == (
        '{\n  "b": 1,\n  "a": [\n    1.0,\n    2.5\n  ],\n  "s": [\n    "y",\n    "z"\n  ],\n  "text": "café"\n}\n'
    )
    # key order is insertion order, sets are sorted: the same content always gives the same text
    assert dumps_json({"b": 1, "a": [1.0, 2.5], "s": {"y", "z"}, "text": "café"}) == text


def test_write_json_bytes(tmp_path):
    obj = {"estimate": -0.02345678901234567, "label": "dropout", "n": np.int64(12)}
    p1 = write_json(obj, tmp_path / "a.json")
    p2 = write_json(obj, tmp_path / "b.json")
    assert p1.read_bytes() == p2.read_bytes()
    assert p1.read_bytes() == dumps_json(obj).encode("utf-8")
    assert b"\r\n" not in p1.read_bytes()
    assert json.loads(p1.read_text(encoding="utf-8"))["estimate"] == -0.02345678901234567

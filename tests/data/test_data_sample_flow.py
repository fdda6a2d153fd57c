"""The sample-flow record: rows read, every exclusion with its reason and count, rows used."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cteimpact.data import SampleFlow, StudentData, apply_restrictions, evaluate_restriction
from cteimpact.data.sample_flow import FlowStep
from cteimpact.errors import OptionError


def test_rows_read_exclusions_rows_used():
    flow = SampleFlow("students.csv", 100).exclude(3, "dropout missing").exclude(0, "duplicate records")
    flow = flow.exclude(10, "cohort before 2014")
    assert flow.rows_read == 100
    assert flow.rows_used == 87
    assert flow.total_excluded == 13
    assert [(s.reason, s.excluded, s.remaining) for s in flow.steps] == [
        ("dropout missing", 3, 97), ("duplicate records", 0, 97), ("cohort before 2014", 10, 87)
    ]
    # a rule that removed nothing is still a recorded step, but not an exclusion with rows
    assert [s.reason for s in flow.exclusions()] == ["dropout missing", "cohort before 2014"]


def test_flow_is_immutable():
    flow = SampleFlow("x", 5)
    flow2 = flow.exclude(2, "r")
    assert flow.steps == ()
    assert flow.rows_used == 5
    assert flow2.rows_used == 3
    with pytest.raises(AttributeError):
        flow.rows_read = 7  # type: ignore[misc]


@pytest.mark.parametrize("n", [-1, 6])
def test_cannot_exclude_negative_or_more_than_remain(n):
    with pytest.raises(OptionError) as info:
        SampleFlow("x", 5).exclude(n, "bad rule")
    assert str(info.value) == f"cannot exclude {n} rows for 'bad rule': 5 rows remain"


def test_negative_rows_read():
    with pytest.raises(OptionError, match="rows_read must be non-negative, got -1"):
        SampleFlow("x", -1)


def test_apply_filters_and_records():
    frame = pd.DataFrame({"a": np.arange(6)})
    keep = frame["a"] % 2 == 0
    kept, flow = SampleFlow("f", 6).apply(frame, keep, "odd rows")
    assert kept["a"].tolist() == [0, 2, 4]
    assert flow.steps == (FlowStep("odd rows", 3, 3, "exclude", "rows"),)
    assert len(frame) == 6  # the caller's frame is untouched


def test_apply_keeping_everything_returns_a_new_frame():
    frame = pd.DataFrame({"a": [1, 2]})
    kept, flow = SampleFlow("f", 2).apply(frame, np.array([True, True]), "no-op rule")
    assert kept is not frame
    kept["b"] = 1
    assert list(frame.columns) == ["a"]
    assert flow.steps[-1].excluded == 0


def test_apply_with_mismatched_mask_length():
    frame = pd.DataFrame({"a": range(4)})
    with pytest.raises(OptionError) as info:
        SampleFlow("f", 4).apply(frame, np.ones(3, dtype=bool), "rule")
    assert str(info.value) == "keep mask has 3 entries but the frame has 4 rows"


def test_apply_to_a_frame_that_does_not_match_the_flow():
    frame = pd.DataFrame({"a": range(4)})
    with pytest.raises(OptionError) as info:
        SampleFlow("f", 5).apply(frame, np.ones(4, dtype=bool), "rule")
    assert str(info.value) == "the frame has 4 rows but the sample flow has 5 rows"


@pytest.mark.parametrize(
    "keep",
    [np.array([1.0, np.nan, 0.0]), pd.Series([True, pd.NA, False], dtype="boolean"),
     pd.Series([True, None, False], dtype=object)],
    ids=["float-nan", "nullable-boolean", "object-none"],
)
def test_apply_refuses_a_mask_with_missing_values(keep):
    # regression: NaN used to count as "keep" and pd.NA raised a bare ValueError
    frame = pd.DataFrame({"a": range(3)})
    with pytest.raises(OptionError) as info:
        SampleFlow("f", 3).apply(frame, keep, "rule")
    assert str(info.value) == (
        "keep mask for 'rule' has 1 missing values; fill them with True or False before applying it"
    )


@pytest.mark.parametrize("keep", [True, np.ones((3, 1), dtype=bool)], ids=["scalar", "2-d"])
def test_apply_refuses_a_mask_that_is_not_one_dimensional(keep):
    frame = pd.DataFrame({"a": range(3)})
    with pytest.raises(OptionError, match=r"^keep mask for 'rule' must be one-dimensional, got shape"):
        SampleFlow("f", 3).apply(frame, keep, "rule")


def test_aggregate_changes_the_unit():
    flow = SampleFlow("students.parquet", 1000, unit="students").exclude(40, "no earnings record")
    flow = flow.aggregate(120, "collapsed to district-by-cohort cells", "cells").exclude(5, "cells with <10 students")
    assert flow.rows_used == 115
    assert flow.current_unit == "cells"
    assert flow.total_excluded == 45
    assert flow.steps[1] == FlowStep("collapsed to district-by-cohort cells", 0, 120, "aggregate", "cells")
    assert flow.steps[2].unit == "cells"
    with pytest.raises(OptionError, match="cannot exclude 200 rows for 'too many': 115 cells remain"):
        flow.exclude(200, "too many")
    with pytest.raises(OptionError, match=r"cannot aggregate to -1 cells for 'x': the count must be non-negative"):
        flow.aggregate(-1, "x", "cells")


def test_to_dict_from_dict_round_trip_through_json():
    flow = (SampleFlow("students.parquet", 1000, unit="students").exclude(40, "no earnings record")
            .aggregate(120, "cells", "cells").exclude(5, "small cells"))
    d = flow.to_dict()
    assert d == {
        "source": "students.parquet",
        "unit": "students",
        "rows_read": 1000,
        "steps": [
            {"reason": "no earnings record", "excluded": 40, "remaining": 960, "kind": "exclude", "unit": "students"},
            {"reason": "cells", "excluded": 0, "remaining": 120, "kind": "aggregate", "unit": "cells"},
            {"reason": "small cells", "excluded": 5, "remaining": 115, "kind": "exclude", "unit": "cells"},
        ],
        "rows_used": 115,
        "unit_used": "cells",
    }
    back = SampleFlow.from_dict(json.loads(json.dumps(d)))
    assert back == flow
    assert back.to_dict() == d


def test_to_frame():
    flow = SampleFlow("s.csv", 10).exclude(2, "missing dropout").aggregate(3, "to schools", "schools")
    table = flow.to_frame()
    expected = pd.DataFrame(
        {
            "step": ["read", "exclude", "aggregate"],
            "reason": ["rows read from s.csv", "missing dropout", "to schools"],
            "excluded": [0, 2, 0],
            "remaining": [10, 8, 3],
            "unit": ["rows", "rows", "schools"],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_summary_text():
    flow = SampleFlow("s.csv", 12345).exclude(45, "missing dropout").aggregate(300, "to cells", "cells")
    flow = flow.exclude(0, "empty cells")
    assert flow.summary() == "\n".join([
        "      12,345  rows read from s.csv",
        "         -45  missing dropout",
        "              to cells -> 300 cells",
        "          +0  empty cells",
        "         300  cells used",
    ])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=200),
    seeds=st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=0, max_size=6),
    p=st.floats(min_value=0.0, max_value=1.0),
)
def test_flow_arithmetic_with_random_masks(n, seeds, p):
    frame = pd.DataFrame({"i": np.arange(n)})
    flow = SampleFlow("random", n)
    expected_excluded = []
    for k, seed in enumerate(seeds):
        keep = np.random.default_rng(seed).random(len(frame)) >= p
        frame, flow = flow.apply(frame, keep, f"rule {k}")
        expected_excluded.append(int((~keep).sum()))
    assert flow.rows_used == len(frame)
    assert flow.rows_used == flow.rows_read - flow.total_excluded
    assert [s.excluded for s in flow.steps] == expected_excluded
    remaining = n
    for s in flow.steps:
        remaining -= s.excluded
        assert s.remaining == remaining
    # the rows kept are the original rows, in order, without duplicates
    assert frame["i"].is_monotonic_increasing
    assert frame["i"].is_unique
    assert SampleFlow.from_dict(flow.to_dict()) == flow


# -- StudentData.require and filter ---------------------------------------------------------------------------------


def test_require_records_one_step_per_role_with_counts(frame, cmap):
    data = StudentData.from_frame(frame, cmap, source="students.csv")
    out = data.require(["dropout", "earnings", "first_treated"])
    assert [(s.reason, s.excluded, s.remaining) for s in out.flow.steps] == [
        ("missing dropout (column 'drop_4yr')", 2, 6),
        ("missing earnings (column 'wages')", 0, 6),
        ("missing first_treated (column 'launch')", 0, 6),
    ]
    # a different order removes the same rows but attributes them differently
    out2 = data.require(["earnings", "dropout"])
    assert [(s.excluded, s.remaining) for s in out2.flow.steps] == [(1, 7), (1, 6)]
    assert out2.frame.index.tolist() == out.frame.index.tolist() == [0, 1, 2, 3, 4, 5]


def test_require_unmapped_or_unknown_role(frame, cmap):
    data = StudentData.from_frame(frame, cmap)
    with pytest.raises(OptionError, match=r"^role 'award' is not mapped to a column; add it to the column mapping$"):
        data.require(["award"])
    with pytest.raises(OptionError, match=r"^unknown column role 'dropuot'$"):
        data.require(["dropuot"])


def test_filter_keeps_mapping_and_extends_flow(frame, cmap):
    data = StudentData.from_frame(frame, cmap, source="s", required=["dropout"])
    out = data.filter(data.values("cohort") >= 2015, "cohort before 2015")
    assert len(out) == 2
    assert out.columns is data.columns
    assert out.flow.steps[-1] == FlowStep("cohort before 2015", 4, 2, "exclude", "rows")
    assert len(data) == 6  # immutable


# -- restrictions ---------------------------------------------------------------------------------------------------


def test_apply_restrictions_records_each_expression(frame):
    flow = SampleFlow("s", len(frame))
    out, flow = apply_restrictions(frame, flow, ["entry_cohort >= 2015", "gr == 9"])
    assert out.index.tolist() == [2, 6]
    assert [(s.reason, s.excluded, s.remaining) for s in flow.steps] == [
        ("restriction: entry_cohort >= 2015", 4, 4),
        ("restriction: gr == 9", 2, 2),
    ]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # drop_4yr is missing in rows 6-7; NaN != 1 is true in NumPy, yet a missing dropout must not pass
        ("drop_4yr == 0", [0, 1, 4, 5]),
        ("drop_4yr != 1", [0, 1, 4, 5]),
        ("~(drop_4yr == 1)", [0, 1, 4, 5]),
        ("drop_4yr", [2, 3]),  # a 0/1 column used as the condition
        ("`drop_4yr` != 1", [0, 1, 4, 5]),
        # three-valued logic: "unknown or true" is true, so row 6 (grade 9, no dropout) meets the first and row 7
        # (no dropout, another grade) stays unknown and is excluded; "unknown and ..." is never true
        ("(drop_4yr != 1) | (gr == 9)", [0, 1, 2, 4, 5, 6]),
        ("(drop_4yr != 1) & (gr == 9)", [0, 4]),
        ("wages >= 0", [0, 1, 2, 3, 4, 5, 7]),  # wages missing in row 6 only
        # names inside string literals are not columns: "wages" (missing in row 6) is text here
        ("sch != 'wages'", [0, 1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_missing_values_in_a_restriction_count_as_excluded(frame, expr, expected):
    got = evaluate_restriction(frame, expr)
    assert got.dtype == bool
    assert np.flatnonzero(got).tolist() == expected


def test_missing_text_and_nullable_values_count_as_excluded():
    frame = pd.DataFrame({"race": pd.Series(["A", None, "B", "A"]), "c": pd.array([2014, None, 2016, 2017],
                                                                                    dtype="Int64")})
    assert evaluate_restriction(frame, "race != 'A'").tolist() == [False, False, True, False]
    assert evaluate_restriction(frame, "race not in ['A']").tolist() == [False, False, True, False]
    assert evaluate_restriction(frame, "c >= 2015").tolist() == [False, False, True, True]
    before = frame.copy()
    out, flow = apply_restrictions(frame, SampleFlow("n", 4), ["c >= 2015", "race != 'B'"])
    assert [(s.excluded, s.remaining) for s in flow.steps] == [(2, 2), (1, 1)]
    assert out.index.tolist() == [3]
    pd.testing.assert_frame_equal(frame, before)


def test_restriction_with_an_unknown_column_names_the_expression(frame):
    with pytest.raises(OptionError) as info:
        apply_restrictions(frame, SampleFlow("s", len(frame)), ["entry_cohort >= 2014", "cohrt >= 2015"])
    msg = str(info.value)
    assert msg.startswith("sample restriction 'cohrt >= 2015' cannot be evaluated: ")
    assert "cohrt" in msg.split(": ", 1)[1]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("entry_cohort >=", "sample restriction 'entry_cohort >=' cannot be evaluated: "),
        ("entry_cohort + 1", "sample restriction 'entry_cohort + 1' gives int64 values, not true/false"),
        ("True", "sample restriction 'True' must give true or false for each row"),
    ],
)
def test_bad_restrictions(frame, expr, message):
    with pytest.raises(OptionError) as info:
        evaluate_restriction(frame, expr)
    assert str(info.value).startswith(message)


def test_apply_refuses_a_series_mask_with_another_index() -> None:
    import pandas as pd

    from cteimpact.data import SampleFlow
    from cteimpact.errors import OptionError

    frame = pd.DataFrame({"x": [1, 2, 3]}, index=[10, 11, 12])
    flow = SampleFlow("t", 3)
    shuffled = pd.Series([True, False, True], index=[12, 11, 10])
    with pytest.raises(OptionError, match="index differs"):
        flow.apply(frame, shuffled, "r")
    kept, flow2 = flow.apply(frame, pd.Series([True, False, True], index=frame.index), "r")
    assert list(kept["x"]) == [1, 3]
    assert flow2.rows_used == 2


def test_with_unit_renames_what_the_rows_count_up_to_the_first_aggregation() -> None:
    from cteimpact.data.sample_flow import SampleFlow

    flow = (SampleFlow("t", 100).exclude(10, "restriction: a").exclude(5, "missing y")
            .aggregate(20, "to cells", "cells").exclude(2, "small cells"))
    renamed = flow.with_unit("unit-periods")
    assert renamed.unit == "unit-periods"
    assert [s.unit for s in renamed.steps] == ["unit-periods", "unit-periods", "cells", "cells"]
    assert [(s.reason, s.excluded, s.remaining, s.kind) for s in renamed.steps] == \
        [(s.reason, s.excluded, s.remaining, s.kind) for s in flow.steps]
    assert (renamed.source, renamed.rows_read, renamed.rows_used) == ("t", 100, 18)
    assert SampleFlow("t", 7).with_unit("observations").to_dict()["unit"] == "observations"

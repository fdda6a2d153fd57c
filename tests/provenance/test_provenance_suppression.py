"""Small-cell suppression: which cells are hidden, that their values are gone, and the stated rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import ColumnTypeError, InvalidValueError, MissingColumnError, OptionError
from cteimpact.provenance import SUPPRESSION_MARKER, suppress_small_cells
from cteimpact.reporting import format_percent, format_suppressed


@pytest.fixture
def subgroups() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": ["female", "female", "low_income", "low_income", "low_income"],
            "level": ["0", "1", "0", "1", "2"],
            "n": [120, 7, 50, 40, 30],
            "dropout_rate": [0.10, 0.20, 0.30, 0.125, 0.40],
            "dropouts": [12, 1, 15, 5, 12],
        }
    )


def test_small_rows_are_hidden_with_their_statistics(subgroups):
    t = suppress_small_cells(subgroups, n_column="n", by="group", complementary=False)
    expected = pd.DataFrame(False, index=subgroups.index, columns=subgroups.columns)
    expected.loc[1, ["n", "dropout_rate", "dropouts"]] = True
    pd.testing.assert_frame_equal(t.suppressed, expected)
    assert t.n_suppressed == 3
    assert t.values["n"].isna().tolist() == [False, True, False, False, False]
    assert np.isnan(t.values.loc[1, "dropout_rate"])
    # what is shown is unchanged
    assert t.values.loc[0, "n"] == 120 and t.values.loc[0, "dropout_rate"] == 0.10


def test_complementary_suppression_within_each_group(subgroups):
    t = suppress_small_cells(subgroups, n_column="n", by="group")
    # female has one small row (n=7): its sibling (n=120) would give it back from the female total, so it goes too
    assert t.suppressed["n"].tolist() == [True, True, False, False, False]
    # low_income has no small row: untouched
    assert not t.suppressed.loc[2:, ["n", "dropout_rate"]].to_numpy().any()


def test_complementary_picks_the_smallest_other_cell():
    frame = pd.DataFrame({"n": [40, 5, 30, 50], "mean": [1.0, 2.0, 3.0, 4.0]})
    t = suppress_small_cells(frame, n_column="n")  # all rows one group
    assert t.suppressed["n"].tolist() == [False, True, True, False]


def test_two_small_cells_need_no_complement():
    frame = pd.DataFrame({"n": [40, 5, 30, 6], "mean": [1.0, 2.0, 3.0, 4.0]})
    t = suppress_small_cells(frame, n_column="n")
    assert t.suppressed["n"].tolist() == [False, True, False, True]


def test_count_cells_and_the_rates_derived_from_them(subgroups):
    t = suppress_small_cells(
        subgroups, n_column="n", by="group", count_columns={"dropouts": ["dropout_rate"]}, complementary=False
    )
    # dropouts=5 (low_income=1) is below 10; its rate would give it back (0.125 × 40), so it goes too
    assert t.suppressed["dropouts"].tolist() == [False, True, False, True, False]
    assert t.suppressed["dropout_rate"].tolist() == [False, True, False, True, False]
    assert not t.suppressed.loc[3, "n"]
    t2 = suppress_small_cells(subgroups, n_column="n", by="group", count_columns={"dropouts": ["dropout_rate"]})
    # with complements the next smallest count of low_income (12, level 2) is hidden as well
    assert t2.suppressed["dropouts"].tolist() == [True, True, False, True, True]


def test_missing_cell_size_counts_as_too_small():
    frame = pd.DataFrame({"n": [40.0, np.nan, 30.0], "mean": [1.0, 2.0, 3.0]})
    t = suppress_small_cells(frame, n_column="n", complementary=False)
    assert t.suppressed["n"].tolist() == [False, True, False]


def test_min_cell_is_configurable_and_stated():
    frame = pd.DataFrame({"n": [40, 15, 30], "mean": [1.0, 2.0, 3.0]})
    t = suppress_small_cells(frame, n_column="n", min_cell=20, complementary=False, unit="districts")
    assert t.suppressed["n"].tolist() == [False, True, False]
    assert t.min_cell == 20
    assert "fewer than 20 districts" in t.note
    assert "Cells suppressed in this table: 2." in t.note
    assert "subtraction" not in t.note


def test_the_rule_is_stated_even_when_nothing_is_hidden():
    t = suppress_small_cells(pd.DataFrame({"n": [40, 50], "mean": [1.0, 2.0]}), n_column="n")
    assert t.n_suppressed == 0
    assert t.note.startswith(SUPPRESSION_MARKER + " Suppressed to protect privacy: values based on fewer than 10")
    assert "Cells suppressed in this table: 0." in t.note


def test_formatted_shows_the_marker_and_keeps_whole_numbers(subgroups):
    t = suppress_small_cells(subgroups, n_column="n", by="group", complementary=False)
    out = format_suppressed(t, {"dropout_rate": format_percent})
    assert out["n"].tolist() == ["120", SUPPRESSION_MARKER, "50", "40", "30"]  # Int64, not "120.0"
    assert out["dropout_rate"].tolist() == ["10.0%", SUPPRESSION_MARKER, "30.0%", "12.5%", "40.0%"]
    assert out["group"].tolist() == subgroups["group"].tolist()


def test_hidden_values_are_not_kept_anywhere(subgroups):
    t = suppress_small_cells(subgroups, n_column="n", by="group", complementary=False)
    assert 7 not in t.values["n"].dropna().tolist()
    assert 0.20 not in t.values["dropout_rate"].dropna().tolist()
    records = t.to_records()
    assert records[1] == {
        "group": "female", "level": "1", "n": None, "dropout_rate": None, "dropouts": None,
        "suppressed": ["n", "dropout_rate", "dropouts"],
    }
    assert "7" not in repr(records[1])
    # the caller's frame is not modified
    assert subgroups.loc[1, "n"] == 7


def test_bad_input_is_a_typed_error(subgroups):
    with pytest.raises(MissingColumnError, match="'students'"):
        suppress_small_cells(subgroups, n_column="students")
    with pytest.raises(MissingColumnError, match="'grp'"):
        suppress_small_cells(subgroups, n_column="n", by="grp")
    with pytest.raises(ColumnTypeError, match="'group'"):
        suppress_small_cells(subgroups, n_column="group")
    negative = subgroups.assign(n=[120, -7, 50, 40, 30])
    with pytest.raises(InvalidValueError, match="1 negative"):
        suppress_small_cells(negative, n_column="n")
    with pytest.raises(OptionError, match="min_cell"):
        suppress_small_cells(subgroups, n_column="n", min_cell=0)
    with pytest.raises(OptionError, match="marker"):
        suppress_small_cells(subgroups, n_column="n", marker=" ")

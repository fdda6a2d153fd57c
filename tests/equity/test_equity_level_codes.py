"""Subgroup level codes are formatted once per distinct value; they equal formatting every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.equity.groups import level_names, subgroup_column
from cteimpact.rd.sample import format_value


def _per_row(values: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else format_value(v) for v in values]


@pytest.mark.parametrize("values", [
    pd.Series([1.0, np.nan, 0.0, -0.0, 1.0, 2.5]),
    pd.Series([3, 1, 3, 2], dtype="int8"),
    pd.Series([1, None, 0], dtype="Int64"),
    pd.Series(["White", None, "Asian", "White"], dtype="str"),
    pd.Series([True, False, True]),
    pd.Series([1, True, 1.0, "1", None, 10**15, 1e15], dtype=object),  # equal objects, different labels
])
def test_codes_name_each_row_as_formatting_it_would(values: pd.Series) -> None:
    codes, names = level_names(values)
    assert [None if c < 0 else names[c] for c in codes] == _per_row(values)


def test_subgroup_codes_and_counts_of_an_object_column() -> None:
    frame = pd.DataFrame({"g": pd.Series([1.0, 2.0, np.nan, 2.0, 1.0, 1.0], dtype=object)})
    col = subgroup_column(frame, "g")
    assert col.levels == ("1", "2")
    assert col.counts == (3, 2)
    assert col.n_missing == 1
    assert col.codes(frame).tolist() == [0, 1, -1, 1, 0, 0]

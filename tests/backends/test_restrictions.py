"""Sample restrictions evaluated by DuckDB keep exactly the rows the pandas evaluator keeps, and fail with the same
error class; nothing the user wrote reaches the engine as SQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.backends import open_table
from cteimpact.backends.restrictions import restriction_expression
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.errors import RestrictionError, RestrictionSyntaxError

EXPRESSIONS = [
    "cohort >= award_year",
    "cohort <= award_year + 3",
    "2014 <= cohort < 2017",
    "prior_achievement > 0.1",
    "dropout != 1",
    "not (dropout == 1)",
    "dropout is missing or dropout == 0",
    "prior_achievement is not missing",
    "race_ethnicity in ['Hispanic', 'White']",
    "race_ethnicity not in ['Hispanic']",
    "race_ethnicity > 'H'",
    "rubric_score / (cohort - 2015) > 10",
    "cohort // 3 == 671",
    "cohort % 7 == 3",
    "(-cohort) % 7 == 3",
    "-rubric_score % 4.5 < 1",
    "female",
    "female and low_income",
    "not female or pathway",
    "dropout",
    "award == true",
    "female + low_income == 1",
    "earnings_age19 * 2 - 1 >= 3000",
    "cohort in []",
    "cohort not in []",
    "rubric_score // 0 == 1",
    "cohort % 0 is missing",
    "rubric_score / 0 is missing",
    "dropout in [1, 0] & ~(female == 1) | low_income",
]


@pytest.fixture(scope="module")
def frames(duck: dict[str, Path], synth_data: Path) -> tuple[pd.DataFrame, object]:
    return pd.read_parquet(synth_data / "students.parquet"), open_table("duckdb", str(duck["students"]))


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_engine_keeps_the_rows_pandas_keeps(frames, expression: str) -> None:
    frame, source = frames
    expected = evaluate_restriction(frame, expression)
    keep = restriction_expression(source.table, expression, table_name="students")
    # the engine's flag for every row, in the table's order (DuckDB keeps the insertion order)
    flags = source.table.select(keep=keep.fill_null(False)).to_pandas()["keep"].to_numpy(dtype=bool)
    assert flags.shape == expected.shape
    assert np.array_equal(flags, expected), f"{int((flags != expected).sum())} rows differ"
    _, flow = source.restrict([expression])
    assert flow.rows_used == int(expected.sum())
    assert flow.rows_read == len(frame)


def test_restrictions_in_order_record_each_step(frames) -> None:
    frame, source = frames
    exprs = ["cohort >= award_year", "cohort <= award_year + 3", "prior_achievement is not missing"]
    _, flow = source.restrict(exprs)
    kept = frame
    for step, expr in zip(flow.steps, exprs, strict=True):
        mask = evaluate_restriction(kept, expr)
        assert step.reason == f"restriction: {expr}"
        assert step.excluded == int((~mask).sum())
        kept = kept.loc[mask]
    assert flow.rows_used == len(kept)


@pytest.mark.parametrize(("expression", "error"), [
    ("grade_at_entryy > 1", RestrictionError),
    ("race_ethnicity > 3", RestrictionError),
    ("cohort + race_ethnicity > 1", RestrictionError),
    ("prior_achievement", RestrictionError),
    ("race_ethnicity", RestrictionError),
    ("rubric_score and female", RestrictionError),
    ("race_ethnicity in [1, 2]", RestrictionError),
    ("race_ethnicity < 1 < race_ethnicity + 1", RestrictionError),  # two errors: both name the first one met
    ("1 == 1", RestrictionError),
    ("cohort.__class__ == 1", RestrictionSyntaxError),
    ("cohort == 1; DROP TABLE students", RestrictionSyntaxError),
    ("cohort = 2015", RestrictionSyntaxError),
])
def test_engine_refuses_what_pandas_refuses(frames, expression: str, error: type[Exception]) -> None:
    frame, source = frames
    with pytest.raises(error) as pandas_error:
        evaluate_restriction(frame, expression)
    with pytest.raises(error) as engine_error:
        source.restrict([expression])
    assert type(engine_error.value) is type(pandas_error.value)
    assert engine_error.value.token == pandas_error.value.token


def test_missing_column_message_names_table_and_backend(frames) -> None:
    _, source = frames
    with pytest.raises(RestrictionError, match=r"column 'grade_at_entryy' at position 0 is not in table 'students' "
                                               r"\(duckdb\); did you mean 'grade_at_entry'\?"):
        source.restrict(["grade_at_entryy > 1"])


def test_table_is_not_changed(frames) -> None:
    """A restriction that looks like SQL is refused by the parser before any query; the table keeps every row."""
    frame, source = frames
    with pytest.raises(RestrictionSyntaxError):
        source.restrict(["cohort == 1); DELETE FROM students; --"])
    assert source.count_rows() == len(frame)

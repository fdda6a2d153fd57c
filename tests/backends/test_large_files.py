"""CSV and Parquet files above the size threshold are read through DuckDB: the same rows, values, dtypes and sample
flow as the pandas path (identifiers with leading zeros stay text, pandas' missing-value markers are missing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.backends.loading import load_student_table
from cteimpact.backends.location import DUCKDB_ABOVE_MB, file_location
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.data.student_data import load_student_data

CSV = """student_id,school_id,cohort,dropout,score,note,entered
007,0012,2014,1,3.5,a,2014-08-01
0070,12,2015,0,NA,b,2015-08-01
7,012,2015,,-1.25,n/a,2015-08-03
008,0012,2016,0,2.0,,2016-08-01
009,0013,2017,NaN,0.5,null,2017-08-01
010,0013,2014,1,1e-3,c,2014-09-01
"""
COLUMNS = {"student_id": "student_id", "school": "school_id", "cohort": "cohort", "dropout": "dropout"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_through_duckdb_equals_pandas(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "students.csv"
    path.write_text(CSV, encoding="utf-8")
    if fmt == "parquet":
        frame = pd.read_csv(path, dtype={"student_id": str, "school_id": str})
        path = tmp_path / "students.parquet"
        frame.to_parquet(path)
    restrictions = ["cohort >= 2015", "score is not missing or note == 'b'"]
    location = file_location(None, path, duckdb_above_mb=0, text_columns=("student_id", "school_id"))
    assert location is not None and location.file_format == fmt
    extra = ["score", "note", "entered"]
    ours = load_student_table(location.open(), COLUMNS, extra_columns=extra, restrictions=restrictions).data
    theirs = load_student_data(path, COLUMNS, extra_columns=extra)
    for expr in restrictions:
        theirs = theirs.filter(evaluate_restriction(theirs.frame, expr), f"restriction: {expr}")
    assert ours.flow == theirs.flow
    assert list(ours.frame.columns) == list(theirs.frame.columns)
    assert ours.frame.dtypes.to_dict() == theirs.frame.dtypes.to_dict()  # a date stays text, as pandas reads it
    assert list(ours.frame["entered"]) == list(theirs.frame["entered"])
    assert list(ours.frame["student_id"]) == list(theirs.frame["student_id"])  # "0070" and "7" stay distinct text
    for col in ("cohort", "dropout", "score"):
        a, b = ours.frame[col].to_numpy(dtype=float), theirs.frame[col].to_numpy(dtype=float)
        assert np.array_equal(a, b, equal_nan=True), col
    assert ours.frame["note"].isna().tolist() == theirs.frame["note"].isna().tolist()


def test_threshold(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(CSV, encoding="utf-8")
    assert DUCKDB_ABOVE_MB == 1024.0
    assert file_location(None, path) is None  # a small file: pandas
    size_mb = path.stat().st_size / 1e6
    assert file_location(None, path, duckdb_above_mb=size_mb) is None  # not above the threshold
    assert file_location(None, path, duckdb_above_mb=size_mb * 0.99) is not None
    assert file_location(None, tmp_path / "s.txt", duckdb_above_mb=0) is None  # not a CSV or Parquet file

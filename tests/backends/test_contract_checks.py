"""The student-data contract's value checks run over every row of an engine's table, rows a restriction excludes
included, and fail with the file path's error, word for word."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_large_files import COLUMNS, CSV

from cteimpact.backends import open_table
from cteimpact.backends.loading import check_contract_values, load_student_table
from cteimpact.data.student_data import load_student_data
from cteimpact.errors import AllMissingError, ColumnTypeError, InvalidValueError


def _database(tmp_path: Path, text: str) -> tuple[Path, Path]:
    import duckdb

    csv = tmp_path / "students.csv"
    csv.write_text(text, encoding="utf-8")
    db = tmp_path / "students.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE students AS SELECT * FROM read_csv('{csv}', "
                "types={'student_id': 'VARCHAR', 'school_id': 'VARCHAR', 'dropout': 'DOUBLE'})")
    con.close()
    return csv, db


@pytest.mark.parametrize(("old", "new", "error"), [
    ("010,0013,2014,1,", "010,0013,2014,2,", InvalidValueError),     # a binary role holding 2
    ("010,0013,2014,", "010,0013,1900,", InvalidValueError),         # an impossible year
    ("010,0013,2014,", "010,0013,2014.5,", ColumnTypeError),         # a fractional year
    ("010,0013,2014,1,", "010,0013,2014,inf,", InvalidValueError),   # an infinite value
])
def test_a_bad_value_in_an_excluded_row_fails_as_in_the_file_path(tmp_path: Path, old: str, new: str,
                                                                    error: type[Exception]) -> None:
    assert old in CSV
    csv, db = _database(tmp_path, CSV.replace(old, new))
    with pytest.raises(error) as theirs:
        load_student_data(csv, COLUMNS)
    with pytest.raises(error) as ours:  # the bad row (cohort 2014 or 1900) is excluded by the restriction
        load_student_table(open_table("duckdb", str(db)), COLUMNS, restrictions=["cohort >= 2015"])
    assert str(ours.value) == str(theirs.value)


def test_a_role_with_no_value(tmp_path: Path) -> None:
    lines = CSV.splitlines()
    rows = [",".join(["" if i == 3 else v for i, v in enumerate(line.split(","))]) for line in lines[1:]]
    csv, db = _database(tmp_path, "\n".join([lines[0], *rows]) + "\n")
    with pytest.raises(AllMissingError) as theirs:
        load_student_data(csv, COLUMNS)
    with pytest.raises(AllMissingError) as ours:
        check_contract_values(open_table("duckdb", str(db)), COLUMNS)
    assert str(ours.value) == str(theirs.value)


def test_valid_data_pass(tmp_path: Path) -> None:
    _, db = _database(tmp_path, CSV)
    check_contract_values(open_table("duckdb", str(db)), COLUMNS)

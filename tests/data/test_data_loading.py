"""Loading CSV, gzipped CSV and Parquet files through the student-data contract."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from cteimpact.data import ColumnMap, load_student_data, read_columns, read_table
from cteimpact.errors import DataValidationError, InvalidValueError, MissingColumnError, OptionError

SUFFIXES = [".csv", ".csv.gz", ".parquet", ".pq"]


def _write(frame: pd.DataFrame, path) -> None:
    if str(path).endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)  # pandas compresses .gz by suffix


@pytest.fixture
def file_frame(frame) -> pd.DataFrame:
    """The test frame plus two columns outside the mapping."""
    out = frame.copy()
    out["school_name"] = ["North", "North", "North", "North", "South", "South", "South", "South"]
    out["case_notes"] = ["confidential"] * len(out)
    return out


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_with_renaming_map(tmp_path, file_frame, cmap, suffix):
    path = tmp_path / f"students{suffix}"
    _write(file_frame, path)
    data = load_student_data(path, cmap, extra_columns=["school_name"])
    # only mapped columns and the extra column are read
    assert set(data.frame.columns) == {*cmap.columns(), "school_name"}
    assert "case_notes" not in data.frame.columns
    # values survive the trip (canonical float64 for checked roles, identifiers as written)
    for role, col in cmap.items():
        got = data.values(role)
        if role in ("student_id", "school"):
            assert got.tolist() == file_frame[col].tolist(), role
        else:
            np.testing.assert_array_equal(got.to_numpy(dtype=float), file_frame[col].to_numpy(dtype=float),
                                          err_msg=role)
    assert data.frame["school_name"].tolist() == file_frame["school_name"].tolist()
    assert data.column("earnings") == "wages"
    # the flow starts with the rows read from the file, by name only
    assert data.flow.source == path.name
    assert data.flow.rows_read == 8
    assert data.flow.rows_used == 8
    assert data.flow.steps == ()


def test_csv_gz_is_really_gzipped(tmp_path, file_frame, cmap):
    path = tmp_path / "students.csv.gz"
    _write(file_frame, path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert len(load_student_data(path, cmap)) == 8


def test_required_roles_are_recorded_one_step_each(tmp_path, file_frame, cmap):
    path = tmp_path / "students.parquet"
    _write(file_frame, path)
    data = load_student_data(path, cmap, required=["dropout", "earnings", "cohort"])
    # dropout missing in rows 7-8; earnings missing in row 7 (already gone); cohort never missing
    assert [(s.reason, s.excluded, s.remaining) for s in data.flow.steps] == [
        ("missing dropout (column 'drop_4yr')", 2, 6),
        ("missing earnings (column 'wages')", 0, 6),
        ("missing cohort (column 'entry_cohort')", 0, 6),
    ]
    assert len(data) == 6


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_mapped_columns_in_a_file_name_role_suggestion_and_count(tmp_path, file_frame, cmap, suffix):
    path = tmp_path / f"students{suffix}"
    _write(file_frame, path)
    bad = ColumnMap({**cmap.to_dict(), "cohort": "entry_cohrot", "award": "funded"})
    with pytest.raises(MissingColumnError) as info:
        load_student_data(path, bad)
    assert str(info.value) == (
        "column 'entry_cohrot' (role 'cohort') is not in the data; did you mean 'entry_cohort'? "
        "(1 more mapped columns are missing too: 'funded')"
    )


def test_missing_extra_column(tmp_path, file_frame, cmap):
    path = tmp_path / "students.csv"
    _write(file_frame, path)
    with pytest.raises(MissingColumnError, match=r"^column 'school_nme' is not in the data; did you mean 'school_name'"
                       r"\?$"):
        load_student_data(path, cmap, extra_columns=["school_nme"])


def test_read_table_reports_every_missing_column(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"alpha": [1], "beta": [2]}).to_csv(path, index=False)
    with pytest.raises(MissingColumnError) as info:
        read_table(path, ["alpah", "gamma", "beta", "delta"])
    assert str(info.value) == (
        "column 'alpah' is not in the data; did you mean 'alpha'? "
        "(2 more requested columns are missing too: 'gamma', 'delta')"
    )


def test_read_table_and_read_columns(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    for suffix in SUFFIXES:
        path = tmp_path / f"t{suffix}"
        _write(frame, path)
        assert read_columns(path) == ["a", "b", "c"], suffix
        pd.testing.assert_frame_equal(read_table(path).reset_index(drop=True), frame, check_dtype=False)
        got = read_table(path, ["c", "a", "c"])
        assert sorted(got.columns) == ["a", "c"], suffix


def test_validation_errors_from_a_file_name_the_column(tmp_path, file_frame, cmap):
    file_frame.loc[2, "wages"] = -50.0
    path = tmp_path / "students.csv"
    _write(file_frame, path)
    with pytest.raises(InvalidValueError, match=r"^column 'wages' \(role 'earnings'\) must not be negative: 1 of 7"):
        load_student_data(path, cmap)


@pytest.mark.parametrize("name", ["students.txt", "students.xlsx", "students.json", "students"])
def test_unsupported_suffix(tmp_path, cmap, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with pytest.raises(OptionError) as info:
        load_student_data(path, cmap)
    assert str(info.value) == f"cannot read '{name}': the file type is not one of .csv, .csv.gz, .parquet, .pq"


@pytest.mark.parametrize("reader", [read_table, read_columns, lambda p: load_student_data(p, {"cohort": "c"})])
def test_missing_file_and_directory(tmp_path, reader):
    with pytest.raises(OptionError, match=r"data file '.*nope\.csv' does not exist"):
        reader(tmp_path / "nope.csv")
    (tmp_path / "folder.parquet").mkdir()
    with pytest.raises(OptionError, match=r"data file '.*folder\.parquet' is not a file"):
        reader(tmp_path / "folder.parquet")


def _malformed(tmp_path, kind: str):
    if kind == "garbage parquet":
        path = tmp_path / "bad.parquet"
        path.write_bytes(b"this is not a parquet file")
    elif kind == "truncated parquet":
        path = tmp_path / "cut.parquet"
        pd.DataFrame({"c": range(100)}).to_parquet(path)
        path.write_bytes(path.read_bytes()[:-30])
    elif kind == "empty csv":
        path = tmp_path / "empty.csv"
        path.write_bytes(b"")
    elif kind == "unterminated quote":
        path = tmp_path / "quote.csv"
        path.write_text('c,d\n1,2\n"3,4\n')
    elif kind == "truncated gzip":
        path = tmp_path / "cut.csv.gz"
        path.write_bytes(gzip.compress(b"c,d\n" + b"1,2\n" * 200)[:30])
    elif kind == "corrupt gzip":
        path = tmp_path / "corrupt.csv.gz"
        path.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 10)
    elif kind == "not gzip":
        path = tmp_path / "plain.csv.gz"
        path.write_text("c,d\n1,2\n")
    elif kind == "binary csv":
        path = tmp_path / "binary.csv"
        path.write_bytes(bytes(range(256)) * 8)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


MALFORMED = ["garbage parquet", "truncated parquet", "empty csv", "unterminated quote", "truncated gzip",
             "corrupt gzip", "not gzip", "binary csv"]


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_files_raise_data_validation_errors(tmp_path, kind):
    path = _malformed(tmp_path, kind)
    # without a column list, with a column list (reads the header first) and through the loader
    for call in (lambda: read_table(path), lambda: read_table(path, ["c"]),
                 lambda: load_student_data(path, {"cohort": "c"})):
        with pytest.raises(DataValidationError) as info:
            call()
        msg = str(info.value)
        if kind == "empty csv":  # said plainly (tests/data/test_data_io_duplicates.py)
            assert msg == f"data file '{path.name}' is empty (0 bytes)", msg
        elif not isinstance(info.value, MissingColumnError):  # a binary blob may parse into nonsense columns
            assert msg.startswith(f"cannot parse '{path.name}' as "), msg


def test_loading_does_not_keep_unmapped_personal_columns(tmp_path, file_frame, cmap):
    path = tmp_path / "students.parquet"
    _write(file_frame, path)
    data = load_student_data(path, cmap)
    assert "case_notes" not in data.frame.columns
    assert "school_name" not in data.frame.columns


def test_csv_identifiers_keep_leading_zeros(tmp_path) -> None:
    import pandas as pd

    from cteimpact.data import load_student_data

    path = tmp_path / "ids.csv"
    pd.DataFrame({"sid": ["00123", "123"], "yr": [2015, 2015], "drop": [0, 1]}).to_csv(path, index=False)
    data = load_student_data(path, {"student_id": "sid", "year": "yr", "dropout": "drop"})
    assert list(data.values("student_id")) == ["00123", "123"]  # not collapsed into a duplicate of 123

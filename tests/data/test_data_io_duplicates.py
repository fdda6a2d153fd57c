"""Reading data files: repeated column names, empty files and identifier columns are handled plainly."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.data.io import read_columns, read_table
from cteimpact.errors import DataValidationError


def cli(capsys, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main([*map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


RD = ("rd", "--outcome", "y", "--running", "x", "--cutoff", "0")
DID = ("did", "--outcome", "y", "--unit", "u", "--time", "t", "--cohort", "g")


def _rd_rows(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, n)
    return pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(size=n)})


# -- repeated column names -----------------------------------------------------------------------------------------


def test_repeated_column_name_is_an_error_naming_it(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,y,z,y,y\n0.1,1,2,3,4\n", encoding="utf-8")
    for call in (lambda: read_columns(path), lambda: read_table(path), lambda: read_table(path, ["x"])):
        with pytest.raises(DataValidationError) as info:
            call()
        assert str(info.value) == ("data file 'dup.csv' has the column 'y' 3 times; column names must be unique, "
                                   "rename the copies")


def test_repeated_column_name_in_a_gzipped_csv(tmp_path):
    path = tmp_path / "dup.csv.gz"
    path.write_bytes(gzip.compress(b"x,y,x\n1,2,3\n"))
    with pytest.raises(DataValidationError, match="has the column 'x' 2 times"):
        read_columns(path)


@pytest.mark.parametrize("command", [RD, DID])
def test_cli_exits_2_on_a_repeated_column(tmp_path, capsys, command):
    path = tmp_path / "dup.csv"
    path.write_text("x,y,u,t,g,y\n0.1,1,a,2010,0,5\n", encoding="utf-8")
    code, out, err = cli(capsys, command[0], path, *command[1:])
    assert code == 2 and out == ""
    assert _one_line(err) == ("cteimpact: error: data file 'dup.csv' has the column 'y' 2 times; column names must "
                              "be unique, rename the copies")


def test_distinct_names_that_pandas_would_mangle_are_kept(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("y,y.1\n1,2\n", encoding="utf-8")
    assert read_columns(path) == ["y", "y.1"]
    assert list(read_table(path).columns) == ["y", "y.1"]


# -- empty files ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [RD, DID])
def test_cli_exits_2_on_a_zero_byte_file(tmp_path, capsys, command):
    path = tmp_path / "x.csv"
    path.write_bytes(b"")
    code, out, err = cli(capsys, command[0], path, *command[1:])
    assert code == 2 and out == ""
    assert _one_line(err) == "cteimpact: error: data file 'x.csv' is empty (0 bytes)"


@pytest.mark.parametrize("command", [RD, DID])
def test_cli_exits_2_on_a_header_without_rows(tmp_path, capsys, command):
    path = tmp_path / "x.csv"
    path.write_text("x,y,u,t,g\n", encoding="utf-8")
    code, out, err = cli(capsys, command[0], path, *command[1:])
    assert code == 2 and out == ""
    msg = _one_line(err)
    assert msg == "cteimpact: error: data file 'x.csv' has no rows (only 5 column names)"
    assert "sample restrictions" not in msg


def test_parquet_without_rows(tmp_path):
    path = tmp_path / "x.parquet"
    _rd_rows().iloc[:0].to_parquet(path)
    with pytest.raises(DataValidationError, match=r"^data file 'x.parquet' has no rows \(only 2 column names\)$"):
        read_table(path)


def test_blank_first_line_is_an_empty_file(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"^data file 'blank\.csv' is empty: it has no header row$"):
        read_columns(path)


# -- identifiers ------------------------------------------------------------------------------------------------------


def test_identifier_columns_are_read_as_text_from_csv(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("sid,v\n01,1\n1,2\n12345678901234567,3\n12345678901234568,4\n", encoding="utf-8")
    frame = read_table(path, text_columns=["sid"])
    assert frame["sid"].tolist() == ["01", "1", "12345678901234567", "12345678901234568"]
    assert frame["v"].tolist() == [1, 2, 3, 4]  # other columns keep their types
    assert read_table(path)["sid"].nunique() < 4  # what reading them as numbers does


def test_float_identifiers_in_parquet(tmp_path: Path):
    ok = tmp_path / "ok.parquet"
    pd.DataFrame({"sid": [1.0, 2.0, 3.0], "v": [1, 2, 3]}).to_parquet(ok)
    assert read_table(ok, text_columns=["sid"])["sid"].tolist() == [1.0, 2.0, 3.0]  # exact: kept
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"sid": [2.0**53, 1.0, 2.5], "v": [1, 2, 3]}).to_parquet(bad)
    with pytest.raises(DataValidationError) as info:
        read_table(bad, text_columns=["sid"])
    assert str(info.value) == (
        "identifier column 'sid' of 'bad.parquet' is stored as floating-point numbers and has 1 value of 2**53 or "
        "more, which float64 cannot store exactly (distinct ids may have merged); store identifiers as text or "
        "integers")
    read_table(bad)  # not an identifier column: no check

"""A DuckDB table as a data source: columns, counts and missing-value exclusions computed by the engine equal the
pandas counts; the pull guard stops with the numbers; repeated keys are found in the engine; the rows' hash does not
depend on their order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.backends import (
    BackendColumnError,
    BackendFeatureError,
    BackendTableError,
    BackendTypeError,
    PullLimitError,
    from_ibis,
    open_table,
)
from cteimpact.backends.digest import rows_sha256
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import CteImpactError, DuplicateRowsError, MissingColumnError


@pytest.fixture(scope="module")
def students(duck: dict[str, Path], synth_data: Path):
    return pd.read_parquet(synth_data / "students.parquet"), open_table("duckdb", str(duck["students"]))


def test_columns_and_rows(students) -> None:
    frame, source = students
    assert source.columns() == list(frame.columns)
    assert source.count_rows() == len(frame)
    assert source.backend == "duckdb"
    assert source.name == "students"
    assert source.label == "students.duckdb:students"


def test_pull_equals_the_file(students) -> None:
    frame, source = students
    cols = ["student_id", "cohort", "prior_achievement", "dropout", "race_ethnicity"]
    pulled = source.pull(cols, why="a test")
    assert list(pulled.columns) == cols
    assert len(pulled) == len(frame)
    for c in cols:
        a, b = pulled[c].to_numpy(), frame[c].to_numpy()
        if np.issubdtype(a.dtype, np.number):
            assert np.array_equal(a.astype(float), b.astype(float), equal_nan=True), c
        else:
            assert list(pulled[c].astype(str)) == list(frame[c].astype(str)), c


def test_missing_value_exclusions_counted_in_the_engine(students) -> None:
    frame, source = students
    table, flow = source.restrict(["cohort >= award_year"])
    table, flow = source.exclude_missing(table, flow, {"prior achievement": "prior_achievement",
                                                        "dropout": "dropout"})
    kept = frame.loc[frame["cohort"] >= frame["award_year"]]
    n1 = int(kept["prior_achievement"].isna().sum())
    kept = kept.loc[kept["prior_achievement"].notna()]
    n2 = int(kept["dropout"].isna().sum())
    assert [s.excluded for s in flow.steps] == [int((frame["cohort"] < frame["award_year"]).sum()), n1, n2]
    assert flow.steps[1].reason == "missing prior achievement (column 'prior_achievement')"
    assert flow.rows_used == len(kept) - n2 == source.count_rows(table)


def test_pull_limit_names_rows_limit_and_reason(students) -> None:
    frame, source = students
    table, flow = source.restrict(["cohort >= award_year"])
    with pytest.raises(PullLimitError) as err:
        source.pull(["dropout"], table=table, max_rows=1000, why="regression discontinuity: fits on rows")
    n = int((frame["cohort"] >= frame["award_year"]).sum())
    assert err.value.rows == n == flow.rows_used
    assert err.value.limit == 1000
    assert f"pulling {n:,} rows of table 'students' (duckdb)" in str(err.value)
    assert "limit of 1,000 rows: regression discontinuity: fits on rows" in str(err.value)
    assert isinstance(err.value, CteImpactError)
    assert len(source.pull(["dropout"], table=table, max_rows=n, why="x")) == n  # at the limit: allowed


def test_missing_column_names_role_backend_and_table(students) -> None:
    _, source = students
    with pytest.raises(BackendColumnError) as err:
        source.require_columns({"dropout": "dropuot"})
    assert str(err.value) == ("column 'dropuot' (role 'dropout') is not in table 'students' (duckdb); did you mean "
                              "'dropout'?")
    assert isinstance(err.value, MissingColumnError)
    assert (err.value.backend, err.value.table, err.value.column) == ("duckdb", "students", "dropuot")


def test_text_outcome_cannot_be_aggregated(students) -> None:
    _, source = students
    source.require_numeric(["dropout", "female", "cohort"], why="the outcome")
    with pytest.raises(BackendTypeError, match=r"column 'race_ethnicity' of table 'students' \(duckdb\) holds "
                                               r"string values, which cannot be summed or averaged; the outcome "
                                               r"needs numbers") as err:
        source.require_numeric(["dropout", "race_ethnicity"], why="the outcome")
    assert err.value.column == "race_ethnicity"


def test_tables_of_a_database(duck: dict[str, Path]) -> None:
    with pytest.raises(BackendTableError, match=r"holds 2 tables \(district_panel, students\); name the one to read"):
        open_table("duckdb", str(duck["both"]))
    with pytest.raises(BackendTableError, match=r"table 'student' is not in 'both.duckdb' \(duckdb\); did you mean "
                                                r"'students'\?"):
        open_table("duckdb", str(duck["both"]), "student")
    assert open_table("duckdb", str(duck["both"]), "district_panel").count_rows() == \
        open_table("duckdb", str(duck["panel"])).count_rows()


def test_repeated_keys_counted_in_the_engine(tmp_path: Path) -> None:
    frame = pd.DataFrame({"s": ["a", "a", "a", "b", "b", "c", None, None],
                          "y": [2020, 2020, 2020, 2020, 2021, 1, 1, 1]})
    path = tmp_path / "k.duckdb"
    import duckdb

    con = duckdb.connect(str(path))
    con.register("f", frame)
    con.execute("CREATE TABLE k AS SELECT * FROM f")
    con.close()
    source = open_table("duckdb", str(path))
    assert source.repeated_keys(["s"]) == int(frame.dropna().duplicated(["s"]).sum()) == 3
    assert source.repeated_keys(["s", "y"]) == int(frame.dropna().duplicated(["s", "y"]).sum()) == 2
    with pytest.raises(DuplicateRowsError, match=r"^2 rows of table 'k' \(duckdb\) repeat a \(s, y\) combination"):
        source.check_unique(["s", "y"])


def test_engine_failure_is_a_feature_error(students, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that cannot compile or run a query (here: an operation Ibis says the backend lacks) gives a typed
    error naming the backend, the table and what was being computed."""
    import ibis.common.exceptions as ibis_errors

    _, source = students
    def refuse(self, *args, **kwargs):
        raise ibis_errors.OperationNotDefinedError("Count is not defined for this backend")

    monkeypatch.setattr(type(source.table.count()), "execute", refuse)
    with pytest.raises(BackendFeatureError, match=r"^duckdb could not compute the number of rows on table "
                                                  r"'students': Count is not defined for this backend$") as err:
        source.count_rows()
    assert (err.value.backend, err.value.table) == ("duckdb", "students")


def test_from_ibis_table(students) -> None:
    frame, source = students
    own = from_ibis(source.table)
    assert (own.backend, own.name) == ("duckdb", "students")
    _, flow = own.restrict(["female == 1"])
    assert flow == SampleFlow("students", len(frame)).exclude(int((frame["female"] != 1).sum()),
                                                              "restriction: female == 1")


def test_rows_hash_ignores_order_and_sees_changes(students) -> None:
    frame, source = students
    cols = ["student_id", "dropout", "prior_achievement", "race_ethnicity", "female"]
    pulled = source.pull(cols, why="x")
    digest = rows_sha256(pulled)
    shuffled = pulled.sample(frac=1.0, random_state=3)[list(reversed(cols))]
    assert rows_sha256(shuffled) == digest
    assert rows_sha256(frame[cols]) == digest  # the same rows read from the Parquet file
    changed = pulled.copy()
    changed.loc[5, "prior_achievement"] = 0.125
    assert rows_sha256(changed) != digest
    assert rows_sha256(pulled.iloc[1:]) != digest


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    from cteimpact.backends import BackendConnectionError

    bad = tmp_path / "x.duckdb"
    bad.write_text("student_id,y\n1,2\n")
    with pytest.raises(BackendConnectionError, match=r"^cannot open 'x.duckdb' as a DuckDB database: "):
        open_table("duckdb", str(bad))
    with pytest.raises(BackendConnectionError, match=r"DuckDB database file '.*nope.duckdb' does not exist"):
        open_table("duckdb", str(tmp_path / "nope.duckdb"))

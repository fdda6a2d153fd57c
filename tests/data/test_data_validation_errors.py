"""Every validation error of the student-data contract (issue 2, "Bad input").

Each test asserts the exception type, that the message names the column (and its role) and the exact counts, and
that no student identifier is quoted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.data import ColumnMap, StudentData, ValidationPolicy, coerce_kind, coerce_role, validate_frame
from cteimpact.errors import (
    AllMissingError,
    ColumnTypeError,
    DataValidationError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
)

SECRET = "SECRET-"  # prefix of the student ids in tests/data/conftest.py


def _raises(exc_type, frame, cmap, **kwargs) -> str:
    with pytest.raises(exc_type) as info:
        validate_frame(frame, cmap, **kwargs)
    msg = str(info.value)
    assert SECRET not in msg, f"an error message quoted a student identifier: {msg}"
    assert "\n" not in msg
    return msg


# -- missing or misspelled columns --------------------------------------------------------------------------------


def test_misspelled_column_suggests_the_closest_name(frame, cmap):
    bad = ColumnMap({**cmap.to_dict(), "cohort": "entry_cohrot"})
    msg = _raises(MissingColumnError, frame, bad)
    assert msg == "column 'entry_cohrot' (role 'cohort') is not in the data; did you mean 'entry_cohort'?"


def test_case_mismatch_suggests_the_column_with_other_case(frame, cmap):
    bad = ColumnMap({**cmap.to_dict(), "grade": "GR"})
    msg = _raises(MissingColumnError, frame, bad)
    assert msg == "column 'GR' (role 'grade') is not in the data; did you mean 'gr'?"


def test_several_missing_columns_are_all_reported(frame, cmap):
    bad = ColumnMap({**cmap.to_dict(), "cohort": "entry_cohrot", "earnings": "wage", "pathway": "cte_pathway"})
    err = None
    with pytest.raises(MissingColumnError) as info:
        validate_frame(frame, bad)
    err = info.value
    assert str(err) == (
        "column 'entry_cohrot' (role 'cohort') is not in the data; did you mean 'entry_cohort'? "
        "(2 more mapped columns are missing too: 'cte_pathway', 'wage')"
    )
    assert err.column == "entry_cohrot"
    assert err.role == "cohort"
    assert err.suggestion == "entry_cohort"
    assert isinstance(err, KeyError)  # lets callers catch it as a missing key too


def test_missing_column_without_close_match_lists_the_columns(frame):
    msg = _raises(MissingColumnError, frame, ColumnMap({"score": "rubric_total"}))
    assert msg == (
        "column 'rubric_total' (role 'score') is not in the data; the data have 12 columns: sid, sch, cons, "
        "entry_cohort, yr, gr, age_at, is_female, drop_4yr, wages, launch, gpa8"
    )


def test_missing_column_error_truncates_a_long_column_list():
    err = MissingColumnError("zzz", [f"c{i}" for i in range(30)], "score")
    assert str(err).endswith("the data have 30 columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11 ...")


# -- wrong type ---------------------------------------------------------------------------------------------------


def test_text_in_a_numeric_column(frame, cmap):
    frame["wages"] = frame["wages"].astype(object)
    frame.loc[[0, 3, 5], "wages"] = ["n/a", "unknown", "n/a"]
    msg = _raises(ColumnTypeError, frame, cmap)
    # 8 rows, 1 missing -> 7 non-missing, 3 of them text; values shared by fewer than 10 rows are not quoted (the
    # column could hold identifiers: tests/rd/test_rd_cli_identifiers.py)
    assert msg == (
        "column 'wages' (role 'earnings') must be numeric: 3 of 7 non-missing values are not numbers "
        "(2 distinct values shared by fewer than 10 rows not quoted, as they could identify a student)"
    )


def test_a_code_shared_by_many_rows_is_quoted(frame, cmap):
    frame = pd.concat([frame] * 3, ignore_index=True)
    frame["wages"] = frame["wages"].astype(object)
    frame.loc[:11, "wages"] = "n/a"
    frame.loc[12, "wages"] = "S0012345"
    msg = _raises(ColumnTypeError, frame, cmap)
    assert "e.g. 'n/a'" in msg
    assert "S0012345" not in msg and "1 distinct value shared by fewer than 10 rows not quoted" in msg


def test_text_in_a_binary_column_is_a_type_error(frame, cmap):
    frame["is_female"] = ["F", "F", "M", "M", "F", "F", 0, 1]
    msg = _raises(ColumnTypeError, frame, cmap)
    assert msg.startswith("column 'is_female' (role 'female') must be numeric: 6 of 8 non-missing values")


def test_numeric_text_is_accepted_and_converted(frame, cmap):
    frame["wages"] = ["0", "1200.5", "0", "0", "3000", "0", None, "15.25"]
    out = validate_frame(frame, cmap)
    assert out["wages"].dtype == np.float64
    np.testing.assert_array_equal(out["wages"].to_numpy(), [0.0, 1200.5, 0.0, 0.0, 3000.0, 0.0, np.nan, 15.25])


# -- duplicated (student, year) -----------------------------------------------------------------------------------


def test_duplicated_student_year(frame, cmap):
    frame.loc[3, "yr"] = 2015  # student 2: 2015 twice (row 4)
    frame.loc[7, "yr"] = 2016  # student 4: 2016 twice (row 8)
    msg = _raises(DuplicateRowsError, frame, cmap)
    assert msg == (
        "2 rows repeat a (sid, yr) combination already present (roles student_id, year; first repeat at data "
        "row 4); each combination must appear once"
    )


def test_duplicated_student_without_year_uses_student_key(frame):
    cmap = ColumnMap({"student_id": "sid", "cohort": "entry_cohort"})
    msg = _raises(DuplicateRowsError, frame, cmap)
    assert msg.startswith("4 rows repeat a (sid) combination already present (roles student_id; first repeat at data "
                          "row 2)")


def test_explicit_key_roles_and_no_key():
    frame = pd.DataFrame({"d": [1, 1, 2], "c": [2014, 2015, 2014]})
    cmap = ColumnMap({"district": "d", "cohort": "c"})
    validate_frame(frame, cmap)  # no student id: no default key
    validate_frame(frame, cmap, key_roles=("district", "cohort"))
    msg = _raises(DuplicateRowsError, frame, cmap, key_roles=("district",))
    assert msg.startswith(
        "1 rows repeat a (d) combination already present (roles district; first repeat at data row 2)"
    )


def test_rows_missing_a_key_value_are_not_duplicates(frame, cmap):
    # regression: two records of one student that both lack the year used to be reported as a repeated key
    frame.loc[[2, 3], "yr"] = np.nan
    out = validate_frame(frame, cmap)
    assert out["yr"].isna().sum() == 2
    data = StudentData.from_frame(frame, cmap, required=["year"])
    assert len(data) == 6
    assert data.flow.steps[-1].excluded == 2


# -- binary outcomes with other values ----------------------------------------------------------------------------


def test_binary_outcome_with_other_values(frame, cmap):
    frame["drop_4yr"] = [0, 2, 1, 2, 9, 0, np.nan, 2]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == (
        "column 'drop_4yr' (role 'dropout') is binary and must hold only 0 and 1: 4 rows have other values: "
        "2 (3 rows), 9 (1 rows)"
    )


def test_binary_with_many_other_values_says_how_many_are_not_shown():
    s = pd.Series([0, 1, 2, 3, 3, 4, 5, 6, 6, 6], name="grad")
    with pytest.raises(InvalidValueError) as info:
        coerce_role(s, "graduation")
    assert str(info.value) == (
        "column 'grad' (role 'graduation') is binary and must hold only 0 and 1: 8 rows have other values: "
        "6 (3 rows), 3 (2 rows), 2 (1 rows) and 2 other values"
    )


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([True, False, True]),
        pd.Series([True, None, False], dtype="boolean"),
        pd.Series([1, None, 0], dtype="Int64"),
        pd.Series([1.0, np.nan, 0.0]),
        pd.Series(["1", "0", None], dtype=object),
    ],
    ids=["bool", "nullable-boolean", "nullable-int", "float", "text-digits"],
)
def test_binary_accepts_booleans_and_0_1_in_any_dtype(series):
    out = coerce_kind(series, "binary")
    assert out.dtype == np.float64
    expected = pd.to_numeric(series.astype(object), errors="coerce").astype(float).to_numpy()
    np.testing.assert_array_equal(out.to_numpy(), expected)


# -- negative earnings and other range checks --------------------------------------------------------------------


def test_negative_earnings(frame, cmap):
    frame["wages"] = [0.0, -1200.5, 0.0, -3.0, 3000.0, 0.0, np.nan, -0.01]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == "column 'wages' (role 'earnings') must not be negative: 3 of 7 values are below 0 (minimum -1200.5)"


def test_infinite_values_are_refused(frame, cmap):
    frame["wages"] = [0.0, np.inf, 0.0, 1.0, 3000.0, 0.0, np.nan, np.inf]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == (
        "column 'wages' (role 'earnings') has 2 infinite values of 7 non-missing; use a missing value where the "
        "value is unknown"
    )
    with pytest.raises(InvalidValueError,
                       match=r"^column 'gpa8' \(role 'prior_achievement'\) has 1 infinite values of 3 non-missing"):
        coerce_role(pd.Series([0.1, -np.inf, 2.0], name="gpa8"), "prior_achievement")


def test_impossible_years(frame, cmap):
    frame.loc[[1, 4], "yr"] = [1905, 2099]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == "column 'yr' (role 'year') has 2 impossible years outside 1970–2040 (range found 1905–2099)"


def test_fractional_years(frame, cmap):
    frame["entry_cohort"] = frame["entry_cohort"].astype(float)
    frame.loc[[0, 1, 2], "entry_cohort"] = [2014.5, 2014.5, 2015.25]
    msg = _raises(ColumnTypeError, frame, cmap)
    assert msg == "column 'entry_cohort' (role 'cohort') must hold whole numbers: 3 values have a fractional part"


def test_year_limits_follow_the_policy(frame, cmap):
    policy = ValidationPolicy(year_min=2015, year_max=2030)
    msg = _raises(InvalidValueError, frame, cmap, policy=policy)
    # the first year-valued role checked is cohort: 2014 appears 4 times
    assert msg == (
        "column 'entry_cohort' (role 'cohort') has 4 impossible years outside 2015–2030 (range found 2014–2014)"
    )


@pytest.mark.parametrize(("lo", "hi"), [(2020, 2020), (2021, 2020)])
def test_policy_needs_an_increasing_range(lo, hi):
    with pytest.raises(OptionError, match=rf"year_min \({lo}\) must be below year_max \({hi}\)"):
        ValidationPolicy(year_min=lo, year_max=hi)


def test_grades_out_of_range(frame, cmap):
    frame.loc[[0, 5, 6], "gr"] = [15, -1, 14]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == "column 'gr' (role 'grade') has 3 impossible grades outside 0–13 (range found -1–15)"


def test_fractional_grade(frame, cmap):
    frame["gr"] = frame["gr"].astype(float)
    frame.loc[2, "gr"] = 9.5
    msg = _raises(ColumnTypeError, frame, cmap)
    assert msg == "column 'gr' (role 'grade') must hold whole numbers: 1 values have a fractional part"


def test_ages_out_of_range(frame, cmap):
    frame.loc[[3, 4], "age_at"] = [5, 140]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == "column 'age_at' (role 'age') has 2 impossible ages outside 10–80 (range found 5–140)"


def test_boundary_values_are_valid():
    assert coerce_kind(pd.Series([0, 13]), "grade").tolist() == [0.0, 13.0]
    assert coerce_kind(pd.Series([10, 80]), "age").tolist() == [10.0, 80.0]
    assert coerce_kind(pd.Series([1970, 2040]), "year").tolist() == [1970.0, 2040.0]


# -- all missing ----------------------------------------------------------------------------------------------------


def test_all_missing_column(frame, cmap):
    frame["gpa8"] = np.nan
    msg = _raises(AllMissingError, frame, cmap)
    assert msg == "column 'gpa8' (role 'prior_achievement') has no non-missing value in 8 rows"


def test_all_missing_identifier_column(frame, cmap):
    frame["sch"] = None
    msg = _raises(AllMissingError, frame, cmap)
    assert msg == "column 'sch' (role 'school') has no non-missing value in 8 rows"


def test_empty_frame_is_not_all_missing(cmap, frame):
    out = validate_frame(frame.iloc[:0], cmap)
    assert len(out) == 0
    assert list(out.columns) == list(frame.columns)


# -- first treated: 0 = never ---------------------------------------------------------------------------------------


def test_first_treated_zero_and_missing_mean_never(frame, cmap):
    out = validate_frame(frame, cmap)
    np.testing.assert_array_equal(out["launch"].to_numpy(), [2015, 2015, 2015, 2015, 0, 0, np.nan, np.nan])


def test_first_treated_impossible_year_says_how_to_code_never(frame, cmap):
    frame["launch"] = [2015, 2015, -1, -1, 99, 99, 0, np.nan]
    msg = _raises(InvalidValueError, frame, cmap)
    assert msg == (
        "column 'launch' (role 'first_treated') has 4 impossible years outside 1970–2040 (range found -1–99); "
        "use 0 or missing for never treated"
    )


# -- canonical dtypes and the caller's frame -------------------------------------------------------------------------


def test_canonical_dtypes(frame, cmap):
    out = validate_frame(frame, cmap)
    for role in ("cohort", "year", "grade", "age", "female", "dropout", "earnings", "first_treated",
                 "prior_achievement"):
        assert out[cmap[role]].dtype == np.float64, role
    # identifiers are left as they are
    assert out["sid"].tolist() == frame["sid"].tolist()
    assert out["cons"].dtype == frame["cons"].dtype


def test_validation_does_not_modify_the_callers_frame(frame, cmap):
    before = frame.copy(deep=True)
    dtypes = frame.dtypes.copy()
    validate_frame(frame, cmap)
    StudentData.from_frame(frame, cmap, required=["dropout", "earnings"])
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_series_equal(frame.dtypes, dtypes)


def test_every_validation_error_is_a_data_validation_error():
    for cls in (MissingColumnError, ColumnTypeError, DuplicateRowsError, InvalidValueError, AllMissingError):
        assert issubclass(cls, DataValidationError)
        assert issubclass(cls, ValueError)


def test_coerce_kind_names_columns_outside_the_mapping():
    with pytest.raises(InvalidValueError) as info:
        coerce_kind(pd.Series([0, 1, 7]), "binary", what="outcome column 'y' (--outcome)")
    assert str(info.value).startswith("outcome column 'y' (--outcome) is binary and must hold only 0 and 1: 1 rows")
    with pytest.raises(AllMissingError, match=r"^column 'z' has no non-missing value in 2 rows$"):
        coerce_kind(pd.Series([np.nan, np.nan], name="z"), "numeric")


def test_a_repeated_column_name_is_reported(frame, cmap):
    # regression: frame["wages"] returned a DataFrame and validation failed with an AttributeError
    doubled = pd.concat([frame, frame[["wages"]]], axis=1)
    msg = _raises(DataValidationError, doubled, cmap)
    assert msg == (
        "column 'wages' (role 'earnings') appears 2 times in the data; rename the copies so that each column name "
        "is unique"
    )


def test_errors_survive_pickling():
    # errors cross process boundaries in parallel runs; MissingColumnError has a custom constructor
    import pickle

    err = MissingColumnError("cohrt", ["cohort", "year"], "cohort")
    err.args = (f"{err.args[0]} (1 more mapped columns are missing too: 'x')",)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is MissingColumnError
    assert str(back) == str(err)
    assert (back.column, back.role, back.available, back.suggestion) == ("cohrt", "cohort", ("cohort", "year"),
                                                                         "cohort")
    for cls in (ColumnTypeError, DuplicateRowsError, InvalidValueError, AllMissingError, OptionError):
        assert str(pickle.loads(pickle.dumps(cls("column 'x' has 3 bad values")))) == "column 'x' has 3 bad values"

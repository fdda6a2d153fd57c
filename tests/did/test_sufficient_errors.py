"""Data the sufficient-statistics path refuses, with typed errors naming the column and the counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cteimpact.did.sufficient.errors import TooManyRowsError, UnsupportedDataError
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from cteimpact.did.sufficient.twfe import twfe_sufficient
from cteimpact.errors import (
    ColumnTypeError,
    DesignError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
)
from tests.did.sufficient_helpers import clustered_panel, duckdb_table, quietly

COLS = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat"}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df = clustered_panel(seed=1, n_units=120)
    return df[~df["first_treat"].isin([2001, 2009])].reset_index(drop=True)


def n_units(df: pd.DataFrame) -> int:
    return int(df["unit"].nunique())


def _fit(df: pd.DataFrame, folder: Path, **kwargs: object) -> object:
    return quietly(callaway_santanna_sufficient, duckdb_table(df, "t", folder), **{**COLS, **kwargs})


def test_unbalanced_panel_is_refused(panel: pd.DataFrame, tmp_path: Path) -> None:
    n = n_units(panel)
    df = panel.drop(index=[3, 50]).reset_index(drop=True)  # two units lose a period
    with pytest.raises(UnsupportedDataError, match=rf"unbalanced: 2 of {n} units of 'unit' .* 8 periods of 'year'.*"
                                                   r"balanced panels only"):
        _fit(df, tmp_path)
    with pytest.raises(UnsupportedDataError, match="unbalanced"):
        quietly(twfe_sufficient, duckdb_table(df, "t2", tmp_path), **COLS)


def test_duplicate_rows_are_refused(panel: pd.DataFrame, tmp_path: Path) -> None:
    df = pd.concat([panel, panel.iloc[[7]]], ignore_index=True)
    n = n_units(panel)
    with pytest.raises(DuplicateRowsError, match=f"1 of {n} units of 'unit' appear more than once in a period"):
        _fit(df, tmp_path)


def test_missing_outcome_is_refused(panel: pd.DataFrame, tmp_path: Path) -> None:
    df = panel.copy()
    df.loc[[4, 9, 11], "y"] = float("nan")
    with pytest.raises(UnsupportedDataError, match=f"outcome column 'y' is missing in 3 of {len(panel)} rows"):
        _fit(df, tmp_path)


def test_missing_and_mistyped_columns(panel: pd.DataFrame, tmp_path: Path) -> None:
    table = duckdb_table(panel, "t", tmp_path)
    with pytest.raises(MissingColumnError, match="column 'yy' \\(role 'outcome'\\) is not in the data; did you mean"):
        callaway_santanna_sufficient(table, **{**COLS, "outcome": "yy"})
    with pytest.raises(ColumnTypeError, match="outcome column 'unit' has type string"):
        callaway_santanna_sufficient(table, **{**COLS, "outcome": "unit", "unit": "cl"})
    with pytest.raises(OptionError, match="control must be one of"):
        callaway_santanna_sufficient(table, control="later", **COLS)  # type: ignore[arg-type]


def test_cohort_and_cluster_must_be_constant_within_units(panel: pd.DataFrame, tmp_path: Path) -> None:
    n = n_units(panel)
    df = panel.copy()
    first = df.index[df["unit"] == df["unit"].iloc[0]]
    df.loc[first[0], "first_treat"] = 2004.0 if df.loc[first[0], "first_treat"] != 2004.0 else 2003.0
    with pytest.raises(InvalidValueError, match=f"cohort column 'first_treat' is not constant within 1 of {n} units"):
        _fit(df, tmp_path)
    df = panel.copy()
    df.loc[first[0], "cl"] = "zz"
    with pytest.raises(InvalidValueError, match=f"cluster column 'cl' is not constant within 1 of {n} units"):
        _fit(df, tmp_path, cluster="cl")
    df = panel.copy()
    df["cl"] = "one"
    with pytest.raises(DesignError, match="single cluster"):
        _fit(df, tmp_path, cluster="cl")
    df = panel.copy()
    df.loc[0, "first_treat"] = -1.0
    with pytest.raises(InvalidValueError, match="negative values"):
        _fit(df, tmp_path)
    df = panel.copy()
    df.loc[df["first_treat"] == 0, "first_treat"] = float("inf")  # refused in memory too
    with pytest.raises(InvalidValueError, match=r"cohort column 'first_treat' has [0-9,]+ infinite values"):
        _fit(df, tmp_path)


def test_too_many_rows_for_the_client(panel: pd.DataFrame, tmp_path: Path) -> None:
    """With the unit as cluster, the clustered layout query would return one row per unit and period."""
    df = panel.copy()
    df["cl_unit"] = df["unit"]
    assert n_units(df) > 50 > df["first_treat"].nunique() * df["year"].nunique()
    n_groups = len(df[["cl_unit", "first_treat", "year"]].drop_duplicates())
    expected = rf"layout \(cluster × cohort × period\) query would return {n_groups} rows .* more than max_rows = 50"
    with pytest.raises(TooManyRowsError, match=expected):
        _fit(df, tmp_path, cluster="cl_unit", max_rows=50)


def test_few_clusters_warn(panel: pd.DataFrame, tmp_path: Path) -> None:
    from cteimpact.did.errors import FewClustersWarning

    table = duckdb_table(panel, "t", tmp_path)
    with pytest.warns(FewClustersWarning, match=f"only {panel['cl'].nunique()} clusters in 'cl'"):
        callaway_santanna_sufficient(table, cluster="cl", **COLS)

"""Helpers of the sufficient-statistics tests: DuckDB tables from data frames, a generated clustered panel, and the
element-by-element comparison with the in-memory estimators."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest

TOL = 1e-10
"""Tolerance of every comparison with the in-memory path: ``|a − b| <= TOL + TOL·|b|``."""


def duckdb_table(frame: pd.DataFrame, name: str, folder: Path, con: Any = None) -> Any:
    """``frame`` as a DuckDB table (written to Parquet, loaded with ``CREATE TABLE``): an Ibis table expression."""
    con = con if con is not None else ibis.duckdb.connect()
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    con.raw_sql(f"CREATE TABLE \"{name}\" AS SELECT * FROM read_parquet('{path}')")
    return con.table(name)


def clustered_panel(seed: int = 3, n_units: int = 600, *, never: bool = True, level: float = 1e4) -> pd.DataFrame:
    """A balanced panel 2001–2008 with cohorts 2003, 2004, 2006 (and never-treated units, cohort 2009 = after the
    last period, cohort 2001 = treated at the start), clusters constant within units, outcomes far from zero with
    trends (the centring matters) and effects growing with exposure."""
    rng = np.random.default_rng(seed)
    years = np.arange(2001, 2009)
    cohorts = np.array([0, 2003, 2004, 2006, 2009, 2001] if never else [2003, 2004, 2006, 2001])
    unit_cohort = rng.choice(cohorts, size=n_units)
    cluster = rng.integers(0, 25, size=n_units)
    alpha = rng.normal(level, 0.1 * level, size=n_units)
    rows = []
    for i in range(n_units):
        g = unit_cohort[i]
        for t in years:
            eff = (1.0 + 0.5 * (t - g)) * 20 if (g > 0 and t >= g) else 0.0
            y = alpha[i] + 30.0 * (t - 2001) + 5.0 * (g % 7) * (t - 2001) / 7 + eff + rng.normal(0, 15)
            rows.append((f"u{i:04d}", int(t), float(g), f"c{cluster[i]:02d}", y))
    return pd.DataFrame(rows, columns=["unit", "year", "first_treat", "cl", "y"])


def mpdta_frame() -> pd.DataFrame:
    """``did::mpdta`` from the shared reference data (the test is skipped when it is absent)."""
    from tests.conftest import reference_data_dir

    ref = reference_data_dir()
    if ref is None or not (ref / "mpdta.csv").is_file():
        pytest.skip("reference data not found: set CTEIMPACT_REFERENCE_DATA or place the shared folder (mpdta.csv) "
                    "beside the checkout")
    return pd.read_csv(ref / "mpdta.csv")


def mpdta_with_state(folder: Path) -> tuple[pd.DataFrame, Any]:
    """mpdta with a ``state`` cluster column (the county FIPS code's state part), and the same as a DuckDB table."""
    df = mpdta_frame()
    df["state"] = "s" + (df["countyreal"] // 1000).astype(str)
    return df, duckdb_table(df, "mpdta", folder)


def quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def assert_close(a: Any, b: Any, what: str) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=TOL, atol=TOL,
                               equal_nan=True, err_msg=what)


def compare_cs(sql: Any, mem: Any) -> float:
    """Every row, the covariance and the group-time table of a sufficient-statistics result against the in-memory
    :class:`~cteimpact.did.results.DiDResults`; returns the largest absolute difference of estimates and SEs."""
    assert sql.labels == mem.labels
    assert sql.estimand_labels == mem.estimand_labels
    a, b = sql.tidy(), mem.tidy()
    for col in ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper", "n_effective"):
        assert_close(a[col], b[col], f"column {col}")
    assert list(a["ci_type"]) == list(b["ci_type"])
    assert_close(sql.estimand_se, mem.estimand_se, "estimand standard errors")
    assert_close(sql.covariance, mem.covariance, "covariance of all estimands")
    ga, gb = sql.group_time, mem.group_time
    assert list(ga.columns) == list(gb.columns)
    for col in ("group", "time", "base_period", "att", "se", "ci_lower", "ci_upper", "n_treated", "n_comparison"):
        assert_close(ga[col], gb[col], f"group-time column {col}")
    assert list(ga["note"].fillna("")) == list(gb["note"].fillna(""))
    for p, q in ((sql.pretest, mem.pretest), (sql.pretest_event, mem.pretest_event)):
        assert (p is None) == (q is None)
        if p is not None:
            assert p.df == q.df
            assert_close(p.statistic, q.statistic, "pre-test statistic")
    return float(max(np.nanmax(np.abs(a["estimate"] - b["estimate"])),
                     np.nanmax(np.abs(a["std_error"] - b["std_error"]))))


def compare_twfe(sql: Any, mem: Any) -> None:
    """A sufficient-statistics TWFE result against :func:`cteimpact.did.twfe.twfe`'s."""
    assert sql.labels == mem.labels
    assert (sql.n_obs, sql.n_entities, sql.n_clusters, sql.description) == (mem.n_obs, mem.n_entities,
                                                                             mem.n_clusters, mem.description)
    a, b = sql.tidy(), mem.tidy()
    for col in ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper"):
        assert_close(a[col], b[col], f"column {col}")
    if mem.event_study is not None:
        assert_close(sql.event_study.to_numpy(dtype=float), mem.event_study.to_numpy(dtype=float), "event study")
        assert_close(sql.event_cov, mem.event_cov, "event-study covariance")

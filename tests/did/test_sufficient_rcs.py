"""Callaway–Sant'Anna for repeated cross-sections from engine-side sufficient statistics equals the in-memory
estimator (``panel=False``).

One query (``GROUP BY [cluster,] cohort, period`` with counts, sums and variances) replaces the observations; every
row, the covariance of all estimands, the group-time table and the pre-tests are compared element by element at
``|a − b| <= 1e-10 + 1e-10·|b|``: the synthetic student records (each student one observation, missing outcomes
dropped as in memory), mpdta read as cross-sections, and a generated data set with clusters (anticipation, no
never-treated units, the multiplier bootstrap by cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from tests.did.sufficient_helpers import clustered_panel, compare_cs, duckdb_table, mpdta_frame, quietly

DESIGNS = [(control, base) for control in ("never", "notyet") for base in ("varying", "universal")]


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    from cteimpact.synth import simulate

    frame = simulate(seed=7, scale=0.05).students
    return frame, duckdb_table(frame, "students", tmp_path_factory.mktemp("students"))


@pytest.mark.parametrize("outcome", ["earnings_age19", "dropout"])
@pytest.mark.parametrize("cluster", [None, "district_id"])
@pytest.mark.parametrize(("control", "base_period"), DESIGNS)
def test_student_records_equal_in_memory(students: tuple[pd.DataFrame, Any], outcome: str, cluster: str | None,
                                         control: str, base_period: str) -> None:
    frame, table = students
    cols = {"outcome": outcome, "time": "cohort", "cohort": "first_treated", "cluster": cluster}
    opts = {"control": control, "base_period": base_period}
    sql = quietly(callaway_santanna_sufficient, table, unit=None, panel=False, **cols, **opts)
    mem = quietly(lambda: CallawaySantAnna(frame, panel=False, **cols, **opts).fit())
    compare_cs(sql, mem)
    assert sql.n_units == mem.n_units == int(frame[outcome].notna().sum())
    # no student row left the engine: one row per (cluster,) cohort and period
    keys = ["first_treated", "cohort"] + ([cluster] if cluster else [])
    assert sql.rows_fetched <= len(frame[keys].drop_duplicates()) < len(frame)


def test_mpdta_as_cross_sections(tmp_path: Path) -> None:
    df = mpdta_frame()
    table = duckdb_table(df, "mpdta", tmp_path)
    cols = {"outcome": "lemp", "time": "year", "cohort": "first.treat"}
    for control, base in DESIGNS:
        sql = callaway_santanna_sufficient(table, unit=None, panel=False, control=control, base_period=base, **cols)
        mem = CallawaySantAnna(df, panel=False, control=control, base_period=base, **cols).fit()
        compare_cs(sql, mem)


@pytest.mark.parametrize("never", [True, False])
@pytest.mark.parametrize("anticipation", [0, 1])
def test_generated_cross_sections_equal_in_memory(tmp_path: Path, never: bool, anticipation: int) -> None:
    df = clustered_panel(seed=4, never=never)
    df = df.sample(frac=0.7, random_state=1).reset_index(drop=True)  # cross-sections of different sizes
    table = duckdb_table(df, "rcs", tmp_path)
    cols = {"outcome": "y", "time": "year", "cohort": "first_treat"}
    for cluster in (None, "cl"):
        for control, base in DESIGNS:
            opts = {"control": control, "base_period": base, "anticipation": anticipation, "cluster": cluster}
            sql = quietly(callaway_santanna_sufficient, table, unit=None, panel=False, **cols, **opts)
            mem = quietly(lambda o=opts: CallawaySantAnna(df, panel=False, **cols, **o).fit())
            compare_cs(sql, mem)


def test_cross_section_bootstrap_by_cluster(tmp_path: Path) -> None:
    df = clustered_panel(seed=6).sample(frac=0.8, random_state=2).reset_index(drop=True)
    table = duckdb_table(df, "rcs", tmp_path)
    cols = {"outcome": "y", "time": "year", "cohort": "first_treat", "cluster": "cl"}
    boot = {"bootstrap": 299, "seed": 5}
    sql = quietly(callaway_santanna_sufficient, table, unit=None, panel=False, **cols, **boot)
    mem = quietly(lambda: CallawaySantAnna(df, panel=False, **cols).fit(**boot))
    compare_cs(sql, mem)
    assert (sql.tidy()["ci_type"] == "simultaneous").any()

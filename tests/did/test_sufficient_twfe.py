"""TWFE and event-study TWFE from engine-side sufficient statistics equal :func:`cteimpact.did.twfe.twfe`.

Coefficients, cluster-robust standard errors (by unit, or by a unit-level cluster variable, with the ``fixest``
small-sample factor), tests and t(G − 1) intervals, and the event-study coefficients with their covariance, compared
element by element at ``|a − b| <= 1e-10 + 1e-10·|b|``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cteimpact.did.sufficient.queries import PanelColumns, panel_moments
from cteimpact.did.sufficient.twfe import twfe_sufficient
from cteimpact.did.twfe import twfe
from tests.did.sufficient_helpers import clustered_panel, compare_twfe, duckdb_table, mpdta_with_state, quietly


@pytest.fixture(scope="module")
def mpdta_table(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any]:
    return mpdta_with_state(tmp_path_factory.mktemp("mpdta"))


@pytest.mark.parametrize("cluster", [None, "state"])
def test_mpdta_twfe_equals_in_memory(mpdta_table: tuple[pd.DataFrame, Any], cluster: str | None) -> None:
    df, table = mpdta_table
    cols = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat", "cluster": cluster}
    sql = twfe_sufficient(table, event_study=True, **cols)  # type: ignore[arg-type]
    mem = twfe(df, event_study=True, **cols)
    compare_twfe(sql, mem)


@pytest.mark.parametrize("never", [True, False])
@pytest.mark.parametrize("cluster", [None, "cl"])
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_generated_panel_twfe_equals_in_memory(tmp_path: Path, never: bool, cluster: str | None,
                                               level: float) -> None:
    df = clustered_panel(seed=5, never=never)
    table = duckdb_table(df, "panel", tmp_path)
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "cluster": cluster}
    sql = quietly(twfe_sufficient, table, event_study=True, level=level, **cols)
    mem = quietly(twfe, df, event_study=True, level=level, **cols)
    compare_twfe(sql, mem)


def test_twfe_reuses_the_callaway_santanna_statistics(tmp_path: Path) -> None:
    """One set of statistics (computed once, without clusters) serves TWFE too: no second query."""
    df = clustered_panel(seed=9)
    table = duckdb_table(df, "panel", tmp_path)
    stats = quietly(panel_moments, table, PanelColumns("y", "unit", "year", "first_treat"))
    sql = twfe_sufficient(table, outcome="y", unit="unit", time="year", cohort="first_treat", statistics=stats)
    mem = quietly(twfe, df, outcome="y", unit="unit", time="year", cohort="first_treat")
    compare_twfe(sql, mem)


def test_unbalanced_synthetic_panel_balanced_in_the_engine(tmp_path: Path) -> None:
    from cteimpact.synth import simulate

    panel = simulate(seed=7, scale=0.05).district_panel
    table = duckdb_table(panel, "district_panel_raw", tmp_path)
    cols = {"outcome": "earnings_age19", "unit": "district_id", "time": "cohort", "cohort": "first_treated"}
    for cluster in (None, "consortium_id"):
        sql = quietly(twfe_sufficient, table, cluster=cluster, balance=True, event_study=True, **cols)
        mem = quietly(twfe, panel, cluster=cluster, event_study=True, **cols)
        compare_twfe(sql, mem)


@pytest.mark.parametrize("cluster", [None, "district_id"])
@pytest.mark.parametrize("outcome", ["earnings_age19", "dropout"])
def test_student_records_twfe_as_cross_sections(tmp_path: Path, cluster: str | None, outcome: str) -> None:
    """Repeated cross-sections: cohort and period fixed effects from the engine's cohort × period (× cluster) counts,
    sums and sums of squares; by observation (heteroskedasticity-robust) without a cluster variable."""
    from cteimpact.synth import simulate

    students = simulate(seed=7, scale=0.05).students
    table = duckdb_table(students, "students", tmp_path)
    cols = {"outcome": outcome, "time": "cohort", "cohort": "first_treated", "cluster": cluster}
    sql = quietly(twfe_sufficient, table, unit=None, panel=False, event_study=True, **cols)
    mem = quietly(twfe, students, panel=False, event_study=True, **cols)
    compare_twfe(sql, mem)


@pytest.mark.parametrize("never", [True, False])
def test_generated_cross_sections_twfe(tmp_path: Path, never: bool) -> None:
    df = clustered_panel(seed=2, never=never).sample(frac=0.6, random_state=3).reset_index(drop=True)
    table = duckdb_table(df, "rcs", tmp_path)
    for cluster in (None, "cl"):
        cols = {"outcome": "y", "time": "year", "cohort": "first_treat", "cluster": cluster}
        sql = quietly(twfe_sufficient, table, unit=None, panel=False, event_study=True, **cols)
        mem = quietly(twfe, df, panel=False, event_study=True, **cols)
        compare_twfe(sql, mem)


@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("cluster", [None, "cl"])
@pytest.mark.parametrize("never", [True, False])
def test_callaway_santanna_twfe_comparison(tmp_path: Path, control: str, cluster: str | None, never: bool) -> None:
    """``twfe=True``: the TWFE comparison on the Callaway–Sant'Anna fit's own prepared data, from the same
    statistics, equals ``CallawaySantAnna.fit(twfe=True).twfe`` (also where the preparation depends on the
    comparison group: no never-treated units with not-yet-treated comparisons)."""
    from cteimpact.did import CallawaySantAnna
    from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient

    df = clustered_panel(seed=21, never=never)
    table = duckdb_table(df, "panel", tmp_path)
    cols = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat", "cluster": cluster}
    sql = quietly(callaway_santanna_sufficient, table, control=control, twfe=True, **cols)
    mem = quietly(lambda: CallawaySantAnna(df, control=control, **cols).fit(twfe=True))
    assert sql.twfe is not None and mem.twfe is not None
    compare_twfe(sql.twfe, mem.twfe)
    rcs = quietly(callaway_santanna_sufficient, table, unit=None, panel=False, control=control, twfe=True,
                  **{k: v for k, v in cols.items() if k != "unit"})
    mem_rcs = quietly(lambda: CallawaySantAnna(df, panel=False, control=control,
                                               **{k: v for k, v in cols.items() if k != "unit"}).fit(twfe=True))
    assert rcs.twfe is not None and mem_rcs.twfe is not None
    compare_twfe(rcs.twfe, mem_rcs.twfe)

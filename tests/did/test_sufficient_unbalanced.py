"""Callaway–Sant'Anna on unbalanced panels from engine-side sufficient statistics (``allow_unbalanced=True``) equals
the in-memory estimator with ``allow_unbalanced=True``.

Each cell is estimated from the observations of its two periods and a unit's influence function is the sum of its
observations', so the engine returns per cohort the statistics of every pair of periods (units observed in both,
sums and products of the centred outcomes) or, with clusters, unit counts per cluster and cohort. Every row, the
covariance of all estimands, the group-time table and the pre-tests are compared element by element at
``|a − b| <= 1e-10 + 1e-10·|b|``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from cteimpact.errors import OptionError
from tests.did.sufficient_helpers import clustered_panel, compare_cs, duckdb_table, quietly

COLS = {"outcome": "y", "unit": "unit", "time": "year", "cohort": "first_treat"}


def _holes(never: bool, seed: int = 12) -> pd.DataFrame:
    """A generated panel with 300 unit-periods removed and 20 outcomes missing."""
    df = clustered_panel(seed=seed, n_units=300, never=never)
    rng = np.random.default_rng(0)
    df = df.drop(index=rng.choice(len(df), size=300, replace=False)).reset_index(drop=True)
    df.loc[rng.choice(len(df), size=20, replace=False), "y"] = np.nan
    return df


@pytest.mark.parametrize("never", [True, False])
@pytest.mark.parametrize("cluster", [None, "cl"])
@pytest.mark.parametrize(("control", "base_period"),
                         [(c, b) for c in ("never", "notyet") for b in ("varying", "universal")])
def test_generated_unbalanced_panel_equals_in_memory(tmp_path: Path, never: bool, cluster: str | None, control: str,
                                                     base_period: str) -> None:
    df = _holes(never)
    table = duckdb_table(df, "holes", tmp_path)
    opts = {"cluster": cluster, "control": control, "base_period": base_period, "allow_unbalanced": True}
    sql = quietly(callaway_santanna_sufficient, table, **COLS, **opts)
    mem = quietly(lambda: CallawaySantAnna(df, **COLS, **opts).fit())
    compare_cs(sql, mem)
    assert sql.n_units == mem.n_units
    assert sql.options["data_mode"] == mem.options["data_mode"] == "unbalanced"


def test_synthetic_district_panel_kept_unbalanced(tmp_path: Path) -> None:
    from cteimpact.synth import simulate

    panel = simulate(seed=7, scale=0.05).district_panel
    table = duckdb_table(panel, "district_panel_raw", tmp_path)
    cols = {"outcome": "earnings_age19", "unit": "district_id", "time": "cohort", "cohort": "first_treated"}
    for cluster in (None, "consortium_id"):
        sql = quietly(callaway_santanna_sufficient, table, cluster=cluster, allow_unbalanced=True, **cols)
        mem = quietly(lambda c=cluster: CallawaySantAnna(panel, cluster=c, allow_unbalanced=True, **cols).fit())
        compare_cs(sql, mem)


def test_unbalanced_bootstrap_by_cluster(tmp_path: Path) -> None:
    df = _holes(True, seed=3)
    table = duckdb_table(df, "holes", tmp_path)
    opts = {"cluster": "cl", "allow_unbalanced": True}
    boot = {"bootstrap": 299, "seed": 9}
    sql = quietly(callaway_santanna_sufficient, table, **COLS, **opts, **boot)
    mem = quietly(lambda: CallawaySantAnna(df, **COLS, **opts).fit(**boot))
    compare_cs(sql, mem)


def test_balance_and_allow_unbalanced_exclude_each_other(tmp_path: Path) -> None:
    table = duckdb_table(_holes(True), "holes", tmp_path)
    with pytest.raises(OptionError, match="choose one"):
        callaway_santanna_sufficient(table, balance=True, allow_unbalanced=True, **COLS)

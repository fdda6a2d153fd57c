"""Sufficient statistics from DuckDB are byte-identical from run to run: DuckDB adds floating-point values in an order
that depends on how it splits rows among its threads, so the aggregate queries run on one thread (and the
connection's own thread setting is restored afterwards). Before, the unclustered standard errors varied in their last
digits between runs on the same table."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from cteimpact.backends import connect
from cteimpact.did.sufficient import callaway_santanna_sufficient
from tests.did.sufficient_helpers import duckdb_table, quietly


def _panel(n_units: int = 60_000, seed: int = 11) -> pd.DataFrame:
    # 480,000 unit-years: several of DuckDB's row groups (122,880 rows), so its threads each add a part
    rng = np.random.default_rng(seed)
    years = np.arange(2001, 2009)
    cohort = rng.choice(np.array([0, 2003, 2004, 2006]), size=n_units)
    alpha = rng.normal(1e4, 1e3, size=n_units)
    t = np.tile(years, n_units)
    g = np.repeat(cohort, len(years))
    y = (np.repeat(alpha, len(years)) + 30.0 * (t - 2001) + np.where((g > 0) & (t >= g), 25.0, 0.0)
         + rng.normal(0, 15, size=t.size))
    return pd.DataFrame({"unit": np.repeat(np.arange(n_units), len(years)), "year": t, "first_treat": g.astype(float),
                         "y": y})


def _fingerprint(table: ibis.Table) -> str:
    res = quietly(callaway_santanna_sufficient, table, outcome="y", unit="unit", time="year", cohort="first_treat")
    return json.dumps(res.to_dict(), sort_keys=True, default=repr)


def test_runs_are_byte_identical_and_the_thread_setting_is_restored(tmp_path: Path) -> None:
    con = connect("duckdb")
    con.raw_sql("SET threads TO 2")
    table = duckdb_table(_panel(), "panel", tmp_path, con)
    runs = {_fingerprint(table) for _ in range(4)}
    assert len(runs) == 1, f"{len(runs)} different results in 4 runs on the same table"
    assert con.raw_sql("SELECT current_setting('threads')").fetchone()[0] == 2

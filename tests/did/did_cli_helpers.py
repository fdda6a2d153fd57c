"""Helpers shared by the tests of ``cteimpact did`` on the command line: the small panel and the column options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cteimpact.did import simulate_staggered

PANEL_KW = {"outcome": "y", "unit": "unit", "time": "time", "cohort": "cohort"}
"""The panel's columns, as keywords of the Python estimators."""
PANEL_ARGS = ["--outcome", "y", "--unit", "unit", "--time", "time", "--cohort", "cohort"]
"""The panel's columns, as options of ``cteimpact did``."""
MPDTA_ARGS = ["--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat"]
"""``did::mpdta``'s columns, as options of ``cteimpact did``."""


def cli_panel(cohorts: dict[int, int], n_never: int = 4) -> pd.DataFrame:
    """A staggered panel over periods 1-5 (5 units per cluster; ``cohorts``: clusters per adoption period), with a
    normal covariate ``x`` and a 0/1 outcome ``b``."""
    df, _ = simulate_staggered(n_clusters=sum(cohorts.values()) + n_never, units_per_cluster=5, periods=(1, 2, 3, 4, 5),
                               cohorts=cohorts, n_never_clusters=n_never, seed=3)
    df["x"] = np.random.default_rng(5).normal(size=len(df))
    df["b"] = (df["y"] > df["y"].median()).astype(int)
    return df


def write_cli_panel(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """The 50-unit panel (15 units in cohorts 3 and 4 each, 20 never treated) written to CSV, and read back: the
    numbers the command line sees."""
    path = tmp_path / "panel.csv"
    cli_panel({3: 3, 4: 3}).to_csv(path, index=False)
    return path, pd.read_csv(path)

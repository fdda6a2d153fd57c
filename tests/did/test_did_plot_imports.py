"""Plots take plain data: ``did/plots.py`` imports no result class, and importing or fitting DiD never imports
matplotlib."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from cteimpact.did import CallawaySantAnna, bacon_decomposition, plots, simulate_staggered

ROOT = Path(__file__).resolve().parents[2]


def test_plots_module_imports_no_result_module() -> None:
    tree = ast.parse((ROOT / "cteimpact" / "did" / "plots.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "cteimpact.did.plots" not in imported
    assert not {m for m in imported if m in ("cteimpact.did.results", "cteimpact.did.bacon",
                                              "cteimpact.did.estimator", "cteimpact.did.assemble")}


def test_importing_and_fitting_did_does_not_import_matplotlib() -> None:
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import cteimpact.did as did\n"
        "df, _ = did.simulate_staggered(seed=1, n_clusters=10, n_never_clusters=3, units_per_cluster=3)\n"
        "r = did.CallawaySantAnna(df, outcome='y', unit='unit', time='time', cohort='cohort',\n"
        "                         cluster='cluster').fit(bootstrap=49, seed=1, wild_bootstrap=49, twfe=True)\n"
        "a = r.aggregate('dynamic', max_e=2)\n"
        "a.honest_did(); a.to_dict(); r.summary(); r.with_min_cell(10).to_dict()\n"
        "did.bacon_decomposition(df, outcome='y', unit='unit', time='time', cohort='cohort').to_dict()\n"
        "did.sun_abraham(df, outcome='y', unit='unit', time='time', cohort='cohort').to_dict()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_plot_functions_draw_from_plain_tables() -> None:
    df, _ = simulate_staggered(seed=2, n_clusters=12, n_never_clusters=3, units_per_cluster=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort").fit(level=0.9)
        bd = bacon_decomposition(df, outcome="y", unit="unit", time="time", cohort="cohort")
    fig = plots.plot_event_study(res.event_study(), outcome="y", level=0.9, control="notyet")
    assert "not-yet-treated" in fig.axes[0].get_title()
    assert any("90%" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    fig2 = plots.plot_group_time(res.group_time, outcome="y")
    assert len([a for a in fig2.axes if a.get_visible()]) == res.group_time["group"].nunique()
    fig3 = plots.plot_bacon(bd.two_by_twos, bd.twfe)
    assert any(f"TWFE = {bd.twfe:.4f}" == t.get_text() for t in fig3.axes[0].get_legend().get_texts())
    assert np.isfinite(bd.twfe)
    for f in (fig, fig2, fig3):
        plt.close(f)

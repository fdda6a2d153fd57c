"""The district panel carries each cell's student-level standard deviation and count, so that the students' pooled
statistics of any set of cells follow exactly from the panel (issue 11, item 6).

The reference is computed here, with pandas, from the student file ``cteimpact synth`` writes; the pooling formula
under test is :func:`cteimpact.did.cells.pool`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.did.cells import pool
from cteimpact.synth import generate, simulate

OUTCOMES = (("earnings_age19", "n_observed_age19"), ("employed_age19", "n_observed_age19"),
            ("dropout", "n_observed"), ("graduated", "n_observed"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = generate(tmp_path_factory.mktemp("synth"), seed=5, scale=0.05)
    panel = pd.read_csv(paths["district_panel.csv"])
    students = pd.read_parquet(paths["students.parquet"])
    return panel, students


def _from_panel(panel: pd.DataFrame, mask: pd.Series, y: str, n: str) -> tuple[float, float, float]:
    rows = panel[mask & panel[y].notna()]
    g = pool(rows[y].to_numpy(), rows[n].to_numpy(), rows[f"{y}_sd"].to_numpy())
    return g.n, g.mean, g.sd


@pytest.mark.parametrize(("y", "n"), OUTCOMES)
@pytest.mark.parametrize("group", ["never_treated_before_2014", "everyone", "cohort_2016_from_2016"])
def test_pooled_panel_sd_equals_the_student_file_sd(files, y: str, n: str, group: str) -> None:
    panel, students = files
    last = panel["cohort"].max()  # the panel's cohorts: those with earnings at 19 in the wage records
    select = {
        "never_treated_before_2014": lambda f: (f["first_treated"] == 0) & (f["cohort"] < 2014),
        "everyone": lambda f: f["cohort"] <= last,
        "cohort_2016_from_2016": lambda f: (f["first_treated"] == 2016) & (f["cohort"] >= 2016) & (f["cohort"] <= last),
    }[group]
    n_p, mean_p, sd_p = _from_panel(panel, select(panel), y, n)
    direct = students.loc[select(students), y].dropna()
    assert n_p == len(direct) > 100
    assert mean_p == pytest.approx(direct.mean(), rel=1e-10)
    # the panel file holds 10 significant digits; the pooled SD still matches to 1e-10
    assert sd_p == pytest.approx(direct.std(ddof=1), rel=1e-10)


def test_cell_sd_columns_are_the_students_sd_of_each_cell() -> None:
    data = simulate(seed=2, scale=0.02)
    panel, students = data.district_panel, data.students
    key = ["district_id", "cohort"]
    direct = (students.dropna(subset=["earnings_age19"]).groupby(key)["earnings_age19"]
              .agg(["size", "mean", lambda s: s.std(ddof=1) if s.size > 1 else 0.0]))
    direct.columns = ["n", "mean", "sd"]
    merged = panel.set_index(key).join(direct, how="inner")
    assert len(merged) > 200
    np.testing.assert_array_equal(merged["n_observed_age19"], merged["n"])
    np.testing.assert_allclose(merged["earnings_age19"], merged["mean"], rtol=1e-12)
    np.testing.assert_allclose(merged["earnings_age19_sd"], merged["sd"], rtol=1e-9, atol=1e-9)
    single = panel["n_observed_age19"] == 1
    assert (panel.loc[single, "earnings_age19_sd"] == 0).all()
    empty = panel["n_observed_age19"] == 0
    assert panel.loc[empty, ["earnings_age19", "earnings_age19_sd"]].isna().all().all()


def test_new_columns_are_in_the_codebook_and_leave_truth_unchanged(tmp_path: Path) -> None:
    import json

    paths = generate(tmp_path, seed=4, scale=0.01)
    codebook = json.loads(paths["codebook.json"].read_text())
    names = [c["name"] for c in codebook["files"]["district_panel"]["columns"]]
    header = paths["district_panel.csv"].read_text().splitlines()[0].split(",")
    assert header == names
    assert {"n_observed_age19", "earnings_age19_sd", "employed_age19_sd", "dropout_sd", "graduated_sd"} <= set(names)
    # the truth comes from the same draws: the in-memory simulation agrees with the file
    truth = json.loads(paths["truth.json"].read_text())
    mem = simulate(seed=4, scale=0.01).truth
    assert truth["did"] == json.loads(json.dumps(mem["did"]))

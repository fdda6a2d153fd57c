"""Descriptive statistics of the DiD analysis sample by cohort ("What a reader needs"), on the district panel:
student-level means and SDs pooled from the cells equal those of the student file; without the SD column the
record says the spread is that of district means."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna


@pytest.fixture(scope="module")
def synth(synth_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The district panel and student file of the shared synthetic data (seed 7, scale 0.05; tests/conftest.py)."""
    return (pd.read_csv(synth_data / "district_panel.csv"),
            pd.read_parquet(synth_data / "students.parquet", columns=["district_id", "cohort", "first_treated",
                                                                    "earnings_age19"]))


def _fit(panel: pd.DataFrame, **extra: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(panel, outcome="earnings_age19", unit="district_id", time="cohort",
                                cohort="first_treated", students="n_students", **extra).fit()


def test_student_level_descriptives_equal_the_student_file(synth) -> None:
    panel, students = synth
    res = _fit(panel, outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19").with_min_cell(10)
    table = res.descriptives().set_index("cohort")
    assert res.data is not None
    kept_panel = panel[panel["district_id"].isin(set(res.data.row_id))]
    kept = students[students["district_id"].isin(set(res.data.row_id)) & (students["cohort"] <= 2020)]
    for cohort, pre_end in ((0, 2013), (2016, 2015)):
        row = table.loc[cohort]
        mine = kept[kept["first_treated"] == cohort]
        pre = mine[mine["cohort"] <= pre_end]["earnings_age19"].dropna()
        assert (row["pre_first_period"], row["pre_last_period"]) == (2010, pre_end)
        assert row["pre_n"] == len(pre)
        assert row["pre_mean"] == pytest.approx(pre.mean(), rel=1e-10)
        assert row["pre_sd"] == pytest.approx(pre.std(ddof=1), rel=1e-10)
        assert row["overall_sd"] == pytest.approx(mine["earnings_age19"].dropna().std(ddof=1), rel=1e-10)
        cells = kept_panel[kept_panel["first_treated"] == cohort]
        assert row["n_units"] == cells["district_id"].nunique()
        assert row["n_students"] == cells["n_students"].sum()  # students in the cohort's cells, missing outcomes too
    assert not table["suppressed"].any()
    record = res.descriptives_record()
    assert record is not None and record["level"] == "students" and record["outcome_sd_column"] == "earnings_age19_sd"
    assert record["rows"][0]["cohort"] == 0 and isinstance(record["rows"][1]["cohort"], int)


def test_without_the_sd_column_the_spread_is_of_district_means(synth) -> None:
    panel, _ = synth
    res = _fit(panel)
    row = res.descriptives().set_index("cohort").loc[0]
    assert res.data is not None
    cells = panel[panel["district_id"].isin(set(res.data.row_id)) & (panel["first_treated"] == 0)
                  & (panel["cohort"] <= 2013)]["earnings_age19"]
    assert row["pre_n"] == len(cells) and row["pre_sd"] == pytest.approx(cells.std(ddof=1), rel=1e-12)
    record = res.descriptives_record()
    assert record is not None and record["level"] == "unit_means"
    assert "not comparable" in record["standard_deviation"]

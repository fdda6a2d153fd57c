"""What a DiD run records for the report, end to end through ``cteimpact run`` (issue 11: item 5, the advice of
item 8, the descriptive statistics and the derived quantities the report computed).

The data: a balanced panel of students (rows are students) 2010-2016 with cohorts of 80 never-treated, 60, 54 and
6 students; one never-treated student misses a year (the balanced panel drops it, with a note), and cohort 2013's
outcome in its base period (2012) is shifted so that its standardized baseline difference is exactly d = −0.40.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import CallawaySantAnna, baseline_equivalence
from cteimpact.did.effect_sizes import hedges_omega, pooled_sd
from cteimpact.pipeline.run import run_analysis

SPEC = """
schema = "cteimpact.analysis/1"

[study]
name = "did-records"
title = "A cohort not equivalent at baseline"
seed = 5

[data]
path = "panel.csv"
extra_columns = ["y"]

[data.columns]
student_id = "student_id"
year = "year"
first_treated = "first"

[design]
type = "did"
outcome = "y"
unit = "student_id"
time = "year"
cohort = "first"

[design.comparisons]
honest = ["relative_magnitude"]
pretrend_power = false
bacon = false
sun_abraham = false

[privacy]
min_cell = 10
"""
SIZES = {0: 80, 2013: 60, 2014: 54, 2015: 6}
TARGET_D = -0.40


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    uid = 0
    for g, n in SIZES.items():
        for _ in range(n):
            a = rng.normal()
            for t in range(2010, 2017):
                rows.append({"student_id": f"S{uid:07d}", "year": t, "first": g,
                             "y": a + 0.1 * (t - 2010) + (0.5 if g and t >= g else 0.0) + rng.normal(scale=0.5)})
            uid += 1
    frame = pd.DataFrame(rows)
    return frame.drop(index=frame.index[(frame["student_id"] == "S0000000") & (frame["year"] == 2011)])


def _fit(frame: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(frame, outcome="y", unit="student_id", time="year", cohort="first").fit()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("did-records")
    frame = _panel()
    # shift cohort 2013 in its base period so that Hedges' g is exactly TARGET_D (a shift leaves its SD unchanged)
    row = baseline_equivalence(_fit(frame)).set_index("cohort").loc[2013]
    s = pooled_sd(row["sd_treated"], row["sd_comparison"], row["n_treated"], row["n_comparison"])
    omega = hedges_omega(row["n_treated"] + row["n_comparison"])
    shift = row["mean_treated"] - row["mean_comparison"] - TARGET_D * s / omega
    frame.loc[(frame["first"] == 2013) & (frame["year"] == 2012), "y"] -= shift
    frame.to_csv(folder / "panel.csv", index=False)
    (folder / "did.toml").write_text(SPEC, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_analysis(folder / "did.toml", folder / "run", progress=False)
    return record.out_dir, json.loads((record.out_dir / "results.json").read_text(encoding="utf-8"))


# -- item 5: the standards checklist's record ------------------------------------------------------------------------


def test_baseline_equivalence_rows_carry_integer_cohorts_and_their_wwc_category(run) -> None:
    out, results = run
    rows = {r["cohort"]: r for r in results["design"]["extra"]["baseline_equivalence"]}
    assert all(isinstance(c, int) for c in rows) and sorted(rows) == [2013, 2014, 2015]
    assert all(isinstance(r["baseline_period"], int) for r in rows.values())
    assert rows[2013]["effect_size"] == pytest.approx(TARGET_D, abs=1e-9)
    assert rows[2013]["wwc_category"] == "not satisfied" and rows[2013]["suppressed"] is False
    # 6 students: hidden, and the next smallest cohort with it (complementary suppression), each with its reason
    assert rows[2015]["suppressed"] and rows[2015]["wwc_category"] is None and rows[2015]["effect_size"] is None
    assert "fewer than 10 students" in rows[2015]["suppression"]
    assert rows[2014]["suppressed"] and rows[2014]["suppression"].startswith("complementary suppression")
    text = (out / "tables" / "baseline_equivalence.csv").read_text(encoding="utf-8")
    assert "2013.0" not in text and "2,013" not in text
    csv = pd.read_csv(out / "tables" / "baseline_equivalence.csv")
    assert csv["cohort"].tolist() == [2013, 2014, 2015] and csv["baseline_period"].tolist() == [2012, 2013, 2014]
    assert csv.loc[csv["cohort"] == 2013, "wwc_category"].item() == "not satisfied"


def test_the_overall_verdict_names_the_cohort_not_satisfied(run) -> None:
    _, results = run
    review = results["design"]["extra"]["baseline_equivalence_review"]
    assert review["overall"] == "not satisfied"
    assert review["not_satisfied"] == [2013] and review["not_assessed"] == [2014, 2015]
    assert "cohort 2013 (-0.400 SD)" in review["verdict"] and "not assessed for 2014, 2015" in review["verdict"]
    assert review["thresholds"] == {"satisfied": 0.05, "limit": 0.25}
    assert review["level"] == "students" and review["comparable_to_student_level"] is True


# -- descriptive statistics -----------------------------------------------------------------------------------------


def test_descriptives_by_cohort_are_recorded_and_small_cohorts_suppressed(run) -> None:
    out, results = run
    rec = results["design"]["details"]["descriptives"]
    assert rec["level"] == "students" and rec["outcome"] == "y"
    rows = {r["cohort"]: r for r in rec["rows"]}
    assert sorted(rows) == [0, 2013, 2014, 2015]
    data = pd.read_csv(out.parent / "panel.csv")
    data = data[data["student_id"] != "S0000000"]  # the unit the balanced panel dropped
    never = data[data["first"] == 0]
    # rows are students: each student counts once, whatever the number of years observed
    assert rows[0]["n_units"] == rows[0]["n_students"] == never["student_id"].nunique() == 79
    assert rows[2013]["min_period_students"] == 60
    pre = never[never["year"] < 2013]
    assert (rows[0]["pre_first_period"], rows[0]["pre_last_period"]) == (2010, 2012)
    assert rows[0]["pre_mean"] == pytest.approx(pre["y"].mean(), rel=1e-12)
    assert rows[0]["pre_sd"] == pytest.approx(pre["y"].std(ddof=1), rel=1e-12)
    assert rows[0]["overall_sd"] == pytest.approx(never["y"].std(ddof=1), rel=1e-12)
    c13 = data[data["first"] == 2013]
    assert rows[2013]["pre_n"] == len(c13[c13["year"] < 2013]) and rows[2013]["pre_last_period"] == 2012
    assert rows[2015]["suppressed"] is True and rows[2015]["pre_mean"] is None and rows[2015]["n_students"] is None
    assert "fewer than 10 students" in rows[2015]["suppression"]
    assert rows[2014]["suppressed"] is True and "complementary" in rows[2014]["suppression"]
    assert rows[0]["suppressed"] is False and rows[0]["suppression"] is None
    csv = pd.read_csv(out / "tables" / "descriptives.csv")
    assert csv["cohort"].tolist() == [0, 2013, 2014, 2015]
    assert csv.loc[csv["cohort"] == 2015, ["n_units", "n_students", "pre_mean", "overall_sd"]].isna().all().all()


# -- item 8: advice in every interface's words ------------------------------------------------------------------------


def test_notes_in_results_give_the_advice_for_every_interface(run) -> None:
    _, results = run
    notes = results["design"]["details"]["notes"]
    assert len(notes) == 1 and "1 units are missing in some of the 7 periods" in notes[0]
    assert "allow_unbalanced = true in [design]" in notes[0] and "--allow-unbalanced" in notes[0]
    assert "use allow_unbalanced=True" not in notes[0]


# -- derived quantities the report used to compute --------------------------------------------------------------------


def test_report_facts_are_recorded(run) -> None:
    _, results = run
    det = results["design"]["details"]
    decision = det["pretest_decision"]
    assert decision["test"] == "event_study" and decision["record"] == "pretest_event_study"
    assert decision["p_value"] == det["pretest_event_study"]["p_value"]  # no clusters: the chi-square p-value
    assert decision["rejects"] is (decision["p_value"] < 0.05)
    honest = results["design"]["extra"]["honest"][0]
    assert honest["fragile"] is (honest["breakdown"] < 1)
    phases = {el["event"]: el["phase"] for el in det["aggregates"]["dynamic"]["elements"]}
    assert all(phase == ("post" if e >= 0 else "pre") for e, phase in phases.items())
    head = det["inference"]["headline"]
    assert head["label"] == "y" and head["std_error_type"] == "influence_function"
    assert head["std_error"] == results["design"]["estimates"][0]["std_error"]

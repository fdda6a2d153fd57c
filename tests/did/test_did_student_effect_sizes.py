"""Effect sizes of the DiD study on student-level standard deviations (issue 11, item 6).

The demo's district panel used to give "0.504 SD": the ATT divided by the spread of *district means*. With each
cell's student-level SD and count carried in the panel, the standardiser is the students' pooled SD. The reference
values are computed here with pandas from the student file (``students.parquet``) that ``cteimpact synth`` writes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.did import CallawaySantAnna, baseline_equivalence, effect_size, hedges_g
from cteimpact.did.effect_sizes import hedges_omega, pooled_sd
from cteimpact.errors import InvalidValueError, OptionError
from cteimpact.synth import generate

COLUMNS = {"outcome": "earnings_age19", "unit": "district_id", "time": "cohort", "cohort": "first_treated",
           "cluster": "consortium_id", "students": "n_students"}


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """The demo's synthetic data (``cteimpact demo``: seed 7, scale 0.25), written to files."""
    paths = generate(tmp_path_factory.mktemp("demo"), seed=7, scale=0.25)
    panel = pd.read_csv(paths["district_panel.csv"])
    students = pd.read_parquet(paths["students.parquet"],
                               columns=["district_id", "cohort", "first_treated", "earnings_age19"])
    return paths["district_panel.csv"], panel, students


def _fit(panel: pd.DataFrame, **extra: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(panel, **COLUMNS, **extra).fit()  # type: ignore[arg-type]


def test_effect_size_uses_the_students_pooled_sd(demo_data) -> None:
    _, panel, students = demo_data
    res = _fit(panel, outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19")
    es = effect_size(res)
    # reference: the students themselves, in the districts the balanced panel kept
    assert res.data is not None
    kept = students[students["district_id"].isin(set(res.data.row_id)) & (students["cohort"] <= 2020)]
    kept = kept.dropna(subset=["earnings_age19"])
    treated = kept[(kept["first_treated"] > 0) & (kept["cohort"] >= kept["first_treated"])]["earnings_age19"]
    post_periods = sorted(kept.loc[(kept["first_treated"] > 0) & (kept["cohort"] >= kept["first_treated"]),
                                   "cohort"].unique())
    comparison = kept[(kept["first_treated"] == 0) & kept["cohort"].isin(post_periods)]["earnings_age19"]
    s_direct = pooled_sd(treated.std(ddof=1), comparison.std(ddof=1), len(treated), len(comparison))
    assert es.standardiser == pytest.approx(s_direct, rel=1e-10)
    assert es.n_students_treated == len(treated) and es.n_students_comparison == len(comparison)
    assert es.sd_treated == pytest.approx(treated.std(ddof=1), rel=1e-10)
    assert es.mean_comparison == pytest.approx(comparison.mean(), rel=1e-10)
    omega = hedges_omega(len(treated) + len(comparison))
    assert es.omega == pytest.approx(omega, rel=1e-15)
    assert es.estimate == pytest.approx(omega * res.estimate("earnings_age19").estimate / s_direct, rel=1e-10)
    # the demo's headline effect size: about 0.15 SD of students' earnings, not 0.50 SD of district means
    assert 0.12 < es.estimate < 0.20
    assert (es.kind, es.level, es.comparable_to_student_level, es.note) == ("hedges_g", "students", True, None)
    assert "student-level" in es.standardiser_name
    assert es.periods == tuple(int(p) for p in post_periods) and all(isinstance(p, int) for p in es.periods)
    row = res.estimate("earnings_age19")
    assert (es.ci_lower, es.ci_upper) == pytest.approx((omega * row.ci_lower / s_direct,
                                                        omega * row.ci_upper / s_direct), rel=1e-12)
    assert es.ci_type == row.ci_type


def test_without_a_student_sd_the_record_says_unit_means(demo_data) -> None:
    _, panel, _ = demo_data
    res = _fit(panel)
    es = effect_size(res)
    assert es.level == "unit_means" and es.comparable_to_student_level is False
    assert es.n_students_treated is None and es.n_students_comparison is None
    assert es.note is not None and "not comparable" in es.note and "outcome_sd" in es.note
    assert "unit means" in es.standardiser_name
    # the old number: the spread of district means makes the same ATT look three times larger
    assert es.estimate > 0.45
    student = effect_size(_fit(panel, outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19"))
    assert es.estimate > 3 * student.estimate
    record = es.to_dict()
    assert record["level"] == "unit_means" and record["comparable_to_student_level"] is False


def test_baseline_equivalence_is_on_students(demo_data) -> None:
    _, panel, students = demo_data
    res = _fit(panel, outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19")
    table = baseline_equivalence(res)
    assert table["cohort"].dtype == np.int64 and table["baseline_period"].dtype == np.int64
    row = table.set_index("cohort").loc[2016]
    assert res.data is not None
    kept = students[students["district_id"].isin(set(res.data.row_id))].dropna(subset=["earnings_age19"])
    xt = kept[(kept["first_treated"] == 2016) & (kept["cohort"] == 2015)]["earnings_age19"]
    xc = kept[(kept["first_treated"] == 0) & (kept["cohort"] == 2015)]["earnings_age19"]
    expected = hedges_g(xt.mean() - xc.mean(), xt.std(ddof=1), xc.std(ddof=1), len(xt), len(xc))
    assert row["effect_size"] == pytest.approx(expected, rel=1e-9)
    assert (row["n_students_treated"], row["n_students_comparison"]) == (len(xt), len(xc))
    assert row["mean_treated"] == pytest.approx(xt.mean(), rel=1e-10)


def test_binary_outcome_from_cell_sds_uses_the_cox_index(demo_data) -> None:
    _, panel, _ = demo_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(panel, outcome="dropout", unit="district_id", time="cohort", cohort="first_treated",
                               students="n_students", outcome_sd="dropout_sd", outcome_n="n_observed").fit()
    es = effect_size(res)
    assert es.kind == "cox_index" and es.level == "students"
    assert es.standardiser == pytest.approx(es.mean_treated - es.att)  # the counterfactual proportion
    assert (baseline_equivalence(res)["kind"] == "cox_index").all()
    # a continuous outcome with cell SDs is not mistaken for a proportion
    assert effect_size(_fit(panel, outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19")).kind == "hedges_g"


def test_student_sd_options_are_checked(demo_data) -> None:
    _, panel, _ = demo_data
    base = {k: v for k, v in COLUMNS.items() if k != "students"}
    with pytest.raises(OptionError, match=r"'earnings_age19_sd' \(outcome_sd\) describes aggregated rows.*--students"):
        CallawaySantAnna(panel, **base, outcome_sd="earnings_age19_sd")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match=r"'n_observed_age19' \(outcome_n\) goes with.*--outcome-sd"):
        CallawaySantAnna(panel, **COLUMNS, outcome_n="n_observed_age19")  # type: ignore[arg-type]
    bad = panel.copy()
    bad.loc[bad.index[:3], "earnings_age19_sd"] = -1.0
    bad.loc[bad.index[3:5], "earnings_age19_sd"] = np.nan
    with pytest.raises(InvalidValueError, match=r"'earnings_age19_sd' has 5 missing or negative values"):
        _fit(bad, outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19")


def test_cli_reports_student_level_effect_sizes(demo_data, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = demo_data
    args = ["did", str(path), "--outcome", "earnings_age19", "--unit", "district_id", "--time", "cohort",
            "--cohort", "first_treated", "--cluster", "consortium_id", "--students", "n_students", "--no-twfe"]
    code = main([*args, "--outcome-sd", "earnings_age19_sd", "--outcome-n", "n_observed_age19", "--effect-sizes",
                 "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    obj = json.loads(out)
    es = obj["effect_sizes"][0]
    assert es["level"] == "students" and 0.12 < es["estimate"] < 0.20
    assert obj["baseline_equivalence_review"]["overall"] in {"satisfied", "satisfied with adjustment"}
    assert obj["descriptives"]["level"] == "students"
    assert obj["results"]["options"]["outcome_sd"] == "earnings_age19_sd"
    code = main([*args, "--outcome-n", "n_observed_age19"])
    _, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--outcome-sd" in err and "Traceback" not in err

"""The [equity] specification section and run_equity, the entry point the pipeline calls."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from cteimpact.config.toml import validate
from cteimpact.data.student_data import StudentData
from cteimpact.equity import EquityRun, EquitySpec, UnknownGroupError, run_equity
from cteimpact.errors import SpecificationError
from cteimpact.pipeline.spec import DiDDesignSpec, RDDesignSpec

COLUMNS = {"student_id": "student_id", "school": "school_id", "district": "district_id",
           "consortium": "consortium_id", "cohort": "cohort", "female": "female", "race_ethnicity": "race_ethnicity",
           "low_income": "low_income", "special_education": "special_ed", "pathway": "pathway",
           "dropout": "dropout", "graduation": "graduated", "score": "rubric_score", "cutoff": "cutoff",
           "first_treated": "first_treated"}


def _spec(data: dict) -> EquitySpec:
    return validate(EquitySpec, data, source="[equity]")


def test_spec_keys_and_defaults() -> None:
    spec = _spec({"subgroups": ["female", "grade_at_entry"], "access": ["pathway"], "baseline": "cohort < 2014",
                  "after": "cohort >= 2014", "multiplicity": "bh", "reference": {"grade_at_entry": 9}})
    assert spec.outcomes is None and spec.multiplicity == "bh" and spec.reference == {"grade_at_entry": 9}
    assert spec.periods() == {"baseline": "cohort < 2014", "after": "cohort >= 2014"}
    assert spec.columns_used() == ["female", "grade_at_entry", "pathway"]
    assert _spec({"subgroups": ["female"]}).periods() is None


@pytest.mark.parametrize(("data", "message"), [
    ({"subgroups": ["female"], "subgroup": ["x"]}, "[equity]: unknown key 'subgroup'; did you mean 'subgroups'?"),
    ({"subgroups": ["female"], "premium": 2},
     "[equity]: unknown key 'premium'; allowed keys: subgroups, outcomes, access, baseline, after, multiplicity, "
     "reference"),
    ({"subgroups": []}, "[equity]: subgroups: needs at least 1 entry, got 0"),
    ({"subgroups": ["female"], "multiplicity": "bonferroni"},
     "[equity]: multiplicity = 'bonferroni' is not allowed; allowed values: 'holm' or 'bh'"),
    ({"subgroups": ["female"], "reference": {"race": "White"}},
     "reference names column(s) race that are not among the subgroups (female)"),
    ({"subgroups": ["female", "female"]}, "repeated: female"),
    ({"subgroups": ["female"], "access": ["pathway"], "baseline": "cohort <"}, "baseline: sample restriction"),
    ({"subgroups": ["female"], "after": "cohort > 2014"}, "give 'access' too"),
])
def test_spec_refuses_bad_keys_in_one_line(data: dict, message: str) -> None:
    with pytest.raises(SpecificationError) as info:
        _spec(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def student_data(equity_students: pd.DataFrame) -> StudentData:
    return StudentData.from_frame(equity_students, COLUMNS)


def _rd_design() -> RDDesignSpec:
    return validate(RDDesignSpec, {"type": "rd", "outcomes": ["dropout", "graduated"], "running": "rubric_score",
                                   "cutoff_column": "cutoff", "cluster": "consortium_id"}, source="[design]")


def test_run_equity_rd(student_data: StudentData) -> None:
    design = _rd_design()
    rd_data = student_data.filter((student_data.frame["cohort"] >= student_data.frame["award_year"]).to_numpy(),
                                  "restriction: cohort >= award_year")
    spec = _spec({"subgroups": ["female", "race_ethnicity"], "outcomes": ["dropout"],
                  "access": ["pathway", "graduated"], "baseline": "cohort < award_year",
                  "after": "cohort >= award_year"})
    run = run_equity(spec, design, rd_data, seed=5, min_cell=10, access_data=student_data)
    assert isinstance(run, EquityRun)
    assert sorted(run.tables) == ["equity/access_gaps.csv", "equity/access_rates.csv", "equity/subgroup_effects.csv",
                                  "equity/tests.csv"]
    assert list(run.figures) == ["equity/subgroups-dropout.png"]
    res = run.results
    assert {le.outcome for le in res.effects} == {"dropout"}
    assert res.options["seed"] == 5 and res.options["periods"] == {"baseline": "cohort < award_year",
                                                                   "after": "cohort >= award_year"}
    rates = run.tables["equity/access_rates.csv"]
    # the baseline cohorts come from access_data: pathway participation before the program is low
    base = rates[(rates["outcome"] == "pathway") & (rates["period"] == "baseline") & ~rates["suppressed"]]
    after = rates[(rates["outcome"] == "pathway") & (rates["period"] == "after") & ~rates["suppressed"]]
    assert len(base) and len(after) and base["rate"].max() < after["rate"].min()
    gaps = run.tables["equity/access_gaps.csv"]
    assert set(gaps["period"]) == {"baseline", "after", "change"}
    shown = gaps[~gaps["suppressed"]]
    assert shown["p_adjusted"].notna().all() and (shown["p_adjusted"] >= shown["p_value"] - 1e-15).all()
    record = json.dumps(res.to_dict(), allow_nan=False)  # JSON-safe: missing numbers are null
    assert student_data.frame["student_id"].iloc[0] not in record and "NaN" not in record
    # the tables hold no number of a suppressed cell
    eff = run.tables["equity/subgroup_effects.csv"]
    assert eff.loc[eff["suppressed"], ["estimate", "std_error", "ci_lower", "ci_upper"]].isna().all().all()


def test_run_equity_did_on_student_rows(student_data: StudentData) -> None:
    design = validate(DiDDesignSpec, {"type": "did", "outcome": "graduated", "time": "cohort",
                                      "cohort": "first_treated", "cluster": "district_id", "panel": False},
                      source="[design]")
    run = run_equity(_spec({"subgroups": ["low_income"]}), design, student_data, seed=1, min_cell=10)
    res = run.results
    assert res.options["design"] == "did" and res.options["design_options"]["panel"] is False
    assert not res.estimate("graduated[low_income=1]").suppressed
    assert math.isfinite(res.estimate("graduated[low_income=1 vs low_income=0]").std_error)
    assert "equity/access_rates.csv" not in run.tables


def test_run_equity_refuses_aggregated_did_and_foreign_outcomes(student_data: StudentData) -> None:
    design = validate(DiDDesignSpec, {"type": "did", "outcome": "graduated", "time": "cohort", "unit": "district_id",
                                      "cohort": "first_treated", "students": "n_students"}, source="[design]")
    with pytest.raises(SpecificationError, match="\\[equity\\] needs one student per row, but \\[design\\] students "
                                                 "= 'n_students'"):
        run_equity(_spec({"subgroups": ["female"]}), design, student_data, seed=1, min_cell=10)
    with pytest.raises(SpecificationError, match="\\[equity\\] outcomes: 'earnings_age19' not among the outcomes of "
                                                 "the RD design \\(dropout, graduated\\)"):
        run_equity(_spec({"subgroups": ["female"], "outcomes": ["earnings_age19"]}), _rd_design(), student_data,
                   seed=1, min_cell=10)


def test_run_equity_unknown_reference_is_typed(student_data: StudentData) -> None:
    spec = _spec({"subgroups": ["race_ethnicity"], "reference": {"race_ethnicity": "Martian"}})
    with pytest.raises(UnknownGroupError, match="group race_ethnicity=Martian is not in the data: column "
                                                "'race_ethnicity' has 7 level\\(s\\): Asian \\("):
        run_equity(spec, _rd_design(), student_data, seed=1, min_cell=10)


def test_unknown_group_message_hides_small_counts() -> None:
    from cteimpact.errors import CteImpactError

    err = UnknownGroupError("grade_at_entry", 13, [("9", 850), ("10", 60), ("11", 7)], min_cell=10)
    assert isinstance(err, CteImpactError)
    assert str(err) == ("group grade_at_entry=13 is not in the data: column 'grade_at_entry' has 3 level(s): 9 (850 "
                        "students), 10 (60 students), 11 (fewer than 10 students)")


def test_require_group_for_priority_populations(student_data: StudentData) -> None:
    from cteimpact.equity import require_group
    from cteimpact.errors import MissingColumnError

    frame = student_data.frame
    assert require_group(frame, "low_income", 1) == int((frame["low_income"] == 1).sum())
    assert require_group(frame, "race_ethnicity", "White") == int((frame["race_ethnicity"] == "White").sum())
    with pytest.raises(UnknownGroupError, match="group english_learner=1 is not in the data"):
        require_group(frame.assign(english_learner=0), "english_learner", 1)
    with pytest.raises(MissingColumnError, match="column 'tribe'"):
        require_group(frame, "tribe", 9)

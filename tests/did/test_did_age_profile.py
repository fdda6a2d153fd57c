"""The earnings path over ages from the long wage records (issue 13, item 2).

Age 19 is checked to equal the student-level DiD on the student file's ``earnings_age19`` (the same earnings, read
from the wage records) and against the existing student-level truth; every age against
``truth["did"]["earnings_by_age"]`` when the synthetic data carry it. The joint covariance, the band, the flows
(every exclusion counted, no identifier anywhere) and the bad-input messages are checked on the same data.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from study_helpers import quietly as _quiet

from cteimpact.did import AgeProfileResults, earnings_age_profile, student_cohort_did
from cteimpact.did.age_profile import PROFILE_COLUMNS
from cteimpact.errors import (
    AllMissingError,
    DesignError,
    DuplicateRowsError,
    InvalidValueError,
    MissingColumnError,
    OptionError,
)
from cteimpact.results.estimate import TIDY_COLUMNS
from cteimpact.synth import simulate

ID_PATTERN = re.compile(r"S\d{9}")


@pytest.fixture(scope="module")
def profile(synth: Any) -> AgeProfileResults:
    return _quiet(earnings_age_profile, synth.students, synth.wages, bootstrap=499, seed=3)


def by_age_truth(truth: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``truth["did"]["earnings_by_age"]`` (or under ``outcomes``), keyed by age as text; ``None`` when absent."""
    did = truth.get("did", {})
    for node in (did.get("earnings_by_age"), did.get("outcomes", {}).get("earnings_by_age")):
        if isinstance(node, Mapping) and node:
            return {str(k): v for k, v in node.items()}
    return None


def test_age_19_is_the_student_level_did_of_earnings_age19(synth: Any, profile: AgeProfileResults) -> None:
    direct = _quiet(student_cohort_did, synth.students, outcome="earnings_age19", where=["cohort <= 2020"])
    at19 = profile.results_at(19)
    assert at19.labels == direct.labels
    for lab in direct.labels:
        a, b = at19.estimate(lab), direct.estimate(lab)
        assert (a.estimate, a.std_error) == pytest.approx((b.estimate, b.std_error), rel=1e-12, abs=1e-9)
    row = profile.estimate("earnings[age=19]")
    assert row.estimate == direct.estimate("earnings_age19").estimate
    assert row.std_error == direct.estimate("earnings_age19").std_error
    assert row.ci_type == "pointwise"


def test_each_age_equals_the_student_files_earnings_at_that_age(synth: Any, profile: AgeProfileResults) -> None:
    """Where the student file carries ``earnings_age<a>`` (NaN when not observed; the synth helper adds ages 20-26
    this session), the profile read from the wage records gives the same estimates at every age."""
    ages = [a for a in profile.estimated_ages if f"earnings_age{a}" in synth.students.columns]
    if ages == [19]:
        pytest.skip("the student file has no earnings_age20..26 columns yet; age 19 is checked above")
    for a in ages:
        observed = synth.students.loc[synth.students[f"earnings_age{a}"].notna(), "cohort"].max()
        direct = _quiet(student_cohort_did, synth.students, outcome=f"earnings_age{a}",
                        where=[f"cohort <= {int(observed)}"])
        row = profile.estimate(f"earnings[age={a}]")
        assert row.estimate == pytest.approx(direct.estimate(f"earnings_age{a}").estimate, rel=1e-12, abs=1e-9)
        assert row.std_error == pytest.approx(direct.estimate(f"earnings_age{a}").std_error, rel=1e-12)


def test_age_19_recovers_the_existing_student_truth(synth: Any, profile: AgeProfileResults) -> None:
    truth = synth.truth["did"]["outcomes"]["earnings_age19"]["student"]["aggregates"]
    res = profile.results_at(19)
    z_simple = (res.estimate("earnings_age19").estimate - truth["simple"]) / res.estimate("earnings_age19").std_error
    dyn = res.estimate("earnings_age19[event=overall]")
    z_dyn = (dyn.estimate - truth["dynamic"]["overall"]) / dyn.std_error
    assert abs(z_simple) < 3 and abs(z_dyn) < 3, (z_simple, z_dyn)


def age_truth_z_scores(data: Any, prof: AgeProfileResults) -> dict[int, dict[str, float]]:
    table = by_age_truth(data.truth)
    if table is None:
        pytest.skip("the synthetic data carry no truth['did']['earnings_by_age'] (added by the synth helper in "
                    "this session); age 19 is checked against truth['did']['outcomes']['earnings_age19']")
    out: dict[int, dict[str, float]] = {}
    for a in prof.estimated_ages:
        node = table.get(str(a))
        if node is None:
            continue
        agg = node["student"]["aggregates"]
        if not agg:
            continue
        res = prof.results_at(a)
        name = prof.fit_at(a).outcome
        z = {"simple": (res.estimate(name).estimate - agg["simple"]) / res.estimate(name).std_error}
        if agg["dynamic"].get("overall") is not None and f"{name}[event=overall]" in res.labels:
            e = res.estimate(f"{name}[event=overall]")
            z["dynamic overall"] = (e.estimate - agg["dynamic"]["overall"]) / e.std_error
        out[a] = z
    assert out, "no estimated age has a truth"
    return out


def test_every_age_recovers_the_earnings_by_age_truth(synth: Any, profile: AgeProfileResults) -> None:
    z = age_truth_z_scores(synth, profile)
    bad = {a: v for a, v in z.items() if any(not abs(x) < 3 for x in v.values())}
    assert not bad, f"|z| >= 3: {bad}"


@pytest.mark.slow
def test_every_age_recovers_the_earnings_by_age_truth_at_scale() -> None:
    data = simulate(seed=5, scale=0.25)
    prof = _quiet(earnings_age_profile, data.students, data.wages, bootstrap=199)
    z = age_truth_z_scores(data, prof)
    bad = {a: v for a, v in z.items() if any(not abs(x) < 3 for x in v.values())}
    assert not bad, f"|z| >= 3: {bad}"


def test_profile_table_and_joint_covariance(profile: AgeProfileResults) -> None:
    tab = profile.profile()
    assert tuple(tab.columns) == PROFILE_COLUMNS
    assert list(tab["age"]) == [19, 20, 21, 22, 23, 24, 25] == list(profile.estimated_ages)
    assert profile.ages == (19, 20, 21, 22, 23, 24, 25, 26)
    # one cohort fewer per year of age: cohorts 2010..(2039 - age) (wage records run through 2025)
    assert list(tab["last_cohort"]) == [2039 - a for a in tab["age"]] and set(tab["first_cohort"]) == {2010}
    assert list(tab["n_cohorts"]) == [30 - a for a in tab["age"]]
    # the joint covariance's diagonal is each age's own (cluster-robust) variance, exactly
    se = np.sqrt(np.diag(profile.covariance))
    assert se[1:] == pytest.approx(tab["std_error"].to_numpy(), rel=1e-10)
    for a, s in zip(tab["age"], tab["std_error"], strict=True):
        assert s == profile.results_at(int(a)).estimate(f"earnings_age{a}").std_error
    # the cross-age covariances, recomputed from each age's influence function row by row, summed by district
    sums = []
    for a in (19, 20, 24):
        res = profile.results_at(a)
        e = res.estimands[res.estimand_labels.index(f"earnings_age{a}")]
        psi = res.influence.combine(e.coef) / res.data.n
        by = pd.Series(psi).groupby(res.data.cluster_labels[res.data.row_cluster]).sum()
        sums.append(by)
    joint = pd.concat(sums, axis=1).fillna(0.0).to_numpy()
    idx = [list(profile.estimated_ages).index(a) + 1 for a in (19, 20, 24)]
    assert profile.covariance[np.ix_(idx, idx)] == pytest.approx(joint.T @ joint, rel=1e-9)
    assert profile.covariance[idx[0], idx[1]] != 0.0
    # the primary estimate: the mean over the estimated ages, its variance from the joint covariance
    primary = profile.estimate("earnings")
    w = np.full(len(tab), 1 / len(tab))
    assert primary.estimate == pytest.approx(float(tab["estimate"].mean()), rel=1e-12)
    assert primary.std_error == pytest.approx(float(np.sqrt(w @ profile.covariance[1:, 1:] @ w)), rel=1e-10)
    assert profile.labels[0] == "earnings" and profile.labels[1:] == tuple(f"earnings[age={a}]" for a in tab["age"])
    assert tuple(profile.tidy().columns) == TIDY_COLUMNS
    # treated students: launching districts' cohorts that entered from the launch on
    at22 = profile.results_at(22)
    obs = at22.data.observations
    entered = at22.data.times[obs.period]
    assert tab.set_index("age").loc[22, "n_students_treated"] == int(((obs.cohort > 0) & (entered >= obs.cohort)).sum())
    assert (tab["n_students"] == [profile.results_at(int(a)).n_units for a in tab["age"]]).all()


def test_band_is_simultaneous_seeded_and_close_to_the_analytic_scale(synth: Any, profile: AgeProfileResults) -> None:
    tab = profile.profile()
    crit = profile.bootstrap["critical_value"]
    z = float(stats.norm.ppf(0.975))
    assert crit > z + 0.2  # seven ages: a sup-t value well above the pointwise one
    assert (tab["band_lower"] < tab["ci_lower"]).all() and (tab["band_upper"] > tab["ci_upper"]).all()
    assert tab["band_upper"].to_numpy() - tab["estimate"].to_numpy() == pytest.approx(
        crit * tab["std_error_bootstrap"].to_numpy(), rel=1e-12)
    ratio = tab["std_error_bootstrap"] / tab["std_error"]
    assert ratio.between(0.8, 1.25).all(), ratio.tolist()
    again = _quiet(earnings_age_profile, synth.students, synth.wages, bootstrap=499, seed=3)
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(profile.to_dict(), sort_keys=True)
    other = _quiet(earnings_age_profile, synth.students, synth.wages, bootstrap=499, seed=4)
    assert other.bootstrap["critical_value"] != crit
    assert other.estimate("earnings[age=20]") == profile.estimate("earnings[age=20]")


def test_unclustered_profile_bootstraps_students(synth: Any) -> None:
    prof = _quiet(earnings_age_profile, synth.students, synth.wages, ages=[19, 21], cluster=None, bootstrap=199)
    tab = prof.profile()
    assert prof.n_clusters is None and prof.bootstrap["units"] == "students"
    assert np.sqrt(np.diag(prof.covariance))[1:] == pytest.approx(tab["std_error"].to_numpy(), rel=1e-10)
    assert prof.bootstrap["n_units"] == len(synth.students.query("cohort <= 2020").merge(
        synth.wages.query("age == 19")[["student_id"]], on="student_id"))  # every age-19 student is seen at 21 or not
    assert tab["n_clusters"].isna().all()


def test_flows_count_every_exclusion(synth: Any, profile: AgeProfileResults) -> None:
    students, wages = synth.students, synth.wages
    fit = profile.fit_at(23)
    steps = {s.reason: s.excluded for s in fit.flow.steps}
    late = students["cohort"] > 2016
    assert fit.cohorts_not_observed == tuple(range(2017, 2022))
    key = next(r for r in steps if r.startswith("cohort not observed at age 23"))
    assert steps[key] == int(late.sum()) and "2017, 2018, 2019, 2020, 2021" in key
    seen = set(wages.loc[wages["age"] == 23, "student_id"])
    no_record = int((~late & ~students["student_id"].isin(seen)).sum())
    assert steps["no wage record at age 23 (entering cohort observed at that age)"] == no_record == fit.n_without_record
    assert fit.flow.rows_used == profile.results_at(23).n_units == int((~late).sum()) - no_record
    assert profile.sample_flow.rows_read == len(wages) and profile.sample_flow.unit == "wage records"
    assert profile.student_flow.rows_read == len(students)
    # age 26: observed cohorts 2010-2013, every launch from 2014 on: not estimable, said so
    f26 = profile.fit_at(26)
    assert f26.results is None and f26.reason is not None
    assert "2010-2013" in f26.reason and "earliest launch 2014" in f26.reason
    assert "age 26: no entering cohort observed" in profile.summary()
    with pytest.raises(OptionError, match="age 26 was not estimated"):
        profile.results_at(26)


def test_missing_record_as_zero_earnings(synth: Any, profile: AgeProfileResults) -> None:
    zero = _quiet(earnings_age_profile, synth.students, synth.wages, ages=[21], missing_record="zero",
                  bootstrap=99)
    fit, ref = zero.fit_at(21), profile.fit_at(21)
    assert fit.n_without_record == ref.n_without_record > 0
    assert zero.results_at(21).n_units == profile.results_at(21).n_units + ref.n_without_record
    assert any(f"{ref.n_without_record:,} students counted with zero earnings" in s.reason for s in fit.flow.steps)
    assert zero.estimate("earnings[age=21]").estimate != profile.estimate("earnings[age=21]").estimate
    assert zero.options["missing_record"] == "zero"


def test_outputs_carry_no_identifier_and_plot(synth: Any, profile: AgeProfileResults) -> None:
    text = json.dumps(profile.to_dict()) + profile.summary() + profile.tidy().to_csv() + profile.profile().to_csv()
    assert not ID_PATTERN.search(text)
    assert profile.to_dict()["options"]["student"] == "(identifier: not recorded)"
    sd = profile.sampling_distribution()
    assert sd.labels == profile.labels and np.allclose(sd.cov, profile.covariance)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    fig = profile.plot()
    ax = fig.axes[0]
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the band
    assert ax.get_legend().get_texts()[0].get_text().startswith("simultaneous 95% band")
    assert ax.get_xlabel() == "age"
    plt.close(fig)


# -- bad input ----------------------------------------------------------------------------------------------------

def test_wage_table_without_the_age_column(synth: Any) -> None:
    wages = synth.wages.drop(columns="age")
    with pytest.raises(MissingColumnError, match=r"column 'age' \(role 'age of the wage records'\) is not in the "
                                                  r"data"):
        earnings_age_profile(synth.students, wages)
    with pytest.raises(MissingColumnError, match=r"column 'pay' \(role 'earnings of the wage records'\)"):
        earnings_age_profile(synth.students, synth.wages, earnings="pay")


def test_ages_outside_the_data(synth: Any) -> None:
    with pytest.raises(OptionError, match=r"ages 18, 30 are not in the wage records \(column 'age' has ages 19-26 "
                                          r"for the students analysed\)"):
        earnings_age_profile(synth.students, synth.wages, ages=[18, 19, 30])
    with pytest.raises(OptionError, match=r"ages must be whole numbers, got 19.5"):
        earnings_age_profile(synth.students, synth.wages, ages=[19.5])
    fractional = synth.wages.assign(age=synth.wages["age"].astype(float))
    fractional.loc[fractional.index[:5], "age"] = 19.5
    with pytest.raises(InvalidValueError, match=r"age column 'age' has 5 values that are not whole numbers"):
        earnings_age_profile(synth.students, fractional)
    with pytest.raises(DesignError, match=r"no age can be estimated: age 26: no entering cohort observed at age 26"):
        _quiet(earnings_age_profile, synth.students, synth.wages, ages=[26])


def test_wage_records_of_unknown_students_are_counted_and_excluded(synth: Any, profile: AgeProfileResults) -> None:
    extra = synth.wages.iloc[:11].copy()  # the records of the first students, under identifiers not in the file
    n_students = extra["student_id"].nunique()
    extra["student_id"] = "X" + extra["student_id"].str[1:]
    wages = pd.concat([synth.wages, extra], ignore_index=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prof = earnings_age_profile(synth.students, wages, bootstrap=499, seed=3)
    step = next(s for s in prof.sample_flow.steps if "not in the student file" in s.reason)
    assert step.reason == f"records of {n_students:,} students not in the student file" and step.excluded == 11
    assert prof.sample_flow.rows_used == len(synth.wages)
    assert prof.estimate("earnings[age=19]") == profile.estimate("earnings[age=19]")
    text = json.dumps(prof.to_dict()) + prof.summary() + " ".join(str(w.message) for w in caught)
    assert not re.search(r"[XS]\d{9}", text)


def test_duplicate_wage_records_and_students(synth: Any) -> None:
    first_records = synth.wages.groupby("student_id", sort=False).head(1).iloc[:3]  # three students, one record each
    wages = pd.concat([synth.wages, first_records], ignore_index=True)
    with pytest.raises(DuplicateRowsError, match=r"3 students have more than one wage record at the same age \(6 "
                                                 r"records; columns 'student_id', 'age'\)") as info:
        earnings_age_profile(synth.students, wages)
    assert not ID_PATTERN.search(str(info.value))
    students = pd.concat([synth.students, synth.students.iloc[:2]], ignore_index=True)
    with pytest.raises(DuplicateRowsError, match=r"2 students appear more than once in the student file"):
        earnings_age_profile(students, synth.wages)


def test_earnings_missing_for_a_whole_arm_at_one_age(synth: Any) -> None:
    s = synth.students
    treated = s.loc[(s["first_treated"] > 0) & (s["cohort"] >= s["first_treated"]) & (s["cohort"] <= 2019),
                    "student_id"]
    wages = synth.wages[~((synth.wages["age"] == 20) & synth.wages["student_id"].isin(set(treated)))]
    n_treated = len(treated)
    comparison = s[(s["first_treated"] == 0) & (s["cohort"] <= 2019)]
    n_seen = int(comparison["student_id"].isin(set(wages.loc[wages["age"] == 20, "student_id"])).sum())
    with pytest.raises(AllMissingError) as info:
        _quiet(earnings_age_profile, s, wages, ages=[19, 20], missing_record="exclude")
    msg = str(info.value)
    assert f"outcome 'earnings at age 20' is missing for all {n_treated:,} students of the treated arm" in msg
    assert f"the other arm has it for {n_seen:,} of {len(comparison):,} students" in msg


def test_option_refusals(synth: Any) -> None:
    s, w = synth.students, synth.wages
    with pytest.raises(OptionError, match="missing_record must be one of 'exclude', 'zero'"):
        earnings_age_profile(s, w, missing_record="drop")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="bootstrap must be a positive number of draws"):
        earnings_age_profile(s, w, bootstrap=0)
    with pytest.raises(OptionError, match="unknown option 'bands'"):
        earnings_age_profile(s, w, bands=False)
    with pytest.raises(OptionError, match="panel must be false"):
        earnings_age_profile(s, w, panel=True)
    with pytest.raises(OptionError, match="students and wages must be pandas DataFrames"):
        earnings_age_profile(s, w.to_dict())  # type: ignore[arg-type]


def test_small_cell_rule_hides_an_age_and_the_mean(profile: AgeProfileResults) -> None:
    assert profile.with_min_cell(10).privacy["hidden_ages"] == []  # the default rule hides nothing here
    published = None
    for m in (200, 400, 800, 1600):  # the smallest threshold that hides some ages but not all
        candidate = profile.with_min_cell(m)
        if 0 < len(candidate.privacy["hidden_ages"]) < len(profile.estimated_ages):
            published = candidate
            break
    assert published is not None
    hidden = published.privacy["hidden_ages"]
    for a in profile.estimated_ages:
        own = profile.results_at(a).with_min_cell(published.privacy["min_cell"])
        assert own.estimate(f"earnings_age{a}").suppressed == (a in hidden)
        row = published.estimate(f"earnings[age={a}]")
        assert row.suppressed == (a in hidden)
        if a not in hidden:
            assert row == profile.estimate(f"earnings[age={a}]")
    primary = published.estimate("earnings")
    assert primary.suppressed and "would reveal the hidden age" in str(primary.suppression)
    tab = published.profile().set_index("age")
    assert tab.loc[hidden, ["estimate", "band_lower", "band_upper", "std_error_bootstrap"]].isna().all().all()
    assert tab.loc[hidden, "n_students"].isna().all()
    assert published.sampling_distribution().labels == tuple(
        e.label for e in published.estimates if not e.suppressed)
    record = published.to_dict()
    assert record["details"]["covariance"]["labels"] == list(published.sampling_distribution().labels)
    shown_numbers = json.dumps(record)
    for a in hidden:
        assert f"{profile.estimate(f'earnings[age={a}]').estimate!r}" not in shown_numbers
    assert f"{profile.estimate('earnings').estimate!r}" not in shown_numbers
    assert "‡" in published.summary() and "Privacy:" in published.summary()
    with pytest.raises(OptionError, match="min_cell must be a whole number of at least 1"):
        profile.with_min_cell(0)


def test_effect_sizes_by_age_use_the_students_sd(synth: Any, profile: AgeProfileResults) -> None:
    es = profile.effect_sizes().set_index("age")
    assert list(es.index) == list(profile.estimated_ages)
    assert (es["kind"] == "hedges_g").all() and (es["level"] == "students").all()
    # age 21 by hand: earnings at 21 of the treated students (cohorts 2010-2018 that entered from the launch on)
    # and of the comparison districts' students of the same cohorts: never launching, or launching after 2018, the
    # last cohort seen at 21 (R did's rule: never treated within the data)
    w = synth.wages[synth.wages["age"] == 21].merge(synth.students[["student_id", "cohort", "first_treated"]],
                                                    on="student_id")
    treated = w[(w["first_treated"] > 0) & (w["cohort"] >= w["first_treated"])]
    never = (w["first_treated"] == 0) | (w["first_treated"] > 2018)
    comparison = w[never & w["cohort"].isin(set(treated["cohort"]))]
    from cteimpact.did.effect_sizes import pooled_sd

    sd = pooled_sd(treated["earnings"].std(ddof=1), comparison["earnings"].std(ddof=1), len(treated),
                   len(comparison))
    assert es.loc[21, "standardiser"] == pytest.approx(sd, rel=1e-10)
    assert (es.loc[21, "n_students_treated"], es.loc[21, "n_students_comparison"]) == (len(treated), len(comparison))
    assert es.loc[21, "att"] == profile.estimate("earnings[age=21]").estimate

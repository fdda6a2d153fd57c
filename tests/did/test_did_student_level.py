"""Student-level DiD (issue 13, item 2): student cohorts as repeated cross-sections within districts.

Checked against hand-computed cell means (R ``did``'s repeated cross-section 2×2 estimator without covariates is the
difference of four means, and its cohort weights count observations), against the plain ``CallawaySantAnna`` call,
against the student-level truth of the synthetic data (z-scores), and for the student-level standard deviation of
its effect sizes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from study_helpers import quietly as _quiet

from cteimpact.did import CallawaySantAnna, effect_size, student_cohort_did
from cteimpact.did.effect_sizes import hedges_omega, pooled_sd
from cteimpact.errors import AllMissingError, DuplicateRowsError, InvalidValueError, MissingColumnError, OptionError
from cteimpact.synth import simulate

OUTCOMES = ("earnings_age19", "dropout", "graduated")
PANEL_COHORTS = ["cohort <= 2020"]  # the truth's cohorts: those whose age-19 earnings are observed
ID_PATTERN = re.compile(r"S\d{9}")  # the synthetic student identifiers


@pytest.fixture(scope="module")
def fits(synth: Any) -> dict[str, Any]:
    return {y: _quiet(student_cohort_did, synth.students, outcome=y, where=PANEL_COHORTS) for y in OUTCOMES}


def test_group_time_effects_are_the_hand_computed_cell_means(synth: Any, fits: dict[str, Any]) -> None:
    """No covariates: ATT(g,t) = (treated cohort t − base) − (never treated t − base), base g − 1 for post periods and
    t − 1 before (varying base period), to 1e-10; the simple ATT weights cohorts by their students."""
    res = fits["earnings_age19"]
    s = synth.students[synth.students["cohort"] <= 2020].dropna(subset=["earnings_age19"])
    m = s.groupby(["first_treated", "cohort"])["earnings_age19"].mean()
    checked = 0
    for g, t in [(2014, 2014), (2016, 2018), (2019, 2020), (2017, 2013), (2015, 2011)]:
        base = g - 1 if t >= g else t - 1
        hand = (m[g, t] - m[g, base]) - (m[0, t] - m[0, base])
        assert res.estimate(f"earnings_age19[g={g},t={t}]").estimate == pytest.approx(hand, abs=1e-10, rel=0)
        checked += 1
    assert checked == 5
    # simple ATT: post cells weighted by the cohort's observations over all periods (R did: mean(w * 1{G = g}))
    pg = s.groupby("first_treated").size()
    cells = [(g, t) for g in pg.index if g > 0 for t in range(2011, 2021) if t >= g]
    num = sum(pg[g] * res.estimate(f"earnings_age19[g={g},t={t}]").estimate for g, t in cells)
    den = sum(pg[g] for g, _ in cells)
    assert res.estimate("earnings_age19").estimate == pytest.approx(num / den, rel=1e-12)


def test_method_does_not_matter_without_covariates(synth: Any, fits: dict[str, Any]) -> None:
    ref = fits["dropout"].estimate("dropout").estimate
    for method in ("reg", "ipw"):
        res = _quiet(student_cohort_did, synth.students, outcome="dropout", where=PANEL_COHORTS, method=method)
        assert res.estimate("dropout").estimate == pytest.approx(ref, abs=1e-12)
        assert res.options["method"] == method


def test_same_numbers_as_the_plain_repeated_cross_section_call(synth: Any, fits: dict[str, Any]) -> None:
    res = fits["graduated"]
    plain = _quiet(lambda: CallawaySantAnna(synth.students, outcome="graduated", time="cohort",
                                            cohort="first_treated", cluster="district_id", panel=False,
                                            where=PANEL_COHORTS).fit())
    assert res.labels == plain.labels
    for lab in res.labels:
        a, b = res.estimate(lab), plain.estimate(lab)
        assert (a.estimate, a.std_error) == pytest.approx((b.estimate, b.std_error), rel=1e-12, abs=1e-15)
    assert res.options["data_mode"] == "rcs" and res.options["cluster"] == "district_id"
    assert res.n_clusters == synth.students["district_id"].nunique()
    # the student-level checks are recorded as steps of the flow, then the estimator's
    reasons = [s.reason for s in res.sample_flow.steps]
    assert reasons[:4] == ["restriction: cohort <= 2020", "district 'district_id' missing", "cohort 'cohort' missing",
                           "launch year 'first_treated' missing"]
    assert "outcome 'graduated' missing" in reasons
    assert res.sample_flow.rows_used == res.n_units == int(
        synth.students.query("cohort <= 2020")["graduated"].notna().sum())
    assert any("student-level design" in n and "clustered by 'district_id'" in n for n in res.notes)


def test_cluster_choices(synth: Any, fits: dict[str, Any]) -> None:
    by_consortium = _quiet(student_cohort_did, synth.students, outcome="dropout", where=PANEL_COHORTS,
                           cluster="consortium_id")
    unclustered = _quiet(student_cohort_did, synth.students, outcome="dropout", where=PANEL_COHORTS, cluster=None)
    ref = fits["dropout"]
    assert by_consortium.estimate("dropout").estimate == ref.estimate("dropout").estimate
    assert by_consortium.n_clusters == synth.students["consortium_id"].nunique()
    assert unclustered.n_clusters is None
    assert len({round(r.estimate("dropout").std_error, 12) for r in (ref, by_consortium, unclustered)}) == 3
    assert any("independent" in n for n in unclustered.notes)


def _z(res: Any, label: str, truth: float) -> float:
    e = res.estimate(label)
    return (e.estimate - truth) / e.std_error


def truth_z_scores(data: Any, outcome: str, res: Any) -> dict[str, float]:
    """z-scores of the simple ATT, the dynamic overall effect and each event time against the student truth."""
    truth = data.truth["did"]["outcomes"][outcome]["student"]["aggregates"]
    out = {"simple": _z(res, outcome, truth["simple"]),
           "dynamic overall": _z(res, f"{outcome}[event=overall]", truth["dynamic"]["overall"])}
    for e, v in truth["dynamic"]["by_event"].items():
        lab = f"{outcome}[event={e}]"
        if lab in res.labels:  # the truth lists the first cohort's base period too (no estimate there)
            out[f"event {e}"] = _z(res, lab, v)
    return out


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_recovers_the_student_level_truth(synth: Any, fits: dict[str, Any], outcome: str) -> None:
    z = truth_z_scores(synth, outcome, fits[outcome])
    assert len(z) >= 2 + 16  # simple, dynamic overall, event times -9..6
    bad = {k: round(v, 2) for k, v in z.items() if not abs(v) < 3}
    assert not bad, f"{outcome}: |z| >= 3 for {bad}"


@pytest.mark.slow
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_recovers_the_student_level_truth_at_scale(outcome: str) -> None:
    data = simulate(seed=5, scale=0.25)
    res = _quiet(student_cohort_did, data.students, outcome=outcome, where=PANEL_COHORTS)
    z = truth_z_scores(data, outcome, res)
    bad = {k: round(v, 2) for k, v in z.items() if not abs(v) < 3}
    assert not bad, f"{outcome}: |z| >= 3 for {bad}"


INTERIM = ("concentrator", "completer", "credential", "dual_credits", "postsecondary")


@pytest.mark.parametrize("outcome", INTERIM)
def test_interim_outcomes_recover_their_student_truth(synth: Any, outcome: str) -> None:
    """The interim outcomes the synth helper adds this session (skipped while the data lack them): student-level
    truths over every cohort with the outcome observed, so no cohort restriction."""
    node = synth.truth["did"]["outcomes"].get(outcome, {}).get("student")
    if outcome not in synth.students.columns or not node or not node.get("aggregates"):
        pytest.skip(f"the synthetic data carry no '{outcome}' column with a student-level DiD truth yet")
    res = _quiet(student_cohort_did, synth.students, outcome=outcome)
    truth = node["aggregates"]
    z = {"simple": _z(res, outcome, truth["simple"]),
         "dynamic overall": _z(res, f"{outcome}[event=overall]", truth["dynamic"]["overall"])}
    bad = {k: round(v, 2) for k, v in z.items() if not abs(v) < 3}
    assert not bad, f"{outcome}: |z| >= 3 for {bad}"


def test_effect_size_is_on_the_students_own_sd(synth: Any, fits: dict[str, Any]) -> None:
    res = fits["earnings_age19"]
    es = effect_size(res)
    s = synth.students[synth.students["cohort"] <= 2020].dropna(subset=["earnings_age19"])
    treated = s[(s["first_treated"] > 0) & (s["cohort"] >= s["first_treated"])]["earnings_age19"]
    periods = sorted(s.loc[s.index.isin(treated.index), "cohort"].unique())
    comparison = s[(s["first_treated"] == 0) & s["cohort"].isin(periods)]["earnings_age19"]
    sd = pooled_sd(treated.std(ddof=1), comparison.std(ddof=1), len(treated), len(comparison))
    assert (es.level, es.kind, es.comparable_to_student_level) == ("students", "hedges_g", True)
    assert es.standardiser == pytest.approx(sd, rel=1e-10)
    assert (es.n_students_treated, es.n_students_comparison) == (len(treated), len(comparison))
    omega = hedges_omega(len(treated) + len(comparison))
    assert es.estimate == pytest.approx(omega * res.estimate("earnings_age19").estimate / sd, rel=1e-10)
    # not the spread of district × cohort means (about half the students' at this scale, a third at 0.25)
    cell_means = s.groupby(["district_id", "cohort"])["earnings_age19"].mean()
    assert es.standardiser > 1.5 * cell_means.std(ddof=1)
    assert "student-level" in es.standardiser_name


def test_effect_size_equals_the_district_panels_student_sd(synth: Any, fits: dict[str, Any]) -> None:
    """The district panel with its cells' student-level SDs and the student rows describe the same students: same
    pooled standard deviation (the panel's districts being those with every cohort)."""
    panel_res = _quiet(lambda: CallawaySantAnna(
        synth.district_panel, outcome="earnings_age19", unit="district_id", time="cohort", cohort="first_treated",
        students="n_students", outcome_sd="earnings_age19_sd", outcome_n="n_observed_age19").fit())
    kept = set(panel_res.data.row_id)
    students = synth.students[synth.students["district_id"].isin(kept)]
    res = _quiet(student_cohort_did, students, outcome="earnings_age19", where=PANEL_COHORTS)
    a, b = effect_size(res), effect_size(panel_res)
    assert a.standardiser == pytest.approx(b.standardiser, rel=1e-9)
    assert (a.n_students_treated, a.n_students_comparison) == (b.n_students_treated, b.n_students_comparison)


def test_binary_outcome_gets_the_cox_index_and_its_student_sd_on_request(fits: dict[str, Any], synth: Any) -> None:
    res = fits["graduated"]
    cox = effect_size(res)
    assert cox.kind == "cox_index" and cox.level == "students"
    g = effect_size(res, binary=False)
    s = synth.students[synth.students["cohort"] <= 2020].dropna(subset=["graduated"])
    treated = s[(s["first_treated"] > 0) & (s["cohort"] >= s["first_treated"])]["graduated"]
    assert g.kind == "hedges_g" and g.sd_treated == pytest.approx(treated.std(ddof=1), rel=1e-12)


def test_no_identifier_in_outputs(synth: Any) -> None:
    res = _quiet(student_cohort_did, synth.students, outcome="dropout", where=PANEL_COHORTS, student="student_id")
    text = json.dumps(res.to_dict()) + res.summary() + res.tidy().to_csv()
    assert not ID_PATTERN.search(text)
    assert "student_id" not in json.dumps(res.options)


# -- bad input ----------------------------------------------------------------------------------------------------

def _small(synth: Any) -> pd.DataFrame:
    return synth.students[synth.students["cohort"] <= 2020].copy()


def test_launch_year_varying_within_a_district_is_refused(synth: Any) -> None:
    df = _small(synth)
    launched = df.loc[df["first_treated"] > 0, "district_id"].unique()[:3]
    first = df.index[df["district_id"].isin(launched)]
    df.loc[first[::2], "first_treated"] = 0
    n_d = df["district_id"].nunique()
    with pytest.raises(InvalidValueError, match=rf"launch year 'first_treated' takes more than one value within 3 of "
                                                rf"{n_d} districts \('district_id'\)"):
        student_cohort_did(df, outcome="dropout")


def test_cluster_that_splits_a_district_is_refused(synth: Any) -> None:
    df = _small(synth)
    df["zone"] = np.arange(len(df)) % 2
    with pytest.raises(InvalidValueError, match=r"cluster 'zone' takes more than one value within \d+ of \d+ "
                                                r"districts"):
        student_cohort_did(df, outcome="dropout", cluster="zone")


def test_repeated_students_are_counted_never_listed(synth: Any) -> None:
    df = _small(synth)
    df = pd.concat([df, df.iloc[:4]], ignore_index=True)
    with pytest.raises(DuplicateRowsError, match=r"4 students appear more than once in the student file \(8 rows, "
                                                 r"column 'student_id'\)") as info:
        student_cohort_did(df, outcome="dropout", student="student_id")
    assert not ID_PATTERN.search(str(info.value))


@pytest.mark.parametrize("arm", ["treated", "comparison"])
def test_outcome_missing_for_a_whole_arm(synth: Any, arm: str) -> None:
    df = _small(synth)
    treated = (df["first_treated"] > 0) & (df["cohort"] >= df["first_treated"])
    comparison = df["first_treated"] == 0
    mask = treated if arm == "treated" else comparison
    df.loc[mask, "earnings_age19"] = np.nan
    other = comparison if arm == "treated" else treated
    n_other_seen = int(df.loc[other, "earnings_age19"].notna().sum())
    with pytest.raises(AllMissingError) as info:
        student_cohort_did(df, outcome="earnings_age19")
    msg = str(info.value)
    assert f"outcome 'earnings_age19' is missing for all {int(mask.sum()):,} students of the {arm} arm" in msg
    assert f"has it for {n_other_seen:,} of {int(other.sum()):,} students" in msg


def test_other_refusals(synth: Any) -> None:
    df = _small(synth)
    with pytest.raises(MissingColumnError, match=r"column 'launch' \(role 'launch year of the student file'\)"):
        student_cohort_did(df, outcome="dropout", first_treated="launch")
    with pytest.raises(OptionError, match="panel must be false"):
        student_cohort_did(df, outcome="dropout", panel=True)
    with pytest.raises(OptionError, match="bootstrap"):
        _quiet(student_cohort_did, df, outcome="dropout", bootstrap=0)  # rows dropped before fit() refuses it
    with pytest.raises(OptionError, match="students must be a pandas DataFrame"):
        student_cohort_did([1, 2], outcome="dropout")  # type: ignore[arg-type]


def test_student_data_flow_continues(synth: Any, fits: dict[str, Any]) -> None:
    from cteimpact.data import StudentData
    from cteimpact.data.columns import ColumnMap
    from cteimpact.data.sample_flow import SampleFlow

    frame = synth.students
    data = StudentData(frame, ColumnMap(), SampleFlow("students.parquet", len(frame), unit="students"))
    data = data.filter((frame["cohort"] <= 2020).to_numpy(), "cohorts with age-19 earnings observed")
    res = _quiet(student_cohort_did, data, outcome="dropout", source="ignored")
    assert res.sample_flow.source == "students.parquet" and res.sample_flow.rows_read == len(frame)
    assert res.sample_flow.steps[0].reason == "cohorts with age-19 earnings observed"
    assert res.sample_flow.steps[0].excluded == int((frame["cohort"] > 2020).sum())
    assert res.estimate("dropout").estimate == fits["dropout"].estimate("dropout").estimate

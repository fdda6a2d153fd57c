"""The synthetic generator: determinism, files honouring the data contract, calibration, and truths.

"Realised effects match truth.json within sampling error" is checked with simple, transparent estimators written
here (local linear regression at the cutoff with consortium-clustered standard errors; 2×2 difference-in-differences
against never-treated districts), independent of the cteimpact estimators they will later validate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cteimpact.data import ColumnMap, load_student_data
from cteimpact.errors import OptionError
from cteimpact.synth import COLUMN_MAPS, generate, simulate


@pytest.fixture(scope="module")
def small() -> object:
    return simulate(seed=11, scale=0.05)


@pytest.fixture(scope="module")
def medium() -> object:
    return simulate(seed=3, scale=0.5)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=7, scale=0.01)
    b = generate(tmp_path / "b", seed=7, scale=0.01)
    assert sorted(a) == sorted(b) == sorted([
        "students.parquet", "enrollment.parquet", "wages.parquet", "consortia.csv", "districts.csv",
        "district_panel.csv", "truth.json", "codebook.json"])
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    c = generate(tmp_path / "c", seed=8, scale=0.01)
    assert c["students.parquet"].read_bytes() != a["students.parquet"].read_bytes()


def test_files_equal_the_in_memory_simulation_and_csv_format(tmp_path: Path) -> None:
    paths = generate(tmp_path / "p", seed=5, scale=0.01)
    mem = simulate(seed=5, scale=0.01)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["students.parquet"]), mem.students, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["wages.parquet"]), mem.wages, check_dtype=False)
    truth = json.loads(paths["truth.json"].read_text())
    pooled = truth["rd"]["estimands"]["dropout"]["pooled"]
    assert pooled["itt"] == mem.truth["rd"]["estimands"]["dropout"]["pooled"]["itt"]
    csv = generate(tmp_path / "c", seed=5, scale=0.01, fmt="csv")
    students = pd.read_csv(csv["students.csv"])
    assert len(students) == len(mem.students)
    np.testing.assert_allclose(students["earnings_age19"], mem.students["earnings_age19"])


def test_files_honour_the_student_data_contract(tmp_path: Path) -> None:
    paths = generate(tmp_path, seed=9, scale=0.01)
    students = load_student_data(paths["students.parquet"], ColumnMap(COLUMN_MAPS["students"]),
                                 required=["dropout"])
    n = len(pd.read_parquet(paths["students.parquet"]))
    assert students.flow.rows_read == n
    missing = int(pd.read_parquet(paths["students.parquet"])["dropout"].isna().sum())
    assert students.flow.steps[-1].excluded == missing > 0
    enrollment = load_student_data(paths["enrollment.parquet"], ColumnMap(COLUMN_MAPS["enrollment"]))
    wages = load_student_data(paths["wages.parquet"], ColumnMap(COLUMN_MAPS["wages"]))
    assert len(enrollment) > n and len(wages) > 0
    assert (wages.values("earnings") == 0).mean() > 0.3  # many zeros, as in wage records
    codebook = json.loads(paths["codebook.json"].read_text())
    assert set(codebook["files"]) >= {"students", "enrollment", "wages", "district_panel"}


def test_design_matches_the_ccpt_rounds(small) -> None:
    design = small.truth["design"]
    assert [(r["applicants"], r["funded"]) for r in design["rounds"]] == [(123, 39), (79, 40)]
    c = small.consortia
    for r in design["rounds"]:
        rows = c[c["grant_round"] == r["round"]]
        assert rows["rubric_score"].is_unique
        assert ((rows["rubric_score"] >= r["cutoff"]) == (rows["award"] == 1)).all()
    s = small.students
    assert (s["score_centered"] == (s["rubric_score"] - s["cutoff"]).round(2)).all()
    launches = small.districts["first_treated"]
    assert set(launches[launches > 0]) <= set(range(2014, 2021)) and (launches == 0).any()


@pytest.mark.slow  # synthetic data at scale 0.5 (the ``medium`` fixture)
def test_calibration_targets(medium) -> None:
    s = medium.students
    by_cohort = s.groupby("cohort")["dropout"].mean()
    # California four-year cohort dropout: about 11.5% for the class of 2014, about 9% for the class of 2019
    assert 0.10 <= by_cohort[2010] <= 0.13
    assert 0.08 <= by_cohort[2015] <= 0.10
    assert 0.80 <= s["graduated"].mean() <= 0.88
    assert 0.03 <= s["dropout"].isna().mean() <= 0.06  # attrition
    assert 0.35 <= (s["earnings_age19"] == 0).mean() <= 0.55  # many zeros in wage records
    assert 0.50 <= s["low_income"].mean() <= 0.70
    truth = medium.truth["rd"]["estimands"]["dropout"]["pooled"]
    assert -0.26 <= truth["relative_itt"] <= -0.20  # published: about 23% fewer dropouts
    sub = truth["subgroups"]
    assert sub["low_income=1"]["relative_itt"] < sub["low_income=0"]["relative_itt"]  # larger for low-income


def _local_linear(df: pd.DataFrame, y: str, h: float) -> tuple[float, float]:
    """Uniform-kernel local linear jump at score_centered = 0 with consortium-clustered standard error."""
    w = df[(df["score_centered"].abs() <= h) & df[y].notna()]
    x = w["score_centered"].to_numpy()
    d = (x >= 0).astype(float)
    design = np.column_stack([np.ones_like(x), d, x, d * x])
    fit = sm.OLS(w[y].to_numpy(), design).fit(cov_type="cluster",
                                              cov_kwds={"groups": pd.factorize(w["consortium_id"])[0]})
    return float(fit.params[1]), float(fit.bse[1])


@pytest.mark.slow
def test_rd_jumps_match_truth_within_sampling_error(medium) -> None:
    s = medium.students
    rd = s[(s["cohort"] >= s["award_year"]) & (s["cohort"] <= s["award_year"] + 3)]
    truth = medium.truth["rd"]["estimands"]
    checks = {"pathway": truth["pathway"]["pooled"]["first_stage"],
              "dropout": truth["dropout"]["pooled"]["itt"],
              "earnings_age19": truth["earnings_age19"]["pooled"]["itt"],
              "completer": truth["completer"]["pooled"]["itt"],
              "credential": truth["credential"]["pooled"]["itt"],
              "postsecondary": truth["postsecondary"]["pooled"]["itt"]}
    for y, true in checks.items():
        est, se = _local_linear(rd, y, h=12.0)
        # a linear fit over ±12 points leaves a small smoothing bias; 3.5 SE bounds the sampling error
        assert abs(est - true) < 3.5 * se, (y, est, se, true)
    est, se = _local_linear(rd, "pathway", h=12.0)
    assert est / se > 5  # the first stage is strong


def _did_2x2(panel: pd.DataFrame, y: str, g: int, t: int) -> tuple[float, float]:
    """ATT(g, t) against never-treated districts with base period g - 1, and its standard error."""
    wide = panel.pivot(index="district_id", columns="cohort", values=y)
    group = panel.groupby("district_id")["first_treated"].first()
    wide = wide.dropna()
    group = group.loc[wide.index]
    change = wide[t] - wide[g - 1]
    a, b = change[group == g], change[group == 0]
    return float(a.mean() - b.mean()), float(np.sqrt(a.var() / len(a) + b.var() / len(b)))


@pytest.mark.slow
def test_did_group_time_effects_match_truth_within_sampling_error(medium) -> None:
    truth = medium.truth["did"]["outcomes"]["earnings_age19"]["district_panel"]
    true = {(r["group"], r["time"]): r["att"] for r in truth["att_gt"]}
    z = []
    for (g, t), att in true.items():
        if t < g:
            assert att == 0.0  # no anticipation: the true pre-period effects are exactly zero
            continue
        est, se = _did_2x2(medium.district_panel, "earnings_age19", g, t)
        z.append((est - att) / se)
    z_arr = np.asarray(z)
    assert np.all(np.abs(z_arr) < 4), z_arr
    assert np.mean(z_arr**2) < 2.0  # about 1 when the estimates scatter around the truth with their SEs
    dyn = truth["aggregates"]["dynamic"]["by_event"]
    assert dyn["0"] < dyn["2"] < dyn["4"]  # effects grow with exposure


@pytest.mark.slow
def test_twfe_is_visibly_biased_on_the_synthetic_panel(medium) -> None:
    panel = medium.district_panel.dropna(subset=["earnings_age19"])
    complete = panel.groupby("district_id")["cohort"].transform("size") == panel["cohort"].nunique()
    p = panel[complete]
    d = ((p["first_treated"] > 0) & (p["cohort"] >= p["first_treated"])).astype(float)
    y = p["earnings_age19"]

    def two_way_demean(v: pd.Series) -> np.ndarray:
        v = v - v.groupby(p["district_id"]).transform("mean")
        return (v - v.groupby(p["cohort"]).transform("mean")).to_numpy()

    dd, yy = two_way_demean(d), two_way_demean(y)
    twfe = float(dd @ yy / (dd @ dd))
    simple = medium.truth["did"]["outcomes"]["earnings_age19"]["district_panel"]["aggregates"]["simple"]
    assert twfe < 0.85 * simple  # growing effects + staggered timing: TWFE understates the ATT


def test_bad_arguments() -> None:
    with pytest.raises(OptionError, match="scale"):
        simulate(seed=1, scale=0)
    with pytest.raises(OptionError, match="seed"):
        simulate(seed=-1, scale=0.01)

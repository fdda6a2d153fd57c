"""Small-cell suppression in every published artefact of a run, integer student ids, and the identifier guard.

An RD study with a subgroup of 3 + 5 students near the cutoff and a DiD study whose cohorts have 6 and 3 students
are run end to end; no results file, table or figure may carry their numbers, while the estimator still uses
every row. Pricing a suppressed estimate is an error.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.errors import SuppressedEstimateError
from cteimpact.pipeline.run import run_analysis
from cteimpact.provenance import find_identifiers, small_cell_mask, suppress_small_cells
from cteimpact.results import ResultsRecord

MIN_CELL = 10

RD_SPEC = """
schema = "cteimpact.analysis/1"

[study]
name = "privacy-rd"
title = "A subgroup of a handful of students near the cutoff"
seed = 11

[data]
path = "students.parquet"
key = ["student_id"]
extra_columns = ["award_year"]

[data.columns]
student_id = "student_id"
cohort = "cohort"
female = "female"
dropout = "dropout"

[sample]
restrictions = ["cohort >= award_year", "cohort <= award_year + 3"]

[design]
type = "rd"
outcomes = ["dropout"]
running = "score_centered"
cutoff = 0.0
subgroups = ["rare", "female"]
baseline_covariates = ["female"]

[design.estimation]
h = 2.0

[design.diagnostics]
enabled = {diagnostics}

[privacy]
min_cell = 10
"""

DID_SPEC = """
schema = "cteimpact.analysis/1"

[study]
name = "privacy-did"
title = "A cohort of six students and one of three"
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
honest = []
pretrend_power = false

[privacy]
min_cell = 10
"""


# -- data ----------------------------------------------------------------------------------------------------------


def _analysis_frame(folder: Path) -> pd.DataFrame:
    d = pd.read_parquet(folder / "students.parquet")
    return d[(d["cohort"] >= d["award_year"]) & (d["cohort"] <= d["award_year"] + 3)]


@pytest.fixture(scope="module")
def rd_data(tmp_path_factory: pytest.TempPathFactory, synth_data: Path) -> Path:
    """Synthetic students (seed 7, scale 0.05: a copy of ``synth_data``) with a column ``rare``: 3 students below and
    5 above the cutoff, all within the bandwidth (|score| < 2), each with its own score."""
    out = tmp_path_factory.mktemp("privacy-rd-data") / "data"
    shutil.copytree(synth_data, out)
    d = pd.read_parquet(out / "students.parquet")
    sample = (d["cohort"] >= d["award_year"]) & (d["cohort"] <= d["award_year"] + 3) & d["dropout"].notna()
    d["rare"] = 0
    for side, k, outcomes in ((d["score_centered"] < 0, 3, [0.0, 1.0, 0.0]),
                              (d["score_centered"] >= 0, 5, [1.0, 0.0, 0.0, 1.0, 0.0])):
        pool = d[side & sample].drop_duplicates("score_centered")
        pick = pool.loc[pool["score_centered"].abs().sort_values(kind="stable").index[:k]].index
        d.loc[pick, "rare"] = 1
        d.loc[pick, "dropout"] = outcomes
    d.to_parquet(out / "students.parquet")
    return out


def _fit_unsuppressed(folder: Path):
    from cteimpact.rd import RegressionDiscontinuity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(_analysis_frame(folder), ["dropout"], "score_centered", 0.0,
                                     subgroups=["rare", "female"])
        return rd.fit(h=2.0)


def _secret_numbers(*values: float) -> list[str]:
    """Full-precision texts of numbers that must not be published (as JSON and CSV write them)."""
    return [repr(float(v)) for v in values if math.isfinite(float(v)) and float(v) not in (0.0, 1.0, -1.0)]


def _all_text(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".json", ".csv")}


def _write_spec(folder: Path, text: str, name: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rd_run(tmp_path_factory: pytest.TempPathFactory, rd_data: Path):
    spec = _write_spec(tmp_path_factory.mktemp("privacy-rd-spec"), RD_SPEC.format(diagnostics="true"), "rd.toml")
    out = tmp_path_factory.mktemp("privacy-rd-run") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_analysis(spec, out, data_root=rd_data, progress=False)
    return record


def did_panel(sizes: dict[int, int], *, seed: int = 3, ids: str = "text") -> pd.DataFrame:
    """A balanced student panel 2010-2016: ``sizes`` maps a cohort (first treated year, 0 = never) to its
    number of students; effect 0.5 from the cohort's year on."""
    rng = np.random.default_rng(seed)
    rows = []
    uid = 0
    for g, n in sizes.items():
        for _ in range(n):
            a = rng.normal()
            for t in range(2010, 2017):
                rows.append({"student_id": f"S{uid:07d}" if ids == "text" else uid + 1, "year": t, "first": g,
                             "y": a + 0.1 * (t - 2010) + (0.5 if g and t >= g else 0.0) + rng.normal(scale=0.5)})
            uid += 1
    return pd.DataFrame(rows)


DID_SIZES = {0: 80, 2013: 60, 2014: 54, 2015: 6, 2016: 3}


@pytest.fixture(scope="module")
def did_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("privacy-did")
    did_panel(DID_SIZES).to_csv(folder / "panel.csv", index=False)
    spec = _write_spec(folder, DID_SPEC, "did.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_analysis(spec, folder / "run", progress=False)
    return folder, record


# -- the rule --------------------------------------------------------------------------------------------------------


def test_overlapping_groups_hide_a_second_cell_and_reach_a_fixed_point():
    # cells 0..3; group A = {0, 1}, group B = {1, 2, 3}: cell 0 is small; hiding 1 (its complement in A) leaves
    # B with one hidden cell, so B's smallest shown cell (2) goes too
    mask = small_cell_mask([4, 50, 30, 90], min_cell=MIN_CELL, groups=[[0, 1], [1, 2, 3]])
    assert mask.tolist() == [True, True, True, False]


def test_hidden_cells_that_together_stay_small_need_a_third():
    mask = small_cell_mask([3, 4, 40, 50], min_cell=MIN_CELL, groups=[[0, 1, 2, 3]])
    assert mask.tolist() == [True, True, True, False]  # 3 + 4 < 10: the next smallest (40) is hidden too
    mask = small_cell_mask([5, 6, 40, 50], min_cell=MIN_CELL, groups=[[0, 1, 2, 3]])
    assert mask.tolist() == [True, True, False, False]  # 5 + 6 >= 10: enough


def test_table_rule_is_the_same_rule():
    frame = pd.DataFrame({"n": [3, 4, 40, 50], "mean": [1.0, 2.0, 3.0, 4.0]})
    table = suppress_small_cells(frame, n_column="n")
    assert table.suppressed["n"].tolist() == [True, True, True, False]
    assert "together describe fewer than 10 students" in table.note


# -- regression discontinuity ----------------------------------------------------------------------------------------


def test_rd_run_shows_no_number_of_a_three_and_five_student_subgroup(rd_run, rd_data):
    full = _fit_unsuppressed(rd_data)
    rare = full.fit_for("dropout[rare=1]").fit
    assert rare.n_h == (3, 5)  # the estimator used them
    other = full.fit_for("dropout[rare=0]").fit
    secrets = _secret_numbers(rare.estimate, rare.estimate_bc, rare.se, rare.se_robust, *rare.ci[2], *rare.limits,
                              other.estimate, other.estimate_bc, other.se_robust, *other.ci[2])
    texts = _all_text(rd_run.out_dir)
    assert {"results.json", "tables/estimates.csv", "tables/rd_fits.csv"} <= set(texts)
    for name, text in texts.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} carries suppressed numbers {leaked}"

    results = json.loads((rd_run.out_dir / "results.json").read_text(encoding="utf-8"))
    fits = {f["label"]: f for f in results["design"]["details"]["fits"]}
    for label in ("dropout[rare=1]", "dropout[rare=0]"):  # rare=0 is the complement: main minus it = rare=1
        assert fits[label]["suppressed"] is True
        assert fits[label]["fit"] is None and fits[label]["sample_flow"] is None
    assert "fewer than 10 students" in fits["dropout[rare=1]"]["suppression"]
    assert fits["dropout[rare=0]"]["suppression"].startswith("complementary suppression")
    assert fits["dropout"]["suppressed"] is False and fits["dropout"]["fit"]["n_h"] == list(full.fits[0].fit.n_h)
    assert fits["dropout[female=1]"]["suppressed"] is False  # only what is small (or reveals it) is hidden
    rows = {e["label"]: e for e in results["design"]["estimates"]}
    for label in ("dropout[rare=1]", "dropout[rare=0]", "dropout[rare=1 vs rare=0]"):
        assert rows[label]["suppressed"] is True
        assert all(rows[label][k] is None for k in ("estimate", "std_error", "p_value", "ci_lower", "ci_upper",
                                                    "n_effective"))
    assert rows["dropout"]["estimate"] == full.estimate("dropout").estimate  # the headline is untouched
    dist_labels = results["design"]["sampling_distribution"]["labels"]
    assert "dropout[rare=1]" not in dist_labels and "dropout" in dist_labels
    privacy = results["design"]["details"]["privacy"]
    assert privacy["min_cell"] == MIN_CELL and privacy["suppressed_estimates"] == 3
    assert results["privacy"]["note"] == privacy["note"] and "3 estimates were suppressed" in privacy["note"]

    fits_csv = pd.read_csv(rd_run.out_dir / "tables" / "rd_fits.csv").set_index("label")
    hidden = fits_csv.loc[["dropout[rare=1]", "dropout[rare=0]"]]
    assert hidden["suppressed"].all()
    assert hidden[["n_left", "n_right", "n_h_left", "n_h_right", "h_left"]].isna().all().all()
    assert fits_csv.loc["dropout", "n_h_left"] == full.fits[0].fit.n_h[0]
    est_csv = pd.read_csv(rd_run.out_dir / "tables" / "estimates.csv").set_index("label")
    assert est_csv.loc["dropout[rare=1]", "suppressed"] and pd.isna(est_csv.loc["dropout[rare=1]", "estimate"])


def test_rd_run_figures_and_diagnostics(rd_run):
    figures = {p.name for p in (rd_run.out_dir / "figures").iterdir()}
    assert "rd-dropout.png" in figures
    assert not any("rare" in name for name in figures)
    results = json.loads((rd_run.out_dir / "results.json").read_text(encoding="utf-8"))
    checks = results["design"]["details"]["diagnostics"]["dropout"]["checks"]
    for check in checks.values():
        for row in check["table"]:
            if "n_h_left" in row and row.get("suppressed") is False and row.get("estimate") is not None:
                assert min(row["n_h_left"], row["n_h_right"]) >= MIN_CELL
    for table in (rd_run.out_dir / "tables").glob("check-*.csv"):
        frame = pd.read_csv(table)
        if {"n_h_left", "n_h_right", "suppressed"} <= set(frame.columns):
            shown = frame[~frame["suppressed"].astype(bool) & frame["estimate"].notna()]
            assert (shown[["n_h_left", "n_h_right"]].min(axis=1) >= MIN_CELL).all(), table.name


def test_pricing_a_suppressed_estimate_is_an_error(rd_run):
    from cteimpact.pricing import example_contract, price_contract

    results = json.loads((rd_run.out_dir / "results.json").read_text(encoding="utf-8"))
    record = ResultsRecord.from_dict(results["design"])
    with pytest.raises(SuppressedEstimateError) as info:
        price_contract(example_contract("schedule_rikers"), record, draws=1000, seed=1,
                       labels={"dropout": "dropout[rare=1]"})
    msg = str(info.value)
    assert "'dropout[rare=1]' is suppressed" in msg and "cannot be priced" in msg
    price_contract(example_contract("schedule_rikers"), record, draws=1000, seed=1)  # the headline prices


def test_integer_student_ids_run_end_to_end(tmp_path, rd_data):
    d = pd.read_parquet(rd_data / "students.parquet")
    d["student_id"] = d["student_id"].str.slice(1).astype(np.int64)  # S001000123 -> 1000123
    folder = tmp_path / "data"
    folder.mkdir()
    d.to_parquet(folder / "students.parquet")
    spec = _write_spec(tmp_path, RD_SPEC.format(diagnostics="false"), "rd.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_analysis(spec, tmp_path / "run", data_root=folder, progress=False)
    assert (record.out_dir / "manifest.json").is_file()
    assert record.results["design"]["estimates"][0]["label"] == "dropout"


def test_small_integer_ids_are_not_mistaken_in_a_csv_run(tmp_path):
    """Ids 1..N coincide with counts, years and bandwidths in the outputs; the run must still pass."""
    folder = tmp_path
    did_panel({0: 60, 2013: 50, 2014: 40}, ids="int").to_csv(folder / "panel.csv", index=False)
    spec = _write_spec(folder, DID_SPEC.replace('name = "privacy-did"', 'name = "privacy-did-int"'), "did.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_analysis(spec, folder / "run", progress=False)
    text = (record.out_dir / "results.json").read_text(encoding="utf-8")
    assert any(f" {i}," in text or f" {i}\n" in text for i in (3, 40, 50, 60))  # the numbers are there


# -- the identifier guard --------------------------------------------------------------------------------------------


def test_guard_catches_a_column_of_integer_ids(tmp_path):
    ids = [str(i) for i in range(1, 501)]
    leak = tmp_path / "leak.csv"
    pd.DataFrame({"student": np.arange(1, 301), "y": np.linspace(0, 1, 300)}).to_csv(leak, index=False)
    clean = tmp_path / "clean.csv"
    pd.DataFrame({"n": [3, 5, 120, 480], "estimate": [0.25, 1.5, 3.0, 2.0]}).to_csv(clean, index=False)
    hits = find_identifiers([leak, clean], ids)
    assert set(hits) == {leak.as_posix()} and hits[leak.as_posix()] == 300


def test_guard_catches_a_json_list_of_integer_ids(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"units": list(range(1, 201)), "n": 200}), encoding="utf-8")
    assert find_identifiers([path], [str(i) for i in range(1, 1001)]) == {path.as_posix(): 200}


def test_guard_does_not_flag_results_whose_numbers_are_small_integer_ids(tmp_path):
    path = tmp_path / "results.json"
    doc = {"n": 3, "rows": 120, "years": [2014, 2015, 2016], "counts": list(range(1, 41)), "estimate": 3.0,
           "labels": {"3": "a", "7": "b"}, "flow": [{"count": 5, "reason": "missing 3"}], "h": [12.5, 3.25]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    csv = tmp_path / "table.csv"
    pd.DataFrame({"n": range(1, 31), "x": np.linspace(1, 30, 30)}).to_csv(csv, index=False)
    assert find_identifiers([path, csv], [str(i) for i in range(0, 5000)]) == {}


def test_guard_keeps_catching_text_ids_and_ids_with_leading_zeros(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("label,value\nS0001234,1\n", encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text('{"id": "00123"}', encoding="utf-8")
    hits = find_identifiers([path, other], ["S0001234", "00123", "7"])
    assert hits == {path.as_posix(): 1, other.as_posix(): 1}


# -- difference-in-differences ---------------------------------------------------------------------------------------


def test_did_run_hides_the_six_and_three_student_cohorts(did_run):
    from cteimpact.did import CallawaySantAnna, baseline_equivalence

    folder, record = did_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = CallawaySantAnna(pd.read_csv(folder / "panel.csv"), outcome="y", unit="student_id", time="year",
                                cohort="first").fit()
        be = baseline_equivalence(full).set_index("cohort")
    secrets = _secret_numbers(full.estimate("y[group=2015]").estimate, full.estimate("y[group=2015]").std_error,
                              full.estimate("y[group=2016]").estimate,
                              full.estimate("y[g=2015,t=2016]").estimate, full.estimate("y[g=2016,t=2016]").estimate,
                              be.loc[2015.0, "mean_treated"], be.loc[2016.0, "mean_treated"],
                              be.loc[2016.0, "sd_treated"], be.loc[2016.0, "effect_size"])
    texts = _all_text(record.out_dir)
    assert {"results.json", "tables/estimates.csv", "tables/event_study.csv",
            "tables/baseline_equivalence.csv", "tables/bacon.csv"} <= set(texts)
    for name, text in texts.items():
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} carries suppressed numbers {leaked}"

    results = json.loads((record.out_dir / "results.json").read_text(encoding="utf-8"))
    rows = {e["label"]: e for e in results["design"]["estimates"]}
    for label in ("y[group=2015]", "y[group=2016]", "y[g=2015,t=2015]", "y[g=2016,t=2016]"):
        assert rows[label]["suppressed"] is True and rows[label]["estimate"] is None, label
    assert "fewer than 10 students" in rows["y[group=2015]"]["suppression"]
    assert rows["y"]["suppressed"] is False and rows["y"]["estimate"] == full.estimate("y").estimate
    att_gt = [r for r in results["design"]["details"]["att_gt"] if r["group"] in (2015.0, 2016.0)]
    assert att_gt and all(r["att"] is None and r["n_treated"] is None and r["suppressed"] for r in att_gt)
    groups = {el["group"]: el for el in results["design"]["details"]["aggregates"]["group"]["elements"]}
    assert groups[2015.0]["suppressed"] and groups[2015.0]["att"] is None

    base = pd.read_csv(record.out_dir / "tables" / "baseline_equivalence.csv").set_index("cohort")
    for cohort in (2015.0, 2016.0):  # n_treated = 6 and 3
        assert base.loc[cohort, "suppressed"]
        assert base.loc[cohort, ["n_treated", "mean_treated", "sd_treated", "effect_size"]].isna().all()
    assert results["design"]["extra"]["baseline_equivalence"][0]["cohort"] == 2013.0
    bacon = pd.read_csv(record.out_dir / "tables" / "bacon.csv")
    small = bacon["treated"].isin([2015.0, 2016.0]) | bacon["control"].isin([2015.0, 2016.0])
    assert bacon.loc[small, "suppressed"].all() and bacon.loc[small, ["estimate", "weight"]].isna().all().all()
    sa = results["design"]["extra"]["sun_abraham"]["cohort_effects"]
    assert all(r["estimate"] is None for r in sa if r["cohort"] in (2015.0, 2016.0))


def test_did_cohort_sizes_cannot_be_recovered_from_the_unit_count(did_run):
    _, record = did_run
    att_gt = record.results["design"]["details"]["att_gt"]
    shown = {r["group"]: r["n_treated"] for r in att_gt if r["n_treated"] is not None}
    hidden = {r["group"] for r in att_gt} - set(shown)
    # 203 units: with the never-treated count shown, the hidden cohorts' total is all that can be worked out
    assert {2015.0, 2016.0} <= hidden and len(hidden) >= 3
    total_hidden = 203 - 80 - sum(shown.values())
    assert total_hidden >= MIN_CELL

"""Descriptive statistics of the RD analysis sample by side of the cutoff (issue 11, "What a reader needs")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.descriptives import DESCRIPTIVE_COLUMNS


def _cells(res, outcome):
    return {(c.window, c.side): c for c in res.descriptives if c.outcome == outcome}


def test_cells_recomputed_from_the_data(synth_quarter, synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    d = synth_quarter.students
    d = d[(d["cohort"] >= d["award_year"]) & (d["cohort"] <= d["award_year"] + 3)].dropna(subset=["dropout"])
    x = d["rubric_score"] - d["cutoff"]
    fit = res.primary_fit("dropout").fit
    parts = {("analysis_sample", "below"): d[x < 0], ("analysis_sample", "above"): d[x >= 0],
             ("bandwidth", "below"): d[(x < 0) & (x >= -fit.h[0])],
             ("bandwidth", "above"): d[(x >= 0) & (x <= fit.h[1])]}
    cells = _cells(res, "dropout")
    assert set(cells) == set(parts)
    for key, part in parts.items():
        cell = cells[key]
        assert cell.n_students == len(part) and cell.n_clusters == part["consortium_id"].nunique()
        summaries = {v.variable: v for v in cell.variables}
        assert [v.variable for v in cell.variables] == ["dropout", "pathway", "female", "low_income",
                                                       "english_learner", "special_ed", "prior_achievement"]
        assert summaries["pathway"].role == "participation" and summaries["dropout"].role == "outcome"
        assert summaries["female"].role == "covariate, baseline covariate"
        assert summaries["prior_achievement"].role == "baseline covariate"
        for name, v in summaries.items():
            col = part[name].dropna().astype(float)
            assert v.n == len(col) and v.mean == pytest.approx(col.mean(), rel=1e-12)
            if name == "prior_achievement":
                assert v.kind == "continuous" and v.sd == pytest.approx(col.std(ddof=1), rel=1e-12)
            else:
                assert v.kind == "binary" and v.sd is None
    # the bandwidth cells are the students the fit describes
    assert (cells["bandwidth", "below"].n_students, cells["bandwidth", "above"].n_students) == fit.n_h
    # participation: the fuzzy design's take-up jumps at the cutoff
    rate = {side: next(v.mean for v in cells["bandwidth", side].variables if v.variable == "pathway")
            for side in ("below", "above")}
    assert rate["above"] - rate["below"] > 0.2


def test_published_record_and_table_agree(synth_fuzzy_fit):
    _, res = synth_fuzzy_fit
    shown = res.with_min_cell(10)
    record = shown.to_dict()["details"]["descriptives"]
    assert record["min_cell"] == 10 and "unweighted" in record["definition"]
    table = shown.tidy_descriptives()
    assert tuple(table.columns) == DESCRIPTIVE_COLUMNS
    assert len(record["cells"]) == 8 and len(table) == 8 * 7
    first = record["cells"][0]
    assert (first["outcome_sample"], first["window"], first["side"]) == ("dropout", "analysis_sample", "below")
    row = table.iloc[0]
    assert row["n_students"] == first["n_students"] and row["mean"] == first["variables"][0]["mean"]
    assert not table["suppressed"].any()


def _rare(simulate, n=2000, seed=1):
    d = simulate(n, seed=seed)
    rng = np.random.default_rng(0)
    d["rare"] = 0.0
    d.loc[rng.choice(d.index[d["x"] < 0], 4, replace=False), "rare"] = 1.0  # 4 students below the cutoff
    d["score"] = d["prior"]
    return d


def test_small_counts_are_suppressed_with_a_reason(simulate):
    d = _rare(simulate)
    res = RegressionDiscontinuity(d, "y", "x", 0.0, baseline_covariates=["rare", "score"]).fit()
    shown = res.with_min_cell(10)
    below = {v.variable: v for v in _cells(shown, "y")["analysis_sample", "below"].variables}
    assert below["rare"].suppressed == "fewer than 10 students with the value 1 or with the value 0"
    assert below["score"].suppressed is None and below["y"].suppressed is None
    above = {v.variable: v for v in _cells(shown, "y")["analysis_sample", "above"].variables}
    assert above["rare"].suppressed is not None  # all 0 above: no student with the value 1
    table = shown.tidy_descriptives()
    hidden = table[(table["variable"] == "rare")]
    assert hidden["mean"].isna().all() and hidden["n"].isna().all() and hidden["suppressed"].all()
    assert hidden["suppression"].str.contains("fewer than 10 students").all()
    cell = shown.to_dict()["details"]["descriptives"]["cells"][0]
    rare = next(v for v in cell["variables"] if v["variable"] == "rare")
    assert rare == {"variable": "rare", "role": "baseline covariate", "kind": "binary", "n": None, "mean": None,
                    "sd": None, "suppressed": True, "suppression": rare["suppression"]}
    # the unsuppressed results keep the numbers (only what is published changes)
    raw = {v.variable: v for v in _cells(res, "y")["analysis_sample", "below"].variables}
    assert raw["rare"].ones == 4 and raw["rare"].suppressed is None


def test_a_small_side_hides_both_sides_of_its_window(simulate):
    d = simulate(3000, seed=6)
    res = RegressionDiscontinuity(d, "y", "x", 0.0).fit(h=(0.3, 0.6))
    n_below = _cells(res, "y")["bandwidth", "below"].n_students
    shown = res.with_min_cell(n_below + 1)  # the below side of the bandwidth is now a small cell
    cells = _cells(shown, "y")
    assert cells["bandwidth", "below"].suppressed == f"fewer than {n_below + 1} students"
    assert "complementary suppression" in cells["bandwidth", "above"].suppressed
    record = [c for c in shown.to_dict()["details"]["descriptives"]["cells"] if c["window"] == "bandwidth"]
    assert all(c["n_students"] is None and c["suppressed"] for c in record)
    assert all(v["mean"] is None for c in record for v in c["variables"])
    assert cells["analysis_sample", "below"].suppressed is None


def test_a_few_students_outside_the_bandwidth_are_not_revealed_by_subtraction(simulate):
    d = simulate(3000, seed=8)
    x = d["x"].to_numpy()
    h = float(np.sort(-x[x < 0])[-5]) - 1e-9  # 5 students below the cutoff lie beyond h (x < -h)
    res = RegressionDiscontinuity(d, "y", "x", 0.0).fit(h=(h, 0.5))
    cells = _cells(res.with_min_cell(10), "y")
    assert cells["analysis_sample", "below"].n_students - cells["bandwidth", "below"].n_students == 5
    y_band = cells["bandwidth", "below"].variables[0]
    assert y_band.suppressed is not None and "outside the bandwidth are fewer than 10" in y_band.suppressed
    assert cells["analysis_sample", "below"].variables[0].suppressed is None
    assert cells["bandwidth", "above"].variables[0].suppressed is None


@pytest.mark.slow  # uses a whole verified study run
def test_the_run_writes_the_descriptives_table(verified_run):
    import json

    table = pd.read_csv(verified_run / "tables" / "descriptives.csv")
    results = json.loads((verified_run / "results.json").read_text(encoding="utf-8"))
    cells = results["design"]["details"]["descriptives"]["cells"]
    assert tuple(table.columns) == DESCRIPTIVE_COLUMNS
    assert len(table) == sum(len(c["variables"]) for c in cells)
    shown = [c for c in cells if not c["suppressed"]]
    assert shown and table["n_students"].iloc[0] == cells[0]["n_students"]
    donut = pd.read_csv(verified_run / "tables" / "check-dropout-donut.csv")
    requested = results["design"]["options"]["diagnostics"]["donut_shares"]
    assert donut["share_excluded"].tolist() == [0.0, *requested]

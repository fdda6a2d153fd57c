"""``cteimpact did``: unit and cluster identifiers read as text, small cohorts suppressed in the text summary and
the JSON object (``--min-cell``, ``--students``)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main

BASE_17 = 12345678901234560  # 17 digits: float64 keeps only every second integer here
SIZES = {0: 80, 2013: 60, 2014: 54, 2015: 6}


def run(capsys, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["did", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def panel(sizes: dict[int, int], *, seed: int = 3) -> pd.DataFrame:
    """A balanced panel 2010-2016 of units (one row per unit and year); effect 0.5 from the cohort's year on;
    ``k`` is the unit's number and ``cl`` its cluster (20 clusters)."""
    rng = np.random.default_rng(seed)
    rows = []
    k = 0
    for g, n in sizes.items():
        for _ in range(n):
            a = rng.normal()
            for t in range(2010, 2017):
                rows.append({"k": k, "cl": k % 20, "year": t, "first": g,
                             "y": a + 0.1 * (t - 2010) + (0.5 if g and t >= g else 0.0) + rng.normal(scale=0.5)})
            k += 1
    return pd.DataFrame(rows)


ARGS = ("--outcome", "y", "--unit", "unit", "--time", "year", "--cohort", "first", "--no-twfe")


@pytest.fixture(scope="module")
def small_cohort_csv(tmp_path_factory) -> tuple:
    d = panel(SIZES)
    d["unit"] = [f"S{k:07d}" for k in d["k"]]
    path = tmp_path_factory.mktemp("did-small") / "panel.csv"
    d.drop(columns=["k"]).to_csv(path, index=False)
    return path, d


def _cohort_numbers(capsys, path) -> list[str]:
    code, out, err = run(capsys, path, *ARGS, "--min-cell", "5", "--json")
    assert code == 0, err
    obj = json.loads(out)
    el = {e["group"]: e for e in obj["aggregates"]["group"]["elements"]}[2015.0]
    assert el["suppressed"] is False  # six students are enough at --min-cell 5
    cells = [r for r in obj["att_gt"] if r["group"] == 2015.0 and r["att"] is not None]
    return [repr(el["att"]), repr(el["se"])] + [repr(r["att"]) for r in cells]


def test_json_hides_a_six_student_cohort(capsys, small_cohort_csv):
    path, _ = small_cohort_csv
    secrets = _cohort_numbers(capsys, path)
    code, out, err = run(capsys, path, *ARGS, "--json")
    assert code == 0, err
    assert not [s for s in secrets if s in out]
    obj = json.loads(out)
    el = {e["group"]: e for e in obj["aggregates"]["group"]["elements"]}[2015.0]
    assert el["suppressed"] is True and el["att"] is None and el["se"] is None
    cells = [r for r in obj["att_gt"] if r["group"] == 2015.0]
    assert cells and all(r["suppressed"] and r["att"] is None and r["n_treated"] is None for r in cells)
    rows = {e["label"]: e for e in obj["estimates"]}
    assert rows["y[group=2015]"]["suppressed"] is True and "fewer than 10 students" in rows["y[group=2015]"][
        "suppression"]
    assert rows["y"]["suppressed"] is False and rows["y"]["estimate"] is not None
    assert "y[group=2015]" not in obj["results"]["sampling_distribution"]["labels"]
    assert obj["privacy"]["min_cell"] == 10 and obj["privacy"]["suppressed_estimates"] >= 3
    assert 2015.0 in obj["privacy"]["hidden_cohort_sizes"]


def test_text_summary_hides_it_and_says_so(capsys, small_cohort_csv):
    path, _ = small_cohort_csv
    secrets = _cohort_numbers(capsys, path)
    code, out, err = run(capsys, path, *ARGS)
    assert code == 0, err
    assert not [s[:8] for s in secrets if s[:8] in out]  # not even the 4-decimal rounding the summary prints
    rows = [line for line in out.splitlines() if line.startswith("y[group=2015]")]
    assert len(rows) == 1 and rows[0].count("‡") >= 4
    gt = [line.split() for line in out.splitlines() if line.strip().startswith("2015 ")]
    assert gt and all(parts[2:] == ["‡", "‡", "‡", "‡"] for parts in gt)
    notes = [line for line in out.splitlines() if line.startswith("Privacy:")]
    assert len(notes) == 1 and "were suppressed (‡)" in notes[0] and "fewer than 10 students" in notes[0]


def test_student_counts_of_aggregated_rows(tmp_path, capsys):
    """Units are districts: with --students the rule counts students, not rows."""
    d = panel({0: 30, 2012: 25, 2013: 20, 2014: 2})  # cohort 2014: two districts
    d["unit"] = [f"D{k:04d}" for k in d["k"]]
    d["n_students"] = np.where(d["first"] == 2014, 3, 40)  # 2 x 3 = 6 students in cohort 2014
    path = tmp_path / "districts.csv"
    d.to_csv(path, index=False)
    code, out, err = run(capsys, path, *ARGS, "--students", "n_students", "--json")
    assert code == 0, err
    el = {e["group"]: e for e in json.loads(out)["aggregates"]["group"]["elements"]}
    assert el[2014.0]["suppressed"] is True and "fewer than 10 students" in el[2014.0]["suppression"]
    assert el[2013.0]["suppressed"] is True  # the complement: the smallest other cohort (800 students)
    assert el[2012.0]["suppressed"] is False and el[2012.0]["att"] is not None
    d["n_students"] = np.where(d["first"] == 2014, 30, 40)  # 60 students: shown
    d.to_csv(path, index=False)
    code, out, err = run(capsys, path, *ARGS, "--students", "n_students", "--json")
    assert code == 0, err
    el = {e["group"]: e for e in json.loads(out)["aggregates"]["group"]["elements"]}
    assert el[2014.0]["suppressed"] is False and el[2014.0]["att"] is not None
    assert json.loads(out)["options"]["students"] == "n_students"


def test_seventeen_digit_unit_and_cluster_ids_stay_distinct(tmp_path, capsys):
    d = panel({0: 40, 2013: 40, 2015: 40})
    long_ids = d.assign(unit=[str(BASE_17 + k) for k in d["k"]], cl=[str(BASE_17 + c) for c in d["cl"]])
    short_ids = d.assign(unit=[f"u{k}" for k in d["k"]], cl=[f"c{c}" for c in d["cl"]])
    objs = {}
    for name, frame in (("long", long_ids), ("short", short_ids)):
        path = tmp_path / f"{name}.csv"
        frame.drop(columns=["k"]).to_csv(path, index=False)
        code, out, err = run(capsys, path, *ARGS, "--cluster", "cl", "--json")
        assert code == 0, err
        objs[name] = json.loads(out)
    long_, short = objs["long"], objs["short"]
    assert long_["results"]["details"]["n_units"] == 120 and long_["results"]["details"]["n_clusters"] == 20
    assert long_["aggregates"]["simple"]["se"] == pytest.approx(short["aggregates"]["simple"]["se"], rel=1e-12)
    assert long_["aggregates"]["simple"]["att"] == pytest.approx(short["aggregates"]["simple"]["att"], rel=1e-12)


def test_leading_zeros_keep_units_apart(tmp_path, capsys):
    d = panel({0: 40, 2013: 40})
    # units 0-39 are '1'..'40', units 40-79 are '01'..'040': as numbers they would collide
    d["unit"] = [str(k % 40 + 1) if k < 40 else "0" + str(k % 40 + 1) for k in d["k"]]
    path = tmp_path / "zeros.csv"
    d.drop(columns=["k"]).to_csv(path, index=False)
    code, out, err = run(capsys, path, *ARGS, "--json")
    assert code == 0, err
    assert json.loads(out)["results"]["details"]["n_units"] == 80

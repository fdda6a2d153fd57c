"""``cteimpact rd``: identifier columns read as text, no identifier in an error message, small cells suppressed in
the text summary and the JSON object (``--min-cell``)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main

BASE_17 = 12345678901234560  # 17 digits: float64 keeps only every second integer here


def run(capsys, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["rd", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _clustered(simulate) -> pd.DataFrame:
    """A sharp RD with 40 clusters (school-like: a random effect per cluster, scores vary within clusters)."""
    d = simulate(2400, seed=5)
    rng = np.random.default_rng(8)
    d["g"] = rng.integers(0, 40, len(d))
    d["y"] = d["y"] + rng.normal(scale=0.3, size=40)[d["g"]]
    assert d["g"].nunique() == 40
    return d


def test_seventeen_digit_cluster_ids_keep_every_cluster(tmp_path, capsys, simulate):
    d = _clustered(simulate)
    long_ids = d.assign(cl=[str(BASE_17 + int(k)) for k in d["g"]])
    short_ids = d.assign(cl=[f"c{int(k)}" for k in d["g"]])
    assert pd.Series(long_ids["cl"].astype(float)).nunique() < 40  # what reading them as numbers would do
    results = {}
    for name, frame in (("long", long_ids), ("short", short_ids)):
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        code, out, err = run(capsys, path, "--outcome", "y", "--running", "x", "--cutoff", "0", "--cluster", "cl",
                             "--json")
        assert code == 0, err
        results[name] = json.loads(out)
    long_fit = results["long"]["results"]["details"]["fits"][0]["fit"]
    assert long_fit["n_clusters"] == 40
    assert results["long"]["clusters"] == results["short"]["clusters"]
    assert results["long"]["se_robust"] == pytest.approx(results["short"]["se_robust"], rel=1e-12)
    assert results["long"]["estimate"] == pytest.approx(results["short"]["estimate"], rel=1e-12)


def test_leading_zeros_keep_clusters_apart(tmp_path, capsys, simulate):
    d = _clustered(simulate)
    # clusters 0-19 are '1'..'20', clusters 20-39 are '01'..'020': as numbers they would merge pairwise
    d["cl"] = [str(k % 20 + 1) if k < 20 else "0" + str(k % 20 + 1) for k in d["g"]]
    path = tmp_path / "zeros.csv"
    d.to_csv(path, index=False)
    code, out, err = run(capsys, path, "--outcome", "y", "--running", "x", "--cutoff", "0", "--cluster", "cl",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["results"]["details"]["fits"][0]["fit"]["n_clusters"] == 40


def test_running_variable_of_student_ids_names_the_column_not_the_ids(tmp_path, capsys, simulate):
    d = simulate(300, seed=2)
    d["student_id"] = [f"S{i:07d}" for i in range(len(d))]
    path = tmp_path / "students.csv"
    d.to_csv(path, index=False)
    code, out, err = run(capsys, path, "--outcome", "y", "--running", "student_id", "--cutoff", "0")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    msg = lines[0]
    assert "'student_id'" in msg and "300 of 300 non-missing values are not numbers" in msg
    assert "not quoted" in msg
    assert not any(sid in msg for sid in d["student_id"]), msg
    assert "S000" not in msg


def test_integer_ids_as_running_variable_are_not_quoted(tmp_path, capsys, simulate):
    d = simulate(300, seed=2)
    d["student_id"] = np.arange(1000123, 1000423)
    path = tmp_path / "students.csv"
    d.to_csv(path, index=False)
    code, out, err = run(capsys, path, "--outcome", "y", "--running", "student_id", "--cutoff", "0")
    assert code == 2 and out == ""
    msg = _one = err.strip()
    assert len(_one.splitlines()) == 1
    assert "cutoff 0 is outside the range of the running variable 'student_id': all 300 values are above it" in msg
    assert "1000123" not in msg and "1000422" not in msg and "1,000,123" not in msg


@pytest.fixture(scope="module")
def rare_csv(tmp_path_factory, simulate):
    """A sharp RD with a subgroup of 3 students below and 8 above the cutoff, all within |x| < 0.3."""
    d = simulate(3000, seed=9)
    d["rare"] = 0
    near = d["x"].abs() < 0.3
    below = d.index[near & (d["x"] < 0)][:3]
    above = d.index[near & (d["x"] >= 0)][:8]
    d.loc[below.union(above), "rare"] = 1
    path = tmp_path_factory.mktemp("rare") / "rare.csv"
    d.to_csv(path, index=False)
    return path


RARE_ARGS = ("--outcome", "y", "--running", "x", "--cutoff", "0", "--subgroups", "rare,female", "--h", "0.3",
             "--p", "0", "--q", "1")


def _rare_numbers(capsys, rare_csv) -> list[str]:
    code, out, err = run(capsys, rare_csv, *RARE_ARGS, "--min-cell", "3", "--json")
    assert code == 0, err
    obj = json.loads(out)
    sub = {s["label"]: s for s in obj["subgroups"]}["y[rare=1]"]
    assert sub["suppressed"] is False and sub["n_effective"] == [3, 8]  # shown at --min-cell 3
    return [repr(sub[k]) for k in ("estimate", "estimate_bc", "se", "se_robust")]


def test_json_hides_a_subgroup_of_three_and_eight_students(capsys, rare_csv):
    secrets = _rare_numbers(capsys, rare_csv)
    code, out, err = run(capsys, rare_csv, *RARE_ARGS, "--json")
    assert code == 0, err
    assert not [s for s in secrets if s in out]
    obj = json.loads(out)
    subs = {s["label"]: s for s in obj["subgroups"]}
    for label in ("y[rare=1]", "y[rare=0]"):
        assert subs[label]["suppressed"] is True
        assert all(subs[label][k] is None for k in ("estimate", "se_robust", "ci_robust", "n", "n_effective", "h"))
    assert "fewer than 10 students" in subs["y[rare=1]"]["suppression"]
    assert subs["y[female=0]"]["suppressed"] is False and subs["y[female=0]"]["estimate"] is not None
    diffs = {c["label"]: c for c in obj["subgroup_differences"]}
    assert diffs["y[rare=1 vs rare=0]"]["suppressed"] is True and diffs["y[rare=1 vs rare=0]"]["difference"] is None
    assert obj["privacy"]["min_cell"] == 10 and obj["privacy"]["suppressed_estimates"] == 3
    assert obj["estimate"] is not None and obj["suppressed"] is False  # the full-sample estimate is shown


def test_text_summary_hides_them_and_says_so_in_one_line(capsys, rare_csv):
    secrets = _rare_numbers(capsys, rare_csv)
    code, out, err = run(capsys, rare_csv, *RARE_ARGS)
    assert code == 0, err
    assert not [s for s in secrets if s in out]
    rows = [line for line in out.splitlines() if line.startswith("y[rare=1]")]
    assert rows and all("‡" in line for line in rows)
    notes = [line for line in out.splitlines() if line.startswith("Privacy:")]
    assert notes == ["Privacy: 3 estimates were suppressed (‡): each describes fewer than 10 students, or would "
                     "reveal one that does by subtraction from a total; their numbers are not shown"]


def test_a_suppressed_primary_estimate_is_not_plotted(tmp_path, capsys, rare_csv):
    code, out, err = run(capsys, rare_csv, *RARE_ARGS, "--min-cell", "100000", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["suppressed"] is True and obj["estimate"] is None and obj["results"]["sampling_distribution"][
        "labels"] == []
    plot = tmp_path / "rd.png"
    code, out, err = run(capsys, rare_csv, *RARE_ARGS, "--min-cell", "100000", "--plot", plot)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "the estimate is suppressed" in err
    assert not plot.exists()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_min_cell_must_be_positive(capsys, rare_csv, value):
    code, out, err = run(capsys, rare_csv, *RARE_ARGS, "--min-cell", value)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "min_cell must be a whole number of at least 1" in err


def test_parquet_int64_cluster_ids_are_exact(tmp_path, capsys, simulate):
    d = _clustered(simulate)
    d["cl"] = np.int64(BASE_17) + d["g"].astype(np.int64)
    path = tmp_path / "ids.parquet"
    d.to_parquet(path)
    code, out, err = run(capsys, path, "--outcome", "y", "--running", "x", "--cutoff", "0", "--cluster", "cl",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["results"]["details"]["fits"][0]["fit"]["n_clusters"] == 40


def test_parquet_float_cluster_ids_beyond_exact_range_are_an_error(tmp_path, capsys, simulate):
    d = _clustered(simulate)
    d["cl"] = (BASE_17 + d["g"].astype(np.int64)).astype(float)
    path = tmp_path / "ids.parquet"
    d.to_parquet(path)
    code, out, err = run(capsys, path, "--outcome", "y", "--running", "x", "--cutoff", "0", "--cluster", "cl")
    assert code == 2 and out == ""
    msg = err.strip()
    assert len(msg.splitlines()) == 1
    assert "identifier column 'cl'" in msg and "2,400 values of 2**53 or more" in msg and str(BASE_17)[:8] not in msg

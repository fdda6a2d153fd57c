"""``cteimpact rd DATA.duckdb --window-pull`` and the automatic choice of ``cteimpact rd`` above ``--max-rows-pulled``.

The window pull fits on the rows within ``max(h, b)`` of the cutoff on each side, with the whole sample's counts from
the engine. Its JSON object equals the full pull's (``--pull``, the in-memory estimator on every row) leaf by leaf,
but ``results`` (null: the full results record needs every row) and ``engine`` (the window's record): the sample
flow, the counts, the notes and the privacy record exactly, every number within 1e-10 of the full pull's, relative to
the number itself (the fits see the same rows with a positive weight, summed in another order: the largest relative
difference measured is 3e-11, in p-values below 1e-16, whose relative error magnifies the z statistic's; estimates,
standard errors and intervals differ by about 1e-12 relative at most). A spy on :meth:`TableSource.pull` checks that
the rows pulled are exactly those within the window, counted independently in pandas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from study_helpers import compare_json, one_line_error, run_cli

from cteimpact.backends.source import TableSource

SYNTH_WHERE = ["cohort >= award_year", "cohort <= award_year + 3"]
"""analyses/ccpt-dropout-rd.toml's sample restrictions."""

STUDY = ["--outcome", "dropout", "--running", "rubric_score", "--cutoff-column", "cutoff", "--where", SYNTH_WHERE[0],
         "--where", SYNTH_WHERE[1]]
"""The study's sharp reduced form on dropout (rows: 9,673 of 10,114 after the restrictions; 201 score values)."""

CLUSTER = ["--cluster", "consortium_id", "--vce", "cr3"]

WINDOW_ONLY = (".results", ".engine")
"""Keys that differ by design: the full results record needs every row; ``engine`` is the window's record."""

RTOL = 1e-10

GEN_CUTOFF = 0.25


@pytest.fixture
def pulled_rows(monkeypatch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """Every frame :meth:`TableSource.pull` returns, in call order."""
    frames: list[pd.DataFrame] = []
    real = TableSource.pull

    def spy(self: TableSource, *args: Any, **kwargs: Any) -> pd.DataFrame:
        frame = real(self, *args, **kwargs)
        frames.append(frame)
        return frame

    monkeypatch.setattr(TableSource, "pull", spy)
    return frames


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """20,000 rows with a continuous score (a fifth of them on a grid of 0.01, so that rows lie exactly at the
    window's edges), a fixed cutoff of 0.25, a take-up, 150 clusters and a few missing values, in a DuckDB file."""
    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.uniform(-1.0, 1.5, n)
    grid = rng.random(n) < 0.2
    x[grid] = np.round(x[grid], 2)
    g = rng.integers(0, 150, n)
    above = x >= GEN_CUTOFF
    t = (rng.random(n) < 0.15 + 0.6 * above + 0.1 * (x - GEN_CUTOFF)).astype(float)
    y = 1.0 + 0.5 * x - 0.3 * x**2 + 0.4 * above + 0.7 * t + rng.normal(0, 0.4, 150)[g] + rng.normal(0, 1, n)
    y[rng.choice(n, 60, replace=False)] = np.nan
    x[rng.choice(n, 15, replace=False)] = np.nan
    frame = pd.DataFrame({"x": x, "y": y, "t": t, "g": "k" + pd.Series(g).astype(str).str.zfill(3),
                          "year": rng.integers(2015, 2021, n)})
    # columns the refusals read: a constant outcome, a take-up that never changes, an outcome missing at or above
    # the cutoff, an outcome too large to square
    frame["const"] = 1.0
    frame["t0"] = 0.0
    frame["y_half"] = np.where(x >= GEN_CUTOFF, np.nan, y)
    frame["big"] = y * 1e200
    path = tmp_path_factory.mktemp("rdwindow") / "continuous.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.register("frame", frame)
        con.execute("CREATE TABLE rows AS SELECT * FROM frame")
    finally:
        con.close()
    return frame, path


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    return dict(json.loads(out))


def _in_window(x: pd.Series, cutoff: float, left: float, right: float) -> pd.Series:
    """The window's rows, computed as rdrobust weighs them: below the cutoff within ``left``, at or above within
    ``right`` (bounds included)."""
    return ((x < cutoff) & ((cutoff - x) <= left)) | ((x >= cutoff) & ((x - cutoff) <= right))


def _study_frame(synth_data: Path) -> pd.DataFrame:
    frame = pd.read_parquet(synth_data / "students.parquet")
    return frame[(frame["cohort"] >= frame["award_year"]) & (frame["cohort"] <= frame["award_year"] + 3)]


def _window_equals_pull(args: list[str], capsys: pytest.CaptureFixture[str], pulled_rows: list[pd.DataFrame],
                        expected_rows: int) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Run the window pull and the full pull; check the rows the window pull pulled, and the objects' equality."""
    window = _json([*args, "--window-pull"], capsys)
    assert len(pulled_rows) == 1 and len(pulled_rows[0]) == expected_rows
    full = _json([*args, "--pull"], capsys)
    assert len(pulled_rows) == 2 and len(pulled_rows[1]) > expected_rows
    compared = compare_json(full, window, skip=WINDOW_ONLY, rtol=RTOL, floor=0.0, nan_equal=False)
    assert window["notes"] == full["notes"] and window["sample_flow"] == full["sample_flow"]
    assert window["privacy"] == full["privacy"]
    assert window["results"] is None and full["results"] is not None and "engine" not in full
    e = window["engine"]
    assert (e["mode"], e["computed_in_engine"], e["rows_pulled"], e["automatic"]) == ("window", False,
                                                                                    expected_rows, False)
    return window, full, compared


@pytest.mark.parametrize(("extra", "left", "right"), [
    (["--h", "6", "--b", "9"], 9.0, 9.0),
    (["--h", "6"], 6.0, 6.0),
    (["--h", "5,7", "--b", "8,6"], 8.0, 7.0),
    (["--h", "4", "--rho", "0.5", "--kernel", "uniform"], 8.0, 8.0),
    (["--h", "6", "--masspoints", "check", "--outcome", "graduated"], 6.0, 6.0),
    (["--h", "6", "--donut", "0.5"], 6.0, 6.0),
])
@pytest.mark.parametrize("design", [[], ["--fuzzy", "pathway"]], ids=["sharp", "fuzzy"])
@pytest.mark.parametrize("clustered", [True, False], ids=["cluster", "no-cluster"])
def test_study_window_equals_full_pull(duck: dict[str, Path], synth_data: Path, capsys: pytest.CaptureFixture[str],
                                       pulled_rows: list[pd.DataFrame], extra: list[str], left: float, right: float,
                                       design: list[str], clustered: bool) -> None:
    """The shipped RD study's data (two cutoffs, so the cutoff-specific fits and their equality test too)."""
    frame = _study_frame(synth_data)
    x = frame["rubric_score"] - frame["cutoff"]
    inside = _in_window(x, 0.0, left, right)
    if "--donut" in extra:
        inside &= x.abs() >= 0.5
    args = ["rd", str(duck["students"]), *STUDY, *(CLUSTER if clustered else []), *design, *extra, "--json"]
    window, full, compared = _window_equals_pull(args, capsys, pulled_rows, int(inside.sum()))
    assert compared >= (170 if design else 100)
    assert window["engine"]["window"]["bounds"] == [-left, right]
    assert len(window["cutoffs"]) == 2 and len(window["cutoff_equality"]) == 1
    # the whole sample's rows on each side, not the window's
    assert window["n"] == full["n"] and sum(window["n"]) == full["sample_flow"]["rows_used"]
    assert sum(window["n"]) > int(inside.sum())


@pytest.mark.parametrize("extra", [
    ["--h", "0.2", "--b", "0.3"],
    ["--h", "0.15,0.25"],
    ["--h", "0.2", "--kernel", "uniform"],
    ["--h", "0.3", "--kernel", "epanechnikov", "--p", "2"],
    ["--h", "0.2", "--where", "year >= 2017"],
])
@pytest.mark.parametrize("design", [[], ["--fuzzy", "t"]], ids=["sharp", "fuzzy"])
@pytest.mark.parametrize("clustered", [True, False], ids=["cluster", "no-cluster"])
def test_continuous_window_equals_full_pull(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str],
                                            pulled_rows: list[pd.DataFrame], extra: list[str], design: list[str],
                                            clustered: bool) -> None:
    """A continuous score about a fixed cutoff of 0.25 (rows exactly at the window's edges included)."""
    frame, path = generated
    h = [float(v) for v in extra[1].split(",")]
    left, right = (h[0], h[-1])
    if "--b" in extra:
        left = right = max(h[0], float(extra[extra.index("--b") + 1]))
    rows = frame[frame["year"] >= 2017] if "--where" in extra else frame
    inside = _in_window(rows["x"], GEN_CUTOFF, left, right)
    assert (_in_window(rows["x"], GEN_CUTOFF, left, right) != _in_window(rows["x"], GEN_CUTOFF, left - 1e-9,
                                                                        right - 1e-9)).sum() > 0
    args = ["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", str(GEN_CUTOFF),
            *(["--cluster", "g"] if clustered else []), *design, *extra, "--json"]
    window, full, compared = _window_equals_pull(args, capsys, pulled_rows, int(inside.sum()))
    assert compared >= (60 if design else 30)
    lo, hi = window["engine"]["window"]["bounds"]
    assert (lo, hi) == (GEN_CUTOFF - left, GEN_CUTOFF + right)
    got = pd.to_numeric(pulled_rows[0]["x"])
    assert bool(_in_window(got, GEN_CUTOFF, left, right).all())
    assert window["clusters"] == full["clusters"] and (window["clusters"] is None) is (not clustered)


# -- the automatic choice ------------------------------------------------------------------------------------------


def test_auto_within_the_limit_pulls_as_before(duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                               pulled_rows: list[pd.DataFrame]) -> None:
    """A study sample within --max-rows-pulled: the rows are pulled and the object is the --pull object."""
    args = ["rd", str(duck["students"]), *STUDY, *CLUSTER, "--h", "6", "--json"]
    auto = _json([*args, "--max-rows-pulled", "10114"], capsys)
    explicit = _json([*args, "--pull"], capsys)
    assert auto == explicit and "engine" not in auto
    assert [len(f) for f in pulled_rows] == [10114, 10114]


def test_auto_discrete_score_above_the_limit_runs_in_the_engine(duck: dict[str, Path],
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 pulled_rows: list[pd.DataFrame]) -> None:
    args = ["rd", str(duck["students"]), *STUDY, *CLUSTER, "--json"]
    auto = _json([*args, "--max-rows-pulled", "10113"], capsys)
    assert pulled_rows == []
    engine = _json([*args, "--in-engine"], capsys)
    e = auto["engine"]
    assert e["mode"] == "automatic" and e["computed_in_engine"] is True
    assert e["note"] == ("computed in the engine from score cells: the study sample of table 'students' has 10,114 "
                         "rows, more than the 10,113 that may be pulled (--max-rows-pulled); --pull to refuse, "
                         "--in-engine to choose it always")
    assert auto["notes"] == [*engine["notes"], e["note"]]
    compare_json(engine, auto, skip=(".engine", ".notes"), rtol=0.0)


def test_auto_window_when_the_engine_cannot(duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                            pulled_rows: list[pd.DataFrame], synth_data: Path) -> None:
    """A discrete score with --masspoints off (not computed from score cells) and given bandwidths above the limit:
    the window pull."""
    args = ["rd", str(duck["students"]), *STUDY, *CLUSTER, "--h", "3", "--masspoints", "off", "--json"]
    auto = _json([*args, "--max-rows-pulled", "5000"], capsys)
    x = _study_frame(synth_data).eval("rubric_score - cutoff")
    inside = int(_in_window(x, 0.0, 3.0, 3.0).sum())
    assert inside < 5000 and [len(f) for f in pulled_rows] == [inside]
    e = auto["engine"]
    assert (e["mode"], e["automatic"], e["rows_pulled"]) == ("window", True, inside)
    assert e["note"] == (f"pulled only the {inside:,} rows within the bandwidths (-3 <= rubric_score - cutoff <= 3): "
                         "the study sample of table 'students' has 10,114 rows, more than the 5,000 that may be "
                         "pulled (--max-rows-pulled); --pull to refuse, --window-pull to choose it always")
    full = _json([*args, "--pull"], capsys)
    compare_json(full, auto, skip=(*WINDOW_ONLY, ".notes"), rtol=RTOL, floor=0.0, nan_equal=False)
    assert auto["notes"] == [*full["notes"], e["note"]]


def test_auto_continuous_score_with_given_bandwidths(generated: tuple[pd.DataFrame, Path],
                                                     capsys: pytest.CaptureFixture[str],
                                                     pulled_rows: list[pd.DataFrame]) -> None:
    frame, path = generated
    auto = _json(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--h", "0.2", "--json",
                  "--max-rows-pulled", "4000"], capsys)
    inside = int(_in_window(frame["x"], GEN_CUTOFF, 0.2, 0.2).sum())
    assert auto["engine"]["mode"] == "window" and auto["engine"]["rows_pulled"] == inside
    assert [len(f) for f in pulled_rows] == [inside]


# -- refusals: one line, exit code 2 ---------------------------------------------------------------------------------


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, _, err = run_cli(args, capsys)
    return one_line_error(code, err)


def test_auto_window_larger_than_the_limit(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str],
                                           pulled_rows: list[pd.DataFrame]) -> None:
    frame, path = generated
    inside = int(_in_window(frame["x"], GEN_CUTOFF, 0.5, 0.5).sum())
    line = _error(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--h", "0.5",
                   "--max-rows-pulled", "3000"], capsys)
    assert line == ("cteimpact: error: the study sample of table 'rows' has 20,000 rows, more than the 3,000 that may "
                    f"be pulled (--max-rows-pulled), and the {inside:,} rows within the bandwidths (-0.25 <= x <= "
                    "0.75) are more too: give a smaller --h (and --b), restrict the sample, or raise "
                    "--max-rows-pulled if this machine has the memory")
    assert pulled_rows == []


def test_explicit_window_larger_than_the_limit(generated: tuple[pd.DataFrame, Path],
                                               capsys: pytest.CaptureFixture[str],
                                               pulled_rows: list[pd.DataFrame]) -> None:
    frame, path = generated
    inside = int(_in_window(frame["x"], GEN_CUTOFF, 0.5, 0.5).sum())
    line = _error(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--h", "0.5",
                   "--max-rows-pulled", "3000", "--window-pull"], capsys)
    assert f"pulling {inside:,} rows of table 'rows' (duckdb)" in line
    assert "exceeds the limit of 3,000 rows: regression discontinuity: the rows within the bandwidths" in line
    assert pulled_rows == []


def test_auto_continuous_score_with_a_selected_bandwidth(generated: tuple[pd.DataFrame, Path],
                                                        capsys: pytest.CaptureFixture[str],
                                                        pulled_rows: list[pd.DataFrame]) -> None:
    frame, path = generated
    distinct = frame["x"].nunique()
    line = _error(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--max-rows-pulled",
                   "3000"], capsys)
    assert line.startswith("cteimpact: error: the study sample of table 'rows' has 20,000 rows, more than the 3,000 "
                           f"that may be pulled (--max-rows-pulled); the running variable has {distinct:,} distinct "
                           "values, more than the 10,000 the in-engine score cells accept, and a bandwidth selected "
                           "from the data reads each side's whole range")
    assert line.endswith("give --h (and --b) to pull only the rows within them, restrict the sample, or raise "
                         "--max-rows-pulled if this machine has the memory")
    assert pulled_rows == []


@pytest.mark.parametrize(("extra", "option"), [
    (["--diagnostics"], "--diagnostics"), (["--covariates", "year"], "--covariates"),
    (["--weights", "year"], "--weights"), (["--subgroups", "year"], "--subgroups"), (["--mde"], "--mde"),
])
def test_auto_option_that_needs_every_row(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str],
                                          pulled_rows: list[pd.DataFrame], extra: list[str], option: str) -> None:
    _, path = generated
    line = _error(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--h", "0.2",
                   "--max-rows-pulled", "3000", *extra], capsys)
    assert line.startswith("cteimpact: error: the study sample of table 'rows' has 20,000 rows, more than the 3,000 "
                           f"that may be pulled (--max-rows-pulled), and option {option} needs every row (")
    assert pulled_rows == []


@pytest.mark.parametrize(("extra", "expected"), [
    (["--h", "0.2", "--diagnostics"], "option --diagnostics reads rows outside the bandwidths"),
    (["--h", "0.2", "--honest"], "option --honest reads rows outside the bandwidths"),
    ([], "option --bwselect mserd (no --h) reads rows outside the bandwidths (a bandwidth selected from the data"),
    (["--h", "0.2", "--in-engine"], "give one of --window-pull, --in-engine and --pull"),
])
def test_explicit_window_refusals(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str],
                                  pulled_rows: list[pd.DataFrame], extra: list[str], expected: str) -> None:
    _, path = generated
    line = _error(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--window-pull", *extra],
                  capsys)
    assert expected in line
    assert pulled_rows == []


def test_window_needs_a_database(synth_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["rd", str(synth_data / "students.parquet"), *STUDY, "--h", "6", "--window-pull"], capsys)
    assert "--window-pull" in line and "apply to a DuckDB database" in line


def test_window_names_a_missing_column(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str],
                                       pulled_rows: list[pd.DataFrame]) -> None:
    _, path = generated
    line = _error(["rd", str(path), "--outcome", "yy", "--running", "x", "--cutoff", "0.25", "--h", "0.2",
                   "--window-pull"], capsys)
    assert "'yy'" in line and "duckdb" in line and "'rows'" in line
    assert pulled_rows == []


def test_window_text_summary(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str]) -> None:
    frame, path = generated
    inside = int(_in_window(frame["x"], GEN_CUTOFF, 0.2, 0.2).sum())
    code, out, err = run_cli(["rd", str(path), "--outcome", "y", "--running", "x", "--cutoff", "0.25", "--h", "0.2",
                              "--window-pull"], capsys)
    assert code == 0, err
    assert (f"Window pull (duckdb, table 'rows'): {inside:,} rows pulled, those with the running variable from 0.05 "
            "to 0.45") in out
    assert out.rstrip().splitlines()[-1].startswith("Privacy: ")


def test_study_window_few_clusters_note(duck: dict[str, Path], synth_data: Path, capsys: pytest.CaptureFixture[str],
                                        pulled_rows: list[pd.DataFrame]) -> None:
    """cr1 with few consortia within the bandwidth: the in-memory path's note on few clusters, the same."""
    x = _study_frame(synth_data).eval("rubric_score - cutoff")
    args = ["rd", str(duck["students"]), *STUDY, "--cluster", "consortium_id", "--vce", "cr1", "--h", "6", "--json"]
    window, _, _ = _window_equals_pull(args, capsys, pulled_rows, int(_in_window(x, 0.0, 6.0, 6.0).sum()))
    assert any("clusters within the bandwidth below / above the cutoff; cr1" in n for n in window["notes"])


@pytest.mark.parametrize(("extra", "expected"), [
    (["--outcome", "y", "--cutoff", "5"], "the cutoff 5 is outside the range of the running variable 'x'"),
    (["--outcome", "y", "--cutoff", "0.25", "--fuzzy", "t0"], "treatment 't0' never changes"),
    (["--outcome", "const", "--cutoff", "0.25"], "outcome 'const' is constant on both sides of the cutoff"),
    (["--outcome", "y_half", "--cutoff", "0.25"], "outcome 'y_half' has no non-missing value at or above the cutoff"),
    (["--outcome", "big", "--cutoff", "0.25"], "outcome 'big' has values up to"),
    (["--outcome", "y", "--cutoff", "0.25", "--cluster", "g", "--where", "year >= 2030"], "no row"),
    (["--outcome", "y", "--cutoff", "0.25", "--h", "0.0005"], "too few observations (distinct values of the running "
     "variable) near the cutoff"),
    (["--outcome", "y", "--cutoff", "0.25", "--h", "0.0005", "--p", "0"], "too few observations (distinct values of "
     "the running variable) near the cutoff"),
])
def test_window_refuses_as_the_full_pull(generated: tuple[pd.DataFrame, Path], capsys: pytest.CaptureFixture[str],
                                         pulled_rows: list[pd.DataFrame], extra: list[str], expected: str) -> None:
    """The in-memory path's refusals of the design and of each outcome, checked on the engine's counts of the whole
    sample before any row is pulled, and rdrobust's of a bandwidth with too few distinct scores (its check of the
    whole sample's, then of the window's): the same line as the full pull's."""
    _, path = generated
    args = ["rd", str(path), "--running", "x", "--h", "0.2", *extra]
    window = _error([*args, "--window-pull"], capsys)
    assert (pulled_rows == []) is ("0.0005" not in extra)
    full = _error([*args, "--pull"], capsys)
    assert expected in window
    if "--where" not in extra:  # no row left: the engine says so before the pull, in its own words
        assert window == full


def test_auto_discrete_score_with_an_engine_option_and_no_bandwidth(duck: dict[str, Path],
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    pulled_rows: list[pd.DataFrame]) -> None:
    """A discrete score above the limit with an option the engine does not compute and a selected bandwidth."""
    line = _error(["rd", str(duck["students"]), *STUDY, *CLUSTER, "--masspoints", "off", "--max-rows-pulled",
                   "5000"], capsys)
    assert line == ("cteimpact: error: the study sample of table 'students' has 10,114 rows, more than the 5,000 that "
                    "may be pulled (--max-rows-pulled), and option --masspoints off needs the rows (only "
                    "masspoints=adjust (rdrobust's default) is computed in the engine): leave it out to compute in "
                    "the engine from score cells, give --h (and --b) to pull only the rows within them, or raise "
                    "--max-rows-pulled if this machine has the memory")
    assert pulled_rows == []

"""Sharp RD score cells computed by the engine (cteimpact.rd.sufficient.query): equal to the pandas-grouped cells and,
through them, to rdrobust on the raw rows; the sample flow counted in the engine; no row pulled.

Tolerances: the engine's cell counts equal pandas' exactly, its sums to 1e-13 relative and its within-cell sums of
squares (``n · VAR_POP``) to 1e-12 relative or 1e-12 absolute; the fits from the two sets of cells to 1e-10 relative
(summation order only); against rdrobust as in tests/rd/test_rd_sufficient.py (1e-10 at given bandwidths, 1e-8 with
the bandwidth selected, for the reason given there).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from rd_cells_helpers import RTOL_GIVEN, RTOL_SELECTED, assert_same, make_data, reference

from cteimpact.backends.source import TableSource, source_for_path
from cteimpact.errors import DataValidationError, SmallSampleWarning
from cteimpact.rd.sufficient import cells_from_frame, fit_cells
from cteimpact.rd.sufficient.errors import TooManyScoreValuesError
from cteimpact.rd.sufficient.localfit import Vce
from cteimpact.rd.sufficient.query import score_cells_query

SYNTH_WHERE = ["cohort >= award_year", "cohort <= award_year + 3"]
"""analyses/ccpt-dropout-rd.toml's sample restrictions."""


@pytest.fixture(autouse=True)
def no_pull(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here must run without pulling a row."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    monkeypatch.setattr(TableSource, "pull", refuse)


def _to_duckdb(path: Path, frame: pd.DataFrame) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.register("frame", frame)
        con.execute("CREATE TABLE rows AS SELECT * FROM frame")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """Generated rows with a few missing values and a restriction column, in a DuckDB file."""
    df = make_data(1).copy()
    rng = np.random.default_rng(9)
    df["year"] = rng.integers(2015, 2021, len(df))
    df["t"] = (rng.random(len(df)) < 0.2 + 0.5 * (df["x"] >= 0)).astype(float)
    df["g"] = "c" + df["g"].astype(str).str.zfill(3)
    y = df["y"].to_numpy(copy=True)
    y[rng.choice(len(df), 37, replace=False)] = np.nan
    df["y"] = y
    x = df["x"].to_numpy(copy=True)
    x[rng.choice(len(df), 11, replace=False)] = np.nan
    df["x"] = x
    g = df["g"].to_numpy(dtype=object, copy=True)
    g[rng.choice(len(df), 5, replace=False)] = None
    df["g"] = g
    return df, _to_duckdb(tmp_path_factory.mktemp("rdcells") / "rows.duckdb", df)


def _kept(df: pd.DataFrame) -> pd.DataFrame:
    keep = (df["year"] >= 2016) & df["x"].notna() & df["g"].notna() & df["y"].notna()
    return df[keep]


def assert_same_cells(engine: Any, frame: Any) -> None:
    if frame.sum_t is not None:
        np.testing.assert_allclose(engine.sum_t, frame.sum_t, rtol=1e-13)
        np.testing.assert_allclose(engine.m2_t, frame.m2_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(engine.m2_yt, frame.m2_yt, rtol=1e-12, atol=1e-12)
    else:
        assert engine.sum_t is None
    np.testing.assert_array_equal(engine.score, frame.score)
    np.testing.assert_array_equal(engine.n, frame.n)
    if frame.cluster is None:
        assert engine.cluster is None
    else:
        np.testing.assert_array_equal(engine.cluster, frame.cluster)
    np.testing.assert_allclose(engine.sum_y, frame.sum_y, rtol=1e-13)
    np.testing.assert_allclose(engine.m2_y, frame.m2_y, rtol=1e-12, atol=1e-12)


def test_engine_cells_equal_pandas_and_rdrobust(generated: tuple[pd.DataFrame, Path]) -> None:
    df, path = generated
    out = score_cells_query(source_for_path(path), score="x", outcome="y", cluster="g", where=["year >= 2016"],
                            missing_cluster="drop")
    kept = _kept(df)
    steps = [(s.reason, s.excluded) for s in out.flow.steps]
    assert steps == [
        ("restriction: year >= 2016", int((df["year"] < 2016).sum())),
        ("running variable 'x' missing", int(((df["year"] >= 2016) & df["x"].isna()).sum())),
        ("cluster 'g' missing", int(((df["year"] >= 2016) & df["x"].notna() & df["g"].isna()).sum())),
        ("outcome 'y' missing", int(((df["year"] >= 2016) & df["x"].notna() & df["g"].notna()
                                     & df["y"].isna()).sum())),
    ]
    assert all(n > 0 for _, n in steps)
    assert out.flow.rows_used == len(kept)
    frame_cells = cells_from_frame(kept, score="x", outcome="y", cluster="g")
    assert_same_cells(out.cells, frame_cells)
    assert out.rows_fetched == frame_cells.n_cells

    rows = kept.assign(g=pd.factorize(kept["g"], sort=True)[0])
    for vce in ("cr1", "cr3"):
        ours = fit_cells(out.cells, vce=vce)
        assert_same(ours, fit_cells(frame_cells, vce=vce), RTOL_GIVEN)
        assert_same(ours, reference(rows, vce=vce), RTOL_SELECTED)
        given = fit_cells(out.cells, vce=vce, h=9.0, b=14.0)
        assert_same(given, reference(rows, vce=vce, h=9.0, b=14.0), RTOL_GIVEN)

    plain = score_cells_query(source_for_path(path), score="x", outcome="y", where=["year >= 2016"])
    unclustered = df[(df["year"] >= 2016) & df["x"].notna() & df["y"].notna()]
    assert plain.flow.rows_used == len(unclustered)
    assert_same_cells(plain.cells, cells_from_frame(unclustered, score="x", outcome="y"))
    unclustered_vces: tuple[Vce, ...] = ("nn", "hc1")
    for vce in unclustered_vces:
        assert_same(fit_cells(plain.cells, vce=vce), reference(unclustered, vce=vce), RTOL_SELECTED)


def test_fuzzy_engine_cells(generated: tuple[pd.DataFrame, Path]) -> None:
    """The take-up's sums, sums of squares and cross-products with the outcome (VAR_POP, COVAR_POP), and the fuzzy
    fit from them against rdrobust on the rows."""
    df, path = generated
    out = score_cells_query(source_for_path(path), score="x", outcome="y", cluster="g", treatment="t",
                            where=["year >= 2016"], missing_cluster="drop")
    assert [s.reason for s in out.flow.steps][2] == "treatment 't' missing"
    kept = _kept(df)
    assert_same_cells(out.cells, cells_from_frame(kept, score="x", outcome="y", cluster="g", treatment="t"))
    rows = kept.assign(g=pd.factorize(kept["g"], sort=True)[0])
    ours = fit_cells(out.cells, vce="cr3", h=9.0)
    assert ours.first_stage is not None
    assert_same(ours, reference(rows, fuzzy=True, vce="cr3", h=9.0), RTOL_GIVEN)


def test_missing_cluster_is_an_error_by_default(generated: tuple[pd.DataFrame, Path]) -> None:
    _, path = generated
    with pytest.raises(DataValidationError, match=r"cluster column 'g' has 5 missing values among [\d,]+ analysis"):
        score_cells_query(source_for_path(path), score="x", outcome="y", cluster="g")


def test_too_many_score_values_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"score": rng.normal(0, 1, 3000), "y": rng.normal(0, 1, 3000)})
    path = _to_duckdb(tmp_path / "continuous.duckdb", frame)
    with pytest.raises(TooManyScoreValuesError, match=r"running variable 'score' has 3,000 distinct values among "
                       r"3,000 rows, more than the 1,000 .* does not pay") as info:
        score_cells_query(source_for_path(path), score="score", outcome="y", max_values=1000)
    assert (info.value.column, info.value.count, info.value.limit) == ("score", 3000, 1000)


def test_synthetic_study_in_engine(duck: dict[str, Path], synth_data: Path) -> None:
    """The study's sharp reduced form on dropout (analyses/ccpt-dropout-rd.toml: running variable
    ``rubric_score - cutoff``, its restrictions, clustered by consortium, CR3): the engine returns one row per
    consortium (its score is the consortium's), and the fit equals rdrobust on the raw rows."""
    out = score_cells_query(source_for_path(duck["students"]), score="rubric_score", cutoff_column="cutoff",
                            outcome="dropout", cluster="consortium_id", where=SYNTH_WHERE)
    frame = pd.read_parquet(synth_data / "students.parquet")
    frame = frame[(frame["cohort"] >= frame["award_year"]) & (frame["cohort"] <= frame["award_year"] + 3)]
    reasons = [(s.reason, s.excluded) for s in out.flow.steps]
    assert reasons[-1] == ("outcome 'dropout' missing", int(frame["dropout"].isna().sum()))
    frame = frame[frame["dropout"].notna()]
    assert out.flow.rows_used == len(frame)
    rows = pd.DataFrame({"x": (frame["rubric_score"] - frame["cutoff"]).to_numpy(), "y": frame["dropout"].to_numpy(),
                         "g": pd.factorize(frame["consortium_id"], sort=True)[0]})
    assert out.rows_fetched == rows.groupby(["x", "g"]).ngroups
    assert out.rows_fetched < 300 < len(rows)
    assert_same_cells(out.cells, cells_from_frame(rows, score="x", outcome="y", cluster="g"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        ours = fit_cells(out.cells, vce="cr3")
    assert_same(ours, reference(rows, vce="cr3"), RTOL_SELECTED)


# -- cteimpact rd DATA.duckdb --in-engine ---------------------------------------------------------------------------

STUDY_ARGS = ["--outcome", "dropout", "--running", "rubric_score", "--cutoff-column", "cutoff", "--cluster",
              "consortium_id", "--where", SYNTH_WHERE[0], "--where", SYNTH_WHERE[1], "--vce", "cr3"]
"""The study's sharp reduced form on dropout as a command line."""

ENGINE_ONLY = (".results", ".engine", ".notes")
"""Keys that differ by design: the full results record needs the rows, the notes are cteimpact's words, ``engine`` is
the engine's record."""


def _cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    import json

    from study_helpers import run_cli

    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    return dict(json.loads(out))


def _compare_cli(pulled: dict[str, Any], engine: dict[str, Any], rtol: float) -> int:
    """Every key outside :data:`ENGINE_ONLY` in both objects, numbers within ``rtol`` of the pulled path's (relative
    to the number itself; a NaN is a failure)."""
    from study_helpers import compare_json

    return compare_json(pulled, engine, skip=ENGINE_ONLY, rtol=rtol, floor=0.0, nan_equal=False)


@pytest.mark.parametrize(("extra", "rtol"), [([], RTOL_SELECTED), (["--h", "6", "--b", "9"], RTOL_GIVEN),
                                             (["--kernel", "uniform", "--bwselect", "msetwo", "--vce", "cr1"],
                                              RTOL_SELECTED),
                                             (["--fuzzy", "pathway"], RTOL_SELECTED),
                                             (["--outcome", "graduated", "--h", "6"], RTOL_GIVEN),
                                             (["--vce", "cr2", "--h", "6", "--b", "9"], RTOL_GIVEN),
                                             (["--rho", "0.7"], RTOL_SELECTED),
                                             (["--fuzzy", "pathway", "--h", "6"], RTOL_GIVEN)])
def test_cli_in_engine_equals_pulled(duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch, extra: list[str], rtol: float) -> None:
    """The same keys and numbers as ``--pull`` (the in-memory estimator on the pulled rows), the same sample flow,
    no row pulled by the in-engine run (only the --pull run pulls)."""
    args = ["rd", str(duck["students"]), *STUDY_ARGS, *extra, "--json"]
    engine = _cli_json([*args, "--in-engine"], capsys)
    monkeypatch.undo()  # --pull pulls
    pulled = _cli_json([*args, "--pull"], capsys)
    assert _compare_cli(pulled, engine, rtol) >= (170 if "--fuzzy" in extra else 80)
    assert len(engine["cutoffs"]) == 2 and len(engine["cutoff_equality"]) == 1
    assert engine["sample_flow"] == pulled["sample_flow"]
    assert engine["results"] is None and pulled["results"] is not None
    e = engine["engine"]
    assert e["computed_in_engine"] is True and e["unit_rows_pulled"] == 0 and e["mode"] == "--in-engine"
    outcomes = len(engine["outcomes"])
    assert e["score_cells"] == 202 * outcomes
    # the pooled cells and each cutoff's cells, and the flow's one-row counts
    assert 2 * e["score_cells"] < e["rows_fetched"] <= 2 * e["score_cells"] + 10 * outcomes


@pytest.mark.parametrize("min_cell", ["1100", "2400"])
def test_cli_in_engine_suppresses_small_fits(duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, min_cell: str) -> None:
    """--min-cell 1100: the cutoff-specific fits (one small, the other hidden by complementary suppression) and the
    equality test hidden; 2400: the primary fit too. The same as the pulled path's."""
    args = ["rd", str(duck["students"]), *STUDY_ARGS, "--h", "6", "--json", "--min-cell", min_cell]
    engine = _cli_json([*args, "--in-engine"], capsys)
    monkeypatch.undo()
    pulled = _cli_json([*args, "--pull"], capsys)
    assert engine["privacy"] == pulled["privacy"]
    assert [c["suppressed"] for c in engine["cutoffs"]] == [c["suppressed"] for c in pulled["cutoffs"]] == [True, True]
    assert engine["cutoff_equality"] == pulled["cutoff_equality"]
    assert engine["cutoff_equality"][0]["suppressed"] is True
    assert engine["suppressed"] is (min_cell == "2400") and (engine["estimate"] is None) is (min_cell == "2400")
    _compare_cli(pulled, engine, RTOL_GIVEN)


@pytest.mark.parametrize(("extra", "option"), [
    (["--diagnostics"], "--diagnostics"), (["--weights", "female"], "--weights"),
    (["--covariates", "female"], "--covariates"), (["--masspoints", "check"], "--masspoints check"),
    (["--bwselect", "cerrd"], "--bwselect cerrd"), (["--masspoints", "off"], "--masspoints off"),
    (["--donut", "0.5"], "--donut"), (["--subgroups", "female"], "--subgroups"),
])
def test_cli_in_engine_refuses_options_that_need_rows(duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                       extra: list[str], option: str) -> None:
    from study_helpers import one_line_error, run_cli

    code, _, err = run_cli(["rd", str(duck["students"]), *STUDY_ARGS, *extra, "--in-engine"], capsys)
    line = one_line_error(code, err)
    assert f"option {option} needs the rows" in line


def test_cli_in_engine_text(duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from study_helpers import run_cli

    code, out, err = run_cli(["rd", str(duck["students"]), *STUDY_ARGS, "--in-engine"], capsys)
    assert code == 0, err
    assert "Computed in the engine (duckdb, table 'students'): no row pulled" in out
    assert out.rstrip().splitlines()[-1].startswith("Privacy: ")


def test_cli_in_engine_needs_a_database(synth_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from study_helpers import one_line_error, run_cli

    code, _, err = run_cli(["rd", str(synth_data / "students.parquet"), *STUDY_ARGS, "--in-engine"], capsys)
    assert "--in-engine and --pull apply to a DuckDB database" in one_line_error(code, err)


def test_nan_cluster_and_boolean_outcome(tmp_path: Path) -> None:
    """A floating-point cluster identifier that is NaN counts as missing (as pandas' isna does in memory); a
    true/false outcome is summed as 0/1."""
    df = make_data(2, n=5_000, n_values=40, n_clusters=14)
    frame = pd.DataFrame({"x": df["x"], "y": df["y"] > 0.8, "g": df["g"].astype(float)})
    frame.loc[[3, 17, 400], "g"] = np.nan
    out = score_cells_query(source_for_path(_to_duckdb(tmp_path / "nan.duckdb", frame)), score="x", outcome="y",
                            cluster="g", missing_cluster="drop")
    assert [(s.reason, s.excluded) for s in out.flow.steps][-2:] == [("cluster 'g' missing", 3),
                                                                     ("outcome 'y' missing", 0)]
    kept = frame.dropna(subset=["g"]).assign(y=lambda d: d["y"].astype(float))
    assert_same_cells(out.cells, cells_from_frame(kept, score="x", outcome="y", cluster="g"))

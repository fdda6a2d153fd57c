"""``cteimpact did DATA.duckdb --in-engine``: Callaway & Sant'Anna from sufficient statistics, no row pulled.

Against the pulled path (``--pull``: the same DuckDB file's rows run through the in-memory estimator), element by
element: every key of the JSON object equal, every number to 1e-10 (``|a - b| <= 1e-10 * max(1, |a|)``), except the
keys that legitimately differ (:data:`DIFFERS`); the sample flow counted in the engine step by step; the small-cell
rule applied to the same estimates; options that need the rows refused with one line; the rows the engine returns
bounded by (clusters ×) cohorts × periods and no unit row pulled at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from study_helpers import compare_json, one_line_error, run_cli

STUDENTS = ["--outcome", "earnings_age19", "--time", "cohort", "--cohort", "first_treated", "--no-panel",
            "--cluster", "district_id", "--where", "cohort <= 2020"]
"""Student records as repeated cross-sections of 9th-grade cohorts (each student one row), clustered by district."""

MPDTA = ["--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat",
         "--where", "year >= 2004"]

DIFFERS = (".descriptives", ".results.details.descriptives", ".results.estimator", ".options.backend",
           ".results.options.backend", ".results.details.rows_fetched", ".results.details.influence_function_storage",
           ".engine")
"""Keys that differ by design: descriptive statistics by cohort need the rows (``null`` in the engine), the estimator's
name says where it ran, the engine records the rows its queries returned and stores no unit-level influence
function."""

NOTES = (".notes", ".results.details.notes")
"""The exclusion notes of a balanced panel are worded differently in the engine (it counts rows, not units); their
number is the same (checked)."""


def _compare(pulled: dict[str, Any], engine: dict[str, Any], allowed: tuple[str, ...] = DIFFERS,
             rtol: float = 1e-10) -> int:
    """Every key outside ``allowed`` in both objects, numbers within ``rtol``; returns the numbers compared."""
    return compare_json(pulled, engine, skip=allowed, rtol=rtol)


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def mpdta_duck(tmp_path_factory: pytest.TempPathFactory, reference_data: Path) -> Path:
    """mpdta (R did's county panel) as the only table of a DuckDB file; skipped when the reference data are absent."""
    import duckdb

    csv = reference_data / "mpdta.csv"
    if not csv.is_file():
        pytest.skip(f"mpdta.csv not in {reference_data}")
    path = tmp_path_factory.mktemp("mpdta") / "mpdta.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE TABLE mpdta AS SELECT * FROM read_csv('{csv}')")
    finally:
        con.close()
    return path


def _derived(tmp_path_factory: pytest.TempPathFactory, mpdta_duck: Path, name: str, select: str) -> Path:
    """A DuckDB file whose table ``mpdta`` is ``select`` over mpdta's (``src.mpdta``)."""
    import duckdb

    path = tmp_path_factory.mktemp(name) / f"{name}.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute(f"ATTACH '{mpdta_duck}' AS src (READ_ONLY)")
        con.execute(f"CREATE TABLE mpdta AS {select}")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def mpdta_state(tmp_path_factory: pytest.TempPathFactory, mpdta_duck: Path) -> Path:
    """mpdta with a ``state_code`` cluster column (the county FIPS code's state part)."""
    return _derived(tmp_path_factory, mpdta_duck, "state",
                    "SELECT *, 's' || CAST(countyreal // 1000 AS VARCHAR) AS state_code FROM src.mpdta")


@pytest.fixture(scope="module")
def mpdta_size(tmp_path_factory: pytest.TempPathFactory, mpdta_duck: Path) -> Path:
    """mpdta with ``state_code`` and ``size``, a text column of three levels cut from ``lpop``."""
    return _derived(tmp_path_factory, mpdta_duck, "size",
                    "SELECT *, 's' || CAST(countyreal // 1000 AS VARCHAR) AS state_code, CASE WHEN lpop < 2.5 "
                    "THEN 'small' WHEN lpop < 4 THEN 'medium' ELSE 'large' END AS size FROM src.mpdta")


@pytest.fixture(scope="module")
def mpdta_holes(tmp_path_factory: pytest.TempPathFactory, mpdta_duck: Path) -> Path:
    """mpdta with some unit-periods deleted (counties divisible by 7 in 2005, by 11 in 2007): an unbalanced panel."""
    return _derived(tmp_path_factory, mpdta_duck, "holes",
                    "SELECT * FROM src.mpdta WHERE NOT (countyreal % 7 = 0 AND year = 2005) "
                    "AND NOT (countyreal % 11 = 0 AND year = 2007)")


@pytest.fixture(scope="module")
def students_frame(synth_data: Path) -> pd.DataFrame:
    return pd.read_parquet(synth_data / "students.parquet")


@pytest.mark.parametrize("extra", [
    ["--min-cell", "10"],
    ["--min-cell", "300", "--control", "notyet", "--bootstrap", "99", "--pretrend-power"],
    ["--min-cell", "60", "--base-period", "universal", "--small-sample", "--min-e", "-3", "--max-e", "4"],
], ids=["default", "notyet-bootstrap-suppressed", "universal-window"])
def test_students_in_engine_equal_pulled(duck: dict[str, Path], extra: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pulled = _json(["did", str(duck["students"]), *STUDENTS, *extra, "--pull", "--json"], capsys)
    engine = _json(["did", str(duck["students"]), *STUDENTS, *extra, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine) > 1000
    assert "engine" not in pulled and pulled["descriptives"] is not None
    assert engine["descriptives"] is None and engine["results"]["details"]["descriptives"] is None
    assert engine["options"]["backend"] == "sufficient statistics"


@pytest.mark.parametrize("extra", [[], ["--control", "notyet", "--min-cell", "150"],
                                   ["--base-period", "universal", "--min-cell", "200"], ["--no-panel"]],
                         ids=["panel", "notyet-suppressed", "universal-suppressed", "cross-sections"])
def test_mpdta_in_engine_equals_pulled(mpdta_duck: Path, extra: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    pulled = _json(["did", str(mpdta_duck), *MPDTA, *extra, "--pull", "--json"], capsys)
    engine = _json(["did", str(mpdta_duck), *MPDTA, *extra, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine, DIFFERS + NOTES) > 200
    assert len(pulled["notes"]) == len(engine["notes"])
    if "--min-cell" in extra:
        assert engine["privacy"]["suppressed_estimates"] > 0


@pytest.mark.parametrize("extra", [[], ["--allow-unbalanced", "--no-twfe"]], ids=["balanced-in-engine", "unbalanced"])
def test_unbalanced_mpdta_in_engine_equals_pulled(mpdta_holes: Path, extra: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Units missing some periods: dropped in the engine to balance the panel (counted as in memory), or kept."""
    pulled = _json(["did", str(mpdta_holes), *MPDTA, *extra, "--pull", "--json"], capsys)
    engine = _json(["did", str(mpdta_holes), *MPDTA, *extra, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine, DIFFERS + NOTES) > 900
    steps = {st["reason"]: st["excluded"] for st in engine["sample_flow"]["steps"]}
    assert steps.get("unit not observed in every period (balanced panel)", 0) == (0 if extra else 313)


def test_sample_flow_counted_in_the_engine(duck: dict[str, Path], students_frame: pd.DataFrame,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Restriction and missing outcomes: each step's count equals the pulled path's and the data's own count."""
    pulled = _json(["did", str(duck["students"]), *STUDENTS, "--pull", "--json"], capsys)["sample_flow"]
    engine = _json(["did", str(duck["students"]), *STUDENTS, "--in-engine", "--json"], capsys)["sample_flow"]
    assert engine == pulled
    s = students_frame
    kept = s[s["cohort"] <= 2020]
    steps = {st["reason"]: st["excluded"] for st in engine["steps"]}
    assert engine["rows_read"] == len(s)
    assert steps["restriction: cohort <= 2020"] == len(s) - len(kept)
    assert steps["outcome 'earnings_age19' missing"] == int(kept["earnings_age19"].isna().sum()) > 0
    assert engine["rows_used"] == int(kept["earnings_age19"].notna().sum())


def test_suppression_applied_to_published_output(duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """--min-cell 300: the same estimates hidden as on the pulled path, their numbers null in every place of the JSON
    object and absent from the sampling distribution; the text summary ends with the privacy note."""
    args = ["did", str(duck["students"]), *STUDENTS, "--min-cell", "300"]
    pulled = _json([*args, "--pull", "--json"], capsys)
    engine = _json([*args, "--in-engine", "--json"], capsys)
    hidden = [e["label"] for e in engine["estimates"] if e["suppressed"]]
    assert hidden == [e["label"] for e in pulled["estimates"] if e["suppressed"]]
    assert 0 < len(hidden) < len(engine["estimates"])
    assert engine["privacy"] == pulled["privacy"] and engine["privacy"]["hidden_cohort_sizes"]
    for e in engine["estimates"]:
        if e["suppressed"]:
            assert e["estimate"] is None and e["std_error"] is None and e["ci_lower"] is None
    for r in engine["att_gt"]:
        if r["suppressed"]:
            assert r["att"] is None and r["se"] is None and r["n_treated"] is None
    for r in engine["inference"]["rows"].values():
        if r["std_error"] is None:
            assert r["std_error_influence_function"] is None
    labels = engine["results"]["sampling_distribution"]["labels"]
    assert not set(labels) & set(hidden) and len(labels) == len(engine["estimates"]) - len(hidden)
    code, text, err = run_cli([*args, "--in-engine"], capsys)
    assert code == 0, err
    assert text.rstrip().splitlines()[-1] == "Privacy: " + engine["privacy"]["note"]
    assert "Computed in the engine (duckdb, table 'students'): no row pulled" in text


def test_honest_sensitivity_in_engine(duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """HonestDiD from the engine's event study: the robust intervals come from a numerical optimisation, so they
    equal the pulled path's to the solver's tolerance (1e-7 relative), every other number to 1e-10."""
    args = ["did", str(duck["students"]), *STUDENTS, "--honest", "relative-magnitudes", "--mbar", "0,0.5,1"]
    pulled = _json([*args, "--pull", "--json"], capsys)
    engine = _json([*args, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine, (*DIFFERS, ".honest")) > 1000
    assert _compare(pulled["honest"], engine["honest"], (), rtol=1e-7) >= 6


def test_rows_returned_are_bounded_and_none_pulled(duck: dict[str, Path], students_frame: pd.DataFrame,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No pull at all (TableSource.pull would fail); the estimator's queries return at most the layout and moments
    of each cluster × cohort × period, plus one row per cohort; the sample-flow queries one row each."""
    from cteimpact.backends.source import TableSource

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    monkeypatch.setattr(TableSource, "pull", refuse)
    engine = _json(["did", str(duck["students"]), *STUDENTS, "--in-engine", "--json"], capsys)["engine"]
    s = students_frame[(students_frame["cohort"] <= 2020) & students_frame["earnings_age19"].notna()]
    n_clusters, n_cohorts, n_periods = (s["district_id"].nunique(), s["first_treated"].nunique(),
                                        s["cohort"].nunique())
    cells = s.groupby(["district_id", "first_treated", "cohort"]).ngroups
    assert engine["computed_in_engine"] is True and engine["unit_rows_pulled"] == 0
    assert cells <= engine["rows_fetched_by_estimator"] <= 2 * cells + n_cohorts + 2
    assert engine["rows_fetched_by_estimator"] <= n_clusters * n_cohorts * n_periods
    assert engine["rows_fetched_by_sample_flow"] == 6  # the count, the restriction, four columns checked
    assert engine["rows_fetched"] == engine["rows_fetched_by_estimator"] + 6 < len(s) / 5


@pytest.mark.parametrize("extra", [
    ["--covariates", "lpop"],
    ["--covariates", "lpop", "--method", "reg", "--control", "notyet", "--base-period", "universal"],
    ["--covariates", "lpop", "--method", "ipw", "--cluster", "state_code"],
], ids=["dr", "reg-notyet-universal", "ipw-clustered"])
def test_mpdta_covariates_in_engine_equal_pulled(mpdta_state: Path, extra: list[str],
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Numeric covariates of a balanced panel are computed in the engine (no row pulled: TableSource.pull would
    fail): the JSON object equals the pulled path's, covariates and the TWFE comparison (without covariates, as in
    memory) included."""
    from cteimpact.backends.source import TableSource

    pulled = _json(["did", str(mpdta_state), *MPDTA, *extra, "--pull", "--json"], capsys)

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    monkeypatch.setattr(TableSource, "pull", refuse)
    engine = _json(["did", str(mpdta_state), *MPDTA, *extra, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine, DIFFERS + NOTES) > 200
    assert engine["options"]["covariates"] == ["lpop"] and engine["engine"]["unit_rows_pulled"] == 0


def test_covariates_of_an_unbalanced_panel_exit_2(mpdta_holes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["did", str(mpdta_holes), *MPDTA, "--covariates", "lpop", "--allow-unbalanced",
                            "--in-engine"], capsys)
    line = one_line_error(code, err)
    assert line.startswith("cteimpact: error: option --covariates with --allow-unbalanced needs the rows (covariates "
                           "are computed in the engine for balanced panels and repeated cross-sections)")


@pytest.mark.parametrize("extra", [
    ["--covariates", "lpop,size"],
    ["--covariates", "size,lpop", "--covariate-reference", "size=medium", "--method", "reg"],
    ["--covariates", "size", "--method", "ipw", "--control", "notyet", "--cluster", "state_code"],
], ids=["dr", "reg-reference", "ipw-notyet-clustered"])
def test_text_covariate_in_engine_equals_pulled(mpdta_size: Path, extra: list[str],
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A text covariate is categorical (indicator columns of its levels but the reference): computed in the engine
    (no row pulled), the JSON object equals the pulled path's, the coding included."""
    from cteimpact.backends.source import TableSource

    pulled = _json(["did", str(mpdta_size), *MPDTA, *extra, "--pull", "--json"], capsys)

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    monkeypatch.setattr(TableSource, "pull", refuse)
    engine = _json(["did", str(mpdta_size), *MPDTA, *extra, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine, DIFFERS + NOTES) > 200
    coding = engine["options"]["covariate_coding"]
    assert coding == pulled["options"]["covariate_coding"] and coding[0]["column"] == "size"
    assert len(coding[0]["levels"]) == 3 and engine["engine"]["unit_rows_pulled"] == 0
    assert [n for n in engine["notes"] if "categorical" in n] == [n for n in pulled["notes"] if "categorical" in n]


@pytest.mark.parametrize("extra", [
    ["--covariates", "female"],
    ["--covariates", "female,prior_achievement", "--method", "reg", "--control", "notyet"],
    ["--covariates", "prior_achievement", "--method", "ipw", "--base-period", "universal"],
], ids=["dr", "reg-notyet", "ipw-universal"])
def test_covariates_of_repeated_cross_sections_in_engine_equal_pulled(duck: dict[str, Path], extra: list[str],
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Covariates of repeated cross-sections (each student one observation, clustered by district) are computed in
    the engine (no row pulled): the JSON object equals the pulled path's."""
    from cteimpact.backends.source import TableSource

    pulled = _json(["did", str(duck["students"]), *STUDENTS, *extra, "--pull", "--json"], capsys)

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was pulled")

    monkeypatch.setattr(TableSource, "pull", refuse)
    engine = _json(["did", str(duck["students"]), *STUDENTS, *extra, "--in-engine", "--json"], capsys)
    assert _compare(pulled, engine, DIFFERS + NOTES) > 500
    assert engine["options"]["covariates"] == pulled["options"]["covariates"]
    assert engine["options"]["panel"] is False and engine["engine"]["unit_rows_pulled"] == 0


def test_text_covariate_with_one_level_exit_2(mpdta_state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["did", str(mpdta_state), *MPDTA, "--covariates", "lpop,state_code", "--where",
                            "state_code == 's13'", "--in-engine"], capsys)
    line = one_line_error(code, err)
    assert "categorical covariate 'state_code' has a single level ('s13' in all" in line


def test_mpdta_rows_returned_bounded_by_cohorts_and_periods(mpdta_duck: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Unclustered balanced panel: (cohorts × periods) rows per query, whatever the number of units."""
    engine = _json(["did", str(mpdta_duck), *MPDTA, "--in-engine", "--json"], capsys)["engine"]
    n_cohorts, n_periods = 4, 4  # never treated, 2004 (dropped later), 2006, 2007; 2004-2007
    assert engine["rows_fetched_by_estimator"] <= 2 * n_cohorts * n_periods + n_cohorts + 2


def test_automatic_above_the_pull_limit(duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Neither flag: a table above --max-rows-pulled is computed in the engine, with a note; below it, pulled."""
    args = ["did", str(duck["students"]), *STUDENTS, "--json"]
    auto = _json([*args, "--max-rows-pulled", "1000"], capsys)
    assert auto["engine"]["mode"] == "automatic"
    assert "has 30,386 rows, more than the 1,000 that may be pulled" in auto["engine"]["note"]
    assert auto["notes"][-1] == auto["engine"]["note"]
    small = _json(args, capsys)
    assert "engine" not in small and small["descriptives"] is not None
    forced = _json([*args, "--in-engine"], capsys)
    assert forced["engine"]["mode"] == "--in-engine" and forced["engine"]["note"] is None
    assert _compare(auto, forced, (*DIFFERS, *NOTES)) > 1000


@pytest.mark.parametrize(("extra", "option"), [
    (["--weights", "prior_achievement"], "--weights"),
    (["--students", "female"], "--students"),
    (["--effect-sizes"], "--effect-sizes"),
    (["--wild-bootstrap", "99"], "--wild-bootstrap"),
    (["--estimator", "twfe"], "--estimator twfe"),
    (["--conditional-pretest"], "--conditional-pretest"),
])
def test_options_that_need_rows_exit_2(duck: dict[str, Path], extra: list[str], option: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["did", str(duck["students"]), *STUDENTS, *extra, "--in-engine"], capsys)
    line = one_line_error(code, err)
    assert line.startswith(f"cteimpact: error: option {option} needs the rows (")
    assert "which --in-engine does not pull" in line
    code, _, err = run_cli(["did", str(duck["students"]), *STUDENTS, *extra, "--max-rows-pulled", "1000"], capsys)
    line = one_line_error(code, err)
    assert f"table 'students' has 30,386 rows, more than the 1,000 that may be pulled, and option {option} needs " \
           "the rows" in line


def test_bootstrap_without_clusters_exits_2(mpdta_duck: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["did", str(mpdta_duck), *MPDTA, "--bootstrap", "99", "--in-engine"], capsys)
    assert "option --bootstrap without --cluster needs the rows" in one_line_error(code, err)


def test_in_engine_needs_a_database(synth_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["did", str(synth_data / "district_panel.csv"), "--outcome", "earnings_age19", "--unit",
                            "district_id", "--time", "cohort", "--cohort", "first_treated", "--in-engine"], capsys)
    assert "--in-engine and --pull apply to a DuckDB database" in one_line_error(code, err)


def test_pulled_rows_are_only_those_meeting_where(mpdta_duck: Path, reference_data: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """With --pull, --where is evaluated and counted by DuckDB: the rows it excludes never leave the engine (mpdta
    has 2,500 rows, 500 per year; ``year >= 2004`` keeps 2,000), and the JSON (estimates, sample flow, notes) is the
    one the CSV file gives, where pandas applies --where."""
    from cteimpact.backends.source import TableSource

    pulled_rows: list[int] = []
    original = TableSource.pull

    def counting(self: TableSource, *args: Any, **kwargs: Any) -> pd.DataFrame:
        frame = original(self, *args, **kwargs)
        pulled_rows.append(len(frame))
        return frame

    monkeypatch.setattr(TableSource, "pull", counting)
    from_engine = _json(["did", str(mpdta_duck), *MPDTA, "--pull", "--json"], capsys)
    assert pulled_rows == [2000]
    from_file = _json(["did", str(reference_data / "mpdta.csv"), *MPDTA, "--json"], capsys)
    assert from_engine["sample_flow"]["source"] == "mpdta.duckdb:mpdta"
    assert _compare(from_file, from_engine, allowed=(".sample_flow.source", ".results.sample_flow.source")) > 100

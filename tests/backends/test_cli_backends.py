"""``cteimpact run`` against engines on the command line: every bad input (no such database, table or column, a text
outcome, too many rows to pull, an unset connection variable, an unreachable server, an engine failure) exits with
code 2 and one line naming the backend, the table and the column."""

from __future__ import annotations

from pathlib import Path

import pytest
from study_helpers import json_leaves, one_line_error, run_cli

REPO = Path(__file__).resolve().parents[2]
RD_SPEC = REPO / "analyses" / "ccpt-dropout-rd.toml"
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"


def test_missing_database_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", str(DID_SPEC), "--data", str(tmp_path / "nope.duckdb"), "--out",
                            str(tmp_path / "run"), "--quiet"], capsys)
    line = one_line_error(code, err)
    assert "DuckDB database file" in line and "nope.duckdb' does not exist" in line
    assert not (tmp_path / "run").exists()


def test_missing_table(tmp_path: Path, duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", str(DID_SPEC), "--data", str(duck["both"]), "--table", "district_panels",
                            "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert one_line_error(code, err) == ("cteimpact: error: table 'district_panels' is not in 'both.duckdb' "
                                          "(duckdb); did you mean 'district_panel'?")


def test_several_tables_and_none_named(tmp_path: Path, duck: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", str(DID_SPEC), "--data", str(duck["both"]), "--out", str(tmp_path / "run"),
                            "--quiet"], capsys)
    line = one_line_error(code, err)
    assert "'both.duckdb' (duckdb) holds 2 tables (district_panel, students); name the one to read with [data] " \
           "table or --table" in line


def test_missing_column(tmp_path: Path, duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The RD study against the district panel: its student id column is not in that table."""
    code, _, err = run_cli(["run", str(RD_SPEC), "--data", str(duck["panel"]), "--out", str(tmp_path / "run"),
                            "--quiet"], capsys)
    assert one_line_error(code, err).startswith(
        "cteimpact: error: column 'student_id' (role 'student_id') is not in table 'district_panel' (duckdb)")


def test_text_outcome(tmp_path: Path, synth_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import duckdb

    path = tmp_path / "text.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE district_panel AS SELECT * REPLACE (CAST(earnings_age19 AS VARCHAR) AS earnings_age19) "
                f"FROM read_csv('{synth_data / 'district_panel.csv'}')")
    con.close()
    code, _, err = run_cli(["run", str(DID_SPEC), "--data", str(path), "--out", str(tmp_path / "run"), "--quiet"],
                           capsys)
    assert one_line_error(code, err) == (
        "cteimpact: error: column 'earnings_age19' of table 'district_panel' (duckdb) holds string values, which "
        "cannot be summed or averaged; difference-in-differences needs numbers")


def test_pull_limit(tmp_path: Path, duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["run", str(RD_SPEC), "--data", str(duck["students"]), "--max-rows-pulled", "1000",
                            "--out", str(tmp_path / "run"), "--quiet"], capsys)
    line = one_line_error(code, err)
    assert "rows of table 'students' (duckdb) to this machine exceeds the limit of 1,000 rows: regression " \
           "discontinuity: the local polynomial fits" in line
    assert "--max-rows-pulled" in line
    assert not (tmp_path / "run").exists()  # nothing is left behind


def test_connection_variable_not_set(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CTEIMPACT_NOT_SET", raising=False)
    code, _, err = run_cli(["run", str(DID_SPEC), "--backend", "postgres", "--connection", "env:CTEIMPACT_NOT_SET",
                            "--table", "district_panel", "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert one_line_error(code, err) == (
        "cteimpact: error: postgres: the connection string is to come from the environment variable "
        "CTEIMPACT_NOT_SET, which is not set; export it first")


def test_unreachable_server(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTEIMPACT_TEST_URL", "postgres://analyst:s3cret@127.0.0.1:1/slds")
    code, _, err = run_cli(["run", str(DID_SPEC), "--backend", "postgres", "--connection", "env:CTEIMPACT_TEST_URL",
                            "--table", "district_panel", "--out", str(tmp_path / "run"), "--quiet"], capsys)
    line = one_line_error(code, err)
    assert "postgres" in line and "s3cret" not in err


def test_engine_failure(tmp_path: Path, duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine that cannot run a query (here every table query fails as an engine without a needed operation
    would): one line naming the backend, the table and what was being computed."""
    import ibis.common.exceptions as ibis_errors
    import ibis.expr.types as ir

    def refuse(self, *args, **kwargs):
        raise ibis_errors.OperationNotDefinedError("Aggregate is not defined for this backend")

    monkeypatch.setattr(ir.Table, "execute", refuse)
    code, _, err = run_cli(["run", str(DID_SPEC), "--data", str(duck["panel"]), "--out", str(tmp_path / "run"),
                            "--quiet"], capsys)
    assert one_line_error(code, err) == (
        "cteimpact: error: duckdb could not compute repeated (district_id, cohort) combinations on table "
        "'district_panel': Aggregate is not defined for this backend")


def test_password_in_a_specification_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = DID_SPEC.read_text(encoding="utf-8").replace(
        'path = "district_panel.csv"',
        'backend = "postgres"\ntable = "district_panel"\nconnection = "postgres://analyst:s3cret@db/slds"')
    spec = tmp_path / "study.toml"
    spec.write_text(text, encoding="utf-8")
    code, _, err = run_cli(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    line = one_line_error(code, err)
    assert "data.connection" in line and "must not store credentials" in line
    assert "s3cret" not in err


def _compare_json(file_out: str, duck_out: str, allowed: tuple[str, ...]) -> int:
    import json
    import math

    a, b = json_leaves(json.loads(file_out)), json_leaves(json.loads(duck_out))
    a = {k: v for k, v in a.items() if not any(part in k for part in allowed)}
    b = {k: v for k, v in b.items() if not any(part in k for part in allowed)}
    assert set(a) == set(b)
    compared = 0
    for key, x in a.items():
        y = b[key]
        if isinstance(x, float) and isinstance(y, float):
            assert x == y or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-10 * max(1.0, abs(x)), key
            compared += 1
        else:
            assert x == y, key
    return compared


def test_rd_command_on_a_duckdb_table(duck: dict[str, Path], synth_data: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``cteimpact rd FILE.duckdb``: --where evaluated and counted by DuckDB; the estimates equal the Parquet file's."""
    args = ["--outcome", "dropout", "--running", "rubric_score", "--cutoff-column", "cutoff", "--cluster",
            "consortium_id", "--where", "cohort >= award_year", "--json"]
    code, from_file, err = run_cli(["rd", str(synth_data / "students.parquet"), *args], capsys)
    assert code == 0, err
    code, from_duck, err = run_cli(["rd", str(duck["students"]), *args], capsys)
    assert code == 0, err
    # the sources are named differently; the restriction is recorded in the flow, not among the estimator's options
    assert _compare_json(from_file, from_duck, (".source", ".options.where")) > 100


def test_did_command_on_a_duckdb_table(duck: dict[str, Path], synth_data: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--outcome", "earnings_age19", "--unit", "district_id", "--time", "cohort", "--cohort", "first_treated",
            "--cluster", "consortium_id", "--students", "n_students", "--where", "cohort >= 2011", "--json"]
    code, from_file, err = run_cli(["did", str(synth_data / "district_panel.csv"), *args], capsys)
    assert code == 0, err
    code, from_duck, err = run_cli(["did", str(duck["panel"]), *args], capsys)
    assert code == 0, err
    assert _compare_json(from_file, from_duck, (".source",)) > 100


def test_rd_command_pull_limit(duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """--pull above the limit (without it the command would choose the engine: tests/backends/test_rd_window.py)."""
    code, _, err = run_cli(["rd", str(duck["students"]), "--outcome", "dropout", "--running", "rubric_score",
                            "--cutoff", "0", "--max-rows-pulled", "5", "--pull"], capsys)
    assert "exceeds the limit of 5 rows: regression discontinuity" in one_line_error(code, err)


def test_specification_keys_name_the_database(tmp_path: Path, duck: dict[str, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """[data] path = a .duckdb file with table and max_rows_pulled: the specification's own limit applies."""
    import shutil

    shutil.copy(duck["both"], tmp_path / "warehouse.duckdb")
    text = DID_SPEC.read_text(encoding="utf-8").replace(
        'path = "district_panel.csv"', 'path = "warehouse.duckdb"\ntable = "district_panel"\nmax_rows_pulled = 100')
    shutil.copytree(REPO / "analyses" / "contracts", tmp_path / "contracts", dirs_exist_ok=True)
    spec = tmp_path / "study.toml"
    spec.write_text(text, encoding="utf-8")
    code, _, err = run_cli(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"], capsys)
    # the DiD study could be computed in the engine but for its keys that need the rows: the first is named
    line = one_line_error(code, err)
    assert "the study sample of table 'district_panel' (duckdb) has 4,984 rows, more than the 100 that may be " \
           "pulled (max_rows_pulled), and cannot be computed in the engine: [design] students (leave it out)" in line


def test_duckdb_file_from_an_environment_variable(tmp_path: Path, duck: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--backend duckdb --connection env:NAME: the database file named by a variable (reached: the run gets as far
    as the pull limit)."""
    monkeypatch.setenv("CTEIMPACT_TEST_DUCKDB", str(duck["panel"]))
    code, _, err = run_cli(["run", str(DID_SPEC), "--backend", "duckdb", "--connection", "env:CTEIMPACT_TEST_DUCKDB",
                            "--max-rows-pulled", "7", "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert "the study sample of table 'district_panel' (duckdb) has 4,984 rows, more than the 7 that may be pulled" \
        in one_line_error(code, err)

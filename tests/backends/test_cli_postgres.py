"""``cteimpact did`` and ``cteimpact rd`` reading a table in PostgreSQL (``--backend postgres --connection env:NAME
--table TABLE``), against a live server: the throwaway cluster of the session (``postgres_url``,
:mod:`postgres_server`; skipped, with the reason, where no server binaries or no Ibis PostgreSQL driver are found).

The server's database ``cli`` holds the tables of the DuckDB files the other tests read, under the same names
(``mpdta``; ``district_panel``, the shipped DiD study's panel; ``students``, the shipped RD study's students), each
written from the rows pandas reads from the file, and two of them without their outcome column. Every command's JSON
object equals the same command's on the DuckDB file element by element, every number within 1e-10 (``|a - b| <=
1e-10 max(1, |a|)``), the sample flow counted by the engine included; only what names the data differs by design:
the source of the sample flow (the connection string without its password, instead of the file's name; replaced
before comparing) and the engine record's backend (checked to name ``postgres`` and the table). The connection
string holds a password (the server's trust authentication ignores it), which no output shows.

Bad input: ``--backend postgres`` without ``--connection`` or ``--table`` or with a DATA file, ``--connection`` with a
DuckDB file, an unreachable server, a missing table, a missing column: each one ``cteimpact: error:`` line, exit code
2, no traceback, the password never shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from study_helpers import compare_json, one_line_error, run_cli
from test_did_in_engine import DIFFERS, MPDTA, NOTES
from test_rd_window import CLUSTER, STUDY, _study_frame

from cteimpact.backends.connection import redact
from cteimpact.backends.source import TableSource

psycopg = pytest.importorskip("psycopg", reason="Ibis's PostgreSQL driver is not installed: pip install "
                                                "'ibis-framework[postgres]'")

ENV = "CTEIMPACT_CLI_DB_URL"
PASSWORD = "Xw4-not-a-real-password"
DATABASE = "cli"

PANEL = ["--outcome", "earnings_age19", "--unit", "district_id", "--time", "cohort", "--cohort", "first_treated",
         "--cluster", "consortium_id"]
"""The shipped DiD study's design (analyses/pathways-earnings-did.toml) as a command line."""

RTOL = 1e-10


@pytest.fixture(scope="module")
def server(postgres_url: str, reference_data: Path, synth_data: Path) -> str:
    """The URL of the database :data:`DATABASE` on the session's server, holding ``mpdta``, ``district_panel`` and
    ``students`` (as pandas reads the files), with a password added (ignored by the server's trust authentication)."""
    import ibis

    csv = reference_data / "mpdta.csv"
    if not csv.is_file():
        pytest.skip(f"mpdta.csv not in {reference_data}")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = postgres_url.replace("/cteimpact?", f"/{DATABASE}?")
    assert url != postgres_url
    con = ibis.connect(url)
    try:
        mpdta, students = pd.read_csv(csv), pd.read_parquet(synth_data / "students.parquet")
        con.create_table("mpdta", mpdta)
        con.create_table("district_panel", pd.read_csv(synth_data / "district_panel.csv"))
        con.create_table("students", students)
        con.create_table("mpdta_no_lemp", mpdta.drop(columns=["lemp"]))
        con.create_table("students_no_dropout", students.drop(columns=["dropout"]))
    finally:
        con.disconnect()
    return url.replace("postgres@", f"postgres:{PASSWORD}@")


@pytest.fixture
def env(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection string in the environment variable :data:`ENV`; returns the label's prefix (the string
    without its password) that names the server's tables in the sample flow."""
    monkeypatch.setenv(ENV, server)
    return redact(server)


@pytest.fixture(scope="module")
def mpdta_file(tmp_path_factory: pytest.TempPathFactory, reference_data: Path) -> Path:
    from study_helpers import write_duckdb

    return write_duckdb(tmp_path_factory.mktemp("mpdta") / "mpdta.duckdb",
                        {"mpdta": f"SELECT * FROM read_csv('{reference_data / 'mpdta.csv'}')"})


def _json(args: list[str], capsys: pytest.CaptureFixture[str], *, same_as: tuple[str, str] | None = None
          ) -> dict[str, Any]:
    """The command's JSON object; ``same_as`` (label, file's label): the server's label replaced by the file's."""
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert PASSWORD not in out and PASSWORD not in err
    if same_as is not None:
        assert same_as[0] in out
        out = out.replace(same_as[0], same_as[1])
    return dict(json.loads(out))


def _server(env: str, table: str) -> list[str]:
    return ["--backend", "postgres", "--connection", f"env:{ENV}", "--table", table]


def _check_engine(record: dict[str, Any], table: str) -> None:
    assert (record["backend"], record["table"]) == ("postgres", table)
    assert PASSWORD not in json.dumps(record)


# -- cteimpact did ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["--in-engine", "--pull"])
@pytest.mark.parametrize("extra", [[], ["--control", "notyet", "--min-cell", "150"], ["--no-panel"]],
                         ids=["never", "notyet-suppressed", "cross-sections"])
def test_did_mpdta_equals_the_duckdb_file(env: str, mpdta_file: Path, capsys: pytest.CaptureFixture[str],
                                          mode: str, extra: list[str]) -> None:
    file = _json(["did", str(mpdta_file), *MPDTA, *extra, mode, "--json"], capsys)
    ours = _json(["did", *_server(env, "mpdta"), *MPDTA, *extra, mode, "--json"], capsys,
                 same_as=(f"{env}:mpdta", "mpdta.duckdb:mpdta"))
    assert compare_json(file, ours, skip=(".engine",), rtol=RTOL) > 200
    if mode == "--in-engine":
        _check_engine(ours["engine"], "mpdta")
        assert file["engine"]["backend"] == "duckdb"
        assert {k: v for k, v in ours["engine"].items() if k != "backend"} == \
            {k: v for k, v in file["engine"].items() if k != "backend"}
    else:
        assert "engine" not in ours and ours["descriptives"] is not None
    if "--min-cell" in extra:
        assert ours["privacy"]["suppressed_estimates"] > 0


def test_did_in_engine_equals_pulled_from_the_server(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The two paths on the same server table (the keys that differ by design aside, as for a DuckDB file)."""
    args = ["did", *_server(env, "mpdta"), *MPDTA, "--json"]
    label = (f"{env}:mpdta", "mpdta")
    engine = _json([*args, "--in-engine"], capsys, same_as=label)
    pulled = _json([*args, "--pull"], capsys, same_as=label)
    assert compare_json(pulled, engine, skip=DIFFERS + NOTES, rtol=RTOL) > 200


@pytest.mark.parametrize(("mode", "extra"), [
    ("--in-engine", ["--bootstrap", "199", "--seed", "3"]),
    ("--pull", ["--students", "n_students", "--outcome-sd", "earnings_age19_sd", "--outcome-n", "n_observed_age19",
                "--effect-sizes"]),
], ids=["in-engine-bootstrap", "pulled-students"])
def test_did_shipped_study_equals_the_duckdb_file(env: str, duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                  mode: str, extra: list[str]) -> None:
    args = [*PANEL, "--where", "cohort >= 2011", *extra, mode, "--json"]
    file = _json(["did", str(duck["panel"]), *args], capsys)
    ours = _json(["did", *_server(env, "district_panel"), *args], capsys,
                 same_as=(f"{env}:district_panel", "panel.duckdb:district_panel"))
    assert compare_json(file, ours, skip=(".engine",), rtol=RTOL) > 300
    assert ours["sample_flow"]["steps"][0]["reason"] == "restriction: cohort >= 2011"
    assert ours["sample_flow"]["steps"][0]["excluded"] > 0
    if mode == "--in-engine":
        _check_engine(ours["engine"], "district_panel")
    else:
        assert ours["effect_sizes"][0]["estimate"] is not None


def test_did_automatic_choice_above_the_pull_limit(env: str, duck: dict[str, Path],
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither flag, the table above --max-rows-pulled: computed in PostgreSQL with the note, no row pulled; the
    object is the DuckDB file's."""
    def refuse(self: TableSource, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a row was pulled")

    args = [*PANEL, "--max-rows-pulled", "100", "--json"]
    file = _json(["did", str(duck["panel"]), *args], capsys)
    monkeypatch.setattr(TableSource, "pull", refuse)
    ours = _json(["did", *_server(env, "district_panel"), *args], capsys,
                 same_as=(f"{env}:district_panel", "panel.duckdb:district_panel"))
    assert ours["engine"]["mode"] == "automatic"
    assert "table 'district_panel' has " in ours["engine"]["note"] and "more than the 100" in ours["engine"]["note"]
    assert compare_json(file, ours, skip=(".engine",), rtol=RTOL) > 300
    _check_engine(ours["engine"], "district_panel")


# -- cteimpact rd -------------------------------------------------------------------------------------------------

def _rd_pair(env: str, duck: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str]
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    file = _json(["rd", str(duck["students"]), *args, "--json"], capsys)
    ours = _json(["rd", *_server(env, "students"), *args, "--json"], capsys,
                 same_as=(f"{env}:students", "students.duckdb:students"))
    return file, ours


@pytest.mark.parametrize(("extra", "fits"), [([], 80), (["--fuzzy", "pathway", "--h", "6"], 170)],
                         ids=["sharp", "fuzzy-h"])
def test_rd_score_cells_equal_the_duckdb_file(env: str, duck: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                              extra: list[str], fits: int) -> None:
    file, ours = _rd_pair(env, duck, capsys, [*STUDY, *CLUSTER, *extra, "--in-engine"])
    assert compare_json(file, ours, skip=(".engine",), rtol=RTOL) >= fits
    _check_engine(ours["engine"], "students")
    assert ours["engine"]["computed_in_engine"] is True and ours["engine"]["unit_rows_pulled"] == 0
    assert ours["engine"]["score_cells"] == file["engine"]["score_cells"] > 0
    assert len(ours["cutoffs"]) == 2 and ours["results"] is None


def test_rd_window_pull_equals_the_duckdb_file(env: str, duck: dict[str, Path], synth_data: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    file, ours = _rd_pair(env, duck, capsys, [*STUDY, *CLUSTER, "--fuzzy", "pathway", "--h", "5,7", "--b", "8,6",
                                              "--window-pull"])
    assert compare_json(file, ours, skip=(".engine",), rtol=RTOL) >= 170
    _check_engine(ours["engine"], "students")
    x = _study_frame(synth_data).eval("rubric_score - cutoff")
    inside = int((((x < 0) & (-x <= 8)) | ((x >= 0) & (x <= 7))).sum())
    assert ours["engine"]["rows_pulled"] == file["engine"]["rows_pulled"] == inside
    assert ours["engine"]["window"] == file["engine"]["window"]


def test_rd_pulled_equals_the_duckdb_file(env: str, duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    file, ours = _rd_pair(env, duck, capsys, [*STUDY, *CLUSTER, "--h", "6", "--pull"])
    assert compare_json(file, ours, rtol=RTOL) > 200
    assert "engine" not in ours and ours["results"] is not None
    assert ours["sample_flow"]["rows_read"] == 30386 and 0 < ours["sample_flow"]["rows_used"] < 30386


@pytest.mark.parametrize(("extra", "mode"), [([], "automatic"), (["--h", "3", "--masspoints", "off"], "window")],
                         ids=["score-cells", "window"])
def test_rd_automatic_choice_equals_the_duckdb_file(env: str, duck: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str], extra: list[str],
                                                    mode: str) -> None:
    """Above --max-rows-pulled the command chooses, on the server as on the file: the score cells (a discrete
    score), or the rows within the bandwidths (options the cells do not compute)."""
    file, ours = _rd_pair(env, duck, capsys, [*STUDY, *CLUSTER, *extra, "--max-rows-pulled", "5000"])
    assert compare_json(file, ours, skip=(".engine",), rtol=RTOL) >= 80
    _check_engine(ours["engine"], "students")
    assert ours["engine"]["mode"] == mode and ours["engine"]["note"] == file["engine"]["note"]
    assert ours["notes"][-1] == ours["engine"]["note"]


# -- bad input: one line, exit code 2 -----------------------------------------------------------------------------

def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(args, capsys)
    line = one_line_error(code, err)
    assert out == "" and PASSWORD not in err
    return line


@pytest.mark.parametrize("command", [["did", *MPDTA], ["rd", *STUDY]], ids=["did", "rd"])
@pytest.mark.parametrize(("given", "expected"), [
    (["--backend", "postgres", "--table", "mpdta"], "cteimpact: error: --backend postgres needs --connection: the "
     "server's Ibis URL, or env:NAME to read it from the environment variable NAME"),
    (["--backend", "postgres", "--connection", f"env:{ENV}"], "cteimpact: error: --backend postgres needs --table: "
     "the table to read on the server"),
    (["--connection", f"postgres://analyst:{PASSWORD}@db.example/cte"], "cteimpact: error: --connection "
     "'postgres://analyst:***@db.example/cte' needs --backend to say which engine it reaches (a DuckDB database file "
     "is given as DATA, without --connection)"),
    ([], "cteimpact: error: give DATA (a CSV, Parquet or DuckDB file), or --backend with --connection and --table to "
         "read a table in an engine"),
])
def test_incomplete_engine_options(command: list[str], given: list[str], expected: str,
                                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, f"postgres://analyst:{PASSWORD}@db.example/cte")
    assert _error([command[0], *given, *command[1:]], capsys) == expected


@pytest.mark.parametrize("command", [["did", *MPDTA], ["rd", *STUDY]], ids=["did", "rd"])
def test_data_file_with_a_server_backend(command: list[str], duck: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    line = _error([command[0], str(duck["students"]), "--backend", "postgres", "--connection", "env:X", "--table",
                   "students", *command[1:]], capsys)
    assert line == ("cteimpact: error: --backend postgres reads the table --table names on the server, not a file: "
                    "leave DATA ('students.duckdb') out")


@pytest.mark.parametrize("command", [["did", *MPDTA], ["rd", *STUDY]], ids=["did", "rd"])
@pytest.mark.parametrize("backend", [[], ["--backend", "duckdb"]], ids=["no-backend", "backend-duckdb"])
def test_connection_with_a_duckdb_file(command: list[str], backend: list[str], duck: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    line = _error([command[0], str(duck["students"]), *backend, "--connection", str(duck["both"]), *command[1:]],
                  capsys)
    assert line == ("cteimpact: error: --backend duckdb reads one database file: give it as DATA or as --connection, "
                    "not both" if backend else
                    f"cteimpact: error: --connection '{duck['both']}' needs --backend to say which engine it reaches "
                    "(a DuckDB database file is given as DATA, without --connection)")


def test_duckdb_file_as_connection(duck: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """``--backend duckdb --connection FILE.duckdb`` (as ``cteimpact run`` takes it) reads the file as DATA does."""
    args = [*STUDY, *CLUSTER, "--in-engine", "--json"]
    file = _json(["rd", str(duck["students"]), *args], capsys)
    ours = _json(["rd", "--backend", "duckdb", "--connection", str(duck["students"]), *args], capsys)
    assert compare_json(file, ours, rtol=0.0) >= 80


@pytest.mark.parametrize("command", [["did", *MPDTA, "--in-engine"], ["rd", *STUDY, "--in-engine"],
                                     ["rd", *STUDY, "--pull"]], ids=["did", "rd-in-engine", "rd-pull"])
def test_unreachable_server(command: list[str], postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    socket = postgres_url.split("host=", 1)[1].split("&", 1)[0]
    wrong = postgres_url.replace("postgres@", f"analyst:{PASSWORD}@").replace(socket, str(tmp_path / "no-server"))
    monkeypatch.setenv(ENV, wrong)
    line = _error([command[0], "--backend", "postgres", "--connection", f"env:{ENV}", "--table", "mpdta",
                   *command[1:]], capsys)
    assert line.startswith("cteimpact: error: cannot connect to postgres at 'postgres://analyst:***@/cteimpact?")
    assert "no-server" in line


def test_password_on_the_command_line_is_never_shown(server: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The connection string itself on the command line (not recommended: env:NAME keeps it out of the shell's
    history): the password is in no message, the JSON object or the --output file."""
    output = tmp_path / "did.json"
    code, out, err = run_cli(["did", "--backend", "postgres", "--connection", server, "--table", "mpdta", *MPDTA,
                              "--in-engine", "--json", "--output", str(output)], capsys)
    assert code == 0, err
    written = output.read_text(encoding="utf-8")
    assert PASSWORD not in out + err + written
    assert f"{redact(server)}:mpdta" in written and ":***@" in written
    code, out, err = run_cli(["did", "--backend", "postgres", "--connection", server, "--table", "mpdtas", *MPDTA],
                             capsys)
    assert "did you mean 'mpdta'?" in one_line_error(code, err) and PASSWORD not in out + err


@pytest.mark.parametrize("command", [["did", *MPDTA, "--in-engine"], ["did", *MPDTA, "--pull"],
                                     ["rd", *STUDY, "--in-engine"], ["rd", *STUDY, "--pull"]],
                         ids=["did-in-engine", "did-pull", "rd-in-engine", "rd-pull"])
def test_missing_table(command: list[str], env: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error([command[0], *_server(env, "student"), *command[1:]], capsys)
    assert line.startswith(f"cteimpact: error: table 'student' is not in '{env}' (postgres); did you mean "
                           "'students'?")


@pytest.mark.parametrize(("command", "column"), [
    (["did", *MPDTA, "--in-engine"], "lemp"), (["did", *MPDTA, "--pull"], "lemp"),
    (["rd", *STUDY, "--in-engine"], "dropout"), (["rd", *STUDY, "--pull"], "dropout"),
    (["rd", *STUDY, "--h", "6", "--window-pull"], "dropout"),
], ids=["did-in-engine", "did-pull", "rd-in-engine", "rd-pull", "rd-window"])
def test_missing_column(command: list[str], column: str, env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The study's table without its outcome column."""
    table = f"{'students' if command[0] == 'rd' else 'mpdta'}_no_{column}"
    line = _error([command[0], *_server(env, table), *command[1:]], capsys)
    assert line.startswith(f"cteimpact: error: column '{column}' "), line
    assert f"is not in table '{table}' (postgres); the data have " in line

"""PostgreSQL as the engine, against a live server: a throwaway cluster started for the session (``postgres_url``,
:mod:`postgres_server`; skipped, with the reason, where no server binaries or no Ibis PostgreSQL driver are found).

* Callaway & Sant'Anna computed in PostgreSQL from sufficient statistics
  (:func:`cteimpact.did.sufficient.table_run.run_in_engine` on a table opened by ``open_table("postgres", URL,
  table)``, what ``cteimpact run`` does above the pull limit) against the in-memory estimator on the same rows read by
  pandas, every number of the JSON object ``cteimpact did --json`` prints within 1e-10
  (``|a - b| <= 1e-10 max(1, |a|)``) but the keys that differ by design (those of ``test_did_in_engine``): never and
  not-yet treated comparisons, all aggregations, clustered standard errors with the multiplier bootstrap, a numeric
  covariate (doubly robust and outcome regression), repeated cross-sections, the TWFE comparison.
* ``cteimpact.did()`` on an Ibis table of the server (the rows pulled) against the pandas path.
* The shipped RD study's fits from score cells computed by PostgreSQL against DuckDB's (``run_rd_in_engine``).
* The table's content digest computed in PostgreSQL (:func:`cteimpact.backends.digest.table_digest`): independent of
  the row order, changed by any change of content.
* Determinism: two computations give the same bytes, and the aggregate queries and pulls run without parallel
  workers even where the planner would choose them.
* ``cteimpact run`` of the shipped DiD study with ``[data] backend = "postgres"`` (``connection_env``), and README's
  command line (``--backend postgres --connection env:CTEIMPACT_DB_URL --table district_panel``): pulled, it equals
  the file-based run; above ``max_rows_pulled``, computed in the engine (the study without the keys that need the
  rows, ``test_pipeline_engine._spec``), it equals the same study's run from the CSV file (``test_pipeline_engine``'s
  comparison), two runs write the same bytes, and ``cteimpact verify`` re-computes it there. The manifest of a run
  computed there records the table's digest, which ``verify`` compares.
* Bad input: an unreachable server, a missing table, a missing column, a text outcome, each one ``cteimpact: error:``
  line (exit code 2, no traceback) naming the backend, table or column; a password in the connection string never
  shown.

The in-engine computations are tested here through the functions ``cteimpact run``, ``cteimpact did`` and ``cteimpact
rd`` call; the two commands with ``--backend postgres`` in :mod:`test_cli_postgres`.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from study_helpers import compare_json, one_line_error, run_cli
from test_did_in_engine import DIFFERS, NOTES

psycopg = pytest.importorskip("psycopg", reason="Ibis's PostgreSQL driver is not installed: pip install "
                                                "'ibis-framework[postgres]'")

from cteimpact.backends import open_table  # noqa: E402
from cteimpact.backends.connection import redact  # noqa: E402
from cteimpact.backends.determinism import POSTGRES_SETTINGS, deterministic_rows, deterministic_sums  # noqa: E402
from cteimpact.cli.did import _json_object  # noqa: E402
from cteimpact.did.estimator import CallawaySantAnna  # noqa: E402
from cteimpact.did.options import DiDEstimation, DiDInference  # noqa: E402
from cteimpact.did.sufficient.table_run import run_in_engine  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"
ENV = "CTEIMPACT_DB_URL"
PASSWORD = "Zq9-not-a-real-password"

MPDTA: dict[str, Any] = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}
WHERE = ("year >= 2004",)


def _connect(url: str) -> Any:
    import ibis

    return ibis.connect(url)


@pytest.fixture(scope="module")
def frames(reference_data: Path, synth_data: Path) -> dict[str, pd.DataFrame]:
    """The tables written to the server, as pandas reads them from the files."""
    csv = reference_data / "mpdta.csv"
    if not csv.is_file():
        pytest.skip(f"mpdta.csv not in {reference_data}")
    mpdta = pd.read_csv(csv)
    state = mpdta.assign(state_code="s" + (mpdta["countyreal"] // 1000).astype(str))
    panel = pd.read_csv(synth_data / "district_panel.csv", dtype={"district_id": str, "consortium_id": str})
    size = state.assign(size=np.select([state["lpop"] < 2.5, state["lpop"] < 4.0], ["small", "medium"], "large"))
    return {"mpdta": mpdta, "mpdta_state": state, "mpdta_size": size, "district_panel": panel,
            "students": pd.read_parquet(synth_data / "students.parquet"),
            "panel_text_outcome": panel.assign(earnings_age19=panel["earnings_age19"].map(repr)),
            "panel_missing_column": panel.drop(columns=["earnings_age19"])}


@pytest.fixture(scope="module")
def pg(postgres_url: str, frames: dict[str, pd.DataFrame]) -> str:
    """The server's URL, its database holding :func:`frames` (each a table of the same name)."""
    con = _connect(postgres_url)
    try:
        for name, frame in frames.items():
            con.create_table(name, frame)
    finally:
        con.disconnect()
    return postgres_url


# -- Callaway & Sant'Anna in the engine ---------------------------------------------------------------------------

CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "never": ("mpdta", {}, {}, {}),
    "notyet": ("mpdta", {"control": "notyet"}, {}, {}),
    "clustered-bootstrap": ("mpdta_state", {}, {"bootstrap": 199, "seed": 11}, {"cluster": "state_code"}),
    "covariate-dr": ("mpdta", {"method": "dr"}, {}, {"covariates": ("lpop",)}),
    "covariate-reg-notyet-universal": ("mpdta_state", {"method": "reg", "control": "notyet",
                                                        "base_period": "universal"}, {},
                                       {"covariates": ("lpop",), "cluster": "state_code"}),
    "cross-sections": ("mpdta", {"panel": False}, {}, {}),
    "text-covariate-ipw": ("mpdta_size", {"method": "ipw"}, {}, {"covariates": ("lpop", "size")}),
    "cross-sections-covariate-dr": ("mpdta_state", {"panel": False, "method": "dr"}, {},
                                    {"covariates": ("lpop",), "cluster": "state_code"}),
}


def _in_engine(url: str, table: str, estimation: DiDEstimation, inference: DiDInference, *,
               cluster: str | None = None, covariates: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    source = open_table("postgres", url, table)
    run = run_in_engine(source, where=WHERE, **MPDTA, cluster=cluster, estimation=estimation, inference=inference,
                        min_e=None, max_e=None, balance_e=None, twfe=True, covariates=covariates)
    return _json_object(run.result), source.label


def _in_memory(frame: pd.DataFrame, source: str, estimation: DiDEstimation, inference: DiDInference, *,
               cluster: str | None = None, covariates: tuple[str, ...] = ()) -> dict[str, Any]:
    cs = CallawaySantAnna(frame, **MPDTA, cluster=cluster, covariates=covariates, where=WHERE, source=source,
                          estimation=estimation)
    return _json_object(cs.fit(inference, twfe=True))


@pytest.mark.parametrize("case", list(CASES))
def test_in_engine_equals_in_memory(pg: str, frames: dict[str, pd.DataFrame], case: str) -> None:
    table, est, inf, columns = CASES[case]
    estimation, inference = DiDEstimation(**est), DiDInference(**inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine, label = _in_engine(pg, table, estimation, inference, **columns)
        memory = _in_memory(frames[table], label, estimation, inference, **columns)
    assert label.endswith(f":{table}") and "postgres://" in label
    assert compare_json(memory, engine, skip=DIFFERS + NOTES, rtol=1e-10) > 200
    assert len(memory["notes"]) == len(engine["notes"])
    assert engine["options"]["backend"] == "sufficient statistics"
    assert set(engine["aggregates"]) >= {"simple", "dynamic", "group", "calendar"}
    assert engine["twfe"] is not None and math.isfinite(engine["twfe"]["estimate"])
    if inf:
        assert engine["results"]["details"]["bootstrap"] is not None
    if "covariates" in columns:
        assert engine["options"]["covariates"] == memory["options"]["covariates"]
        assert engine["options"]["covariates"][0] == "lpop"


@pytest.mark.parametrize(("panel", "unit"), [(True, "unit-periods"), (False, "observations")],
                         ids=["panel", "cross-sections"])
def test_api_on_a_postgres_table_equals_pandas(pg: str, frames: dict[str, pd.DataFrame], panel: bool,
                                               unit: str) -> None:
    """``cteimpact.did()`` on an Ibis table of the server: ``where`` counted there, the columns used pulled; the
    sample flow counts what the pandas path (and ``cteimpact did``) counts."""
    import cteimpact

    con = _connect(pg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = cteimpact.did(con.table("mpdta_state"), **MPDTA, where=list(WHERE), cluster="state_code",
                                 panel=panel)
            theirs = cteimpact.did(frames["mpdta_state"], **MPDTA, where=list(WHERE), cluster="state_code",
                                   panel=panel)
    finally:
        con.disconnect()
    a, b = _json_object(theirs), _json_object(ours)
    assert compare_json(a, b, skip=(".sample_flow.source", ".results.sample_flow.source"), rtol=1e-10) > 200
    assert b["sample_flow"]["unit"] == unit
    assert b["sample_flow"]["rows_read"] == len(frames["mpdta_state"])
    assert b["sample_flow"]["steps"][0]["excluded"] == int((frames["mpdta_state"]["year"] < 2004).sum())


# -- regression discontinuity from score cells ----------------------------------------------------------------------

def test_rd_score_cells_in_postgres_equal_duckdb(pg: str, duck: dict[str, Path]) -> None:
    """The shipped RD study's fit from score cells (what ``cteimpact rd DATA.duckdb --in-engine`` computes, there from
    DuckDB only) computed by PostgreSQL: every number of each outcome's fit and each cutoff's fit equal to DuckDB's
    to 1e-10 (DuckDB's equals rdrobust on the rows: ``test_rd_in_engine``), the sample flow's counts equal."""
    from dataclasses import fields, is_dataclass

    from cteimpact.cli.rd_engine import run_rd_in_engine
    from cteimpact.rd.options import RDOptions

    args: dict[str, Any] = {"outcomes": ["dropout", "graduated"], "running": "rubric_score", "cutoff": None,
                            "cutoff_column": "cutoff", "cluster": "consortium_id", "missing_cluster": "error",
                            "where": ["cohort >= award_year"], "options": RDOptions()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_rd_in_engine(open_table("postgres", pg, "students"), **args)
        theirs = run_rd_in_engine(open_table("duckdb", str(duck["students"]), "students"), **args)

    def plain(value: Any) -> Any:  # fits (dataclasses) and their arrays as JSON
        if is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name) for f in fields(value)}
        return value.tolist() if hasattr(value, "tolist") else str(value)

    def tree(run: Any) -> dict[str, Any]:
        return json.loads(json.dumps({"fits": run.fits, "cutoffs": run.cutoff_fits}, default=plain))

    assert compare_json(tree(theirs), tree(ours), rtol=1e-10) > 200
    for outcome in args["outcomes"]:
        a, b = theirs.flows[outcome].to_dict(), ours.flows[outcome].to_dict()
        assert [st["excluded"] for st in a["steps"]] == [st["excluded"] for st in b["steps"]]
        assert a["rows_read"] == b["rows_read"] > 0


# -- determinism --------------------------------------------------------------------------------------------------

def test_two_in_engine_runs_give_the_same_bytes(pg: str) -> None:
    estimation, inference = DiDEstimation(method="dr"), DiDInference()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [_in_engine(pg, "mpdta_state", estimation, inference, cluster="state_code", covariates=("lpop",))[0]
                for _ in range(2)]
    first, second = (json.dumps(r, sort_keys=True, allow_nan=True).encode() for r in runs)
    assert first == second


def _plan(con: Any, expr: Any) -> str:
    with con.raw_sql("EXPLAIN " + con.compile(expr)) as cursor:
        return "\n".join(row[0] for row in cursor.fetchall())


def _setting(con: Any, name: str) -> str:
    with con.raw_sql("SELECT current_setting(%s)", params=(name,)) as cursor:
        return str(cursor.fetchone()[0])


@pytest.mark.parametrize("block", [deterministic_sums, deterministic_rows], ids=["sums", "rows"])
def test_no_parallel_workers_inside_the_blocks(pg: str, block: Any) -> None:
    """Parallel plans made free (so the planner picks them for a small table): inside the block the plan has no
    Gather node and the settings are the deterministic ones; after it, the session's own settings are back."""
    con = _connect(pg)
    try:
        for name, value in {"parallel_setup_cost": "0", "parallel_tuple_cost": "0", "min_parallel_table_scan_size":
                            "0", "max_parallel_workers_per_gather": "2"}.items():
            con.raw_sql(f"SET {name} = {value}").close()
        t = con.table("district_panel")
        expr = t.group_by("cohort").aggregate(s=t.earnings_age19.sum()) if block is deterministic_sums else \
            t.filter(t.cohort > 0).select("district_id", "earnings_age19")
        assert "Gather" in _plan(con, expr)  # the test can fail: parallel workers would run
        with block(expr):
            assert "Gather" not in _plan(con, expr)
            assert {n: _setting(con, n) for n in POSTGRES_SETTINGS} == dict(POSTGRES_SETTINGS)
        assert "Gather" in _plan(con, expr)
        assert (_setting(con, "max_parallel_workers_per_gather"), _setting(con, "synchronize_seqscans")) == ("2",
                                                                                                            "on")
    finally:
        con.disconnect()


# -- the table's digest in the engine -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digest_tables(pg: str) -> dict[str, str | None]:
    """The digest of small tables that differ from ``base`` in one respect each."""
    from cteimpact.backends.digest import table_digest

    base = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.1, 0.2, 0.3, float("nan")], "name": ["a", "b\x1fc", None,
                                                                                         "d\\e"]})
    variants = {
        "base": base,
        "reversed": base.iloc[::-1].reset_index(drop=True),
        "value": base.assign(y=[0.1, 0.2, 0.3 + 2e-16, float("nan")]),
        "missing": base.assign(name=["a", "b\x1fc", "", "d\\e"]),
        "separator": base.assign(name=["a", "b", "\x1fc", "d\\e"]),
        "row": pd.concat([base, base.iloc[:1]], ignore_index=True),
        "column": base.assign(extra=0),
        "type": base.assign(id=base["id"].astype(float)),
    }
    con = _connect(pg)
    try:
        for name, frame in variants.items():
            con.create_table(f"digest_{name}", frame)
    finally:
        con.disconnect()
    return {name: table_digest(open_table("postgres", pg, f"digest_{name}")) for name in variants}


def test_table_digest_ignores_row_order(digest_tables: dict[str, str | None]) -> None:
    assert digest_tables["base"] is not None and len(digest_tables["base"]) == 64
    assert digest_tables["reversed"] == digest_tables["base"]


@pytest.mark.parametrize("variant", ["value", "missing", "separator", "row", "column", "type"])
def test_table_digest_changes_with_the_content(digest_tables: dict[str, str | None], variant: str) -> None:
    assert digest_tables[variant] != digest_tables["base"]


def test_table_digest_is_postgres_only(duck: dict[str, Path]) -> None:
    from cteimpact.backends.digest import table_digest

    assert table_digest(open_table("duckdb", str(duck["panel"]))) is None


# -- cteimpact run ------------------------------------------------------------------------------------------------

def _data_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``test_pipeline_backends._differences`` (every number within 1e-10, every other value equal, what names the
    data aside) but the specification's hash: the two specifications differ in their ``[data]`` table."""
    from test_pipeline_backends import _differences

    return [d for d in _differences(a, b) if not d.startswith(".spec_sha256: ")]


def _postgres_spec(text: str, folder: Path, table: str = "district_panel") -> Path:
    """``text`` (a DiD specification reading district_panel.csv) reading the server's ``table`` instead."""
    if not (folder / "contracts").exists():
        shutil.copytree(REPO / "analyses" / "contracts", folder / "contracts")
    assert 'path = "district_panel.csv"' in text
    spec = folder / f"{table}.toml"
    spec.write_text(text.replace('path = "district_panel.csv"',
                                 f'backend = "postgres"\ntable = "{table}"\nconnection_env = "{ENV}"'),
                    encoding="utf-8")
    return spec


@pytest.mark.slow
def test_shipped_did_study_pulled_from_postgres(pg: str, tmp_path: Path, did_study_run: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from cteimpact.pipeline.run import run_analysis
    from cteimpact.pipeline.verify import verify_run

    url = pg.replace("postgres@", f"postgres:{PASSWORD}@")  # trust authentication: the server asks for none
    monkeypatch.setenv(ENV, url)
    spec = _postgres_spec(DID_SPEC.read_text(encoding="utf-8"), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_analysis(spec, tmp_path / "run", progress=False)
        verdict = verify_run(ours.out_dir, progress=False)
    assert _data_differences(did_study_run.results, ours.results) == []
    entry = ours.manifest["inputs"][0]
    assert (entry["backend"], entry["table"], entry["path"]) == ("postgres", "district_panel", None)
    assert entry["rows_pulled"] == entry["records"] > 0
    assert entry["sha256"] == entry["rows_sha256"] and len(entry["rows_sha256"]) == 64
    assert entry["name"] == f"{redact(url)}:district_panel"  # the URL without its password names the data
    assert ":***@" in entry["name"]
    written = [p.read_text(encoding="utf-8", errors="replace") for p in ours.out_dir.rglob("*") if p.is_file()]
    assert len(written) > 5 and not [t for t in written if PASSWORD in t]
    assert verdict.findings == () and verdict.ok


@pytest.mark.slow
def test_readme_command_line_runs_the_shipped_study_from_postgres(pg: str, tmp_path: Path, did_study_run: Any,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """README's command: ``cteimpact run analyses/pathways-earnings-did.toml --backend postgres --connection
    env:CTEIMPACT_DB_URL --table district_panel --out runs/did``."""
    from test_pipeline_backends import _differences

    monkeypatch.setenv(ENV, pg)
    out = tmp_path / "runs" / "did"
    code, _, err = run_cli(["run", str(DID_SPEC), "--backend", "postgres", "--connection", f"env:{ENV}", "--table",
                            "district_panel", "--out", str(out)], capsys)
    assert code == 0, err
    ours = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert _differences(did_study_run.results, ours) == []
    entry = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["inputs"][0]
    assert (entry["backend"], entry["table"], entry["rows_pulled"]) == ("postgres", "district_panel",
                                                                        entry["records"])


@pytest.fixture(scope="module")
def engine_runs(pg: str, tmp_path_factory: pytest.TempPathFactory, synth_data: Path) -> dict[str, Any]:
    """The shipped DiD study without the keys that need the rows (``test_pipeline_engine._spec``): pulled from the
    CSV file, and from PostgreSQL above the pull limit (computed in the engine; no row pulled)."""
    from test_pipeline_engine import _spec

    from cteimpact.backends.source import TableSource
    from cteimpact.pipeline.run import run_analysis

    base = tmp_path_factory.mktemp("pg-engine")
    file_spec = _spec(base)
    spec = _postgres_spec(file_spec.read_text(encoding="utf-8"), base)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setenv(ENV, pg)
        pulled = run_analysis(file_spec, base / "file", data=synth_data / "district_panel.csv", progress=False)
        from_server = run_analysis(spec, base / "pulled", progress=False)

        def refuse(self: TableSource, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a row was pulled")

        mp.setattr(TableSource, "pull", refuse)
        engine = [run_analysis(spec, base / f"engine{k}", progress=False, max_rows_pulled=100) for k in (1, 2)]
    return {"file": pulled, "pulled": from_server, "engine": engine, "spec": spec}


@pytest.mark.slow
def test_run_in_postgres_equals_the_file_run(engine_runs: dict[str, Any]) -> None:
    from test_pipeline_engine import DIFFERS as RUN_DIFFERS
    from test_pipeline_engine import OPTIMISED

    file_run, engine = engine_runs["file"].results, engine_runs["engine"][0].results
    assert compare_json(file_run, engine, skip=(*RUN_DIFFERS, ".spec_sha256"), rtol=1e-10,
                        rtol_for=dict.fromkeys(OPTIMISED, 1e-6)) > 500
    record = engine["design"]["extra"]["engine"]
    assert (record["computed_in_engine"], record["backend"], record["unit_rows_pulled"]) == (True, "postgres", 0)
    assert engine["pricing"]["expected_payment"] == pytest.approx(file_run["pricing"]["expected_payment"], rel=1e-9)
    steps = engine["design"]["sample_flow"]["steps"]
    assert [s["excluded"] for s in steps] == [s["excluded"] for s in file_run["design"]["sample_flow"]["steps"]]


@pytest.mark.slow
def test_engine_run_records_the_table_digest(engine_runs: dict[str, Any], pg: str) -> None:
    """Nothing pulled, so no ``rows_sha256``: the manifest records the digest computed in PostgreSQL instead."""
    from cteimpact.backends.digest import table_digest

    entries = [r.manifest["inputs"][0] for r in engine_runs["engine"]]
    for entry in entries:
        assert (entry["rows_pulled"], entry["rows_sha256"], entry["path"]) == (0, None, None)
        assert entry["sha256"] == entry["table_digest"] == table_digest(open_table("postgres", pg, "district_panel"))
    assert len(entries[0]["table_digest"]) == 64
    assert "table_digest" not in engine_runs["pulled"].manifest["inputs"][0]


@pytest.mark.slow
def test_verify_notices_a_changed_table_by_its_digest(pg: str, frames: dict[str, pd.DataFrame], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A column the study does not read changes after the run: verify finds the table's digest changed. (The
    estimates move in their last digits only: PostgreSQL writes updated rows at the end of the table, so the sums add
    in another order.)"""
    from test_pipeline_engine import _spec

    from cteimpact.pipeline.run import run_analysis
    from cteimpact.pipeline.verify import verify_run

    con = _connect(pg)
    try:
        con.create_table("panel_changed_later", frames["district_panel"])
        monkeypatch.setenv(ENV, pg)
        spec = _postgres_spec(_spec(tmp_path).read_text(encoding="utf-8"), tmp_path, "panel_changed_later")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = run_analysis(spec, tmp_path / "run", progress=False, max_rows_pulled=100)
            con.raw_sql("UPDATE panel_changed_later SET dropout_sd = dropout_sd + 1e-9 WHERE cohort = "
                        "(SELECT MAX(cohort) FROM panel_changed_later)").close()
            verdict = verify_run(run.out_dir, progress=False)
    finally:
        con.disconnect()
    assert "inputs.data.table_digest" in [f.subject for f in verdict.findings]
    assert not verdict.ok
    for row in verdict.comparison.mismatches:  # rounding only (HonestDiD's optimised bounds: 1e-6, as elsewhere)
        assert isinstance(row.recorded, float) and isinstance(row.recomputed, float), row
        rtol = 1e-6 if row.path.startswith("design.extra.honest") else 1e-10
        assert abs(row.recorded - row.recomputed) <= rtol * max(1.0, abs(row.recorded)), row


@pytest.mark.slow
def test_run_pulled_from_postgres_equals_the_file_run(engine_runs: dict[str, Any]) -> None:
    assert _data_differences(engine_runs["file"].results, engine_runs["pulled"].results) == []
    assert engine_runs["pulled"].manifest["inputs"][0]["rows_pulled"] > 100


@pytest.mark.slow
def test_two_runs_in_postgres_write_the_same_results(engine_runs: dict[str, Any]) -> None:
    first, second = (r.out_dir / "results.json" for r in engine_runs["engine"])
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.slow
def test_verify_re_computes_in_postgres(engine_runs: dict[str, Any], pg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cteimpact.pipeline.verify import verify_run

    monkeypatch.setenv(ENV, pg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = verify_run(engine_runs["engine"][0].out_dir, progress=False)
    assert verdict.findings == ()
    assert verdict.comparison.mismatches == ()
    assert verdict.comparison.n_compared > 500
    assert verdict.ok


# -- bad input: one line, exit code 2 -----------------------------------------------------------------------------

def _run_cli(spec_folder: Path, url: str, table: str, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch, *extra: str) -> str:
    from test_pipeline_engine import _spec

    monkeypatch.setenv(ENV, url)
    spec = _spec(spec_folder)
    code, _, err = run_cli(["run", str(spec), "--backend", "postgres", "--connection", f"env:{ENV}", "--table",
                            table, "--out", str(spec_folder / "run"), *extra], capsys)
    line = one_line_error(code, err)
    assert not (spec_folder / "run").exists()
    return line


def test_unreachable_server_is_one_line_without_the_password(pg: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    socket = pg.split("host=", 1)[1].split("&", 1)[0]
    wrong = pg.replace("postgres@", "analyst:s3cr3t-pw@").replace(socket, str(tmp_path / "no-server"))
    line = _run_cli(tmp_path, wrong, "district_panel", capsys, monkeypatch)
    assert line.startswith("cteimpact: error: cannot connect to postgres at 'postgres://analyst:***@/cteimpact?")
    assert "no-server" in line
    assert "s3cr3t" not in line and "s3cr3t" not in capsys.readouterr().err


def test_wrong_port_is_one_line(pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    line = _run_cli(tmp_path, pg.replace("port=5432", "port=5499"), "district_panel", capsys, monkeypatch)
    assert "cannot connect to postgres at" in line and ".s.PGSQL.5499" in line


def test_missing_table_is_one_line(pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    line = _run_cli(tmp_path, pg, "district_panels", capsys, monkeypatch)
    assert "table 'district_panels' is not in" in line
    assert "(postgres); did you mean 'district_panel'?" in line


@pytest.mark.parametrize("limit", [(), ("--max-rows-pulled", "100")], ids=["pulled", "in-engine"])
def test_missing_column_is_one_line(pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch, limit: tuple[str, ...]) -> None:
    line = _run_cli(tmp_path, pg, "panel_missing_column", capsys, monkeypatch, *limit)
    assert "'earnings_age19'" in line and "panel_missing_column" in line and "postgres" in line


@pytest.mark.parametrize("limit", [(), ("--max-rows-pulled", "100")], ids=["pulled", "in-engine"])
def test_text_outcome_is_one_line(pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch, limit: tuple[str, ...]) -> None:
    line = _run_cli(tmp_path, pg, "panel_text_outcome", capsys, monkeypatch, *limit)
    assert "column 'earnings_age19' of table 'panel_text_outcome' (postgres) holds string values" in line


def test_text_outcome_in_engine_names_backend_table_and_column(pg: str) -> None:
    from cteimpact.backends.errors import BackendTypeError

    source = open_table("postgres", pg, "panel_text_outcome")
    with pytest.raises(BackendTypeError, match=r"column 'earnings_age19' of table 'panel_text_outcome' \(postgres\) "
                                               r"holds string values, which cannot be summed or averaged"):
        run_in_engine(source, where=(), outcome="earnings_age19", unit="district_id", time="cohort",
                      cohort="first_treated", cluster=None, estimation=DiDEstimation(), inference=DiDInference(),
                      min_e=None, max_e=None, balance_e=None, twfe=True)

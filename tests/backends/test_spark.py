"""Spark in local mode as the engine (PySpark through Ibis): restrictions evaluated by Spark keep the rows pandas
keeps, and the shipped studies read through Spark (a Parquet file, a table of Spark's catalog) give the numbers of
the file path, by ``cteimpact run`` and by ``cteimpact did`` and ``cteimpact rd`` with ``--backend spark``. Skipped,
with the reason, where PySpark or a Java runtime is absent (``pip install 'cteimpact[spark]'`` and a Java 17+
runtime)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

try:
    import pyspark  # noqa: F401
except ImportError:
    pytest.skip("PySpark is not installed (pip install 'cteimpact[spark]'): the Spark backend is not tested",
                allow_module_level=True)
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark cannot start, the Spark backend is not tested",
                allow_module_level=True)

from study_helpers import compare_json, run_cli
from test_pipeline_backends import _differences
from test_restrictions import EXPRESSIONS

from cteimpact.backends import connect, from_ibis
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.errors import RunDirectoryError
from cteimpact.pipeline.run import run_analysis
from cteimpact.pipeline.verify import verify_run

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # a Spark session starts in about 20 s


@pytest.fixture(scope="module")
def spark(synth_data: Path):
    """One local Spark session for the module, with the synthetic students as a temporary view ``students``."""
    con = connect("spark")
    con.read_parquet(str(synth_data / "students.parquet"), table_name="students")
    return con


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_spark_keeps_the_rows_pandas_keeps(spark, synth_data: Path, expression: str) -> None:
    frame = pd.read_parquet(synth_data / "students.parquet")
    expected = evaluate_restriction(frame, expression)
    source = from_ibis(spark.table("students"))
    assert source.backend == "spark"
    table, flow = source.restrict([expression])
    assert flow.rows_read == len(frame)
    assert flow.rows_used == int(expected.sum())
    ids = source.pull(["student_id"], table=table, why="a test")["student_id"]
    assert sorted(ids) == sorted(frame.loc[expected, "student_id"])


@pytest.mark.slow
def test_did_study_from_a_parquet_file_read_by_spark(spark, tmp_path: Path, synth_data: Path, did_study_run) -> None:
    panel = pd.read_csv(synth_data / "district_panel.csv", dtype={"district_id": str, "consortium_id": str})
    path = tmp_path / "district_panel.parquet"
    panel.to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_analysis(REPO / "analyses" / "pathways-earnings-did.toml", tmp_path / "run", data=path,
                            backend="spark", progress=False)
        verdict = verify_run(ours.out_dir, progress=False)  # the manifest says Spark read the file: so does verify
    assert _differences(did_study_run.results, ours.results) == []
    assert ours.manifest["inputs"][0]["backend"] == "spark"
    assert verdict.findings == ()
    assert verdict.ok


@pytest.mark.slow
def test_rd_study_from_a_spark_catalog_table(spark, tmp_path: Path, rd_study_run) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_analysis(REPO / "analyses" / "ccpt-dropout-rd.toml", tmp_path / "run", backend="spark",
                            table="students", progress=False)
    assert _differences(rd_study_run.results, ours.results) == []
    flow = ours.results["sample_flow"]
    assert flow["source"] == "spark:students"
    assert ours.manifest["inputs"][0]["rows_pulled"] == flow["rows_used"]
    assert np.isfinite(ours.results["design"]["estimates"][0]["estimate"])
    # the table was named on the command line only: verify says how to name it where it can find it
    with pytest.raises(RunDirectoryError, match=r"read table 'students' from backend 'spark' named on its command "
                                                r"line; to verify it, name them in the specification"):
        verify_run(ours.out_dir, progress=False)


@pytest.mark.slow
def test_specification_naming_a_catalog_table_runs_and_verifies(spark, tmp_path: Path, rd_study_run) -> None:
    """[data] backend = "spark" with a table and no file: the manifest records no data file, only the rows' hash,
    which verify compares after reading the table again."""
    text = (REPO / "analyses" / "ccpt-dropout-rd.toml").read_text(encoding="utf-8")
    text = text.replace('path = "students.parquet"', 'backend = "spark"\ntable = "students"')
    text = text.replace("[design.diagnostics]\nenabled = true", "[design.diagnostics]\nenabled = false")
    text = text.replace("[design.local_randomization]\nenabled = true", "[design.local_randomization]\nenabled = false")
    shutil.copytree(REPO / "analyses" / "contracts", tmp_path / "contracts")
    spec = tmp_path / "study.toml"
    spec.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_analysis(spec, tmp_path / "run", progress=False)
        verdict = verify_run(ours.out_dir, progress=False)
    entry = ours.manifest["inputs"][0]
    assert entry["path"] is None and entry["bytes"] is None
    assert entry["sha256"] == entry["rows_sha256"]
    expected = {e["label"]: e["estimate"] for e in rd_study_run.results["design"]["estimates"]}
    for e in ours.results["design"]["estimates"]:
        if e["label"] in expected and e["estimate"] is not None:
            assert e["estimate"] == pytest.approx(expected[e["label"]], rel=1e-10, abs=1e-10), e["label"]
    assert verdict.findings == ()
    assert verdict.ok


# -- cteimpact did and cteimpact rd with --backend spark ------------------------------------------------------------

def _cli_json(args: list[str], capsys: pytest.CaptureFixture[str], label: tuple[str, str] | None = None
              ) -> dict[str, Any]:
    """The command's JSON object; ``label`` (Spark's, the DuckDB file's): the data's name as the sample flows'
    ``source``, replaced by the file's."""
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    found: list[str] = []

    def rename(tree: Any) -> Any:
        if isinstance(tree, dict):
            if label is not None and tree.get("source") == label[0]:
                found.append(label[0])
                tree = {**tree, "source": label[1]}
            return {k: rename(v) for k, v in tree.items()}
        return [rename(v) for v in tree] if isinstance(tree, list) else tree

    obj = rename(json.loads(out))
    assert bool(found) is (label is not None)
    return dict(obj)


@pytest.mark.slow
def test_did_on_a_parquet_file_read_by_spark_equals_the_duckdb_file(spark, tmp_path: Path, reference_data: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``cteimpact did --backend spark mpdta.parquet --in-engine``: Callaway & Sant'Anna from sufficient statistics
    computed by Spark, every number within 1e-10 of the DuckDB file's (Spark sums in its own order: rounding)."""
    from study_helpers import write_duckdb
    from test_did_in_engine import MPDTA

    csv = reference_data / "mpdta.csv"
    if not csv.is_file():
        pytest.skip(f"mpdta.csv not in {reference_data}")
    pd.read_csv(csv).to_parquet(tmp_path / "mpdta.parquet")
    duck = write_duckdb(tmp_path / "mpdta.duckdb", {"mpdta": f"SELECT * FROM read_csv('{csv}')"})
    args = [*MPDTA, "--control", "notyet", "--in-engine", "--json"]
    file = _cli_json(["did", str(duck), *args], capsys)
    ours = _cli_json(["did", "--backend", "spark", str(tmp_path / "mpdta.parquet"), *args], capsys,
                     label=("mpdta.parquet", "mpdta.duckdb:mpdta"))
    assert compare_json(file, ours, skip=(".engine",), rtol=1e-10) > 200
    assert (ours["engine"]["backend"], ours["engine"]["table"]) == ("spark", "mpdta.parquet")
    assert ours["engine"]["rows_fetched"] == file["engine"]["rows_fetched"]


@pytest.mark.slow
def test_rd_on_a_spark_catalog_table_equals_the_duckdb_file(spark, duck: dict[str, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``cteimpact rd --backend spark --table students --in-engine``: the shipped RD study's fits from score cells
    computed by Spark, every number within 1e-10 of the DuckDB file's."""
    from test_rd_window import CLUSTER, STUDY

    args = [*STUDY, *CLUSTER, "--in-engine", "--json"]
    file = _cli_json(["rd", str(duck["students"]), *args], capsys)
    ours = _cli_json(["rd", "--backend", "spark", "--table", "students", *args], capsys,
                     label=("spark:students", "students.duckdb:students"))
    assert compare_json(file, ours, skip=(".engine",), rtol=1e-10) >= 80
    assert (ours["engine"]["backend"], ours["engine"]["table"]) == ("spark", "students")
    assert ours["engine"]["score_cells"] == file["engine"]["score_cells"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--covariates", "lpop,size", "--method", "ipw"],
                                   ["--no-panel", "--covariates", "lpop,size", "--covariate-reference", "size=medium"]],
                         ids=["text-covariate-panel", "covariates-cross-sections"])
def test_covariates_on_a_parquet_file_read_by_spark_equal_the_duckdb_file(spark, tmp_path: Path,
                                                                         reference_data: Path, extra: list[str],
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A text (categorical) covariate of a balanced panel, and covariates of repeated cross-sections, computed by
    Spark from sufficient statistics: every number within 1e-10 of the DuckDB file's."""
    from study_helpers import write_duckdb
    from test_did_in_engine import MPDTA

    csv = reference_data / "mpdta.csv"
    if not csv.is_file():
        pytest.skip(f"mpdta.csv not in {reference_data}")
    frame = pd.read_csv(csv)
    frame["size"] = np.select([frame["lpop"] < 2.5, frame["lpop"] < 4.0], ["small", "medium"], "large")
    parquet = tmp_path / "mpdta.parquet"
    frame.to_parquet(parquet)
    duck = write_duckdb(tmp_path / "mpdta.duckdb", {"mpdta": f"SELECT * FROM read_parquet('{parquet}')"})
    args = [*MPDTA, *extra, "--in-engine", "--json"]
    file = _cli_json(["did", str(duck), *args], capsys)
    ours = _cli_json(["did", "--backend", "spark", str(parquet), *args], capsys,
                     label=("mpdta.parquet", "mpdta.duckdb:mpdta"))
    assert compare_json(file, ours, skip=(".engine",), rtol=1e-10) > 200
    assert ours["options"]["covariate_coding"] == file["options"]["covariate_coding"] != []

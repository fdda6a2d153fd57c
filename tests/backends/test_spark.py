"""Spark in local mode as the engine (PySpark through Ibis): restrictions evaluated by Spark keep the rows pandas
keeps, and the shipped studies read through Spark (a Parquet file, a table of Spark's catalog) give the numbers of
the file path. Skipped, with the reason, where PySpark or a Java runtime is absent (``pip install 'cteimpact[spark]'``
and a Java 17+ runtime)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

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

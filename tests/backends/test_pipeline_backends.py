"""``cteimpact run`` of the shipped studies against DuckDB files of their data gives the numbers of the file path
(every number of results.json within 1e-10; in fact identical, DuckDB keeping the rows' order), and ``cteimpact
verify`` re-computes such a run and notices changed data."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

from cteimpact.pipeline.run import run_analysis
from cteimpact.pipeline.verify import verify_run

pytestmark = pytest.mark.slow  # whole studies are run and verified

REPO = Path(__file__).resolve().parents[2]
RD_SPEC = REPO / "analyses" / "ccpt-dropout-rd.toml"
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"

# what names the data rather than describing them: each sample flow's source, the data record, and the comparison with
# the synthetic truth (which identifies the data file by its SHA-256, so a DuckDB file of it has none)
def _naming(key: str) -> bool:
    return key.endswith(".source") or key.startswith((".data.", ".truth"))


def _leaves(tree: Any, path: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_leaves(v, f"{path}.{k}"))
        return out
    if isinstance(tree, list):
        out = {}
        for i, v in enumerate(tree):
            out.update(_leaves(v, f"{path}[{i}]"))
        return out
    return {path: tree}


def _differences(a: dict[str, Any], b: dict[str, Any], tol: float = 1e-10) -> list[str]:
    la, lb = _leaves(a), _leaves(b)
    keys = sorted(k for k in set(la) | set(lb) if not _naming(k))
    out = []
    for k in keys:
        x, y = la.get(k, "<absent>"), lb.get(k, "<absent>")
        if isinstance(x, float) and isinstance(y, float):
            if not (x == y or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol * max(1.0, abs(x))):
                out.append(f"{k}: {x!r} != {y!r}")
        elif x != y:
            out.append(f"{k}: {str(x)[:60]!r} != {str(y)[:60]!r}")
    return out


def _count_numbers(tree: Any) -> int:
    return sum(isinstance(v, (int, float)) and not isinstance(v, bool) for v in _leaves(tree).values())


@pytest.fixture(scope="module")
def did_duck_run(tmp_path_factory: pytest.TempPathFactory, duck: dict[str, Path]):
    base = tmp_path_factory.mktemp("did-duck")
    data = base / "panel.duckdb"
    shutil.copy(duck["panel"], data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_analysis(DID_SPEC, base / "run", data=data, progress=False)


def test_did_study_from_duckdb_equals_the_csv_path(did_duck_run, did_study_run) -> None:
    ours, theirs = did_duck_run.results, did_study_run.results
    assert _differences(theirs, ours) == []
    assert _count_numbers(ours["design"]) > 500  # the comparison covers the whole design record
    assert ours["sample_flow"]["source"] == "panel.duckdb:district_panel"
    assert ours["sample_flow"]["rows_read"] == theirs["sample_flow"]["rows_read"]
    assert ours["data"] == {"file": "panel.duckdb", "synthetic": False, "generator": None, "backend": "duckdb",
                            "table": "district_panel"}


def test_did_manifest_records_the_table(did_duck_run) -> None:
    entry = did_duck_run.manifest["inputs"][0]
    assert entry["role"] == "data"
    assert (entry["backend"], entry["table"], entry["name"]) == ("duckdb", "district_panel", "panel.duckdb")
    assert entry["records"] == did_duck_run.results["sample_flow"]["rows_read"]
    assert entry["rows_pulled"] == entry["records"]  # no restriction: every panel row is pulled (small aggregates)
    assert len(entry["rows_sha256"]) == 64


def test_verify_a_duckdb_run(did_duck_run) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = verify_run(did_duck_run.out_dir, progress=False)
    assert verdict.findings == ()
    assert verdict.comparison.mismatches == ()
    assert verdict.ok
    assert verdict.comparison.n_compared > 1000


def test_verify_notices_a_changed_table(did_duck_run, tmp_path: Path, duck: dict[str, Path],
                                        synth_data: Path) -> None:
    import duckdb

    changed = tmp_path / "panel.duckdb"
    con = duckdb.connect(str(changed))
    con.execute(f"CREATE TABLE district_panel AS SELECT * FROM read_csv('{synth_data / 'district_panel.csv'}')")
    con.execute("UPDATE district_panel SET earnings_age19 = earnings_age19 + 1 WHERE cohort = 2019")
    con.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = verify_run(did_duck_run.out_dir, data=changed, progress=False)
    subjects = {(f.kind, f.subject) for f in verdict.findings}
    assert ("input", "data") in subjects
    assert ("manifest", "inputs.data.rows_sha256") in subjects
    assert len(verdict.comparison.mismatches) > 0
    assert not verdict.ok


def test_rd_study_from_duckdb_equals_the_parquet_path(tmp_path: Path, duck: dict[str, Path], rd_study_run) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_analysis(RD_SPEC, tmp_path / "run", data=duck["students"], progress=False)
    theirs = rd_study_run.results
    assert _differences(theirs, ours.results) == []
    flow = ours.results["sample_flow"]
    assert [s["reason"] for s in flow["steps"]] == ["restriction: cohort >= award_year",
                                                     "restriction: cohort <= award_year + 3"]
    assert flow["steps"] == theirs["sample_flow"]["steps"]
    entry = ours.manifest["inputs"][0]
    # only the study sample's rows left the engine, and only the columns the study reads
    assert entry["rows_pulled"] == flow["rows_used"] < flow["rows_read"]
    assert json.loads(json.dumps(entry))["records"] == flow["rows_read"]


def test_large_csv_through_duckdb_equals_pandas_and_verifies(tmp_path: Path, synth_data: Path,
                                                              did_study_run) -> None:
    """The DiD study with its CSV file read through DuckDB (threshold 0 MB): every number of results.json, the
    comparison with the synthetic truth included, equals the pandas path's; the run verifies."""
    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = run_analysis(DID_SPEC, tmp_path / "run", data_root=data, progress=False, duckdb_above_mb=0)
        verdict = verify_run(ours.out_dir, progress=False)
    theirs = did_study_run.results
    assert ours.results["truth"] == theirs["truth"]
    assert ours.results["sample_flow"] == theirs["sample_flow"]
    assert _differences(theirs, ours.results) == []
    assert ours.manifest["inputs"][0]["backend"] == "duckdb"
    assert verdict.findings == ()
    assert verdict.ok


def test_study_with_surrogate_and_equity_pulls_every_row(tmp_path: Path, synth_data: Path,
                                                          duck: dict[str, Path]) -> None:
    """The credentials study's [surrogate] training sample and [equity] access gaps read rows its restrictions
    exclude: every row is pulled (within the limit) and the restrictions applied here; the numbers equal the file
    path's."""
    spec = REPO / "analyses" / "ccpt-credentials-rd.toml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = run_analysis(spec, tmp_path / "file", data=synth_data / "students.parquet", progress=False)
        ours = run_analysis(spec, tmp_path / "duck", data=duck["students"], progress=False)
    assert "surrogate" in ours.results and "equity" in ours.results
    assert _differences(theirs.results, ours.results) == []
    entry = ours.manifest["inputs"][0]
    assert entry["rows_pulled"] == entry["records"] == ours.results["sample_flow"]["rows_read"]

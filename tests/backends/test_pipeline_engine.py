"""``cteimpact run`` of a difference-in-differences study whose study sample exceeds ``max_rows_pulled``: Callaway &
Sant'Anna computed in the engine from sufficient statistics (:mod:`cteimpact.pipeline.engine_design`), no row
pulled.

The study is the shipped DiD study without the parts that need the rows (students' counts and standard deviations of
aggregated rows, the Goodman-Bacon decomposition, Sun-Abraham, effect sizes, the wild cluster bootstrap). Against the
same study with its rows pulled: every number of ``results.json`` within 1e-10 (``|a - b| <= 1e-10 max(1, |a|)``)
but the keys that differ by design (:data:`DIFFERS`); ``cteimpact verify`` re-computes it in the engine and finds it
identical; a spec key that needs the rows stops the run with one line naming it.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from study_helpers import compare_json

from cteimpact.backends.errors import PullLimitError
from cteimpact.backends.source import TableSource
from cteimpact.pipeline.run import run_analysis
from cteimpact.pipeline.verify import verify_run

REPO = Path(__file__).resolve().parents[2]
DID_SPEC = REPO / "analyses" / "pathways-earnings-did.toml"

DIFFERS = (".design.details.descriptives", ".design.estimator", ".design.options.backend",
           ".design.details.rows_fetched", ".design.details.influence_function_storage", ".design.extra.engine",
           ".design.details.notes", ".sample_flow", ".design.sample_flow", ".data.", ".truth")
"""What differs by design: descriptive statistics by cohort need the rows (``null`` in the engine); the estimator's
name and ``options.backend`` say where it ran; the engine's record and the note saying why it ran there; the sample
flow counts the table's rows in unit-periods and words the balanced panel's exclusions by rows (its counts are
checked separately); what names the data."""


OPTIMISED = (".design.extra.honest",)
"""HonestDiD's bounds come out of numerical optimisation (the relative-magnitudes test's grid and linear programs,
the smoothness FLCI's convex program): inputs that differ in the 16th digit (the engine adds the same sums in another
order) move them by up to about 1e-8 relative, so they are compared at 1e-6."""


def _compare(pulled: dict[str, Any], engine: dict[str, Any]) -> int:
    return compare_json(pulled, engine, skip=DIFFERS, rtol=1e-10, rtol_for=dict.fromkeys(OPTIMISED, 1e-6))


def _spec(folder: Path, *, keep: tuple[str, ...] = (), design: str = "") -> Path:
    """The shipped DiD study without what needs the rows (except the settings named in ``keep``), its contract
    beside it; ``design``: lines added to ``[design]``."""
    shutil.copytree(REPO / "analyses" / "contracts", folder / "contracts")
    drop = {"students": "students =", "outcome_sd": "outcome_sd =", "outcome_n": "outcome_n =",
            "wild_bootstrap": "wild_bootstrap ="}
    switch = {"bacon": "bacon = true", "sun_abraham": "sun_abraham = true", "effect_sizes": "effect_sizes = true"}
    lines = []
    for line in DID_SPEC.read_text(encoding="utf-8").splitlines():
        name = next((k for k, start in drop.items() if line.startswith(start)), None)
        if name is not None and name not in keep:
            continue
        name = next((k for k, text in switch.items() if line.startswith(text)), None)
        if name is not None and name not in keep:
            line = line.replace("= true", "= false")
        lines.append(line)
        if line == 'type = "did"' and design:
            lines.append(design)
    path = folder / "did-engine.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, duck: dict[str, Path]) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("did-engine")
    spec = _spec(base)
    data = base / "panel.duckdb"
    shutil.copy(duck["panel"], data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pulled = run_analysis(spec, base / "pulled", data=data, progress=False)
        original = TableSource.pull

        def refuse(self: TableSource, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a row was pulled")

        TableSource.pull = refuse  # type: ignore[method-assign]
        try:
            engine = run_analysis(spec, base / "engine", data=data, progress=False, max_rows_pulled=100)
        finally:
            TableSource.pull = original  # type: ignore[method-assign]
    return {"pulled": pulled, "engine": engine, "spec": spec, "data": data, "base": base}


def test_engine_run_equals_the_pulled_run(runs: dict[str, Any]) -> None:
    pulled, engine = runs["pulled"].results, runs["engine"].results
    assert _compare(pulled, engine) > 500
    assert engine["design"]["extra"]["engine"]["computed_in_engine"] is True
    assert engine["design"]["extra"]["engine"]["unit_rows_pulled"] == 0
    assert pulled["design"]["extra"].get("engine") is None
    assert engine["design"]["details"]["descriptives"] is None
    assert pulled["design"]["details"]["descriptives"] is not None
    # the pricing of the contract comes from the engine's estimates (the same numbers, compared above)
    assert engine["pricing"]["expected_payment"] == pytest.approx(pulled["pricing"]["expected_payment"], rel=1e-9)


def test_engine_sample_flow_counts_the_same_rows(runs: dict[str, Any]) -> None:
    for where in ("run", "design"):
        pulled, engine = runs["pulled"].results, runs["engine"].results
        if where == "design":
            pulled, engine = pulled["design"], engine["design"]
        pulled, engine = pulled["sample_flow"], engine["sample_flow"]
        assert engine["rows_read"] == pulled["rows_read"] > 0
        assert [s["excluded"] for s in engine["steps"]] == [s["excluded"] for s in pulled["steps"]]
        assert [s["remaining"] for s in engine["steps"]] == [s["remaining"] for s in pulled["steps"]]
        assert len(engine["steps"]) == (0 if where == "run" else 7)
    notes = runs["engine"].results["design"]["details"]["notes"]
    assert any("computed in the engine (duckdb)" in n and "more than the 100 that may be pulled" in n for n in notes)


def test_engine_manifest_records_no_row_pulled(runs: dict[str, Any]) -> None:
    entry = runs["engine"].manifest["inputs"][0]
    assert (entry["backend"], entry["table"], entry["rows_pulled"], entry["rows_sha256"]) == (
        "duckdb", "district_panel", 0, None)
    assert entry["records"] == runs["pulled"].manifest["inputs"][0]["records"]
    assert len(entry["sha256"]) == 64  # the DuckDB file received


def test_verify_re_computes_in_the_engine(runs: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = verify_run(runs["engine"].out_dir, progress=False, data=runs["data"])
    assert verdict.findings == ()
    assert verdict.comparison.mismatches == ()
    assert verdict.ok
    assert verdict.comparison.n_compared > 500


@pytest.mark.parametrize(("keep", "key"), [
    (("bacon",), "[design.comparisons] bacon (set it to false)"),
    (("students",), "[design] students (leave it out)"),
    (("wild_bootstrap",), "[design.inference] wild_bootstrap (leave it out)"),
])
def test_a_key_that_needs_the_rows_stops_the_run(tmp_path: Path, duck: dict[str, Path], keep: tuple[str, ...],
                                                 key: str) -> None:
    spec = _spec(tmp_path, keep=keep)
    with pytest.raises(PullLimitError) as caught:
        run_analysis(spec, tmp_path / "run", data=duck["panel"], progress=False, max_rows_pulled=100)
    message = str(caught.value)
    assert key in message
    assert "more than the 100 that may be pulled" in message
    assert "\n" not in message
    assert not (tmp_path / "run").exists()


def test_verify_notices_a_changed_table(runs: dict[str, Any], tmp_path: Path) -> None:
    import duckdb

    changed = tmp_path / "panel.duckdb"
    shutil.copy(runs["data"], changed)
    con = duckdb.connect(str(changed))
    try:
        con.execute("UPDATE district_panel SET earnings_age19 = earnings_age19 + 100 WHERE cohort = "
                    "(SELECT MAX(cohort) FROM district_panel)")
    finally:
        con.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = verify_run(runs["engine"].out_dir, progress=False, data=changed)
    assert not verdict.ok
    assert any(f.subject == "data" for f in verdict.findings)
    assert verdict.comparison.mismatches  # the estimates computed in the engine from the changed table differ


def test_covariates_of_a_balanced_panel_are_computed_in_the_engine(tmp_path: Path, duck: dict[str, Path]) -> None:
    """Doubly robust with the districts' low-income share as covariate: the engine's run equals the pulled one."""
    spec = _spec(tmp_path, design='covariates = ["low_income"]')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pulled = run_analysis(spec, tmp_path / "pulled", data=duck["panel"], progress=False)
        engine = run_analysis(spec, tmp_path / "engine", data=duck["panel"], progress=False, max_rows_pulled=100)
    assert engine.results["design"]["extra"]["engine"]["unit_rows_pulled"] == 0
    assert engine.results["design"]["options"]["covariates"] == ["low_income"]
    assert _compare(pulled.results, engine.results) > 500


def test_covariates_of_repeated_cross_sections_are_computed_in_the_engine(tmp_path: Path,
                                                                         duck: dict[str, Path]) -> None:
    """The district panel read as repeated cross-sections with a covariate: the engine's run equals the pulled
    one."""
    spec = _spec(tmp_path, design='covariates = ["low_income"]\npanel = false')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pulled = run_analysis(spec, tmp_path / "pulled", data=duck["panel"], progress=False)
        engine = run_analysis(spec, tmp_path / "engine", data=duck["panel"], progress=False, max_rows_pulled=100)
    design = engine.results["design"]
    assert design["extra"]["engine"]["unit_rows_pulled"] == 0
    assert design["options"]["covariates"] == ["low_income"] and design["options"]["panel"] is False
    assert _compare(pulled.results, engine.results) > 500


def test_covariates_of_an_unbalanced_panel_need_the_rows(tmp_path: Path, duck: dict[str, Path]) -> None:
    spec = _spec(tmp_path, design='covariates = ["low_income"]\nallow_unbalanced = true')
    with pytest.raises(PullLimitError, match=r"\[design\] covariates with an unbalanced panel"):
        run_analysis(spec, tmp_path / "run", data=duck["panel"], progress=False, max_rows_pulled=100)


def test_text_covariate_of_a_balanced_panel_is_computed_in_the_engine(tmp_path: Path, duck: dict[str, Path]) -> None:
    """A text (categorical) covariate, the districts' low-income band, is computed in the engine (its levels by one
    query, its indicators as engine expressions): the engine's run equals the pulled one, the coding included."""
    import duckdb

    data = tmp_path / "banded.duckdb"
    con = duckdb.connect(str(data))
    try:
        con.execute(f"ATTACH '{duck['panel']}' AS src (READ_ONLY)")
        con.execute("CREATE TABLE district_panel AS SELECT *, CASE WHEN low_income < 0.4 THEN 'low' WHEN "
                    "low_income < 0.6 THEN 'middle' ELSE 'high' END AS income_band FROM src.district_panel")
        con.execute(f"COPY district_panel TO '{tmp_path / 'banded.parquet'}' (FORMAT PARQUET)")
    finally:
        con.close()
    spec = _spec(tmp_path, design='covariates = ["income_band"]')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # in memory from the same rows in a Parquet file, and pulled from the database (below the pull limit)
        pulled = run_analysis(spec, tmp_path / "pulled", data=tmp_path / "banded.parquet", progress=False)
        from_database = run_analysis(spec, tmp_path / "from_database", data=data, progress=False)
        engine = run_analysis(spec, tmp_path / "engine", data=data, progress=False, max_rows_pulled=100)
    assert "engine" not in from_database.results["design"]["extra"]  # pulled, estimated in memory
    assert _compare(pulled.results, from_database.results) > 500
    design = engine.results["design"]
    assert design["extra"]["engine"]["unit_rows_pulled"] == 0
    assert design["options"]["covariates"] == ["income_band=low", "income_band=middle"]
    assert design["options"]["covariate_coding"] == pulled.results["design"]["options"]["covariate_coding"]
    assert _compare(pulled.results, engine.results) > 500

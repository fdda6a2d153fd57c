"""The typed readers of a run directory (:mod:`cteimpact.records`): real RD and DiD runs read completely, every value
knows its JSON path, and a value of the wrong type is refused with that path (exit 2 on the command line)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reporting_helpers import resolve

from cteimpact.cli.app import main
from cteimpact.errors import RunDirectoryError
from cteimpact.records import (
    DiDDetails,
    Num,
    RDDetails,
    RecordError,
    Results,
    RunRecords,
    Text,
)
from cteimpact.records.did import DiDExtra
from cteimpact.reporting.rundir import load_run


def _load(run: Path) -> RunRecords:
    def read(name: str) -> Any:
        path = run / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    return RunRecords.from_dicts(read("results.json"), read("manifest.json"), read("certificate.json"))


def _check(run: Path, value: Any) -> None:
    """``value`` is a Num or Text whose path leads to the same value in the run's files."""
    assert isinstance(value, (Num, Text)), value
    found = resolve(run, value.path)
    if isinstance(value, Num):
        assert float(found) == float(value) and isinstance(found, int) == value.integer  # type: ignore[arg-type]
    else:
        assert found == str(value)


@pytest.mark.slow  # uses a whole verified study run
def test_a_real_rd_run_reads_typed_with_paths(verified_run: Path) -> None:
    records = _load(verified_run)
    results = records.results
    assert results.design_type == "rd" and isinstance(results.rd, RDDetails) and results.did is None
    assert [str(o) for o in results.outcomes] == ["dropout", "graduated"]
    raw = json.loads((verified_run / "results.json").read_text(encoding="utf-8"))
    assert len(results.design.estimates) == len(raw["design"]["estimates"])  # type: ignore[union-attr]
    itt = results.estimate("dropout[reduced_form]")
    assert itt is not None and itt.suffix == "reduced_form"
    for value in (itt.estimate, itt.std_error, itt.ci_lower, itt.label, itt.n_effective):
        _check(verified_run, value)
    fit = results.rd.fit_for("dropout")  # type: ignore[union-attr]
    assert fit is not None and fit.fit is not None and fit.fit.first_stage is not None
    _check(verified_run, fit.fit.first_stage.f_statistic)
    _check(verified_run, fit.fit.n_h[1])
    diagnostics = results.rd.diagnostics_for("dropout")  # type: ignore[union-attr]
    assert diagnostics is not None
    assert [str(k) for k, _ in diagnostics.ordered_checks][:2] == ["density_test", "covariate_balance"]
    donut = diagnostics.checks["donut"]
    _check(verified_run, donut.table[-1].share_excluded)
    _check(verified_run, donut.verdict)
    subgroup = results.rd.fits_of("subgroup")[0]  # type: ignore[union-attr]
    _check(verified_run, subgroup.group[0])
    pricing = results.pricing
    assert pricing is not None and pricing.payments is not None
    _check(verified_run, pricing.payments.quantiles["95"])  # a key that is not a name: path ["95"]
    rate = next(iter(pricing.benefits.benefit_cost_ratio_by_discount_rate))  # type: ignore[union-attr]
    assert isinstance(rate, Text) and "[" in rate.path
    _check(verified_run, rate)
    manifest = records.manifest
    _check(verified_run, manifest.environment.packages["numpy"])  # type: ignore[union-attr]
    _check(verified_run, manifest.inputs[0].sha256)
    assert manifest.inputs_of("data")[0].file_name == "students.parquet"
    cert = records.certificate
    assert cert is not None and cert.verified and cert.mismatches == []
    row = cert.recomputation.rows[3]  # type: ignore[union-attr]
    _check(verified_run, row.path)
    assert cert.recomputation.compared == len(cert.recomputation.rows)  # type: ignore[union-attr]


@pytest.mark.slow  # uses a whole verified study run
def test_a_real_did_run_reads_typed_with_paths(verified_did_run: Path) -> None:
    records = _load(verified_did_run)
    results = records.results
    assert results.design_type == "did" and isinstance(results.did, DiDDetails) and results.rd is None
    extra = results.design.extra  # type: ignore[union-attr]
    assert isinstance(extra, DiDExtra)
    did = results.did
    assert did.aggregates is not None and did.aggregates.group is not None
    _check(verified_did_run, did.aggregates.group.elements[0].group)
    _check(verified_did_run, did.att_gt[0].n_treated)
    assert did.pretest_decision is not None and did.pretest_decision.test == "event_study"
    _check(verified_did_run, did.pretest_decision.statistic)
    assert did.inference is not None and did.inference.rows[str(results.outcomes[0])].interval == "pointwise"
    assert did.descriptives is not None and did.descriptives.rows[0].cohort_label == "never treated"
    _check(verified_did_run, did.descriptives.rows[1].pre_mean)
    headline = results.headline
    assert headline is not None and headline.label == results.outcomes[0]
    _check(verified_did_run, headline.estimate)
    assert results.synthetic and results.truth is not None and results.truth.rows
    _check(verified_did_run, results.truth.rows[0].truth)
    _check(verified_did_run, records.manifest.run_date)
    cert = records.certificate
    assert cert is not None and cert.headline_estimate is not None
    _check(verified_did_run, cert.verified_on)
    _check(verified_did_run, extra.honest[0].breakdown)
    _check(verified_did_run, extra.baseline_equivalence[0].wwc_category)
    _check(verified_did_run, extra.bacon.summary[0].weight)  # type: ignore[union-attr]
    assert extra.effect_size_for(str(results.outcomes[0])) is not None
    wild = did.wild_cluster_bootstrap[str(results.outcomes[0])]
    _check(verified_did_run, wild.std_error)


def test_values_derived_from_records_lose_their_path() -> None:
    x = Num(0.25, "results.json:a")
    assert type(x * 100) is float and type(x + x) is float and type(-x) is float
    t = Text("dropout", "results.json:b")
    assert type(t.upper()) is str and type(t + "[x]") is str
    assert Num(3.0, "p", integer=True).integer


def _study_text(d: dict[str, Any]) -> None:
    d["study"] = "a text where an object belongs"


def _estimate_text(d: dict[str, Any]) -> None:
    d["design"]["estimates"][2]["estimate"] = "high"


def _label_missing(d: dict[str, Any]) -> None:
    del d["design"]["estimates"][0]["label"]


def _payments_number(d: dict[str, Any]) -> None:
    d["pricing"]["payments"] = 3


def _steps_text(d: dict[str, Any]) -> None:
    d["sample_flow"]["steps"] = "none"


def _fits_object(d: dict[str, Any]) -> None:
    d["design"]["details"]["fits"] = {"a": 1}


def _switch_number(d: dict[str, Any]) -> None:
    d["design"]["estimates"][0]["suppressed"] = 1


def _check_list(d: dict[str, Any]) -> None:
    d["design"]["details"]["diagnostics"]["dropout"]["checks"]["donut"]["table"][0]["estimate"] = [1, 2]


def _design_type(d: dict[str, Any]) -> None:
    d["design"]["type"] = "iv"


@pytest.mark.slow  # uses a whole verified study run
@pytest.mark.parametrize(("edit", "path", "words"), [
    (_study_text, "results.json:study", "a text ('a text where an object belongs') where an object belongs"),
    (_estimate_text, "results.json:design.estimates[2].estimate", "a text ('high') where a number belongs"),
    (_label_missing, "results.json:design.estimates[0].label", "is missing"),
    (_payments_number, "results.json:pricing.payments", "a number (3) where an object belongs"),
    (_steps_text, "results.json:sample_flow.steps", "where a list belongs"),
    (_fits_object, "results.json:design.details.fits", "an object where a list belongs"),
    (_switch_number, "results.json:design.estimates[0].suppressed", "a number (1) where a switch"),
    (_check_list, "results.json:design.details.diagnostics.dropout.checks.donut.table[0].estimate",
     "a list of 2 where a number belongs"),
    (_design_type, "results.json:design.type", "reports 'rd' and 'did' designs"),
], ids=["study", "estimate", "label", "payments", "steps", "fits", "switch", "check-row", "design-type"])
def test_malformed_results_name_the_json_path(edit: Callable[[dict[str, Any]], None], path: str, words: str,
                                              verified_run: Path) -> None:
    results = json.loads((verified_run / "results.json").read_text(encoding="utf-8"))
    edit(results)
    with pytest.raises(RecordError) as info:
        RunRecords.from_dicts(results, {})
    assert info.value.path == path
    assert str(info.value).startswith(path) and words in str(info.value)
    assert isinstance(info.value, RunDirectoryError)


@pytest.mark.slow  # uses a whole verified study run
def test_malformed_manifest_and_certificate_name_their_file(verified_run: Path) -> None:
    results = json.loads((verified_run / "results.json").read_text(encoding="utf-8"))
    manifest = json.loads((verified_run / "manifest.json").read_text(encoding="utf-8"))
    cert = json.loads((verified_run / "certificate.json").read_text(encoding="utf-8"))
    manifest["inputs"] = {"data": "students.parquet"}
    with pytest.raises(RecordError, match=r"^manifest\.json:inputs is an object where a list belongs"):
        RunRecords.from_dicts(results, manifest)
    cert["recomputation"]["rows"][4]["match"] = "yes"
    with pytest.raises(RecordError, match=r"^certificate\.json:recomputation\.rows\[4\]\.match is a text"):
        RunRecords.from_dicts(results, {}, cert)
    with pytest.raises(RecordError, match=r"^results\.json: is a list of 0 where an object belongs"):
        Results.from_dict([], path="results.json:")


@pytest.mark.slow  # uses a whole verified study run
def test_report_of_a_malformed_run_exits_2_naming_path_and_run(verified_run: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(verified_run, run)
    shutil.rmtree(run / "report", ignore_errors=True)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    results["design"]["details"]["fits"][1]["fit"]["n_h"] = "many"
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    with pytest.raises(RecordError):
        load_run(run)
    assert main(["report", str(run), "--to", "html"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if " warning: " not in line]
    assert len(err) == 1
    assert "results.json:design.details.fits[1].fit.n_h is a text ('many') where a list belongs" in err[0]
    assert str(run) in err[0]
    assert not (run / "report").exists()

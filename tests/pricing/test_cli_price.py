"""``cteimpact price``: the JSON key contract, --effect/--se, --results (a record, or a file holding several),
label mapping, plots, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pricing_helpers import make_estimates

from cteimpact.cli.app import main
from cteimpact.pricing import example_contract
from cteimpact.results import ExternalEstimate, write_json


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _check_contract_keys(d: dict[str, Any]) -> None:
    assert isinstance(d["expected_payment"], float)
    assert set(d["payment_quantiles"]) == {"5", "50", "95"}
    assert isinstance(d["p_any_payment"], float)
    assert isinstance(d["thresholds"], list)
    for th in d["thresholds"]:
        assert 0.0 <= th["p_met"] <= 1.0
    assert set(d["irr"]) >= {"at_estimate", "quantiles"}
    assert set(d["irr"]["quantiles"]) == {"5", "50", "95"}
    assert "p_investor_loss" in d
    assert "break_even_effect" in d
    for p in d["payors"].values():
        assert "benefit" in p and "payment" in p
    assert "benefit_cost_ratio" in d


def test_effect_and_se_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "price", "example:schedule_rikers", "--effect", "-0.018", "--se", "0.008",
                         "--draws", "5000", "--seed", "3", "--json")
    assert code == 0, err
    d = json.loads(out)
    _check_contract_keys(d)
    assert len(d["thresholds"]) == 8
    assert d["break_even_effect"] == pytest.approx(-0.015, abs=1e-12)
    assert round(d["irr"]["at_estimate"] * 100, 1) == 1.5
    assert d["payors"]["state"]["benefit"] > 0
    # same seed, same bytes
    code2, out2, _ = run(capsys, "price", "example:schedule_rikers", "--effect", "-0.018", "--se", "0.008",
                         "--draws", "5000", "--seed", "3", "--json")
    assert code2 == 0 and out2 == out


def test_text_summary_and_plots(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "price", str(example_contract("schedule_rikers")), "--effect", "-0.018", "--se",
                         "0.008", "--draws", "2000", "--plots", str(tmp_path / "figs"), "--output",
                         str(tmp_path / "price.json"))
    assert code == 0, err
    assert "Pay-for-Success pricing" in out and "coin flip" in out
    for name in ("payment_curve.png", "payment_distribution.png", "payor_benefits.png"):
        assert (tmp_path / "figs" / name).stat().st_size > 1000
    full = json.loads((tmp_path / "price.json").read_text(encoding="utf-8"))
    _check_contract_keys(full)


def test_results_record_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_json(ExternalEstimate(label="dropout", effect=-0.018, std_error=0.008).to_dict(),
                      tmp_path / "record.json")
    code, out, err = run(capsys, "price", "example:schedule_rikers", "--results", str(path), "--draws", "2000",
                         "--json")
    assert code == 0, err
    d = json.loads(out)
    _check_contract_keys(d)
    assert d["estimates"][0]["centre"] == -0.018


def _run_file(tmp_path: Path) -> Path:
    """A run-directory-like results.json holding an RD and a DiD record (both with a 'dropout' estimate)."""
    rd = make_estimates(["graduated", "dropout"], [0.04, -0.03], [[1e-4, -5e-5], [-5e-5, 1e-4]], design="rd")
    did = make_estimates(["dropout", "earnings_age19"], [-0.01, 500.0], np.diag([1e-4, 1e4]), design="did")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_json({"schema": "cteimpact.run/1", "results": {"rd": rd.to_dict(), "did": did.to_dict()}},
               run_dir / "results.json")
    return run_dir


def test_run_results_with_source_selection(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = _run_file(tmp_path)
    # 'dropout' is in both records: ambiguous without --estimate-source
    code, out, err = run(capsys, "price", "example:two_payor_chicago_cpc", "--results", str(run_dir), "--draws",
                         "2000", "--json")
    assert code == 2
    assert err.count("\n") == 1 and "is in 2 records" in err and "--estimate-source" in err
    code, out, err = run(capsys, "price", "example:two_payor_chicago_cpc", "--results", str(run_dir),
                         "--estimate-source", "results.rd", "--draws", "2000", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [e["centre"] for e in d["estimates"]] == [0.04, -0.03]
    assert d["simulation"]["joint"] is True
    # by design name, the Rikers contract takes the DiD 'dropout'
    code, out, err = run(capsys, "price", "example:schedule_rikers", "--results", str(run_dir / "results.json"),
                         "--estimate-source", "did", "--draws", "2000", "--json")
    assert code == 0, err
    assert json.loads(out)["estimates"][0]["centre"] == -0.01


def test_label_mapping_and_unknown_label(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_json(ExternalEstimate(label="dropout[female=1]", effect=-0.02, std_error=0.01).to_dict(),
                      tmp_path / "record.json")
    code, out, err = run(capsys, "price", "example:schedule_rikers", "--results", str(path), "--draws", "2000")
    assert code == 2 and "no results record in 'record.json' has an estimate labelled 'dropout'" in err
    assert "--map dropout=LABEL" in err
    code, out, err = run(capsys, "price", "example:schedule_rikers", "--results", str(path),
                         "--map", "dropout=dropout[female=1]", "--draws", "2000", "--json")
    assert code == 0, err
    assert json.loads(out)["estimates"][0]["label"] == "dropout[female=1]"


@pytest.mark.parametrize(("args", "message"), [
    (["--effect", "-0.02"], "give the impact to price: --effect and --se, or --results"),
    ([], "give the impact to price"),
    (["--effect", "-0.02", "--se", "-1"], "standard error of 'dropout' must be finite and non-negative"),
    (["--effect", "-0.02", "--se", "0.01", "--mde", "dropout"], "--mde takes NAME=VALUE pairs"),
    (["--effect", "-0.02", "--se", "0.01", "--mde", "grad=0.1"], "mde names 'grad', which is not an outcome"),
])
def test_bad_usage_one_line_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = run(capsys, "price", "example:schedule_rikers", *args)
    assert code == 2
    assert err.count("\n") == 1
    assert message in err


def test_bad_contract_and_example(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text(example_contract("schedule_rikers").read_text(encoding="utf-8").replace(
        "pay = 9_600_000", "pay = -9_600_000"), encoding="utf-8")
    code, _, err = run(capsys, "price", str(bad), "--effect", "-0.02", "--se", "0.01")
    assert code == 2 and "contract 'c.toml': outcomes[0].payment.tiers[1].pay: must be >= 0" in err
    code, _, err = run(capsys, "price", "example:nope", "--effect", "-0.02", "--se", "0.01")
    assert code == 2 and "no example contract 'nope'" in err
    code, _, err = run(capsys, "price", "example:two_payor_chicago_cpc", "--effect", "-0.02", "--se", "0.01")
    assert code == 2 and "the contract prices 2 outcomes" in err

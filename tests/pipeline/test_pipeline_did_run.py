"""cteimpact run / verify on the staggered-DiD earnings study."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cteimpact.cli.app import main
from cteimpact.pipeline.certificate import build_certificate

pytestmark = pytest.mark.slow  # end to end: the whole DiD study is run and verified


@pytest.fixture(scope="module")
def did_run(did_study_run):
    """The run of analyses/pathways-earnings-did.toml on ``synth_dir`` (``did_study_run`` of tests/conftest.py, shared
    with the reporting tests)."""
    return did_study_run


def test_did_run_records_cs_comparisons_and_pricing(did_run, synth_dir: Path) -> None:
    res = did_run.results
    design = res["design"]
    assert design["type"] == "did"
    by_label = {e["label"]: e for e in design["estimates"]}
    assert by_label["earnings_age19"]["ci_type"] == "wild_cluster_bootstrap"
    assert by_label["earnings_age19[event=0]"]["ci_type"] == "simultaneous"
    extra = design["extra"]
    assert {"bacon", "sun_abraham", "pretrend_power", "honest", "effect_sizes", "baseline_equivalence"} <= set(extra)
    assert abs(extra["bacon"]["weighted_sum"] - extra["bacon"]["twfe"]) < 1e-8 * abs(extra["bacon"]["twfe"])
    assert {h["restriction"] for h in extra["honest"]} == {"relative_magnitude", "smoothness"}
    assert res["pricing"]["estimates"][0]["label"] == "earnings_age19"
    truth = json.loads((synth_dir / "truth.json").read_text())
    simple = truth["did"]["outcomes"]["earnings_age19"]["district_panel"]["aggregates"]["simple"]
    est = by_label["earnings_age19"]
    # a sampling check, not an identity: the interval covers the truth in ~95% of synthetic draws
    assert est["ci_lower"] - 2 * est["std_error"] < simple < est["ci_upper"] + 2 * est["std_error"]
    figures = {o["path"] for o in did_run.manifest["outputs"] if o["path"].startswith("figures/")}
    assert {"figures/did-earnings_age19-event_study.png", "figures/did-earnings_age19-bacon.png",
            "figures/did-earnings_age19-honest.png"} <= figures


def test_did_run_verifies_and_detects_a_changed_number(did_run, did_study_verification, tmp_path: Path,
                                                       capsys) -> None:
    _, v = did_study_verification  # an untouched copy of did_run, verified once per session (tests/conftest.py)
    assert v.ok, v.reasons
    due = build_certificate(v)["payment_due"]
    assert due["total_at_estimate"] > 0
    assert sum(due["by_payor_at_estimate"].values()) == pytest.approx(due["total_at_estimate"], rel=1e-12)
    assert sum(due["by_payor_npv_at_estimate"].values()) == pytest.approx(due["npv_at_estimate"], rel=1e-12)
    assert due["npv_at_estimate"] < due["total_at_estimate"]  # discounted
    run = tmp_path / "run"
    shutil.copytree(did_run.out_dir, run)
    results = json.loads((run / "results.json").read_text())
    results["design"]["details"]["twfe"]["estimate"] *= 1.001
    (run / "results.json").write_text(json.dumps(results, indent=2))
    assert main(["verify", str(run), "--quiet"]) == 3
    assert "design.details.twfe.estimate" in capsys.readouterr().out


def test_did_headline_and_truth(did_run, synth_dir: Path) -> None:
    res = did_run.results
    head = res["headline"]
    assert head["label"] == "earnings_age19"
    row = next(e for e in res["design"]["estimates"] if e["label"] == "earnings_age19")
    assert head["estimate"] == row["estimate"]  # DiD: the point estimate is the centre of its interval
    assert head["priced_as"] == [o["outcome"] for o in res["pricing"]["estimates"]
                                 if o["label"] == "earnings_age19"]
    truth = json.loads((synth_dir / "truth.json").read_text())
    rows = {r["label"]: r for r in res["truth"]["rows"]}
    simple = truth["did"]["outcomes"]["earnings_age19"]["district_panel"]["aggregates"]["simple"]
    assert rows["earnings_age19"]["truth"] == simple
    assert rows["earnings_age19"]["truth_path"] == "did.outcomes.earnings_age19.district_panel.aggregates.simple"
    cells = [r for label, r in rows.items() if "[g=" in label]
    assert cells and all(r["truth_path"].startswith("did.outcomes.earnings_age19.district_panel.att_gt[")
                         for r in cells)
    # a sampling check: group-time estimates scatter around their truth (mean z² near 1, not far above)
    assert res["truth"]["summary"]["mean_z_squared"] < 3

"""The impact report of a difference-in-differences run.

The run pipeline's DiD runner is not in place yet, so the run directory is assembled here the way the pipeline
writes one: ``results.json`` with ``design = {type: "did", **DiDResults.to_dict(), extra: {...}}`` from the real
Callaway–Sant'Anna estimator on the synthetic district panel, with the Goodman-Bacon decomposition, the pre-trend
power and (when it can be computed) HonestDiD beside it, a manifest, and the event-study figure.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from typing import Any

import pytest
from reporting_helpers import external_references

from cteimpact.reporting import format_full, render
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.rundir import load_run

OUTCOME = "earnings_age19"


@pytest.fixture(scope="module")
def did_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from cteimpact.did import CallawaySantAnna, bacon_decomposition
    from cteimpact.pipeline.run import MANIFEST_SCHEMA, RUN_SCHEMA
    from cteimpact.plotting import save_figure
    from cteimpact.results.serialization import dumps_json
    from cteimpact.synth import simulate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = simulate(seed=3, scale=0.02).district_panel
        result = CallawaySantAnna(panel, outcome=OUTCOME, time="cohort", unit="district_id", cohort="first_treated",
                                  cluster="consortium_id", control="notyet", base_period="universal").fit(
            bootstrap=499, seed=11, twfe=True)
        bacon = bacon_decomposition(panel, outcome=OUTCOME, unit="district_id", time="cohort",
                                    cohort="first_treated")
        extra: dict[str, Any] = {"bacon": bacon.record(), "pretrend_power": result.pretrend_power().to_dict()}
        # HonestDiD is optional in a run: when it cannot be computed, the report must say it was not recorded
        with contextlib.suppress(Exception):
            extra["honest"] = [result.honest_did().to_dict()]
    root = tmp_path_factory.mktemp("did") / "run"
    (root / "figures").mkdir(parents=True)
    save_figure(result.plot("event_study"), root / "figures" / f"did-{OUTCOME}-event_study.png")
    results = {
        "schema": RUN_SCHEMA,
        "study": {"name": "pathways-earnings-did", "title": "Pathway launches and earnings at 19",
                  "description": "Districts launched career pathways in different years."},
        "spec_sha256": "0" * 64, "seed": 11, "seeds": {},
        "privacy": {"min_cell": 10, "rule": "cells under 10 students are suppressed"},
        "sample_flow": result.sample_flow.to_dict(),
        "design": {"type": "did", **result.to_dict(), "extra": extra},
        "pricing": None,
    }
    manifest = {
        "schema": MANIFEST_SCHEMA, "study": "pathways-earnings-did",
        "command": "cteimpact run analyses/pathways-earnings-did.toml --out runs/did",
        "specification": {"data": {"path": "district_panel.csv",
                                   "columns": {"district": "district_id", "consortium": "consortium_id",
                                               "cohort": "cohort", "first_treated": "first_treated",
                                               "earnings": OUTCOME}}},
        "spec_sha256": "0" * 64, "seed": {"master": 11, "derived": {}}, "inputs": [], "environment": {},
        "code": {}, "outputs": [],
    }
    (root / "results.json").write_text(dumps_json(results), encoding="utf-8")
    (root / "manifest.json").write_text(dumps_json(manifest), encoding="utf-8")
    run = load_run(root)
    built = build_report(run, "impact")
    qmd = built.write(root / "report" / "impact-report.qmd")
    return {"root": root, "results": results, "qmd": qmd, "text": qmd.read_text(encoding="utf-8"), "extra": extra}


def test_did_report_has_every_did_check(did_run: dict[str, Any]) -> None:
    text = did_run["text"]
    for heading in ("# Impact estimates", "# Validity checks", "## Event study and pre-trends",
                    "## TWFE and the Goodman-Bacon decomposition", "## Sensitivity to violations of parallel trends",
                    "# Appendix C: Group-time effects", "# Standards checklist", "# Limitations",
                    "# Appendix B: Reproducibility"):
        assert heading in text, heading
    assert "{#fig-event-study-earnings-age19" in text
    assert "Bands are simultaneous over all event times" in text
    assert "The joint test that every event-study pre-adoption effect is zero" in text
    assert "The test on every pre-adoption group-time effect (as R's did package reports it)" in text
    assert "would be detected with probability 80%" in text
    for row in did_run["extra"]["bacon"]["summary"]:
        assert row["type"] in text
    if "honest" in did_run["extra"]:
        assert "HonestDiD robust confidence sets" in text
    else:
        assert "does not record a HonestDiD sensitivity analysis" in text


def test_did_numbers_are_the_recorded_ones(did_run: dict[str, Any]) -> None:
    text = did_run["text"]
    design = did_run["results"]["design"]
    simple = next(e for e in design["estimates"] if e["label"] == OUTCOME)
    assert f"`{format_full(simple['estimate'])}`" in text  # full precision in the appendix
    twfe = design["details"]["twfe"]["estimate"]
    assert f"${twfe:,.0f}" in text  # the TWFE coefficient, in dollars
    gt = design["details"]["att_gt"]
    # district panel: the group-time table counts districts (not students), shown without suppression
    assert f"| {gt[0]['n_treated']:,} " in text
    assert "panel units, not students" in text


def test_did_report_renders_to_self_contained_html(did_run: dict[str, Any]) -> None:
    result = render(did_run["qmd"], to="html", engine="fallback")
    html = result.outputs["html"].read_text(encoding="utf-8")
    assert external_references(html) == []
    simple = next(e for e in did_run["results"]["design"]["estimates"] if e["label"] == OUTCOME)
    assert format_full(simple["estimate"]) in html
    assert json.loads((did_run["root"] / "results.json").read_text())["design"]["type"] == "did"

"""The impact report of a run with interim outcomes, the surrogate-index projection of long-run earnings, an equity
analysis and the interim-outcome contract (tests/reporting/interim_study.py): its sections, the numbers they show
(formatted from results.json exactly as the report's formatters write them), suppressed cells shown as suppressed,
the sections' absence when their keys are, and `cteimpact report --to html` on the run.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from interim_study import DATA_NAME, TINY_LEVEL_STUDENTS, write_data, write_spec
from number_trace import check_ledger, ledger, orphans

from cteimpact.cli.app import main
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.pipeline.run import run_analysis
from cteimpact.reporting.markdown import escape_inline
from cteimpact.reporting.numbers import FORMATTERS
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.rundir import load_run


def _md(text: str) -> str:
    """``text`` as the report writes a literal (markdown-escaped) value."""
    return escape_inline(text)


def _fmt(name: str, *args: Any, **kwargs: Any) -> str:
    return _md(FORMATTERS[name](*args, **kwargs))


@pytest.fixture(scope="module")
def interim_run(synth_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the interim study (about ten seconds), its results.json and its report's markdown."""
    data = tmp_path_factory.mktemp("interim-data")
    write_data(synth_data, data)
    spec = write_spec(data)
    out = tmp_path_factory.mktemp("interim-run") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the RD's notes on few clusters within the bandwidth
        run_analysis(spec, out, data_root=data, progress=False)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {"run": out, "data": data, "results": results, "qmd": build_report(load_run(out), "impact").text}


def _section(qmd: str, start: str, end: str = "\n# ") -> str:
    assert start in qmd, f"{start!r} not in the report"
    i = qmd.index(start)
    j = qmd.find(end, i + len(start))
    return qmd[i:] if j < 0 else qmd[i:j]


def _row(text: str, *starts: str) -> str:
    """The table row (a line) that starts with ``| <starts[0]> | <starts[1]> |...``."""
    head = "| " + " | ".join(starts) + " |"
    rows = [line for line in text.splitlines() if line.startswith(head)]
    assert len(rows) == 1, (head, rows)
    return rows[0]


def _rebuild(run: Path, target: Path, change: Any) -> str:
    """The report's markdown of a copy of ``run`` whose results.json ``change`` edited."""
    shutil.copytree(run, target)
    results = json.loads((target / "results.json").read_text(encoding="utf-8"))
    change(results)
    (target / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return build_report(load_run(target), "impact").text


# -- the long-run projection -------------------------------------------------------------------------------------------

def test_long_run_section_shows_the_projection_its_variance_index_check_and_assumptions(
        interim_run: dict[str, Any]) -> None:
    qmd, sur = interim_run["qmd"], interim_run["results"]["surrogate"]
    section = _section(qmd, "# Long-run earnings from interim outcomes {#sec-surrogate}")
    money = {"kind": "money", "currency": "$"}
    row = sur["projection"]["estimates"][0]
    assert row["label"] == "earnings_age26[surrogate]"
    effect = _section(section, "## Projected long-run effect", "{#tbl-surrogate-effect}")
    line = _row(effect, "earnings at age 26 (projected from interim outcomes by the surrogate index)")
    assert _fmt("effect", row["estimate"], row["std_error"], **money) in line
    assert _fmt("ci", row["ci_lower"], row["ci_upper"], row["std_error"], **money) in line
    assert _fmt("p", row["p_value"]) in line
    variance = sur["projections"][0]["variance"]
    split = _section(section, "| Estimate | Centre | Variance: design", "{#tbl-surrogate-variance}")
    for key in ("design", "model", "total"):
        assert _fmt("number", variance[key], digits=4) in split, key
    coefficients = _section(section, "| Term | Coefficient |", "{#tbl-surrogate-coefficients}")
    for c in sur["model"]["coefficients"]:
        line = _row(coefficients, _md(c["term"].replace("_", " ")))
        assert _fmt("number", c["estimate"], digits=4) in line and _fmt("p", c["p_value"]) in line
    training = _section(section, "### Training sample", "{#tbl-surrogate-training}")
    assert "`cohort <= 2013`" in training
    assert _fmt("count", sur["model"]["n"]) in training
    assert _fmt("count", sur["training"]["sample_flow"]["rows_read"]) in training
    check = sur["validation"][0]
    line = _row(_section(section, "## Surrogacy check"), "primary", "earnings at age 21")
    assert _fmt("effect", check["direct"], check["direct_se"], **money) in line
    assert _fmt("effect", check["projected"], check["projected_se"], **money) in line
    assert _fmt("effect", check["difference"], check["difference_se"], **money) in line
    assert ("FLAGGED" if check["flagged"] else "not flagged") in line
    assert _md(check["verdict"]) in section
    assumptions = _section(section, "## Assumptions of the projection")
    assert sur["assumptions"] and all(f"- {_md(a)}" in assumptions for a in sur["assumptions"])
    assert any(a.startswith("Surrogacy") for a in sur["assumptions"])
    assert any(a.startswith("Comparability") for a in sur["assumptions"])
    summary = _section(qmd, "# Executive summary")
    assert "**Long-run earnings at age 26.**" in summary
    assert _fmt("size", row["estimate"], row["std_error"], **money) in summary


def test_a_suppressed_projection_is_said_so_without_numbers(interim_run: dict[str, Any], tmp_path: Path) -> None:
    reason = "fewer than 10 students of the treated arm have every surrogate: the projection is suppressed"

    def suppress(results: dict[str, Any]) -> None:
        sur = results["surrogate"]
        sur.update(suppressed=True, suppression=reason, label=None, labels=[], design_effects=[])
        sur["projections"] = [{"label": "earnings_age26[surrogate]", "suppressed": True, "suppression": reason}]
        sur["projection"]["estimates"] = []
        sur["validation"] = [{"estimand": "primary", "suppressed": True, "suppression": reason}]
        results["pricing"]["benefits"]["streams"] = []

    qmd = _rebuild(interim_run["run"], tmp_path / "run", suppress)
    section = _section(qmd, "# Long-run earnings from interim outcomes")
    assert "Projection suppressed" in section and _md(reason) in section
    effect = _section(section, "## Projected long-run effect", "{#tbl-surrogate-effect}")
    line = _row(effect, "earnings at age 26 (projected from interim outcomes by the surrogate index)")
    assert line.count("‡") == 4
    estimate = interim_run["results"]["surrogate"]["projection"]["estimates"][0]["estimate"]
    assert _fmt("effect", estimate, kind="money") not in qmd
    assert "The surrogate-index projection is suppressed" in _section(qmd, "# Executive summary")


def test_a_contract_paying_on_the_projected_label_is_reported_in_its_unit(interim_run: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    """The crash this fixes: a priced label such as earnings_age26[surrogate] is no design outcome; the report
    writes it in the long-run outcome's unit (dollars) instead of failing on an unknown unit."""
    results = interim_run["results"]
    row = results["surrogate"]["projection"]["estimates"][0]

    def pay_on_projection(res: dict[str, Any]) -> None:
        e = res["pricing"]["estimates"][0]
        e.update(label=row["label"], contract_estimate=row["label"], centre=row["estimate"],
                 std_error=row["std_error"], ci_lower=row["ci_lower"], ci_upper=row["ci_upper"], mde=None)

    qmd = _rebuild(interim_run["run"], tmp_path / "run", pay_on_projection)
    priced = _section(qmd, "| Outcome | Estimate | Centre |", "{#tbl-priced-estimates}")
    line = _row(priced, "credential")
    assert "| earnings at age 26 (projected from interim outcomes by the surrogate index)" in line
    assert _fmt("effect", row["estimate"], row["std_error"], kind="money") in line
    assert _fmt("ci", row["ci_lower"], row["ci_upper"], row["std_error"], kind="money") in line


def test_a_flagged_surrogacy_check_is_said_in_the_summary_and_the_check(interim_run: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    verdict = "Flagged at the 5% level: the projection departs from the realised effect."

    def flag(results: dict[str, Any]) -> None:
        results["surrogate"]["validation"][0].update(flagged=True, verdict=verdict)

    qmd = _rebuild(interim_run["run"], tmp_path / "run", flag)
    summary = _section(qmd, "# Executive summary")
    assert "**The surrogacy check at the observed horizon is flagged**" in summary
    assert "earnings age21" in summary and "@sec-surrogate-check" in summary
    check = _section(qmd, "## Surrogacy check")
    assert _row(check, "primary", "earnings at age 21").endswith("| FLAGGED |")
    assert f"**Surrogacy flagged (primary).** {_md(verdict)}" in check
    assert "not flagged" not in check
    assert "not flagged" in _section(interim_run["qmd"], "## Surrogacy check")


# -- equity --------------------------------------------------------------------------------------------------------

def test_equity_section_shows_subgroup_effects_tests_and_access_gaps(interim_run: dict[str, Any]) -> None:
    qmd, eq = interim_run["qmd"], interim_run["results"]["equity"]
    section = _section(qmd, "# Equity {#sec-equity}")
    assert "Holm" in section and eq["details"]["multiplicity"]["description"] in section
    for fam in eq["details"]["multiplicity"]["families"].values():
        assert f"{fam['tests']} tests" in section
    table = _section(section, "## Industry-recognised credential attainment: effects by subgroup",
                     "{#tbl-equity-credential}")
    rows = {e["label"]: e for e in eq["estimates"]}
    level = rows["credential[low_income=1]"]
    diff = rows["credential[low_income=1 vs low_income=0]"]
    test = next(t for t in eq["details"]["tests"] if t["label"] == diff["label"])
    line = _row(table, "low income", "1")
    prop = {"kind": "proportion"}
    assert _fmt("effect", level["estimate"], level["std_error"], **prop) in line
    assert _fmt("ci", level["ci_lower"], level["ci_upper"], level["std_error"], **prop) in line
    assert _fmt("effect", diff["estimate"], diff["std_error"], **prop) in line
    assert line.endswith(f"| {_fmt('p', test['p_adjusted'])} |")
    effects = next(e for e in eq["details"]["effects"] if e["column"] == "low_income")
    assert _fmt("count", effects["n_students"][1]) in line
    assert "0 (reference)" in _row(table, "low income", "0 (reference)")
    omnibus = next(t for t in eq["details"]["tests"] if t["kind"] == "omnibus" and t["column"] == "race_ethnicity")
    line = _row(section, "race ethnicity", "all 7 levels equal")
    assert _fmt("number", omnibus["statistic"]) in line and line.endswith(f"| {_fmt('p', omnibus['p_adjusted'])} |")
    assert "fig-equity-credential" in section
    access = _section(section, "## Access: who takes part", "{#tbl-equity-access-pathway}")
    rate = next(r for r in eq["details"]["access"]["rates"] if r["outcome"] == "pathway"
                and r["column"] == "low_income" and r["level"] == "1" and r["period"] == "after")
    change = next(g for g in eq["details"]["access"]["gaps"] if g["outcome"] == "pathway"
                  and g["column"] == "low_income" and g["level"] == "1" and g["period"] == "change")
    line = _row(access, "low income", "1")
    assert f"{_fmt('percent', rate['rate'])} of {_fmt('count', rate['n'])}" in line
    assert _fmt("effect", change["estimate"], change["std_error"], kind="proportion", signed=True) in line
    assert "`cohort < award_year`" in access


def test_equity_cells_below_the_minimum_are_suppressed_with_their_reason(interim_run: dict[str, Any]) -> None:
    qmd, eq = interim_run["qmd"], interim_run["results"]["equity"]
    section = _section(qmd, "# Equity {#sec-equity}")
    hidden = next(e for e in eq["estimates"] if e["label"] == "credential[entry_grade=12]")
    assert hidden["suppressed"] and hidden["estimate"] is None
    table = _section(section, "## Industry-recognised credential attainment", "{#tbl-equity-credential}")
    line = _row(table, "entry grade", "12")
    assert line == "| entry grade | 12 | " + " | ".join(["‡"] * 8) + " |"
    assert _md(hidden["suppression"]) in _section(section, "{#tbl-equity-credential}", ":::\n\n")
    # the level's students in the study sample: never shown, in any table of the section
    frame = pd.read_parquet(interim_run["data"] / DATA_NAME)
    for expr in ("cohort >= award_year", "cohort <= award_year + 3"):
        frame = frame[evaluate_restriction(frame, expr)]
    small = int((frame["entry_grade"] == 12).sum())
    assert 0 < small <= TINY_LEVEL_STUDENTS
    for text in (f"| {small} |", f"of {small} |"):
        assert not any(text in line for line in section.splitlines() if line.startswith("| entry grade"))
    access = _section(section, "## Access: who takes part")
    lines = [line for line in access.splitlines() if line.startswith("| entry grade | 12 |")]
    assert len(lines) == 2  # one per access outcome (pathway, credential)
    for line in lines:
        assert {c.strip() for c in line.strip("|").split("|")[2:]} == {"‡"}
    rates = [r for r in eq["details"]["access"]["rates"] if r["column"] == "entry_grade" and r["level"] == "12"]
    assert rates and all(r["suppressed"] and r["rate"] is None for r in rates)
    assert "entry grade = 12 (baseline): " + _md(rates[0]["suppression"]) in access


def test_access_gaps_of_a_single_period_are_reported(interim_run: dict[str, Any], tmp_path: Path) -> None:
    """Without baseline and after, the run records one period ``all`` whose restriction is null."""
    def one_period(results: dict[str, Any]) -> None:
        access = results["equity"]["details"]["access"]
        access["periods"] = {"all": None}
        access["rates"] = [dict(r, period="all") for r in access["rates"] if r["period"] == "after"]
        access["gaps"] = [dict(g, period="all") for g in access["gaps"] if g["period"] == "after"]

    qmd = _rebuild(interim_run["run"], tmp_path / "run", one_period)
    section = _section(qmd, "# Equity {#sec-equity}")
    assert "before and after it began" not in section and "Change of the gap" not in section
    access = _section(section, "## Access: who takes part")
    assert "| Subgroup | Level | Rate: all | Gap: all | Adjusted p |" in access
    gap = next(g for g in interim_run["results"]["equity"]["details"]["access"]["gaps"]
               if g["outcome"] == "pathway" and g["column"] == "low_income" and g["period"] == "after")
    line = _row(_section(access, "| Subgroup", "{#tbl-equity-access-pathway}"), "low income", "1")
    assert line.endswith(f"| {_fmt('effect', gap['estimate'], gap['std_error'], kind='proportion')} | "
                         f"{_fmt('p', gap['p_adjusted'])} |")


# -- pricing -------------------------------------------------------------------------------------------------------

def test_pricing_shows_gross_vs_impact_equity_terms_and_the_projected_benefit_stream(
        interim_run: dict[str, Any]) -> None:
    qmd, pricing = interim_run["qmd"], interim_run["results"]["pricing"]
    section = _section(qmd, "# Pay-for-Success pricing")
    gross = _section(section, "## Gross outcomes and impact", "{#tbl-gross-vs-impact")
    g = pricing["gross_vs_impact"]["credential"]["at_estimate"]
    line = _row(gross, "credential (at the estimate)")
    for key in ("gross_payment", "impact_payment", "deadweight_payment"):
        assert _fmt("money", g[key]) in line, key
    assert _fmt("number", g["gross_outcomes"], decimals=0) in line
    terms = _section(section, "## Equity terms", "## ")
    premium, floor = pricing["equity"]["premiums"][0], pricing["equity"]["floors"][0]
    line = _row(terms, "credential", "low\\_income=1", _fmt("percent", premium["rate"], decimals=0))
    assert _fmt("money", premium["expected_paid"]) in line and _fmt("percent", premium["p_paid"]) in line
    line = _row(terms, "credential", "low\\_income=1", _fmt("effect", floor["floor"], kind="proportion"))
    assert _fmt("percent", floor["p_met"]) in line
    stream = pricing["benefits"]["streams"][0]
    assert stream["projected"] is True
    streams = _section(section, "| Benefit stream | Estimate |", "{#tbl-benefit-streams}")
    line = _row(streams, "earnings (projected)",
                "earnings at age 26 (projected from interim outcomes by the surrogate index)")
    assert _fmt("effect", stream["improvement_at_estimate"], stream["estimate_std_error"], kind="money") in line
    assert _fmt("money", stream["pv_at_estimate"]) in line
    assert f"5th: {_fmt('money', stream['pv_quantiles']['5'])}" in line
    assert f"95th: {_fmt('money', stream['pv_quantiles']['95'])}" in line
    assert "fig-pricing-distribution" in section and "## Who pays and who benefits" in section


def test_interim_outcomes_are_described_with_their_units(interim_run: dict[str, Any]) -> None:
    estimates = _section(interim_run["qmd"], "# Impact estimates")
    assert ("industry-recognised credential attainment (share of students; effects in percentage points); "
            "pathway completion (share of students; effects in percentage points).") in estimates.replace("\n", " ")
    row = next(e for e in interim_run["results"]["design"]["estimates"] if e["label"] == "completer")
    line = _row(estimates, "Pathway completion", "Effect at the cutoff")
    assert _fmt("effect", row["estimate"], row["std_error"], kind="proportion") in line


def test_sections_are_absent_without_their_keys(interim_run: dict[str, Any], tmp_path: Path) -> None:
    def drop(results: dict[str, Any]) -> None:
        results.pop("surrogate")
        results.pop("equity")
        for key in ("gross_vs_impact", "equity"):
            results["pricing"].pop(key)
        results["pricing"]["benefits"].pop("streams")

    qmd = _rebuild(interim_run["run"], tmp_path / "run", drop)
    for heading in ("# Long-run earnings", "# Equity", "## Gross outcomes and impact", "## Equity terms",
                    "| Benefit stream |", "**Long-run", "**Equity.**"):
        assert heading not in qmd, heading
    assert "# Pay-for-Success pricing" in qmd and "fig-pricing-distribution" in qmd
    assert qmd != interim_run["qmd"]


def test_records_read_the_equity_and_new_pricing_keys_with_their_paths(interim_run: dict[str, Any]) -> None:
    records = load_run(interim_run["run"]).records
    assert records is not None
    eq = records.results.equity
    assert eq is not None and eq.outcomes == ["credential"]
    level = eq.estimate("credential[low_income=1]")
    assert level is not None and level.estimate.path.startswith("results.json:equity.estimates[")
    gap = eq.access.gap("pathway", "low_income", "change", "1") if eq.access is not None else None
    assert gap is not None and gap.p_adjusted.path.startswith("results.json:equity.details.access.gaps[")
    pricing = records.results.pricing
    assert pricing is not None and pricing.equity is not None
    assert pricing.gross_vs_impact["credential"].at_estimate.deadweight_payment.path == \
        "results.json:pricing.gross_vs_impact.credential.at_estimate.deadweight_payment"
    assert pricing.benefits is not None and pricing.benefits.streams[0].projected is True


# -- rendering -----------------------------------------------------------------------------------------------------

@pytest.mark.slow  # renders a whole report (pandoc)
def test_cteimpact_report_renders_the_interim_run_to_html(interim_run: dict[str, Any], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(interim_run["run"], run)
    assert main(["report", str(run), "--engine", "fallback", "--to", "html"]) == 0
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    for words in ("Long-run earnings from interim outcomes", "Surrogacy check at an observed horizon", "Equity",
                  "Gross outcomes and impact", "Equity terms"):
        assert words in html, words
    assert (run / "report" / "impact-report.qmd").read_text(encoding="utf-8") == interim_run["qmd"]
    entries = ledger(run / "report" / "impact-report.html")
    assert check_ledger(run, entries) == []  # every number re-formats from the value at its recorded path
    assert orphans(html, entries) == []  # and no number is shown that the ledger does not hold

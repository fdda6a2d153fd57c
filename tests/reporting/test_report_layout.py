"""What a reader needs, and the report-side defects of issue 11: the synthetic-data banner, the title block, the
certificate's attestation and signature block, the demo's index page, and one regression test per defect."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from number_trace import html_text
from pypdf import PdfReader
from reporting_helpers import external_references

from cteimpact.reporting.demo_index import write_demo_index
from cteimpact.reporting.numbers import FORMATTERS
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.run_reports import report_run
from cteimpact.reporting.rundir import load_run

pytestmark = pytest.mark.slow  # end to end: every test reports a whole verified study run

BANNER = "SYNTHETIC DATA — NOT A REAL EVALUATION"


def _copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    shutil.rmtree(target / "report", ignore_errors=True)
    return target


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _qmd(run: Path, kind: str = "impact") -> str:
    return build_report(load_run(run), kind).text  # type: ignore[arg-type]


def _text(run: Path, name: str = "impact-report") -> str:
    return html_text((run / "report" / f"{name}.html").read_text(encoding="utf-8"))


# -- the synthetic-data banner ---------------------------------------------------------------------------------------

def test_synthetic_data_are_flagged_on_every_pdf_page_and_in_the_html(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    assert json.loads((run / "results.json").read_text(encoding="utf-8"))["data"]["synthetic"] is True
    for name in ("impact-report", "certificate"):
        pages = PdfReader(run / "report" / f"{name}.pdf").pages
        assert len(pages) > 3
        for number, page in enumerate(pages, 1):
            assert " ".join((page.extract_text() or "").split()).count(BANNER) >= 2, (name, number)  # top and foot
        html = (run / "report" / f"{name}.html").read_text(encoding="utf-8")
        assert f'<div class="synthetic-banner" role="note">{BANNER}</div>' in html
    assert "The data are synthetic: this is not a real evaluation." in _text(run)


def test_real_data_have_no_banner(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    _edit(run / "results.json", lambda r: r.update(data={**r["data"], "synthetic": False}, truth=None))
    qmd = _qmd(run)
    assert "synthetic-banner" not in qmd and "synthetic" not in qmd.split("# Executive summary")[1].split("# The")[0]
    assert "# Estimates against the true effects" not in qmd
    report_run(run, to="html")
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    assert "synthetic-banner" not in html.split("</style>")[-1] and BANNER not in html


# -- the title block ------------------------------------------------------------------------------------------------

def test_the_title_block_names_study_authors_organisation_run_date_and_version(verified_run: Path,
                                                                              tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")

    def named(m: dict[str, Any]) -> None:
        m["specification"]["report"] = {"authors": ["A. Researcher", "B. Analyst"], "organisation": "State Agency",
                                        "templates": None}
    _edit(run / "manifest.json", named)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    report_run(run, to=("html", "pdf"))
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    header = html[html.index('<header id="title-block-header">'): html.index("</header>")]
    assert results["study"]["title"] in header.replace("&#39;", "'")
    assert '<p class="author">A. Researcher · B. Analyst</p>' in header
    assert '<p class="organisation">State Agency</p>' in header
    assert f'<p class="date">{manifest["run_date"]} · cteimpact {manifest["code"]["cteimpact"]}</p>' in header
    first = " ".join((PdfReader(run / "report" / "impact-report.pdf").pages[0].extract_text() or "").split())
    for text in ("A. Researcher · B. Analyst", "State Agency", manifest["run_date"],
                 f"cteimpact {manifest['code']['cteimpact']}", "1 Executive summary"):
        assert text in first, text
    assert "Contents" not in first  # page 1 is the executive summary; the contents follow it


# -- the certificate ------------------------------------------------------------------------------------------------

def test_the_certificate_has_a_signature_block_with_the_validator(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    _edit(run / "certificate.json",
          lambda c: c.update(validator={"name": "J. Validator", "organisation": "Evaluation Office"}))
    qmd = _qmd(run, "certificate")
    cert = json.loads((run / "certificate.json").read_text(encoding="utf-8"))
    block = qmd[qmd.index("# Signature"):]
    assert "| Validator | J. Validator |" in block and "| Organisation | Evaluation Office |" in block
    assert f"| Date of verification | {cert['verified_on']} |" in block
    assert "| Signature | |" in block and "**VERIFIED**" in block
    head = qmd.split("---")[1]
    assert 'author:\n  - "J. Validator"' in head and 'organisation: "Evaluation Office"' in head
    assert f'date: "{cert["verified_on"]}"' in head


def test_the_attestation_tells_a_same_software_rerun_from_an_independent_one(verified_run: Path,
                                                                            tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    same = _qmd(run, "certificate")
    assert "**Re-computed with the same software** (" in same and "not a replication in an\nindependent" in same
    assert same.count("it does not check the software itself") == 1  # said once, in the recorded attestation
    assert "**Re-computed in an independent environment.**" not in same

    def other(c: dict[str, Any]) -> None:
        c["environment"] = {"same": False, "accepted": True, "differences": ["numpy 2.4.6 (run) vs 2.3.1 (verifier)"],
                            "comparison": "within the tolerances of an accepted other environment"}
    _edit(run / "certificate.json", other)
    independent = _qmd(run, "certificate")
    assert "**Re-computed in an independent environment.**" in independent
    assert "numpy 2.4.6 (run) vs 2.3.1 (verifier)" in independent
    assert "**Re-computed with the same software**" not in independent


# -- the demo's index page -----------------------------------------------------------------------------------------

def test_the_demo_index_links_the_reports_with_headline_estimates_and_truth(reported: dict[str, Path],
                                                                           reported_did: Path,
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    runs = [shutil.copytree(reported["cli"], out / "runs" / "ccpt-dropout-rd"),
            shutil.copytree(reported_did, out / "runs" / "pathways-earnings-did")]
    index = write_demo_index(out, runs)
    assert index == out / "index.html"
    html = index.read_text(encoding="utf-8")
    assert external_references(html.replace('href="runs/', 'href="#runs/')) == []
    links = re.findall(r'href="([^"#]+)"', html)
    assert len(links) == 8 and all((out / link).is_file() for link in links)
    assert BANNER in html
    for run in runs:
        results = json.loads((run / "results.json").read_text(encoding="utf-8"))
        assert results["study"]["title"] in html.replace("&#39;", "'")
        assert results["headline"]["name"] in html.replace("&#39;", "'")
        primary = {results["headline"]["label"], *(e["outcome"] for e in results["design"]["estimates"])}
        shown = [r for r in results["truth"]["rows"] if r["label"] in primary]
        assert shown and len(shown) < len(results["truth"]["rows"])  # the headline and primaries, not every row
        for row in shown:
            term = next(e["term"] for e in results["design"]["estimates"] if e["label"] == row["label"])
            assert f" — {term}</td>" in html.replace("&#39;", "'")
    assert "<code>dropout[" not in html and "[reduced_form]" not in html  # reader names, not labels
    assert html.count("</td></tr>") == sum(
        len({r["label"] for r in res["truth"]["rows"]}
            & {res["headline"]["label"], *(e["outcome"] for e in res["design"]["estimates"])})
        for res in (json.loads((r / "results.json").read_text()) for r in runs))
    assert "Estimand</th>" in html and "independent re-computation" not in html
    assert "verified" in html


# -- defects of issue 11 ----------------------------------------------------------------------------------------------

def test_cohorts_are_years_not_amounts_and_every_cohort_has_its_wwc_category(reported_did: Path) -> None:
    text = _text(reported_did)
    assert not re.search(r"\b2,0[12]\d\.0+\b|\b20[12]\d\.0+\b", text)  # "2,014.00"
    qmd = (reported_did / "report" / "impact-report.qmd").read_text(encoding="utf-8")
    table = qmd[qmd.index("# Standards checklist"): qmd.index("{#tbl-standards-")]
    rows = [line for line in table.splitlines() if re.match(r"\| 20\d\d \|", line)]
    results = json.loads((reported_did / "results.json").read_text(encoding="utf-8"))
    equivalence = results["design"]["extra"]["baseline_equivalence"]
    assert len(rows) == len(equivalence)
    for line, r in zip(rows, equivalence, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == str(int(r["cohort"]))
        assert cells[-1] in ("satisfied", "satisfied with adjustment", "NOT SATISFIED") and cells[-1] != ""


def test_a_cohort_that_fails_baseline_equivalence_is_flagged(verified_did_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_did_run, tmp_path / "run")

    def fail(r: dict[str, Any]) -> None:
        row = r["design"]["extra"]["baseline_equivalence"][1]
        row["effect_size"], row["wwc_category"] = -0.404, "not satisfied"
        review = r["design"]["extra"]["baseline_equivalence_review"]
        review["not_satisfied"], review["overall"] = [row["cohort"]], "not satisfied"
    _edit(run / "results.json", fail)
    cohort = json.loads((run / "results.json").read_text())["design"]["extra"]["baseline_equivalence"][1]["cohort"]
    qmd = _qmd(run)
    assert f"| {int(cohort)} | -0.404 | Hedges' g | NOT SATISFIED |" in qmd
    assert '::: {.callout-warning title="Baseline equivalence not satisfied"}' in qmd
    assert f"Baseline equivalence is **not satisfied** for cohort\n{int(cohort)}" in qmd  # on page 1
    assert f"**Baseline equivalence not satisfied (cohort {int(cohort)}).**" in qmd


@pytest.mark.parametrize("design", ["rd", "did"])
def test_no_raw_labels_tex_or_scientific_notation_in_the_text(design: str, reported: dict[str, Path],
                                                             reported_did: Path) -> None:
    run = reported["cli"] if design == "rd" else reported_did
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    prose = html_text(re.sub(r"<pre.*?</pre>|<code>.*?</code>", " ", html, flags=re.DOTALL))
    prose = prose[: prose.index("Appendix A: Specification", prose.index("Limitations"))]  # the spec as written
    prose = re.sub(r"Pricing note\. [^.]*\.|Contract notes, assumptions and sources.*?Limitations", " ", prose)
    for raw in ("[reduced_form]", "reduced_form", "[first_stage]", "tau_bc", "z_{", "\\(", "α/2", "[event=",
                "[group=", "coin flip", "includes no effect", "2×2"):
        assert raw not in prose, raw
    assert not re.search(r"\d\.?\d*e-\d\d", prose)  # "6.9e-02 percentage points"


def test_no_absolute_local_path_in_any_report_file(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    local = str(run.parent.parent)
    for path in (run / "report").iterdir():
        if path.suffix in (".qmd", ".html", ".json"):
            assert local not in path.read_text(encoding="utf-8"), path.name
    entry = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["report"]
    assert local not in json.dumps(entry)


def test_command_line_advice_keeps_its_hyphens(verified_did_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_did_run, tmp_path / "run")
    note = "2 units were dropped; to keep them, set allow_unbalanced = true (command line: --allow-unbalanced)"
    _edit(run / "results.json", lambda r: r["design"]["details"].update(notes=[note]))
    report_run(run, to="html")
    text = _text(run)
    assert "command line: --allow-unbalanced)" in text and "–allow-unbalanced" not in text


def test_the_headline_estimate_has_one_name_and_one_value_everywhere(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    headline = results["headline"]
    value = f"{100 * headline['estimate']:.1f}"
    impact = (run / "report" / "impact-report.qmd").read_text(encoding="utf-8")
    summary = impact[impact.index("# Executive summary"): impact.index("# The program")]
    assert f"*{headline['name']}*" in summary.replace("\n", " ") and f"by {value.lstrip('-')} percentage" in summary
    priced = impact[impact.index("## Payments"): impact.index("{#tbl-priced-estimates}")]
    assert f"| {value}\u00a0pp |" in priced and ", bias-corrected" in priced
    certificate = (run / "report" / "certificate.qmd").read_text(encoding="utf-8")
    assert f"= **{value}\u00a0pp**" in certificate and headline["name"] in certificate


def test_intervals_are_labelled_pointwise_or_simultaneous(reported_did: Path) -> None:
    qmd = (reported_did / "report" / "impact-report.qmd").read_text(encoding="utf-8")
    event = qmd[qmd.index("## Event study and pre-trends"): qmd.index("{#tbl-event-study")]
    assert "| Pointwise p |" in event and "| simultaneous band (sup-t) |" in event
    assert "simultaneous, simultaneous" not in event  # the kind of interval named once
    impacts = qmd[qmd.index("# Impact estimates"): qmd.index("{#tbl-impacts}")]
    assert "| pointwise, wild cluster bootstrap |" in impacts
    assert "the p-values beside them are pointwise" in qmd


def test_effect_sizes_state_the_standard_deviation_they_divide_by(reported_did: Path) -> None:
    results = json.loads((reported_did / "results.json").read_text(encoding="utf-8"))
    es = results["design"]["extra"]["effect_sizes"][0]
    text = _text(reported_did)
    assert f"Effect size: the ATT divided by the {es['standardiser_name']} (${es['standardiser']:,.0f})" in text
    assert f"{es['estimate']:+.3f} (Hedges' g)" in text


def test_pricing_names_its_caps_and_both_losses(reported: dict[str, Path]) -> None:
    results = json.loads((reported["cli"] / "results.json").read_text(encoding="utf-8"))
    text = _text(reported["cli"])
    investors = results["pricing"]["investors"]
    assert f"Largest possible loss (under the contract's terms) ${investors['max_loss']:,.0f}" in text
    assert f"Largest loss among the simulated draws ${investors['max_simulated_loss']:,.0f}" in text
    for cap in results["pricing"]["payments"]["caps"]:
        assert f"Probability the {cap['kind'].replace('_', ' ')} cap (${cap['limit']:,.0f}, on {cap['applies_to']})" \
               " binds" in text
    prose = text[: text.index("Appendix A: Specification", text.index("Limitations"))]
    assert "per_student" not in prose and "outcome_caps" not in prose


def test_relative_change_and_cox_index_are_recorded_ones_from_the_stated_baseline(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    fit = next(f for f in results["design"]["details"]["fits"] if f["label"] == "dropout")
    itt = next(e for e in fit["effect_sizes"] if e["estimand"] == "intention_to_treat")
    late = next(e for e in fit["effect_sizes"] if e["estimand"] == "late")
    qmd = (run / "report" / "impact-report.qmd").read_text(encoding="utf-8")
    row = next(line for line in qmd.splitlines() if line.startswith("| Dropout | Intention to treat |"))
    assert row.endswith(f"| {100 * itt['relative_change']:+.1f}% | {itt['cox_index']['value']:+.3f} |")
    late_row = next(line for line in qmd.splitlines() if line.startswith("| Dropout | Local average treatment"))
    assert late_row.endswith("| — | — |") and late["relative_reason"] in qmd  # the reason, not a number
    summary = qmd[qmd.index("# Executive summary"): qmd.index("# The program")]
    assert f"Just below the cutoff, dropout is {100 * fit['baseline']['value']:.1f}%" in summary
    assert f"is a relative change of {100 * itt['relative_change']:+.1f}%" in summary.replace("\n", " ")
    assert fit["baseline"]["definition"] in qmd


def test_subgroup_differences_are_the_differences_of_the_rows_above(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    details = json.loads((run / "results.json").read_text(encoding="utf-8"))["design"]["details"]
    qmd = (run / "report" / "impact-report.qmd").read_text(encoding="utf-8")
    end = qmd.index(":::", qmd.index(":::", qmd.index("{#tbl-subgroup-differences}")) + 3)
    table = qmd[qmd.index("{#tbl-subgroups}"): end]
    for c in details["subgroup_comparisons"]:
        assert c["difference"] == pytest.approx(c["estimate_a"] - c["estimate_b"], abs=1e-12)
        line = next(x for x in table.splitlines()
                    if f"| {c['column']} = {c['level_a']} minus" in x.replace("\\_", "_")
                    and x.startswith(f"| {'Dropout' if c['outcome'] == 'dropout' else 'Graduation'} |"))
        shown = FORMATTERS["effect"](c["difference"], c["se"], kind="proportion")
        assert f"| {shown} |" in line
    assert f"estimator: {details['subgroup_comparisons'][0]['estimator']}" in table.replace("\n", " ")


def test_a_donut_that_could_not_be_estimated_says_why(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    reason = "1.5% of the observations sit exactly at the cutoff: this donut would remove nothing"

    def unestimated(r: dict[str, Any]) -> None:
        rows = r["design"]["details"]["diagnostics"]["dropout"]["checks"]["donut"]["table"]
        rows[1].update(estimated=False, note=reason, estimate=None, se_robust=None)
    _edit(run / "results.json", unestimated)
    qmd = _qmd(run)
    assert f"| not estimated: {reason} |" in qmd


def test_a_weak_first_stage_is_named_with_its_threshold(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")

    def weak(r: dict[str, Any]) -> None:
        fit = next(f for f in r["design"]["details"]["fits"] if f["label"] == "dropout")
        fit["weak_first_stage"].update(f_statistic=6.5, weak=True)
    _edit(run / "results.json", weak)
    qmd = _qmd(run)
    assert "The first stage of dropout is weak (F = 6.50, below\n10.0)" in qmd
    assert "- **Weak first stage (dropout).** The jump in participation has F = 6.50," in qmd


@pytest.mark.parametrize("design", ["rd", "did"])
def test_every_table_is_one_block_of_rows(design: str, reported: dict[str, Path], reported_did: Path) -> None:
    """A blank line between two rows of a pipe table would break it into a table and stray text."""
    run = reported["cli"] if design == "rd" else reported_did
    for name in ("impact-report", "certificate"):
        qmd = (run / "report" / f"{name}.qmd").read_text(encoding="utf-8")
        assert not re.search(r"^\|.*\|[ \t]*\n[ \t]*\n\|", qmd, flags=re.MULTILINE), name
        for table in re.findall(r"(?:^\|.*\n)+", qmd, flags=re.MULTILINE):
            cells = {len(re.split(r"(?<!\\)\|", line.strip().strip("|"))) for line in table.splitlines()}
            assert len(cells) == 1, table[:300]  # every row has the header's columns

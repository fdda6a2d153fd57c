"""`cteimpact report` on a real run directory: the impact report and the validator's certificate.

One synthetic data set (seed 7, scale 0.05), one run of analyses/ccpt-dropout-rd.toml and its verification are made
per session; the reports are rendered with the fallback renderer into two copies of that run directory (one through
the command line, one through the Python API), which must give identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from reporting_helpers import external_references, pdf_outline, pdf_text

from cteimpact.cli.app import main
from cteimpact.reporting import RendererNotFoundError, find_quarto, format_full, format_money
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.run_reports import report_run
from cteimpact.reporting.rundir import NotARunDirectoryError, load_run

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "analyses" / "ccpt-dropout-rd.toml"

IMPACT_SECTIONS = (
    "Executive summary", "The program and the counterfactual", "Design and estimand", "Data and sample",
    "Impact estimates", "Validity checks", "Standards checklist", "Pay-for-Success pricing", "Limitations",
)
APPENDICES = ("Appendix A: Specification", "Appendix B: Reproducibility", "Appendix C: Resolved specification (JSON)")
CERTIFICATE_SECTIONS = ("Verdict", "Scope", "Attestation", "Inputs received", "Headline results as re-computed",
                        "Re-computation", "Thresholds and payment due", "Tolerance policy", "Software", "Signature")


def _installed_quarto() -> Path | None:
    try:
        return find_quarto()
    except RendererNotFoundError:
        return None


requires_quarto = pytest.mark.skipif(
    _installed_quarto() is None,
    reason="quarto CLI not installed (not on PATH, QUARTO_PATH unset): the fallback renderer is tested instead",
)


def _copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    return target


def _headline(run: Path) -> tuple[str, float]:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    label = results["design"]["details"]["outcomes"][0]
    row = next(e for e in results["design"]["estimates"] if e["label"] == label)
    return label, row["estimate"]


# -- the fast loop's smoke test --------------------------------------------------------------------------------------


def test_the_quick_study_is_reported_through_the_command_line(light_rd_study: dict[str, Path], tmp_path: Path) -> None:
    """The one test of `cteimpact report` on a real run in ``pytest -m "not slow"`` (the tests below report the whole
    study and are marked slow): the quick study (no diagnostics; ``light_rd_study``), reported to HTML, shows its
    estimate exactly as results.json holds it, references no external file and lists every report file, with its
    hash, in the manifest; without a certificate only the impact report is written."""
    run = _copy(light_rd_study["run"], tmp_path / "runs" / "run")
    assert main(["report", str(run), "--engine", "fallback", "--to", "html"]) == 0
    _, estimate = _headline(run)
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    assert format_full(estimate) in html
    assert external_references(html) == []
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f["sha256"] for f in manifest["report"]["files"]}
    assert "report/impact-report.html" in listed
    for path, digest in listed.items():
        assert hashlib.sha256((run / path).read_bytes()).hexdigest() == digest, path
    assert not (run / "report" / "certificate.html").exists()


# -- the impact report ------------------------------------------------------------------------------------------


@pytest.mark.slow  # reports a whole verified study run
def test_html_shows_the_headline_estimate_exactly_as_results_json(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    _, estimate = _headline(run)
    text = format_full(estimate)
    raw = (run / "results.json").read_text(encoding="utf-8")
    assert f'"estimate": {text},' in raw  # the text is the one results.json holds
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    assert text in html


@pytest.mark.slow  # reports a whole verified study run
def test_html_references_no_external_file(reported: dict[str, Path]) -> None:
    for name in ("impact-report.html", "certificate.html"):
        html = (reported["cli"] / "report" / name).read_text(encoding="utf-8")
        assert external_references(html) == [], name
        assert "<img" in html or name == "certificate.html"


@pytest.mark.slow  # reports a whole verified study run
def test_impact_html_embeds_the_run_figures(reported: dict[str, Path]) -> None:
    html = (reported["cli"] / "report" / "impact-report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', html)
    # the two RD plots, the checks (the density test once, it does not depend on the outcome), three pricing plots
    assert len(images) == 2 + 7 + 6 + 3


@pytest.mark.slow  # reports a whole verified study run
def test_pdf_has_the_expected_sections_in_order(reported: dict[str, Path]) -> None:
    outline = pdf_outline(reported["cli"] / "report" / "impact-report.pdf")
    top = [t for t in outline if re.match(r"^\d+\s", t)]
    positions = [next(i for i, t in enumerate(top) if t.endswith(s)) for s in IMPACT_SECTIONS]
    assert positions == sorted(positions)
    assert [t for t in outline if t.startswith("Appendix")] == list(APPENDICES)  # after the numbered sections
    assert outline.index(APPENDICES[0]) > max(outline.index(t) for t in top)
    text = pdf_text(reported["cli"] / "report" / "impact-report.pdf")
    for caption in ("Impact estimates at the cutoff", "Dropout: validity checks and their verdicts",
                    "Students in each outcome's estimation sample, by side of the cutoff",
                    "WWC-style standards review", "Payment thresholds", "expected payment against the expected benefit",
                    "Headline values at full precision"):
        assert caption in text


@pytest.mark.slow  # reports a whole verified study run
def test_renders_are_byte_identical(reported: dict[str, Path]) -> None:
    for name in ("impact-report", "certificate"):
        for ext in (".qmd", ".html", ".pdf"):
            a = (reported["cli"] / "report" / f"{name}{ext}").read_bytes()
            b = (reported["api"] / "report" / f"{name}{ext}").read_bytes()
            assert a == b, f"{name}{ext}"


@pytest.mark.slow  # reports a whole verified study run
def test_pdf_has_no_date(reported: dict[str, Path]) -> None:
    pdf = (reported["cli"] / "report" / "impact-report.pdf").read_bytes()
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf


@pytest.mark.slow  # reports a whole verified study run
def test_reports_show_only_recorded_numbers_at_reader_precision(reported: dict[str, Path]) -> None:
    run = load_run(reported["cli"])
    qmd = (reported["cli"] / "report" / "impact-report.qmd").read_text(encoding="utf-8")
    itt = run.records.results.estimate("dropout[reduced_form]")  # type: ignore[union-attr]
    assert itt is not None and itt.estimate is not None
    # the intention-to-treat effect in percentage points, with the decimals its standard error supports
    assert f"{100 * itt.estimate:.1f}\u00a0pp" in qmd
    # no relative change is computed in the report: the fit's covariate-adjusted intercept is not a baseline
    fit = next(f for f in run.results["design"]["details"]["fits"] if f["label"] == "dropout")
    adjusted = fit["reduced_form"]["limits"][0]
    assert f"{100 * itt.estimate / adjusted:+.1f}%" not in qmd
    assert f"{100 * adjusted:.1f}% just below the cutoff" not in qmd


@pytest.mark.slow  # reports a whole verified study run
def test_manifest_records_the_report_apart_from_the_outputs(reported: dict[str, Path]) -> None:
    before = json.loads((reported["original"] / "manifest.json").read_text(encoding="utf-8"))
    after = json.loads((reported["cli"] / "manifest.json").read_text(encoding="utf-8"))
    assert "report" not in before
    assert {k: v for k, v in after.items() if k != "report"} == before  # outputs, inputs... untouched
    entry = after["report"]
    assert entry["engine"].startswith("fallback: pandoc ")
    assert entry["formats"] == ["html", "pdf"]
    paths = {f["path"] for f in entry["files"]}
    assert {"report/impact-report.qmd", "report/impact-report.html", "report/impact-report.pdf",
            "report/certificate.qmd", "report/certificate.html", "report/certificate.pdf",
            "report/impact-report.numbers.json", "report/certificate.numbers.json",
            "report/figures/rd-dropout.png"} <= paths
    assert entry["templates"] == {}  # cteimpact's own templates only
    for f in entry["files"]:
        digest = hashlib.sha256((reported["cli"] / f["path"]).read_bytes()).hexdigest()
        assert digest == f["sha256"], f["path"]
    for o in after["outputs"]:  # what verify re-hashes still matches
        assert hashlib.sha256((reported["cli"] / o["path"]).read_bytes()).hexdigest() == o["sha256"]


@pytest.mark.slow  # reports a whole verified study run
def test_no_student_identifier_in_any_report_file(reported: dict[str, Path], verified_run: Path) -> None:
    import pandas as pd

    from cteimpact.provenance import find_identifiers

    ids = set(pd.read_parquet(verified_run.parent / "data" / "students.parquet", columns=["student_id"])["student_id"])
    files = [p for p in (reported["cli"] / "report").rglob("*") if p.is_file() and p.suffix in (".qmd", ".html")]
    assert len(files) == 4
    assert find_identifiers(files, ids) == {}


# -- the certificate --------------------------------------------------------------------------------------------


@pytest.mark.slow  # reports a whole verified study run
def test_certificate_shows_the_verdict_and_the_payment_due(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    cert = json.loads((run / "certificate.json").read_text(encoding="utf-8"))
    html = (run / "report" / "certificate.html").read_text(encoding="utf-8")
    pdf = pdf_text(run / "report" / "certificate.pdf")
    assert cert["verdict"] == "verified"
    assert "The run is verified" in html and "VERIFIED." in html
    assert "Re-computed with the same software" in html  # the attestation of a same-environment re-run
    due = format_money(cert["payment_due"]["total_at_estimate"])
    assert f"<strong>{due}</strong> in total" in html
    assert "Payment due at the certified estimate (USD)" in pdf
    compared = f"{cert['recomputation']['compared']:,}"
    assert f"{compared} values of results.json were re-computed" in html
    for row in cert["inputs"]:
        assert row["sha256_recorded"] in html
    outline = " | ".join(pdf_outline(run / "report" / "certificate.pdf"))
    for title in CERTIFICATE_SECTIONS:
        assert title in outline


@pytest.mark.slow  # reports a whole verified study run
def test_certificate_lists_mismatches_and_the_failed_verdict(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    cert = json.loads((run / "certificate.json").read_text(encoding="utf-8"))
    row = next(r for r in cert["recomputation"]["rows"] if r["path"] == "design.estimates[0].estimate")
    row.update(recorded=row["recomputed"] + 0.01, difference=-0.01, match=False)
    cert["recomputation"].update(matched=cert["recomputation"]["compared"] - 1, mismatched=1)
    cert["verdict"] = "not verified"
    cert["reasons"] = ["1 of many values of results.json do not match the re-computation"]
    (run / "certificate.json").write_text(json.dumps(cert), encoding="utf-8")
    qmd = build_report(load_run(run), "certificate").text
    assert "The run is NOT verified" in qmd
    assert "NOT VERIFIED." in qmd
    mismatches = qmd[qmd.index("Values that do not match") - 2000: qmd.index("Values that do not match")]
    assert "`design.estimates[0].estimate`" in mismatches
    assert f"`{format_full(row['recorded'])}`" in mismatches and "| NO" in mismatches


@pytest.mark.slow  # reports a whole verified study run
def test_certificate_of_changed_results_is_flagged_out_of_date(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    results["design"]["estimates"][0]["estimate"] += 0.01
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    qmd = build_report(load_run(run), "certificate").text
    assert "Certificate out of date" in qmd


@pytest.mark.slow  # reports a whole verified study run
def test_report_of_a_sharp_run_without_diagnostics_or_pricing(verified_run: Path, tmp_path: Path) -> None:
    """The sharp-design wording and the sections that depend on optional parts of a run (checks, local
    randomisation, pricing, certificate) when those parts are absent."""
    run = _copy(verified_run, tmp_path / "run")
    (run / "certificate.json").unlink()
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    design = results["design"]
    design["options"]["fuzzy"] = None
    design["options"]["design"] = "sharp"
    design["estimates"] = [e for e in design["estimates"]
                           if not e["label"].endswith(("[first_stage]", "[reduced_form]"))]
    for f in design["details"]["fits"]:
        f["design"], f["reduced_form"] = "sharp", None
    design["details"]["diagnostics"] = {}
    design["details"]["local_randomization"] = {}
    results["pricing"] = None
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    qmd = build_report(load_run(run), "impact").text
    assert "sharp regression discontinuity study" in qmd
    summary = qmd[qmd.index("# Executive summary"): qmd.index("# The program")]
    assert "Scoring at or above the cutoff is estimated to have lowered dropout" in summary
    assert "(effect at the cutoff; 95% CI" in summary
    assert "but the interval includes zero: the data are consistent with no effect" in summary
    assert "includes no effect" not in qmd
    estimate = next(e for e in design["estimates"] if e["label"] == "dropout")["estimate"]
    row = next(line for line in qmd.splitlines() if line.startswith("| Dropout | Effect at the cutoff"))
    assert f"{100 * estimate:.1f}\u00a0pp" in row
    assert "The run did not compute validity checks" in qmd
    assert "The run records no standards review" in qmd
    assert "# Pay-for-Success pricing" not in qmd and "## Local randomisation" not in qmd
    assert "**Payment.**" not in summary
    assert "**Not yet verified.**" in qmd


# -- privacy ----------------------------------------------------------------------------------------------------


@pytest.mark.slow  # reports a whole verified study run
def test_subgroup_cells_below_the_minimum_are_suppressed(verified_run: Path, tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    fits = {f["label"]: f for f in results["design"]["details"]["fits"]}
    sizes = sorted(min(f["fit"]["n_h"]) for f in fits.values() if f["kind"] == "subgroup")
    threshold = sizes[len(sizes) // 2]  # about half of the subgroup cells fall below it
    results["privacy"]["min_cell"] = threshold
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    qmd = build_report(load_run(run), "impact").text
    table = qmd[qmd.index("## Subgroups"): qmd.index("{#tbl-subgroups}")]
    hidden = [f for f in fits.values() if f["kind"] == "subgroup" and min(f["fit"]["n_h"]) < threshold]
    assert hidden
    for f in hidden:
        below, above = f["fit"]["n_h"]
        small = below if below < threshold else above
        assert f"| {small:,} " not in table  # the small count itself is never shown
    assert table.count("‡") >= 2 * len(hidden)
    note = qmd[qmd.index("{#tbl-subgroups}"): qmd.index("{#tbl-subgroups}") + 1500]
    assert f"fewer than {threshold} students are not shown" in note
    assert "**Privacy.**" in qmd


# -- the command line -------------------------------------------------------------------------------------------


@pytest.mark.slow  # reports a whole verified study run
def test_report_of_a_run_without_certificate_writes_only_the_impact_report(verified_run: Path,
                                                                          tmp_path: Path) -> None:
    run = _copy(verified_run, tmp_path / "run")
    (run / "certificate.json").unlink()
    (run / "report").mkdir()
    (run / "report" / "certificate.html").write_text("stale", encoding="utf-8")
    assert main(["report", str(run), "--to", "html", "--engine", "fallback"]) == 0
    written = sorted(p.name for p in (run / "report").iterdir() if p.is_file())
    assert written == ["impact-report.html", "impact-report.numbers.json", "impact-report.qmd"]
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    assert "has not yet been verified" in html


@pytest.mark.slow  # reports a whole verified study run
@pytest.mark.parametrize("make", ["empty", "missing", "file", "bad-json", "other-schema"])
def test_report_exits_2_on_a_directory_that_is_not_a_run(make: str, tmp_path: Path, verified_run: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a directory", encoding="utf-8")
    elif make in ("bad-json", "other-schema"):
        _copy(verified_run, target)
        if make == "bad-json":
            (target / "results.json").write_text("{not json", encoding="utf-8")
        else:
            manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
            manifest["schema"] = "cteimpact.manifest/0"
            (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
    assert not (target / "report").exists() if target.is_dir() else True


@pytest.mark.slow  # reports a whole verified study run
def test_report_exits_2_on_an_unknown_format(reported: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(reported["cli"]), "--to", "docx"]) == 2
    assert "docx" in capsys.readouterr().err


@pytest.mark.slow  # reports a whole verified study run
@pytest.mark.skipif(_installed_quarto() is not None,
                    reason="quarto is installed here: the missing-quarto path cannot be exercised")
def test_missing_quarto_fails_before_touching_the_run(reported: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = reported["cli"]
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["report", str(run), "--engine", "quarto"]) == 2
    assert "quarto is not installed" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_load_run_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NotARunDirectoryError, match=r"manifest\.json \(written last\) is missing"):
        load_run(tmp_path)


# -- quarto ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quarto_reported(verified_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = _copy(verified_run, tmp_path_factory.mktemp("quarto") / "run")
    report_run(run, engine="quarto")
    return run


@pytest.mark.slow  # reports a whole verified study run
@requires_quarto
def test_quarto_html_is_self_contained_and_exact(quarto_reported: Path) -> None:
    _, estimate = _headline(quarto_reported)
    html = (quarto_reported / "report" / "impact-report.html").read_text(encoding="utf-8")
    assert format_full(estimate) in html
    assert external_references(html) == []
    manifest = json.loads((quarto_reported / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["report"]["engine"].startswith("quarto ")


@pytest.mark.slow  # reports a whole verified study run
@requires_quarto
def test_quarto_pdf_has_the_expected_sections(quarto_reported: Path) -> None:
    outline = " | ".join(pdf_outline(quarto_reported / "report" / "impact-report.pdf"))
    for title in IMPACT_SECTIONS:
        assert title in outline


@pytest.mark.slow  # reports a whole verified study run
@requires_quarto
def test_quarto_rerender_is_byte_identical(quarto_reported: Path, tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in (quarto_reported / "report").glob("*.*")}
    report_run(quarto_reported, engine="quarto")
    again = {p.name: p.read_bytes() for p in (quarto_reported / "report").glob("*.*")}
    assert again == first

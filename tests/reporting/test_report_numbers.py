"""No orphan numbers: every number in each rendered report (HTML text) is traced to results.json, manifest.json or
certificate.json by path, through the ledger the report writes beside itself (report/*.numbers.json).

Each ledger entry is checked against the run (its formatter, re-run on the values at its paths, gives the text the
report shows; a recorded text holds the numbers shown from it), and each number of the HTML text must be one the
ledger holds; the only exceptions are the structural numbers of number_trace.STRUCTURAL (figure, table and section
numbers, citation years, "SHA-256").
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from number_trace import check_ledger, html_text, ledger, numbers_in, orphans

from cteimpact.cli.app import main
from cteimpact.reporting.numbers import OrphanNumberError
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.rundir import load_run
from cteimpact.reporting.templating import ReportTemplateError

pytestmark = pytest.mark.slow  # end to end: every test reports a whole verified study run


@pytest.mark.parametrize("name", ["impact-report", "certificate"])
@pytest.mark.parametrize("design", ["rd", "did"])
def test_every_number_of_the_report_traces_to_the_records(name: str, design: str, reported: dict[str, Path],
                                                         reported_did: Path) -> None:
    run = reported["cli"] if design == "rd" else reported_did
    report = run / "report" / f"{name}.html"
    entries = ledger(report)
    html = report.read_text(encoding="utf-8")
    shown = numbers_in(html_text(html))
    assert len(shown) > (800 if name == "impact-report" else 100)  # the reader really found the report's numbers
    assert len(entries) > (400 if name == "impact-report" else 60)
    assert check_ledger(run, entries) == []
    assert orphans(html, entries) == []
    # the ledger names real formatters and paths into all three records
    sources = {p.split(":")[0] for e in entries for p in (*e.get("inputs", {}).values(), e.get("source", "x:"))}
    assert ({"results.json", "manifest.json"} if name == "impact-report" else {"certificate.json"}) <= sources


def test_the_trace_catches_an_orphan_and_a_wrong_entry(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    report = run / "report" / "impact-report.html"
    entries = ledger(report)
    html = report.read_text(encoding="utf-8")
    planted = html.replace("</main>", "<p>The effect was 31.7% larger in 2019.</p></main>")
    found = orphans(planted, entries)
    assert len(found) == 2 and "'31.7'" in found[0] and "'2019'" in found[1]
    wrong = [dict(e) for e in entries if e.get("formatter") == "effect"][:1]
    wrong[0]["text"] = "-9.9\u00a0pp"
    assert len(check_ledger(run, wrong)) == 1
    moved = [dict(e) for e in entries if e.get("formatter") == "count"][:1]
    moved[0]["inputs"] = {"x": "results.json:design.estimates[0].estimate"}  # another value
    assert len(check_ledger(run, moved)) == 1


def test_the_ledger_is_written_beside_each_report_and_listed_in_the_manifest(reported: dict[str, Path]) -> None:
    run = reported["cli"]
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"] for f in manifest["report"]["files"]}
    for name in ("impact-report", "certificate"):
        path = run / "report" / f"{name}.numbers.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["schema"] == "cteimpact.report-numbers/1" and data["numbers"]
        assert f"report/{name}.numbers.json" in listed


def _with_template(run: Path, tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "templates" / "impact"
    folder.mkdir(parents=True)
    (folder / "summary.qmd.j2").write_text("# Executive summary {#sec-summary}\n\n" + body + "\n", encoding="utf-8")
    return tmp_path / "templates"


@pytest.mark.parametrize(("body", "words"), [
    ("{{ (headline.estimate * 100)|pct }}", "a number (percent of"),
    ("{{ headline.estimate }}", "without a formatting filter"),
    ("{{ results.privacy.min_cell + 1 }}", "without a formatting filter"),
], ids=["computed", "no-filter", "arithmetic"])
def test_a_template_that_computes_or_writes_a_bare_number_fails(body: str, words: str, verified_run: Path,
                                                               tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cteimpact.reporting.templating import StudyTemplates

    run = tmp_path / "run"
    shutil.copytree(verified_run, run)
    folder = _with_template(run, tmp_path, body)
    with pytest.raises((OrphanNumberError, ReportTemplateError)) as info:
        build_report(load_run(run), "impact", templates=StudyTemplates(folder))
    assert words in str(info.value) and "impact/summary.qmd.j2" in str(info.value)
    assert main(["report", str(run), "--to", "html", "--templates", str(folder)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if " warning: " not in line]
    assert len(err) == 1 and words in err[0]
    assert not (run / "report" / "impact-report.html").exists()


def test_a_count_reads_only_the_fields_it_filters_on_and_counts_as_before() -> None:
    """The ``length`` formatter gets each record reduced to the fields its ``where`` names; the count equals the one
    from the records converted whole."""
    import dataclasses

    from cteimpact.records import Num, Record, Text
    from cteimpact.reporting.numbers import FORMATTERS, Ledger, _plain_items, _plain_value

    @dataclasses.dataclass(frozen=True)
    class Row(Record):
        kind: Text
        value: Num

    rows = tuple(Row(Text("a" if i % 3 else "b", f"x[{i}].kind"), Num(float(i), f"x[{i}].value"), where=f"x[{i}]")
                 for i in range(10))
    for where in ({}, {"kind": "b"}, {"kind": "a"}, {"kind": "c"}):
        whole = FORMATTERS["length"](_plain_value(rows), where=where)
        reduced = FORMATTERS["length"](_plain_items(rows, tuple(where)), where=where)
        assert whole == reduced
    assert _plain_items(rows, ("kind",))[0] == {"kind": "b"}
    shown = Ledger().show("length", {"items": rows}, paths={"items": "x"}, where={"kind": "b"})
    assert str(shown) == "4"

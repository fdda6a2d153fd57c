"""The report templates: escaping in the environment, StrictUndefined, a study's own templates (replacing and adding
sections, from the specification's [report] section or --templates), and the sandbox study templates run in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from cteimpact.cli.app import main
from cteimpact.errors import SpecificationError
from cteimpact.pipeline.spec import parse_spec
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.run_reports import study_templates
from cteimpact.reporting.rundir import load_run
from cteimpact.reporting.templating import ReportTemplateError, StudyTemplates


@pytest.fixture
def run(verified_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(verified_run, target)
    shutil.rmtree(target / "report", ignore_errors=True)
    return target


def _templates(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "study-templates"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


SUMMARY = "# Executive summary {#sec-summary}\n\n"


def _refused(run: Path, folder: Path, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    code = main(["report", str(run), "--to", "html", "--templates", str(folder)])
    err = [line for line in capsys.readouterr().err.splitlines() if " warning: " not in line]
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("cteimpact: error: "), err
    for w in words:
        assert w in err[0], err[0]
    assert not (run / "report" / "impact-report.html").exists()
    return err[0]


# -- escaping and undefined values -------------------------------------------------------------------------------------

@pytest.mark.slow  # reports a whole verified study run
def test_every_value_a_template_writes_is_literal_markdown(run: Path, tmp_path: Path) -> None:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    results["study"]["title"] = "**Bold** <b>x</b> {{< env HOME >}} [link](http://x) `code` $1"
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    folder = _templates(tmp_path, {"impact/summary.qmd.j2": SUMMARY + (
        "Title: {{ study.title }}. {% set text = '*not emphasis*' %}Set: {{ text }}. Ours: **emphasis**. "
        "Joined: {{ [text, study.name]|join(' & ') }}. Concatenated: {{ '**' ~ study.name ~ '**' }}.\n")})
    text = build_report(load_run(run), "impact", templates=StudyTemplates(folder)).text
    assert ("Title: \\*\\*Bold\\*\\* \\<b\\>x\\</b\\> \\{\\{\\< env HOME \\>\\}\\} \\[link\\](http://x) \\`code\\` "
            "\\$1.") in text
    assert "Set: \\*not emphasis\\*." in text and "Ours: **emphasis**." in text
    assert "Joined: \\*not emphasis\\* & ccpt-dropout-rd." in text
    assert "Concatenated: \\*\\*ccpt-dropout-rd\\*\\*." in text


@pytest.mark.slow  # reports a whole verified study run
@pytest.mark.parametrize(("body", "words"), [
    ("{{ results.no_such_field|pct }}", "no_such_field"),
    ("{{ headline.estimate_typo|effect(primary) }}", "estimate_typo"),
    ("{{ nothing_here }}", "nothing_here"),
    ("{{ study.title|safe }}", "No filter named 'safe'"),
    ("{% if %}", "line 3"),
], ids=["attribute", "typo", "variable", "safe", "syntax"])
def test_a_template_naming_what_the_report_lacks_fails_with_exit_2(body: str, words: str, run: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = _templates(tmp_path, {"impact/summary.qmd.j2": SUMMARY + body + "\n"})
    with pytest.raises(ReportTemplateError, match=words.replace("(", r"\(")):
        build_report(load_run(run), "impact", templates=StudyTemplates(folder))
    _refused(run, folder, capsys, words)


# -- the study's own templates -------------------------------------------------------------------------------------

@pytest.mark.slow  # reports a whole verified study run
def test_a_study_replaces_a_section_and_adds_one_and_the_manifest_records_them(run: Path, tmp_path: Path) -> None:
    summary = SUMMARY + "Our own summary of {{ study.name|code }}: {{ headline.estimate|effect(primary) }}.\n"
    extra = "# Local context {#sec-local-context}\n\nWritten by the study, after the limitations.\n"
    folder = _templates(tmp_path, {"impact/summary.qmd.j2": summary, "impact/zz-local.qmd.j2": extra})
    built = build_report(load_run(run), "impact", templates=StudyTemplates(folder))
    headline = json.loads((run / "results.json").read_text(encoding="utf-8"))["headline"]["estimate"]
    assert f"Our own summary of `ccpt-dropout-rd`: {100 * headline:.1f}\u00a0pp." in built.text
    assert "This report sets out the results" not in built.text  # ours was replaced
    assert built.text.index("# Limitations") < built.text.index("# Local context") < built.text.index("# Appendix A")
    assert set(built.templates) == {"impact/summary.qmd.j2", "impact/zz-local.qmd.j2"}
    assert main(["report", str(run), "--to", "html", "--templates", str(folder)]) == 0
    entry = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["report"]
    assert entry["templates"] == {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                                  for name in ("impact/summary.qmd.j2", "impact/zz-local.qmd.j2")}
    assert str(tmp_path) not in entry["command"]  # no absolute local path in the manifest
    html = (run / "report" / "impact-report.html").read_text(encoding="utf-8")
    assert "Written by the study, after the limitations." in html


def _spec_for(run: Path, tmp_path: Path, templates: str) -> Path:
    """The run's manifest pointed at a specification file in ``tmp_path/spec`` whose [report] names ``templates``."""
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    spec = spec_dir / "study.toml"
    spec.write_text(f'[report]\ntemplates = "{templates}"\n', encoding="utf-8")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["specification"]["report"] = {"authors": [], "organisation": None, "templates": templates}
    entry = next(i for i in manifest["inputs"] if i["role"] == "specification")
    entry["path"] = Path(os.path.relpath(spec, run)).as_posix()
    entry["sha256"] = hashlib.sha256(spec.read_bytes()).hexdigest()
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return spec_dir


@pytest.mark.slow  # reports a whole verified study run
def test_the_specification_names_the_study_templates(run: Path, tmp_path: Path) -> None:
    spec_dir = _spec_for(run, tmp_path, "report-templates")
    (spec_dir / "report-templates" / "impact").mkdir(parents=True)
    (spec_dir / "report-templates" / "impact" / "summary.qmd.j2").write_text(SUMMARY + "From the spec folder.\n",
                                                                            encoding="utf-8")
    found = study_templates(load_run(run))
    assert found is not None and found.folder == spec_dir / "report-templates"
    assert main(["report", str(run), "--to", "html"]) == 0
    assert "From the spec folder." in (run / "report" / "impact-report.qmd").read_text(encoding="utf-8")


@pytest.mark.slow  # reports a whole verified study run
def test_spec_templates_outside_the_specification_folder_are_refused(run: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _spec_for(run, tmp_path, "../elsewhere")
    with pytest.raises(SpecificationError, match="leaves the folder"):
        study_templates(load_run(run))
    assert main(["report", str(run), "--to", "html"]) == 2
    assert "report.templates '../elsewhere' leaves the folder" in capsys.readouterr().err


@pytest.mark.slow  # reports a whole verified study run
def test_spec_templates_of_a_changed_specification_are_refused(run: Path, tmp_path: Path) -> None:
    spec_dir = _spec_for(run, tmp_path, "tpl")
    (spec_dir / "tpl").mkdir()
    (spec_dir / "study.toml").write_text('[report]\ntemplates = "tpl"\n# edited\n', encoding="utf-8")
    with pytest.raises(ReportTemplateError, match="has changed"):
        study_templates(load_run(run))


def test_the_report_section_of_a_specification_is_validated_and_leaves_other_hashes_alone() -> None:
    base = {"study": {"name": "s", "title": "T", "seed": 1}, "data": {"path": "d.csv", "columns": {}},
            "design": {"type": "rd", "outcomes": ["y"], "running": "x", "cutoff": 0.0}}
    plain = parse_spec(base)
    assert "report" not in plain.resolved()  # specifications without [report] keep their hash
    named = parse_spec({**base, "report": {"authors": ["A. Author"], "organisation": "Agency", "templates": "t"}})
    assert named.resolved()["report"] == {"authors": ["A. Author"], "organisation": "Agency", "templates": "t"}
    with pytest.raises(SpecificationError, match="report"):
        parse_spec({**base, "report": {"template": "t"}})


# -- the sandbox ---------------------------------------------------------------------------------------------------

@pytest.mark.slow  # reports a whole verified study run
@pytest.mark.parametrize(("body", "words"), [
    ("{{ ''.__class__.__mro__ }}", "sandbox forbids"),
    ("{{ results.__class__.__init__.__globals__ }}", "sandbox forbids"),
    ("{{ cycler.__init__.__globals__.os }}", "'cycler' is undefined"),
    ("{% set x = study.name.__class__ %}{{ x.mro() }}", "sandbox forbids"),
    ("{{ [1].append(2) }}", "sandbox forbids"),
    ("{% include '/etc/passwd' %}", "report template 'impact/../../etc/passwd'"),
    ("{% include '../../../etc/passwd' %}", "not found"),
    ("{% include 'impact/secret.txt' %}", "not found"),
], ids=["mro", "globals", "cycler", "class", "append", "include-absolute", "include-up", "include-other-file"])
def test_a_study_template_cannot_escape_the_sandbox(body: str, words: str, run: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = _templates(tmp_path, {"impact/summary.qmd.j2": SUMMARY + body + "\n",
                                   "impact/secret.txt": "SECRET-TEXT"})
    line = _refused(run, folder, capsys)
    assert ("sandbox forbids" in line or "not found" in line or "undefined" in line), line
    assert "SECRET-TEXT" not in line and "root:" not in line


@pytest.mark.slow  # reports a whole verified study run
def test_a_linked_study_template_is_refused(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside.qmd.j2"
    outside.write_text(SUMMARY + "from outside\n", encoding="utf-8")
    folder = _templates(tmp_path, {})
    (folder / "impact").mkdir(parents=True)
    (folder / "impact" / "summary.qmd.j2").symlink_to(outside)
    _refused(run, folder, capsys, "symbolic link", "summary.qmd.j2")


def test_compiled_templates_are_reused_only_for_the_same_source(tmp_path) -> None:
    """Environments share compiled template code in memory; a template whose source changed (a study's own
    template of the same name) is compiled from its own source, never served the other's code."""
    import jinja2

    from cteimpact.reporting import templating
    from cteimpact.reporting.numbers import Ledger

    cache = templating._CompiledTemplates()
    first = {"page.qmd.j2": "first {{ 'a' | upper }}"}
    second = {"page.qmd.j2": "second {{ 'b' | upper }}"}

    compiled: list[str] = []

    def render(sources: dict[str, str]) -> str:
        env = templating._environment(jinja2.DictLoader(sources), Ledger(), "$")
        env.bytecode_cache = cache
        compile_source = env.compile

        def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
            compiled.append(source)
            return compile_source(source, *args, **kwargs)

        env.compile = counting  # type: ignore[method-assign]
        return env.get_template("page.qmd.j2").render()

    assert render(first) == "first A"
    assert compiled == [first["page.qmd.j2"]]
    (key, (checksum, _code)), = cache._code.items()
    assert render(first) == "first A"  # a new environment: served from the cache, not compiled again
    assert compiled == [first["page.qmd.j2"]]
    assert render(second) == "second B"  # same name, other source: compiled from its own source
    assert compiled == [first["page.qmd.j2"], second["page.qmd.j2"]]
    assert cache._code[key][0] != checksum
    assert render(first) == "first A"


def test_compiled_templates_keep_at_most_their_limit(monkeypatch) -> None:
    import jinja2

    from cteimpact.reporting import templating
    from cteimpact.reporting.numbers import Ledger

    cache = templating._CompiledTemplates()
    monkeypatch.setattr(cache, "LIMIT", 3)
    env = templating._environment(jinja2.DictLoader({f"t{i}.qmd.j2": f"t{i}" for i in range(5)}), Ledger(), "$")
    env.bytecode_cache = cache
    assert [env.get_template(f"t{i}.qmd.j2").render() for i in range(5)] == [f"t{i}" for i in range(5)]
    assert len(cache._code) == 3


def test_the_package_templates_compile_into_the_shared_cache() -> None:
    """compile_package_templates (what the demo's fork server runs) leaves every report template compiled: a report
    environment built afterwards compiles none of them."""
    import jinja2

    from cteimpact.reporting import templating
    from cteimpact.reporting.numbers import Ledger

    n = templating.compile_package_templates()
    package = jinja2.PackageLoader("cteimpact.reporting", "templates")
    names = [t for t in package.list_templates() if t.endswith(".qmd.j2")]
    assert n == len(names) > 20
    env = templating._environment(package, Ledger(), "$")
    compiled: list[str] = []
    compile_source = env.compile

    def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(source)
        return compile_source(source, *args, **kwargs)

    env.compile = counting  # type: ignore[method-assign]
    for name in names:
        env.get_template(name)
    assert compiled == []

"""`cteimpact report` on a run directory someone else handed over: every byte of it is hostile.

A report must never run code, read a file outside the run directory into the report, write or delete a file outside
``RUN_DIR/report/`` (and the manifest's report entry), put active content into the HTML, or show markup from the
run's records as if it were the report's own text. The tests copy one verified run of the CCPT dropout study, plant
hostile records and files in the copy, run ``cteimpact report`` and check each of those promises. Full renders are
few (one HTML + PDF render carries most assertions); the refusals stop before anything is rendered.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import shutil
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfReader

from cteimpact.cli.app import main
from cteimpact.reporting import RenderError, render
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.markdown import Markdown, code_block, code_span, escape_markdown, md
from cteimpact.reporting.reports import build_report
from cteimpact.reporting.rundir import MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_TEXT_LENGTH, load_run

REPO = Path(__file__).resolve().parents[2]
REPORTING = REPO / "cteimpact" / "reporting"
IMPACT_SECTIONS = (
    "Executive summary", "The program and the counterfactual", "Design and estimand", "Data and sample",
    "Impact estimates", "Validity checks", "Standards checklist", "Pay-for-Success pricing", "Limitations",
    "Estimates against the true effects (synthetic data)", "Appendix A: Specification", "Appendix B: Reproducibility",
    "Appendix C: Resolved specification (JSON)",
)
SECRET_TOKEN = "SECRET-7f3a9c-do-not-leak"


# -- hostile text ---------------------------------------------------------------------------------------------------


def _payloads(secret: Path) -> list[str]:
    """Texts that would be markup, code, includes or reads if a report wrote them unescaped; each carries a marker
    ``ZQXnn`` that appears nowhere else."""
    s = secret.as_posix()
    return [
        "<script>alert(1)</script> ZQX01",
        "<img src=x onerror=alert(2)> ZQX02",
        "`<iframe src=https://evil.example/ZQX03>`{=html}",
        "```{python}\nopen(1)\n``` ZQX04",
        "`{python} open(5)` ZQX05",
        "`r system(6)` ZQX06",
        f"{{{{< include {s} >}}}} ZQX07",
        "{{< env HOME >}} {{< meta title >}} ZQX08",
        "\n---\nfilters: [evil.lua]\nexecute: {enabled: true}\ninclude-in-header: /etc/passwd\n--- ZQX09",
        f"[click ZQX10](file://{s})",
        f"![ZQX11]({s}) ![x](../../x.png)",
        "@fig-rd-outcome @sec-summary ZQX12 [@smith2020]",
        f"#read(\"{s}\") #eval(\"1 + 1\") ZQX13",
        "**-99.9 pp** <!-- the real number --> ZQX14",
        "::: {.callout-important}\nZQX15 all verified\n:::",
        "| ZQX16 | -99.9 |\n|---|---|",
        "$x^2$ \\(y\\) \\textbf{ZQX17} &lt;b&gt;",
        "\u202eZQX18 1.01\u202c",
        "[ZQX19]{onclick=alert(19) style=x} ^[note] ~sub~",
        "\\`{=typst} ZQX20 # heading",
    ]


def _expected(payload: str) -> str:
    """How a payload reads when it is written literally: one line, control and bidi characters as U+FFFD."""
    return _normal(payload.replace("\u202e", "\ufffd").replace("\u202c", "\ufffd"))


def _normal(text: str) -> str:
    """Whitespace collapsed and pandoc's typographic quotes and dashes undone (they are not markup)."""
    for curly, straight in (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("—", "---"), ("–", "--"),
                            ("…", "...")):
        text = text.replace(curly, straight)
    return " ".join(text.split())


def _plant_text(data: Any, payloads: list[str], counter: list[int], *, skip: tuple[str, ...] = ()) -> Any:
    """``data`` with a payload appended to every text that holds a space (titles, descriptions, notes, reasons,
    evidence, commands...), cycling through ``payloads``; keys under ``skip`` are left alone."""
    if isinstance(data, dict):
        return {k: v if k in skip else _plant_text(v, payloads, counter, skip=skip) for k, v in data.items()}
    if isinstance(data, list):
        return [_plant_text(v, payloads, counter, skip=skip) for v in data]
    if isinstance(data, str) and " " in data:
        counter[0] += 1
        return data + " " + payloads[counter[0] % len(payloads)]
    return data


def _rename(data: Any, old: str, new: str) -> Any:
    """``data`` with ``old`` replaced by ``new`` in every text and key (an outcome renamed throughout)."""
    if isinstance(data, dict):
        return {_rename(k, old, new): _rename(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [_rename(v, old, new) for v in data]
    if isinstance(data, str):
        return data.replace(old, new)
    return data


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


# -- what the outputs hold --------------------------------------------------------------------------------------------


class _Html(HTMLParser):
    """Text nodes, tags and attributes of an HTML file; style and script bodies apart, and the text of code blocks
    (``<pre>``, split into highlighted tokens) apart too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.code: list[str] = []
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1
        elif tag == "pre":
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            (self.code if self._pre else self.texts).append(data)


def _parse(html: str) -> _Html:
    parser = _Html()
    parser.feed(html)
    return parser


def _active_content(parsed: _Html) -> list[str]:
    """Everything in an HTML file that runs code or loads something from outside it."""
    found = []
    for tag, attrs in parsed.tags:
        if tag in ("script", "iframe", "object", "embed", "frame", "base", "form", "applet", "link", "audio",
                   "video", "source"):
            found.append(f"<{tag}>")
        for name, value in attrs:
            v = (value or "").strip().lower()
            if name.startswith("on") or name in ("srcdoc", "formaction") or v.startswith("javascript:"):
                found.append(f"<{tag} {name}={value!r}>")
            if name in ("src", "href", "data", "poster", "action", "background") and not (
                    v.startswith("#") or v.startswith("data:")):
                found.append(f"<{tag} {name}={value!r}>")
            if tag == "meta" and name == "http-equiv":
                found.append(f"<meta http-equiv={value!r}>")
    return found


def _tree(root: Path, *, exclude: tuple[Path, ...] = ()) -> dict[str, str]:
    """Every file and link under ``root`` (outside ``exclude``) → its SHA-256 or link target."""
    out = {}
    for path in sorted(root.rglob("*")):
        if any(path == e or e in path.parents for e in exclude):
            continue
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def _pdf_text(path: Path) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(path).pages)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cteimpact: error: "), err
    return err[0]


# -- the hostile run --------------------------------------------------------------------------------------------------

# Quarto would run these if it rendered inside the run directory; a Lua filter pandoc would run if it were given.
EVIL_QUARTO = """\
project:
  type: default
  pre-render: touch {canary}
filters:
  - evil.lua
execute:
  enabled: true
format:
  html:
    include-in-header: {secret}
"""
EVIL_LUA = """\
local f = io.open("{canary}", "w")
f:write("lua ran")
f:close()
"""


@pytest.fixture
def hostile_run(verified_run: Path, tmp_path: Path) -> dict[str, Any]:
    """A copy of the verified run with hostile records and files, and the files around it that must stay as
    they are (a secret, victims of a link, a traversal target)."""
    run = tmp_path / "run"
    shutil.copytree(verified_run, run)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_TOKEN + "\n", encoding="utf-8")
    secret_png = tmp_path / "victim.png"  # what a figure name "../../../victim" would reach: a valid image
    info = PngInfo()
    info.add_text("secret", SECRET_TOKEN)
    Image.new("RGB", (3, 2), (200, 30, 30)).save(secret_png, pnginfo=info)
    victim = tmp_path / "victim.txt"
    victim.write_text("the victim's own text\n", encoding="utf-8")
    payloads = _payloads(secret)

    # records: every text with a space gets a payload; one outcome gets a name full of markup, the other a path
    # that climbs out of figures/ (its figure folders exist, so a joined path would resolve)
    markup_outcome = "grad`<b onmouseover=alert(1)>`{=html}*uated*{{< env HOME >}}"
    traversal_outcome = "x/../../../victim"
    counter = [0]
    for name in ("results.json", "manifest.json", "certificate.json"):
        data = _read(run / name)
        data = _plant_text(data, payloads, counter, skip=("rows", "schema"))
        data = _rename(_rename(data, "graduated", markup_outcome), "dropout", traversal_outcome)
        _write(run / name, data)
    results = _read(run / "results.json")
    results["study"]["title"] = "Study " + payloads[8]
    results["study"]["description"] = payloads[6] + " " + payloads[12]
    results["pricing"]["payors"][payloads[1]] = results["pricing"]["payors"].pop("state")
    _write(run / "results.json", results)
    manifest = _read(run / "manifest.json")
    manifest["environment"]["packages"][payloads[0]] = payloads[2]
    manifest["seed"]["derived"][payloads[4]] = payloads[5]
    manifest["spec_sha256"] = payloads[7]
    _write(run / "manifest.json", manifest)
    for p in (run / "figures").glob("*graduated*"):
        p.rename(p.with_name(p.name.replace("graduated", markup_outcome)))
    (run / "figures" / "rd-x").mkdir()
    (run / "figures" / "check-x").mkdir()
    # a consistent forgery: the manifest lists the files the directory holds (report refuses a run whose listed
    # outputs are missing, so a careless one would be refused before any rendering)
    manifest = _read(run / "manifest.json")
    manifest["outputs"] = [{"path": p.relative_to(run).as_posix()}
                           for p in sorted(run.rglob("*")) if p.is_file() and p.parent.name in ("figures", "tables")]
    _write(run / "manifest.json", manifest)

    # planted project files and filters, in the run directory and in its report folder
    canaries = [tmp_path / "canary-prerender", tmp_path / "canary-lua"]
    (run / "report" / "figures").mkdir(parents=True)
    for folder in (run, run / "report"):
        (folder / "_quarto.yml").write_text(EVIL_QUARTO.format(canary=canaries[0], secret=secret))
        (folder / "_metadata.yml").write_text(EVIL_QUARTO.format(canary=canaries[0], secret=secret))
        (folder / "evil.lua").write_text(EVIL_LUA.format(canary=canaries[1]))
    # earlier "report files" that are links to files outside: replacing them must not write through them
    (run / "report" / "impact-report.html").symlink_to(victim)
    (run / "report" / "figures" / "pricing-curve.png").symlink_to(victim)
    return {"run": run, "tmp": tmp_path, "secret": secret, "secret_png": secret_png, "victim": victim,
            "payloads": payloads, "canaries": canaries}


@pytest.mark.slow
def test_hostile_run_is_reported_as_literal_text_and_touches_nothing_outside(
        hostile_run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run: Path = hostile_run["run"]
    tmp: Path = hostile_run["tmp"]
    before = _tree(tmp, exclude=(run / "report", run / "manifest.json"))

    code = main(["report", str(run), "--engine", "fallback", "--to", "html,pdf"])

    assert code == 0, capsys.readouterr().err
    # nothing ran, nothing outside RUN_DIR/report was created, changed or deleted (the links' targets included)
    assert not any(c.exists() for c in hostile_run["canaries"])
    assert _tree(tmp, exclude=(run / "report", run / "manifest.json")) == before
    report = run / "report"
    assert not (report / "impact-report.html").is_symlink()
    assert not (report / "figures" / "pricing-curve.png").is_symlink()
    assert hostile_run["victim"].read_text(encoding="utf-8") == "the victim's own text\n"
    # the planted project files are still there but took no part: nothing of the secret in any output
    outputs = [p for p in report.rglob("*") if p.is_file() and p.suffix in (".qmd", ".html", ".pdf")]
    assert sorted(p.name for p in outputs) == sorted(
        f"{n}.{e}" for n in ("impact-report", "certificate") for e in ("qmd", "html", "pdf"))
    secret_b64 = base64.b64encode(hostile_run["secret_png"].read_bytes()).decode()[40:100]  # its text chunk
    for path in outputs:
        text = _pdf_text(path) if path.suffix == ".pdf" else path.read_text(encoding="utf-8")
        assert SECRET_TOKEN not in text, path.name
        assert secret_b64 not in text, path.name
    # no figure outside figures/ was read or copied: the report's figure copies are the run's own bytes
    run_figures = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (run / "figures").iterdir() if p.is_file()}
    copies = [p for p in (report / "figures").iterdir() if p.is_file()]
    assert copies and {hashlib.sha256(p.read_bytes()).hexdigest() for p in copies} <= run_figures
    # every qmd holds nothing Quarto would run or expand
    for path in outputs:
        if path.suffix == ".qmd":
            qmd = path.read_text(encoding="utf-8")
            assert "{{<" not in qmd and not re.search(r"^\s*`{3,}\s*\{", qmd, re.MULTILINE), path.name
            assert qmd.count("\n---\n") == 1, path.name  # one front matter, closed once

    expected = {p: _expected(p) for p in hostile_run["payloads"]}
    for name in ("impact-report", "certificate"):
        parsed = _parse((report / f"{name}.html").read_text(encoding="utf-8"))
        # no active content, no load from outside
        assert _active_content(parsed) == [], name
        # every payload that is shown is shown whole, as text: a marker outside a literal payload would be markup
        # that took effect (a heading, a bold number, a link...)
        texts = [_normal(t) for t in parsed.texts]
        attrs = [_normal(v or "") for _, a in parsed.tags for _, v in a]
        shown = 0
        for payload, literal in expected.items():
            marker = re.search(r"ZQX\d\d", payload).group(0)  # type: ignore[union-attr]
            # in the specification appendix a payload is shown as JSON text: escaped, and as literal
            as_json = _normal(json.dumps(payload, ensure_ascii=False)[1:-1].replace("\u202e", "\ufffd")
                              .replace("\u202c", "\ufffd"))
            for chunk in (*texts, *attrs):
                if marker in chunk:
                    # a JSON text may hold the literal payload inside its escaped form: count each form once
                    rest = chunk.replace(as_json, "\x00") if as_json != literal else chunk
                    whole = rest.count(literal) + (chunk.count(as_json) if as_json != literal else 0)
                    assert chunk.count(marker) == whole, (name, marker, chunk[:300])
                    shown += 1
        assert shown >= (20 if name == "impact-report" else 5), (name, shown)
        headings = [t for t in texts if t in IMPACT_SECTIONS]
        if name == "impact-report":
            # the sections are the report's own, in order, and no record added one
            h1 = re.findall(r'<h1(?! class="title")[^>]*>(?:<span class="header-section-number">[\d.]+</span> )?'
                            r'([^<]+)</h1>',
                            (report / f"{name}.html").read_text(encoding="utf-8"))
            assert h1 == list(IMPACT_SECTIONS), h1
            assert headings
    # the outcome names full of markup and of "../" are shown literally (estimate labels in the tables)
    impact_texts = [_normal(t) for t in _parse((report / "impact-report.html").read_text("utf-8")).texts]
    for outcome in ("grad`<b onmouseover=alert(1)>`{=html}*uated*{{< env HOME >}}", "x/../../../victim"):
        assert any(outcome in t for t in impact_texts), outcome


# -- refusals: links, sizes, nesting ---------------------------------------------------------------------------------


def _copy(verified_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(verified_run, run)
    return run


def _refused(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """Run the report, expecting exit 2 and one error line with ``words``; nothing may change anywhere."""
    before = _tree(tmp_path)
    code = main(["report", str(run), "--engine", "fallback", "--to", "html"])
    line = _one_error_line(capsys)
    assert code == 2, line
    for w in words:
        assert w in line, line
    assert _tree(tmp_path) == before
    return line


@pytest.mark.slow  # reports a whole verified study run
@pytest.mark.parametrize("where", ["results.json", "certificate.json", "figures", "figures/rd-dropout.png",
                                   "report", "report/figures"])
def test_symbolic_links_in_the_run_directory_are_refused(where: str, verified_run: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(verified_run, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = run / where
    if where.endswith(".json"):
        shutil.move(target, outside / target.name)  # a link to a record kept elsewhere (valid, readable)
        target.symlink_to(outside / target.name)
    elif where == "figures/rd-dropout.png":
        (outside / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET_TOKEN.encode())
        target.unlink()
        target.symlink_to(outside / "secret.png")
    elif where == "figures":
        shutil.move(target, outside / "figures")
        target.symlink_to(outside / "figures")
    else:
        # a victim folder holding files named like the report's: they must be neither deleted nor overwritten
        (outside / "impact-report.html").write_text("victim")
        (outside / "rd-dropout.png").write_text("victim")
        target.parent.mkdir(exist_ok=True)
        target.symlink_to(outside)
    line = _refused(run, tmp_path, capsys, "symbolic link", where.split("/")[-1] if "." in where else where)
    assert SECRET_TOKEN not in line


@pytest.mark.slow  # reports a whole verified study run
def test_records_nested_too_deeply_are_refused(verified_run: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(verified_run, tmp_path)
    text = (run / "results.json").read_text(encoding="utf-8")
    deep = "[" * 10_000 + "]" * 10_000
    (run / "results.json").write_text(text.rstrip()[:-1] + f', "deep": {deep}}}', encoding="utf-8")
    _refused(run, tmp_path, capsys, "results.json", "nest", str(MAX_JSON_DEPTH))
    # just past the limit (Python's parser copes; the report refuses)
    data = _read(verified_run / "results.json")
    nested: Any = []
    for _ in range(MAX_JSON_DEPTH):
        nested = [nested]
    data["deep"] = nested
    _write(run / "results.json", data)
    _refused(run, tmp_path, capsys, "results.json", f"deeper than {MAX_JSON_DEPTH} levels", "deep")


@pytest.mark.slow  # reports a whole verified study run
def test_overlong_texts_and_oversized_records_are_refused(verified_run: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(verified_run, tmp_path)
    cert = _read(run / "certificate.json")
    cert["attestation"] = "A" * (MAX_TEXT_LENGTH + 1)
    _write(run / "certificate.json", cert)
    _refused(run, tmp_path, capsys, "certificate.json", f"{MAX_TEXT_LENGTH + 1:,} characters", "attestation")
    shutil.copy(verified_run / "certificate.json", run / "certificate.json")
    with (run / "manifest.json").open("r+b") as f:  # a sparse file: its size is refused before it is read
        f.truncate(MAX_JSON_BYTES + 1)
    _refused(run, tmp_path, capsys, "manifest.json", f"{MAX_JSON_BYTES + 1:,} bytes")


# -- Quarto: an isolated folder of cteimpact's own, no execution ------------------------------------------------------

FAKE_QUARTO = textwrap.dedent("""\
    #!/bin/sh
    if [ "$1" = "--version" ]; then echo "1.6.40"; exit 0; fi
    {
      echo "cwd: $(pwd)"
      echo "args: $*"
      echo "files: $(ls -A | tr '\\n' ' ')"
      echo "project: $(cat _quarto.yml | tr '\\n' ' ')"
    } >> "$FAKE_QUARTO_LOG"
    out=""; prev=""
    for a in "$@"; do
      if [ "$prev" = "--output" ]; then out="$a"; fi
      prev="$a"
    done
    printf '<!DOCTYPE html><html><body><p>rendered</p></body></html>\\n' > "$out"
    """)


@pytest.mark.slow  # reports a whole verified study run
@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in quarto is a POSIX shell script")
def test_quarto_renders_in_a_fresh_folder_of_its_own_without_execution(
        hostile_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "bin" / "quarto"
    binary.parent.mkdir()
    binary.write_text(FAKE_QUARTO)
    binary.chmod(0o755)
    log = tmp_path / "quarto.log"
    monkeypatch.setenv("QUARTO_PATH", str(binary))
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    run: Path = hostile_run["run"]

    code = main(["report", str(run), "--engine", "quarto", "--to", "html"])

    assert code == 0, capsys.readouterr().err
    calls = log.read_text(encoding="utf-8").strip().split("\ncwd: ")
    assert len(calls) == 2  # the impact report and the certificate
    for call in calls:
        cwd = Path(call.removeprefix("cwd: ").splitlines()[0])
        # not the run directory nor anywhere inside it or above it: Quarto's project lookup cannot reach it
        assert run not in (cwd, *cwd.parents) and cwd not in run.parents
        files = set(re.search(r"^files: (.*)$", call, re.MULTILINE).group(1).split())  # type: ignore[union-attr]
        assert files <= {"_quarto.yml", "impact-report.qmd", "impact-report.html", "certificate.qmd", "figures"}, files
        assert "--no-execute" in re.search(r"^args: (.*)$", call, re.MULTILINE).group(1)  # type: ignore[union-attr]
        project = re.search(r"^project: (.*)$", call, re.MULTILINE).group(1)  # type: ignore[union-attr]
        assert "type: default" in project and "pre-render" not in project and "filters" not in project
        assert not cwd.exists()  # the folder is gone once the report is written
    assert not any(c.exists() for c in hostile_run["canaries"])
    assert (run / "report" / "impact-report.html").read_text(encoding="utf-8").count("rendered") == 1


# -- the sandbox of the fallback renderer ---------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "words"), [
    ("![x](data:image/png;base64,iVBORw0KGgo=)", "image points outside"),
    ("![x](/etc/passwd)", "image points outside"),
    ("![x](../outside.png)", "image points outside"),
    ("![x](file:///etc/passwd)", "image points outside"),
    ("[x](https://evil.example/)", "link points outside"),
    ("[x](javascript:alert(1))", "link points outside"),
])
def test_sandboxed_render_refuses_raw_content_outside_images_and_links(body: str, words: str,
                                                                       tmp_path: Path) -> None:
    source = tmp_path / "doc.qmd"
    source.write_text(f"---\ntitle: T\n---\n\n{body}\n", encoding="utf-8")
    with pytest.raises(RenderError, match="cteimpact-sandbox") as info:
        render(source, to="html", engine="fallback", sandbox=True)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "doc.html").exists()


def test_sandboxed_render_reads_raw_html_as_text(tmp_path: Path) -> None:
    source = tmp_path / "doc.qmd"
    source.write_text("---\ntitle: T\n---\n\nA <b onclick=alert(1)>bold</b> word.\n\n"
                      "```{=html}\n<script>alert(2)</script>\n```\n", encoding="utf-8")
    html = render(source, to="html", engine="fallback", sandbox=True).outputs["html"].read_text(encoding="utf-8")
    assert "&lt;b onclick=alert(1)&gt;bold&lt;/b&gt;" in html and "<b onclick" not in html
    assert "<script" not in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    plain = render(source, to="html", engine="fallback", output_dir=tmp_path / "plain")
    plain_html = plain.outputs["html"].read_text(encoding="utf-8")
    assert "<b onclick" in plain_html and "<script>alert(2)" in plain_html  # the sandbox made the difference


# -- escaping: the helpers and the builders ---------------------------------------------------------------------------


def test_escaping_helpers_write_data_literally() -> None:
    assert escape_markdown("{{< env HOME >}}") == "\\{\\{\\< env HOME \\>\\}\\}"
    assert escape_markdown("`x`{=html}") == "\\`x\\`\\{=html\\}"
    assert escape_markdown("::: {.callout}") == "\\::: \\{.callout\\}"
    assert escape_markdown("a) item") == "a\\) item" and escape_markdown("A. Author") == "A. Author"
    assert escape_markdown("x\u202e1.01\u202c\x00") == "x\ufffd1.01\ufffd\ufffd"
    assert escape_markdown("a\n\n# b") == "a \\# b"
    # md escapes every value unless it is Markdown; joins and concatenation keep the distinction
    assert md("**{}.** {} ({:.1f})", "a*b", Markdown("*ok*"), 2.25) == "**a\\*b.** *ok* (2.2)"
    assert Markdown("; ").join(["<x>", Markdown("`y`")]) == "\\<x\\>; `y`"
    assert "<b>" + Markdown("**") == "\\<b\\>**" and isinstance("a" + Markdown("b"), Markdown)
    # inline code is exact, except where Quarto would run or expand it: then it is escaped text
    assert code_span("a`b") == "``a`b``"
    assert code_span("{python} 1") == "\\{python\\} 1" and code_span("r 1") == "r 1"
    assert code_span("x {{< env HOME >}}") == "x \\{\\{\\< env HOME \\>\\}\\}"
    assert code_block("a\n```\nb", language="sh") == "```` sh\na\n```\nb\n````"
    assert code_block("x {{< meta a >}}\ny", language="sh") == "x \\{\\{\\< meta a \\>\\}\\}\\\ny"


def test_report_sources_holding_quarto_code_or_shortcodes_are_not_rendered(tmp_path: Path) -> None:
    from cteimpact.reporting.run_reports import _check_source

    for text in ("a {{< include x >}}", "```{python}\n1\n```", "a `{python} 1` b", "a `r 1` b"):
        path = tmp_path / "r.qmd"
        path.write_text(f"---\ntitle: T\n---\n\n{text}\n", encoding="utf-8")
        with pytest.raises(ReportContentError, match="Quarto executes or expands"):
            _check_source(path)
    path.write_text("A `code` and \\`{python} escaped\\` text and ```` sh\nx\n````\n", encoding="utf-8")
    _check_source(path)


def _inventory(blocks: Any) -> tuple[dict[str, int], list[str], list[str], list[str]]:
    """Element kinds (with counts), image sources, citation ids and code-block classes of a pandoc JSON AST."""
    kinds: dict[str, int] = {}
    images: list[str] = []
    cites: list[str] = []
    code_classes: list[str] = []
    stack = [blocks]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("t")
            if isinstance(kind, str):
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind == "Image":
                    images.append(node["c"][2][0])
                elif kind == "Cite":
                    cites.extend(c["citationId"] for c in node["c"][0])
                elif kind == "CodeBlock":
                    code_classes.extend(node["c"][0][1])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return kinds, images, cites, code_classes


@pytest.mark.slow  # reports a whole verified study run
def test_built_reports_hold_only_our_markup(hostile_run: dict[str, Any]) -> None:
    """The sources of the hostile run, read by pandoc: no raw content, no link, no image but the copied figures,
    no code cell, no citation but cross-references, front matter with cteimpact's keys only."""
    import subprocess

    import pypandoc

    run = load_run(hostile_run["run"])
    for built in (build_report(run, "impact"), build_report(run, "certificate")):
        text = built.text
        ast_json = subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", "json"], input=text,
                                  capture_output=True, text=True, encoding="utf-8", check=True).stdout
        doc = json.loads(ast_json)
        assert set(doc["meta"]) <= {"title", "subtitle", "lang", "toc", "toc-depth", "number-sections", "engine",
                                    "tbl-colwidths", "format", "author", "organisation", "date", "cteimpact-version",
                                    "synthetic-banner", "toc-placement"}
        kinds, images, cites, code_classes = _inventory(doc["blocks"])
        assert not {"RawBlock", "RawInline", "Link", "Note", "Math", "Superscript", "Subscript"} & set(kinds), kinds
        assert set(code_classes) <= {"sh", "json"}, code_classes  # the commands and the specification
        assert sorted(images) == sorted(built.figures)  # one image per figure the report copies, nothing else
        assert all(re.fullmatch(r"figures/[A-Za-z0-9._-]+", i) for i in images), images
        assert all(re.fullmatch(r"(fig|tbl|sec)-[A-Za-z0-9_-]+", c) for c in cites), cites


def test_markup_comes_only_from_templates_and_audited_helpers() -> None:
    """Markup is written by the templates (every value they fill in escaped by the environment) or built by md()
    from literal templates; the few helpers that build Markdown from computed text are listed here, each with what
    makes its text safe."""
    audited = {
        ("templating.py", "_finalize"): "Markup from the templates, Markdown produced by a filter, escaped text",
        ("templating.py", "_filters"): "code spans and slugs (letters, digits and '-') of recorded values",
        ("facts.py", "trusted"): "Markup the templates produced",
        ("facts.py", "figure"): "escaped caption, a file name of [A-Za-z0-9._-], attributes() quoting",
        ("numbers.py", "show"): "escape_markdown of the formatted number",
        ("numbers.py", "code"): "escape_markdown or code_span",
        ("numbers.py", "path_code"): "escape_markdown or code_span",
        ("reports.py", "_front_matter"): "front_matter() writes JSON strings of escaped text",
    }
    offenders = []
    for path in sorted(REPORTING / n for n in ("templating.py", "facts.py", "numbers.py", "reports.py",
                                               "run_reports.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        top += [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body if isinstance(m, ast.FunctionDef)]
        for func in top:
            name = func.name
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                        node.func.id in ("md", "Markdown", "Markup"):
                    first = node.args[0] if node.args else None
                    if first is None or (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                        continue
                    if (path.name, name) in audited:
                        continue
                    offenders.append(f"{path.name}:{node.lineno} in {name}: {node.func.id}({ast.unparse(first)})")
    assert offenders == []
    template = (REPORTING / "resources" / "report.html").read_text(encoding="utf-8").lower()
    assert "<script" not in template and "http" not in template.replace("http-equiv", "")
    # the templates have no way to mark data as markup
    for path in (REPORTING / "templates").rglob("*.qmd.j2"):
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", "") and "Markup" not in text, path.name

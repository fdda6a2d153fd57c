"""Fallback renderer: pandoc (from the ``pypandoc_binary`` wheel) and Typst (the ``typst`` package on PyPI).

Adapter module: it locates the two tools, runs them with our filter and templates, and turns their failures into
:class:`~cteimpact.reporting.errors.RenderError`. It pins nothing itself.

* HTML: ``pandoc -t html5 --standalone --embed-resources`` with our template, stylesheet and cross-reference
  filter; images become data URIs, the stylesheet is inlined, so the file references nothing outside itself.
* PDF: ``pandoc -t typst`` with our Typst template and the same filter, then ``typst.compile`` with only the
  fonts embedded in Typst and no document date, so the bytes depend only on the input and the tool versions.

The options a .qmd sets in its front matter (``toc``, ``toc-depth``, ``toc-title``, ``number-sections``,
``papersize``, top level or under ``format: html`` / ``format: typst``) are honoured as Quarto would.

With ``sandbox=True`` (the reports of a run directory, built from records someone else may have written) pandoc
reads the source without raw HTML, raw attributes and raw TeX, and the ``sandbox.lua`` filter runs first: it stops
on any raw content, an image outside the source's folder or a link leaving the document. Typst's root is the
source's folder either way, so Typst reads no file outside it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cteimpact.reporting.errors import RendererNotFoundError, RenderError, summarize_stderr
from cteimpact.reporting.tool_process import run_renderer

__all__ = ["FallbackToolchain", "ParsedSource", "read_source", "render_html", "render_pdf", "toolchain"]

REFERENCE_WARNING = "[cteimpact-crossref] "
_TIMEOUT = 600
_READER = "markdown"
_SANDBOX_READER = "markdown-raw_html-raw_attribute-raw_tex-smart"
"""Untrusted sources: no raw content, and no smart punctuation (a command-line option such as ``--allow-unbalanced``
in a record stays two hyphens, not an en dash)."""


@dataclass(frozen=True)
class FallbackToolchain:
    """The pandoc binary and the Typst compiler the fallback uses, with their versions."""

    pandoc: Path
    pandoc_version: str
    typst_version: str
    typst_package_version: str

    @property
    def description(self) -> str:
        """``"fallback: pandoc 3.9 + typst 0.15.1"``: what a manifest records as the engine."""
        return f"fallback: pandoc {self.pandoc_version} + typst {self.typst_version}"

    @property
    def versions(self) -> dict[str, str]:
        return {
            "pandoc": self.pandoc_version,
            "typst": self.typst_version,
            "typst (PyPI package)": self.typst_package_version,
        }


@functools.cache
def toolchain() -> FallbackToolchain:
    """Locate pandoc and Typst (cached); :class:`RendererNotFoundError` when either is missing."""
    hint = "install them with: pip install 'cteimpact[report]' (or install quarto)"
    try:
        import pypandoc
    except ImportError:
        raise RendererNotFoundError(
            "the fallback renderer needs the Python package pypandoc_binary (pandoc), which is not installed; " + hint,
            renderer="pandoc",
            target="html/pdf",
        ) from None
    try:
        pandoc = Path(pypandoc.get_pandoc_path())
        pandoc_version = str(pypandoc.get_pandoc_version())
    except OSError as exc:
        raise RendererNotFoundError(
            f"pypandoc is installed but finds no pandoc binary ({exc}); " + hint, renderer="pandoc", target="html/pdf"
        ) from None
    try:
        import typst
    except ImportError:
        raise RendererNotFoundError(
            "the fallback renderer needs the Python package typst for PDF output, which is not installed; " + hint,
            renderer="typst",
            target="pdf",
        ) from None
    package_version = importlib.metadata.version("typst")
    try:
        found = typst.query(b"#metadata(str(sys.version)) <cteimpact-typst-version>", "<cteimpact-typst-version>",
                            field="value", one=True, ignore_system_fonts=True)
        typst_version = json.loads(found) if isinstance(found, str) else str(found)
    except Exception:  # an older binding without query(): its own version is the best description left
        typst_version = package_version
    return FallbackToolchain(pandoc, pandoc_version, str(typst_version), package_version)


@contextlib.contextmanager
def _resource_dir() -> Iterator[Path]:
    with resources.as_file(resources.files("cteimpact.reporting").joinpath("resources")) as path:
        yield Path(path)


# -- front matter -----------------------------------------------------------------------------------------------


def _plain(node: Any) -> Any:
    """A pandoc JSON metadata value as plain Python (inlines as text)."""
    if isinstance(node, list):
        return "".join(str(_plain(n)) for n in node)
    if not isinstance(node, dict):
        return node
    kind = node.get("t")
    content: Any = node.get("c")
    if kind == "MetaMap":
        return {k: _plain(v) for k, v in content.items()}
    if kind == "MetaList":
        return [_plain(v) for v in content]
    if kind in ("MetaBool", "MetaString"):
        return content
    if kind in ("MetaInlines", "MetaBlocks"):
        return "".join(_inline_text(n) for n in content)
    return _inline_text(node)


def _inline_text(node: Any) -> str:
    if isinstance(node, list):
        return "".join(_inline_text(n) for n in node)
    if not isinstance(node, dict):
        return str(node)
    kind = node.get("t")
    content: Any = node.get("c")
    if kind == "Str":
        return str(content)
    if kind in ("Space", "SoftBreak", "LineBreak"):
        return " "
    if kind in ("Code", "Math", "RawInline"):
        return str(content[-1])
    if kind in ("Link", "Image", "Span"):
        return _inline_text(content[1])
    if kind in ("Quoted",):
        return "“" + _inline_text(content[1]) + "”"
    if kind == "Cite":
        return _inline_text(content[1])
    if kind in ("Plain", "Para"):
        return _inline_text(content) + " "
    if isinstance(content, list):
        return _inline_text(content)
    return ""


@dataclass(frozen=True)
class _Options:
    title: str | None
    authors: tuple[str, ...]
    toc: bool
    toc_depth: int
    toc_title: str | None
    number_sections: bool
    papersize: str | None
    toc_placed: bool
    """The table of contents is placed by the cross-reference filter (``toc-placement``), not by pandoc."""


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "on", "1")


def _options(meta: Mapping[str, Any], formats: Sequence[str]) -> _Options:
    merged = dict(meta)
    fmt = meta.get("format")
    if isinstance(fmt, Mapping):
        for name in formats:
            if isinstance(fmt.get(name), Mapping):
                merged.update(fmt[name])
    authors_raw = merged.get("author", [])
    authors_list = authors_raw if isinstance(authors_raw, list) else [authors_raw]
    authors = tuple(
        " ".join(str(a.get("name", "")).split()) if isinstance(a, Mapping) else " ".join(str(a).split())
        for a in authors_list
    )
    try:
        depth = int(str(merged.get("toc-depth", 3)).strip())
    except ValueError:
        depth = 3
    title = merged.get("title")
    return _Options(
        title=" ".join(str(title).split()) if title else None,
        authors=tuple(a for a in authors if a),
        toc=_truthy(merged.get("toc", False)),
        toc_depth=min(max(depth, 1), 6),
        toc_title=str(merged["toc-title"]) if merged.get("toc-title") else None,
        number_sections=_truthy(merged.get("number-sections", False)),
        papersize=str(merged["papersize"]) if merged.get("papersize") else None,
        toc_placed=str(merged.get("toc-placement") or "").startswith("after:"),
    )


@dataclass(frozen=True)
class ParsedSource:
    """A source as pandoc read it (its document tree as pandoc's JSON, read with the ``sandbox`` reader or not) and
    its front matter as plain Python values: :func:`render_html` and :func:`render_pdf` given it do not read the
    source again (pandoc's JSON keeps the whole document, so the outputs are those of reading the source)."""

    ast: str
    meta: dict[str, Any]
    sandbox: bool


def read_source(source: Path, *, sandbox: bool = False) -> ParsedSource:
    """Read ``source`` once (one pandoc run), for rendering it to several formats."""
    with _resource_dir() as data_dir:
        ast = _read_ast(toolchain(), source, data_dir, sandbox=sandbox)
    return ParsedSource(ast, _meta_of(ast), sandbox)


def _read_ast(tools: FallbackToolchain, source: Path, data_dir: Path, *, sandbox: bool) -> str:
    reader = _SANDBOX_READER if sandbox else _READER
    return _run_pandoc(tools, [str(source), "-f", reader, "-t", "json", f"--data-dir={data_dir}"], source,
                       "html").stdout


def _meta_of(ast: str) -> dict[str, Any]:
    meta = json.loads(ast).get("meta", {})
    return {k: _plain(v) for k, v in meta.items()}


@contextlib.contextmanager
def _input(source: Path, parsed: ParsedSource | None, *, sandbox: bool) -> Iterator[tuple[list[str], ParsedSource]]:
    """pandoc's input arguments: the document tree of ``parsed`` (or of ``source``, read here) in a temporary file,
    read back as JSON, and the parsed source."""
    if parsed is None:
        parsed = read_source(source, sandbox=sandbox)
    elif parsed.sandbox != sandbox:
        raise ValueError("the source was read with another sandbox setting")  # a bug in the caller
    with tempfile.TemporaryDirectory(prefix="cteimpact-pandoc-") as tmp:
        tree = Path(tmp) / f"{source.stem}.json"
        tree.write_text(parsed.ast, encoding="utf-8")
        yield [str(tree), "-f", "json"], parsed


# -- running pandoc ---------------------------------------------------------------------------------------------


def _run_pandoc(
    tools: FallbackToolchain, args: Sequence[str], source: Path, target: str
) -> subprocess.CompletedProcess[str]:
    return run_renderer([str(tools.pandoc), *args], renderer="pandoc", source=source, target=target,
                        timeout=_TIMEOUT)


def _warnings(stderr: str, source: Path, target: str) -> list[str]:
    """Reference warnings from our filter; a resource pandoc could not embed is an error (the HTML would point
    outside itself)."""
    found: list[str] = []
    for line in stderr.splitlines():
        text = " ".join(line.split())
        if not text:
            continue
        if "Could not fetch resource" in text or "Could not find image" in text or "could not fetch" in text.lower():
            raise RenderError(
                f"pandoc could not embed a resource of {source.name} in the {target.upper()} output: {text} "
                f"(paths are relative to {source.parent}); save the file there or fix the path",
                renderer="pandoc",
                target=target,
                detail=text,
            )
        if text.startswith(REFERENCE_WARNING):
            found.append(text[len(REFERENCE_WARNING):])
        elif text.startswith("[WARNING]"):
            found.append("pandoc: " + text[len("[WARNING]"):].strip())
        elif found and not text.startswith("["):
            found[-1] += " " + text  # continuation of a multi-line pandoc warning
    return found


def _common_args(opts: _Options, data_dir: Path, *, sandbox: bool) -> list[str]:
    """Options of the pandoc runs that write HTML or Typst from the document tree."""
    args = ["--standalone", f"--data-dir={data_dir}"]
    if sandbox:
        args.append(f"--lua-filter={data_dir / 'sandbox.lua'}")  # first: it checks the source as read
    args += [f"--lua-filter={data_dir / 'crossref.lua'}", "--wrap=preserve"]
    if opts.toc and not opts.toc_placed:
        args += ["--toc", f"--toc-depth={opts.toc_depth}"]
        if opts.toc_title:
            args += ["-V", f"toc-title={opts.toc_title}"]
    if opts.number_sections:
        args.append("--number-sections")
    return args


def render_html(source: Path, output: Path, *, sandbox: bool = False, parsed: ParsedSource | None = None
                ) -> list[str]:
    """Render ``source`` to one self-contained HTML file; returns the warnings (unresolved references...).

    ``sandbox=True``: read the source as untrusted (see the module docstring). ``parsed``: the source as
    :func:`read_source` read it with the same ``sandbox`` (read here when not given)."""
    tools = toolchain()
    with _resource_dir() as data_dir, _input(source, parsed, sandbox=sandbox) as (given, read):
        opts = _options(read.meta, ["html"])
        args = [*given, "-t", "html5", *_common_args(opts, data_dir, sandbox=sandbox),
                "--embed-resources", f"--template={data_dir / 'report.html'}", f"--css={data_dir / 'report.css'}",
                "--mathml", f"--resource-path={source.parent}"]
        if not opts.title:
            args += ["-M", f"pagetitle={source.stem}"]
        done = _run_pandoc(tools, [*args, "-o", str(output)], source, "html")
    try:
        return _warnings(done.stderr, source, "html")
    except RenderError:
        output.unlink(missing_ok=True)  # it would point at a file outside itself
        raise


def _typst_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_pdf(source: Path, output: Path, *, sandbox: bool = False, parsed: ParsedSource | None = None
               ) -> list[str]:
    """Render ``source`` to PDF through Typst; returns the warnings (unresolved references...).

    ``sandbox=True``: read the source as untrusted (see the module docstring). ``parsed``: the source as
    :func:`read_source` read it with the same ``sandbox`` (read here when not given)."""
    tools = toolchain()
    import typst

    with _resource_dir() as data_dir, _input(source, parsed, sandbox=sandbox) as (given, read):
        opts = _options(read.meta, ["typst", "pdf"])
        args = [*given, "-t", "typst", *_common_args(opts, data_dir, sandbox=sandbox),
                f"--template={data_dir / 'report.typst'}"]
        if opts.authors:
            args += ["-V", "pdf-authors=(" + "".join(_typst_string(a) + ", " for a in opts.authors) + ")"]
        if opts.papersize:
            args += ["-V", f"papersize={opts.papersize}"]
        done = _run_pandoc(tools, args, source, "pdf")
    found = _warnings(done.stderr, source, "pdf")
    options: dict[str, Any] = {"root": str(source.parent), "ignore_system_fonts": True, "font_paths": []}
    source_bytes = done.stdout.encode("utf-8")
    try:
        if hasattr(typst, "compile_with_warnings"):  # typst-py >= 0.15
            pdf, typst_warnings = typst.compile_with_warnings(source_bytes, timestamp=0, **options)
            found += ["typst: " + " ".join(str(getattr(w, "message", w)).split()) for w in typst_warnings]
        else:  # older bindings: no timestamp argument (the template sets no date anyway), no warnings
            pdf = typst.compile(source_bytes, **options)
    except typst.TypstError as exc:
        parts = [getattr(exc, "message", "") or str(exc), *(getattr(exc, "hints", None) or [])]
        diagnostic = getattr(exc, "diagnostic", "") or ""
        detail = summarize_stderr("\n".join([*(f"error: {p}" for p in parts if p), diagnostic]))
        raise RenderError(
            f"typst failed rendering {source.name} to PDF: {detail}", renderer="typst", target="pdf", detail=detail
        ) from None
    if not isinstance(pdf, bytes):
        raise RenderError(f"typst returned no PDF for {source.name}", renderer="typst", target="pdf")
    output.write_bytes(pdf)
    return found

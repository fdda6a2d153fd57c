"""Render a report source (.qmd) to self-contained HTML and PDF, with Quarto when it is installed and with the
built-in pandoc + Typst renderer otherwise.

>>> result = render("run/report.qmd", to=("html", "pdf"))          # doctest: +SKIP
>>> result.engine                                                   # doctest: +SKIP
'fallback: pandoc 3.9 + typst 0.15.1'
>>> result.outputs["pdf"]                                           # doctest: +SKIP
PosixPath('run/report.pdf')

The engine string belongs in a run's manifest: the same source rendered by the same engine gives the same bytes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from cteimpact.errors import CteImpactWarning, OptionError
from cteimpact.reporting.errors import RendererNotFoundError, UnresolvedReferenceWarning
from cteimpact.reporting.quarto_cli import find_quarto, quarto_version, render_with_quarto

if TYPE_CHECKING:
    from cteimpact.reporting.document import QmdDocument

__all__ = ["Engine", "RenderResult", "RendererWarning", "Target", "available_engine", "render", "render_document"]

Target = Literal["html", "pdf"]
Engine = Literal["auto", "quarto", "fallback"]
_TARGETS: tuple[Target, ...] = ("html", "pdf")
_ENGINES = ("auto", "quarto", "fallback")


class RendererWarning(CteImpactWarning):
    """A renderer reported a problem that did not stop it (pandoc or quarto ``[WARNING]`` lines)."""


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render` produced.

    Attributes
    ----------
    engine
        ``"quarto 1.6.40"`` or ``"fallback: pandoc 3.9 + typst 0.15.1"``: record it in the run's manifest.
    renderer
        ``"quarto"`` or ``"fallback"``.
    versions
        Version of each tool involved.
    source
        The .qmd rendered.
    outputs
        Output format → file written (``{"html": …/report.html, "pdf": …/report.pdf}``).
    warnings
        Warnings the renderers reported (unresolved cross-references and the like); each was also issued as a
        Python warning.
    """

    engine: str
    renderer: Literal["quarto", "fallback"]
    versions: Mapping[str, str]
    source: Path
    outputs: Mapping[str, Path]
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "versions", MappingProxyType(dict(self.versions)))
        object.__setattr__(self, "outputs", MappingProxyType(dict(self.outputs)))

    def to_dict(self, *, relative_to: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Plain form for a manifest; paths relative to ``relative_to`` (default: the source's folder)."""
        base = Path(relative_to) if relative_to is not None else self.source.parent

        def rel(p: Path) -> str:
            try:
                return p.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                return p.as_posix()

        return {
            "engine": self.engine,
            "renderer": self.renderer,
            "versions": dict(self.versions),
            "source": rel(self.source),
            "outputs": {k: rel(v) for k, v in self.outputs.items()},
            "warnings": list(self.warnings),
        }


def _targets(to: str | Sequence[str]) -> list[Target]:
    items = [t.strip().lower() for t in to.split(",")] if isinstance(to, str) else [str(t).lower() for t in to]
    bad = [t for t in items if t not in _TARGETS]
    if bad or not items:
        raise OptionError(f"to must name output formats among 'html' and 'pdf', got {to!r}")
    return [t for t in _TARGETS if t in items]


def available_engine() -> str:
    """The engine :func:`render` would use with ``engine="auto"`` (and its versions), without rendering."""
    binary = find_quarto()
    if binary is not None:
        return f"quarto {quarto_version(binary)}"
    from cteimpact.reporting.pandoc_typst import toolchain

    return toolchain().description


def render(
    source: str | os.PathLike[str],
    *,
    to: str | Sequence[str] = ("html", "pdf"),
    engine: Engine = "auto",
    output_dir: str | os.PathLike[str] | None = None,
    sandbox: bool = False,
) -> RenderResult:
    """Render a .qmd to self-contained HTML and/or PDF.

    Parameters
    ----------
    source
        The report source; figures it shows are read relative to its folder.
    to
        ``"html"``, ``"pdf"``, both (a sequence or ``"html,pdf"``).
    engine
        ``"auto"``: quarto when ``QUARTO_PATH`` names it or it is on ``PATH``, else the fallback; ``"quarto"`` or
        ``"fallback"`` to insist on one.
    output_dir
        Folder for the outputs (default: the source's folder); files are named after the source
        (``report.qmd`` → ``report.html``, ``report.pdf``).
    sandbox
        Render the source as untrusted input (the reports of a run directory): the fallback reads it without raw
        HTML, Typst or TeX and stops on an image outside the source's folder or a link leaving the document;
        quarto runs with ``--no-execute``. The caller renders in a folder of its own, which holds nothing but the
        source and its figures (Quarto reads project files in the source's folder and above).

    Returns
    -------
    RenderResult
        The engine used, its versions and the files written.

    Raises
    ------
    RendererNotFoundError
        The engine asked for is not available (quarto missing; pypandoc_binary or typst not installed).
    RenderError
        A renderer failed; the message carries its diagnostic in one line.
    OptionError
        An unknown format or engine, or a source that is not a file.
    """
    if engine not in _ENGINES:
        raise OptionError(f"engine must be one of {', '.join(_ENGINES)}, got {engine!r}")
    targets = _targets(to)
    src = Path(source).resolve()
    if not src.is_file():
        raise OptionError(f"report source {Path(source)} does not exist or is not a file")
    out_dir = Path(output_dir).resolve() if output_dir is not None else src.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {t: out_dir / (src.stem + (".html" if t == "html" else ".pdf")) for t in targets}

    binary = find_quarto() if engine in ("auto", "quarto") else None
    if engine == "quarto" and binary is None:
        raise RendererNotFoundError(
            "quarto is not installed: put it on PATH or set QUARTO_PATH to its binary, or render with "
            "engine='fallback' (pandoc + typst from PyPI)",
            renderer="quarto",
            target="/".join(targets),
        )
    for stale in outputs.values():
        stale.unlink(missing_ok=True)  # a failed render must not leave an earlier output looking current
    found: list[str] = []
    if binary is not None:
        version = quarto_version(binary)
        for target in targets:
            found += render_with_quarto(binary, src, target, outputs[target], sandbox=sandbox)
        result = RenderResult(
            engine=f"quarto {version}", renderer="quarto", versions={"quarto": version}, source=src,
            outputs=outputs, warnings=tuple(dict.fromkeys(found)),
        )
    else:
        from cteimpact.reporting.pandoc_typst import toolchain

        tools = toolchain()
        found += _render_fallback(src, targets, outputs, sandbox=sandbox)
        result = RenderResult(
            engine=tools.description, renderer="fallback", versions=tools.versions, source=src, outputs=outputs,
            warnings=tuple(dict.fromkeys(found)),
        )
    for message in result.warnings:
        lowered = message.lower()
        is_reference = "cross-reference" in lowered or "crossref" in lowered or "unresolved citation" in lowered
        category = UnresolvedReferenceWarning if is_reference else RendererWarning
        warnings.warn(f"{src.name}: {message}", category, stacklevel=2)
    return result


def _render_fallback(src: Path, targets: Sequence[str], outputs: dict[str, Path], *, sandbox: bool) -> list[str]:
    """Render ``src`` to each target with the fallback (pandoc + Typst): the targets at the same time, in threads
    (pandoc runs as a subprocess; each target writes its own file, so the outputs do not depend on it), their
    warnings in the order of ``targets``. When one fails, the first failure in that order is raised and no output
    is left."""
    from concurrent.futures import ThreadPoolExecutor

    from cteimpact.reporting.pandoc_typst import read_source, render_html, render_pdf

    parsed = read_source(src, sandbox=sandbox) if len(targets) > 1 else None  # read once for both targets

    def one(target: str) -> list[str]:
        return (render_html(src, outputs[target], sandbox=sandbox, parsed=parsed) if target == "html"
                else render_pdf(src, outputs[target], sandbox=sandbox, parsed=parsed))

    if len(targets) == 1:
        return one(targets[0])
    with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="cteimpact-render") as pool:
        futures = [pool.submit(one, target) for target in targets]
        errors = [f.exception() for f in futures]
    failed = next((e for e in errors if e is not None), None)
    if failed is not None:
        for path in outputs.values():
            path.unlink(missing_ok=True)
        raise failed
    return [w for f in futures for w in f.result()]


def render_document(
    document: QmdDocument,
    path: str | os.PathLike[str],
    *,
    to: str | Sequence[str] = ("html", "pdf"),
    engine: Engine = "auto",
    output_dir: str | os.PathLike[str] | None = None,
) -> RenderResult:
    """Write ``document`` to ``path`` (a .qmd) and render it; see :func:`render`."""
    written = document.write(path)
    return render(written, to=to, engine=engine, output_dir=output_dir)

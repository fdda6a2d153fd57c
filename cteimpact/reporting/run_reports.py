"""Write and render the reports of a run directory, and record them in its manifest (``cteimpact report``).

>>> from cteimpact.reporting import report_run
>>> done = report_run("runs/ccpt", to=("html", "pdf"))            # doctest: +SKIP
>>> done.engine                                                    # doctest: +SKIP
'fallback: pandoc 3.9 + typst 0.15.1'
>>> sorted(done.files)                                             # doctest: +SKIP
['report/certificate.html', 'report/certificate.pdf', 'report/certificate.qmd', 'report/figures/...', ...]

The reports go to ``RUN_DIR/report/``: ``impact-report.qmd`` and, when ``certificate.json`` exists,
``certificate.qmd``, each rendered to HTML and/or PDF, with copies of the run figures they show in
``report/figures/``. The manifest gets (or has replaced) a ``report`` entry: the engine, its versions, the formats
and the SHA-256 of every report file. That entry is kept apart from ``outputs``, which ``cteimpact verify``
re-hashes: rendering again with another engine legitimately changes the report's bytes, never the results'.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cteimpact.provenance.hashing import describe_file
from cteimpact.reporting.certificate_report import build_certificate_report
from cteimpact.reporting.impact_report import build_impact_report, write_report
from cteimpact.reporting.render import Engine, RenderResult, render
from cteimpact.reporting.rundir import RunContents, load_run
from cteimpact.results.serialization import dumps_json

__all__ = ["CERTIFICATE_NAME", "IMPACT_NAME", "REPORT_FOLDER", "REPORT_SCHEMA", "RunReports", "report_run"]

REPORT_FOLDER = "report"
IMPACT_NAME = "impact-report"
CERTIFICATE_NAME = "certificate"
REPORT_SCHEMA = "cteimpact.report/1"


@dataclass(frozen=True)
class RunReports:
    """What :func:`report_run` wrote.

    Attributes
    ----------
    run_dir
        The run directory.
    sources
        ``"impact"`` (and ``"certificate"``) → the .qmd written.
    renders
        The same keys → the :class:`RenderResult` of each source.
    manifest_entry
        The ``report`` entry written to ``manifest.json``.
    """

    run_dir: Path
    sources: dict[str, Path]
    renders: dict[str, RenderResult]
    manifest_entry: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> str:
        return str(self.manifest_entry.get("engine", ""))

    @property
    def files(self) -> list[str]:
        """Report files relative to the run directory."""
        return [f["path"] for f in self.manifest_entry.get("files", [])]

    def outputs(self, kind: str = "impact") -> dict[str, Path]:
        """Format → file of the ``kind`` report (``"impact"`` or ``"certificate"``)."""
        return dict(self.renders[kind].outputs)


def _clear(folder: Path, run: RunContents) -> None:
    """Remove the report files an earlier ``cteimpact report`` wrote (a report no longer due must not linger)."""
    for name in (IMPACT_NAME, CERTIFICATE_NAME):
        for ext in (".qmd", ".html", ".pdf"):
            (folder / f"{name}{ext}").unlink(missing_ok=True)
    figures = folder / "figures"
    if figures.is_dir():
        ours = set(run.figure_names)
        for p in figures.iterdir():
            if p.is_file() and p.name in ours:
                p.unlink()


def _record(run_dir: Path, entry: dict[str, Any] | None) -> None:
    """Set (or, with None, remove) the manifest's ``report`` entry; every other byte of the manifest stays."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    had = manifest.pop("report", None) is not None
    if entry is not None:
        manifest["report"] = entry
    if entry is not None or had:
        path.write_text(dumps_json(manifest), encoding="utf-8", newline="\n")


def _check_engine(engine: str) -> None:
    """Fail before touching the run directory when the engine asked for cannot run."""
    from cteimpact.reporting.errors import RendererNotFoundError
    from cteimpact.reporting.quarto_cli import find_quarto

    if engine not in ("auto", "quarto", "fallback"):
        return  # render() names the allowed engines
    quarto = find_quarto() if engine in ("auto", "quarto") else None
    if engine == "quarto" and quarto is None:
        raise RendererNotFoundError(
            "quarto is not installed: put it on PATH or set QUARTO_PATH to its binary, or use --engine fallback "
            "(pandoc + typst from PyPI)", renderer="quarto", target="html/pdf")
    if quarto is None:
        from cteimpact.reporting.pandoc_typst import toolchain

        toolchain()


def report_run(run_dir: str | os.PathLike[str], *, to: str | Sequence[str] = ("html", "pdf"),
               engine: Engine = "auto", command: str | None = None) -> RunReports:
    """Write the impact report (and the certificate, when ``certificate.json`` exists) of ``run_dir``, render them
    and record them in the run's manifest.

    Parameters
    ----------
    run_dir
        A directory written by ``cteimpact run`` (and possibly ``cteimpact verify``).
    to
        ``"html"``, ``"pdf"`` or both.
    engine
        ``"auto"`` (quarto when installed, else the fallback), ``"quarto"`` or ``"fallback"``.
    command
        The command line to record in the manifest (default: the equivalent ``cteimpact report`` call).

    Raises
    ------
    NotARunDirectoryError
        ``run_dir`` is not a run directory.
    RendererNotFoundError, RenderError
        The engine is not available, or it failed.
    """
    run = load_run(run_dir)
    _check_engine(engine)
    root = run.root
    folder = root / REPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _clear(folder, run)
    _record(root, None)  # until the new reports are rendered, the manifest lists none
    sources: dict[str, Path] = {}
    renders: dict[str, RenderResult] = {}
    built = {"impact": build_impact_report(run)}
    if run.certificate is not None:
        built["certificate"] = build_certificate_report(run)
    for kind, report in built.items():
        name = IMPACT_NAME if kind == "impact" else CERTIFICATE_NAME
        sources[kind] = write_report(report, folder / f"{name}.qmd")
        renders[kind] = render(sources[kind], to=to, engine=engine)
    files: list[Path] = []
    for kind in built:
        files.append(sources[kind])
        files += list(renders[kind].outputs.values())
    figure_files = sorted({folder / rel for report in built.values() for rel in report.figures})
    first = renders["impact"]
    formats = list(first.outputs)
    entry: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "engine": first.engine,
        "renderer": first.renderer,
        "versions": dict(first.versions),
        "formats": formats,
        "command": command or ("cteimpact report " + root.as_posix() + " --to " + ",".join(formats)
                               + f" --engine {engine}"),
        "files": [describe_file(p.resolve(), relative_to=root.resolve()) for p in [*files, *figure_files]],
        "warnings": sorted({w for r in renders.values() for w in r.warnings}),
    }
    _record(root, entry)
    return RunReports(root, sources, renders, entry)

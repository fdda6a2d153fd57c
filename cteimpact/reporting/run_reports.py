"""Write and render the reports of a run directory, and record them in its manifest (``cteimpact report``).

>>> from cteimpact.reporting import report_run
>>> done = report_run("runs/ccpt", to=("html", "pdf"))            # doctest: +SKIP
>>> done.engine                                                    # doctest: +SKIP
'fallback: pandoc 3.9 + typst 0.15.1'
>>> sorted(done.files)                                             # doctest: +SKIP
['report/certificate.html', 'report/certificate.pdf', 'report/certificate.qmd', 'report/figures/...', ...]

The reports go to ``RUN_DIR/report/``: ``impact-report.qmd`` and, when ``certificate.json`` exists,
``certificate.qmd``, each rendered to HTML and/or PDF, with copies of the run figures they show in
``report/figures/`` and the ledger of every number each shows (``impact-report.numbers.json``: the text, the
formatter and the JSON path of each value it came from). The manifest gets (or has replaced) a ``report`` entry:
the engine, its versions, the formats
and the SHA-256 of every report file. That entry is kept apart from ``outputs``, which ``cteimpact verify``
re-hashes: rendering again with another engine legitimately changes the report's bytes, never the results'.

A run directory may come from someone else, so everything in it is untrusted input. Every text taken from its
records is escaped; the reports are written and rendered in a fresh temporary folder that holds only the sources,
the figures they show and a Quarto project file of cteimpact's own (so that no ``_quarto.yml``, ``_metadata.yml``,
filter or extension planted in the run directory or above it takes part), with the renderer in its sandbox mode;
the outputs are then copied to ``RUN_DIR/report/``. Symbolic links are never followed: a link where the report
reads (the records, ``figures/``) or writes (``report/``, ``report/figures/``) is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cteimpact.provenance.hashing import describe_file
from cteimpact.reporting.errors import ReportContentError
from cteimpact.reporting.facts import FIGURE_FOLDER, report_figure_name
from cteimpact.reporting.render import Engine, RenderResult, render
from cteimpact.reporting.reports import BuiltReport, build_report
from cteimpact.reporting.rundir import NotARunDirectoryError, RunContents, UnsafeRunDirectoryError, load_run
from cteimpact.reporting.templating import StudyTemplates
from cteimpact.results.serialization import dumps_json

__all__ = ["CERTIFICATE_NAME", "IMPACT_NAME", "REPORT_FOLDER", "REPORT_SCHEMA", "RunReports", "report_run",
           "shown_path"]

REPORT_FOLDER = "report"
IMPACT_NAME = "impact-report"
CERTIFICATE_NAME = "certificate"
REPORT_SCHEMA = "cteimpact.report/1"
NUMBERS_SUFFIX = ".numbers.json"
"""The ledger of a report's numbers is written beside it: ``impact-report.numbers.json``."""


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
    contents
        The run directory as the reports read it (results, manifest before its ``report`` entry, certificate).
    """

    run_dir: Path
    sources: dict[str, Path]
    renders: dict[str, RenderResult]
    manifest_entry: dict[str, Any] = field(default_factory=dict)
    contents: RunContents | None = field(default=None, repr=False, compare=False)

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


_PROJECT_FILE = """\
# Written by cteimpact report: this folder is a project of its own, so that Quarto reads no project file
# (_quarto.yml, _metadata.yml) from the folders above it.
project:
  type: default
"""


def _real_folder(path: Path, root: Path) -> None:
    """Refuse ``path`` (a folder the report writes to) when it is a symbolic link or not a folder."""
    where = path.relative_to(root).as_posix()
    if path.is_symlink():
        raise UnsafeRunDirectoryError(
            f"{where} in '{root}' is a symbolic link; the report writes only inside the run directory and does not "
            "follow links (which could point outside it): remove the link")
    if path.exists() and not path.is_dir():
        raise UnsafeRunDirectoryError(f"{where} in '{root}' is not a folder; remove it or move it away")


def _report_folder(root: Path) -> Path:
    folder = root / REPORT_FOLDER
    _real_folder(folder, root)
    _real_folder(folder / FIGURE_FOLDER, root)
    return folder


def _remove(path: Path, root: Path) -> None:
    """Delete ``path`` (a file of the report folder; a symbolic link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        raise UnsafeRunDirectoryError(
            f"{path.relative_to(root).as_posix()} in '{root}' is a folder where the report writes a file; remove it")


def _figure_copies(root: Path) -> list[str]:
    """Names of the copies the report folder may hold of the run's figures (the run's figure names are listed, not
    read: a link among them is refused when a report shows it)."""
    folder = root / "figures"
    if folder.is_symlink() or not folder.is_dir():
        return []
    return sorted({report_figure_name(p.name) for p in folder.iterdir() if p.suffix.lower() in (".png", ".svg")})


def _clear(folder: Path, root: Path) -> None:
    """Remove the report files an earlier ``cteimpact report`` wrote (a report no longer due must not linger)."""
    for name in (IMPACT_NAME, CERTIFICATE_NAME):
        for ext in (".qmd", ".html", ".pdf", NUMBERS_SUFFIX):
            _remove(folder / f"{name}{ext}", root)
    figures = folder / FIGURE_FOLDER
    if figures.is_dir():
        for name in _figure_copies(root):
            _remove(figures / name, root)


def _install(source: Path, target: Path, root: Path) -> Path:
    """Copy ``source`` (a file of the staging folder) to ``target`` in the report folder, replacing what is there
    without following a link."""
    _remove(target, root)
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, target)
    return target


# What Quarto would run or expand in a .qmd: shortcodes ({{< include … >}}), code cells (```{python}) and inline
# expressions (`{python} x`, `r x`). The report builders write none and escape every text they take from the run; a
# source holding one means a text got through unescaped, and it is not rendered.
_ACTIVE = re.compile(r"\{\{[<%]|^[ \t]*`{3,}[ \t]*\{|(?<![`\\])`+[ \t]*\{[A-Za-z]|(?<![`\\])`r[ \t]", re.MULTILINE)


def _check_source(path: Path) -> None:
    """Refuse a report source that holds something Quarto would execute or expand (see ``_ACTIVE``)."""
    found = _ACTIVE.search(path.read_text(encoding="utf-8"))
    if found:
        raise ReportContentError(
            f"the report source {path.name} would hold {found.group(0).strip()!r}, which Quarto executes or expands; "
            "a text of the run directory got through unescaped, so the report is not rendered")


def _record(run_dir: Path, entry: dict[str, Any] | None) -> None:
    """Set (or, with None, remove) the manifest's ``report`` entry; every other byte of the manifest stays."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    had = manifest.pop("report", None) is not None
    if entry is not None:
        manifest["report"] = entry
    if entry is not None or had:
        path.write_text(dumps_json(manifest), encoding="utf-8", newline="\n")


def shown_path(path: str | os.PathLike[str]) -> str:
    """A run directory as a record shows it: as given when relative, else by its name only (an absolute path says
    where a machine keeps its files, which no record needs and a report must not show)."""
    p = Path(path)
    return p.as_posix() if not p.is_absolute() else p.name


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


def _build(run: RunContents, templates: StudyTemplates | None) -> dict[str, BuiltReport]:
    """Build the report sources; records whose values have types a run never writes are refused when the run is
    read (:class:`~cteimpact.records.RecordError`), and anything a template trips over is reported as such."""
    try:
        built: dict[str, BuiltReport] = {"impact": build_report(run, "impact", templates=templates)}
        if run.certificate is not None:
            built["certificate"] = build_report(run, "certificate", templates=templates)
    except ReportContentError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise NotARunDirectoryError(
            f"cannot build the report of '{run.root}': its records do not have the structure cteimpact writes "
            f"({type(exc).__name__}: {str(exc)[:120]}); re-create the run with 'cteimpact run' and "
            "'cteimpact verify'") from exc
    return built


def study_templates(run: RunContents, folder: str | os.PathLike[str] | None = None) -> StudyTemplates | None:
    """The study's own template folder: ``folder`` when given (a path on the command line), else the
    specification's ``[report] templates``, relative to the specification's folder and inside it; None when
    neither names one.

    The specification's folder is found from the manifest's record of the specification file, which must still
    have the SHA-256 the manifest records (else the templates could not be tied to the run).

    Raises
    ------
    SpecificationError
        ``[report] templates`` is absolute or leaves the specification's folder.
    ReportTemplateError
        The folder does not exist, is a link, or the specification file has changed.
    """
    from cteimpact.config.paths import resolve_inside
    from cteimpact.provenance.hashing import sha256_file
    from cteimpact.reporting.templating import ReportTemplateError

    if folder is not None:
        path = Path(folder)
    else:
        report = run.manifest.get("specification", {}).get("report") if isinstance(run.manifest, dict) else None
        named = report.get("templates") if isinstance(report, dict) else None
        if not named:
            return None
        spec = next((i for i in run.manifest.get("inputs") or [] if isinstance(i, dict)
                     and i.get("role") == "specification"), None)
        spec_path = Path(os.path.normpath(run.root / str(spec.get("path")))) if spec else None
        if spec_path is None or not spec_path.is_file() or sha256_file(spec_path) != spec.get("sha256"):  # type: ignore[union-attr]
            raise ReportTemplateError(
                f"the specification names report templates ({named!r}), but the specification file the manifest "
                "records is not where it was or has changed; give the folder with 'cteimpact report --templates'")
        path = resolve_inside(spec_path.parent, str(named), "report.templates")
    if path.is_symlink() or not path.is_dir():
        raise ReportTemplateError(f"the report template folder '{path.name}' is not a folder (or is a symbolic link)")
    return StudyTemplates(path)


def report_run(run_dir: str | os.PathLike[str], *, to: str | Sequence[str] = ("html", "pdf"),
               engine: Engine = "fallback", command: str | None = None,
               templates: str | os.PathLike[str] | None = None) -> RunReports:
    """Write the impact report (and the certificate, when ``certificate.json`` exists) of ``run_dir``, render them
    and record them in the run's manifest.

    Parameters
    ----------
    run_dir
        A directory written by ``cteimpact run`` (and possibly ``cteimpact verify``).
    to
        ``"html"``, ``"pdf"`` or both.
    engine
        ``"fallback"`` (the default for certified output: pandoc and Typst, pinned by the ``report`` extra),
        ``"quarto"`` (when Quarto is installed) or ``"auto"`` (quarto when installed, else the fallback). The
        engine and its versions are recorded in the manifest.
    command
        The command line to record in the manifest (default: the equivalent ``cteimpact report`` call).
    templates
        A folder of report templates of the study's own (see :mod:`cteimpact.reporting.templating`); default: the
        specification's ``[report] templates``, if it names one.

    Raises
    ------
    NotARunDirectoryError
        ``run_dir`` is not a run directory.
    UnsafeRunDirectoryError
        The run directory holds a symbolic link where the report reads or writes, or records too large or too
        deeply nested. Nothing is written outside ``report/`` and the manifest's ``report`` entry whatever fails;
        when a report fails after its run directory was read, an earlier report is removed with its entry.
    RendererNotFoundError, RenderError
        The engine is not available, or it failed.
    """
    run = load_run(run_dir)
    _check_engine(engine)
    root = run.root
    folder = _report_folder(root)
    try:
        built = _build(run, study_templates(run, templates))
        with tempfile.TemporaryDirectory(prefix="cteimpact-report-") as tmp:
            stage = Path(tmp)
            (stage / "_quarto.yml").write_text(_PROJECT_FILE, encoding="utf-8")
            staged: dict[str, RenderResult] = {}
            for kind, report in built.items():
                name = IMPACT_NAME if kind == "impact" else CERTIFICATE_NAME
                source = report.write(stage / f"{name}.qmd")
                _check_source(source)
                staged[kind] = render(source, to=to, engine=engine, sandbox=True)
            folder.mkdir(exist_ok=True)
            _clear(folder, root)
            sources: dict[str, Path] = {}
            renders: dict[str, RenderResult] = {}
            ledgers: list[Path] = []
            for kind, result in staged.items():
                sources[kind] = _install(result.source, folder / result.source.name, root)
                outputs = {fmt: _install(path, folder / path.name, root) for fmt, path in result.outputs.items()}
                renders[kind] = replace(result, source=sources[kind], outputs=outputs)
                ledger = folder / (result.source.stem + NUMBERS_SUFFIX)
                _remove(ledger, root)
                ledger.write_text(dumps_json(built[kind].ledger.to_json()), encoding="utf-8", newline="\n")
                ledgers.append(ledger)
            figure_files = sorted({_install(stage / rel, folder / rel, root)
                                   for report in built.values() for rel in report.figures})
    except Exception:
        if folder.is_dir():  # a failed report must not leave an earlier one looking current
            with contextlib.suppress(OSError, UnsafeRunDirectoryError):
                _clear(folder, root)
        _record(root, None)
        raise
    files: list[Path] = []
    for kind in built:
        files.append(sources[kind])
        files += list(renders[kind].outputs.values())
    first = renders["impact"]
    formats = list(first.outputs)
    entry: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "engine": first.engine,
        "renderer": first.renderer,
        "versions": dict(first.versions),
        "formats": formats,
        "command": command or ("cteimpact report " + shown_path(root) + " --to " + ",".join(formats)
                               + f" --engine {engine}"),
        "files": [describe_file(p.resolve(), relative_to=root.resolve())
                  for p in [*files, *ledgers, *figure_files]],
        "templates": {name: digest for report in built.values() for name, digest in sorted(report.templates.items())},
        "warnings": sorted({w for r in renders.values() for w in r.warnings}),
    }
    _record(root, entry)
    return RunReports(root, sources, renders, entry, run)

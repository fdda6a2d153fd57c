"""``cteimpact report``: the impact-study report and the validator's certificate of a run directory."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from cteimpact.cli.options import CommaList

__all__ = ["command"]


@click.command(name="report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--to", "to", type=CommaList(), default="html,pdf", show_default=True,
              help="Output formats: html, pdf or both (html,pdf).")
@click.option("--engine", type=click.Choice(["fallback", "quarto", "auto"]), default="fallback", show_default=True,
              help="fallback: pandoc + typst from the 'report' extra (the default for certified output); quarto: the "
                   "quarto CLI (on PATH or QUARTO_PATH); auto: quarto when installed, else the fallback. The engine "
                   "and its versions are recorded in the manifest.")
@click.option("--templates", "templates", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of report templates of the study's own (*.qmd.j2; default: the specification's "
                   "[report] templates).")
def command(run_dir: Path, to: list[str], engine: str, templates: Path | None) -> None:
    """Write and render the reports of RUN_DIR (a directory written by `cteimpact run`).

    Writes RUN_DIR/report/impact-report.qmd and, when RUN_DIR/certificate.json exists (`cteimpact verify`),
    RUN_DIR/report/certificate.qmd, each rendered to self-contained HTML and PDF, filled from cteimpact's Jinja2
    templates (or a study's own, --templates). Every number comes from results.json, manifest.json and
    certificate.json; RUN_DIR/report/*.numbers.json lists each number shown with the JSON path it came from. The
    engine used and the SHA-256 of every report file are recorded in RUN_DIR/manifest.json under "report" (apart
    from the run's outputs, which `cteimpact verify` checks). Exit code 2 for a directory that is not a run, a
    template that cannot be filled, or a renderer that is missing or fails.

    RUN_DIR is read as untrusted input: its texts are shown literally, nothing in it is executed, the reports are
    rendered in a fresh temporary folder (no project file or filter planted in RUN_DIR takes part), and a
    symbolic link where the report reads or writes is refused (exit 2).
    """
    from cteimpact.pipeline.run_directory import lock_run_directory
    from cteimpact.reporting.run_reports import report_run

    bad = [t for t in to if t.lower() not in ("html", "pdf")]
    if bad:
        raise click.BadParameter(f"unknown format {bad[0]!r}; choose html, pdf or html,pdf", param_hint="--to")
    from cteimpact.reporting.run_reports import shown_path

    parts = ["cteimpact", "report", shown_path(run_dir), "--to", ",".join(to), "--engine", engine]
    if templates is not None:
        parts += ["--templates", shown_path(templates)]
    if not run_dir.is_dir():
        from cteimpact.reporting.rundir import NotARunDirectoryError

        raise NotARunDirectoryError(f"run directory '{run_dir}' does not exist or is not a folder")
    with lock_run_directory(run_dir):
        done = report_run(run_dir, to=[t.lower() for t in to], engine=engine,  # type: ignore[arg-type]
                          command=" ".join(shlex.quote(p) for p in parts), templates=templates)
    for kind in done.sources:
        outputs = done.outputs(kind)
        click.echo(f"wrote {done.sources[kind]}" + "".join(f" and {p.name}" for p in outputs.values()))
    click.echo(f"engine: {done.engine}; recorded in {done.run_dir / 'manifest.json'} under \"report\"")

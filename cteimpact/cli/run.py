"""``cteimpact run``: run an analysis specification into a reproducible run directory."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

__all__ = ["command"]


@click.command(name="run")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to write (results.json, manifest.json, figures/, tables/).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder that relative data paths in the specification are resolved against "
                   "(default: the specification's folder).")
@click.option("--quiet", is_flag=True, help="Do not show progress.")
def command(spec: Path, out_dir: Path, data_root: Path | None, quiet: bool) -> None:
    """Run the analysis specification SPEC (an analyses/*.toml file).

    The specification is checked against its data and pricing contract before any computation. The run writes
    results.json (every estimate, diagnostic, sample flow and pricing figure at full precision; no timestamps, so
    the same inputs and seed give identical bytes), figures/, tables/ and manifest.json (input hashes and record
    counts, the resolved specification and its hash, seeds, software versions, output hashes). Progress goes to
    stderr.
    """
    from cteimpact.pipeline.run import run_analysis

    parts = ["cteimpact", "run", str(spec), "--out", str(out_dir)]
    if data_root is not None:
        parts += ["--data-root", str(data_root)]
    record = run_analysis(spec, out_dir, data_root=data_root, progress=not quiet,
                          command=" ".join(shlex.quote(p) for p in parts))
    click.echo(f"wrote {record.out_dir / 'results.json'} and {record.out_dir / 'manifest.json'}")

"""``cteimpact run``: run an analysis specification into a reproducible run directory."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from cteimpact.backends.connection import redact
from cteimpact.cli.options import backend_options

__all__ = ["command"]


def _shown(path: Path) -> str:
    """``path`` as the manifest records it in the command: relative to the working folder when inside it (no
    absolute local path), else as given."""
    if path.is_absolute():
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return str(path)
    return str(path)


@click.command(name="run")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to write (results.json, manifest.json, figures/, tables/): a new or empty folder, "
                   "or a previous run with --overwrite.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder that the specification's data path is relative to (default: the specification's "
                   "folder); the path must stay inside it.")
@click.option("--data", "data", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The data file itself, anywhere (replaces the specification's data path); a .duckdb file is read "
                   "as a DuckDB database.")
@backend_options(spec_key=True)
@click.option("--table", default=None, help="The table to read (replaces [data] table; may be omitted when the "
                                            "database holds one table).")
@click.option("--max-rows-pulled", type=click.IntRange(min=1), default=None,
              help="The most rows the run may pull from the engine to this machine (replaces [data] "
                   "max_rows_pulled; default 5,000,000).")
@click.option("--duckdb-above-mb", type=click.FloatRange(min=0), default=None,
              help="Read a CSV or Parquet file larger than this many MB through DuckDB: restrictions and counts run "
                   "there and only the study sample is loaded (replaces [data] duckdb_above_mb; default 1024; 0: "
                   "always).")
@click.option("--overwrite", is_flag=True, help="Replace a previous run in --out (never a folder holding other files).")
@click.option("--quiet", is_flag=True, help="Do not show progress.")
def command(spec: Path, out_dir: Path, data_root: Path | None, data: Path | None, backend: str | None,
            connection: str | None, table: str | None, max_rows_pulled: int | None, duckdb_above_mb: float | None,
            overwrite: bool,
            quiet: bool) -> None:
    """Run the analysis specification SPEC (an analyses/*.toml file).

    The specification is checked against its data and pricing contract, and --out is claimed (new, empty, or a
    previous run to --overwrite; writable; not being written by another process) before any computation. The run
    is written into a staging folder beside --out and moved into place when complete: results.json (every
    estimate, diagnostic, sample flow and pricing figure at full precision; no timestamps, so the same inputs and
    seed give identical bytes), figures/, tables/ and manifest.json (input hashes and record counts, the resolved
    specification and its hash, seeds, software versions, output hashes). Progress goes to stderr.
    """
    from cteimpact.pipeline.run import run_analysis

    if data is not None and data_root is not None:
        raise click.BadParameter("give --data or --data-root, not both", param_hint="--data")
    parts = ["cteimpact", "run", _shown(spec), "--out", _shown(out_dir)]
    if data_root is not None:
        parts += ["--data-root", _shown(data_root)]
    if data is not None:
        parts += ["--data", _shown(data)]
    if backend is not None:
        parts += ["--backend", backend]
    if connection is not None:  # recorded without its password (env:NAME is recorded as the variable's name)
        parts += ["--connection", redact(connection)]
    if table is not None:
        parts += ["--table", table]
    if max_rows_pulled is not None:
        parts += ["--max-rows-pulled", str(max_rows_pulled)]
    if duckdb_above_mb is not None:
        parts += ["--duckdb-above-mb", f"{duckdb_above_mb:g}"]
    if overwrite:
        parts.append("--overwrite")
    record = run_analysis(spec, out_dir, data_root=data_root, data=data, overwrite=overwrite, progress=not quiet,
                          command=" ".join(shlex.quote(p) for p in parts), backend=backend, connection=connection,
                          table=table, max_rows_pulled=max_rows_pulled, duckdb_above_mb=duckdb_above_mb)
    from cteimpact.cli.options import headline_line

    line = headline_line(record.results)
    if line:
        click.echo(f"Headline: {line}")
    click.echo(f"wrote {record.out_dir / 'results.json'} and {record.out_dir / 'manifest.json'}")

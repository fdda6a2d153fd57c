"""Option parsing shared by subcommands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cteimpact.backends.connection import BACKENDS
from cteimpact.results.serialization import dumps_json

if TYPE_CHECKING:
    from cteimpact.backends.location import DataLocation

__all__ = ["CommaList", "backend_options", "check_output_file", "echo_json", "engine_location", "headline_line"]

_F = TypeVar("_F", bound=Callable[..., Any])

_BACKEND_HELP = ("Read the data from this engine{replaces}: duckdb (a .duckdb file), spark (a Parquet file or a "
                 "catalog table), or a server reached through Ibis.")
_CONNECTION_HELP = ("The engine's connection string (an Ibis URL; for duckdb a database file; for spark the master, "
                    "default local[2]), or env:NAME to read it from the environment variable NAME (keeps passwords "
                    "off the command line; {recorded} the variable's name, or the string without its password).")


class CommaList(click.ParamType):
    """A comma-separated list of names (``--covariates a,b,c``)."""

    name = "name[,name...]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        if isinstance(value, list):
            return value
        items = [v.strip() for v in str(value).split(",")]
        if any(not v for v in items):
            self.fail(f"{value!r} has an empty name; give names separated by commas", param, ctx)
        return items


def backend_options(*, spec_key: bool = False) -> Callable[[_F], _F]:
    """The ``--backend`` and ``--connection`` options of the commands that read a table in an engine (``cteimpact
    run``, ``did``, ``rd``): the same names, choices and ``env:NAME`` form everywhere. ``spec_key``: the options
    replace a specification's ``[data]`` keys (``cteimpact run``), which the help says."""
    backend = click.option("--backend", type=click.Choice(BACKENDS), default=None,
                           help=_BACKEND_HELP.format(replaces=" (replaces [data] backend)" if spec_key else ""))
    connection = click.option("--connection", default=None, metavar="STRING|env:NAME",
                              help=_CONNECTION_HELP.format(recorded="the manifest records" if spec_key else
                                                           "messages and outputs show"))

    def decorate(fn: _F) -> _F:
        return backend(connection(fn))

    return decorate


def engine_location(data: Path | None, *, backend: str | None, connection: str | None, table: str | None,
                    max_rows_pulled: int | None) -> DataLocation | None:
    """Where ``cteimpact did`` and ``cteimpact rd`` read their data: None for a CSV or Parquet file ``data`` read by
    pandas, else the engine table (:class:`cteimpact.backends.location.DataLocation`, resolved as ``cteimpact run``
    resolves ``--data``, ``--backend``, ``--connection`` and ``--table``).

    * no ``--backend``: ``data`` is a file; one ending in ``.duckdb`` is a DuckDB database (``--table`` may be omitted
      when it holds one table);
    * ``--backend duckdb``: the database file is ``data`` or ``--connection`` (not both);
    * ``--backend spark``: ``data`` is a Parquet file read by Spark, or ``--table`` names a table of Spark's catalog
      (one of the two); ``--connection`` is the master (default ``local[2]``);
    * a server (``postgres``, ``mysql``...): no ``data``; ``--connection`` and ``--table`` name the server and table.

    Raises
    ------
    OptionError
        A combination that does not name one table, as one line saying what to give.
    """
    from cteimpact.backends.connection import is_duckdb_file, redact
    from cteimpact.backends.location import data_location
    from cteimpact.errors import OptionError

    if backend is None:
        if connection is not None:
            raise OptionError(f"--connection '{redact(connection)}' needs --backend to say which engine it reaches "
                              "(a DuckDB database file is given as DATA, without --connection)")
        if data is None:
            raise OptionError("give DATA (a CSV, Parquet or DuckDB file), or --backend with --connection and --table "
                              "to read a table in an engine")
        if not is_duckdb_file(data):
            return None
    elif backend == "duckdb":
        if data is not None and connection is not None:
            raise OptionError("--backend duckdb reads one database file: give it as DATA or as --connection, not both")
    elif backend == "spark":
        if data is not None and table is not None:
            raise OptionError("--backend spark reads DATA (a Parquet file) or --table (a table of Spark's catalog), "
                              "not both")
        if data is None and table is None:
            raise OptionError("--backend spark needs DATA (a Parquet file) or --table (a table of Spark's catalog)")
    else:
        if data is not None:
            raise OptionError(f"--backend {backend} reads the table --table names on the server, not a file: leave "
                              f"DATA ('{data.name}') out")
        if connection is None:
            raise OptionError(f"--backend {backend} needs --connection: the server's Ibis URL, or env:NAME to read it "
                              "from the environment variable NAME")
        if table is None:
            raise OptionError(f"--backend {backend} needs --table: the table to read on the server")
    return data_location(None, data_path=data, backend=backend, connection=connection, table=table,
                         max_rows_pulled=max_rows_pulled)


def echo_json(obj: object) -> None:
    """Print ``obj`` as deterministic full-precision JSON on stdout."""
    click.echo(dumps_json(obj), nl=False)


def emit_record(record: dict[str, Any], summary: str, *, output: Path | None, as_json: bool) -> None:
    """The end of a single-estimator command: the results record written to ``output`` (when given), then printed
    as JSON (``--json``) or the result's text summary."""
    from cteimpact.results.serialization import write_json

    if output is not None:
        write_json(record, output)
    if as_json:
        echo_json(record)
    else:
        click.echo(summary)


def check_output_file(path: Path, option: str) -> None:
    """Fail before any computation when the file ``path`` named by ``option`` cannot be written: its folder is
    missing or read-only, or it is a folder.

    Raises
    ------
    OptionError
        With one line naming the option and the folder.
    """
    from cteimpact.errors import OptionError

    folder = path.absolute().parent
    if path.is_dir():
        raise OptionError(f"{option} '{path}' is a folder; give a file name")
    if not folder.is_dir():
        raise OptionError(f"{option} '{path}': folder '{folder}' does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OptionError(f"{option} '{path}' cannot be written: permission denied")


def headline_line(results: dict[str, Any]) -> str | None:
    """One line for the ``headline`` block of a run's results: its name, value, interval and the contract outcomes
    priced on it, written as the reports write them (``-2.8 pp``, ``$2,119``; the same value the report, the
    pricing tables and the certificate show)."""
    from cteimpact.reporting.numbers import FORMATTERS
    from cteimpact.results.units import currency_symbol

    headline = results.get("headline")
    contract = (results.get("pricing") or {}).get("contract") or {}
    currency = currency_symbol(contract.get("currency"))
    if not isinstance(headline, dict) or headline.get("estimate") is None:
        return None if not headline else f"{headline.get('name')}: suppressed"
    unit = {"kind": str(headline.get("unit") or "number"), "currency": currency}
    se = headline.get("std_error")
    value = FORMATTERS["effect"](headline["estimate"], se, **unit)
    lower, upper = headline.get("ci_lower"), headline.get("ci_upper")
    interval = FORMATTERS["ci"](lower, upper, se, **unit) if lower is not None and upper is not None else "-"
    level = headline.get("ci_level")
    pct = f"{round(level * 100)}% " if isinstance(level, float) else ""
    kind = str(headline.get("ci_type") or "").replace("_", " ")
    priced = headline.get("priced_as") or []
    paid = f"; priced as {', '.join(str(p) for p in priced)}" if isinstance(priced, list) and priced else ""
    line = f"{headline.get('name')} = {value} ({pct}CI {interval}, {kind}){paid}"
    return line.replace("\xa0", " ")  # the reports' non-breaking spaces, as plain spaces for a terminal

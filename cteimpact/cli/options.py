"""Option parsing shared by subcommands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from cteimpact.results.serialization import dumps_json

__all__ = ["CommaList", "check_output_file", "echo_json", "headline_line"]


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

"""Option parsing shared by subcommands."""

from __future__ import annotations

import os
from pathlib import Path

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


def headline_line(headline: dict[str, object] | None) -> str | None:
    """One line for the ``headline`` block of a run: its name, value, interval and the contract outcomes priced on
    it (the same value the report, the pricing tables and the certificate show)."""
    if not headline or headline.get("estimate") is None:
        return None if not headline else f"{headline.get('name')}: suppressed"
    def num(x: object) -> str:
        return f"{x:.4g}" if isinstance(x, (int, float)) else "-"
    level = headline.get("ci_level")
    pct = f"{round(level * 100)}% " if isinstance(level, float) else ""
    kind = str(headline.get("ci_type") or "").replace("_", " ")
    priced = headline.get("priced_as") or []
    paid = f"; priced as {', '.join(str(p) for p in priced)}" if isinstance(priced, list) and priced else ""
    return (f"{headline.get('name')} = {num(headline.get('estimate'))} ({pct}CI {num(headline.get('ci_lower'))} to "
            f"{num(headline.get('ci_upper'))}, {kind}){paid}")

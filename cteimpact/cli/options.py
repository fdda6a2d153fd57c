"""Option parsing shared by subcommands."""

from __future__ import annotations

import click

from cteimpact.results.serialization import dumps_json

__all__ = ["CommaList", "echo_json"]


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

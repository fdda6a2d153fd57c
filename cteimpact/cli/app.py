"""The ``cteimpact`` command line: a group of subcommands, each in its own module, loaded on demand.

Exit codes: 0 success; 2 bad usage, bad data or an environment problem such as a missing or read-only folder or
too little memory (one line on stderr, no traceback); 1 internal error (one line; ``--debug`` or
``CTEIMPACT_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

import click

from cteimpact import __version__
from cteimpact.errors import CteImpactError

__all__ = ["cli", "main"]

# Subcommand name -> module under cteimpact.cli exposing ``command``. Modules that do not exist yet are skipped,
# so each capability adds its command by adding its module.
SUBCOMMANDS: dict[str, str] = {
    "synth": "synth",
    "rd": "rd",
    "rd-kink": "rd_kink",
    "rd-multi": "rd_multi",
    "did": "did",
    "price": "price",
    "run": "run",
    "verify": "verify",
    "report": "report",
    "demo": "demo",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used (``cteimpact synth`` does not import rdrobust)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, mod in SUBCOMMANDS.items()
                if importlib.util.find_spec(f"cteimpact.cli.{mod}") is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        mod = SUBCOMMANDS.get(cmd_name)
        if mod is None or importlib.util.find_spec(f"cteimpact.cli.{mod}") is None:
            return None
        command = importlib.import_module(f"cteimpact.cli.{mod}").command
        if not isinstance(command, click.Command):
            raise TypeError(f"cteimpact.cli.{mod}.command is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cteimpact")
@click.option("--debug", is_flag=True, help="Show the full traceback of internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """cteimpact: impacts of career and technical education pathways, and Pay-for-Success pricing.

    Run `cteimpact COMMAND --help` for the options of each command.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _flags(command: click.Command) -> list[str]:
    return [f for p in command.params if isinstance(p, click.Option) for f in (*p.opts, *p.secondary_opts)]


def _unknown_flag(exc: click.NoSuchOption) -> str:
    """:func:`cteimpact.config.declared.unknown_option_message` for a command-line flag: the closest flag of the
    command, or the design command the flag belongs to."""
    from cteimpact.config.declared import unknown_option_message

    ctx = exc.ctx
    if ctx is None or ctx.command is None:
        return _one_line(exc.format_message())
    name = ctx.command.name or ""
    others = {}
    for other in ("rd", "did"):
        if name in ("rd", "did") and other != name:
            command = importlib.import_module(f"cteimpact.cli.{SUBCOMMANDS[other]}").command
            others[f"'cteimpact {other}'"] = [f for f in _flags(command) if f not in _flags(ctx.command)]
    return unknown_option_message(exc.option_name, _flags(ctx.command), where=ctx.command_path, elsewhere=others)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_SHOWN: set[str] = set()
"""Warnings already printed by this command (the same warning raised again, e.g. by each comparison estimator
preparing the same data, or by a verification re-running the study, is printed once)."""


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    text = f"cteimpact: warning: {category.__name__}: {_one_line(str(message))}"
    if text not in _SHOWN:
        _SHOWN.add(text)
        print(text, file=sys.stderr)


# click >= 8.2 raises NoArgsIsHelpError (a UsageError whose message is the whole help text) where click 8.1 printed
# the help and exited 0; keep the 8.1 behaviour rather than squeezing the help text into one error line.
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    cls for cls in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if cls is not None
)


def _os_error(exc: OSError) -> str:
    """One line for a file-system error: what failed, on which file."""
    what = exc.strerror or type(exc).__name__
    files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return _one_line(f"{what}: " + " -> ".join(f"'{f}'" for f in files) if files else f"{what} ({exc})")


def _internal_error(exc: BaseException, debug: bool) -> int:
    print(f"cteimpact: internal error: {type(exc).__name__}: {_one_line(str(exc))}"
          + ("" if debug else " (rerun with --debug for the traceback)"), file=sys.stderr)
    if debug:
        traceback.print_exc()
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns (and, as a script, exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("CTEIMPACT_DEBUG", "") not in ("", "0")
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    _SHOWN.clear()
    try:
        result = cli.main(args=args, prog_name="cteimpact", standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except _NO_ARGS_IS_HELP as exc:  # `cteimpact` (or a command) run without arguments: show its help, as --help
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return 0
    except click.exceptions.Abort as exc:
        # click turns KeyboardInterrupt and EOFError raised inside a command into Abort
        if isinstance(exc.__cause__, KeyboardInterrupt):
            print("cteimpact: interrupted", file=sys.stderr)
            return 130
        if isinstance(exc.__cause__, EOFError):
            return _internal_error(exc.__cause__, debug)
        print("cteimpact: aborted", file=sys.stderr)
        return 1
    except click.NoSuchOption as exc:  # an unknown option: the message every interface gives (closest valid name)
        ctx = exc.ctx
        where = ctx.command_path if ctx is not None else "cteimpact"
        print(f"{where}: error: {_unknown_flag(exc)} (see '{where} --help')", file=sys.stderr)
        return 2
    except click.ClickException as exc:  # bad usage: bad value, missing argument
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "cteimpact"
        print(f"{where}: error: {_one_line(exc.format_message())} (see '{where} --help')", file=sys.stderr)
        return 2
    except CteImpactError as exc:
        print(f"cteimpact: error: {_one_line(str(exc))}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return 2
    except KeyboardInterrupt:
        print("cteimpact: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused: a missing folder, no permission, a full disk
        print(f"cteimpact: error: {_os_error(exc)}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return 2
    except MemoryError:
        print("cteimpact: error: not enough memory for this computation; use a smaller sample, fewer draws or "
              "replications, or a machine with more memory", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in cteimpact or a wrapped library's unexpected failure
        return _internal_error(exc, debug)
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``cteimpact`` command line: help, exit codes (0 / 2 / 1), one-line errors and warnings, --debug.

Subcommands are registered for the test by patching ``cteimpact.cli.app.SUBCOMMANDS`` and ``sys.modules``; no file
is added to ``cteimpact/cli``.
"""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
import sys
import types
import warnings

import click
import pytest

from cteimpact.cli import app
from cteimpact.cli.options import CommaList, echo_json
from cteimpact.errors import DataDroppedWarning, DataValidationError, SmallSampleWarning

MODULE = "cteimpact.cli._testonly_command"


@click.command()
@click.option("--mode", type=click.Choice(["ok", "data", "bug", "warn", "interrupt", "eof", "json", "exit3"]),
              default="ok", show_default=True, help="What the command does.")
@click.option("--n", type=int, default=1, help="A number.")
@click.option("--names", type=CommaList(), default=None, help="Names, comma-separated.")
def _command(mode: str, n: int, names: list[str] | None) -> int | None:
    """A command for the tests."""
    if mode == "ok":
        click.echo(f"done n={n} names={names}")
    elif mode == "data":
        raise DataValidationError("column 'wages' (role 'earnings') must not be negative:\n3 of 7 values are below 0")
    elif mode == "bug":
        raise ZeroDivisionError("division by zero\nin the estimator")
    elif mode == "warn":
        warnings.warn(DataDroppedWarning("12 rows were excluded:\nmissing dropout"), stacklevel=2)
        warnings.warn(SmallSampleWarning("only 9 clusters"), stacklevel=2)
        click.echo("finished")
    elif mode == "interrupt":
        raise KeyboardInterrupt
    elif mode == "eof":
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    elif mode == "json":
        echo_json({"estimate": 0.1 + 0.2, "se": float("nan"), "labels": ("a", "b")})
    elif mode == "exit3":
        return 3
    return None


@pytest.fixture
def testcmd(monkeypatch):
    """Register ``cteimpact testcmd`` for the duration of a test."""
    module = types.ModuleType(MODULE)
    module.__spec__ = importlib.machinery.ModuleSpec(MODULE, None)
    module.command = _command  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    monkeypatch.setitem(app.SUBCOMMANDS, "testcmd", MODULE.rsplit(".", 1)[1])
    monkeypatch.delenv("CTEIMPACT_DEBUG", raising=False)
    return "testcmd"


def run(capsys, *args: str) -> tuple[int, str, list[str]]:
    code = app.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_help_lists_commands_and_exits_0(capsys, testcmd):
    code, out, err = run(capsys, "--help")
    assert code == 0
    assert err == []
    assert out.startswith("Usage: cteimpact [OPTIONS] COMMAND [ARGS]...")
    assert "testcmd" in out
    assert "--debug" in out


def test_subcommand_help(capsys, testcmd):
    code, out, err = run(capsys, "testcmd", "--help")
    assert code == 0
    assert err == []
    assert out.startswith("Usage: cteimpact testcmd [OPTIONS]")
    assert "[default: ok]" in out
    code, out2, _ = run(capsys, "testcmd", "-h")
    assert (code, out2) == (0, out)


def test_no_arguments_shows_the_help(capsys, testcmd):
    # regression: click >= 8.2 raises NoArgsIsHelpError, which main() used to squeeze into a one-line "error"
    code, out, err = run(capsys)
    assert code == 0
    assert err == []
    assert out.startswith("Usage: cteimpact [OPTIONS] COMMAND [ARGS]...")
    assert len(out.splitlines()) > 5


def test_version(capsys):
    from cteimpact import __version__

    code, out, err = run(capsys, "--version")
    assert code == 0
    assert err == []
    assert out == f"cteimpact, version {__version__}\n"


def test_success(capsys, testcmd):
    code, out, err = run(capsys, "testcmd", "--n", "5", "--names", "a, b,c")
    assert code == 0
    assert out == "done n=5 names=['a', 'b', 'c']\n"
    assert err == []


def test_a_command_returning_an_int_sets_the_exit_code(capsys, testcmd):
    assert run(capsys, "testcmd", "--mode", "exit3")[0] == 3


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["nosuchcommand"], "cteimpact: error: No such command 'nosuchcommand'. (see 'cteimpact --help')"),
        (["--bogus"], "cteimpact: error: unknown option '--bogus' for cteimpact; valid options: --debug, --version "
                      "(see 'cteimpact --help')"),
        (["--verison"], "cteimpact: error: unknown option '--verison' for cteimpact; did you mean '--version'? "
                        "(see 'cteimpact --help')"),
        (["testcmd", "--bogus"],
         "cteimpact testcmd: error: unknown option '--bogus' for cteimpact testcmd; valid options: --mode, --n, "
         "--names (see 'cteimpact testcmd --help')"),
        (["testcmd", "--n", "abc"],
         "cteimpact testcmd: error: Invalid value for '--n': 'abc' is not a valid integer. "
         "(see 'cteimpact testcmd --help')"),
        (["testcmd", "--mode", "nope"], None),
        (["testcmd", "--names", "a,,b"], None),
        # click reports this one without its context: the hint points at the top-level help
        (["testcmd", "--n"], "cteimpact: error: Option '--n' requires an argument. (see 'cteimpact --help')"),
    ],
)
def test_bad_usage_exits_2_with_one_line(capsys, testcmd, args, line):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    if line is not None:
        assert err[0] == line
    else:
        assert err[0].startswith("cteimpact testcmd: error: Invalid value for '--")


def test_comma_list_error_names_the_empty_entry(capsys, testcmd):
    _, _, err = run(capsys, "testcmd", "--names", "a,,b")
    assert err == ["cteimpact testcmd: error: Invalid value for '--names': 'a,,b' has an empty name; give names "
                   "separated by commas (see 'cteimpact testcmd --help')"]


def test_cteimpact_error_exits_2_with_one_line(capsys, testcmd):
    code, out, err = run(capsys, "testcmd", "--mode", "data")
    assert code == 2
    assert out == ""
    assert err == ["cteimpact: error: column 'wages' (role 'earnings') must not be negative: 3 of 7 values are "
                   "below 0"]


def test_unexpected_exception_exits_1_with_one_line_mentioning_debug(capsys, testcmd):
    code, out, err = run(capsys, "testcmd", "--mode", "bug")
    assert code == 1
    assert out == ""
    assert err == ["cteimpact: internal error: ZeroDivisionError: division by zero in the estimator "
                   "(rerun with --debug for the traceback)"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(capsys, testcmd, monkeypatch, how):
    args = ["testcmd", "--mode", "bug"]
    if how == "flag":
        args = ["--debug", *args]
    else:
        monkeypatch.setenv("CTEIMPACT_DEBUG", "1")
    code, _, err = run(capsys, *args)
    assert code == 1
    assert err[0] == "cteimpact: internal error: ZeroDivisionError: division by zero in the estimator"
    assert err[1] == "Traceback (most recent call last):"
    assert "_command" in "\n".join(err)
    assert err[-2:] == ["ZeroDivisionError: division by zero", "in the estimator"]


def test_debug_also_shows_the_traceback_of_user_errors(capsys, testcmd):
    code, _, err = run(capsys, "--debug", "testcmd", "--mode", "data")
    assert code == 2
    assert err[0].startswith("cteimpact: error: column 'wages'")
    assert "Traceback (most recent call last):" in err


def test_debug_env_zero_means_off(capsys, testcmd, monkeypatch):
    monkeypatch.setenv("CTEIMPACT_DEBUG", "0")
    code, _, err = run(capsys, "testcmd", "--mode", "bug")
    assert code == 1
    assert len(err) == 1


def test_warnings_are_one_line_each(capsys, testcmd):
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, out, err = run(capsys, "testcmd", "--mode", "warn")
    assert code == 0
    assert out == "finished\n"
    assert err == [
        "cteimpact: warning: DataDroppedWarning: 12 rows were excluded: missing dropout",
        "cteimpact: warning: SmallSampleWarning: only 9 clusters",
    ]
    # the warning display is restored afterwards
    assert warnings.showwarning is not app._show_warning


def test_keyboard_interrupt_exits_130(capsys, testcmd):
    # regression: click turns KeyboardInterrupt into Abort, which used to be reported as "aborted" with exit 1
    code, _, err = run(capsys, "testcmd", "--mode", "interrupt")
    assert code == 130
    assert err == ["", "cteimpact: interrupted"]  # click's blank line closes the terminal's ^C echo


def test_eof_error_in_a_command_is_an_internal_error(capsys, testcmd):
    # regression: click turns EOFError into Abort, which used to hide the error behind "aborted"
    code, _, err = run(capsys, "testcmd", "--mode", "eof")
    assert code == 1
    assert err[-1] == ("cteimpact: internal error: EOFError: Compressed file ended before the end-of-stream marker "
                       "was reached (rerun with --debug for the traceback)")


def test_json_output_is_full_precision(capsys, testcmd):
    code, out, _ = run(capsys, "testcmd", "--mode", "json")
    assert code == 0
    assert json.loads(out) == {"estimate": 0.30000000000000004, "se": None, "labels": ["a", "b"]}
    assert out.endswith("}\n")


def test_missing_subcommand_modules_are_not_listed(capsys, monkeypatch):
    monkeypatch.setitem(app.SUBCOMMANDS, "ghost", "_no_such_module_for_tests")
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "ghost" not in out
    code, _, err = run(capsys, "ghost")
    assert code == 2
    assert err == ["cteimpact: error: No such command 'ghost'. (see 'cteimpact --help')"]


def test_a_module_without_a_click_command_is_an_internal_error(capsys, monkeypatch):
    module = types.ModuleType(MODULE)
    module.__spec__ = importlib.machinery.ModuleSpec(MODULE, None)
    module.command = "not a command"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    monkeypatch.setitem(app.SUBCOMMANDS, "broken", MODULE.rsplit(".", 1)[1])
    monkeypatch.delenv("CTEIMPACT_DEBUG", raising=False)
    code, _, err = run(capsys, "broken")
    assert code == 1
    assert err == ["cteimpact: internal error: TypeError: cteimpact.cli._testonly_command.command is not a click "
                   "command (rerun with --debug for the traceback)"]


def test_comma_list_type():
    t = CommaList()
    assert t.convert("a,b , c", None, None) == ["a", "b", "c"]
    assert t.convert(["x"], None, None) == ["x"]
    with pytest.raises(click.BadParameter, match="'a,' has an empty name"):
        t.convert("a,", None, None)


# -- the real entry point ---------------------------------------------------------------------------------------


def test_python_m_cteimpact_help():
    proc = subprocess.run([sys.executable, "-m", "cteimpact", "--help"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: cteimpact [OPTIONS] COMMAND [ARGS]...")
    assert proc.stderr == ""


def test_python_m_cteimpact_bad_usage():
    proc = subprocess.run([sys.executable, "-m", "cteimpact", "nosuchcommand"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == ["cteimpact: error: No such command 'nosuchcommand'. (see 'cteimpact --help')"]


def test_a_repeated_warning_is_printed_once(capsys) -> None:
    from cteimpact.cli import app
    from cteimpact.errors import DataDroppedWarning

    app._SHOWN.clear()
    for _ in range(3):
        app._show_warning(DataDroppedWarning("2 units were dropped"), DataDroppedWarning, "x.py", 1)
    app._show_warning(DataDroppedWarning("3 units were dropped"), DataDroppedWarning, "x.py", 1)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["cteimpact: warning: DataDroppedWarning: 2 units were dropped",
                     "cteimpact: warning: DataDroppedWarning: 3 units were dropped"]

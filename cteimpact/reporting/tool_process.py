"""Running a renderer's command-line tool (quarto, pandoc) on a report source: the environment it runs in and its
failures as :class:`~cteimpact.reporting.errors.RenderError`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from cteimpact.reporting.errors import RenderError, summarize_stderr

__all__ = ["run_renderer", "tool_environment"]


def tool_environment() -> dict[str, str]:
    """The caller's environment with ``SOURCE_DATE_EPOCH`` set (to 0 unless already set), so that no output carries
    the date it was rendered on."""
    env = dict(os.environ)
    env.setdefault("SOURCE_DATE_EPOCH", "0")
    return env


def run_renderer(command: Sequence[str], *, renderer: str, source: Path, target: str, timeout: float,
                 stdout_diagnostic: bool = False, on_failure: Callable[[], None] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the folder of ``source`` (text output captured) and return it when it exits with 0.

    ``stdout_diagnostic`` takes the diagnostic from standard output when standard error is empty (quarto reports
    some failures there); ``on_failure`` runs before the error is raised for a non-zero exit (to remove a partial
    output).

    Raises
    ------
    RenderError
        The tool could not be started, ran longer than ``timeout`` seconds, or exited with another status (the
        message quotes its diagnostic).
    """
    try:
        done = subprocess.run([*command], cwd=source.parent, capture_output=True, text=True, encoding="utf-8",
                              errors="replace", env=tool_environment(), timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"{renderer} could not run on {source.name} for {target.upper()}: {exc}",
                          renderer=renderer, target=target, detail=str(exc)) from None
    if done.returncode != 0:
        detail = summarize_stderr((done.stderr or done.stdout) if stdout_diagnostic else done.stderr)
        if on_failure is not None:
            on_failure()
        raise RenderError(f"{renderer} failed (exit {done.returncode}) rendering {source.name} to {target.upper()}: "
                          f"{detail}", renderer=renderer, target=target, detail=detail)
    return done

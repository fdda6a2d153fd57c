"""Renderer through the ``quarto`` command-line tool (adapter module).

Quarto is found through ``QUARTO_PATH`` (the path of the binary, as Quarto's own tooling uses it) or on ``PATH``.
HTML is rendered self-contained (``embed-resources``); PDF through Quarto's Typst format. Quarto's bundled Typst
honours ``SOURCE_DATE_EPOCH``, which is set (to 0 unless the caller set it) so the PDF carries no render date.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from cteimpact.reporting.errors import RendererNotFoundError, RenderError, summarize_stderr
from cteimpact.reporting.tool_process import run_renderer, tool_environment

__all__ = ["find_quarto", "quarto_version", "render_with_quarto"]

_TIMEOUT = 1800
_FORMAT = {"html": "html", "pdf": "typst"}


def find_quarto() -> Path | None:
    """The quarto binary named by ``QUARTO_PATH`` or found on ``PATH``; None when there is none.

    A ``QUARTO_PATH`` that does not name an executable file is an error (the user asked for that binary).
    """
    named = os.environ.get("QUARTO_PATH", "").strip()
    if named:
        path = Path(named).expanduser()
        if path.is_dir():
            names = ("quarto", "bin/quarto", "quarto.exe", "bin/quarto.exe")
            for candidate in (path / name for name in names):
                if candidate.is_file():
                    path = candidate
                    break
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RendererNotFoundError(
                f"QUARTO_PATH is set to {named!r}, which is not an executable quarto binary; fix it or unset it "
                "to use quarto from PATH or the built-in pandoc + typst renderer",
                renderer="quarto",
                target="html/pdf",
            )
        return path
    found = shutil.which("quarto")
    return Path(found) if found else None


@functools.cache
def quarto_version(binary: Path) -> str:
    """``quarto --version`` (for example ``"1.6.40"``)."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=120, check=False, env=tool_environment())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RendererNotFoundError(
            f"quarto at {binary} could not run: {exc}", renderer="quarto", target="html/pdf"
        ) from None
    version = done.stdout.strip().splitlines()[-1].strip() if done.stdout.strip() else ""
    if done.returncode != 0 or not version:
        raise RendererNotFoundError(
            f"quarto at {binary} did not report its version: {summarize_stderr(done.stderr)}",
            renderer="quarto",
            target="html/pdf",
        )
    return version


def render_with_quarto(binary: Path, source: Path, target: str, output: Path, *, sandbox: bool = False) -> list[str]:
    """Run ``quarto render`` on ``source`` for ``target`` (``"html"`` or ``"pdf"``) and move the result to
    ``output``; returns Quarto's warnings.

    ``sandbox=True`` adds ``--no-execute``: no code cell of the source runs, whatever it or a project file says."""
    fmt = _FORMAT[target]
    suffix = ".html" if target == "html" else ".pdf"
    in_place = output.resolve() == source.with_suffix(suffix).resolve()
    produced = source.with_suffix(suffix) if in_place else source.parent / f".{source.stem}.cteimpact-render{suffix}"
    args = [str(binary), "render", source.name, "--to", fmt, "--output", produced.name]
    if target == "html":
        args += ["-M", "embed-resources:true"]
    if sandbox:
        args.append("--no-execute")
    done = run_renderer(args, renderer="quarto", source=source, target=target, timeout=_TIMEOUT,
                        stdout_diagnostic=True, on_failure=lambda: produced.unlink(missing_ok=True))
    if not produced.is_file():
        raise RenderError(
            f"quarto reported success but wrote no {produced.name} for {source.name}",
            renderer="quarto",
            target=target,
        )
    if not in_place:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), str(output))
    warnings = []
    for line in (done.stderr or "").splitlines():
        text = " ".join(line.split())
        if text.startswith(("WARNING", "[WARNING]", "WARN")):
            warnings.append("quarto: " + text)
    return warnings

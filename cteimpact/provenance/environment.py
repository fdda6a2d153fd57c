"""Versions of Python, cteimpact and every numeric dependency, for the run manifest."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import cteimpact

__all__ = ["NUMERIC_DEPENDENCIES", "code_version", "environment_differences", "environment_versions"]

NUMERIC_DEPENDENCIES: tuple[str, ...] = (
    "numpy", "pandas", "scipy", "statsmodels", "linearmodels", "rdrobust", "rddensity", "rdpower", "rdlocrand",
    "lpdensity", "numba", "matplotlib", "pyarrow", "pydantic", "click", "threadpoolctl", "pypandoc_binary", "typst",
)


def environment_versions() -> dict[str, Any]:
    """Python implementation and version, platform, and the installed version of each numeric dependency."""
    versions: dict[str, str | None] = {}
    for name in NUMERIC_DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{platform.system()}-{platform.machine()}",
        "packages": versions,
    }


def code_version() -> dict[str, Any]:
    """cteimpact's version and, when running from a git checkout, its commit and whether it has local changes."""
    out: dict[str, Any] = {"cteimpact": cteimpact.__version__, "git_commit": None, "git_dirty": None}
    root = Path(cteimpact.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return out
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return out
    out["git_commit"] = commit or None
    out["git_dirty"] = bool(status.strip())
    return out


def environment_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Every leaf where two ``{"environment": ..., "code": ...}`` records differ, as ``key: recorded → current``.

    Keys present in only one record count as differences (a field removed from a manifest is not silently
    accepted).
    """
    from cteimpact.provenance.compare import leaf_differences

    return [f"{key}: {_short(a)} in the run, {_short(b)} here" for key, a, b in leaf_differences(recorded, current)]


def _short(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."

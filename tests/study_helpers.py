"""Helpers shared by test folders (importable because pytest puts ``tests/`` on the path for its conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_light_rd_spec(folder: Path) -> Path:
    """The shipped RD study without its slow diagnostics and with fewer pricing draws, written with its contracts
    into ``folder`` (for tests of the pipeline mechanics, which do not depend on the diagnostics)."""
    shutil.copytree(REPO / "analyses" / "contracts", folder / "contracts", dirs_exist_ok=True)
    text = (REPO / "analyses" / "ccpt-dropout-rd.toml").read_text(encoding="utf-8")
    text = text.replace("[design.diagnostics]\nenabled = true", "[design.diagnostics]\nenabled = false")
    text = text.replace("[design.local_randomization]\nenabled = true", "[design.local_randomization]\nenabled = false")
    spec = folder / "study.toml"
    spec.write_text(text.replace("draws = 200000", "draws = 20000"), encoding="utf-8")
    return spec

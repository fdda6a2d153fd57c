"""The two studies shipped with cteimpact (``analyses/`` in the source tree; packaged into the wheel)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cteimpact.errors import OptionError

__all__ = ["SHIPPED_STUDIES", "shipped_study"]

SHIPPED_STUDIES: tuple[str, ...] = ("ccpt-dropout-rd", "pathways-earnings-did")
"""Grant-cutoff RD on dropout and graduation; staggered pathway launches on earnings."""


def _analyses_dir() -> Path:
    packaged = Path(str(resources.files("cteimpact"))) / "_analyses"
    if packaged.is_dir():  # installed from a wheel
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "analyses"
    if checkout.is_dir():  # editable install or source tree
        return checkout
    raise OptionError("the shipped analysis specifications are not installed (no cteimpact/_analyses folder)")


def shipped_study(name: str) -> Path:
    """Path of the shipped specification ``name`` (one of :data:`SHIPPED_STUDIES`)."""
    if name not in SHIPPED_STUDIES:
        raise OptionError(f"unknown shipped study '{name}'; available: {', '.join(SHIPPED_STUDIES)}")
    return _analyses_dir() / f"{name}.toml"

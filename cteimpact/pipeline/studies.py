"""The three studies shipped with cteimpact (``analyses/`` in the source tree; packaged into the wheel)."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from cteimpact.errors import OptionError

__all__ = ["SHIPPED_STUDIES", "copy_shipped_studies", "shipped_study"]

SHIPPED_STUDIES: tuple[str, ...] = ("ccpt-dropout-rd", "pathways-earnings-did", "ccpt-credentials-rd")
"""Grant-cutoff RD on dropout and graduation; staggered pathway launches on earnings; grant-cutoff RD on the interim
outcomes outcome contracts pay on (credentials, pathway completion, postsecondary enrollment), with effects by
protected group, the surrogate-index projection of earnings at 26 and an equity-premium rate card."""


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


def copy_shipped_studies(target: Path) -> dict[str, Path]:
    """Copy the shipped specifications and their contracts into ``target`` (``target/NAME.toml``,
    ``target/contracts/``) and return each study's copy.

    A run records its specification and contract by their path relative to the run directory; running the demo
    from a copy beside its runs keeps those paths inside the demo's folder, so the folder can be handed on and
    verified elsewhere, and no path of the machine it was made on is recorded.
    """
    source = _analyses_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_STUDIES:
        shutil.copyfile(source / f"{name}.toml", target / f"{name}.toml")
    contracts = source / "contracts"
    if contracts.is_dir():
        (target / "contracts").mkdir(exist_ok=True)
        for file in sorted(contracts.glob("*.toml")):
            shutil.copyfile(file, target / "contracts" / file.name)
    return {name: target / f"{name}.toml" for name in SHIPPED_STUDIES}

"""The run directory: every artefact a run writes, written deterministically and hashed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.plotting.style import save_figure
from cteimpact.provenance.hashing import describe_file
from cteimpact.results.serialization import write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RunDirectory"]


class RunDirectory:
    """Writes a run's outputs under ``root`` and remembers each one for the manifest.

    Tables are CSV with full-precision floats; figures PNG without timestamps; JSON deterministic. Paths are
    relative to ``root`` and use forward slashes.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise OptionError(f"output path '{self.root}' exists and is not a directory")
        self.root.mkdir(parents=True, exist_ok=True)
        self._written: list[str] = []
        self._figures: dict[int, tuple[Figure, Path]] = {}

    def path(self, relative: str) -> Path:
        p = self.root / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        if relative not in self._written:
            self._written.append(relative)
        return p

    def write_json(self, relative: str, obj: Any) -> Path:
        return write_json(obj, self.path(relative))

    def write_table(self, relative: str, frame: pd.DataFrame) -> Path:
        p = self.path(relative)
        frame.to_csv(p, index=False, lineterminator="\n")
        return p

    def write_figure(self, relative: str, fig: Figure) -> Path:
        """Save ``fig`` as ``relative``; a figure written before under another name is not drawn again: its file
        is copied (the same bytes drawing it again would give)."""
        target = self.path(relative)
        earlier = self._figures.get(id(fig))
        if earlier is not None and earlier[0] is fig:
            shutil.copyfile(earlier[1], target)
            return target
        save_figure(fig, target)
        self._figures[id(fig)] = (fig, target)  # the figure is kept, so its id is not reused by another one
        return target

    def write_text(self, relative: str, text: str) -> Path:
        p = self.path(relative)
        p.write_text(text, encoding="utf-8", newline="\n")
        return p

    @property
    def written(self) -> tuple[str, ...]:
        """Relative paths written so far, in order."""
        return tuple(self._written)

    def describe(self, relative_paths: list[str] | tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """``{path, sha256, bytes, records}`` of each written file, sorted by path."""
        rels = sorted(self._written if relative_paths is None else relative_paths)
        return [describe_file(self.root / r, relative_to=self.root) for r in rels]

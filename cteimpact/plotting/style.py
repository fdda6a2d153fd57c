"""One figure style for every plot cteimpact draws, legible on screen and in print, and deterministic files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
import PIL.Image
import PIL.PngImagePlugin
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cteimpact.errors import OptionError

__all__ = ["PALETTE", "STYLE", "new_figure", "save_figure", "style_context"]

PALETTE: dict[str, str] = {
    "treated": "#1b6ca8",
    "control": "#c8553d",
    "neutral": "#4d4d4d",
    "accent": "#2a9d8f",
    "band": "#9ecae1",
    "grid": "#d9d9d9",
    "flag": "#b2182b",
    "pass": "#1a9850",
}
"""Named colours (colour-blind-safe pairs for treated/control)."""

STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": PALETTE["grid"],
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.6,
    "svg.hashsalt": "cteimpact",
    "svg.fonttype": "path",
    "pdf.compression": 6,
    "path.simplify": True,
}
"""Matplotlib rc settings applied to every cteimpact figure."""


@contextmanager
def style_context() -> Iterator[None]:
    """Apply :data:`STYLE` inside a ``with`` block."""
    with plt.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def new_figure(
    nrows: int = 1, ncols: int = 1, *, width: float = 6.5, height: float = 4.0, **kwargs: Any
) -> tuple[Figure, Any]:
    """A figure in the cteimpact style (``width`` × ``height`` inches fits a printed page)."""
    with style_context():
        # not registered with pyplot: a run draws dozens of figures, and pyplot keeps every figure it made open
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` without creation dates or software stamps, so identical figures give identical bytes.

    The format follows the suffix (``.png``, ``.svg`` or ``.pdf``).

    Raises
    ------
    OptionError
        Another suffix: PostScript files always carry a creation date and JPEG takes no metadata, so neither can
        honour the no-timestamp rule.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    metadata: dict[str, Any]
    if suffix == ".png":
        metadata = {"Software": None}
    elif suffix == ".pdf":
        metadata = {"Creator": None, "Producer": None, "CreationDate": None}
    elif suffix == ".svg":
        metadata = {"Creator": None, "Date": None}
    else:
        raise OptionError(f"cannot save figure '{path.name}': the file type must be .png, .svg or .pdf")
    with style_context():
        if suffix == ".png":
            _write_png(fig, path, float(STYLE["savefig.dpi"]))
        else:
            fig.savefig(path, metadata=metadata)
    plt.close(fig)
    return path


_PNG_COMPRESS_LEVEL = 3
"""zlib level of the PNG files: about a quarter less encoding time than PIL's default (6) for files 2-16% larger
(measured on the DiD study's figures)."""


def _write_png(fig: Figure, path: Path, dpi: float) -> None:
    """Draw ``fig`` once at ``dpi`` on its Agg canvas and write the pixels as a PNG without text chunks.

    ``Figure.savefig`` lays out and draws a figure that has a layout engine twice (a draw without rendering, then
    the real one); one draw gives the same pixels. The file records ``dpi`` (as savefig does) and nothing else:
    no software name or date.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    original = fig.dpi
    fig.dpi = dpi
    try:
        canvas.draw()
        width, height = canvas.get_width_height()
        image = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image.save(path, format="png", dpi=(dpi, dpi), pnginfo=PIL.PngImagePlugin.PngInfo(),
                   compress_level=_PNG_COMPRESS_LEVEL)
    finally:
        fig.dpi = original

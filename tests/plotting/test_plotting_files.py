"""Figures: the cteimpact style, the estimates plot, and files without timestamps (byte-identical on re-save)."""

from __future__ import annotations

import time

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from cteimpact.errors import OptionError
from cteimpact.plotting import PALETTE, STYLE, new_figure, plot_estimates, save_figure
from cteimpact.results import EffectEstimate

FORMATS = ["png", "svg", "pdf"]


def _figure() -> Figure:
    """A figure with text, lines, markers, a filled band and a legend (everything that could vary between saves)."""
    fig, ax = new_figure()
    x = np.linspace(-1, 1, 41)
    ax.fill_between(x, x - 0.2, x + 0.2, color=PALETTE["band"], alpha=0.5, label="95% band")
    ax.plot(x, x, color=PALETTE["treated"], label="fit")
    ax.scatter(x[::4], x[::4] + 0.05, color=PALETTE["control"], label="bins")
    ax.axvline(0.0, color=PALETTE["neutral"], linestyle="--")
    ax.set_title("Dropout at the funding cutoff (é, µ, −)")
    ax.set_xlabel("rubric score − cutoff")
    ax.legend()
    return fig


def test_two_identical_figures_give_identical_bytes(tmp_path):
    first = [save_figure(_figure(), tmp_path / f"a.{fmt}") for fmt in FORMATS]
    time.sleep(1.1)  # a timestamp with one-second resolution would now differ
    second = [save_figure(_figure(), tmp_path / f"b.{fmt}") for fmt in FORMATS]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.suffix


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_figure_saved_twice_gives_identical_bytes(tmp_path, fmt):
    fig = _figure()
    first = save_figure(fig, tmp_path / f"a.{fmt}")
    second = save_figure(fig, tmp_path / f"b.{fmt}")
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_carry_no_date_or_software_stamp(tmp_path, fmt):
    data = save_figure(_figure(), tmp_path / f"a.{fmt}").read_bytes()
    assert data[:8] == {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml ve", "pdf": b"%PDF-1.4"}[fmt]
    for stamp in (b"CreationDate", b"ModDate", b"dc:date", b"Software", b"Producer", b"matplotlib.org"):
        assert stamp not in data, stamp


def test_suffix_is_case_insensitive(tmp_path):
    p = save_figure(_figure(), tmp_path / "A.PNG")
    assert p.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", ["fig.eps", "fig.ps", "fig.jpg", "fig"])
def test_formats_that_cannot_be_timestamp_free_are_refused(tmp_path, name):
    with pytest.raises(OptionError) as info:
        save_figure(_figure(), tmp_path / name)
    assert str(info.value) == f"cannot save figure '{name}': the file type must be .png, .svg or .pdf"
    assert not (tmp_path / name).exists()


def test_new_figure_applies_the_style():
    fig, ax = new_figure(width=5.0, height=3.0)
    assert tuple(fig.get_size_inches()) == (5.0, 3.0)
    assert not ax.spines["top"].get_visible()
    assert not ax.spines["right"].get_visible()
    assert ax.get_xaxis().get_gridlines()[0].get_color() == PALETTE["grid"]


def test_the_style_is_scoped():
    before = dict(matplotlib.rcParams)
    _, axes = new_figure(2, 3)
    assert dict(matplotlib.rcParams) == before
    assert STYLE["svg.hashsalt"] == "cteimpact"  # fixed SVG ids
    assert axes.shape == (2, 3)


def test_plot_estimates_draws_each_estimate_with_its_interval():
    est = [
        EffectEstimate.from_normal("dropout", "dropout", "RD", -0.02, 0.008, ci_type="robust_bias_corrected"),
        EffectEstimate.from_normal("dropout[female=1]", "dropout", "RD", -0.04, 0.015, ci_level=0.9),
    ]
    fig = plot_estimates(est, title="Effects")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["dropout (robust bias corrected 95%)", "dropout[female=1] (conventional 90%)"]
    assert ax.get_title() == "Effects"
    # the interval segments span exactly [ci_lower, ci_upper]
    segments = ax.collections[0].get_segments()
    spans = sorted((float(s[0][0]), float(s[1][0])) for s in segments)
    assert spans == sorted((e.ci_lower, e.ci_upper) for e in est)


def test_png_has_the_pixels_and_resolution_of_matplotlib_savefig(tmp_path):
    """save_figure draws a PNG once (savefig lays out and draws twice): the same pixels, the same dpi, and the
    figure's own dpi is left as it was."""
    from PIL import Image, ImageChops

    from cteimpact.plotting import style_context

    fig = _figure()
    dpi_before = fig.dpi
    ours = save_figure(fig, tmp_path / "ours.png")
    assert fig.dpi == dpi_before
    reference = _figure()
    with style_context():
        reference.savefig(tmp_path / "reference.png", metadata={"Software": None})
    with Image.open(ours) as a, Image.open(tmp_path / "reference.png") as b:
        assert a.size == b.size == (round(6.5 * STYLE["savefig.dpi"]), round(4.0 * STYLE["savefig.dpi"]))
        assert a.info["dpi"] == pytest.approx(b.info["dpi"])
        assert ImageChops.difference(a.convert("RGBA"), b.convert("RGBA")).getbbox() is None

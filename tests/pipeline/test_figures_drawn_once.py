"""A figure that a run writes under several names (the density test's, the same for every outcome) is drawn once;
the other files are copies, byte for byte what drawing it again gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure

from cteimpact.pipeline import artefacts
from cteimpact.pipeline.artefacts import RunDirectory
from cteimpact.pipeline.designs import _check_figure
from cteimpact.plotting.style import new_figure
from cteimpact.rd.checks import DiagnosticCheck


def _figure(value: float) -> Figure:
    fig, ax = new_figure(width=3.0, height=2.0)
    ax.plot([0.0, 1.0], [0.0, value])
    ax.set_title(f"value {value}")
    return fig


def test_a_figure_written_under_two_names_is_drawn_once_and_copied(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    drawn: list[str] = []
    save = artefacts.save_figure

    def counting(fig: Figure, path: Path) -> Path:
        drawn.append(Path(path).name)
        return save(fig, path)

    monkeypatch.setattr(artefacts, "save_figure", counting)
    out = RunDirectory(tmp_path / "run")
    shared, other = _figure(1.0), _figure(2.0)
    out.write_figure("figures/a.png", shared)
    out.write_figure("figures/b.png", other)
    out.write_figure("figures/c.png", shared)
    assert drawn == ["a.png", "b.png"]
    assert out.written == ("figures/a.png", "figures/b.png", "figures/c.png")
    a, b, c = ((tmp_path / "run" / "figures" / f"{n}.png").read_bytes() for n in "abc")
    assert a == c and a != b
    # the copy is what drawing an equal figure anew writes
    fresh = RunDirectory(tmp_path / "fresh")
    fresh.write_figure("figures/c.png", _figure(1.0))
    assert (tmp_path / "fresh" / "figures" / "c.png").read_bytes() == c


def test_equal_check_records_share_one_figure_and_different_ones_do_not() -> None:
    rows = ({"statistic": 0.5, "p_value": 0.6, "h_left": 1.0, "h_right": 1.5},)
    details = {"histogram": {"edges": [0.0, 1.0, 2.0], "density": [0.25, 0.25], "counts": [5, 5]},
               "test": None, "unit": "consortia", "cutoff": 1.0}
    first = DiagnosticCheck("density_test", "pass", "T = 0.5", rows, details)
    same = DiagnosticCheck("density_test", "pass", "T = 0.5", tuple(dict(r) for r in rows), dict(details))
    other = DiagnosticCheck("density_test", "flag", "T = 3", rows, details)
    drawn: list[tuple[dict[str, Any], Figure]] = []
    fig = _check_figure(first, drawn)
    assert _check_figure(same, drawn) is fig
    assert _check_figure(other, drawn) is not fig
    assert len(drawn) == 2

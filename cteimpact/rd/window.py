"""The window pull of a regression discontinuity with given bandwidths: only the rows the local polynomial fits read.

With the main bandwidth ``h = (h_left, h_right)`` and the bias bandwidth ``b`` given (``b`` defaults to ``h``, or
``h / rho``), rdrobust weights a row below the cutoff ``c`` by the kernel of ``(x - c) / h_left`` (``b_left`` for the
bias fit), which is zero beyond 1 in absolute value, and likewise above. Every row it reads with a positive weight
therefore has ``c - x <= max(h_left, b_left)`` below the cutoff or ``x - c <= max(h_right, b_right)`` at or above
it; the :class:`Window` holds exactly those rows, compared in the engine with the same float64 subtraction rdrobust
does (``|x - c| / h <= 1`` and ``|x - c| <= h`` agree for IEEE doubles, so no row is lost to rounding).

What rdrobust and cteimpact read from the whole sample at given bandwidths, and how the window pull gets it
(:func:`side_counts`, counted by the engine on each outcome's analysis rows):

- the rows on each side (rdrobust's ``N``, reported as ``n``) and the distinct scores on each side (its ``M``:
  the mass-points check, "Mass points detected" when more than a fifth of a side's rows repeat a value, the
  requirement of at least ``q + 1`` values a side; cteimpact's check of at least 2 values a side and its note on a
  score with few values);
- the design's rows before any outcome's missing values (:func:`design_counts`): the range of the running variable
  and the rows on each side (the cutoff must lie strictly inside; cteimpact refuses a running variable whose farthest
  value from the cutoff is below 1e-12 or above 1e15), and a fuzzy design's take-up on each side (it must change);
- the outcome's extremes on each side (cteimpact refuses an outcome constant on both sides, or too large to square);
- the sample flow (each restriction and exclusion, counted as in :func:`cteimpact.rd.sufficient.query.analysis_table`).

A data-driven bandwidth (``mserd`` and the other selectors) is not covered: rdrobust's selector fits a global
polynomial of order ``q + 2`` over each side's whole range (and standardises with the whole sample's spread), so no
window narrower than the sample provably holds what it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cteimpact.rd.options import RDOptions

__all__ = ["SideCounts", "Window", "design_counts", "side_counts", "window_for"]


@dataclass(frozen=True)
class Window:
    """The rows within ``left`` below and ``right`` at or above ``cutoff`` (bounds included)."""

    cutoff: float
    left: float
    right: float

    @property
    def bounds(self) -> tuple[float, float]:
        """The window on the running variable: ``(cutoff - left, cutoff + right)``."""
        return self.cutoff - self.left, self.cutoff + self.right

    def keep(self, x: Any) -> Any:
        """The engine's condition on the running variable's expression ``x`` (rows with ``x`` missing are out)."""
        below = (x < self.cutoff) & ((self.cutoff - x) <= self.left)
        above = (x >= self.cutoff) & ((x - self.cutoff) <= self.right)
        return below | above

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.bounds
        return {"cutoff": self.cutoff, "left": self.left, "right": self.right, "bounds": [lo, hi]}


def window_for(options: RDOptions, cutoff: float) -> Window | None:
    """The window of the fits at ``options``' given bandwidths, or ``None`` when the bandwidth is selected from the
    data (see the module docstring)."""
    if options.h is None:
        return None
    h = options.h if isinstance(options.h, tuple) else (float(options.h), float(options.h))
    if options.b is not None:
        b = options.b if isinstance(options.b, tuple) else (float(options.b), float(options.b))
    elif options.rho is not None:
        b = (h[0] / float(options.rho), h[1] / float(options.rho))
    else:
        b = h
    return Window(float(cutoff), max(h[0], b[0]), max(h[1], b[1]))


@dataclass(frozen=True)
class SideCounts:
    """What the fits read from the whole analysis sample of an outcome, counted by the engine."""

    n: tuple[int, int]
    """Rows below / at or above the cutoff."""
    distinct: tuple[int, int]
    """Distinct running-variable values below / at or above."""
    reach: float
    """Largest distance of the running variable from the cutoff."""
    outcome_range: tuple[tuple[float, float], tuple[float, float]]
    """The outcome's (min, max) below and at or above the cutoff (NaN on an empty side)."""
    outcome_magnitude: float
    """The outcome's largest absolute value."""


def side_counts(source: Any, table: Any, x: Any, y: Any, cutoff: float, *, by: Any = None,
                what: str = "the rows and distinct scores on each side of the cutoff") -> Any:
    """:class:`SideCounts` of the analysis rows ``table`` (running variable ``x``, outcome ``y``, both float64
    expressions) about ``cutoff`` in one query; with ``by`` (an expression, such as the row's cutoff), one per value
    of ``by`` as a dict, the cutoff then being that value and ``x`` the raw score."""
    below = x < cutoff if by is None else x < by
    above = ~below
    dist = (x - cutoff).abs() if by is None else (x - by).abs()
    stats = {"n_l": below.ifelse(1, 0).sum(), "n_r": above.ifelse(1, 0).sum(),
             "m_l": x.nunique(where=below), "m_r": x.nunique(where=above), "reach": dist.max(),
             "y_min_l": y.min(where=below), "y_max_l": y.max(where=below), "y_min_r": y.min(where=above),
             "y_max_r": y.max(where=above), "y_abs": y.abs().max()}
    expr = table.aggregate(**stats) if by is None else table.group_by(k=by).aggregate(**stats)
    frame = source.execute(expr, what=what)
    out = {}
    for _, row in frame.iterrows():
        out[None if by is None else float(row["k"])] = SideCounts(
            (_int(row["n_l"]), _int(row["n_r"])), (_int(row["m_l"]), _int(row["m_r"])), _float(row["reach"]),
            ((_float(row["y_min_l"]), _float(row["y_max_l"])), (_float(row["y_min_r"]), _float(row["y_max_r"]))),
            _float(row["y_abs"]))
    return out[None] if by is None else out


def design_counts(source: Any, table: Any, x: Any, cutoff: float, *, treatment: Any = None) -> tuple[Any, ...]:
    """The design's analysis rows ``table`` (before any outcome's missing values) as
    :func:`cteimpact.rd.sample.check_design_counts` reads them, in one query: ``(rows, (min, max) of x, rows below
    the cutoff, largest |x - cutoff|, TakeUpRange or None)``."""
    from cteimpact.rd.sample import TakeUpRange

    below = x < cutoff
    stats = {"n": table.count(), "lo": x.min(), "hi": x.max(), "below": below.ifelse(1, 0).sum(),
             "reach": (x - cutoff).abs().max()}
    if treatment is not None:
        stats.update(t_k=treatment.nunique(), t_first=treatment.min(), t_l_lo=treatment.min(where=below),
                     t_l_hi=treatment.max(where=below), t_r_lo=treatment.min(where=~below),
                     t_r_hi=treatment.max(where=~below))
    row = source.execute(table.aggregate(**stats), what="the running variable's range and the rows on each side"
                         ).iloc[0]
    take_up = None
    if treatment is not None:
        take_up = TakeUpRange(_int(row["t_k"]), _float(row["t_first"]), (_float(row["t_l_lo"]), _float(row["t_l_hi"])),
                              (_float(row["t_r_lo"]), _float(row["t_r_hi"])))
    return (_int(row["n"]), (_float(row["lo"]), _float(row["hi"])), _int(row["below"]), _float(row["reach"]),
            take_up)


def _int(v: Any) -> int:
    return 0 if v is None or v != v else int(v)


def _float(v: Any) -> float:
    return math.nan if v is None or v != v else float(v)

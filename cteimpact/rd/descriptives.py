"""Descriptive statistics of an RD analysis sample by side of the cutoff (:class:`DescriptiveCell`).

For each outcome, two samples are described, each below and at or above the cutoff:

* ``window = "analysis_sample"``: every student of the outcome's analysis sample (rows with the outcome observed,
  after every sample restriction; the rows the outcome's fits draw from);
* ``window = "bandwidth"``: the students within the main fit's bandwidth ``h`` (below: ``c − h_left ≤ x < c``;
  at or above: ``c ≤ x ≤ c + h_right``), the students the estimate describes (their numbers are the fit's ``n_h``).

Each cell gives the number of students and of clusters, and for each variable — the outcome, the treatment
take-up of a fuzzy design (``role = "participation"``: its mean is the participation rate), the adjustment
covariates and the baseline covariates — its number of non-missing values, its mean and, for a variable that is
not 0/1, its standard deviation (``ddof = 1``). Means are unweighted: they describe the students, whatever weights
the estimator uses.

Small cells (:meth:`DescriptiveCell.suppress`, applied by :meth:`cteimpact.rd.RDResults.with_min_cell`) follow the
project's rule (:mod:`cteimpact.provenance.suppression`): a cell of fewer than ``min_cell`` students is hidden
whole, and so is the other side of the same window (the two add up to the fit's published sample sizes, so one
hidden side alone would be recovered by subtraction); a variable's summary is hidden when fewer than ``min_cell``
students have a value, or — for a 0/1 variable, whose share times the count reveals a count of students — when
fewer than ``min_cell`` students have the value 1 or the value 0. A bandwidth cell's variable is also hidden when
the students of the same side outside the bandwidth (the analysis-sample cell minus the bandwidth cell) are, for
that variable, a small non-empty count in that sense, since subtracting the two published summaries would describe
them. Hidden values are ``None`` with ``suppressed: true`` and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cteimpact.provenance.suppression import check_min_cell, small_cell_mask

__all__ = ["DESCRIPTIVE_COLUMNS", "DescriptiveCell", "VariableSummary", "describe_outcome_sample",
           "suppress_descriptives", "tidy_descriptives"]

Window = Literal["analysis_sample", "bandwidth"]
Side = Literal["below", "above"]

DESCRIPTIVE_COLUMNS: tuple[str, ...] = (
    "outcome_sample", "window", "side", "h", "n_students", "n_clusters", "variable", "role", "kind", "n", "mean",
    "sd", "suppressed", "suppression",
)
"""Columns of ``tables/descriptives.csv`` (:func:`tidy_descriptives`)."""


@dataclass(frozen=True)
class VariableSummary:
    """One variable in one cell: non-missing count, mean and (not 0/1) standard deviation."""

    variable: str
    role: str
    kind: Literal["binary", "continuous"]
    n: int
    mean: float
    sd: float | None
    ones: int | None
    """0/1 variables: students with the value 1 (used by the small-cell rule; not written out)."""
    suppressed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.suppressed is not None:
            return {"variable": self.variable, "role": self.role, "kind": self.kind, "n": None, "mean": None,
                    "sd": None, "suppressed": True, "suppression": self.suppressed}
        return {"variable": self.variable, "role": self.role, "kind": self.kind, "n": self.n, "mean": self.mean,
                "sd": self.sd, "suppressed": False, "suppression": None}


@dataclass(frozen=True)
class DescriptiveCell:
    """The students of one outcome's sample in one window on one side of the cutoff."""

    outcome: str
    window: Window
    side: Side
    h: float | None
    n_students: int
    n_clusters: int | None
    variables: tuple[VariableSummary, ...]
    suppressed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        head = {"outcome_sample": self.outcome, "window": self.window, "side": self.side, "h": self.h}
        if self.suppressed is not None:
            return {**head, "n_students": None, "n_clusters": None,
                    "variables": [{**v.to_dict(), "n": None, "mean": None, "sd": None, "suppressed": True,
                                   "suppression": self.suppressed} for v in self.variables],
                    "suppressed": True, "suppression": self.suppressed}
        return {**head, "n_students": self.n_students, "n_clusters": self.n_clusters,
                "variables": [v.to_dict() for v in self.variables], "suppressed": False, "suppression": None}


def _numeric(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _summary(name: str, role: str, values: np.ndarray) -> VariableSummary:
    v = values[~np.isnan(values)]
    n = int(v.size)
    binary = bool(n) and bool(np.all((v == 0) | (v == 1)))
    mean = float(np.mean(v)) if n else math.nan
    if binary:
        return VariableSummary(name, role, "binary", n, mean, None, int(np.count_nonzero(v == 1)))
    sd = float(np.std(v, ddof=1)) if n >= 2 else math.nan
    return VariableSummary(name, role, "continuous", n, mean, sd, None)


def describe_outcome_sample(outcome: str, y: np.ndarray, x: np.ndarray, cutoff: float, h: tuple[float, float], *,
                            variables: Sequence[tuple[str, str, np.ndarray]],
                            cluster: np.ndarray | None) -> tuple[DescriptiveCell, ...]:
    """The four cells (analysis sample / bandwidth × below / above) of one outcome's analysis sample.

    ``y``, ``x``, ``cluster`` and every array of ``variables`` (``(name, role, values)``, NaN for missing) are the
    outcome's analysis-sample rows; ``h`` the main fit's bandwidths (below, above).
    """
    below = x < cutoff
    windows: dict[tuple[Window, Side], np.ndarray] = {
        ("analysis_sample", "below"): below,
        ("analysis_sample", "above"): ~below,
        ("bandwidth", "below"): below & (x >= cutoff - h[0]),
        ("bandwidth", "above"): ~below & (x <= cutoff + h[1]),
    }
    cols = [(outcome, "outcome", y), *[(n, r, v) for n, r, v in variables if n != outcome]]
    cells = []
    for (window, side), mask in windows.items():
        n_cl = None if cluster is None else int(np.unique(cluster[mask]).size)
        summaries = tuple(_summary(name, role, values[mask]) for name, role, values in cols)
        cells.append(DescriptiveCell(outcome, window, side, None if window == "analysis_sample"
                                     else float(h[0] if side == "below" else h[1]), int(mask.sum()), n_cl,
                                     summaries))
    return tuple(cells)


def _small_variable(v: VariableSummary, min_cell: int) -> str | None:
    if v.n < min_cell:
        return f"fewer than {min_cell} students with a value"
    if v.kind == "binary" and v.ones is not None and min(v.ones, v.n - v.ones) < min_cell:
        return f"fewer than {min_cell} students with the value 1 or with the value 0"
    return None


def _outside_small(full: VariableSummary, inner: VariableSummary, min_cell: int) -> bool:
    """The students of ``full`` not in ``inner`` are a small non-empty group for this variable."""
    n = full.n - inner.n
    if 0 < n < min_cell:
        return True
    if full.kind == "binary" and inner.kind == "binary" and full.ones is not None and inner.ones is not None:
        ones = full.ones - inner.ones
        zeros = n - ones
        return 0 < ones < min_cell or 0 < zeros < min_cell
    return False


def suppress_descriptives(cells: Sequence[DescriptiveCell], min_cell: int) -> tuple[DescriptiveCell, ...]:
    """``cells`` as they may be published (see the module docstring for the rule)."""
    min_cell = check_min_cell(min_cell)
    cells = list(cells)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(cells):
        groups.setdefault((c.outcome, c.window), []).append(i)
    mask = small_cell_mask([c.n_students for c in cells], min_cell=min_cell, groups=list(groups.values()))
    index = {(c.outcome, c.window, c.side): i for i, c in enumerate(cells)}
    out = []
    for i, c in enumerate(cells):
        if mask[i]:
            hidden = (f"fewer than {min_cell} students" if c.n_students < min_cell else
                      "complementary suppression: the other side of the cutoff is suppressed, and this side's "
                      "counts would reveal it by subtraction from the fit's published sample sizes")
            out.append(replace(c, suppressed=hidden))
            continue
        full = cells[index[(c.outcome, "analysis_sample", c.side)]] if c.window == "bandwidth" else None
        summaries = []
        for j, v in enumerate(c.variables):
            reason: str | None = _small_variable(v, min_cell)
            if reason is None and full is not None and _outside_small(full.variables[j], v, min_cell):
                reason = (f"the students of this side outside the bandwidth are fewer than {min_cell} (for this "
                          "variable): with the analysis-sample cell, this cell would describe them by subtraction")
            summaries.append(v if reason is None else replace(v, suppressed=reason))
        out.append(replace(c, variables=tuple(summaries)))
    return tuple(out)


def tidy_descriptives(cells: Sequence[DescriptiveCell]) -> pd.DataFrame:
    """One row per cell and variable (columns :data:`DESCRIPTIVE_COLUMNS`); hidden values are missing."""
    rows = []
    for c in cells:
        d = c.to_dict()
        for v in d["variables"]:
            rows.append({"outcome_sample": c.outcome, "window": c.window, "side": c.side, "h": c.h,
                         "n_students": d["n_students"], "n_clusters": d["n_clusters"], "variable": v["variable"],
                         "role": v["role"], "kind": v["kind"], "n": v["n"], "mean": v["mean"], "sd": v["sd"],
                         "suppressed": v["suppressed"], "suppression": v["suppression"]})
    frame = pd.DataFrame(rows, columns=list(DESCRIPTIVE_COLUMNS))
    for col in ("n_students", "n_clusters", "n"):
        frame[col] = pd.array([None if v is None or pd.isna(v) else int(v) for v in frame[col]], dtype="Int64")
    return frame

"""Grouped sufficient statistics of a regression discontinuity: one cell per distinct score value (× cluster).

A local polynomial fit weights each student by a kernel of the score alone, so every row of a cell shares its
design row and its weight. What a fit sums over students is then a sum over cells of the cell's count, outcome sum
and within-cell sum of squared deviations: ``Σ_i (y_i − m)² = M2_c + n_c (ȳ_c − m)²`` for any constant ``m`` that is
the same for the whole cell (a fitted value, a nearest-neighbour mean). The within-cell sum of squares ``M2_c`` is
kept centred (rather than ``Σ y²``) so that the residual sums of squares do not lose digits to cancellation when the
outcome's mean is large relative to its spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cteimpact.errors import DataValidationError, MissingColumnError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ScoreCells", "cells_from_frame"]


@dataclass(frozen=True, eq=False)
class ScoreCells:
    """Per (score value, cluster) cell: row count, outcome sum and within-cell sum of squared deviations.

    Attributes
    ----------
    score
        The cell's running-variable value (float64, one per cell).
    cluster
        Integer cluster codes (one per cell), or ``None`` without clustering (then one cell per score value).
    n
        Rows in the cell (int64, positive).
    sum_y
        Sum of the outcome over the cell's rows.
    m2_y
        ``Σ (y_i − ȳ_c)²`` over the cell's rows (0 for a single row).
    sum_t, m2_t, m2_yt
        Fuzzy designs: the take-up's sum, its centred sum of squares and the centred cross-products
        ``Σ (y_i − ȳ_c)(t_i − t̄_c)``; ``None`` for a sharp design.
    score_column, outcome_column, cluster_column, treatment_column
        The columns the cells were built from (for messages).
    """

    score: np.ndarray
    cluster: np.ndarray | None
    n: np.ndarray
    sum_y: np.ndarray
    m2_y: np.ndarray
    score_column: str = "score"
    outcome_column: str = "outcome"
    cluster_column: str | None = None
    sum_t: np.ndarray | None = None
    m2_t: np.ndarray | None = None
    m2_yt: np.ndarray | None = None
    treatment_column: str | None = None

    def __post_init__(self) -> None:
        k = len(self.score)
        arrays = {"n": self.n, "sum_y": self.sum_y, "m2_y": self.m2_y}
        if self.cluster is not None:
            arrays["cluster"] = self.cluster
        fuzzy = [a is not None for a in (self.sum_t, self.m2_t, self.m2_yt)]
        if any(fuzzy) and not all(fuzzy):
            raise DataValidationError("score cells: a fuzzy design needs the take-up's sum, sum of squares and "
                                      "cross-products with the outcome")
        if self.sum_t is not None and self.m2_t is not None and self.m2_yt is not None:
            arrays.update({"sum_t": self.sum_t, "m2_t": self.m2_t, "m2_yt": self.m2_yt})
        for name, arr in arrays.items():
            if len(arr) != k:
                raise DataValidationError(f"score cells: {len(arr)} values of {name} for {k} cells")
        if k and int(np.min(self.n)) < 1:
            raise DataValidationError(f"score cells: {int(np.sum(self.n < 1))} cells without rows")
        finite = np.isfinite(self.score)
        for arr in arrays.values():
            finite &= np.isfinite(arr)
        if not bool(np.all(finite)):
            raise DataValidationError(
                f"score cells: {int(np.sum(~finite))} of {k} cells have a missing or infinite score "
                f"('{self.score_column}'), outcome ('{self.outcome_column}') or take-up statistic")
        for arr in arrays.values():
            arr.setflags(write=False)
        self.score.setflags(write=False)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return len(self.score)

    @property
    def n_rows(self) -> int:
        """Number of student rows the cells summarise."""
        return int(np.sum(self.n))

    @property
    def mean_y(self) -> np.ndarray:
        """Cell means of the outcome."""
        return self.sum_y / self.n

    @property
    def fuzzy(self) -> bool:
        """Whether the cells carry a take-up (treatment) column."""
        return self.sum_t is not None


def cells_from_frame(frame: pd.DataFrame, *, score: str, outcome: str, cluster: str | None = None,
                     treatment: str | None = None) -> ScoreCells:
    """Group student rows into :class:`ScoreCells` with pandas (the in-memory path; the engine path is
    :func:`cteimpact.rd.sufficient.query.score_cells_query`).

    Parameters
    ----------
    frame
        Student rows; rows with a missing score, outcome or cluster must already be excluded.
    score, outcome, cluster
        Column names of the running variable, the outcome and (optionally) the cluster identifier.
    treatment
        Fuzzy designs: the take-up column.

    Returns
    -------
    ScoreCells
        Cells sorted by score, then cluster code (codes are the rank of the cluster identifier).

    Raises
    ------
    MissingColumnError
        A named column is not in ``frame``.
    DataValidationError
        A named column has missing values.
    """
    import pandas as pd

    wanted = [score, outcome] + [c for c in (cluster, treatment) if c is not None]
    for col in wanted:
        if col not in frame.columns:
            raise MissingColumnError(col, list(frame.columns))
        missing = int(frame[col].isna().sum())
        if missing:
            raise DataValidationError(f"column '{col}' has {missing} missing values of {len(frame)} rows; exclude "
                                      "them (and record the exclusion) before grouping")
    data = pd.DataFrame({"x": frame[score].to_numpy(dtype=float), "y": frame[outcome].to_numpy(dtype=float)})
    keys = ["x"]
    if cluster is not None:
        codes, _ = pd.factorize(frame[cluster], sort=True)
        data["g"] = codes.astype(np.int64)
        keys.append("g")
    if treatment is not None:
        data["t"] = frame[treatment].to_numpy(dtype=float)
    by = [data[k] for k in keys]
    grouped = data.groupby(keys, sort=True)["y"]
    agg = grouped.agg(["size", "sum"]).reset_index()
    dev = data["y"].to_numpy() - grouped.transform("mean").to_numpy()
    m2 = pd.Series(dev * dev).groupby(by, sort=True).sum().to_numpy()
    fuzzy: dict[str, np.ndarray] = {}
    if treatment is not None:
        t_grouped = data.groupby(keys, sort=True)["t"]
        dev_t = data["t"].to_numpy() - t_grouped.transform("mean").to_numpy()
        fuzzy = {"sum_t": t_grouped.sum().to_numpy(dtype=float),
                 "m2_t": pd.Series(dev_t * dev_t).groupby(by, sort=True).sum().to_numpy(dtype=float),
                 "m2_yt": pd.Series(dev * dev_t).groupby(by, sort=True).sum().to_numpy(dtype=float)}
    return ScoreCells(
        score=agg["x"].to_numpy(dtype=float), cluster=agg["g"].to_numpy(dtype=np.int64) if cluster else None,
        n=agg["size"].to_numpy(dtype=np.int64), sum_y=agg["sum"].to_numpy(dtype=float), m2_y=m2.astype(float),
        score_column=score, outcome_column=outcome, cluster_column=cluster, treatment_column=treatment, **fuzzy)

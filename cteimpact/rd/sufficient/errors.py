"""Errors of the grouped (score-cell) regression discontinuity path."""

from __future__ import annotations

from cteimpact.errors import DesignError

__all__ = ["TooManyScoreValuesError"]


class TooManyScoreValuesError(DesignError):
    """The running variable has more distinct values (or the query more score × cluster cells) than the grouped
    path accepts: the cells would be almost as many as the rows, so grouping in the engine does not pay.

    Attributes
    ----------
    column
        The running variable (as the query computes it, e.g. ``rubric_score - cutoff``).
    count
        Distinct values (or cells) found.
    limit
        The most allowed.
    """

    def __init__(self, message: str, *, column: str, count: int, limit: int) -> None:
        super().__init__(message)
        self.column = column
        self.count = count
        self.limit = limit

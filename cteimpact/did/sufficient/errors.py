"""Errors of the sufficient-statistics estimators: data the engine-side path does not support, and queries that
would bring too many rows to the client."""

from __future__ import annotations

from cteimpact.errors import DataValidationError, DesignError

__all__ = ["TooManyRowsError", "UnsupportedDataError"]


class UnsupportedDataError(DesignError):
    """The data are valid but not of a kind the sufficient-statistics path computes as asked (an unbalanced panel or
    missing values without ``balance=True``, too many periods to balance in the engine): the message names the
    column and the counts and says what is supported."""


class TooManyRowsError(DataValidationError):
    """An aggregate query would return more rows to the client than allowed (``max_rows``)."""

"""Errors of pricing a contract on estimates: an estimate the contract needs is not in the results given.

Both are :class:`~cteimpact.errors.SpecificationError` (the command line prints one line and exits with code 2).
"""

from __future__ import annotations

from cteimpact.errors import SpecificationError

__all__ = ["MissingEstimateError", "MissingSubgroupEstimateError"]


class MissingEstimateError(SpecificationError):
    """A label the contract refers to (an outcome's estimate, a benefit stream's projected estimate) is not among
    the results' labels; the message names the label and lists the labels present."""


class MissingSubgroupEstimateError(MissingEstimateError):
    """An equity term (premium or floor) names a group whose estimate of the outcome is not in the results; the
    message names the group, the outcome, the label looked for and the subgroup labels available."""

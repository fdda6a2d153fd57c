"""Warnings specific to the difference-in-differences estimators.

Errors use the shared classes of :mod:`cteimpact.errors` (``DuplicateRowsError``, ``InvalidValueError``,
``DesignError``...); the warnings below subclass the shared warning classes so that callers can filter on either.
"""

from __future__ import annotations

from cteimpact.errors import CteImpactWarning, DataDroppedWarning, SmallSampleWarning

__all__ = [
    "CellNotEstimatedWarning",
    "CohortDroppedWarning",
    "FewClustersWarning",
    "PretestUnavailableWarning",
]


class CohortDroppedWarning(DataDroppedWarning):
    """Units were excluded or recoded because of their treatment cohort (treated before the first period,
    never observed before treatment, or first treated after the last period); the sample flow records it."""


class CellNotEstimatedWarning(CteImpactWarning):
    """A group-time average treatment effect could not be estimated (no comparison units in one of its periods,
    no overlap, a singular covariate matrix); it is reported as missing and left out of every aggregation."""


class FewClustersWarning(SmallSampleWarning):
    """Few clusters: analytic cluster-robust standard errors over-reject; use the wild cluster bootstrap."""


class PretestUnavailableWarning(CteImpactWarning):
    """The Wald pre-test of parallel trends could not be computed (no pre-treatment cells or a singular
    covariance matrix)."""

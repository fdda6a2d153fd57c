"""Regression discontinuity designs: estimation (rdrobust), diagnostics, standards review, local randomisation,
power.

Main entry point: :class:`RegressionDiscontinuity` (data and design in, :class:`RDResults` out of ``fit()``);
kink designs: :func:`kink_rd`; multiple and cumulative cutoffs (rdmulti): :func:`multi_cutoff_rd`.
"""

from cteimpact.rd.diagnostics import ALL_CHECKS, DiagnosticCheck, DiagnosticOptions, RDDiagnostics
from cteimpact.rd.estimator import LocalRandomizationOptions, RegressionDiscontinuity
from cteimpact.rd.kink import KinkResult, kink_rd
from cteimpact.rd.local_randomization import LocalRandomizationResult, local_randomization
from cteimpact.rd.multi_cutoff import MultiCutoffResult, multi_cutoff_rd
from cteimpact.rd.options import RDOptions
from cteimpact.rd.results import CutoffHeterogeneity, OutcomeFit, RDResults, SubgroupComparison
from cteimpact.rd.standards import StandardItem, StandardsReview

__all__ = [
    "ALL_CHECKS",
    "CutoffHeterogeneity",
    "DiagnosticCheck",
    "DiagnosticOptions",
    "KinkResult",
    "LocalRandomizationOptions",
    "LocalRandomizationResult",
    "MultiCutoffResult",
    "OutcomeFit",
    "RDDiagnostics",
    "RDOptions",
    "RDResults",
    "RegressionDiscontinuity",
    "StandardItem",
    "StandardsReview",
    "SubgroupComparison",
    "kink_rd",
    "local_randomization",
    "multi_cutoff_rd",
]

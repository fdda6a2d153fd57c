"""The registry of RD diagnostic checks.

Each check is one class (a :class:`~cteimpact.rd.checks.base.Check` subclass decorated with
:func:`~cteimpact.rd.checks.base.register_check`) that holds its name, title, whether it depends on the outcome,
what it submits to the task pool and how it collects the results into its record.
:func:`cteimpact.rd.diagnostics.run_diagnostics` loops over the registry; the built-in checks are registered here,
in the order they are run and listed (:data:`BUILTIN_CHECKS`):

``density_test`` (:mod:`.density`), ``covariate_balance`` (:mod:`.balance`), ``placebo_cutoffs``
(:mod:`.placebo`), ``bandwidth_sensitivity``, ``polynomial_order`` and ``donut`` (:mod:`.sensitivity`),
``attrition`` (:mod:`.attrition`).
"""

from __future__ import annotations

from cteimpact.rd.checks.attrition import AttritionCheck
from cteimpact.rd.checks.balance import CovariateBalanceCheck
from cteimpact.rd.checks.base import (
    Check,
    DesignContext,
    DiagnosticCheck,
    OutcomeContext,
    Verdict,
    check_class,
    checks_for,
    register_check,
    registered_checks,
    unregister_check,
)
from cteimpact.rd.checks.density import DensityCheck
from cteimpact.rd.checks.placebo import PlaceboCutoffsCheck
from cteimpact.rd.checks.sensitivity import BandwidthSensitivityCheck, DonutCheck, PolynomialOrderCheck

BUILTIN_CHECKS: tuple[type[Check], ...] = (DensityCheck, CovariateBalanceCheck, PlaceboCutoffsCheck,
                                           BandwidthSensitivityCheck, PolynomialOrderCheck, DonutCheck, AttritionCheck)
"""The checks shipped with cteimpact, registered in this order (the order they run and are listed in)."""

for _cls in BUILTIN_CHECKS:
    register_check(_cls)

__all__ = ["BUILTIN_CHECKS", "AttritionCheck", "BandwidthSensitivityCheck", "Check", "CovariateBalanceCheck",
           "DensityCheck", "DesignContext", "DiagnosticCheck", "DonutCheck", "OutcomeContext", "PlaceboCutoffsCheck",
           "PolynomialOrderCheck", "Verdict", "check_class", "checks_for", "register_check", "registered_checks",
           "unregister_check"]

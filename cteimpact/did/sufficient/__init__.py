"""Estimation where the data live: difference-in-differences from sufficient statistics computed by a database engine
through Ibis (issue 14).

Modules, one concern each:

* :mod:`~cteimpact.did.sufficient.queries`: the aggregate queries (Ibis expressions compiled to the engine's SQL)
  and the checks of their results;
* :mod:`~cteimpact.did.sufficient.cs`: Callaway–Sant'Anna group-time effects and the moments of their influence
  functions from the aggregates;
* :mod:`~cteimpact.did.sufficient.covariate_queries` and :mod:`~cteimpact.did.sufficient.covariates`: with
  numeric covariates on a balanced panel, the per-unit pivot and its sums by cohort, and the outcome regressions,
  propensity-score logits (a query per Newton step) and influence moments computed from them;
* :mod:`~cteimpact.did.sufficient.rcs_covariates`: the same with covariates on repeated cross-sections (sums by
  cohort and period of the observations);
* :mod:`~cteimpact.did.sufficient.factors`: text (categorical) covariates as indicator columns computed by the engine;
* :mod:`~cteimpact.did.sufficient.twfe`: two-way fixed effects and event-study TWFE from the aggregates;
* :mod:`~cteimpact.did.sufficient.results`: aggregation, inference and the results object;
* :mod:`~cteimpact.did.sufficient.estimate`: the entry point of the Callaway–Sant'Anna estimator.

Balanced panels (``balance=True`` drops incomplete units in the engine, as the in-memory preparation does), unbalanced
panels (``allow_unbalanced=True``) and repeated cross-sections (``panel=False``), without weights; numeric and text
covariates on balanced panels and repeated cross-sections. The results equal the in-memory estimators' to rounding. The
multiplier bootstrap runs from the cluster sums when clustered.
"""

from cteimpact.did.sufficient.errors import TooManyRowsError, UnsupportedDataError
from cteimpact.did.sufficient.estimate import callaway_santanna_sufficient
from cteimpact.did.sufficient.queries import (
    CrossSectionMoments,
    PanelColumns,
    PanelMoments,
    UnbalancedMoments,
    cross_section_moments,
    panel_moments,
    unbalanced_moments,
)
from cteimpact.did.sufficient.results import SufficientDiDResults
from cteimpact.did.sufficient.twfe import twfe_sufficient

__all__ = [
    "CrossSectionMoments",
    "PanelColumns",
    "PanelMoments",
    "SufficientDiDResults",
    "TooManyRowsError",
    "UnbalancedMoments",
    "UnsupportedDataError",
    "callaway_santanna_sufficient",
    "cross_section_moments",
    "panel_moments",
    "twfe_sufficient",
    "unbalanced_moments",
]

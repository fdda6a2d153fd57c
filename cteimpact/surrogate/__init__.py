"""Long-run effects from interim outcomes: the surrogate index (Athey, Chetty, Imbens & Kang 2019).

Fit the index where the long-run outcome is seen, apply it where it is not::

    from cteimpact.surrogate import SurrogateIndex, surrogate_effect, validate_on_older_cohorts

    model = SurrogateIndex(older, outcome="earnings_26", surrogates=["credential", "completer"],
                           covariates=["low_income"]).fit()
    res = surrogate_effect(model, trial, treatment="offered", n_boot=999, seed=1)
    print(res)                       # the effect, its variance terms, the assumptions, the index
    check = validate_on_older_cohorts(model, older_trial, treatment="offered")
    check.flagged, check.verdict()

Modules
    :mod:`~cteimpact.surrogate.model` (the index and its fit), :mod:`~cteimpact.surrogate.effect` (the long-run
    effect: difference in means of the index, or from any design's effects on the surrogates),
    :mod:`~cteimpact.surrogate.projection` (a design's own effect on the index, with the index's uncertainty
    added: what an analysis run with ``[surrogate]`` reports and prices), :mod:`~cteimpact.surrogate.spec` (the
    ``[surrogate]`` section of an analysis specification),
    :mod:`~cteimpact.surrogate.validation` (the older-cohort check), :mod:`~cteimpact.surrogate.variance` (the
    two-sample variance), :mod:`~cteimpact.surrogate.bootstrap` (the two-sample bootstrap),
    :mod:`~cteimpact.surrogate.sample` (samples, exclusions, flows), :mod:`~cteimpact.surrogate.ols` (weighted least
    squares with HC1/CR1 covariance), :mod:`~cteimpact.surrogate.results`, :mod:`~cteimpact.surrogate.assumptions`,
    :mod:`~cteimpact.surrogate.errors`.
"""

from cteimpact.surrogate.effect import from_surrogate_effects, surrogate_effect
from cteimpact.surrogate.errors import (
    CollinearColumnsError,
    EmptyArmError,
    SampleColumnError,
    TooFewRowsError,
    TrainingSampleError,
)
from cteimpact.surrogate.model import IndexValues, SurrogateIndex, SurrogateModel
from cteimpact.surrogate.projection import ProjectedEffect, ProjectedResults, SurrogateProjection, project_effect
from cteimpact.surrogate.results import SurrogateEffect, SurrogateValidation
from cteimpact.surrogate.validation import validate_on_older_cohorts

__all__ = [
    "CollinearColumnsError",
    "EmptyArmError",
    "IndexValues",
    "ProjectedEffect",
    "ProjectedResults",
    "SampleColumnError",
    "SurrogateEffect",
    "SurrogateIndex",
    "SurrogateModel",
    "SurrogateProjection",
    "SurrogateValidation",
    "TooFewRowsError",
    "TrainingSampleError",
    "from_surrogate_effects",
    "project_effect",
    "surrogate_effect",
    "validate_on_older_cohorts",
]

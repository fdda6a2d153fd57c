"""The option names of each design's estimator, to tell a user who gives one design an option of the other.

Read from the estimators themselves (constructor and ``fit()`` keywords, and the options ``fit()`` takes from their
declaration, :mod:`cteimpact.config.declared`), so there is nothing to keep in step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["Design", "declared_options", "estimator_option_names", "other_design_options"]

Design = Literal["rd", "did"]

_NAMES = {"rd": "the regression discontinuity estimator (cteimpact.rd)",
          "did": "the difference-in-differences estimator (cteimpact.did)"}


def _keywords(func: Callable[..., Any]) -> list[str]:
    return [p.name for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "data")]


def declared_options(design: Design) -> tuple[tuple[type, ...], tuple[type, ...]]:
    """The declarations (:mod:`cteimpact.config.declared`) whose options the design's estimator takes as keywords:
    those of its constructor, and those of its ``fit()``."""
    if design == "rd":
        from cteimpact.rd.options import RDOptions

        return (), (RDOptions,)
    from cteimpact.did.options import DiDEstimation, DiDInference

    return (DiDEstimation,), (DiDInference,)


def estimator_option_names(design: Design) -> list[str]:
    """Every keyword the design's estimator takes: its constructor's (but the data), ``fit()``'s, and the declared
    options each takes as keywords."""
    from cteimpact.config.declared import declared

    cls: Any
    if design == "rd":
        from cteimpact.rd.estimator import RegressionDiscontinuity

        cls = RegressionDiscontinuity
    else:
        from cteimpact.did.estimator import CallawaySantAnna

        cls = CallawaySantAnna
    init, fit = declared_options(design)
    names = [*_keywords(cls.__init__), *(o.name for c in init for o in declared(c)), *_keywords(cls.fit),
             *(o.name for c in fit for o in declared(c))]
    return list(dict.fromkeys(names))


def other_design_options(design: Design) -> dict[str, list[str]]:
    """The options of the other design's estimator that ``design``'s does not take, under the other's name (the
    ``elsewhere`` of :func:`cteimpact.config.declared.unknown_option_message`)."""
    other: Design = "did" if design == "rd" else "rd"
    own = set(estimator_option_names(design))
    return {_NAMES[other]: [n for n in estimator_option_names(other) if n not in own]}

"""cteimpact: impact evaluation of career and technical education pathways and Pay-for-Success pricing.

Quick start::

    import cteimpact

    res = cteimpact.rd(students, outcome="dropout", score="rubric_score", cutoff=70, cluster="consortium_id")
    print(res)                      # the summary
    res.params, res.conf_int(0.9)   # estimates and intervals by label
    did = cteimpact.did(panel, outcome="earnings", time="year", unit="district", cohort="launch_year")
    cteimpact.compare([res, other], names=["main", "robustness"])
    pay = cteimpact.price(res, "schedule_rikers", seed=1)

:func:`rd`, :func:`did` and :func:`price` are entry points (:mod:`cteimpact.api`) that also give access to the
subpackages of the same name: ``cteimpact.rd.RegressionDiscontinuity`` and ``from cteimpact.rd import ...`` work
as before.

Subpackages (arrows point one way: data → estimation → pricing → reporting):

``cteimpact.data``
    Student-data contract, loading, validation, sample flow.
``cteimpact.synth``
    Synthetic data calibrated to the California Career Pathways Trust, with the true effects.
``cteimpact.results``
    The results contract shared by every estimator, and :func:`compare`.
``cteimpact.rd``, ``cteimpact.did``
    Regression discontinuity and staggered difference-in-differences.
``cteimpact.pricing``
    Pay-for-Success contract pricing.
``cteimpact.pipeline``, ``cteimpact.reporting``
    Declarative runs, provenance and verification; Quarto reports.

Everything is imported on first use, so ``import cteimpact`` is fast and imports neither the estimators nor
matplotlib.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from cteimpact import api as _api

if TYPE_CHECKING:
    from cteimpact.data.student_data import StudentData
    from cteimpact.did.estimator import CallawaySantAnna
    from cteimpact.did.results import DiDResults
    from cteimpact.pricing.contract import Contract
    from cteimpact.pricing.montecarlo import price_contract
    from cteimpact.pricing.results import PricingResults
    from cteimpact.rd.estimator import RegressionDiscontinuity
    from cteimpact.rd.results import RDResults
    from cteimpact.results.compare import ComparisonTable, compare
    from cteimpact.results.contract import ExternalEstimate, ImpactResults, ResultsRecord
    from cteimpact.results.estimate import EffectEstimate

__version__ = "0.1.0"

__all__ = [
    "CallawaySantAnna",
    "ComparisonTable",
    "Contract",
    "DiDResults",
    "EffectEstimate",
    "ExternalEstimate",
    "ImpactResults",
    "PricingResults",
    "RDResults",
    "RegressionDiscontinuity",
    "ResultsRecord",
    "StudentData",
    "__version__",
    "compare",
    "did",
    "price",
    "price_contract",
    "rd",
]

_LAZY = {
    "CallawaySantAnna": "cteimpact.did.estimator",
    "ComparisonTable": "cteimpact.results.compare",
    "Contract": "cteimpact.pricing.contract",
    "DiDResults": "cteimpact.did.results",
    "EffectEstimate": "cteimpact.results.estimate",
    "ExternalEstimate": "cteimpact.results.contract",
    "ImpactResults": "cteimpact.results.contract",
    "PricingResults": "cteimpact.pricing.results",
    "RDResults": "cteimpact.rd.results",
    "RegressionDiscontinuity": "cteimpact.rd.estimator",
    "ResultsRecord": "cteimpact.results.contract",
    "StudentData": "cteimpact.data.student_data",
    "compare": "cteimpact.results.compare",
    "price_contract": "cteimpact.pricing.montecarlo",
}
"""Exported name → module defining it (imported when the name is first used)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _EntryPoint(Generic[_P, _R]):
    """A convenience function that shares its name with a subpackage (``cteimpact.rd``, ``cteimpact.did``).

    Calling it calls the function; any other attribute comes from the subpackage (imported on first use), so
    ``cteimpact.rd.RegressionDiscontinuity`` and dotted paths such as ``"cteimpact.rd.estimator"`` keep working.
    """

    def __init__(self, func: Callable[_P, _R], package: str) -> None:
        object.__setattr__(self, "_func", func)
        object.__setattr__(self, "_package", package)
        object.__setattr__(self, "__doc__", func.__doc__)
        object.__setattr__(self, "__wrapped__", func)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        result: _R = self._func(*args, **kwargs)
        return result

    def _module(self) -> types.ModuleType:
        return importlib.import_module(self._package)

    def __getattr__(self, name: str) -> Any:
        # everything not defined here, dunders included (``cteimpact.did.__file__``, ``__path__``), is the package's
        return getattr(self._module(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._module(), name)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._module())) | {"__call__", "__doc__"})

    def __repr__(self) -> str:
        return f"<function cteimpact.{self._func.__name__} (and package {self._package!r})>"



rd = _EntryPoint(_api.rd, "cteimpact.rd")
did = _EntryPoint(_api.did, "cteimpact.did")
price = _api.price


class _Package(types.ModuleType):
    """The ``cteimpact`` module: importing the subpackage ``cteimpact.rd`` (or ``did``) must not replace the entry
    point of the same name (the import system sets the submodule as an attribute of its parent)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("rd", "did") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cteimpact' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

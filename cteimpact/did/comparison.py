"""What the comparison estimators' results share to honour the results contract.

:class:`ComparisonResults` is the :class:`~cteimpact.results.contract.ImpactResults` base of
:class:`~cteimpact.did.sunab.SunAbrahamResult`: its estimate rows,
options and sample flow; ``summary`` (text), ``tidy``, ``to_dict`` (the contract's record, the estimator's own
numbers under ``details``) and ``plot`` (the estimates with their intervals). :meth:`ComparisonResults.record` is the
estimator's own record, as written inside a difference-in-differences results file.

:class:`~cteimpact.did.twfe.TWFEResult` and :class:`~cteimpact.did.bacon.BaconDecomposition` cannot use it yet:
their public attributes ``estimate`` (the TWFE coefficient, a number) and ``summary`` (the decomposition by
comparison type, a table), which reference tests read, carry the names of the contract's ``estimate(label)`` and
``summary()`` methods.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.results.contract import ImpactResults
from cteimpact.results.estimate import EffectEstimate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.did.panel import StaggeredData

__all__ = ["ComparisonResults", "no_flow", "prepared_options"]


def no_flow() -> SampleFlow:
    """The sample flow of results built without their data (for example in tests)."""
    return SampleFlow("not recorded", 0)


def prepared_options(d: StaggeredData, **extra: Any) -> dict[str, Any]:
    """The data options every comparison records (columns used and data mode), with ``extra``."""
    return {"outcome": d.outcome, "unit": d.unit, "time": d.time, "cohort": d.cohort, "cluster": d.cluster,
            "weights": d.weights, "data_mode": d.mode, "anticipation": int(d.anticipation), **extra}


def normal_row(label: str, outcome: str, term: str, estimate: float, std_error: float, *, alpha: float,
               df: float | None = None, n_effective: float | None = None) -> EffectEstimate:
    """An estimate row with a normal (or t with ``df`` degrees of freedom) test and interval."""
    se = std_error if math.isfinite(std_error) and std_error >= 0 else math.nan
    return EffectEstimate.from_normal(label, outcome, term, estimate, se, ci_level=1 - alpha,
                                      ci_type="conventional", n_effective=n_effective, df=df)


class ComparisonResults(ImpactResults):
    """Results contract of the comparison estimators (see the module docstring)."""

    options: Mapping[str, Any]
    sample_flow: SampleFlow

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """The estimator's own numbers, as written in a difference-in-differences results file."""

    def _details(self) -> dict[str, Any]:
        return self.record()

    def summary(self) -> str:
        return self._default_summary(self._notes())

    def _notes(self) -> list[str]:
        return []

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        """The estimates with their intervals."""
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

"""The results contract every estimator honours, and the records pricing and reporting read.

Every estimator's ``fit()`` returns an immutable subclass of :class:`ImpactResults`. Whatever the design, a result
carries:

* ``estimates``: scalar :class:`~cteimpact.results.estimate.EffectEstimate` rows (estimate, standard error, test,
  interval with its type, effective N), one per reported estimand; labels are unique and the primary estimate of
  outcome ``Y`` is labelled ``Y``;
* ``options``: every option used, as plain data;
* ``sample_flow``: rows read, each exclusion with its reason and count, rows used;
* :meth:`~ImpactResults.sampling_distribution`: the distribution pricing draws effects from, with its documented
  centre and scale (a result whose estimates have no standard error, such as the Goodman-Bacon decomposition,
  refuses with :class:`~cteimpact.errors.NoSamplingDistributionError`, and its ``to_dict()`` records
  ``"sampling_distribution": null``);
* :meth:`~ImpactResults.summary` (text), :meth:`~ImpactResults.tidy` (a DataFrame with the fixed columns
  :data:`~cteimpact.results.estimate.TIDY_COLUMNS`), :meth:`~ImpactResults.to_dict` (JSON-ready, full precision)
  and :meth:`~ImpactResults.plot`;
* for people: ``print(res)`` shows the summary, ``repr(res)`` is one short line, notebooks show an HTML table
  (``_repr_html_``), and :attr:`~ImpactResults.params`, :attr:`~ImpactResults.std_errors` and
  :meth:`~ImpactResults.conf_int` give the estimates as pandas objects indexed by label.

Pricing accepts anything that satisfies :class:`HasSamplingDistribution`: a fitted result, a
:class:`ResultsRecord` read back from JSON, or an :class:`ExternalEstimate` (a plain effect and standard error).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.errors import NoSamplingDistributionError, OptionError, SpecificationError
from cteimpact.results.display import headline_estimate, html_table, short_repr
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import TIDY_COLUMNS, EffectEstimate
from cteimpact.results.intervals import check_level, interval_at_level
from cteimpact.results.serialization import to_jsonable
from cteimpact.results.text import format_estimates

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "RESULTS_SCHEMA",
    "ExternalEstimate",
    "HasSamplingDistribution",
    "ImpactResults",
    "ResultsRecord",
]

RESULTS_SCHEMA = "cteimpact.results/1"
"""Identifier and version of the ``to_dict()`` layout."""


@runtime_checkable
class HasSamplingDistribution(Protocol):
    """What pricing needs of an estimate: its rows and its sampling distribution."""

    @property
    def estimates(self) -> tuple[EffectEstimate, ...]: ...

    def sampling_distribution(self) -> SamplingDistribution: ...


class ImpactResults(ABC):
    """Base class of every estimator's results (see the module docstring for the contract).

    Subclasses are frozen dataclasses that define the fields ``estimates``, ``options`` and ``sample_flow`` (and
    whatever else their design carries: covariance matrices, influence functions, bandwidths...), set the class
    attributes ``design`` and ``estimator``, and implement :meth:`sampling_distribution`, :meth:`summary`,
    :meth:`plot` and :meth:`_details`.

    Every subclass gets the short one-line :meth:`__repr__` of this class, even a dataclass (whose generated repr
    would print every array it holds), unless its own body defines ``__repr__``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the dataclass decorator runs after this and keeps a __repr__ already in the class body; putting the base
        # one there stops it generating a field-by-field repr (a DiD result's would run to tens of thousands of
        # characters)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = ImpactResults.__repr__  # type: ignore[method-assign]

    design: ClassVar[str]
    """``"rd"``, ``"did"``, ``"external"``, ..."""
    estimator: ClassVar[str]
    """The estimator in words, with the reference it follows."""

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow

    # -- required of every design -------------------------------------------------------------------------
    @abstractmethod
    def sampling_distribution(self) -> SamplingDistribution:
        """Joint sampling distribution of the estimates pricing may use, with its centre and scale named."""

    @abstractmethod
    def summary(self) -> str:
        """A plain-text report of the estimates, options and sample flow."""

    @abstractmethod
    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        """The design's main figure."""

    @abstractmethod
    def _details(self) -> dict[str, Any]:
        """Design-specific content of :meth:`to_dict` (bandwidths, group-time effects, diagnostics...)."""

    # -- provided -------------------------------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        """Labels of all estimates, in order."""
        return tuple(e.label for e in self.estimates)

    def estimate(self, label: str) -> EffectEstimate:
        """The estimate labelled ``label``."""
        for e in self.estimates:
            if e.label == label:
                return e
        raise OptionError(f"no estimate labelled '{label}'; available: {', '.join(self.labels)}")

    def tidy(self) -> pd.DataFrame:
        """One row per estimate with the columns :data:`~cteimpact.results.estimate.TIDY_COLUMNS`."""
        return pd.DataFrame([e.to_dict() for e in self.estimates], columns=list(TIDY_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        """Everything in the result as JSON-ready data at full precision (no timestamps)."""
        return to_jsonable(
            {
                "schema": RESULTS_SCHEMA,
                "design": self.design,
                "estimator": self.estimator,
                "estimates": [e.to_dict() for e in self.estimates],
                "sampling_distribution": self._distribution_record(),
                "options": dict(self.options),
                "sample_flow": self.sample_flow.to_dict(),
                "details": self._details(),
            }
        )

    def _distribution_record(self) -> dict[str, Any] | None:
        """``sampling_distribution`` of :meth:`to_dict`: the distribution's plain-data form, or ``None`` for a result
        that has none (whose :meth:`sampling_distribution` raises
        :class:`~cteimpact.errors.NoSamplingDistributionError`, as the Goodman-Bacon decomposition's does)."""
        return self.sampling_distribution().to_dict()

    # -- for people ---------------------------------------------------------------------------------------------
    def _design_name(self) -> str:
        """The design shown to people (a results record shows the design of the result it was written from)."""
        return self.design

    def _estimator_name(self) -> str:
        """The estimator shown to people."""
        return self.estimator

    def _interval_df(self) -> float | None:
        """Degrees of freedom of the Student t reference of the pointwise intervals (``None``: normal).

        Default: the ``df`` attribute of the result, when it has one."""
        df = getattr(self, "df", None)
        return float(df) if isinstance(df, int | float) and not isinstance(df, bool) else None

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        flow = self.sample_flow
        return short_repr(type(self).__name__, self._design_name(), self.estimates, flow.rows_used,
                          flow.current_unit)

    def _repr_html_(self) -> str:
        flow = self.sample_flow
        caption = (f"{self._estimator_name()} (design: {self._design_name()}; "
                   f"N = {flow.rows_used:,} {flow.current_unit})")
        head = headline_estimate(self.estimates)
        footer = "" if head is None else f"Primary estimate: {head.label}. print(result) shows the full summary."
        return html_table(caption, self.estimates, footer=footer)

    @property
    def params(self) -> pd.Series:
        """Point estimates indexed by label (NaN for estimates hidden by the small-cell rule)."""
        return pd.Series([e.estimate for e in self.estimates], index=pd.Index(self.labels, name="label"),
                         name="estimate", dtype=float)

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors indexed by label (the ones each row's test and interval use)."""
        return pd.Series([e.std_error for e in self.estimates], index=pd.Index(self.labels, name="label"),
                         name="std_error", dtype=float)

    def conf_int(self, level: float = 0.95, *, labels: Sequence[str] | None = None) -> pd.DataFrame:
        """Confidence intervals (columns ``lower``, ``upper``) indexed by label.

        At an estimate's own level the recorded interval is returned. At another level an interval of the form
        ``centre ± c·SE`` is rebuilt with the critical value ``c`` of its type (see
        :mod:`cteimpact.results.intervals`).

        Parameters
        ----------
        level
            Confidence level in (0, 1).
        labels
            Estimates to include (default: all, in order).

        Raises
        ------
        OptionError
            ``level`` outside (0, 1) or an unknown label.
        IntervalLevelError
            An interval cannot be rebuilt at ``level`` (a simultaneous band, a randomisation or wild-bootstrap
            interval); the message names the estimate.
        """
        level = check_level(level)
        rows = self.estimates if labels is None else tuple(self.estimate(lab) for lab in _label_list(labels))
        df = self._interval_df()
        bounds = [interval_at_level(e, level, df=df) for e in rows]
        return pd.DataFrame(bounds, index=pd.Index([e.label for e in rows], name="label"),
                            columns=["lower", "upper"], dtype=float)

    def _summary_header(self) -> list[str]:
        return [f"{self.estimator}", ""]

    def _default_summary(self, notes: Sequence[str] = ()) -> str:
        lines = self._summary_header()
        lines.append(format_estimates(self.estimates))
        lines += ["", "Sample flow", self.sample_flow.summary()]
        if notes:
            lines += ["", *notes]
        return "\n".join(lines)


def _label_list(labels: Sequence[str] | str) -> list[str]:
    if isinstance(labels, str):
        return [labels]
    return [str(lab) for lab in labels]


@dataclass(frozen=True)
class ExternalEstimate(ImpactResults):
    """A plain effect and standard error supplied by the user (for example from a published study).

    Parameters
    ----------
    label
        Label pricing contracts refer to (default ``"effect"``).
    effect, std_error
        The estimate and its standard error; sampled as normal.
    ci_level
        Coverage of the reported interval.
    source
        Where the numbers came from.
    """

    design: ClassVar[str] = "external"
    estimator: ClassVar[str] = "Externally supplied effect estimate (normal sampling distribution)"

    label: str = "effect"
    effect: float = 0.0
    std_error: float = 0.0
    ci_level: float = 0.95
    source: str = "user supplied"
    estimates: tuple[EffectEstimate, ...] = field(init=False)
    options: Mapping[str, Any] = field(init=False)
    sample_flow: SampleFlow = field(init=False)

    def __post_init__(self) -> None:
        if not (self.std_error >= 0 and np.isfinite(self.std_error)):
            raise OptionError(f"standard error of '{self.label}' must be finite and non-negative, got {self.std_error}")
        if not np.isfinite(self.effect):
            raise OptionError(f"effect '{self.label}' must be a finite number, got {self.effect}")
        est = EffectEstimate.from_normal(self.label, self.label, "externally supplied effect", self.effect,
                                         self.std_error, ci_level=self.ci_level, ci_type="external")
        object.__setattr__(self, "estimates", (est,))
        object.__setattr__(self, "options", {"effect": self.effect, "std_error": self.std_error,
                                             "source": self.source})
        object.__setattr__(self, "sample_flow", SampleFlow(self.source, 0, unit="estimates"))

    def sampling_distribution(self) -> SamplingDistribution:
        return SamplingDistribution((self.label,), np.array([self.effect]), np.array([[self.std_error**2]]),
                                    centre="supplied effect", scale="supplied standard error")

    def summary(self) -> str:
        return self._default_summary([f"Source: {self.source}"])

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

    def _details(self) -> dict[str, Any]:
        return {"source": self.source}


@dataclass(frozen=True)
class ResultsRecord(ImpactResults):
    """A result read back from its ``to_dict()`` form (for example from ``results.json``).

    It honours the same contract as the fitted result it came from, so pricing and reporting can consume it
    without re-estimating.
    """

    design: ClassVar[str] = "record"
    estimator: ClassVar[str] = "Results record"

    record_design: str
    record_estimator: str
    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    distribution: SamplingDistribution | None
    """``None`` when the result recorded has no sampling distribution (``"sampling_distribution": null``)."""
    details: Mapping[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultsRecord:
        """Parse a ``to_dict()`` record; raise :class:`SpecificationError` naming what is missing."""
        if not isinstance(data, Mapping):
            raise SpecificationError(f"a results record must be a mapping (JSON object), got {type(data).__name__}")
        schema = data.get("schema")
        if schema != RESULTS_SCHEMA:
            raise SpecificationError(
                f"results record has schema {schema!r}; this version of cteimpact reads {RESULTS_SCHEMA!r}"
            )
        for key in ("design", "estimator", "estimates", "sample_flow", "sampling_distribution"):
            if key not in data:
                raise SpecificationError(f"results record lacks the key '{key}'")
        part = "estimates"
        try:
            if not isinstance(data["estimates"], list | tuple):
                raise TypeError(f"expected a list, got {type(data['estimates']).__name__}")
            estimates = tuple(EffectEstimate.from_dict(e) for e in data["estimates"])
            part = "sample_flow"
            flow = SampleFlow.from_dict(data["sample_flow"])
            part = "sampling_distribution"
            raw = data["sampling_distribution"]
            distribution = None if raw is None else SamplingDistribution.from_dict(raw)
            part = "options"
            options = dict(data.get("options", {}))
            part = "details"
            details = dict(data.get("details", {}))
        except KeyError as exc:
            raise SpecificationError(f"results record: '{part}' lacks the key {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:  # OptionError is a ValueError
            raise SpecificationError(f"results record: '{part}' is malformed: {exc}") from None
        labels = [e.label for e in estimates]
        repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
        if repeated:
            raise SpecificationError(
                f"results record: {len(labels) - len(set(labels))} estimates repeat a label "
                f"({', '.join(repeated)}); labels must be unique"
            )
        return cls(str(data["design"]), str(data["estimator"]), estimates, options, flow, distribution, details)

    def sampling_distribution(self) -> SamplingDistribution:
        """The recorded distribution.

        Raises
        ------
        NoSamplingDistributionError
            The result recorded had none (its estimates have no standard error).
        """
        if self.distribution is None:
            raise NoSamplingDistributionError(
                f"the results record of '{self.record_estimator}' has no sampling distribution (its estimates "
                f"{', '.join(self.labels) or '(none)'} have no standard error): it cannot be priced or drawn from"
            )
        return self.distribution

    def _distribution_record(self) -> dict[str, Any] | None:
        return None if self.distribution is None else self.distribution.to_dict()

    def summary(self) -> str:
        return self._default_summary()

    def _summary_header(self) -> list[str]:
        return [f"{self.record_estimator} (design: {self.record_design}; read from a results record)", ""]

    def _design_name(self) -> str:
        return self.record_design

    def _estimator_name(self) -> str:
        return self.record_estimator

    def _interval_df(self) -> float | None:
        if self.distribution is None or self.distribution.df is None:
            return None
        return float(self.distribution.df)

    def plot(self, *args: Any, **kwargs: Any) -> Figure:
        from cteimpact.plotting.estimates import plot_estimates

        return plot_estimates(self.estimates, **kwargs)

    def _details(self) -> dict[str, Any]:
        return dict(self.details)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["design"] = self.record_design
        out["estimator"] = self.record_estimator
        return out

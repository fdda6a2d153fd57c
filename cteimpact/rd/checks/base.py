"""The building blocks of RD diagnostic checks: the check record, the :class:`Check` base class, the registry and
the contexts a check submits its fits from.

A check is one class (see :mod:`cteimpact.rd.checks`): its ``name`` and ``title``, whether it depends on the outcome,
what it submits to the task pool (:meth:`Check.submit`), how it turns the results into a :class:`DiagnosticCheck`
(:meth:`Check.collect`) and how that record is drawn (:meth:`Check.plot`, which imports matplotlib only when
called). :func:`register_check` adds a class to the registry that
:func:`cteimpact.rd.diagnostics.run_diagnostics` loops over.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.rd._parallel import TaskFailure, TaskRunner
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit, fit_rdrobust
from cteimpact.rd.fixed_bandwidth import fit_fixed_bandwidth, supported
from cteimpact.rd.sample import OutcomeSample, RDSample
from cteimpact.stats.multiple_testing import holm_adjust

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.rd.diagnostics import DiagnosticOptions

__all__ = ["Check", "DesignContext", "DiagnosticCheck", "OutcomeContext", "Verdict", "check_class", "fit_row",
           "holm_adjust", "register_check", "registered_checks", "unestimated_row", "unregister_check"]

Verdict = Literal["pass", "flag", "not_run"]


# ---------------------------------------------------------------------------------------------------------------
# the record


@dataclass(frozen=True)
class DiagnosticCheck:
    """One validation check: verdict, evidence in words, a table and a plot."""

    name: str
    verdict: Verdict
    evidence: str
    rows: tuple[Mapping[str, Any], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        cls = _REGISTRY.get(self.name)
        return self.name if cls is None else cls.title

    @property
    def table(self) -> pd.DataFrame:
        """The check's table (one row per test or specification)."""
        return pd.DataFrame([dict(r) for r in self.rows])

    def plot(self) -> Figure:
        """The check's figure (density plot, or estimates with their robust intervals)."""
        cls = _REGISTRY.get(self.name, Check)
        return cls().plot(self)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "verdict": self.verdict, "evidence": self.evidence,
                "table": [dict(r) for r in self.rows], "details": dict(self.details)}


# ---------------------------------------------------------------------------------------------------------------
# rows of a check's table


def fit_row(label: str, value: Any, res: LocalPolynomialFit | TaskFailure, **extra: Any) -> dict[str, Any]:
    """The table row of one auxiliary fit (a failed fit keeps its specification, NaN numbers and the message)."""
    row: dict[str, Any] = {label: value}
    if isinstance(res, TaskFailure):
        row.update(estimate=math.nan, estimate_bc=math.nan, se_robust=math.nan, p_robust=math.nan,
                   ci_robust_lower=math.nan, ci_robust_upper=math.nan, h_left=math.nan, h_right=math.nan,
                   n_effective=0, n_h_left=0, n_h_right=0, note=res.message)
    else:
        row.update(estimate=res.estimate, estimate_bc=res.estimate_bc, se_robust=res.se_robust,
                   p_robust=res.p_value[2], ci_robust_lower=res.ci[2][0], ci_robust_upper=res.ci[2][1],
                   h_left=res.h[0], h_right=res.h[1], n_effective=res.n_effective, n_h_left=int(res.n_h[0]),
                   n_h_right=int(res.n_h[1]), note="")
    row.update(extra)
    return row


def unestimated_row(label: str, value: Any, reason: str, **extra: Any) -> dict[str, Any]:
    """The row of a requested specification that was not estimated: no number (counts ``None``: no fit, not zero
    students), ``estimated`` False and the reason in ``note``."""
    row: dict[str, Any] = {label: value, "estimate": math.nan, "estimate_bc": math.nan, "se_robust": math.nan,
                           "p_robust": math.nan, "ci_robust_lower": math.nan, "ci_robust_upper": math.nan,
                           "h_left": math.nan, "h_right": math.nan, "n_effective": None, "n_h_left": None,
                           "n_h_right": None, "note": reason}
    row.update(extra)
    row["estimated"] = False
    return row


def add_holm(rows: list[dict[str, Any]]) -> None:
    """Add the Holm-adjusted p-value ``p_holm`` of each row's ``p_robust``."""
    adj = holm_adjust([r["p_robust"] for r in rows])
    for row, padj in zip(rows, adj, strict=True):
        row["p_holm"] = float(padj)


# ---------------------------------------------------------------------------------------------------------------
# data windows and submitted fits


@dataclass(frozen=True)
class SortedSample:
    """Arrays of one analysis sample sorted by the running variable (sorted once, sliced by every fit)."""

    x: np.ndarray
    y: np.ndarray
    fuzzy: np.ndarray | None
    covariates: np.ndarray | None
    cluster: np.ndarray | None
    weights: np.ndarray | None
    order: np.ndarray

    @classmethod
    def build(cls, x: np.ndarray, y: np.ndarray, fuzzy: np.ndarray | None, covariates: np.ndarray | None,
              cluster: np.ndarray | None, weights: np.ndarray | None) -> SortedSample:
        order = np.argsort(x, kind="stable")

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[order]

        return cls(x[order], y[order], take(fuzzy), take(covariates), take(cluster), take(weights), order)

    def span(self, lower: float, upper: float) -> slice:
        """Rows with ``lower <= x <= upper``."""
        return slice(int(np.searchsorted(self.x, lower, side="left")),
                     int(np.searchsorted(self.x, upper, side="right")))

    def arrays(self, sl: slice | np.ndarray, y: np.ndarray | None = None) -> dict[str, Any]:
        def part(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.ascontiguousarray(a[sl])

        yy = self.y if y is None else y
        return {"y": np.ascontiguousarray(yy[sl]), "x": np.ascontiguousarray(self.x[sl]),
                "fuzzy": part(self.fuzzy), "covariates": part(self.covariates), "cluster": part(self.cluster),
                "weights": part(self.weights)}


class Pending:
    """A submitted fit, or one column of a submitted batch of fits; :meth:`result` waits for it."""

    def __init__(self, future: Future[Any], index: int | None = None) -> None:
        self.future, self.index = future, index

    def result(self) -> Any:
        res = self.future.result()
        if self.index is None or isinstance(res, TaskFailure):
            return res
        return res[self.index]


def _fast_one(y: np.ndarray, x: np.ndarray, **kw: Any) -> LocalPolynomialFit:
    """One fixed-bandwidth fit through the fast path (top level, so worker processes can run it)."""
    return fit_fixed_bandwidth([y], x, **kw)[0]


@dataclass(frozen=True)
class DesignContext:
    """What every check may use: the design's analysis sample, the options and the task pool."""

    sample: RDSample
    options: DiagnosticOptions
    runner: TaskRunner
    assignment_unit: str | None = None
    baseline_covariates: tuple[str, ...] = ()

    @property
    def cutoff(self) -> float:
        return self.sample.cutoff

    @property
    def alpha(self) -> float:
        return self.options.alpha


@dataclass(frozen=True)
class OutcomeContext(DesignContext):
    """What a check of one outcome's estimate may use: the design, the outcome's sample and estimate ``fit``, and
    helpers that submit auxiliary fits to the pool.

    ``fit_kwargs`` are the rdrobust options of the estimate (kernel, p, q, vce...); ``fixed_bandwidth`` says the
    user fixed ``h`` (then fits with other specifications keep it instead of selecting their own).
    """

    outcome: str = ""
    osample: OutcomeSample | None = None
    fit: LocalPolynomialFit | None = None
    fit_kwargs: Mapping[str, Any] = field(default_factory=dict)
    fixed_bandwidth: bool = False

    @property
    def estimate(self) -> LocalPolynomialFit:
        """The outcome's main fit."""
        if self.fit is None:  # pragma: no cover - run_diagnostics always gives it
            raise OptionError("an outcome context needs the outcome's fit")
        return self.fit

    @property
    def keep(self) -> np.ndarray:
        """Rows of the design's sample in the outcome's analysis sample."""
        if self.osample is None:  # pragma: no cover - run_diagnostics always gives it
            raise OptionError("an outcome context needs the outcome's sample")
        return self.osample.keep

    @cached_property
    def sorted(self) -> SortedSample:
        """The outcome's analysis sample sorted by the running variable."""
        s, keep = self.sample, self.keep
        assert self.osample is not None  # noqa: S101 - checked by keep
        return SortedSample.build(s.x[keep], self.osample.y[keep], None if s.fuzzy is None else s.fuzzy[keep],
                                  None if s.covariates is None else s.covariates[keep],
                                  None if s.cluster is None else s.cluster[keep],
                                  None if s.weights is None else s.weights[keep])

    @property
    def h(self) -> tuple[float, float]:
        return self.estimate.h

    @property
    def b(self) -> tuple[float, float]:
        return self.estimate.b

    @property
    def reach(self) -> tuple[float, float]:
        """How far from the cutoff a fit at the estimate's bandwidths uses observations, below and above."""
        h, b = self.h, self.b
        return (max(h[0], b[0]), max(h[1], b[1]))

    @cached_property
    def base_kwargs(self) -> dict[str, Any]:
        """The estimate's rdrobust options without its bandwidths."""
        return {k: v for k, v in self.fit_kwargs.items() if k not in ("h", "b", "rho", "bwselect")}

    @property
    def bwselect(self) -> str:
        return str(self.fit_kwargs.get("bwselect", "mserd"))

    def fast_path(self, **arrays: Any) -> bool:
        """Whether a fit at fixed bandwidths with these arrays can use :mod:`cteimpact.rd.fixed_bandwidth`."""
        return supported(vce=self.base_kwargs["vce"], **arrays)

    def submit_fixed(self, name: str, key: Any, lo: float, hi: float, cutoff: float, hh: tuple[float, float],
                     bb: tuple[float, float], *, drop_fuzzy: bool = False, drop_covariates: bool = False,
                     src: SortedSample | None = None) -> Pending:
        """Submit a fit at fixed bandwidths ``hh``, ``bb`` at ``cutoff`` on the rows of ``src`` (default the
        outcome's sample) with ``lo <= x <= hi``."""
        s = self.sorted if src is None else src
        arr = s.arrays(s.span(lo, hi))
        if drop_fuzzy:
            arr["fuzzy"] = None
        if drop_covariates:
            arr["covariates"] = None
        base = self.base_kwargs
        if self.fast_path(fuzzy=arr["fuzzy"], covariates=arr["covariates"]):
            fast_kw = {k: base[k] for k in ("p", "q", "kernel", "vce", "nnmatch", "level") if k in base}
            fut = self.runner.submit(_fast_one, arr["y"], arr["x"], cutoff=cutoff, h=hh, b=bb,
                                     cluster=arr["cluster"], weights=arr["weights"], **fast_kw)
        else:
            fut = self.runner.submit(fit_rdrobust, arr.pop("y"), arr.pop("x"), cutoff=cutoff, h=hh, b=bb, **arr,
                                     **base, context=f"{name} fit ({key})")
        return Pending(fut)

    def submit_fixed_batch(self, ys: Sequence[np.ndarray], lo: float, hi: float) -> Future[Any]:
        """Submit fits of several outcomes ``ys`` (columns, aligned with the sorted sample) sharing the rows with
        ``lo <= x <= hi`` and the estimate's bandwidths (fast path, no fuzzy or covariates)."""
        srt, base = self.sorted, self.base_kwargs
        sl = srt.span(lo, hi)
        fast_kw = {k: base[k] for k in ("p", "q", "kernel", "vce", "nnmatch", "level") if k in base}
        return self.runner.submit(
            fit_fixed_bandwidth, np.column_stack([v[sl] for v in ys]), np.ascontiguousarray(srt.x[sl]),
            cutoff=self.cutoff, h=self.h, b=self.b,
            cluster=None if srt.cluster is None else np.ascontiguousarray(srt.cluster[sl]),
            weights=None if srt.weights is None else np.ascontiguousarray(srt.weights[sl]), **fast_kw)

    def submit_own(self, name: str, key: Any, mask: np.ndarray | None, **over: Any) -> Pending:
        """Submit a fit on the outcome's rows ``mask`` (default all) with options ``over`` and its own bandwidths
        (the estimate's when the user fixed ``h``)."""
        arr = self.sorted.arrays(slice(None) if mask is None else mask)
        kw = dict(self.base_kwargs)
        kw.update(over)
        if self.fixed_bandwidth:
            kw.update(h=self.h, b=self.b)
        else:
            kw["bwselect"] = self.bwselect
        return Pending(self.runner.submit(fit_rdrobust, arr.pop("y"), arr.pop("x"), cutoff=self.cutoff, **arr, **kw,
                                          context=f"{name} fit ({key})"))


# ---------------------------------------------------------------------------------------------------------------
# the check class and the registry


class Check:
    """One diagnostic check. Subclass it, set ``name`` and ``title``, implement :meth:`collect` (and
    :meth:`submit` when the check fits anything), and decorate the class with :func:`register_check`.

    ``depends_on_outcome`` False: :meth:`submit` receives a :class:`DesignContext` and runs once per design (beside
    the main fits); its pending result is collected for every outcome. True (default): :meth:`submit` receives the
    outcome's :class:`OutcomeContext`. Whatever :meth:`submit` returns is handed to :meth:`collect`, which waits
    for the results and returns the :class:`DiagnosticCheck` record.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    depends_on_outcome: ClassVar[bool] = True
    plot_axis: ClassVar[tuple[str, str]] = ("quantity", "")
    """Column and axis label of the default estimates plot."""

    def submit(self, ctx: Any) -> Any:
        """Start the check's fits (default: none)."""
        return None

    def collect(self, ctx: OutcomeContext, pending: Any) -> DiagnosticCheck:
        """The check's record from what :meth:`submit` returned."""
        raise NotImplementedError

    def plot(self, record: DiagnosticCheck) -> Figure:
        """The record's figure (default: each specification's estimate with its robust interval)."""
        from cteimpact.rd.plots import plot_estimates

        key, xlabel = self.plot_axis
        return plot_estimates(record.table, key=key, xlabel=xlabel, title=f"{record.title} [{record.verdict}]",
                              flagged=record.verdict == "flag", empty_title=f"{record.title}: nothing estimated")


_REGISTRY: dict[str, type[Check]] = {}

C = TypeVar("C", bound=type[Check])


def register_check(cls: C) -> C:
    """Class decorator: add a :class:`Check` subclass to the registry (checks run and are listed in the order they
    were registered).

    Raises
    ------
    OptionError
        The class is not a :class:`Check`, has no ``name`` or ``title``, or its name is taken.
    """
    if not (isinstance(cls, type) and issubclass(cls, Check)):
        raise OptionError(f"a diagnostic check must subclass Check, got {cls!r}")
    if not cls.name or not cls.title:
        raise OptionError(f"diagnostic check class {cls.__name__} needs a name and a title")
    if cls.name in _REGISTRY:
        raise OptionError(f"a diagnostic check named '{cls.name}' is already registered "
                          f"({_REGISTRY[cls.name].__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def unregister_check(name: str) -> type[Check]:
    """Remove a check from the registry and return its class.

    Raises
    ------
    OptionError
        No check of that name is registered.
    """
    if name not in _REGISTRY:
        raise OptionError(f"no diagnostic check named '{name}' is registered; registered: "
                          f"{', '.join(_REGISTRY)}")
    return _REGISTRY.pop(name)


def registered_checks() -> tuple[str, ...]:
    """Names of the registered checks, in their order."""
    return tuple(_REGISTRY)


def check_class(name: str) -> type[Check]:
    """The class of the registered check ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise OptionError(f"unknown diagnostic check '{name}'; available: {', '.join(_REGISTRY)}") from None


def checks_for(names: Sequence[str]) -> list[Check]:
    """Instances of the registered checks among ``names``, in registry order."""
    wanted = set(names)
    return [cls() for name, cls in _REGISTRY.items() if name in wanted]


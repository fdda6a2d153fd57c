"""Validation checks of an RD design, each with a verdict, the evidence behind it, a table and a plot.

Checks (``name``):

``density_test``
    Manipulation test: discontinuity of the running variable's density at the cutoff (rddensity; Cattaneo,
    Jansson & Ma 2020). Run on one score per assignment unit when the score is assigned to units (consortia).
``covariate_balance``
    Continuity of every baseline covariate at the cutoff: the RD "effect" on the covariate, robust p-value and the
    difference in standard-deviation units (Hedges' g, or the Cox index for binary covariates, as the WWC
    measures baseline differences).
``placebo_cutoffs``
    RD estimates at false cutoffs, each using only the observations on one side of the true cutoff.
``bandwidth_sensitivity``
    Estimates over a grid of bandwidths around the chosen one (the ratio ``h / b`` kept).
``polynomial_order``
    Estimates with local polynomials of other orders (each with its own bandwidth unless ``h`` was fixed).
``donut``
    Estimates excluding observations closest to the cutoff (each with its own bandwidth unless ``h`` was fixed).
``attrition``
    Differential attrition: the RD jump at the cutoff in the share of rows whose outcome is missing.

Each check is one class in the registry of :mod:`cteimpact.rd.checks` (its name, title, whether it depends on
the outcome, what it submits to the task pool and how it collects the results); :func:`run_diagnostics` loops over
the registry, so a check is added by registering one class (see :class:`cteimpact.rd.checks.Check`).

Verdicts are ``pass`` or ``flag`` (``not_run`` when a check could not be computed) at level ``alpha`` (0.05).
Where a check runs several tests (covariates, placebo cutoffs) the verdict uses Holm-adjusted p-values; the
table shows both. A flag is a reason to look closer, not proof that the design fails.

Speed: auxiliary fits at fixed bandwidths only receive the observations within ``max(h, b)`` of their cutoff (a
fit at fixed bandwidths is unchanged by observations outside them); observations are sorted once; independent
fits run in parallel (:mod:`cteimpact.rd._parallel`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from cteimpact.config.declared import option
from cteimpact.errors import OptionError
from cteimpact.rd._parallel import TaskRunner
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.checks import (
    BUILTIN_CHECKS,
    Check,
    DesignContext,
    DiagnosticCheck,
    OutcomeContext,
    Verdict,
    checks_for,
    registered_checks,
)
from cteimpact.rd.checks.base import holm_adjust
from cteimpact.rd.checks.placebo import default_placebo_cutoffs
from cteimpact.rd.sample import OutcomeSample, RDSample

if TYPE_CHECKING:
    from cteimpact.rd.standards import StandardsReview

__all__ = ["ALL_CHECKS", "CheckName", "DiagnosticCheck", "DiagnosticOptions", "RDDiagnostics", "StartedChecks",
           "Verdict", "default_placebo_cutoffs", "holm_adjust", "run_diagnostics", "start_diagnostics"]

CheckName = Literal["density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity",
                    "polynomial_order", "donut", "attrition"]
"""Names of the built-in checks."""
ALL_CHECKS: tuple[str, ...] = tuple(cls.name for cls in BUILTIN_CHECKS)
"""The built-in checks in their order (registered checks: :func:`cteimpact.rd.checks.registered_checks`)."""


def _names(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in str(text).split(",") if p.strip())


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in _names(text))
    except ValueError:
        raise OptionError(f"takes numbers separated by commas, got {text!r}") from None


def _integers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in _names(text))
    except ValueError:
        raise OptionError(f"takes whole numbers separated by commas, got {text!r}") from None


@dataclass(frozen=True)
class DiagnosticOptions:
    """Which checks to run and how.

    Parameters
    ----------
    checks
        Names of the checks (default: every registered check, :func:`cteimpact.rd.checks.registered_checks`).
    alpha
        Size of the checks' tests: a check is flagged when its p-value is below ``alpha`` (a test's size, not the
        confidence level of an interval, which is ``level``).
    balance_bandwidth
        ``"estimate"`` (default): covariate balance at the bandwidths of the outcome's estimate (the analysis
        sample the estimate uses); ``"own"``: an MSE-optimal bandwidth per covariate.
    placebo_cutoffs
        False cutoffs on the running variable's scale; default two per side, at the terciles of each side.
    bandwidth_multipliers
        Grid of bandwidths as multiples of the chosen ``h`` (``b`` scaled alike).
    polynomial_orders
        Orders compared with the estimate's.
    donut_shares
        Donut radii as shares of observations nearest the cutoff (0.01 = the closest 1%).
    density_p
        Polynomial order of the density estimator (rddensity default 2).
    density_bwselect, density_fitselect, density_vce
        rddensity's ``bwselect`` (``comb`` default, ``each``, ``diff``, ``sum``), ``fitselect`` (``unrestricted``
        default, ``restricted``) and ``vce`` (``jackknife`` default, ``plugin``) for the manipulation test.
    """

    checks: tuple[str, ...] | None = option(None, "Checks to run (default: every registered check).",
                                            parse=_names)
    alpha: float = option(0.05, "Size of the checks' tests: a check is flagged when its p-value is below alpha "
                                "(a test's size, not a confidence level).")
    balance_bandwidth: Literal["estimate", "own"] = option(
        "estimate", "Covariate balance at the bandwidths of the outcome's estimate (estimate), or at an MSE-optimal "
                    "bandwidth per covariate (own).")
    placebo_cutoffs: tuple[float, ...] | None = option(None, "Placebo cutoffs on the running variable's scale "
                                                             "(default: two per side, at the terciles).",
                                                       parse=_numbers)
    bandwidth_multipliers: tuple[float, ...] = option((0.5, 0.75, 0.9, 1.1, 1.25, 1.5), "Alternative bandwidths as "
                                                      "multiples of the chosen one.", parse=_numbers)
    polynomial_orders: tuple[int, ...] = option((1, 2, 3), "Polynomial orders compared with the estimate's.",
                                                parse=_integers)
    donut_shares: tuple[float, ...] = option((0.01, 0.025, 0.05), "Donut radii as shares of the observations "
                                             "nearest the cutoff (0.01: the closest 1%).", parse=_numbers)
    density_p: int = option(2, "Polynomial order of the density estimator of the manipulation test.")
    density_bwselect: Literal["comb", "each", "diff", "sum"] = option(
        "comb", "Bandwidth selector of the manipulation test (rddensity's bwselect: each side's own, the "
                "difference, the sum, or their combination).")
    density_fitselect: Literal["unrestricted", "restricted"] = option(
        "unrestricted", "Density model of the manipulation test: separate fits per side (unrestricted), or "
                        "derivatives other than the density itself equal on both sides (restricted).")
    density_vce: Literal["jackknife", "plugin"] = option(
        "jackknife", "Variance estimator of the manipulation test (rddensity's vce).")

    def __post_init__(self) -> None:
        available = registered_checks()
        chosen = available if self.checks is None else self.checks
        bad = [c for c in chosen if c not in available]
        if bad:
            raise OptionError(f"unknown diagnostic check(s) {', '.join(bad)}; available: {', '.join(available)}")
        object.__setattr__(self, "checks", tuple(dict.fromkeys(chosen)))
        if not 0 < self.alpha < 0.5:
            raise OptionError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.balance_bandwidth not in ("estimate", "own"):
            raise OptionError(f"balance_bandwidth must be 'estimate' or 'own', got {self.balance_bandwidth!r}")
        if any(not (m > 0) for m in self.bandwidth_multipliers):
            raise OptionError("bandwidth multipliers must be positive")
        if any(not (0 < s < 0.5) for s in self.donut_shares):
            raise OptionError("donut shares must be in (0, 0.5)")
        for name, value, allowed in (("density_bwselect", self.density_bwselect, ("comb", "each", "diff", "sum")),
                                     ("density_fitselect", self.density_fitselect, ("unrestricted", "restricted")),
                                     ("density_vce", self.density_vce, ("jackknife", "plugin"))):
            if value not in allowed:
                raise OptionError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.density_fitselect == "restricted" and self.density_bwselect == "each":
            raise OptionError("density_bwselect='each' needs density_fitselect='unrestricted' (a restricted density "
                              "model has one bandwidth for both sides: use comb, diff or sum)")
        if any(not (isinstance(p, int) and 0 <= p <= 6) for p in self.polynomial_orders):
            raise OptionError("polynomial orders must be integers from 0 to 6")
        bad_cutoffs = [c for c in self.placebo_cutoffs or () if not math.isfinite(float(c))]
        if bad_cutoffs:
            raise OptionError(f"placebo cutoffs must be finite numbers; got {', '.join(map(str, bad_cutoffs))}")

    @property
    def selected(self) -> tuple[str, ...]:
        """The checks to run (every registered check when none were named)."""
        return tuple(self.checks or ())

    def to_dict(self) -> dict[str, Any]:
        return {"checks": list(self.selected), "alpha": self.alpha, "balance_bandwidth": self.balance_bandwidth,
                "placebo_cutoffs": None if self.placebo_cutoffs is None else list(self.placebo_cutoffs),
                "bandwidth_multipliers": list(self.bandwidth_multipliers),
                "polynomial_orders": list(self.polynomial_orders), "donut_shares": list(self.donut_shares),
                "density_p": self.density_p, "density_bwselect": self.density_bwselect,
                "density_fitselect": self.density_fitselect, "density_vce": self.density_vce}


@dataclass(frozen=True)
class RDDiagnostics:
    """The diagnostic checks of one outcome's RD estimate, and the WWC-style standards review."""

    outcome: str
    checks: tuple[DiagnosticCheck, ...]
    options: DiagnosticOptions
    standards: StandardsReview | None = None

    def check(self, name: str) -> DiagnosticCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise OptionError(f"no check '{name}' was run; checks run: {', '.join(c.name for c in self.checks)}")

    @property
    def verdicts(self) -> dict[str, str]:
        return {c.name: c.verdict for c in self.checks}

    def summary(self) -> str:
        lines = []
        for c in self.checks:
            lines.append(f"  [{c.verdict.upper():7}] {c.title}: {c.evidence}")
        if self.standards is not None:
            lines += ["", self.standards.summary()]
        return "\n".join(lines)

    @property
    def verdict_counts(self) -> dict[str, int]:
        """Number of checks with each verdict (``pass``, ``flag``, ``not_run``; zeros included) and ``ran`` (the
        checks that were computed: ``pass`` + ``flag``)."""
        counts = {v: sum(1 for c in self.checks if c.verdict == v) for v in get_args(Verdict)}
        return {**counts, "ran": counts["pass"] + counts["flag"], "total": len(self.checks)}

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "options": self.options.to_dict(), "verdict_counts": self.verdict_counts,
                "checks": {c.name: c.to_dict() for c in self.checks},
                "standards_review": None if self.standards is None else self.standards.to_dict()}


@dataclass(frozen=True)
class StartedChecks:
    """The checks that do not depend on the outcome, submitted once for the design: their context, the checks and
    what each submitted."""

    context: DesignContext
    pending: Mapping[str, Any]


def start_diagnostics(*, sample: RDSample, options: DiagnosticOptions, runner: TaskRunner,
                      baseline_covariates: Sequence[str] = (), assignment_unit: str | None = None) -> StartedChecks:
    """Submit the requested checks that do not depend on the outcome (the density test), so they run beside the
    main fits; pass the result to :func:`run_diagnostics` of every outcome."""
    ctx = DesignContext(sample, options, runner, assignment_unit, tuple(baseline_covariates))
    return StartedChecks(ctx, {c.name: c.submit(ctx) for c in checks_for(options.selected)
                               if not c.depends_on_outcome})


def run_diagnostics(
    *,
    outcome: str,
    sample: RDSample,
    osample: OutcomeSample,
    fit: LocalPolynomialFit,
    fit_kwargs: Mapping[str, Any],
    options: DiagnosticOptions,
    runner: TaskRunner,
    baseline_covariates: Sequence[str] = (),
    started: StartedChecks | None = None,
    assignment_unit: str | None = None,
    fixed_bandwidth: bool = False,
) -> list[DiagnosticCheck]:
    """Run the requested checks for one outcome's estimate ``fit``: submit every check's fits, then collect every
    check's record, in registry order (see the module docstring).

    ``fit_kwargs`` are the rdrobust options of the estimate (kernel, p, q, vce...); ``fixed_bandwidth`` says the
    user fixed ``h`` (then polynomial-order and donut fits keep it instead of selecting their own). ``started``:
    the checks that do not depend on the outcome, from :func:`start_diagnostics` (submitted here when not given).
    """
    if started is None:
        started = start_diagnostics(sample=sample, options=options, runner=runner,
                                    baseline_covariates=baseline_covariates, assignment_unit=assignment_unit)
    ctx = OutcomeContext(sample, options, runner, assignment_unit, tuple(baseline_covariates), outcome=outcome,
                         osample=osample, fit=fit, fit_kwargs=fit_kwargs, fixed_bandwidth=fixed_bandwidth)
    checks: list[Check] = checks_for(options.selected)
    pending = {c.name: c.submit(ctx) if c.depends_on_outcome else started.pending[c.name] for c in checks}
    return [c.collect(ctx, pending[c.name]) for c in checks]

"""Design runners: turn a validated design specification and loaded data into results, figures and tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from cteimpact.data.student_data import StudentData
from cteimpact.pipeline.seeds import derive_seed
from cteimpact.pipeline.spec import DiDDesignSpec, RDDesignSpec
from cteimpact.results.contract import ImpactResults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DesignRun", "run_design"]


@dataclass(frozen=True)
class DesignRun:
    """What a design produced: the result (honouring the results contract), its extra records, figures and tables.

    ``figures`` and ``tables`` map a relative output path to a matplotlib figure or a DataFrame; they are already
    privacy-safe (small cells suppressed).
    """

    results: ImpactResults
    extra: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    mde: dict[str, float] = field(default_factory=dict)
    """Minimum detectable effect by estimate label, where the design computes one (rdmde for sharp RD)."""


def _rd(spec: RDDesignSpec, data: StudentData, seed: int, min_cell: int) -> DesignRun:
    from cteimpact.rd import RegressionDiscontinuity
    from cteimpact.rd.diagnostics import DiagnosticOptions
    from cteimpact.rd.estimator import LocalRandomizationOptions

    rd = RegressionDiscontinuity(
        data, spec.outcomes, spec.running, spec.cutoff, cutoff_column=spec.cutoff_column, fuzzy=spec.fuzzy,
        cluster=spec.cluster, covariates=spec.covariates, subgroups=spec.subgroups,
        baseline_covariates=spec.baseline_covariates, assignment_unit=spec.assignment_unit, donut=spec.donut,
    )
    d = spec.diagnostics
    diagnostics: bool | DiagnosticOptions = False
    if d.enabled:
        diagnostics = DiagnosticOptions(
            alpha=d.alpha,
            placebo_cutoffs=None if d.placebo_cutoffs is None else tuple(d.placebo_cutoffs),
            bandwidth_multipliers=tuple(d.bandwidth_multipliers), polynomial_orders=tuple(d.polynomial_orders),
            donut_shares=tuple(d.donut_shares),
        )
    lr: bool | LocalRandomizationOptions = False
    if spec.local_randomization is not None and spec.local_randomization.enabled:
        lr = LocalRandomizationOptions(window=spec.local_randomization.window, reps=spec.local_randomization.reps,
                                       seed=derive_seed(seed, "rd.local_randomization") % (2**31 - 1))
    e = spec.estimation
    res = rd.fit(p=e.p, q=e.q, kernel=e.kernel, bwselect=e.bwselect, vce=e.vce,
                 h=None if e.h is None else (tuple(e.h) if isinstance(e.h, list) else e.h),  # type: ignore[arg-type]
                 b=None if e.b is None else (tuple(e.b) if isinstance(e.b, list) else e.b),  # type: ignore[arg-type]
                 level=e.level, masspoints=e.masspoints, diagnostics=diagnostics, local_randomization=lr)
    shown = res.with_min_cell(min_cell)
    figures: dict[str, Figure] = {}
    tables: dict[str, pd.DataFrame] = {"tables/estimates.csv": res.tidy(), "tables/rd_fits.csv": res.tidy_fits()}
    mde: dict[str, float] = {}
    for y in spec.outcomes:
        figures[f"figures/rd-{y}.png"] = shown.plot(y)
        diag = res.diagnostics.get(y)
        if diag is not None:
            for check in diag.checks:
                figures[f"figures/check-{y}-{check.name}.png"] = check.plot()
                tables[f"tables/check-{y}-{check.name}.csv"] = check.table
        if spec.fuzzy is None:  # rdmde's MDE is the sharp effect's; a fuzzy design's priced estimates use their SE
            mde[y] = float(rd.mde(y).mde)
    return DesignRun(res, {"mde": mde}, figures, tables, mde)


def run_design(spec: RDDesignSpec | DiDDesignSpec, data: StudentData, *, seed: int, min_cell: int) -> DesignRun:
    """Run the design ``spec`` on ``data`` (random streams derived from ``seed``)."""
    if isinstance(spec, RDDesignSpec):
        return _rd(spec, data, seed, min_cell)
    raise NotImplementedError("the DiD runner is added with the DiD design")


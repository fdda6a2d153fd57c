"""``density_test``: the manipulation test (rddensity; Cattaneo, Jansson & Ma 2020), on one score per assignment
unit when the score is assigned to units (consortia). It does not depend on the outcome: it is submitted once per
design, beside the main fits."""

from __future__ import annotations

import math
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.rd._parallel import TaskFailure
from cteimpact.rd.adapters.rddensity import DensityTest, density_test
from cteimpact.rd.checks.base import Check, DesignContext, DiagnosticCheck, OutcomeContext, Verdict
from cteimpact.rd.sample import RDSample
from cteimpact.results.text import format_number, format_p

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DensityCheck"]


def _unit_scores(sample: RDSample, unit: str | None) -> tuple[np.ndarray, str]:
    """Scores for the density test: one per assignment unit when the score is assigned to units."""
    x = sample.x
    col = unit
    auto = False
    if col is None and sample.cluster_column is not None and sample.cluster is not None:
        col, auto = sample.cluster_column, True
    if col is None:
        return x, "rows"
    if col not in sample.frame.columns:
        raise OptionError(f"assignment unit column '{col}' is not in the analysis data")
    codes, _ = pd.factorize(sample.frame[col], sort=False)
    ok = codes >= 0
    if not np.all(ok) and auto:
        return x, "rows"
    xs = pd.Series(x[ok]).groupby(codes[ok])
    lo, hi = xs.min().to_numpy(), xs.max().to_numpy()
    if np.any(lo != hi):
        if auto:
            return x, "rows"
        n_bad = int(np.count_nonzero(lo != hi))
        raise OptionError(
            f"the running variable varies within {n_bad:,} units of '{col}', so '{col}' is not the unit the score "
            "was assigned to; give the unit of assignment (or none)"
        )
    return lo.astype(float), f"units of '{col}'"


def _histogram(x: np.ndarray, cutoff: float) -> dict[str, Any]:
    """Density-scaled histogram with a bin edge at the cutoff (for the density plot)."""
    n = x.size
    k = int(np.clip(round(2 * n ** (1 / 3)), 5, 40))
    lo, hi = float(x.min()), float(x.max())
    width = max(cutoff - lo, hi - cutoff) / k
    left_edges = cutoff - width * np.arange(math.ceil((cutoff - lo) / width), 0, -1)
    right_edges = cutoff + width * np.arange(0, math.ceil((hi - cutoff) / width) + 1)
    edges = np.concatenate([left_edges, right_edges])
    if edges.size < 2:
        edges = np.array([lo, hi])
    counts, edges = np.histogram(x, bins=edges)
    dens = counts / (n * np.diff(edges))
    return {"edges": edges.tolist(), "density": dens.tolist(), "counts": counts.tolist()}


@dataclass(frozen=True)
class _Submitted:
    future: Future[Any]
    scores: np.ndarray
    unit: str


class DensityCheck(Check):
    """Discontinuity of the running variable's density at the cutoff."""

    name = "density_test"
    title = "Manipulation test (density of the running variable at the cutoff)"
    depends_on_outcome = False

    def submit(self, ctx: DesignContext) -> _Submitted:
        xs, level = _unit_scores(ctx.sample, ctx.assignment_unit)
        fut = ctx.runner.submit(density_test, xs, cutoff=ctx.cutoff, p=ctx.options.density_p,
                                bwselect=ctx.options.density_bwselect, fitselect=ctx.options.density_fitselect,
                                vce=ctx.options.density_vce, context="rddensity manipulation test")
        return _Submitted(fut, xs, level)

    def collect(self, ctx: OutcomeContext, pending: _Submitted) -> DiagnosticCheck:
        result: DensityTest | TaskFailure = pending.future.result()
        if isinstance(result, TaskFailure):
            return DiagnosticCheck(self.name, "not_run", f"the density test could not be computed: {result.message}")
        alpha, level, cutoff = ctx.alpha, pending.unit, ctx.cutoff
        verdict: Verdict = "flag" if result.p_value < alpha else "pass"
        evidence = (f"T = {format_number(result.statistic, 3)}, p = {format_p(result.p_value)} "
                    f"({'reject' if verdict == 'flag' else 'no evidence against'} continuity of the density at "
                    f"level {alpha}); {result.n[0]:,} / {result.n[1]:,} {level} below / above the cutoff, "
                    f"{result.n_effective[0]:,} / {result.n_effective[1]:,} within h = "
                    f"{format_number(result.h[0], 3)} / {format_number(result.h[1], 3)}")
        row = {"statistic": result.statistic, "p_value": result.p_value, "density_left": result.density[0],
               "density_right": result.density[1], "se_left": result.se[0], "se_right": result.se[1],
               "h_left": result.h[0], "h_right": result.h[1], "n_left": result.n[0], "n_right": result.n[1],
               "n_effective_left": result.n_effective[0], "n_effective_right": result.n_effective[1], "unit": level}
        details = {"test": result.to_dict(), "histogram": _histogram(pending.scores, cutoff), "unit": level,
                   "cutoff": cutoff}
        return DiagnosticCheck(self.name, verdict, evidence, (row,), details)

    def plot(self, record: DiagnosticCheck) -> Figure:
        from cteimpact.rd.plots import plot_density

        details = dict(record.details)
        return plot_density(details.get("histogram"), details.get("test"), cutoff=float(details.get("cutoff", 0.0)),
                            unit=str(details.get("unit", "rows")))

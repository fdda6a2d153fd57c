"""``attrition``: differential attrition, the RD jump at the cutoff in the share of rows whose outcome is
missing (at the estimate's bandwidths)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cteimpact.rd._parallel import TaskFailure
from cteimpact.rd.checks.base import (
    Check,
    DiagnosticCheck,
    OutcomeContext,
    Pending,
    SortedSample,
    Verdict,
    fit_row,
)
from cteimpact.results.text import format_number, format_p

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AttritionCheck"]


@dataclass(frozen=True)
class _Missing:
    """Rows with the outcome missing among all rows of the design, and the submitted fit of the missing share."""

    n_missing: int
    n: int
    sorted: SortedSample | None = None
    pending: Pending | None = None


class AttritionCheck(Check):
    """The jump in the share with the outcome missing; flagged when significant at ``alpha``."""

    name = "attrition"
    title = "Differential attrition at the cutoff"

    def submit(self, ctx: OutcomeContext) -> _Missing:
        missing = (~ctx.keep).astype(float)
        n_missing, n = int(missing.sum()), int(missing.size)
        if n_missing == 0:
            return _Missing(n_missing, n)
        s, c, reach = ctx.sample, ctx.cutoff, ctx.reach
        full = SortedSample.build(s.x, missing, None, None, s.cluster, s.weights)
        return _Missing(n_missing, n, full,
                        ctx.submit_fixed(self.name, "missing", c - reach[0], c + reach[1], c, ctx.h, ctx.b, src=full))

    def collect(self, ctx: OutcomeContext, pending: _Missing) -> DiagnosticCheck:
        n_miss, n_all, outcome = pending.n_missing, pending.n, ctx.outcome
        if pending.sorted is None or pending.pending is None:
            return DiagnosticCheck(
                self.name, "pass", f"no analysis row has '{outcome}' missing ({n_all:,} rows)",
                ({"overall_rate": 0.0, "rate_left": 0.0, "rate_right": 0.0, "jump": 0.0, "p_robust": math.nan},),
                {"overall_rate": 0.0, "differential_rate": 0.0})
        srt, c, h = pending.sorted, ctx.cutoff, ctx.h
        res = pending.pending.result()
        inl = (srt.x < c) & (srt.x >= c - h[0])
        inr = (srt.x >= c) & (srt.x <= c + h[1])
        rate_l = float(srt.y[inl].mean()) if inl.any() else math.nan
        rate_r = float(srt.y[inr].mean()) if inr.any() else math.nan
        within = inl | inr
        overall = float(srt.y[within].mean()) if within.any() else math.nan
        row = fit_row("quantity", "share with outcome missing", res, overall_rate=overall, rate_left=rate_l,
                      rate_right=rate_r, overall_rate_all=n_miss / n_all)
        if isinstance(res, TaskFailure):
            return DiagnosticCheck(self.name, "not_run", f"the attrition jump could not be estimated: {res.message}",
                                   (row,))
        verdict: Verdict = "flag" if res.p_value[2] < ctx.alpha else "pass"
        ev = (f"{n_miss:,} of {n_all:,} rows ({format_number(100 * n_miss / n_all, 1)}%) have '{outcome}' "
              f"missing; within the bandwidth {100 * rate_l:.1f}% below and "
              f"{100 * rate_r:.1f}% above the cutoff; RD jump in the missing share "
              f"{format_number(res.estimate)} (robust p = {format_p(res.p_value[2])})")
        return DiagnosticCheck(self.name, verdict, ev, (row,),
                               {"overall_rate": overall, "differential_rate": abs(rate_r - rate_l),
                                "jump": res.estimate, "p_robust": res.p_value[2]})

    def plot(self, record: DiagnosticCheck) -> Figure:
        from cteimpact.rd.plots import plot_attrition

        row = dict(record.rows[0]) if record.rows else {}
        return plot_attrition(float(row.get("rate_left", math.nan)), float(row.get("rate_right", math.nan)),
                              jump=float(row.get("estimate", 0.0)), p_value=float(row.get("p_robust", math.nan)),
                              title=f"{record.title} [{record.verdict}]")

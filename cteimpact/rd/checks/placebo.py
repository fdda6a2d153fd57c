"""``placebo_cutoffs``: RD estimates at false cutoffs, each using only the observations on one side of the true
cutoff, at the estimate's bandwidths; the verdict uses Holm-adjusted p-values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cteimpact.rd.checks.base import (
    Check,
    DiagnosticCheck,
    OutcomeContext,
    Pending,
    Verdict,
    add_holm,
    fit_row,
)
from cteimpact.rd.sample import format_value
from cteimpact.results.text import format_p

__all__ = ["PlaceboCutoffsCheck", "default_placebo_cutoffs"]


def default_placebo_cutoffs(x: np.ndarray, cutoff: float) -> tuple[float, ...]:
    """Two false cutoffs per side, at the terciles of each side's running variable."""
    out: list[float] = []
    for side in (x[x < cutoff], x[x >= cutoff]):
        uniq = np.unique(side)
        if uniq.size < 12:
            continue
        for qv in (1 / 3, 2 / 3):
            out.append(float(np.quantile(side, qv)))
    return tuple(sorted(set(out)))


class PlaceboCutoffsCheck(Check):
    """Estimates at false cutoffs (default two per side, at the terciles of each side)."""

    name = "placebo_cutoffs"
    title = "Placebo cutoffs"
    plot_axis = ("cutoff", "placebo cutoff")

    def submit(self, ctx: OutcomeContext) -> list[tuple[float, Pending]]:
        srt, c, h, b = ctx.sorted, ctx.cutoff, ctx.h, ctx.b
        cuts = ctx.options.placebo_cutoffs
        if cuts is None:
            cuts = default_placebo_cutoffs(srt.x, c)
        out = []
        for pc in cuts:
            if pc == c:
                continue
            left = pc < c
            side = 0 if left else 1
            lo_side, hi_side = (srt.x[0], np.nextafter(c, -np.inf)) if left else (c, srt.x[-1])
            r = ctx.reach[side]
            lo, hi = max(pc - r, lo_side), min(pc + r, hi_side)
            out.append((float(pc), ctx.submit_fixed(self.name, float(pc), lo, hi, float(pc), (h[side], h[side]),
                                                    (b[side], b[side]), drop_fuzzy=True)))
        return out

    def collect(self, ctx: OutcomeContext, pending: list[tuple[float, Pending]]) -> DiagnosticCheck:
        rows: list[dict[str, Any]] = [fit_row("cutoff", key, fut.result()) for key, fut in pending]
        add_holm(rows)
        ok = [r for r in rows if math.isfinite(r["p_robust"])]
        if not ok:
            return DiagnosticCheck(self.name, "not_run", "no placebo cutoff could be estimated", tuple(rows))
        rej = [r for r in ok if r["p_holm"] < ctx.alpha]
        verdict: Verdict = "flag" if rej else "pass"
        ev = (f"{len(ok)} placebo cutoffs at the estimate's bandwidths, one side of the true cutoff each; "
              f"smallest robust p = {format_p(min(r['p_robust'] for r in ok))}"
              + (f"; {len(rej)} significant at level {ctx.alpha} after Holm adjustment: "
                 + ", ".join(format_value(r['cutoff']) for r in rej) if rej else "; none significant after "
                 "Holm adjustment"))
        return DiagnosticCheck(self.name, verdict, ev, tuple(rows))

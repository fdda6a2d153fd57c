"""Sensitivity of the estimate to its specification: ``bandwidth_sensitivity`` (a grid of bandwidths around the
chosen one, the ratio ``h / b`` kept), ``polynomial_order`` (local polynomials of other orders) and ``donut``
(excluding observations closest to the cutoff). Polynomial-order and donut fits select their own bandwidths
unless ``h`` was fixed.

An alternative specification is flagged when its estimate and the main estimate each fall outside the other's
robust interval (mutually incompatible), or when it is significant with the opposite sign of a significant main
estimate. Alternative specifications (narrower bandwidths, donuts, higher orders) are noisier than the main fit,
so an alternative estimate outside the main interval alone is not treated as instability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cteimpact.rd._parallel import TaskFailure
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.checks.base import (
    Check,
    DiagnosticCheck,
    OutcomeContext,
    Pending,
    Verdict,
    fit_row,
    unestimated_row,
)
from cteimpact.results.text import format_number

__all__ = ["BandwidthSensitivityCheck", "DonutCheck", "PolynomialOrderCheck", "stability_verdict"]


def stability_verdict(rows: Sequence[Mapping[str, Any]], main: LocalPolynomialFit, alpha: float,
                      what: str) -> tuple[Verdict, str]:
    """The verdict and evidence of alternative specifications ``rows`` against the main fit (module docstring)."""
    lo, hi = main.ci[2]
    ok_rows = [r for r in rows if math.isfinite(r["estimate_bc"])]
    if not ok_rows:
        return "not_run", f"no {what} could be estimated"
    incompatible = [r for r in ok_rows if not (lo <= r["estimate_bc"] <= hi)
                    and not (r["ci_robust_lower"] <= main.estimate_bc <= r["ci_robust_upper"])]
    flips = []
    if main.p_value[2] < alpha:
        flips = [r for r in ok_rows if r["p_robust"] < alpha and np.sign(r["estimate_bc"]) != np.sign(main.estimate_bc)]
    ests = [r["estimate"] for r in ok_rows]
    span = f"estimates range from {format_number(min(ests))} to {format_number(max(ests))}"
    failed = len(rows) - len(ok_rows)
    tail = f"; {failed} could not be estimated" if failed else ""
    if incompatible or flips:
        parts = []
        if incompatible:
            parts.append(f"{len(incompatible)} of {len(ok_rows)} {what} and the main estimate lie outside each "
                         f"other's robust intervals (main [{format_number(lo)}, {format_number(hi)}])")
        if flips:
            parts.append(f"{len(flips)} are significant with the opposite sign")
        return "flag", "; ".join(parts) + f"; {span}{tail}"
    return "pass", (f"all {len(ok_rows)} {what} are compatible with the main estimate (each estimate inside the "
                    f"other's robust interval, no significant sign change); {span}{tail}")


class BandwidthSensitivityCheck(Check):
    """Estimates over a grid of bandwidths (multiples of the chosen ``h``, ``b`` scaled alike)."""

    name = "bandwidth_sensitivity"
    title = "Sensitivity to the bandwidth"
    plot_axis = ("multiplier", "bandwidth as a multiple of the chosen h")

    def submit(self, ctx: OutcomeContext) -> list[tuple[float, Pending]]:
        c, h, b = ctx.cutoff, ctx.h, ctx.b
        out = []
        for m in ctx.options.bandwidth_multipliers:
            if m == 1:
                continue
            hh = (h[0] * m, h[1] * m)
            bb = (b[0] * m, b[1] * m)
            out.append((float(m), ctx.submit_fixed(self.name, float(m), c - max(hh[0], bb[0]), c + max(hh[1], bb[1]),
                                                   c, hh, bb)))
        return out

    def collect(self, ctx: OutcomeContext, pending: list[tuple[float, Pending]]) -> DiagnosticCheck:
        fit = ctx.estimate
        rows = [fit_row("multiplier", key, fut.result()) for key, fut in pending]
        verdict, ev = stability_verdict(rows, fit, ctx.alpha, "alternative bandwidths")
        allrows = sorted([*rows, fit_row("multiplier", 1.0, fit)], key=lambda r: r["multiplier"])
        return DiagnosticCheck(self.name, verdict, ev, tuple(allrows), {"h": list(ctx.h), "b": list(ctx.b)})


class PolynomialOrderCheck(Check):
    """Estimates with local polynomials of other orders (``q = p + 1``)."""

    name = "polynomial_order"
    title = "Sensitivity to the polynomial order"
    plot_axis = ("p", "polynomial order p")

    def submit(self, ctx: OutcomeContext) -> list[tuple[int, Pending]]:
        return [(int(p), ctx.submit_own(self.name, int(p), None, p=int(p), q=int(p) + 1))
                for p in ctx.options.polynomial_orders if p != ctx.estimate.p]

    def collect(self, ctx: OutcomeContext, pending: list[tuple[int, Pending]]) -> DiagnosticCheck:
        fit = ctx.estimate
        rows = [fit_row("p", key, fut.result()) for key, fut in pending]
        verdict, ev = stability_verdict(rows, fit, ctx.alpha, "other polynomial orders")
        allrows = sorted([*rows, fit_row("p", fit.p, fit)], key=lambda r: r["p"])
        return DiagnosticCheck(self.name, verdict, ev, tuple(allrows))


def _donut_reason(share: float, at_cutoff: float) -> str:
    """Why the donut excluding the ``share`` of observations nearest the cutoff has radius 0."""
    pct = f"{100 * share:g}"
    return (f"{100 * at_cutoff:.2f}% of the observations have a score exactly at the cutoff: the {pct}% nearest it "
            f"all sit at distance 0, so the {pct}% donut's radius is 0 and it would remove nothing (a larger donut "
            "removes those at the cutoff)")


@dataclass
class _Donuts:
    """Submitted donut fits by share, their radii and actual excluded shares, and the shares not estimated."""

    fits: list[tuple[float, Pending]] = field(default_factory=list)
    radii: dict[float, float] = field(default_factory=dict)
    excluded: dict[float, float] = field(default_factory=dict)
    skipped: dict[float, str] = field(default_factory=dict)


class DonutCheck(Check):
    """Estimates excluding the given shares of observations nearest the cutoff."""

    name = "donut"
    title = "Sensitivity to observations nearest the cutoff (donut)"
    plot_axis = ("share_excluded", "share of observations nearest the cutoff excluded")

    def submit(self, ctx: OutcomeContext) -> _Donuts:
        out = _Donuts()
        dist = np.abs(ctx.sorted.x - ctx.cutoff)
        at_cutoff = float(np.mean(dist == 0)) if dist.size else 0.0
        for share in ctx.options.donut_shares:
            r = float(np.quantile(dist, share))
            if r <= 0:
                out.skipped[float(share)] = _donut_reason(float(share), at_cutoff)
                continue
            out.radii[float(share)] = r
            out.excluded[float(share)] = float(np.mean(dist < r))
            out.fits.append((float(share), ctx.submit_own(self.name, float(share), dist >= r)))
        return out

    def collect(self, ctx: OutcomeContext, pending: _Donuts) -> DiagnosticCheck:
        fit = ctx.estimate
        rows = []
        for key, fut in pending.fits:
            res = fut.result()
            rows.append(fit_row("share_excluded", key, res, radius=pending.radii[key],
                                share_excluded_actual=pending.excluded[key],
                                estimated=not isinstance(res, TaskFailure)))
        skipped = [unestimated_row("share_excluded", share, reason, radius=0.0, share_excluded_actual=0.0)
                   for share, reason in pending.skipped.items()]
        skipped_text = "; ".join(f"the {100 * share:g}% donut is not estimated: {reason}"
                                 for share, reason in pending.skipped.items())
        details = {"requested_shares": [float(s) for s in ctx.options.donut_shares],
                   "not_estimated": [{"share_excluded": share, "reason": reason}
                                     for share, reason in pending.skipped.items()]}
        main = fit_row("share_excluded", 0.0, fit, radius=0.0, share_excluded_actual=0.0, estimated=True)
        allrows = [main, *sorted([*rows, *skipped], key=lambda r: r["share_excluded"])]
        if not rows:
            return DiagnosticCheck(self.name, "not_run", "no donut could be estimated: " + skipped_text,
                                   tuple(allrows), details)
        verdict, ev = stability_verdict(rows, fit, ctx.alpha, "donut sizes")
        return DiagnosticCheck(self.name, verdict, ev + (f"; {skipped_text}" if skipped_text else ""),
                               tuple(allrows), details)

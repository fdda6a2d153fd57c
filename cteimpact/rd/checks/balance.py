"""``covariate_balance``: continuity of every baseline covariate at the cutoff: the RD "effect" on the covariate,
its robust p-value (Holm-adjusted across covariates) and the difference in standard-deviation units (Hedges' g, or
the Cox index for binary covariates, as the WWC measures baseline differences)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.rd._parallel import TaskFailure
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit, fit_rdrobust
from cteimpact.rd.checks.base import (
    Check,
    DiagnosticCheck,
    OutcomeContext,
    Pending,
    SortedSample,
    Verdict,
    add_holm,
    fit_row,
)
from cteimpact.results.text import format_number, format_p
from cteimpact.stats.effect_sizes import EQUIVALENCE_LIMIT, cox_index, pooled_sd_from_values, standardized_difference

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CovariateBalanceCheck"]

LARGE_DIFFERENCE = EQUIVALENCE_LIMIT
"""Standardised baseline difference (SD) above which the WWC does not accept adjustment: flagged."""


def _effect_size(values: np.ndarray, x: np.ndarray, cutoff: float, h: tuple[float, float], fit: LocalPolynomialFit
                 ) -> tuple[float, str, str]:
    """WWC-style standardized difference at the cutoff: Hedges' g (continuous) or the Cox index (binary), and the
    reason it is undefined (``""`` when defined).

    The difference is the covariate's RD jump (``limits`` right minus left). Hedges' g divides it by the pooled
    within-side standard deviation of the covariate among observations within the bandwidth and applies the
    small-sample factor ``omega = 1 - 3 / (4N - 9)``. The Cox index is
    :func:`cteimpact.stats.effect_sizes.cox_index` of the estimated share below the cutoff and the jump, with
    ``N`` the observations within the bandwidth: undefined (NaN, with the reason) when a share at the cutoff is
    estimated outside (0, 1).
    """
    left = (x < cutoff) & (x >= cutoff - h[0])
    right = (x >= cutoff) & (x <= cutoff + h[1])
    v0, v1 = values[left], values[right]
    n0, n1 = v0.size, v1.size
    n = n0 + n1
    uniq = np.unique(values)
    if uniq.size <= 2 and np.all(np.isin(uniq, (0.0, 1.0))):
        cox = cox_index(fit.limits[0], fit.limits[1] - fit.limits[0], n=n)
        return (math.nan if cox.value is None else cox.value), "cox_index", cox.reason or ""
    if n0 < 2 or n1 < 2:
        return math.nan, "hedges_g", "fewer than 2 observations on a side within the bandwidth"
    pooled = pooled_sd_from_values(v1, v0)
    if pooled == 0:
        return math.nan, "hedges_g", "the covariate does not vary within the bandwidth"
    return standardized_difference(fit.limits[1] - fit.limits[0], sd_pooled=pooled, n_total=n), "hedges_g", ""


@dataclass(frozen=True)
class _Covariate:
    """One baseline covariate's submitted fit, its non-missing values and their scores, and its missing count."""

    name: str
    pending: Pending
    values: np.ndarray
    x: np.ndarray
    n_missing: int


def _evidence(ok: list[dict[str, Any]], rej: list[dict[str, Any]], big: list[dict[str, Any]], alpha: float) -> str:
    worst = min(ok, key=lambda r: r["p_robust"])
    largest = max(ok, key=lambda r: abs(r["effect_size"]) if math.isfinite(r["effect_size"]) else -1)
    return (f"{len(ok)} covariates; smallest robust p = {format_p(worst['p_robust'])} "
            f"('{worst['covariate']}', Holm-adjusted {format_p(worst['p_holm'])}); largest "
            f"|difference| = {format_number(abs(largest['effect_size']), 3)} SD ('{largest['covariate']}')"
            + (f"; {len(rej)} reject at level {alpha} after Holm adjustment" if rej else "")
            + (f"; {len(big)} exceed 0.25 SD" if big else ""))


class CovariateBalanceCheck(Check):
    """The RD jump of every baseline covariate; flagged when one rejects after Holm adjustment or exceeds 0.25 SD.

    At the estimate's bandwidths (``balance_bandwidth="estimate"``, the analysis sample the estimate uses), the
    covariates without missing values are fitted together in one batch; ``"own"``: an MSE-optimal bandwidth per
    covariate.
    """

    name = "covariate_balance"
    title = "Continuity of baseline covariates at the cutoff"

    def submit(self, ctx: OutcomeContext) -> list[_Covariate]:
        srt, c, reach = ctx.sorted, ctx.cutoff, ctx.reach
        own = ctx.options.balance_bandwidth == "own"
        items: list[tuple[str, Pending | None, np.ndarray, np.ndarray, int]] = []
        batch: list[tuple[int, np.ndarray]] = []
        for col in ctx.baseline_covariates:
            if col not in ctx.sample.frame.columns:
                raise OptionError(f"baseline covariate '{col}' is not in the analysis data")
            vals = pd.to_numeric(ctx.sample.frame[col], errors="coerce").to_numpy(dtype=float)[ctx.keep][srt.order]
            ok = ~np.isnan(vals)
            n_missing = int((~ok).sum())
            cov_src = SortedSample(srt.x[ok], vals[ok], None, None, None if srt.cluster is None else srt.cluster[ok],
                                   None if srt.weights is None else srt.weights[ok], srt.order[ok])
            pending: Pending | None = None
            if own:
                arr = cov_src.arrays(slice(None))
                arr["fuzzy"] = None
                arr["covariates"] = None
                pending = Pending(ctx.runner.submit(
                    fit_rdrobust, arr.pop("y"), arr.pop("x"), cutoff=c, **arr, **ctx.base_kwargs,
                    bwselect=ctx.bwselect, context=f"covariate balance fit ({col})"))
            elif n_missing == 0 and ctx.fast_path():
                batch.append((len(items), vals))  # same rows and bandwidths: fitted together below
            else:
                pending = ctx.submit_fixed(self.name, col, c - reach[0], c + reach[1], c, ctx.h, ctx.b,
                                           drop_fuzzy=True, drop_covariates=True, src=cov_src)
            items.append((col, pending, vals[ok], srt.x[ok], n_missing))
        batched: dict[int, Pending] = {}
        if batch:
            fut = ctx.submit_fixed_batch([v for _, v in batch], c - reach[0], c + reach[1])
            batched = {pos: Pending(fut, i) for i, (pos, _) in enumerate(batch)}
        return [_Covariate(col, pending if pending is not None else batched[pos], values, x, n_missing)
                for pos, (col, pending, values, x, n_missing) in enumerate(items)]

    def collect(self, ctx: OutcomeContext, pending: list[_Covariate]) -> DiagnosticCheck:
        if not ctx.baseline_covariates:
            return DiagnosticCheck(self.name, "not_run", "no baseline covariates were given (baseline_covariates=...)")
        rows = []
        for cov in pending:
            res = cov.pending.result()
            es, measure, es_note = (math.nan, "", "")
            if not isinstance(res, TaskFailure):
                es, measure, es_note = _effect_size(cov.values, cov.x, ctx.cutoff, res.h, res)
            rows.append(fit_row("covariate", cov.name, res, effect_size=es, effect_size_measure=measure,
                                effect_size_note=es_note, n_missing=cov.n_missing))
        add_holm(rows)
        ok = [r for r in rows if math.isfinite(r["p_robust"])]
        big = [r for r in ok if math.isfinite(r["effect_size"]) and abs(r["effect_size"]) > LARGE_DIFFERENCE]
        rej = [r for r in ok if r["p_holm"] < ctx.alpha]
        verdict: Verdict = "not_run" if not ok else ("flag" if (rej or big) else "pass")
        ev = "no covariate could be estimated" if not ok else _evidence(ok, rej, big, ctx.alpha)
        return DiagnosticCheck(self.name, verdict, ev, tuple(rows), {"bandwidth": ctx.options.balance_bandwidth})

    def plot(self, record: DiagnosticCheck) -> Figure:
        from cteimpact.rd.plots import plot_balance

        return plot_balance(record.table, title=f"{record.title} [{record.verdict}]")

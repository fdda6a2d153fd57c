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
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from cteimpact.errors import OptionError
from cteimpact.rd._parallel import TaskFailure, TaskRunner
from cteimpact.rd.adapters.rddensity import DensityTest, density_test
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit, fit_rdrobust
from cteimpact.rd.fixed_bandwidth import fit_fixed_bandwidth, supported
from cteimpact.rd.sample import OutcomeSample, RDSample, format_value
from cteimpact.results.effect_sizes import cox_index, hedges_omega
from cteimpact.results.text import format_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from cteimpact.rd.standards import StandardsReview

__all__ = ["ALL_CHECKS", "CheckName", "DiagnosticCheck", "DiagnosticOptions", "RDDiagnostics", "Verdict",
           "holm_adjust", "run_diagnostics"]

CheckName = Literal["density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity",
                    "polynomial_order", "donut", "attrition"]
ALL_CHECKS: tuple[str, ...] = get_args(CheckName)
Verdict = Literal["pass", "flag", "not_run"]

_TITLES = {
    "density_test": "Manipulation test (density of the running variable at the cutoff)",
    "covariate_balance": "Continuity of baseline covariates at the cutoff",
    "placebo_cutoffs": "Placebo cutoffs",
    "bandwidth_sensitivity": "Sensitivity to the bandwidth",
    "polynomial_order": "Sensitivity to the polynomial order",
    "donut": "Sensitivity to observations nearest the cutoff (donut)",
    "attrition": "Differential attrition at the cutoff",
}


def holm_adjust(pvalues: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


@dataclass(frozen=True)
class DiagnosticOptions:
    """Which checks to run and how.

    Parameters
    ----------
    checks
        Names of the checks (default all).
    alpha
        Level of the pass/flag verdicts.
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
    """

    checks: tuple[str, ...] = ALL_CHECKS
    alpha: float = 0.05
    balance_bandwidth: Literal["estimate", "own"] = "estimate"
    placebo_cutoffs: tuple[float, ...] | None = None
    bandwidth_multipliers: tuple[float, ...] = (0.5, 0.75, 0.9, 1.1, 1.25, 1.5)
    polynomial_orders: tuple[int, ...] = (1, 2, 3)
    donut_shares: tuple[float, ...] = (0.01, 0.025, 0.05)
    density_p: int = 2

    def __post_init__(self) -> None:
        bad = [c for c in self.checks if c not in ALL_CHECKS]
        if bad:
            raise OptionError(f"unknown diagnostic check(s) {', '.join(bad)}; available: {', '.join(ALL_CHECKS)}")
        object.__setattr__(self, "checks", tuple(dict.fromkeys(self.checks)))
        if not 0 < self.alpha < 0.5:
            raise OptionError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.balance_bandwidth not in ("estimate", "own"):
            raise OptionError(f"balance_bandwidth must be 'estimate' or 'own', got {self.balance_bandwidth!r}")
        if any(not (m > 0) for m in self.bandwidth_multipliers):
            raise OptionError("bandwidth multipliers must be positive")
        if any(not (0 < s < 0.5) for s in self.donut_shares):
            raise OptionError("donut shares must be in (0, 0.5)")
        if any(not (isinstance(p, int) and 0 <= p <= 6) for p in self.polynomial_orders):
            raise OptionError("polynomial orders must be integers from 0 to 6")
        bad_cutoffs = [c for c in self.placebo_cutoffs or () if not math.isfinite(float(c))]
        if bad_cutoffs:
            raise OptionError(f"placebo cutoffs must be finite numbers; got {', '.join(map(str, bad_cutoffs))}")

    def to_dict(self) -> dict[str, Any]:
        return {"checks": list(self.checks), "alpha": self.alpha, "balance_bandwidth": self.balance_bandwidth,
                "placebo_cutoffs": None if self.placebo_cutoffs is None else list(self.placebo_cutoffs),
                "bandwidth_multipliers": list(self.bandwidth_multipliers),
                "polynomial_orders": list(self.polynomial_orders), "donut_shares": list(self.donut_shares),
                "density_p": self.density_p}


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
        return _TITLES.get(self.name, self.name)

    @property
    def table(self) -> pd.DataFrame:
        """The check's table (one row per test or specification)."""
        return pd.DataFrame([dict(r) for r in self.rows])

    def plot(self) -> Figure:
        """The check's figure (density plot, or estimates with their robust intervals)."""
        from cteimpact.rd.plots import plot_check

        return plot_check(self)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "verdict": self.verdict, "evidence": self.evidence,
                "table": [dict(r) for r in self.rows], "details": dict(self.details)}


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


# ---------------------------------------------------------------------------------------------------------------
# data windows


@dataclass(frozen=True)
class _Sorted:
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
              cluster: np.ndarray | None, weights: np.ndarray | None) -> _Sorted:
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


def _fit_row(label: str, value: Any, res: LocalPolynomialFit | TaskFailure, **extra: Any) -> dict[str, Any]:
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


def _unestimated_row(label: str, value: Any, reason: str, **extra: Any) -> dict[str, Any]:
    """The row of a requested specification that was not estimated: no number (counts ``None``: no fit, not zero
    students), ``estimated`` False and the reason in ``note``."""
    row: dict[str, Any] = {label: value, "estimate": math.nan, "estimate_bc": math.nan, "se_robust": math.nan,
                           "p_robust": math.nan, "ci_robust_lower": math.nan, "ci_robust_upper": math.nan,
                           "h_left": math.nan, "h_right": math.nan, "n_effective": None, "n_h_left": None,
                           "n_h_right": None, "note": reason}
    row.update(extra)
    row["estimated"] = False
    return row


def _donut_reason(share: float, at_cutoff: float) -> str:
    """Why the donut excluding the ``share`` of observations nearest the cutoff has radius 0."""
    pct = f"{100 * share:g}"
    return (f"{100 * at_cutoff:.2f}% of the observations have a score exactly at the cutoff: the {pct}% nearest it "
            f"all sit at distance 0, so the {pct}% donut's radius is 0 and it would remove nothing (a larger donut "
            "removes those at the cutoff)")


def _stability_verdict(rows: Sequence[Mapping[str, Any]], main: LocalPolynomialFit, alpha: float,
                       what: str) -> tuple[Verdict, str]:
    """Flag an alternative specification whose estimate and the main estimate each fall outside the other's robust
    interval (mutually incompatible), or that is significant with the opposite sign of a significant main estimate.

    Alternative specifications (narrower bandwidths, donuts, higher orders) are noisier than the main fit, so an
    alternative estimate outside the main interval alone is not treated as instability.
    """
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


def _effect_size(values: np.ndarray, x: np.ndarray, cutoff: float, h: tuple[float, float], fit: LocalPolynomialFit
                 ) -> tuple[float, str, str]:
    """WWC-style standardized difference at the cutoff: Hedges' g (continuous) or the Cox index (binary), and the
    reason it is undefined (``""`` when defined).

    The difference is the covariate's RD jump (``limits`` right minus left). Hedges' g divides it by the pooled
    within-side standard deviation of the covariate among observations within the bandwidth and applies the
    small-sample factor ``omega = 1 - 3 / (4N - 9)``. The Cox index is
    :func:`cteimpact.results.effect_sizes.cox_index` of the estimated share below the cutoff and the jump, with
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
    omega = hedges_omega(n)
    if n0 < 2 or n1 < 2 or omega is None:
        return math.nan, "hedges_g", "fewer than 2 observations on a side within the bandwidth"
    pooled = math.sqrt(((n0 - 1) * np.var(v0, ddof=1) + (n1 - 1) * np.var(v1, ddof=1)) / (n - 2))
    if pooled == 0:
        return math.nan, "hedges_g", "the covariate does not vary within the bandwidth"
    return omega * (fit.limits[1] - fit.limits[0]) / pooled, "hedges_g", ""


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


class _Item:
    """A submitted fit, or one column of a submitted batch of fits."""

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


# ---------------------------------------------------------------------------------------------------------------
# the suite


def submit_density(runner: TaskRunner, sample: RDSample, unit: str | None, options: DiagnosticOptions
                   ) -> tuple[Future[Any], np.ndarray, str]:
    """Start the density test (it does not depend on the outcome, so it can run beside the main fits)."""
    xs, level = _unit_scores(sample, unit)
    fut = runner.submit(density_test, xs, cutoff=sample.cutoff, p=options.density_p,
                        context="rddensity manipulation test")
    return fut, xs, level


def _density_check(result: DensityTest | TaskFailure, xs: np.ndarray, level: str, cutoff: float,
                   alpha: float) -> DiagnosticCheck:
    if isinstance(result, TaskFailure):
        return DiagnosticCheck("density_test", "not_run", f"the density test could not be computed: {result.message}")
    verdict: Verdict = "flag" if result.p_value < alpha else "pass"
    evidence = (f"T = {format_number(result.statistic, 3)}, p = {format_number(result.p_value)} "
                f"({'reject' if verdict == 'flag' else 'no evidence against'} continuity of the density at "
                f"level {alpha}); {result.n[0]:,} / {result.n[1]:,} {level} below / above the cutoff, "
                f"{result.n_effective[0]:,} / {result.n_effective[1]:,} within h = "
                f"{format_number(result.h[0], 3)} / {format_number(result.h[1], 3)}")
    row = {"statistic": result.statistic, "p_value": result.p_value, "density_left": result.density[0],
           "density_right": result.density[1], "se_left": result.se[0], "se_right": result.se[1],
           "h_left": result.h[0], "h_right": result.h[1], "n_left": result.n[0], "n_right": result.n[1],
           "n_effective_left": result.n_effective[0], "n_effective_right": result.n_effective[1], "unit": level}
    details = {"test": result.to_dict(), "histogram": _histogram(xs, cutoff), "unit": level, "cutoff": cutoff}
    return DiagnosticCheck("density_test", verdict, evidence, (row,), details)


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
    density: tuple[Future[Any], np.ndarray, str] | None = None,
    assignment_unit: str | None = None,
    fixed_bandwidth: bool = False,
) -> list[DiagnosticCheck]:
    """Run the requested checks for one outcome's estimate ``fit`` (see the module docstring).

    ``fit_kwargs`` are the rdrobust options of the estimate (kernel, p, q, vce...); ``fixed_bandwidth`` says the
    user fixed ``h`` (then polynomial-order and donut fits keep it instead of selecting their own).
    """
    c = sample.cutoff
    keep = osample.keep
    alpha = options.alpha
    base = {k: v for k, v in fit_kwargs.items() if k not in ("h", "b", "rho", "bwselect")}
    srt = _Sorted.build(sample.x[keep], osample.y[keep], None if sample.fuzzy is None else sample.fuzzy[keep],
                        None if sample.covariates is None else sample.covariates[keep],
                        None if sample.cluster is None else sample.cluster[keep],
                        None if sample.weights is None else sample.weights[keep])
    h, b = fit.h, fit.b
    reach = (max(h[0], b[0]), max(h[1], b[1]))
    futures: dict[str, list[tuple[Any, Any]]] = {}
    fast_kw = {k: base[k] for k in ("p", "q", "kernel", "vce", "nnmatch", "level") if k in base}

    def fixed(name: str, key: Any, lo: float, hi: float, cutoff: float, hh: tuple[float, float],
              bb: tuple[float, float], y: np.ndarray | None = None, drop_fuzzy: bool = False,
              drop_covariates: bool = False, src: _Sorted | None = None) -> None:
        s = srt if src is None else src
        sl = s.span(lo, hi)
        arr = s.arrays(sl, y)
        if drop_fuzzy:
            arr["fuzzy"] = None
        if drop_covariates:
            arr["covariates"] = None
        if supported(vce=base["vce"], fuzzy=arr["fuzzy"], covariates=arr["covariates"]):
            fut = runner.submit(_fast_one, arr["y"], arr["x"], cutoff=cutoff, h=hh, b=bb, cluster=arr["cluster"],
                                weights=arr["weights"], **fast_kw)
        else:
            fut = runner.submit(fit_rdrobust, arr.pop("y"), arr.pop("x"), cutoff=cutoff, h=hh, b=bb, **arr, **base,
                                context=f"{name} fit ({key})")
        futures.setdefault(name, []).append((key, _Item(fut)))

    checks = options.checks
    # --- covariate balance ------------------------------------------------------------------------------------
    balance_meta: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    if "covariate_balance" in checks and baseline_covariates:
        batch: list[tuple[str, np.ndarray]] = []
        for col in baseline_covariates:
            if col not in sample.frame.columns:
                raise OptionError(f"baseline covariate '{col}' is not in the analysis data")
            vals = pd.to_numeric(sample.frame[col], errors="coerce").to_numpy(dtype=float)[keep][srt.order]
            ok = ~np.isnan(vals)
            n_missing = int((~ok).sum())
            cov_src = _Sorted(srt.x[ok], vals[ok], None, None, None if srt.cluster is None else srt.cluster[ok],
                              None if srt.weights is None else srt.weights[ok], srt.order[ok])
            balance_meta[col] = (vals[ok], srt.x[ok], n_missing)
            if options.balance_bandwidth == "estimate" and n_missing == 0 and supported(vce=base["vce"]):
                batch.append((col, vals))  # same rows and bandwidths: fitted together below
            elif options.balance_bandwidth == "estimate":
                fixed("covariate_balance", col, c - reach[0], c + reach[1], c, h, b, drop_fuzzy=True,
                      drop_covariates=True, src=cov_src)
            else:
                arr = cov_src.arrays(slice(None))
                arr["fuzzy"] = None
                arr["covariates"] = None
                futures.setdefault("covariate_balance", []).append((col, _Item(runner.submit(
                    fit_rdrobust, arr.pop("y"), arr.pop("x"), cutoff=c, **arr, **base,
                    bwselect=fit_kwargs.get("bwselect", "mserd"), context=f"covariate balance fit ({col})"))))
        if batch:
            sl = srt.span(c - reach[0], c + reach[1])
            ys = np.column_stack([v[sl] for _, v in batch])
            fut = runner.submit(fit_fixed_bandwidth, ys, np.ascontiguousarray(srt.x[sl]), cutoff=c, h=h, b=b,
                                cluster=None if srt.cluster is None else np.ascontiguousarray(srt.cluster[sl]),
                                weights=None if srt.weights is None else np.ascontiguousarray(srt.weights[sl]),
                                **fast_kw)
            for i, (col, _) in enumerate(batch):
                futures.setdefault("covariate_balance", []).append((col, _Item(fut, i)))
            order = {col: i for i, col in enumerate(baseline_covariates)}
            futures["covariate_balance"].sort(key=lambda kv: order[kv[0]])
    # --- placebo cutoffs ----------------------------------------------------------------------------------------
    if "placebo_cutoffs" in checks:
        cuts = options.placebo_cutoffs
        if cuts is None:
            cuts = default_placebo_cutoffs(srt.x, c)
        for pc in cuts:
            if pc == c:
                continue
            left = pc < c
            side = 0 if left else 1
            lo_side, hi_side = (srt.x[0], np.nextafter(c, -np.inf)) if left else (c, srt.x[-1])
            r = reach[side]
            lo, hi = max(pc - r, lo_side), min(pc + r, hi_side)
            fixed("placebo_cutoffs", float(pc), lo, hi, float(pc), (h[side], h[side]), (b[side], b[side]),
                  drop_fuzzy=True)
    # --- bandwidth grid ----------------------------------------------------------------------------------------
    if "bandwidth_sensitivity" in checks:
        for m in options.bandwidth_multipliers:
            if m == 1:
                continue
            hh = (h[0] * m, h[1] * m)
            bb = (b[0] * m, b[1] * m)
            fixed("bandwidth_sensitivity", float(m), c - max(hh[0], bb[0]), c + max(hh[1], bb[1]), c, hh, bb)
    # --- attrition ---------------------------------------------------------------------------------------------
    attr_info: dict[str, Any] = {}
    if "attrition" in checks:
        missing = (~keep).astype(float)
        attr_info["n_missing"] = int(missing.sum())
        attr_info["n"] = int(missing.size)
        if attr_info["n_missing"] > 0:
            full = _Sorted.build(sample.x, missing, None, None, sample.cluster, sample.weights)
            fixed("attrition", "missing", c - reach[0], c + reach[1], c, h, b, src=full)
            attr_info["sorted"] = full
    # --- polynomial order and donut (own bandwidths unless h was fixed) --------------------------------------------
    def own_fit(name: str, key: Any, mask: np.ndarray | None, **over: Any) -> None:
        sl = slice(None) if mask is None else mask
        arr = srt.arrays(sl)
        kw = dict(base)
        kw.update(over)
        if fixed_bandwidth:
            kw.update(h=h, b=b)
        else:
            kw["bwselect"] = fit_kwargs.get("bwselect", "mserd")
        futures.setdefault(name, []).append((key, _Item(runner.submit(
            fit_rdrobust, arr.pop("y"), arr.pop("x"), cutoff=c, **arr, **kw, context=f"{name} fit ({key})"))))

    if "polynomial_order" in checks:
        for p in options.polynomial_orders:
            if p == fit.p:
                continue
            own_fit("polynomial_order", int(p), None, p=int(p), q=int(p) + 1)
    donut_radii: dict[float, float] = {}
    donut_excluded: dict[float, float] = {}
    donut_skipped: dict[float, str] = {}
    if "donut" in checks:
        dist = np.abs(srt.x - c)
        at_cutoff = float(np.mean(dist == 0)) if dist.size else 0.0
        for share in options.donut_shares:
            r = float(np.quantile(dist, share))
            if r <= 0:
                donut_skipped[float(share)] = _donut_reason(float(share), at_cutoff)
                continue
            donut_radii[float(share)] = r
            donut_excluded[float(share)] = float(np.mean(dist < r))
            own_fit("donut", float(share), dist >= r)

    # --- collect -----------------------------------------------------------------------------------------------
    results: list[DiagnosticCheck] = []
    if "density_test" in checks:
        if density is None:
            density = submit_density(runner, sample, assignment_unit, options)
        fut, xs, level = density
        results.append(_density_check(fut.result(), xs, level, c, alpha))
    if "covariate_balance" in checks:
        if not baseline_covariates:
            results.append(DiagnosticCheck("covariate_balance", "not_run",
                                           "no baseline covariates were given (baseline_covariates=...)"))
        else:
            rows = []
            for col, fut in futures.get("covariate_balance", []):
                res = fut.result()
                vals, xv, n_missing = balance_meta[col]
                es, measure, es_note = (math.nan, "", "")
                if not isinstance(res, TaskFailure):
                    es, measure, es_note = _effect_size(vals, xv, c, res.h, res)
                rows.append(_fit_row("covariate", col, res, effect_size=es, effect_size_measure=measure,
                                     effect_size_note=es_note, n_missing=n_missing))
            adj = holm_adjust([r["p_robust"] for r in rows])
            for row_, padj in zip(rows, adj, strict=True):
                row_["p_holm"] = float(padj)
            ok = [r for r in rows if math.isfinite(r["p_robust"])]
            big = [r for r in ok if math.isfinite(r["effect_size"]) and abs(r["effect_size"]) > 0.25]
            rej = [r for r in ok if r["p_holm"] < alpha]
            if not ok:
                verdict: Verdict = "not_run"
                ev = "no covariate could be estimated"
            else:
                verdict = "flag" if (rej or big) else "pass"
                worst = min(ok, key=lambda r: r["p_robust"])
                largest = max(ok, key=lambda r: abs(r["effect_size"]) if math.isfinite(r["effect_size"]) else -1)
                ev = (f"{len(ok)} covariates; smallest robust p = {format_number(worst['p_robust'])} "
                      f"('{worst['covariate']}', Holm-adjusted {format_number(worst['p_holm'])}); largest "
                      f"|difference| = {format_number(abs(largest['effect_size']), 3)} SD ('{largest['covariate']}')"
                      + (f"; {len(rej)} reject at level {alpha} after Holm adjustment" if rej else "")
                      + (f"; {len(big)} exceed 0.25 SD" if big else ""))
            results.append(DiagnosticCheck("covariate_balance", verdict, ev, tuple(rows),
                                           {"bandwidth": options.balance_bandwidth}))
    if "placebo_cutoffs" in checks:
        rows = [_fit_row("cutoff", key, fut.result()) for key, fut in futures.get("placebo_cutoffs", [])]
        adj = holm_adjust([r["p_robust"] for r in rows])
        for row_, padj in zip(rows, adj, strict=True):
            row_["p_holm"] = float(padj)
        ok = [r for r in rows if math.isfinite(r["p_robust"])]
        if not ok:
            results.append(DiagnosticCheck("placebo_cutoffs", "not_run", "no placebo cutoff could be estimated",
                                           tuple(rows)))
        else:
            rej = [r for r in ok if r["p_holm"] < alpha]
            verdict = "flag" if rej else "pass"
            ev = (f"{len(ok)} placebo cutoffs at the estimate's bandwidths, one side of the true cutoff each; "
                  f"smallest robust p = {format_number(min(r['p_robust'] for r in ok))}"
                  + (f"; {len(rej)} significant at level {alpha} after Holm adjustment: "
                     + ", ".join(format_value(r['cutoff']) for r in rej) if rej else "; none significant after "
                     "Holm adjustment"))
            results.append(DiagnosticCheck("placebo_cutoffs", verdict, ev, tuple(rows)))
    main_row = _fit_row("multiplier", 1.0, fit)
    if "bandwidth_sensitivity" in checks:
        rows = [_fit_row("multiplier", key, fut.result()) for key, fut in futures.get("bandwidth_sensitivity", [])]
        verdict, ev = _stability_verdict(rows, fit, alpha, "alternative bandwidths")
        allrows = sorted([*rows, main_row], key=lambda r: r["multiplier"])
        results.append(DiagnosticCheck("bandwidth_sensitivity", verdict, ev, tuple(allrows),
                                       {"h": list(h), "b": list(b)}))
    if "polynomial_order" in checks:
        rows = [_fit_row("p", key, fut.result()) for key, fut in futures.get("polynomial_order", [])]
        verdict, ev = _stability_verdict(rows, fit, alpha, "other polynomial orders")
        allrows = sorted([*rows, _fit_row("p", fit.p, fit)], key=lambda r: r["p"])
        results.append(DiagnosticCheck("polynomial_order", verdict, ev, tuple(allrows)))
    if "donut" in checks:
        rows = []
        for key, fut in futures.get("donut", []):
            res = fut.result()
            rows.append(_fit_row("share_excluded", key, res, radius=donut_radii[key],
                                 share_excluded_actual=donut_excluded[key],
                                 estimated=not isinstance(res, TaskFailure)))
        skipped = [_unestimated_row("share_excluded", share, reason, radius=0.0, share_excluded_actual=0.0)
                   for share, reason in donut_skipped.items()]
        skipped_text = "; ".join(f"the {100 * share:g}% donut is not estimated: {reason}"
                                 for share, reason in donut_skipped.items())
        details = {"requested_shares": [float(s) for s in options.donut_shares],
                   "not_estimated": [{"share_excluded": share, "reason": reason}
                                     for share, reason in donut_skipped.items()]}
        main = _fit_row("share_excluded", 0.0, fit, radius=0.0, share_excluded_actual=0.0, estimated=True)
        allrows = [main, *sorted([*rows, *skipped], key=lambda r: r["share_excluded"])]
        if not rows:
            results.append(DiagnosticCheck("donut", "not_run", "no donut could be estimated: " + skipped_text,
                                           tuple(allrows), details))
        else:
            verdict, ev = _stability_verdict(rows, fit, alpha, "donut sizes")
            results.append(DiagnosticCheck("donut", verdict, ev + (f"; {skipped_text}" if skipped_text else ""),
                                           tuple(allrows), details))
    if "attrition" in checks:
        n_miss, n_all = attr_info["n_missing"], attr_info["n"]
        if n_miss == 0:
            results.append(DiagnosticCheck(
                "attrition", "pass", f"no analysis row has '{outcome}' missing ({n_all:,} rows)",
                ({"overall_rate": 0.0, "rate_left": 0.0, "rate_right": 0.0, "jump": 0.0, "p_robust": math.nan},),
                {"overall_rate": 0.0, "differential_rate": 0.0}))
        else:
            miss_sorted: _Sorted = attr_info["sorted"]
            res = futures["attrition"][0][1].result()
            inl = (miss_sorted.x < c) & (miss_sorted.x >= c - h[0])
            inr = (miss_sorted.x >= c) & (miss_sorted.x <= c + h[1])
            rate_l = float(miss_sorted.y[inl].mean()) if inl.any() else math.nan
            rate_r = float(miss_sorted.y[inr].mean()) if inr.any() else math.nan
            within = inl | inr
            overall = float(miss_sorted.y[within].mean()) if within.any() else math.nan
            row = _fit_row("quantity", "share with outcome missing", res, overall_rate=overall, rate_left=rate_l,
                           rate_right=rate_r, overall_rate_all=n_miss / n_all)
            if isinstance(res, TaskFailure):
                results.append(DiagnosticCheck("attrition", "not_run",
                                               f"the attrition jump could not be estimated: {res.message}", (row,)))
            else:
                verdict = "flag" if res.p_value[2] < alpha else "pass"
                ev = (f"{n_miss:,} of {n_all:,} rows ({format_number(100 * n_miss / n_all, 1)}%) have '{outcome}' "
                      f"missing; within the bandwidth {format_number(100 * rate_l, 1)}% below and "
                      f"{format_number(100 * rate_r, 1)}% above the cutoff; RD jump in the missing share "
                      f"{format_number(res.estimate)} (robust p = {format_number(res.p_value[2])})")
                results.append(DiagnosticCheck("attrition", verdict, ev, (row,),
                                               {"overall_rate": overall, "differential_rate": abs(rate_r - rate_l),
                                                "jump": res.estimate, "p_robust": res.p_value[2]}))
    order = {n: i for i, n in enumerate(ALL_CHECKS)}
    results.sort(key=lambda ch: order[ch.name])
    return results


def stats_p_from_z(z: float) -> float:
    """Two-sided normal p-value."""
    return float(2 * stats.norm.sf(abs(z)))

"""``cteimpact rd DATA.duckdb --window-pull``: a regression discontinuity at given bandwidths from the rows within them.

With the bandwidths given (``--h``, and ``--b`` or ``--rho``), rdrobust reads, with a positive weight, only the rows
within ``max(h, b)`` of the cutoff on each side (:mod:`cteimpact.rd.window`). The window pull runs the sample
restrictions (``--where``), the exclusions of rows missing a needed value and ``--donut`` in the engine, each counted
there for the sample flow; counts in the engine, for each outcome, what the fits read from the whole sample (rows and
distinct scores on each side, the running variable's reach, the outcome's extremes; by cutoff too with
``--cutoff-column``); pulls the rows within the window, at most ``--max-rows-pulled``, with only the columns used;
and fits each outcome with rdrobust (the in-memory path's adapter) on them. The fit's ``n`` (rows on each side),
its distinct-score counts and rdrobust's mass-points note are then the engine's whole-sample numbers.

The published JSON object has the in-memory path's keys for each outcome (:mod:`cteimpact.cli.rd`) with the same
numbers, sample flow and notes; ``results`` is ``null`` (the full results record holds binned means and descriptive
statistics over the whole sample, which the window does not hold), and ``engine`` says how the rows were obtained:
``mode`` ``"window"``, the ``window`` (cutoff, reach on each side, bounds on the running variable), ``rows_pulled``.
Options whose computation reads rows outside the window are refused (:func:`window_blockers`), and a bandwidth
selected from the data cannot use a window (rdrobust's selector reads each side's whole range).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from cteimpact.cli.rd_engine import EngineRD
from cteimpact.errors import CteImpactError, DesignError
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.options import RDOptions
from cteimpact.rd.window import SideCounts, Window, side_counts, window_for

__all__ = ["run_rd_window", "window_blockers", "window_rows"]

_MASS_LINES = ("Mass points detected in the running variable.", "Try using option masspoints=adjust.")
"""What rdrobust prints when more than a fifth of a side's rows repeat a score (the second with masspoints=check)."""


def window_blockers(*, covariates: Sequence[str] | None, weights: str | None, subgroups: Sequence[str] | None,
                    baseline_covariates: Sequence[str] | None, assignment_unit: str | None, diagnostics: bool,
                    local_randomization: bool, power_tau: float | None, want_mde: bool, plot: bool,
                    options: RDOptions) -> list[tuple[str, str]]:
    """The options given that read rows outside the bandwidths' window, each as (option, why); empty when the fits
    can run on the window's rows."""
    rows = [
        (options.h is None, f"--bwselect {options.bwselect} (no --h)", "a bandwidth selected from the data: "
         "rdrobust's selector fits a global polynomial over each side's whole range"),
        (bool(covariates), "--covariates", "rdrobust's collinearity check of the covariates reads every row"),
        (weights is not None, "--weights", "weighted fits check the weights of every row"),
        (bool(subgroups), "--subgroups", "subgroup fits"),
        (bool(baseline_covariates), "--baseline-covariates", "covariate continuity"),
        (assignment_unit is not None, "--assignment-unit", "the density test per assignment unit"),
        (diagnostics, "--diagnostics", "the diagnostic checks re-estimate on every row"),
        (local_randomization, "--local-randomization", "randomisation inference permutes the rows"),
        (power_tau is not None, "--power-tau", "rdpower runs on the rows"),
        (want_mde, "--mde", "rdmde runs on the rows"),
        (plot, "--plot", "the binned means of the RD plot cover the whole range"),
        (options.honest, "--honest", "the bias-aware interval (rdhonest) reads every row"),
    ]
    return [(option, why) for given, option, why in rows if given]


def window_rows(source: Any, *, running: str, cutoff: float | None, cutoff_column: str | None,
                where: Sequence[str], options: RDOptions, donut: float = 0.0) -> tuple[Window, Any, int]:
    """The window of ``options``' given bandwidths, the engine's expression of the rows within it (after
    ``where`` and ``donut``) and their number, counted by the engine."""
    c = 0.0 if cutoff_column is not None else float(cutoff if cutoff is not None else 0.0)
    window = window_for(options, c)
    if window is None:
        raise DesignError("the window pull needs given bandwidths (--h): a bandwidth selected from the data reads "
                          "each side's whole range")
    source.require_columns({"running variable": running, **({"cutoff": cutoff_column} if cutoff_column else {})})
    source.require_numeric([col for col in (running, cutoff_column) if col is not None],
                           why="regression discontinuity")
    table, _ = source.restrict(list(where))
    x = table[running].cast("float64")
    if cutoff_column is not None:
        x = x - table[cutoff_column].cast("float64")
    keep = window.keep(x)
    if donut > 0:
        keep = keep & ((x - c).abs() >= donut)
    inside = table.filter(keep)
    return window, inside, source.count_rows(inside)


def run_rd_window(source: Any, *, outcomes: Sequence[str], running: str, cutoff: float | None,
                  cutoff_column: str | None, cluster: str | None, missing_cluster: str, where: Sequence[str],
                  options: RDOptions, fuzzy: str | None, donut: float, max_rows: int
                  ) -> tuple[EngineRD, Window, int]:
    """Each outcome's fit from the window's rows, with the whole sample's counts from the engine.

    Returns
    -------
    (EngineRD, Window, int)
        The fits (``cells`` and ``rows_fetched`` 0: no score cell), the window and the rows pulled.

    Raises
    ------
    PullLimitError
        The window holds more than ``max_rows`` rows.
    DesignError, DataValidationError
        As the in-memory path raises them, checked on the engine's whole-sample counts.
    """
    from cteimpact.rd.sufficient.query import analysis_table

    c = 0.0 if cutoff_column is not None else float(cutoff if cutoff is not None else 0.0)
    label = running if cutoff_column is None else f"{running} - {cutoff_column}"
    kw = options.rdrobust_kwargs(clustered=cluster is not None)
    # the whole sample of each outcome, in the engine: its flow and what the fits read from it
    counts: dict[str, SideCounts] = {}
    by_cutoff: dict[str, dict[float, SideCounts]] = {}
    flows = {}
    for k, outcome in enumerate(outcomes):
        rows = analysis_table(source, score=running, outcome=outcome, cluster=cluster, cutoff_column=cutoff_column,
                              treatment=fuzzy, where=where, missing_cluster=missing_cluster,  # type: ignore[arg-type]
                              cutoff=c, donut=donut)
        y = rows.table[outcome].cast("float64")
        counts[outcome] = side_counts(source, rows.table, rows.x, y, c)
        if cutoff_column is not None:
            by_cutoff[outcome] = side_counts(source, rows.table, rows.table[running].cast("float64"), y, c,
                                             by=rows.table[cutoff_column].cast("float64"),
                                             what="the rows and distinct scores about each cutoff")
        flows[outcome] = rows.flow
        if k == 0:  # the design's checks, on its rows before any outcome's missing values
            _check_design(source, rows, label=label, running=running, cutoff_column=cutoff_column, cutoff=c,
                          donut=donut, fuzzy=fuzzy)
    for outcome in outcomes:  # then each outcome's, as in memory, before any fit
        _check_outcome(outcome, counts[outcome], flows[outcome], c)
    window, inside, n_inside = window_rows(source, running=running, cutoff=cutoff, cutoff_column=cutoff_column,
                                           where=where, options=options, donut=donut)
    columns = [col for col in (running, cutoff_column, fuzzy, cluster, *outcomes) if col is not None]
    frame = source.pull(columns, table=inside, max_rows=max_rows, rows=n_inside,
                        why=f"regression discontinuity: the rows within the bandwidths ({_bounds_text(window, label)})")
    fits: dict[str, LocalPolynomialFit] = {}
    reduced: dict[str, LocalPolynomialFit] = {}
    notes: list[str] = []
    cutoff_fits: dict[str, list[tuple[str, float, LocalPolynomialFit]]] = {}
    cutoff_failed: dict[str, list[str]] = {}
    for outcome in outcomes:
        rows_o = _outcome_rows(frame, outcome=outcome, running=running, cutoff_column=cutoff_column, fuzzy=fuzzy,
                               cluster=cluster)
        whole = counts[outcome]
        from cteimpact.rd.honest import check_support_counts

        check_support_counts(outcome, whole.distinct, whole.n, label)
        fit = _fit(rows_o, x=rows_o["x"].to_numpy(), cutoff=c, whole=whole, kw=kw, options=options,
                   context=f"rdrobust on outcome '{outcome}'")
        fits[outcome] = fit
        notes.extend(f"{outcome}: {n}" for n in fit.notes)
        notes.extend(_few_clusters(outcome, fit))
        if fuzzy is not None:
            reduced[outcome] = _fit(rows_o, x=rows_o["x"].to_numpy(), cutoff=c, whole=whole,
                                    kw={**kw, "h": fit.h, "b": fit.b, "rho": None}, options=options, sharp=True,
                                    context=f"reduced form of outcome '{outcome}'")
        from cteimpact.rd.honest import few_values_note

        note = few_values_note(outcome, whole.distinct, label)
        if note is not None:
            notes.append(note)
        if cutoff_column is not None:
            cutoff_fits[outcome], cutoff_failed[outcome] = _cutoff_fits(
                outcome, rows_o, by_cutoff[outcome], kw=kw, options=options, notes=notes)
    run = EngineRD(fits=fits, reduced_forms=reduced, flows=flows, notes=tuple(dict.fromkeys(notes)),
                   rows_fetched=0, cells=0, cutoff_fits=cutoff_fits, cutoff_failed=cutoff_failed)
    return run, window, len(frame)


def _bounds_text(window: Window, label: str) -> str:
    lo, hi = window.bounds
    return f"{lo:g} <= {label} <= {hi:g}"


def _check_design(source: Any, rows: Any, *, label: str, running: str, cutoff_column: str | None, cutoff: float,
                  donut: float, fuzzy: str | None) -> None:
    """The in-memory path's refusals of the design (:func:`cteimpact.rd.sample.check_design_counts`, the running
    variable's scale), on the engine's counts of its analysis rows."""
    from cteimpact.rd.estimator import check_reach
    from cteimpact.rd.sample import check_design_counts
    from cteimpact.rd.window import design_counts

    treatment = None if fuzzy is None else rows.design[fuzzy].cast("float64")
    x = rows.design[running].cast("float64")
    if cutoff_column is not None:
        x = x - rows.design[cutoff_column].cast("float64")
    n, extremes, below, reach, take_up = design_counts(source, rows.design, x, cutoff, treatment=treatment)
    check_design_counts(n, extremes, below, cutoff, running=running, cutoff_column=cutoff_column, donut=donut,
                        fuzzy=fuzzy, take_up=take_up)
    check_reach(reach, label)


def _check_outcome(outcome: str, whole: SideCounts, flow: Any, cutoff: float) -> None:
    """The in-memory path's refusals of an outcome before any fit, on the engine's counts of its analysis rows."""
    from cteimpact.limits import refuse_magnitude
    from cteimpact.rd.estimator import constant_sides_text
    from cteimpact.rd.sample import format_value

    below, above = whole.n
    if below == 0 or above == 0:
        side = "below" if below == 0 else "at or above"
        missing = flow.steps[-1].excluded if flow.steps else 0
        raise DesignError(f"outcome '{outcome}' has no non-missing value {side} the cutoff {format_value(cutoff)} "
                          f"({below:,} below, {above:,} at or above after excluding {missing:,} rows with "
                          f"'{outcome}' missing)")
    refuse_magnitude(whole.outcome_magnitude, role="outcome", column=outcome)
    constant = constant_sides_text(*whole.outcome_range)
    if constant is not None:
        raise DesignError(f"outcome '{outcome}' is constant on both sides of the cutoff ({constant}); nothing to "
                          "estimate")


def _outcome_rows(frame: pd.DataFrame, *, outcome: str, running: str, cutoff_column: str | None, fuzzy: str | None,
                  cluster: str | None) -> pd.DataFrame:
    """The pulled rows of one outcome's analysis sample: the running variable ``x`` (normalised by the cutoff
    column), the raw score ``raw`` and cutoff ``cut``, ``y``, ``t`` and the cluster codes ``g``; rows missing one of
    them left out (the engine counted them)."""
    out = pd.DataFrame({"raw": pd.to_numeric(frame[running], errors="coerce").astype(float)})
    out["cut"] = 0.0 if cutoff_column is None else pd.to_numeric(frame[cutoff_column]).astype(float)
    out["x"] = out["raw"] - out["cut"] if cutoff_column is not None else out["raw"]
    out["y"] = pd.to_numeric(frame[outcome].astype("float64"), errors="coerce")
    keep = out[["x", "y"]].notna().all(axis=1).to_numpy(copy=True)
    if fuzzy is not None:
        out["t"] = pd.to_numeric(frame[fuzzy].astype("float64"), errors="coerce")
        keep &= out["t"].notna().to_numpy()
    if cluster is not None:
        known = frame[cluster].notna().to_numpy()
        keep &= known
        codes, _ = pd.factorize(frame[cluster], sort=False)
        out["g"] = codes.astype(np.int64)
    return out[keep].reset_index(drop=True)


def _fit(rows: pd.DataFrame, *, x: np.ndarray, cutoff: float, whole: SideCounts, kw: dict[str, Any],
         options: RDOptions, context: str, sharp: bool = False) -> LocalPolynomialFit:
    """rdrobust on the window's rows; ``n``, the distinct-score counts and the mass-points note of the whole
    sample (:data:`_MASS_LINES`, printed when more than a fifth of a side's rows repeat a score)."""
    from cteimpact.rd.adapters.rdrobust import fit_rdrobust

    _check_sides(x, cutoff, whole, q=options.q_effective, context=context)
    fit = fit_rdrobust(rows["y"].to_numpy(), x, cutoff=cutoff,
                       fuzzy=None if sharp or "t" not in rows else rows["t"].to_numpy(),
                       cluster=rows["g"].to_numpy() if "g" in rows else None, **kw, context=context)
    checked = options.masspoints in ("check", "adjust")
    distinct = whole.distinct if checked or options.bwcheck is not None else whole.n
    notes = [n for n in fit.notes if n not in _MASS_LINES]
    if checked and max(1 - m / n for m, n in zip(whole.distinct, whole.n, strict=True)) >= 0.2:
        notes = [_MASS_LINES[0], *([_MASS_LINES[1]] if options.masspoints == "check" else []), *notes]
    return replace(fit, n=whole.n, n_unique=distinct, notes=tuple(notes))


def _check_sides(x: np.ndarray, cutoff: float, whole: SideCounts, *, q: int, context: str) -> None:
    """rdrobust's checks of the distinct scores on each side, as it makes them on the whole sample: at least ``q + 1``
    a side in the whole sample (from the engine's counts), then at least ``q + 1`` a side with a positive weight in
    the bias fit. A side of the window with fewer than ``q + 1`` distinct scores (or none) fails the second check on
    the whole sample too (the window holds every row with a positive weight), so it is raised here with rdrobust's
    words rather than left to rdrobust on the window, which would find the cutoff outside the window's range."""
    from cteimpact.rd.adapters._capture import DESIGN_RULES

    message = None
    m_l, m_r = whole.distinct
    if min(m_l, m_r) < q + 1:
        message = ("Not enough distinct running-variable values on the " + ("left" if m_l < q + 1 else "right")
                   + f" side of the cutoff ({min(m_l, m_r)}) to fit a polynomial of order q = {q}.")
    elif min(np.unique(x[x < cutoff]).size, np.unique(x[x >= cutoff]).size) < q + 1:
        message = ("Not enough distinct running-variable values with positive weight to fit the requested "
                   "polynomials on each side of the cutoff.")
    if message is not None:
        rule = next(r for r in DESIGN_RULES if re.search(r.pattern, message, flags=re.IGNORECASE))
        raise rule.error(rule.message.format(msg=message, context=context))


def _few_clusters(outcome: str, fit: LocalPolynomialFit) -> list[str]:
    """The in-memory path's warning and note on few clusters within the bandwidth with cr1."""
    import warnings

    from cteimpact.errors import SmallSampleWarning
    from cteimpact.rd.estimator import FEW_CLUSTERS_CR1

    if fit.vce == "cr1" and fit.n_clusters_side is not None and min(fit.n_clusters_side) < FEW_CLUSTERS_CR1:
        msg = (f"outcome '{outcome}': only {fit.n_clusters_side[0]} / {fit.n_clusters_side[1]} clusters within the "
               f"bandwidth below / above the cutoff; cr1 robust intervals tend to under-cover with fewer than "
               f"{FEW_CLUSTERS_CR1} a side (cteimpact's Monte Carlo: 88% for 95% at about 30 a side); consider "
               "vce='cr3'")
        warnings.warn(msg, SmallSampleWarning, stacklevel=3)
        return [msg]
    return []


def _cutoff_fits(outcome: str, rows: pd.DataFrame, whole: dict[float, SideCounts], *, kw: dict[str, Any],
                 options: RDOptions, notes: list[str]) -> tuple[list[tuple[str, float, LocalPolynomialFit]], list[str]]:
    """Each cutoff's fit on the raw score from the window's rows of that cutoff (the cutoffs are the whole
    sample's, counted by the engine), as in memory: at most ``MAX_CUTOFFS`` and only with two or more; a cutoff
    whose fit fails is noted and left out."""
    from cteimpact.rd.estimator import MAX_CUTOFFS
    from cteimpact.rd.sample import format_value

    if len(whole) > MAX_CUTOFFS:
        notes.append(f"{outcome}: {len(whole)} distinct cutoffs; only the pooled (normalised) estimate is reported")
        return [], []
    if len(whole) < 2:
        return [], []
    fits: list[tuple[str, float, LocalPolynomialFit]] = []
    failed: list[str] = []
    for cut in sorted(whole):
        label = f"{outcome}[cutoff={format_value(cut)}]"
        part = rows[rows["cut"] == cut]
        try:
            fit = _fit(part, x=part["raw"].to_numpy(), cutoff=cut, whole=whole[cut], kw=kw, options=options,
                       context=f"rdrobust on outcome '{outcome}' at cutoff {format_value(cut)}")
        except CteImpactError as exc:
            notes.append(f"{label} not estimated: {exc}")
            failed.append(label)
            continue
        fits.append((label, cut, fit))
    return fits, failed

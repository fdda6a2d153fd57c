"""``cteimpact rd DATA.duckdb --in-engine``: a sharp or fuzzy regression discontinuity computed where the data live,
no row pulled.

With a DuckDB database as ``DATA``, ``cteimpact rd`` either pulls the columns it uses and runs the in-memory estimator
(``--pull``), or computes each outcome's local polynomial fit from score cells (:mod:`cteimpact.rd.sufficient`):
the sample restrictions (``--where``) and the exclusions of rows missing the running variable, the cutoff, the
cluster or the outcome run in the engine, each counted there for the sample flow, and one ``GROUP BY score
(× cluster)`` query per outcome returns a row per cell (about 200 for a rubric score clustered by consortium).
Neither flag (nor ``--window-pull``, :mod:`cteimpact.cli.rd_window`): the rows are pulled when the study sample (after
``--where``) has at most ``--max-rows-pulled`` rows, as before; above it :func:`choose_rd_mode` computes in the engine
(a running variable with at most :data:`~cteimpact.rd.sufficient.query.MAX_SCORE_VALUES` values and no option that
needs the rows), else pulls the rows within given bandwidths (when they fit the limit), else stops with one line
saying how many rows, the limit and what would let it run. With ``--in-engine``, an option that needs the rows stops
the run with one line naming it (:func:`rd_engine_blockers`).

The published JSON object has the in-memory path's keys for each outcome's fit (the same numbers: to rounding with
a given bandwidth, to the bandwidth selector's own rounding, about 1e-9 relative, with a selected one), the same
sample flow and the same small-cell rule (a fit with fewer than ``--min-cell`` students on a side within ``h`` is
hidden); a fuzzy design (``--fuzzy``) also has ``first_stage`` and ``reduced_form`` (the sharp fit of the outcome
at the fuzzy fit's bandwidths, as in memory). With ``--cutoff-column`` the pooled fit is on ``score − cutoff`` and
each cutoff's fit on the raw score from a second query (``GROUP BY cutoff, score × cluster``), with the test of
equal effects across cutoffs (``cutoffs``, ``cutoff_equality``; complementary suppression among the cutoffs, as in
memory). What differs: ``subgroups`` and ``subgroup_differences`` are empty (subgroups need the rows), ``results``
(the full results record, with binned means, descriptive statistics and effect sizes that need the rows) is
``null``, the notes are cteimpact's wording rather than rdrobust's, and ``engine`` says where it ran and how many
rows the queries returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.options import RDOptions

__all__ = ["ENGINE_VCES", "EngineRD", "choose_rd_mode", "engine_json", "engine_text", "rd_engine_blockers",
           "run_rd_in_engine"]

ENGINE_VCES = ("nn", "hc0", "hc1", "hc2", "hc3", "cr1", "cr2", "cr3")
"""Variance estimators computed from score cells."""

_ROWS_PER_FIT = {"sharp": 3, "fuzzy": 5}
"""Estimate rows of a primary fit as the in-memory results hold them (the small-cell note counts rows): robust
bias-corrected, conventional and bias-corrected; a fuzzy design adds its first stage and reduced form. A
cutoff-specific fit has one row."""


def rd_engine_blockers(*, covariates: Sequence[str] | None, weights: str | None,
                       subgroups: Sequence[str] | None, baseline_covariates: Sequence[str] | None,
                       assignment_unit: str | None, donut: float, diagnostics: bool, local_randomization: bool,
                       power_tau: float | None, want_mde: bool, plot: bool, options: RDOptions,
                       clustered: bool) -> list[tuple[str, str]]:
    """The options given that need the rows, each as (option, why); empty when the fit can run in the engine."""
    out: list[tuple[str, str]] = []
    rows = [
        (bool(covariates), "--covariates", "covariate adjustment"),
        (weights is not None, "--weights", "weighted fits"),
        (bool(subgroups), "--subgroups", "subgroup fits"),
        (bool(baseline_covariates), "--baseline-covariates", "covariate continuity"),
        (assignment_unit is not None, "--assignment-unit", "the density test per assignment unit"),
        (donut != 0, "--donut", "the donut is not applied in the engine"),
        (diagnostics, "--diagnostics", "the diagnostic checks re-estimate on the rows"),
        (local_randomization, "--local-randomization", "randomisation inference permutes the rows"),
        (power_tau is not None, "--power-tau", "rdpower runs on the rows"),
        (want_mde, "--mde", "rdmde runs on the rows"),
        (plot, "--plot", "the binned means of the RD plot"),
        (options.honest, "--honest", "the bias-aware interval (rdhonest)"),
        (options.masspoints != "adjust", f"--masspoints {options.masspoints}", "only masspoints=adjust (rdrobust's "
         "default) is computed in the engine"),
        (not options.bwrestrict, "--no-bwrestrict", "only restricted bandwidths are selected in the engine"),
        (not options.stdvars, "--no-stdvars", "bandwidths are selected on the standardised score in the engine"),
        (options.bwselect not in ("mserd", "msetwo") and options.h is None, f"--bwselect {options.bwselect}",
         "only mserd and msetwo are selected in the engine"),
        (not 1 <= options.p <= 4, f"--p {options.p}", "local polynomials of order 1 to 4 are fitted in the engine"),
        (options.q_effective > 6, f"--q {options.q_effective}", "bias corrections of order at most 6"),
    ]
    out.extend((option, why) for given, option, why in rows if given)
    vce = options.resolved_vce(clustered)
    if vce not in ENGINE_VCES:
        out.append((f"--vce {vce}", f"the engine computes {', '.join(ENGINE_VCES)}"))
    return out


@dataclass(frozen=True)
class EngineRD:
    """The in-engine fits of each outcome with their sample flows, and what the queries returned."""

    fits: dict[str, LocalPolynomialFit]
    reduced_forms: dict[str, LocalPolynomialFit]
    flows: dict[str, SampleFlow]
    notes: tuple[str, ...]
    rows_fetched: int
    cells: int
    cutoff_fits: dict[str, list[tuple[str, float, LocalPolynomialFit]]] = field(default_factory=dict)
    """Each outcome's cutoff-specific fits (``--cutoff-column``): label, cutoff, fit."""
    cutoff_failed: dict[str, list[str]] = field(default_factory=dict)
    """Each outcome's cutoff-specific fits that could not be estimated (their labels)."""


def run_rd_in_engine(source: Any, *, outcomes: Sequence[str], running: str, cutoff: float | None,
                     cutoff_column: str | None, cluster: str | None, missing_cluster: str, where: Sequence[str],
                     options: RDOptions, fuzzy: str | None = None) -> EngineRD:
    """Each outcome's fit from the engine's score cells (:func:`cteimpact.rd.sufficient.score_cells_query`): sharp,
    or fuzzy (take-up ``fuzzy``) with its reduced form at the same bandwidths, as the in-memory path fits it.

    Raises
    ------
    OptionError
        An option the engine does not compute (checked by the caller with :func:`rd_engine_blockers`).
    """
    from dataclasses import replace

    from cteimpact.rd.sufficient import fit_cells, score_cells_query

    vce = options.resolved_vce(cluster is not None)
    c = 0.0 if cutoff_column is not None else float(cutoff if cutoff is not None else 0.0)
    fits: dict[str, LocalPolynomialFit] = {}
    reduced: dict[str, LocalPolynomialFit] = {}
    flows: dict[str, SampleFlow] = {}
    notes: list[str] = []
    fetched = cells = 0
    cutoff_fits: dict[str, list[tuple[str, float, LocalPolynomialFit]]] = {}
    cutoff_failed: dict[str, list[str]] = {}
    for outcome in outcomes:
        got = score_cells_query(source, score=running, outcome=outcome, cluster=cluster, cutoff_column=cutoff_column,
                                treatment=fuzzy, where=where, missing_cluster=missing_cluster,  # type: ignore[arg-type]
                                by_cutoff=cutoff_column is not None)
        common: dict[str, Any] = {"cutoff": c, "p": options.p, "q": options.q_effective, "kernel": options.kernel,
                                  "vce": vce, "nnmatch": options.nnmatch, "level": 100.0 * float(options.level),
                                  "bwcheck": options.bwcheck, "scaleregul": float(options.scaleregul)}
        fit = fit_cells(got.cells, h=options.h, b=options.b, rho=options.rho,
                        bwselect=options.bwselect,  # type: ignore[arg-type]
                        sharpbw=options.sharpbw, context=f"outcome '{outcome}' (in the engine)", **common)
        fits[outcome] = fit
        if fuzzy is not None:
            sharp = replace(got.cells, sum_t=None, m2_t=None, m2_yt=None, treatment_column=None)
            reduced[outcome] = fit_cells(sharp, h=fit.h, b=fit.b, context=f"reduced form of outcome '{outcome}' (in "
                                         "the engine)", **common)
        flows[outcome] = got.flow
        notes.extend(f"{outcome}: {n}" for n in fit.notes)
        # every query returns one row but the cell queries (one, and one more by cutoff)
        fetched += got.rows_fetched + got.queries - (1 if got.by_cutoff is None else 2)
        cells += got.cells.n_cells
        if got.by_cutoff is not None:
            cutoff_fits[outcome], cutoff_failed[outcome] = _cutoff_fits(
                outcome, got.by_cutoff, {**common, "h": options.h, "b": options.b, "rho": options.rho,
                                         "bwselect": options.bwselect, "sharpbw": options.sharpbw}, notes)
    return EngineRD(fits=fits, reduced_forms=reduced, flows=flows, notes=tuple(notes), rows_fetched=fetched,
                    cells=cells, cutoff_fits=cutoff_fits, cutoff_failed=cutoff_failed)


def _cutoff_fits(outcome: str, by_cutoff: dict[float, Any], common: dict[str, Any], notes: list[str]
                 ) -> tuple[list[tuple[str, float, LocalPolynomialFit]], list[str]]:
    """Each cutoff's fit on the raw score (as in memory: at most ``MAX_CUTOFFS`` cutoffs, and only with two or
    more; a cutoff whose fit fails is noted and left out)."""
    from cteimpact.errors import CteImpactError
    from cteimpact.rd.estimator import MAX_CUTOFFS
    from cteimpact.rd.sample import format_value
    from cteimpact.rd.sufficient import fit_cells

    if len(by_cutoff) > MAX_CUTOFFS:
        notes.append(f"{outcome}: {len(by_cutoff)} distinct cutoffs; only the pooled (normalised) estimate is "
                     "reported")
        return [], []
    if len(by_cutoff) < 2:
        return [], []
    fits: list[tuple[str, float, LocalPolynomialFit]] = []
    failed: list[str] = []
    for cut, cut_cells in sorted(by_cutoff.items()):
        label = f"{outcome}[cutoff={format_value(cut)}]"
        try:
            fit = fit_cells(cut_cells, **{**common, "cutoff": cut},
                            context=f"outcome '{outcome}' at cutoff {format_value(cut)} (in the engine)")
        except CteImpactError as exc:
            notes.append(f"{label} not estimated: {exc}")
            failed.append(label)
            continue
        fits.append((label, cut, fit))
    return fits, failed


def _cutoff_test(outcome: str, cfits: list[tuple[str, float, LocalPolynomialFit]], kind: Any) -> Any:
    """The test of equal effects across cutoffs, as in memory: the precision-weighted mean of the bias-corrected
    estimates (weights 1/se_robust²) and the chi-squared statistic of their deviations."""
    from scipy import stats

    est = np.array([f.estimate_bc for _, _, f in cfits])
    se = np.array([f.se_robust for _, _, f in cfits])
    w = 1 / se**2
    mean = float(np.sum(w * est) / np.sum(w))
    chi2 = float(np.sum(w * (est - mean) ** 2))
    df = len(cfits) - 1
    return kind(outcome, tuple(float(cut) for _, cut, _ in cfits), chi2, df, float(stats.chi2.sf(chi2, df)), mean)


def _small(min_cell: int) -> str:
    return f"fewer than {min_cell} students within the bandwidth on a side of the cutoff"


def engine_json(run: EngineRD, *, fit_keys: Any, hidden_keys: Any, min_cell: int, backend: str, table: str,
                mode: str, note: str | None, engine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object: the in-memory path's keys for each outcome (module docstring), privacy and ``engine``
    (the in-engine record, or ``engine`` as given: the window pull's)."""
    from cteimpact.provenance.suppression import small_cell_mask, suppression_note
    from cteimpact.rd.results import CutoffHeterogeneity

    # the small-cell rule of cteimpact.rd.privacy: a primary fit hidden when small; the cutoff-specific fits of an
    # outcome form a group with complementary suppression (an unestimated one counts as hidden)
    labels: list[str] = []
    sizes: list[float] = []
    groups: list[list[int]] = []
    for outcome, fit in run.fits.items():
        labels.append(outcome)
        sizes.append(float(min(fit.n_h)))
        group = []
        for label, _, cfit in run.cutoff_fits.get(outcome, []):
            group.append(len(labels))
            labels.append(label)
            sizes.append(float(min(cfit.n_h)))
        for label in run.cutoff_failed.get(outcome, []):
            group.append(len(labels))
            labels.append(label)
            sizes.append(math.nan)
        if group:
            groups.append(group)
    mask = small_cell_mask(sizes, min_cell=min_cell, groups=groups)
    why = {lab: _small(min_cell) if not sizes[i] >= min_cell else
           ("complementary suppression: shown with the primary estimate and the other cutoffs, its counts would "
            "reveal a suppressed estimate") for i, lab in enumerate(labels) if mask[i]}

    blocks: dict[str, dict[str, Any]] = {}
    hidden_rows = 0
    for outcome, fit in run.fits.items():
        design = "sharp" if fit.first_stage is None else "fuzzy"
        small = outcome in why
        hidden_rows += _ROWS_PER_FIT[design] if small else 0
        block = hidden_keys(why[outcome]) if small else fit_keys(fit)
        block.update({"outcome": outcome, "design": design, "sample_flow": run.flows[outcome].to_dict()})
        if not small and fit.first_stage is not None:
            block["first_stage"] = fit.first_stage.to_dict()
            block["reduced_form"] = fit_keys(run.reduced_forms[outcome])
        cutoffs = []
        for label, _, cfit in run.cutoff_fits.get(outcome, []):
            hidden_rows += label in why
            cutoffs.append({"label": label, **(hidden_keys(why[label]) if label in why else fit_keys(cfit))})
        tests = []
        cfits = run.cutoff_fits.get(outcome, [])
        if len(cfits) >= 2:
            test = _cutoff_test(outcome, cfits, CutoffHeterogeneity)
            gone = [label for label, _, _ in cfits if label in why]
            if gone:
                test = replace(test, suppressed=f"combines a suppressed cutoff-specific estimate ({', '.join(gone)})")
            tests.append(test.to_dict())
        block.update({"subgroups": [], "subgroup_differences": [], "cutoffs": cutoffs, "cutoff_equality": tests})
        blocks[outcome] = block
    hidden = hidden_rows
    first = next(iter(blocks))
    failed = {lab for labs in run.cutoff_failed.values() for lab in labs}
    privacy = {"min_cell": min_cell, "suppressed_estimates": hidden, "suppressed_fits": len(set(why) - failed),
               "suppressed_diagnostics": 0, "note": suppression_note(min_cell, hidden)}
    notes = [*run.notes, *([note] if note else [])]
    if engine is None:
        engine = {"computed_in_engine": True, "backend": backend, "table": table, "mode": mode,
                  "rows_fetched": run.rows_fetched, "score_cells": run.cells, "unit_rows_pulled": 0, "note": note}
    return {**blocks[first], "outcomes": blocks, "notes": notes, "privacy": privacy, "results": None,
            "engine": engine}


def engine_text(obj: dict[str, Any]) -> str:
    """A short text summary of the in-engine fits (the privacy note last)."""
    e = obj["engine"]
    window = e.get("window")
    lines = ["Regression discontinuity, " + ("computed in the engine from score cells" if window is None else
                                             "fitted on the rows within the bandwidths (window pull)")]
    for outcome, block in obj["outcomes"].items():
        lines.append("")
        if block["suppressed"]:
            lines.append(f"{outcome}: suppressed ({block['suppression']})")
            continue
        lo, hi = block["ci_robust"]
        lines += [
            f"{outcome} ({block['design']}): estimate {block['estimate']:.4g} (bias-corrected "
            f"{block['estimate_bc']:.4g}), robust SE {block['se_robust']:.4g}, robust CI [{lo:.4g}, {hi:.4g}], "
            f"robust p = {block['p_robust']:.3g}",
            f"  h = {block['h'][0]:.4g} / {block['h'][1]:.4g}, b = {block['b'][0]:.4g} / {block['b'][1]:.4g}, "
            f"n = {block['n'][0]:,} / {block['n'][1]:,}, within h {block['n_effective'][0]:,} / "
            f"{block['n_effective'][1]:,} (below / at or above the cutoff); {block['kernel']} kernel, vce "
            f"{block['vce']}, bandwidth {block['bwselect']}"
            + ("" if block["clusters"] is None else f", clusters {block['clusters'][0]} / {block['clusters'][1]}"),
        ]
        flow = block["sample_flow"]
        lines.append(f"  sample: {flow['rows_read']:,} rows read, {flow['rows_used']:,} used")
        for cut in block["cutoffs"]:
            lines.append(f"  {cut['label']}: suppressed ({cut['suppression']})" if cut["suppressed"] else
                         f"  {cut['label']}: estimate {cut['estimate']:.4g}, robust SE {cut['se_robust']:.4g}, h = "
                         f"{cut['h'][0]:.4g}, n within h {cut['n_effective'][0]:,} / {cut['n_effective'][1]:,}")
        for test in block["cutoff_equality"]:
            lines.append("  equal effects across cutoffs: suppressed" if test["suppressed"] else
                         f"  equal effects across cutoffs: chi2 = {test['statistic']:.3g} ({test['df']} df), "
                         f"p = {test['p_value']:.3g}")
    if obj["notes"]:
        lines += ["", "Notes:", *(f"  {n}" for n in obj["notes"])]
    if window is None:
        lines += ["", f"Computed in the engine ({e['backend']}, table '{e['table']}'): no row pulled; the queries "
                      f"returned {e['rows_fetched']:,} rows ({e['score_cells']:,} score cells)"]
    else:
        lo, hi = window["bounds"]
        lines += ["", f"Window pull ({e['backend']}, table '{e['table']}'): {e['rows_pulled']:,} rows pulled, those "
                      f"with the running variable from {lo:g} to {hi:g} (within the bandwidths); the sample flow and "
                      "the counts on each side were computed in the engine"]
    if e.get("note"):
        lines.append(f"  {e['note']}")
    lines += ["", f"Privacy: {obj['privacy']['note']}"]
    return "\n".join(lines)


def choose_rd_mode(in_engine: bool | None, window: bool, *, rows: int | None, limit: int,
                   engine_blockers: Sequence[tuple[str, str]], window_blockers: Sequence[tuple[str, str]],
                   distinct: int | None, window_rows: int | None, window_text: str | None, table: str
                   ) -> tuple[str, str | None]:
    """Pull the rows, compute in the engine from score cells, or pull the window's rows; and the note saying why
    when the choice was automatic.

    Parameters
    ----------
    in_engine, window
        ``--in-engine`` (``True``), ``--pull`` (``False``) or neither (``None``); ``--window-pull``.
    rows
        Rows of the study sample after ``--where`` (counted by the engine; read in automatic mode only).
    limit
        The most rows that may be pulled (``--max-rows-pulled``).
    engine_blockers, window_blockers
        :func:`rd_engine_blockers` and :func:`cteimpact.cli.rd_window.window_blockers` (whose first entry is the
        data-driven bandwidth when ``--h`` is not given).
    distinct
        Distinct values of the running variable in the sample (automatic mode above the limit, no ``--h``), or
        ``None``.
    window_rows, window_text
        Rows within the bandwidths' window and the window as text (automatic mode above the limit, ``--h`` given
        and nothing else that needs every row), or ``None``.
    table
        The table's name, for the messages.

    Returns
    -------
    (str, str | None)
        ``"pull"``, ``"engine"`` or ``"window"``, and the note of an automatic choice.

    Raises
    ------
    OptionError
        An explicit mode with an option it cannot run, or a sample above the limit that no mode can take: one line
        saying how many rows, the limit and what would let it run.
    """
    from cteimpact.errors import OptionError
    from cteimpact.rd.sufficient.query import MAX_SCORE_VALUES

    if window and in_engine is not None:
        raise OptionError("give one of --window-pull, --in-engine and --pull")
    if in_engine is True:
        if engine_blockers:
            option, why = engine_blockers[0]
            raise OptionError(f"option {option} needs the rows ({why}), which --in-engine does not pull: leave the "
                              "option out, or run without --in-engine to pull the rows")
        return "engine", None
    if window:
        if window_blockers:
            option, why = window_blockers[0]
            raise OptionError(f"option {option} reads rows outside the bandwidths ({why}), which --window-pull does "
                              "not pull: leave the option out (give --h for the bandwidth), or run without "
                              "--window-pull to pull every row")
        return "window", None
    if in_engine is False or rows is None or rows <= limit:
        return "pull", None
    over = (f"the study sample of table '{table}' has {rows:,} rows, more than the {limit:,} that may be pulled "
            "(--max-rows-pulled)")
    if not engine_blockers and distinct is not None and distinct <= MAX_SCORE_VALUES:
        return "engine", (f"computed in the engine from score cells: {over}; --pull to refuse, --in-engine to "
                          "choose it always")
    if not window_blockers and window_rows is not None and window_rows <= limit:
        return "window", (f"pulled only the {window_rows:,} rows within the bandwidths ({window_text}): {over}; "
                          "--pull to refuse, --window-pull to choose it always")
    remedy = "or raise --max-rows-pulled if this machine has the memory"
    others = [(o, w) for o, w in window_blockers if not o.startswith("--bwselect")]
    if others:
        option, why = others[0]
        raise OptionError(f"{over}, and option {option} needs every row ({why}): leave it out to compute in the "
                          "engine or pull only the rows within given bandwidths (--h), restrict the sample, "
                          f"{remedy}")
    if window_rows is not None:
        raise OptionError(f"{over}, and the {window_rows:,} rows within the bandwidths ({window_text}) are more "
                          f"too: give a smaller --h (and --b), restrict the sample, {remedy}")
    if distinct is not None and distinct > MAX_SCORE_VALUES:
        raise OptionError(f"{over}; the running variable has {distinct:,} distinct values, more than the "
                          f"{MAX_SCORE_VALUES:,} the in-engine score cells accept, and a bandwidth selected from the "
                          "data reads each side's whole range (rdrobust's selector fits a global polynomial over "
                          "it), so no window holds it: give --h (and --b) to pull only the rows within them, "
                          f"restrict the sample, {remedy}")
    option, why = engine_blockers[0] if engine_blockers else ("--in-engine", "")
    raise OptionError(f"{over}, and option {option} needs the rows ({why}): leave it out to compute in the engine "
                      f"from score cells, give --h (and --b) to pull only the rows within them, {remedy}")

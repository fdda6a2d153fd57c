"""Small-cell suppression of RD results: what a published RD result may show.

The rule (one rule, applied the same way to results files, tables, figures and the command line):

* **what an estimate describes.** An RD fit describes the students within its bandwidth ``h`` on each side of
  the cutoff; its cell size is the smaller of the two counts (``n_h``). This covers the primary fit of each outcome,
  each subgroup fit (its subgroup's students) and each cutoff-specific fit (that cutoff's students). The rows of a
  fit (conventional, bias-corrected, robust; first stage and reduced form of a fuzzy design) describe the same
  students. A difference between subgroups describes both subgroups; the test of equal effects across cutoffs
  describes every cutoff's students.
* **primary suppression.** A fit whose cell size is below ``min_cell`` is hidden: its estimates, standard errors,
  intervals, p-values, conditional means at the cutoff, bandwidth counts, cluster counts and sample flow are not
  shown; only its label, the flag ``suppressed`` and the reason remain (the reason states the size only as
  "fewer than ``min_cell``").
* **complementary suppression.** The levels of one subgroup variable add up to the outcome's sample (and the
  cutoff-specific samples to the pooled one): with all levels but one shown, the hidden level's counts would follow
  by subtraction. Within each such group the rule of :func:`cteimpact.provenance.suppression.small_cell_mask`
  applies (at least two hidden cells that together describe at least ``min_cell`` students). A level that could
  not be estimated counts as hidden. The primary estimate of an outcome is the group's total and is never hidden
  for this reason (it is hidden only when it is small itself).
* **what depends on a hidden fit** is hidden with it: subgroup differences involving a hidden subgroup, the
  cutoff-equality test when a cutoff fit is hidden, covariances involving hidden estimates; when the primary fit
  of an outcome is hidden, also its diagnostics and the standards review (they describe the same students).
* **diagnostics and local randomisation.** A specification in a check's table (placebo cutoff, bandwidth, order,
  donut, covariate) is hidden when it has fewer than ``min_cell`` students on a side within its bandwidth; the
  check's evidence text, which summarises every specification, is then replaced by a statement of how many were
  hidden. The density test's histogram hides bins of fewer than ``min_cell`` students (with complementary
  suppression on each side; scores of assignment units are not students and are shown). A local-randomisation
  result with fewer than ``min_cell`` students on a side of its window is hidden; candidate windows with fewer
  than ``min_cell`` students on a side are not listed.
* **RD plots** show only bins of at least ``min_cell`` students.
* **control-side baselines and effect sizes** of a fit are hidden with the fit (they describe its students).
* **descriptive statistics** by side of the cutoff follow :func:`cteimpact.rd.descriptives.suppress_descriptives`.

Estimation is untouched: every fit uses all its rows; only what is shown changes. The decision depends only on
the counts, so it is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cteimpact.provenance.suppression import check_min_cell, small_cell_mask, suppress_small_cells, suppression_note
from cteimpact.rd.descriptives import suppress_descriptives

if TYPE_CHECKING:
    from cteimpact.rd.diagnostics import DiagnosticCheck, RDDiagnostics
    from cteimpact.rd.local_randomization import LocalRandomizationResult
    from cteimpact.rd.results import CutoffHeterogeneity, OutcomeFit, RDResults, SubgroupComparison

__all__ = ["suppress_rd"]

_ROW_NUMBERS = ("estimate", "estimate_bc", "se_robust", "p_robust", "p_holm", "ci_robust_lower", "ci_robust_upper",
                "h_left", "h_right", "n_effective", "n_h_left", "n_h_right", "effect_size", "radius",
                "share_excluded_actual", "overall_rate", "rate_left", "rate_right", "overall_rate_all", "n_missing")


def _small(min_cell: int) -> str:
    return f"fewer than {min_cell} students within the bandwidth on a side of the cutoff"


def _fit_groups(fits: Sequence[OutcomeFit], unestimated: Sequence[tuple[str, str, str]]
                ) -> tuple[list[str], list[float], list[str], list[list[int]]]:
    """Labels, sizes, group keys of every subgroup/cutoff fit (unestimated ones with size NaN) and the groups."""
    labels: list[str] = []
    sizes: list[float] = []
    keys: list[str] = []
    for f in fits:
        labels.append(f.label)
        sizes.append(float(min(f.fit.n_h)))
        if f.kind == "subgroup" and f.group is not None:
            keys.append(f"{f.outcome}\x1f{f.group[0]}")
        elif f.kind == "cutoff":
            keys.append(f"{f.outcome}\x1fcutoff")
        else:
            keys.append("")
    for label, outcome, group in unestimated:
        labels.append(label)
        sizes.append(math.nan)
        keys.append(f"{outcome}\x1f{group}")
    groups: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if k:
            groups.setdefault(k, []).append(i)
    return labels, sizes, keys, list(groups.values())


def _row_labels(f: OutcomeFit) -> set[str]:
    """Estimate rows computed from the students of fit ``f``."""
    lab = f.label
    out = {lab}
    if lab.endswith("]"):
        out |= {f"{lab[:-1]},conventional]", f"{lab[:-1]},bias_corrected]"}
    else:
        out |= {f"{lab}[{part}]" for part in ("conventional", "bias_corrected", "first_stage", "reduced_form")}
    return out


def _suppress_rows(rows: Sequence[Mapping[str, Any]], min_cell: int) -> tuple[tuple[dict[str, Any], ...], int]:
    """A check's table with the specifications of fewer than ``min_cell`` students a side hidden."""
    out: list[dict[str, Any]] = []
    hidden = 0
    for r in rows:
        row = dict(r)
        small = False
        if "n_h_left" in row and "n_h_right" in row:
            est = row.get("estimate")
            estimated = isinstance(est, (int, float)) and math.isfinite(float(est))
            small = estimated and min(float(row["n_h_left"]), float(row["n_h_right"])) < min_cell
        if small:
            hidden += 1
            for k in _ROW_NUMBERS:
                if k in row:
                    row[k] = None
            row["note"] = f"suppressed: {_small(min_cell)}"
        row["suppressed"] = small
        out.append(row)
    return tuple(out), hidden


def _suppress_density(check: DiagnosticCheck, min_cell: int) -> tuple[DiagnosticCheck, int]:
    details = dict(check.details)
    if details.get("unit") != "rows":
        return check, 0  # scores of assignment units (consortia), not students
    hidden = 0
    rows = [dict(r) for r in check.rows]
    for row in rows:
        small = min(float(row.get("n_effective_left", 0)), float(row.get("n_effective_right", 0))) < min_cell
        row["suppressed"] = small
        if small:
            hidden += 1
            for k in list(row):
                if k not in ("unit", "suppressed"):
                    row[k] = None
    hist = details.get("histogram")
    if hist:
        edges = np.asarray(hist["edges"], dtype=float)
        cutoff = float(details.get("cutoff", 0.0))
        frame = pd.DataFrame({"count": np.asarray(hist["counts"], dtype=float),
                              "density": np.asarray(hist["density"], dtype=float),
                              "side": np.where((edges[:-1] + edges[1:]) / 2 < cutoff, "below", "above")})
        table = suppress_small_cells(frame, n_column="count", value_columns=["density"], min_cell=min_cell,
                                     by="side")
        hidden_bins = table.suppressed["count"].to_numpy()
        details["histogram"] = {
            "edges": hist["edges"],
            "density": [None if h else float(v) for v, h in zip(frame["density"], hidden_bins, strict=True)],
            "counts": [None if h else int(v) for v, h in zip(frame["count"], hidden_bins, strict=True)],
            "suppressed_bins": int(hidden_bins.sum()),
        }
    if hidden:
        details["test"] = None
        evidence = f"suppressed: {_small(min_cell)}"
        return replace(check, rows=tuple(rows), details=details, evidence=evidence), hidden
    return replace(check, rows=tuple(rows), details=details), 0


def _suppress_check(check: DiagnosticCheck, min_cell: int) -> tuple[DiagnosticCheck, int]:
    if check.name == "density_test":
        return _suppress_density(check, min_cell)
    rows, hidden = _suppress_rows(check.rows, min_cell)
    if not hidden:
        return replace(check, rows=rows), 0
    evidence = (f"{hidden} of {len(rows)} specifications are suppressed in this table ({_small(min_cell)}); the "
                "verdict uses every specification, the range of their estimates is not stated")
    details = {k: v for k, v in check.details.items() if k not in ("jump", "p_robust", "overall_rate",
                                                                    "differential_rate")}
    return replace(check, rows=rows, evidence=evidence, details=details), hidden


def _hidden_diagnostics(diag: RDDiagnostics, reason: str) -> RDDiagnostics:
    checks = tuple(replace(c, rows=(), details={}, evidence=f"suppressed: {reason}") for c in diag.checks)
    return replace(diag, checks=checks, standards=None)


def _suppress_lr(lr: LocalRandomizationResult, min_cell: int) -> tuple[LocalRandomizationResult, int]:
    rows_unit = lr.unit == "rows"
    windows = tuple(w for w in lr.window_selection
                    if not rows_unit or min(w.units_left, w.units_right) >= min_cell)
    if min(lr.n) < min_cell:
        reason = f"fewer than {min_cell} students on a side of the cutoff within the window"
        return replace(lr, suppressed=reason, window_selection=()), 1
    return replace(lr, window_selection=windows), 0


def _hidden_fits(res: RDResults, min_cell: int) -> dict[str, str]:
    """Why each hidden fit is hidden (primary or complementary suppression), by label."""
    _, sizes, keys, groups = _fit_groups(res.fits, res.unestimated)
    mask = small_cell_mask(sizes, min_cell=min_cell, groups=groups)
    primary = np.isnan(np.asarray(sizes, dtype=float)) | (np.asarray(sizes, dtype=float) < min_cell)
    hidden_fit: dict[str, str] = {}
    for i, f in enumerate(res.fits):
        if not mask[i]:
            continue
        if primary[i]:
            hidden_fit[f.label] = _small(min_cell)
        else:
            what = "the other cutoffs" if keys[i].endswith("\x1fcutoff") else (
                f"the other levels of '{f.group[0]}'" if f.group else "the other fits")
            hidden_fit[f.label] = (f"complementary suppression: shown with the primary estimate and {what}, its "
                                   "counts would reveal a suppressed estimate")
    return hidden_fit


def _suppress_comparisons(res: RDResults, hidden_fit: Mapping[str, str], row_reason: dict[str, str]
                          ) -> tuple[list[SubgroupComparison], list[CutoffHeterogeneity]]:
    """Subgroup differences and cutoff-equality tests that combine a hidden fit are hidden (their rows' reasons
    are added to ``row_reason``)."""
    comparisons = []
    for c in res.subgroup_comparisons:
        gone = [lab for lab in (c.label_a, c.label_b) if lab in hidden_fit]
        if gone:
            reason = f"compares a suppressed subgroup estimate ({', '.join(gone)})"
            row_reason[c.label] = reason
            comparisons.append(replace(c, suppressed=reason))
        else:
            comparisons.append(c)
    tests = []
    for t in res.cutoff_tests:
        gone = [f.label for f in res.fits if f.kind == "cutoff" and f.outcome == t.outcome and f.label in hidden_fit]
        tests.append(replace(t, suppressed=f"combines a suppressed cutoff-specific estimate ({', '.join(gone)})")
                     if gone else t)
    return comparisons, tests


def _suppress_diagnostics(res: RDResults, hidden_fit: Mapping[str, str], min_cell: int
                          ) -> tuple[dict[str, RDDiagnostics], int]:
    """Each outcome's diagnostics as they may be published, and the number of specifications hidden."""
    n_hidden = 0
    diagnostics: dict[str, RDDiagnostics] = {}
    for outcome, diag in res.diagnostics.items():
        if outcome in hidden_fit:
            diagnostics[outcome] = _hidden_diagnostics(diag, hidden_fit[outcome])
            continue
        checks = []
        for check in diag.checks:
            new, k = _suppress_check(check, min_cell)
            n_hidden += k
            checks.append(new)
        diagnostics[outcome] = replace(diag, checks=tuple(checks))
    return diagnostics, n_hidden


def suppress_rd(res: RDResults, min_cell: int) -> RDResults:
    """``res`` as it may be published (see the module docstring for the rule).

    Raises
    ------
    OptionError
        ``min_cell`` is not a whole number of at least 1.
    """
    min_cell = check_min_cell(min_cell)
    hidden_fit = _hidden_fits(res, min_cell)
    row_reason: dict[str, str] = {}
    for f in res.fits:
        if f.label in hidden_fit:
            for lab in _row_labels(f):
                row_reason[lab] = hidden_fit[f.label]
    comparisons, tests = _suppress_comparisons(res, hidden_fit, row_reason)

    estimates = tuple(e.suppress(row_reason[e.label]) if e.label in row_reason else e for e in res.estimates)
    fits = tuple(
        replace(f, suppressed=hidden_fit[f.label], bins=None, baseline=None, effect_sizes=())
        if f.label in hidden_fit
        else (f if f.bins is None else replace(f, bins=f.bins.without_small_bins(min_cell)))
        for f in res.fits)
    centres = {k: v for k, v in res.centres.items() if k not in row_reason}
    covs = tuple((a, b, c) for a, b, c in res.subgroup_covariances if a not in row_reason and b not in row_reason)

    diagnostics, n_hidden_other = _suppress_diagnostics(res, hidden_fit, min_cell)
    lrs: dict[str, LocalRandomizationResult] = {}
    for outcome, lr in res.local_randomization.items():
        new_lr, k = _suppress_lr(lr, min_cell)
        n_hidden_other += k
        lrs[outcome] = new_lr

    n_rows = sum(e.suppressed for e in estimates)
    note = suppression_note(min_cell, int(n_rows))
    if n_hidden_other:
        note += (f"; {n_hidden_other} diagnostic specification(s) or local-randomisation result(s) with fewer than "
                 f"{min_cell} students on a side are suppressed too")
    privacy = {"min_cell": min_cell, "suppressed_estimates": int(n_rows), "suppressed_fits": len(hidden_fit),
               "suppressed_diagnostics": n_hidden_other, "note": note}
    return replace(res, estimates=estimates, fits=fits, subgroup_comparisons=tuple(comparisons),
                   cutoff_tests=tuple(tests), subgroup_covariances=covs, centres=centres, diagnostics=diagnostics,
                   local_randomization=lrs, privacy=privacy,
                   honest={k: v for k, v in res.honest.items() if k not in hidden_fit and v.eff_obs >= min_cell},
                   descriptives=suppress_descriptives(res.descriptives, min_cell))


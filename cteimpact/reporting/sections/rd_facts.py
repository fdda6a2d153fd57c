"""Look-ups in the regression-discontinuity record of ``results.json`` (``design.details`` of an RD run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cteimpact.reporting.rundir import RunContents, finite

__all__ = [
    "CHECK_ORDER",
    "checks",
    "control_mean",
    "first_stage",
    "fit_for",
    "fit_warnings",
    "fits",
    "is_fuzzy",
    "itt_label",
    "standards",
]

CHECK_ORDER = ("density_test", "covariate_balance", "placebo_cutoffs", "bandwidth_sensitivity", "polynomial_order",
               "donut", "attrition")


def fits(run: RunContents) -> list[Mapping[str, Any]]:
    return [f for f in run.details.get("fits", []) or [] if isinstance(f, Mapping)]


def fit_for(run: RunContents, label: str) -> Mapping[str, Any] | None:
    """The fit record behind the estimate ``label`` (``details.fits[*]``)."""
    for f in fits(run):
        if f.get("label") == label:
            return f
    return None


def is_fuzzy(run: RunContents) -> bool:
    return bool(run.options.get("fuzzy")) or run.options.get("design") == "fuzzy"


def itt_label(run: RunContents, outcome: str) -> str:
    """The label of the jump in the outcome at the cutoff: the reduced form of a fuzzy design, else the primary."""
    label = f"{outcome}[reduced_form]"
    return label if run.estimate(label) is not None else outcome


def first_stage(run: RunContents, outcome: str) -> Mapping[str, Any] | None:
    """The first stage of the fuzzy fit of ``outcome`` (estimate, robust p-values, ``f_statistic``)."""
    f = fit_for(run, outcome)
    fs = (f or {}).get("fit", {}).get("first_stage") if f else None
    return fs if isinstance(fs, Mapping) else None


def control_mean(run: RunContents, outcome: str) -> float | None:
    """The outcome's mean just below the cutoff: the recorded intercept (``limits[0]``) of the local polynomial fit
    of the outcome on that side (the reduced form's, for a fuzzy design).

    The report's effects are jumps at the cutoff (at or above minus below), so this is their baseline whichever side
    was treated; with the usual assignment at or above the cutoff it is the untreated side's mean.
    """
    f = fit_for(run, outcome)
    if f is None:
        return None
    source = f.get("reduced_form") if isinstance(f.get("reduced_form"), Mapping) else f.get("fit")
    limits = (source or {}).get("limits")
    if not isinstance(limits, list) or len(limits) != 2:
        return None
    return finite(limits[0])


def checks(run: RunContents, outcome: str) -> dict[str, Mapping[str, Any]]:
    """The validity checks of ``outcome``, in the report's order."""
    diag = (run.details.get("diagnostics") or {}).get(outcome) or {}
    found = diag.get("checks") or {}
    ordered = [k for k in CHECK_ORDER if k in found] + [k for k in found if k not in CHECK_ORDER]
    return {k: found[k] for k in ordered if isinstance(found[k], Mapping)}


def standards(run: RunContents, outcome: str) -> Mapping[str, Any] | None:
    diag = (run.details.get("diagnostics") or {}).get(outcome) or {}
    review = diag.get("standards_review")
    return review if isinstance(review, Mapping) else None


def fit_warnings(run: RunContents) -> list[tuple[str, str]]:
    """``(label, warning)`` of every fit that warned (few clusters, few observations...)."""
    out: list[tuple[str, str]] = []
    for f in fits(run):
        for part in ("fit", "reduced_form"):
            rec = f.get(part)
            if isinstance(rec, Mapping):
                for w in rec.get("warnings") or []:
                    item = (str(f.get("label")), str(w))
                    if item not in out:
                        out.append(item)
    return out

"""A WWC-style standards checklist for an RD estimate.

The What Works Clearinghouse (WWC) reviews regression discontinuity designs under its RDD standards: integrity of
the forcing (running) variable, attrition, baseline equivalence at the cutoff, bandwidth and functional form, and
for fuzzy designs the strength of the first stage. This module assembles the evidence cteimpact computes for each
item and gives a status: ``met``, ``not_met``, ``needs_human_review`` or ``not_applicable``.

Sources and what was verified (see each item's ``citation``):

* WWC Procedures and Standards Handbook, Version 4.1 (2020), Section III "Regression discontinuity designs", and
  Version 5.0 (2022), its regression discontinuity design standards. The handbook text itself could not be
  retrieved while this module was written, so **no RDD-specific numeric threshold is encoded**: the density-test
  level, the attrition boundaries and the first-stage strength rule are reported as evidence with status
  ``needs_human_review`` rather than judged against numbers we could not check.
* The baseline-equivalence thresholds are encoded: a baseline difference of at most 0.05 standard deviations
  satisfies equivalence; between 0.05 and 0.25 it satisfies equivalence only if the analysis adjusts for the
  characteristic; above 0.25 it does not (Hedges' g for continuous characteristics, the Cox index for binary
  ones). Verified from the WWC's own page "Reference Resources: Equivalence" (ies.ed.gov/ncee/wwc/Document/256),
  which states these thresholds and cites Handbook Version 3.0, pp. 15–16 and F.1–F.6 for the effect sizes; the
  same 0.05/0.25 rule is the group-design baseline-equivalence rule of Version 4.1 (Section II) and 5.0.
* Zero attrition is ``met``: no attrition boundary of the WWC can count zero overall and zero differential
  attrition as high.

Nothing here replaces a WWC review: institutional integrity of the score (could anyone change a score once the
cutoff was known?) always needs a human.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.diagnostics import DiagnosticCheck
from cteimpact.results.text import format_number, format_p
from cteimpact.stats.effect_sizes import EQUIVALENCE_LIMIT, EQUIVALENCE_SATISFIED, EQUIVALENCE_SOURCE, wwc_category

__all__ = ["StandardItem", "StandardsReview", "Status", "review_standards"]

Status = Literal["met", "not_met", "needs_human_review", "not_applicable"]

HANDBOOK_RDD = ("WWC Procedures and Standards Handbook, Version 4.1 (2020), Section III 'Regression discontinuity "
                "designs'; Version 5.0 (2022), regression discontinuity design standards")
BASELINE_SOURCE = EQUIVALENCE_SOURCE


@dataclass(frozen=True)
class StandardItem:
    """One checklist item."""

    key: str
    title: str
    status: Status
    evidence: str
    citation: str
    threshold_verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "status": self.status, "evidence": self.evidence,
                "citation": self.citation, "threshold_verified": self.threshold_verified}


@dataclass(frozen=True)
class StandardsReview:
    """The checklist; ``overall`` is ``not_met`` if any item is, ``met`` only if every applicable item is."""

    items: tuple[StandardItem, ...]

    @property
    def overall(self) -> Status:
        statuses = [i.status for i in self.items if i.status != "not_applicable"]
        if "not_met" in statuses:
            return "not_met"
        if statuses and all(s == "met" for s in statuses):
            return "met"
        return "needs_human_review"

    def item(self, key: str) -> StandardItem:
        for i in self.items:
            if i.key == key:
                return i
        raise KeyError(key)

    def summary(self) -> str:
        lines = [f"  WWC-style standards review (overall: {self.overall})"]
        for i in self.items:
            lines.append(f"    [{i.status}] {i.title}: {i.evidence}")
        return "\n".join(lines)

    @property
    def status_counts(self) -> dict[str, int]:
        """Number of items of each status (every status listed, zeros included)."""
        return {s: sum(1 for i in self.items if i.status == s) for s in get_args(Status)}

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "status_counts": self.status_counts,
                "items": [i.to_dict() for i in self.items]}


def _by_name(checks: Sequence[DiagnosticCheck]) -> Mapping[str, DiagnosticCheck]:
    return {c.name: c for c in checks}


def review_standards(
    *,
    fit: LocalPolynomialFit,
    checks: Sequence[DiagnosticCheck],
    design: Literal["sharp", "fuzzy"],
    adjusted_covariates: Sequence[str] = (),
) -> StandardsReview:
    """Assemble the checklist from an estimate and its diagnostic checks."""
    by = _by_name(checks)
    return StandardsReview((_forcing_variable_item(by.get("density_test")), _attrition_item(by.get("attrition")),
                            _equivalence_item(by.get("covariate_balance"), adjusted_covariates),
                            _bandwidth_item(fit, by), _first_stage_item(fit, design)))


def _forcing_variable_item(dens: DiagnosticCheck | None) -> StandardItem:
    """1. Integrity of the forcing variable."""
    if dens is None or dens.verdict == "not_run":
        ev = "no density test was run; the statistical part of this item is missing"
    else:
        ev = (f"density test {dens.verdict} ({dens.evidence}). Institutional integrity (who set and could change the "
              "scores, whether the cutoff was known in advance) must be documented by the reviewer")
    return StandardItem("forcing_variable_integrity", "Integrity of the forcing variable", "needs_human_review",
                        ev, HANDBOOK_RDD, False)


def _attrition_item(att: DiagnosticCheck | None) -> StandardItem:
    """2. Attrition."""
    if att is None or att.verdict == "not_run":
        return StandardItem("attrition", "Attrition", "needs_human_review",
                            "attrition was not assessed" if att is None else att.evidence, HANDBOOK_RDD, False)
    overall = float(att.details.get("overall_rate", math.nan))
    diff = float(att.details.get("differential_rate", math.nan))
    if overall == 0 and diff == 0:
        return StandardItem("attrition", "Attrition", "met",
                            "no analysis row has the outcome missing (zero overall and differential "
                            "attrition)", HANDBOOK_RDD, True)
    return StandardItem(
        "attrition", "Attrition", "needs_human_review",
        f"within the bandwidth: overall attrition {100 * overall:.1f}%, differential "
        f"{100 * diff:.2f} percentage points; {att.evidence}. Compare with the WWC "
        "attrition boundary (cautious or optimistic) that applies to this outcome",
        HANDBOOK_RDD, False)


def _equivalence_item(bal: DiagnosticCheck | None, adjusted_covariates: Sequence[str]) -> StandardItem:
    """3. Baseline equivalence at the cutoff."""
    if bal is None or bal.verdict == "not_run" or not bal.rows:
        return StandardItem("baseline_equivalence", "Baseline equivalence at the cutoff", "needs_human_review",
                            "no baseline covariates were assessed", BASELINE_SOURCE, True)
    adjusted = set(adjusted_covariates)
    fails: list[str] = []
    needs_adj: list[str] = []
    ok: list[str] = []
    unknown: list[str] = []
    for r in bal.rows:
        es = r.get("effect_size", math.nan)
        name = str(r.get("covariate"))
        category = wwc_category(es) if isinstance(es, float) else None
        if category is None:
            unknown.append(name)
        elif category == "not satisfied":
            fails.append(f"{name} ({format_number(es, 3)} SD)")
        elif category == "satisfied with adjustment":
            (ok if name in adjusted else needs_adj).append(
                f"{name} ({format_number(es, 3)} SD{', adjusted' if name in adjusted else ''})")
        else:
            ok.append(f"{name} ({format_number(es, 3)} SD)")
    parts = []
    if fails:
        parts.append(f"above {EQUIVALENCE_LIMIT} SD: {', '.join(fails)}")
    if needs_adj:
        parts.append(f"between {EQUIVALENCE_SATISFIED} and {EQUIVALENCE_LIMIT} SD without statistical adjustment "
                     f"(add them to the covariates): {', '.join(needs_adj)}")
    if ok:
        parts.append(f"satisfied: {', '.join(ok)}")
    if unknown:
        parts.append(f"not computable: {', '.join(unknown)}")
    status: Status = "not_met" if (fails or needs_adj) else ("needs_human_review" if unknown else "met")
    return StandardItem("baseline_equivalence", "Baseline equivalence at the cutoff", status, "; ".join(parts),
                        BASELINE_SOURCE, True)


def _bandwidth_item(fit: LocalPolynomialFit, by: Mapping[str, DiagnosticCheck]) -> StandardItem:
    """4. Bandwidth and functional form."""
    sens = [by[n] for n in ("bandwidth_sensitivity", "polynomial_order", "donut") if n in by]
    ev = (f"local polynomial of order p={fit.p} with a {fit.kernel} kernel; bandwidth "
          f"{'fixed by the analyst' if fit.bwselect.lower() == 'manual' else 'chosen by ' + fit.bwselect} "
          f"(h = {format_number(fit.h[0], 3)} / {format_number(fit.h[1], 3)})")
    if sens:
        ev += "; " + "; ".join(f"{c.name}: {c.verdict}" for c in sens)
    else:
        ev += "; no sensitivity analysis was run"
    return StandardItem("bandwidth_functional_form", "Bandwidth and functional form", "needs_human_review",
                        ev, HANDBOOK_RDD, False)


def _first_stage_item(fit: LocalPolynomialFit, design: Literal["sharp", "fuzzy"]) -> StandardItem:
    """5. Fuzzy designs: strength of the first stage."""
    if design == "fuzzy" and fit.first_stage is not None:
        fs = fit.first_stage
        return StandardItem(
            "first_stage", "Fuzzy design: strength of the first stage", "needs_human_review",
            f"jump in take-up {100 * fs.estimate:.1f} percentage points (robust p {format_p(fs.p_value[2])}), "
            f"F = {format_number(fs.f_statistic, 1)} (cteimpact warns below the conventional F = 10; the WWC rule for "
            "fuzzy RDDs was not verified here)", HANDBOOK_RDD, False)
    return StandardItem("first_stage", "Fuzzy design: strength of the first stage", "not_applicable",
                        "sharp design", HANDBOOK_RDD, True)

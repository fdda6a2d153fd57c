"""The headline estimate of a run: one estimate, named once, with the one value every output shows.

A study reports many estimates (conventional and bias-corrected, reduced form and local average effect, subgroups,
aggregations); a reader, a payor and a validator need one: the estimate the contract pays on (its primary outcome)
or, without a contract, the primary estimate of the first outcome. Its value is the centre of the estimate's
sampling distribution — the value its confidence interval and p-value are built around and the value pricing
draws from (for RD, the bias-corrected estimate of the robust interval; elsewhere the point estimate) — so the
console, the report's summary, the pricing tables and the certificate all show the same number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cteimpact.results.units import outcome_kind, role_of

__all__ = ["headline_estimate"]


def _label_to_price(pricing: Mapping[str, Any] | None) -> tuple[str | None, list[str]]:
    """The results label of the contract's primary outcome and every contract outcome priced on it."""
    if not pricing:
        return None, []
    priced = [e for e in pricing.get("estimates") or [] if isinstance(e, Mapping)]
    if not priced:
        return None, []
    primary = (pricing.get("contract") or {}).get("primary_outcome")
    chosen = next((e for e in priced if e.get("outcome") == primary), priced[0])
    label = str(chosen.get("label"))
    return label, [str(e.get("outcome")) for e in priced if e.get("label") == label]


def headline_estimate(design: Mapping[str, Any], pricing: Mapping[str, Any] | None,
                      outcomes: Sequence[str], columns: Mapping[str, Any] | None = None, *,
                      projection: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The ``headline`` block of ``results.json`` (None when the design produced no usable estimate).

    Parameters
    ----------
    design
        The design's results record (``estimates`` and ``sampling_distribution``).
    pricing
        The pricing record, if the study prices a contract.
    outcomes
        The design's outcomes, in the specification's order (the first one's primary estimate is the headline of
        a study without a contract).
    columns
        The specification's column map (role → column), which gives the headline's unit
        (:func:`cteimpact.results.units.outcome_kind`).
    projection
        The surrogate projection's results record (``surrogate.projection``), when the run has one: a contract
        that pays on a projected long-run estimate (``earnings_age26[surrogate]``) has it as its headline.
    """
    rows = [e for e in design.get("estimates") or [] if isinstance(e, Mapping)]
    by_label = {str(e.get("label")): i for i, e in reversed(list(enumerate(rows)))}
    label, priced_as = _label_to_price(pricing)
    if label is None:
        label = next((o for o in outcomes if o in by_label), rows[0]["label"] if rows else None)
    where = "design"
    if label is not None and label not in by_label and projection:
        projected = [e for e in projection.get("estimates") or [] if isinstance(e, Mapping)]
        if any(str(e.get("label")) == label for e in projected):
            design, rows, where = projection, projected, "surrogate.projection"
            by_label = {str(e.get("label")): i for i, e in reversed(list(enumerate(rows)))}
    if label is None or label not in by_label:
        return None
    index = by_label[label]
    row = rows[index]
    dist = design.get("sampling_distribution") or {}
    labels = list(dist.get("labels") or [])
    centre = row.get("estimate")
    basis = "point estimate"
    if label in labels and row.get("estimate") is not None:
        centre = dist["mean"][labels.index(label)]
        if centre != row.get("estimate"):
            basis = str(dist.get("centre") or "the centre of the confidence interval")
    term = str(row.get("term") or "")
    outcome = str(row.get("outcome") or label)
    return {
        "label": label,
        "name": f"{outcome} — {term}" if term else outcome,
        "outcome": outcome,
        "unit": "proportion" if "[first_stage" in label else outcome_kind(outcome, role_of(outcome, columns)),
        "estimate": centre,
        "estimate_basis": basis,
        "point_estimate": row.get("estimate"),
        "std_error": row.get("std_error"),
        "ci_lower": row.get("ci_lower"),
        "ci_upper": row.get("ci_upper"),
        "ci_level": row.get("ci_level"),
        "ci_type": row.get("ci_type"),
        "p_value": row.get("p_value"),
        "n_effective": row.get("n_effective"),
        "suppressed": bool(row.get("suppressed")),
        "priced_as": priced_as,
        "source": f"{where}.estimates[{index}]",
    }

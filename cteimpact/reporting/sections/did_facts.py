"""Look-ups in the difference-in-differences record of ``results.json`` (``design.details`` of a DiD run, as
written by :meth:`cteimpact.did.DiDResults._details`, and the DiD runner's ``design.extra``).

The DiD record holds, per outcome: ``att_gt`` (group-time effects), ``aggregates`` (simple, group, dynamic,
calendar; elements with their interval type), ``pretest`` (Wald pre-test), ``bootstrap`` (draws, critical values,
whether bands are simultaneous), ``wild_cluster_bootstrap``, ``twfe`` and ``notes``. Diagnostics the runner adds
beside them — the Goodman-Bacon decomposition, HonestDiD sensitivity, the power of the pre-trend test, effect
sizes — are looked up under the names listed in :data:`EXTRA_KEYS`, in the outcome's details first, then in
``design.extra`` (keyed by outcome or not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cteimpact.reporting.rundir import RunContents

__all__ = ["EXTRA_KEYS", "details_by_outcome", "extra_for", "pretest_decision"]

EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "bacon": ("bacon", "bacon_decomposition", "goodman_bacon"),
    "honest": ("honest", "honest_did", "honestdid", "sensitivity"),
    "pretrend_power": ("pretrend_power", "pretest_power", "pre_trend_power"),
    "effect_sizes": ("effect_sizes", "effect_size"),
    "baseline_equivalence": ("baseline_equivalence",),
    "twfe_event_study": ("twfe_event_study",),
    "sun_abraham": ("sun_abraham", "sunab"),
}


def details_by_outcome(run: RunContents) -> dict[str, Mapping[str, Any]]:
    """Outcome → its DiD details (one outcome per DiD result; a ``by_outcome`` mapping for several)."""
    det = run.details
    if isinstance(det.get("by_outcome"), Mapping):
        return {str(k): v for k, v in det["by_outcome"].items() if isinstance(v, Mapping)}
    if "att_gt" in det or "aggregates" in det:
        outcome = run.options.get("outcome") or (run.outcomes[0] if run.outcomes else "outcome")
        return {str(outcome): det}
    return {}


def extra_for(run: RunContents, outcome: str, what: str) -> Any:
    """The diagnostic ``what`` (a key of :data:`EXTRA_KEYS`) of ``outcome``, or None when the run has none."""
    names = EXTRA_KEYS[what]
    det = details_by_outcome(run).get(outcome) or {}
    for source in (det, det.get("extra") or {}, run.extra):
        if not isinstance(source, Mapping):
            continue
        for name in names:
            value = source.get(name)
            if value is None:
                continue
            if isinstance(value, Mapping) and outcome in value and isinstance(value[outcome], (Mapping, list)):
                return value[outcome]
            return value
    return None


def pretest_decision(det: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], float | None] | None:
    """The pre-trend test a reader should judge by, its record and its p-value.

    The event-study test (cohorts pooled) with its small-sample p-value when clustered, else its chi-square
    p-value; the group-time test (R ``did``'s) only when the event-study one was not recorded. ``None`` when
    neither was computed."""
    for key, name in (("pretest_event_study", "event-study"), ("pretest", "group-time")):
        rec = det.get(key)
        if isinstance(rec, Mapping):
            p = rec.get("p_value_f") if rec.get("p_value_f") is not None else rec.get("p_value")
            return name, rec, None if p is None else float(p)
    return None


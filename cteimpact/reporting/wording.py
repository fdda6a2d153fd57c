"""Words and units for the reports: what an outcome is called, in which unit its effects are written, and the
plain-language sentences of the summary.

Nothing here computes a statistic: every number comes from ``results.json``. The only arithmetic is a change of
unit for display (a difference of proportions written in percentage points) and, where the summary states a
relative effect, the ratio of two recorded numbers, with both shown beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cteimpact.data.roles import ROLES
from cteimpact.reporting.formatting import (
    MISSING,
    decimals_for_se,
    format_ci,
    format_count,
    format_effect,
    format_money,
    format_number,
    format_p_value,
    format_percent,
)
from cteimpact.reporting.rundir import finite

__all__ = [
    "CI_TYPE_NAMES",
    "PP",
    "OutcomeInfo",
    "OutcomeKind",
    "ci_type_name",
    "count_text",
    "outcome_info",
    "p_text",
    "significance_clause",
    "verdict_name",
]

OutcomeKind = Literal["proportion", "money", "number"]

PP = "\u00a0pp"
"""Unit of a difference of proportions, after a no-break space so that a number and its unit stay on one line."""

_ROLE_NAMES = {
    "dropout": "dropout",
    "graduation": "graduation",
    "earnings": "earnings",
    "employed": "employment",
    "pathway": "pathway participation",
    "award": "award",
}

CI_TYPE_NAMES = {
    "robust_bias_corrected": "robust bias-corrected",
    "conventional": "conventional",
    "bias_corrected": "bias-corrected (conventional SE)",
    "simultaneous": "simultaneous (sup-t band)",
    "pointwise": "pointwise",
    "wild_cluster_bootstrap": "wild cluster bootstrap",
    "randomization": "randomisation",
    "normal": "normal",
    "t": "t",
}

_VERDICTS = {
    "pass": "pass",
    "flag": "FLAG",
    "not_run": "not run",
    "met": "met",
    "not_met": "NOT MET",
    "needs_human_review": "needs review",
    "not_applicable": "n/a",
}


def ci_type_name(kind: Any) -> str:
    """Reader's name of an interval type (``"robust_bias_corrected"`` → ``"robust bias-corrected"``)."""
    if not kind:
        return MISSING
    return CI_TYPE_NAMES.get(str(kind), str(kind).replace("_", " "))


def verdict_name(verdict: Any) -> str:
    """Reader's name of a check verdict or a standards status (``"not_met"`` → ``"NOT MET"``)."""
    return _VERDICTS.get(str(verdict), str(verdict).replace("_", " "))


def _role_of(column: str, spec: Mapping[str, Any]) -> str | None:
    columns = (spec.get("data") or {}).get("columns") or {}
    for role, col in columns.items():
        if col == column:
            return str(role)
    return None


@dataclass(frozen=True)
class OutcomeInfo:
    """How a report names an outcome and writes its effects.

    Attributes
    ----------
    column
        The outcome's column in the data.
    name
        Reader's name (``"dropout"``, ``"graduation"``; the column name with spaces otherwise).
    kind
        ``"proportion"`` (a 0/1 outcome or a share: effects in percentage points, levels in percent), ``"money"``
        (earnings: dollars) or ``"number"``.
    role
        The role of the student-data contract the column fills, if any.
    """

    column: str
    name: str
    kind: OutcomeKind
    role: str | None = None
    currency: str = "$"

    @property
    def title(self) -> str:
        return self.name[:1].upper() + self.name[1:]

    # -- effects (differences) -------------------------------------------------------------------------------
    def effect(self, x: Any, se: Any = None, *, signed: bool = False) -> str:
        """An effect in the outcome's unit: ``-5.9 pp``, ``-$1,234``, ``-0.059``."""
        v = finite(x)
        if v is None:
            return MISSING
        s = finite(se)
        if self.kind == "proportion":
            text = format_effect(100 * v, se=None if s is None else 100 * s, digits=2, signed=signed)
            return text + PP
        if self.kind == "money":
            return format_money(v, signed=signed, currency=self.currency)
        return format_effect(v, se=s, signed=signed)

    def se(self, se: Any) -> str:
        """A standard error in the outcome's unit."""
        s = finite(se)
        if s is None:
            return MISSING
        if self.kind == "proportion":
            return format_effect(100 * s, se=100 * s) + PP
        if self.kind == "money":
            return format_money(s, currency=self.currency)
        return format_effect(s, se=s)

    def ci(self, lower: Any, upper: Any, se: Any = None) -> str:
        """An interval in the outcome's unit: ``[-16.0, 1.9] pp``, ``[$317, $1,681]`` (no-break spaces, so that an
        interval is never split across lines)."""
        return self._ci(lower, upper, se).replace(", ", ",\u00a0")

    def _ci(self, lower: Any, upper: Any, se: Any = None) -> str:
        lo, hi, s = finite(lower), finite(upper), finite(se)
        if lo is None or hi is None:
            return MISSING
        if self.kind == "proportion":
            if s is not None:
                return format_ci(100 * lo, 100 * hi, se=100 * s) + PP
            return format_ci(100 * lo, 100 * hi, digits=2) + PP
        if self.kind == "money":
            return f"[{format_money(lo, currency=self.currency)}, {format_money(hi, currency=self.currency)}]"
        return format_ci(lo, hi, se=s)

    def size(self, x: Any, se: Any = None) -> str:
        """The magnitude of an effect in words: ``5.9 percentage points``, ``$1,234``, ``0.059``."""
        v = finite(x)
        if v is None:
            return MISSING
        if self.kind == "proportion":
            s = finite(se)
            decimals = decimals_for_se(100 * s) if s is not None else None
            return format_number(abs(100 * v), digits=2, decimals=decimals) + " percentage points"
        if self.kind == "money":
            return format_money(abs(v), currency=self.currency)
        return format_effect(abs(v), se=finite(se))

    # -- levels (means) --------------------------------------------------------------------------------------
    def level(self, x: Any) -> str:
        """A mean of the outcome: ``9.6%``, ``$21,400``, ``0.42``."""
        v = finite(x)
        if v is None:
            return MISSING
        if self.kind == "proportion":
            return format_percent(v, decimals=1)
        if self.kind == "money":
            return format_money(v, currency=self.currency)
        return format_number(v)


def outcome_info(column: str, spec: Mapping[str, Any], *, currency: str = "$") -> OutcomeInfo:
    """How to name and write the outcome ``column`` of a run whose resolved specification is ``spec``.

    The unit follows the role the column fills in the specification's column map (a ``binary`` role such as
    ``dropout`` is a proportion, ``earnings`` is money); an unmapped column named like a role's usual column
    (``earnings_age19``, ``employed_age19``) is treated as that role.
    """
    mapped = _role_of(column, spec)
    role = mapped
    if role is None:
        stem = column.lower()
        for candidate in ("earnings", "employed", "dropout", "graduat", "pathway"):
            if stem.startswith(candidate):
                role = {"graduat": "graduation"}.get(candidate, candidate)
                break
    if role is not None and role in ROLES and ROLES[role].kind == "binary":
        kind: OutcomeKind = "proportion"
    elif role == "earnings":
        kind = "money"
    else:
        kind = "number"
    if mapped is not None and mapped in _ROLE_NAMES:
        name = _ROLE_NAMES[mapped]
    else:
        name = re.sub(r"_age_?(\d+)$", r" at age \1", column).replace("_", " ")
    return OutcomeInfo(column=column, name=name, kind=kind, role=role, currency=currency)


def significance_clause(p_value: Any, level: float) -> str:
    """``"statistically significant at the 5% level (p = 0.008)"`` or its negation."""
    p = finite(p_value)
    alpha = 1.0 - level
    pct = f"{100 * alpha:.3g}"
    if p is None:
        return "its significance could not be assessed (no p-value)"
    if p < alpha:
        return f"statistically significant at the {pct}% level ({p_text(p)})"
    return f"not statistically significant at the {pct}% level ({p_text(p)})"


def p_text(p: Any) -> str:
    """``"p = 0.042"`` or ``"p < 0.001"``."""
    text = format_p_value(finite(p))
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def count_text(n: Any, min_cell: int) -> str:
    """A count, or the suppression marker for counts below ``min_cell`` (used in running text)."""
    v = finite(n)
    if v is None:
        return MISSING
    if v < min_cell:
        return f"fewer than {min_cell}"
    return format_count(round(v))

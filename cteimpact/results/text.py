"""Plain-text tables of estimates for ``summary()`` methods."""

from __future__ import annotations

import math
from collections.abc import Sequence

from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.estimate import EffectEstimate

__all__ = ["format_estimates", "format_number", "format_p"]


def format_number(x: float | None, digits: int = 4) -> str:
    """``x`` with ``digits`` significant decimals, ``NA`` for missing, scientific notation for tiny p-values."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    if x != 0 and abs(x) < 10 ** (-digits):
        return f"{x:.{max(digits - 2, 1)}e}"
    return f"{x:,.{digits}f}"


def format_p(p: float | None) -> str:
    """A p-value as readers meet it: three decimals, ``< 0.001`` below that (never scientific notation)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_estimates(estimates: Sequence[EffectEstimate], digits: int = 4) -> str:
    """An aligned text table: label, term, estimate, SE, p-value, interval and its type, effective N.

    An estimate hidden by the small-cell rule shows the suppression marker in place of every number."""
    header = ["label", "term", "estimate", "std.err", "p-value", "CI", "CI type", "N eff"]
    rows = [header]
    for e in estimates:
        level = f"{round(e.ci_level * 100):d}%"
        if e.suppressed:
            m = SUPPRESSION_MARKER
            rows.append([e.label, e.term, m, m, m, f"{level} [{m}]", e.ci_type, m])
            continue
        rows.append([
            e.label,
            e.term,
            format_number(e.estimate, digits),
            format_number(e.std_error, digits),
            format_number(e.p_value, digits),
            f"{level} [{format_number(e.ci_lower, digits)}, {format_number(e.ci_upper, digits)}]",
            e.ci_type,
            "NA" if e.n_effective is None else f"{e.n_effective:,.0f}",
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for j, r in enumerate(rows):
        cells = [c.ljust(w) if i < 2 or i == 6 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)

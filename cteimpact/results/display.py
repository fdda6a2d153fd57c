"""Short and rich displays of a result: the one-line ``repr`` and the notebook HTML table.

Both read only the results contract (estimates, sample flow, design), so every design's results get them. Every
string placed in HTML is escaped with :func:`html.escape`; numbers hidden by the small-cell rule show the
suppression marker, as in the text summary.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.text import format_number

__all__ = ["MAX_HTML_ROWS", "headline_estimate", "html_table", "outcomes_of", "short_repr"]

MAX_HTML_ROWS = 40
"""Estimate rows shown in the notebook table (the rest are counted below it; ``tidy()`` has them all)."""

_MAX_NAME = 30
_MAX_OUTCOMES = 3


def _clip(text: str, width: int = _MAX_NAME) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def outcomes_of(estimates: Sequence[EffectEstimate]) -> list[str]:
    """The outcomes of ``estimates``, in order of first appearance."""
    return list(dict.fromkeys(e.outcome for e in estimates))


def headline_estimate(estimates: Sequence[EffectEstimate]) -> EffectEstimate | None:
    """The primary estimate of the first outcome (labelled with the outcome's name), else the first estimate."""
    for e in estimates:
        if e.label == e.outcome:
            return e
    return estimates[0] if estimates else None


def _estimate_text(e: EffectEstimate | None) -> str:
    if e is None:
        return "no estimates"
    if e.suppressed:
        return f"{_clip(e.label)}={SUPPRESSION_MARKER} (suppressed)"
    if not math.isfinite(e.std_error):
        return f"{_clip(e.label, 30)}={e.estimate:.4g} (no SE)"
    return f"{_clip(e.label, 30)}={e.estimate:.4g} (SE {e.std_error:.4g})"


def short_repr(class_name: str, design: str, estimates: Sequence[EffectEstimate], n_used: int, unit: str) -> str:
    """One line: class, design, outcome(s), headline estimate and standard error (4 significant digits), N.

    Every part is clipped, so the line stays under 200 characters whatever the names."""
    outcomes = outcomes_of(estimates)
    shown = ",".join(_clip(o, 24) for o in outcomes[:_MAX_OUTCOMES])
    if len(outcomes) > _MAX_OUTCOMES:
        shown += f",…(+{len(outcomes) - _MAX_OUTCOMES})"
    key = "outcome" if len(outcomes) == 1 else "outcomes"
    return (f"<{_clip(class_name, 30)} design={_clip(design, 20)} {key}={shown} "
            f"{_estimate_text(headline_estimate(estimates))} N={n_used:,} {_clip(unit, 20)}>")


def _cells(e: EffectEstimate) -> list[str]:
    level = f"{round(e.ci_level * 100):d}%"
    if e.suppressed:
        m = SUPPRESSION_MARKER
        return [e.label, e.term, m, m, m, m, m, level, e.ci_type, m]
    n_eff = "NA" if e.n_effective is None else f"{e.n_effective:,.0f}"
    return [e.label, e.term, format_number(e.estimate), format_number(e.std_error), format_number(e.p_value),
            format_number(e.ci_lower), format_number(e.ci_upper), level, e.ci_type, n_eff]


_HEADER = ("label", "term", "estimate", "std.err", "p-value", "CI lower", "CI upper", "level", "CI type", "N eff")
_NUMERIC = frozenset({2, 3, 4, 5, 6, 9})


def html_table(caption: str, estimates: Sequence[EffectEstimate], *, footer: str = "",
               max_rows: int = MAX_HTML_ROWS) -> str:
    """An HTML table of the estimates (the ``tidy()`` columns people read) with ``caption`` and ``footer``."""
    esc = html.escape
    parts = ['<table class="cteimpact-results">', f"<caption>{esc(caption)}</caption>", "<thead><tr>"]
    parts += [f"<th>{esc(h)}</th>" for h in _HEADER]
    parts.append("</tr></thead><tbody>")
    for e in estimates[:max_rows]:
        cells = _cells(e)
        parts.append("<tr>" + "".join(
            f'<td style="text-align:right">{esc(c)}</td>' if i in _NUMERIC else f"<td>{esc(c)}</td>"
            for i, c in enumerate(cells)) + "</tr>")
    parts.append("</tbody></table>")
    notes = []
    if len(estimates) > max_rows:
        notes.append(f"{len(estimates) - max_rows:,} more estimates not shown; tidy() has all "
                     f"{len(estimates):,}.")
    if footer:
        notes.append(footer)
    if notes:
        parts.append("<p>" + "<br>".join(esc(n) for n in notes) + "</p>")
    return "\n".join(parts)

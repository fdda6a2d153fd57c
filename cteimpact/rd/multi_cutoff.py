"""RD designs with multiple cutoffs (Cattaneo, Titiunik & Vazquez-Bare 2020), through rdmulti.

* **Multiple cutoffs** (``cutoff_column``): each student faces one cutoff, given by a column (for example the
  admission threshold of the programme applied to). Reported: one estimate per cutoff, the *weighted* estimate
  (cutoff-specific estimates weighted by their share of the observations within the bandwidths) and the *pooled*
  estimate (one fit on ``score - cutoff``), each with robust bias-corrected inference (``rdmulti.rdmc``).
* **Cumulative cutoffs** (``cutoffs=[c1, c2, ...]``, ``cumulative=True``): every student faces every cutoff and the
  treatment changes at each (for example funding tiers by score). Each cutoff is estimated on the students between
  its neighbouring cutoffs (``rdmulti.rdms`` with those ranges); no pooled estimate.

With ``deriv=1`` every estimate is a kink (change in slope; ``p >= 1`` required).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell
from cteimpact.rd._columns import cluster_codes, numeric_columns, small_cell_reason
from cteimpact.rd.adapters.rdmulti import (
    CutoffEstimate,
    MultiCutoffFit,
    fit_cumulative_cutoffs,
    fit_multiple_cutoffs,
)
from cteimpact.rd.options import RDOptions

__all__ = ["MultiCutoffResult", "multi_cutoff_rd"]

_UNSUPPORTED = ("h", "b", "rho", "sharpbw")
"""RDOptions fields rdmulti is not given here (bandwidths are selected at each cutoff)."""

_NUMBERS = ("estimate", "estimate_bc", "se", "se_robust", "p_value", "p_robust", "ci_lower", "ci_upper",
            "ci_robust_lower", "ci_robust_upper", "h_left", "h_right", "n_left", "n_right", "weight")


@dataclass(frozen=True)
class MultiCutoffResult:
    """Estimates of a multi-cutoff or cumulative-cutoff design.

    Attributes
    ----------
    outcome, running
        Outcome and running-variable columns.
    fit
        rdmulti's output translated (:class:`~cteimpact.rd.adapters.rdmulti.MultiCutoffFit`): rows per cutoff,
        then (multiple cutoffs) ``weighted`` and ``pooled``.
    suppressed
        ``{row label: reason}`` for rows hidden by the small-cell rule (fewer than ``min_cell`` students within the
        bandwidth on a side; the weighted row is hidden when any cutoff is, since it would reveal it).
    """

    outcome: str
    running: str
    cutoff_column: str | None
    fit: MultiCutoffFit
    options: RDOptions
    n_rows: int
    min_cell: int = DEFAULT_MIN_CELL
    suppressed: tuple[tuple[str, str], ...] = ()

    @property
    def rows(self) -> tuple[CutoffEstimate, ...]:
        return self.fit.rows

    def label(self, row: CutoffEstimate) -> str:
        """``<outcome>[cutoff=55]``, ``<outcome>[weighted]``, ``<outcome>[pooled]`` (``[kink, ...]`` with deriv=1)."""
        return f"{self.outcome}[{'kink, ' if self.fit.deriv == 1 else ''}{row.label}]"

    def tidy(self) -> pd.DataFrame:
        """One row per estimate; ``ci_*`` conventional, ``ci_robust_*`` robust bias-corrected; hidden rows keep
        their label with every number None."""
        hidden = dict(self.suppressed)
        out = []
        for r in self.rows:
            nums: dict[str, Any] = {
                "estimate": r.estimate, "estimate_bc": r.estimate_bc, "se": r.se, "se_robust": r.se_robust,
                "p_value": r.p_value, "p_robust": r.p_robust, "ci_lower": r.ci[0], "ci_upper": r.ci[1],
                "ci_robust_lower": r.ci_robust[0], "ci_robust_upper": r.ci_robust[1],
                "h_left": None if r.h is None else r.h[0], "h_right": None if r.h is None else r.h[1],
                "n_left": r.n_h[0], "n_right": r.n_h[1], "weight": r.weight}
            if r.label in hidden:
                nums = dict.fromkeys(_NUMBERS)
            out.append({"label": self.label(r), "kind": r.kind, "cutoff": r.cutoff, **nums,
                        "suppressed": r.label in hidden, "suppression": hidden.get(r.label)})
        return pd.DataFrame(out)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        tidy = self.tidy()
        return {"kind": "rd_multi_cutoff", "design": "cumulative cutoffs" if self.fit.cumulative
                else "multiple cutoffs", "outcome": self.outcome, "running": self.running,
                "cutoff_column": self.cutoff_column, "cutoffs": list(self.fit.cutoffs), "deriv": self.fit.deriv,
                "level": self.fit.level, "options": self.options.to_dict(), "n_rows": self.n_rows,
                "min_cell": self.min_cell,
                "estimates": tidy.astype(object).where(tidy.notna(), None).to_dict("records")}

    def summary(self) -> str:
        """Text table: estimate, robust CI and p-value, bandwidths, counts within them and weights."""
        design = "cumulative cutoffs" if self.fit.cumulative else "multiple cutoffs"
        what = "Kink (change in slope)" if self.fit.deriv == 1 else "RD effect"
        lines = [f"{what} of '{self.outcome}' with {design} on '{self.running}' "
                 f"({len(self.fit.cutoffs)} cutoffs, {self.n_rows} rows; robust bias-corrected inference)",
                 f"{'estimate':<28}{'coef':>10}{'robust ' + format(self.fit.level, 'g') + '% CI':>26}"
                 f"{'p':>8}{'h':>18}{'n (l, r)':>14}{'weight':>8}"]
        for _, r in self.tidy().iterrows():
            if r["suppressed"]:
                lines.append(f"{r['label']:<28}  not shown ({r['suppression']})")
                continue
            h = "." if pd.isna(r["h_left"]) else f"{r['h_left']:.3g}, {r['h_right']:.3g}"
            w = "." if pd.isna(r["weight"]) else f"{r['weight']:.3f}"
            ci = f"[{r['ci_robust_lower']:.4g}, {r['ci_robust_upper']:.4g}]"
            lines.append(f"{r['label']:<28}{r['estimate']:>10.4g}{ci:>26}{r['p_robust']:>8.3f}{h:>18}"
                         f"{str(r['n_left']) + ', ' + str(r['n_right']):>14}{w:>8}")
        return "\n".join(lines)

    def with_min_cell(self, min_cell: int) -> MultiCutoffResult:
        """The result as published under the small-cell rule."""
        m = check_min_cell(min_cell)
        hidden: list[tuple[str, str]] = []
        for r in self.rows:
            reason = small_cell_reason(r.n_h, m)
            if reason is not None and r.kind != "weighted":
                hidden.append((r.label, reason))
        if any(kind == "cutoff" for kind in (r.kind for r in self.rows if r.label in dict(hidden))):
            hidden += [(r.label, "combines a cutoff-specific estimate that is hidden") for r in self.rows
                       if r.kind == "weighted"]
        return replace(self, min_cell=m, suppressed=tuple(hidden))


def _check_options(options: RDOptions, deriv: int) -> None:
    defaults = RDOptions()
    given = [name for name in _UNSUPPORTED if getattr(options, name) != getattr(defaults, name)]
    if given:
        raise OptionError(f"option{'s' if len(given) > 1 else ''} {', '.join(given)} cannot be used with multiple "
                          "cutoffs (bandwidths are selected at each cutoff)")
    if deriv not in (0, 1):
        raise OptionError(f"deriv must be 0 (jump) or 1 (kink), got {deriv!r}")
    if deriv == 1 and options.p < 1:
        raise OptionError(f"p (polynomial order) must be at least 1 for a kink design (deriv=1), got p={options.p}")


def multi_cutoff_rd(
    data: pd.DataFrame,
    *,
    outcome: str,
    score: str,
    cutoff_column: str | None = None,
    cutoffs: Sequence[float] | None = None,
    cumulative: bool = False,
    treatment: str | None = None,
    cluster: str | None = None,
    deriv: int = 0,
    options: RDOptions | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    **given: Any,
) -> MultiCutoffResult:
    """Estimate an RD design with multiple cutoffs (``cutoff_column``) or cumulative cutoffs (``cutoffs`` with
    ``cumulative=True``) through rdmulti.

    Parameters
    ----------
    data
        One row per student.
    outcome, score
        Outcome and running-variable columns.
    cutoff_column
        Multiple cutoffs: the column of each student's cutoff (at least two distinct values).
    cutoffs, cumulative
        Cumulative cutoffs: the cutoffs every student faces, strictly increasing; ``cumulative`` must be True.
    treatment
        Fuzzy design: the treatment take-up column.
    cluster
        Cluster column (cluster-robust variance, cr1 by default).
    deriv
        0: jumps; 1: kinks (changes in slope).
    options, **given
        :class:`~cteimpact.rd.options.RDOptions` or its fields as keywords (``h``, ``b``, ``rho`` and ``sharpbw``
        are not available here); with ``deriv=1`` and keywords, ``p`` defaults to 2 (rdrobust's kink default).
    min_cell
        Small-cell threshold of the published result.

    Raises
    ------
    OptionError
        Neither or both of ``cutoff_column`` and ``cutoffs``; ``cutoffs`` without ``cumulative=True`` (or a cutoff
        column with it); an option rdmulti is not given here; ``deriv=1`` with ``p < 1``.
    DesignError
        Fewer than two distinct cutoffs, a cutoff outside the data, or a cutoff with too few observations.
    """
    if options is not None and given:
        raise OptionError(f"give either options or keyword options ({', '.join(sorted(given))}), not both")
    if options is None and deriv == 1 and "p" not in given:
        given = {**given, "p": 2}  # rdrobust's default order for a kink
    opts = options if options is not None else RDOptions(**given)
    if (cutoff_column is None) == (cutoffs is None):
        raise OptionError("give exactly one of cutoff_column (multiple cutoffs, one per student) and cutoffs "
                          "(cumulative cutoffs every student faces)")
    if cutoffs is not None and not cumulative:
        raise OptionError("cutoffs (a list every student faces) are cumulative cutoffs: pass cumulative=True "
                          "(--cumulative), or give cutoff_column (--cutoff-column) for one cutoff per student")
    if cutoff_column is not None and cumulative:
        raise OptionError("cumulative=True takes the list of cutoffs (cutoffs=), not a cutoff column")
    if isinstance(deriv, bool) or not isinstance(deriv, int):
        raise OptionError(f"deriv must be 0 (jump) or 1 (kink), got {deriv!r}")
    _check_options(opts, deriv)
    context = f"multi-cutoff estimate of '{outcome}'"
    arrays = numeric_columns(data, {"outcome": outcome, "running variable": score, "cutoff": cutoff_column,
                                    "treatment": treatment}, context=context)
    clusters = cluster_codes(data, cluster, context=context)
    kw = {k: v for k, v in opts.rdrobust_kwargs(clustered=clusters is not None).items() if k not in _UNSUPPORTED}
    common: dict[str, Any] = {**kw, "deriv": deriv, "fuzzy": arrays.get("treatment"), "cluster": clusters,
                              "context": context}
    if cutoff_column is not None:
        fit = fit_multiple_cutoffs(arrays["outcome"], arrays["running variable"], arrays["cutoff"], **common)
    else:
        try:
            cs = [float(c) for c in cutoffs or ()]
        except (TypeError, ValueError):
            raise OptionError(f"cutoffs must be numbers, got {cutoffs!r}") from None
        fit = fit_cumulative_cutoffs(arrays["outcome"], arrays["running variable"], cs, **common)
    result = MultiCutoffResult(outcome=outcome, running=score, cutoff_column=cutoff_column, fit=fit, options=opts,
                               n_rows=len(data))
    return result.with_min_cell(min_cell)

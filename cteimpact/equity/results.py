"""Results of an equity analysis: :class:`EquityResults`.

Estimate rows (``tidy()``, the fixed schema of every result): for each outcome and subgroup column, the effect at
each level (``Y[col=level]``, from the design's own estimator) and each level's difference from the reference level
(``Y[col=level vs col=ref]``). Beside them: the tests of equal effects (each difference and, for columns of three or
more levels, the omnibus Wald test) with multiplicity-adjusted p-values (:meth:`EquityResults.tidy_tests`), and the
access gaps (:meth:`EquityResults.tidy_access`).

Everything held is already published form: a suppressed estimate, test, rate or count keeps only its label, the
flag and the reason (which states the threshold, never the small count).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.equity.access import ACCESS_GAP_COLUMNS, ACCESS_RATE_COLUMNS, AccessGaps
from cteimpact.equity.contrasts import EqualityTest, LevelEffects, block_covariance
from cteimpact.equity.multiplicity import METHOD_TEXT
from cteimpact.provenance.suppression import SUPPRESSION_MARKER
from cteimpact.results.contract import ImpactResults
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import EffectEstimate
from cteimpact.results.text import format_estimates

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TEST_COLUMNS", "EquityResults"]

TEST_COLUMNS: tuple[str, ...] = ("label", "design", "outcome", "column", "kind", "levels", "statistic", "df",
                                 "p_value", "p_adjusted", "adjustment", "suppressed", "suppression", "note")
"""Columns of :meth:`EquityResults.tidy_tests`."""


@dataclass(frozen=True, eq=False)
class EquityResults(ImpactResults):
    """Subgroup effects, their equality tests with multiplicity control, and access gaps.

    Attributes
    ----------
    estimates
        Level effects and differences from the reference level, for every outcome × subgroup column.
    options
        Every option used (design, subgroup columns and references, outcomes, periods, multiplicity, min_cell).
    sample_flow
        The design's sample flow.
    effects
        One :class:`~cteimpact.equity.contrasts.LevelEffects` per outcome × column (levels, reference, students,
        covariance of the shown levels and how it was obtained).
    tests
        Equality tests, ``p_adjusted`` by :attr:`multiplicity` across every test not suppressed.
    access
        Access rates, gaps and changes (``None`` when no access outcome was asked for).
    multiplicity
        ``"holm"`` or ``"bh"``.
    min_cell
        The small-cell rule's minimum.
    notes
        What the analysis noticed (rows left out, fits not estimated), with no count below ``min_cell``.
    """

    design: ClassVar[str] = "equity"
    estimator: ClassVar[str] = ("Equity analysis: subgroup effects from the design's estimator, differences from a "
                                "reference level, omnibus Wald tests, multiplicity control and access gaps")

    estimates: tuple[EffectEstimate, ...]
    options: Mapping[str, Any]
    sample_flow: SampleFlow
    effects: tuple[LevelEffects, ...]
    tests: tuple[EqualityTest, ...]
    access: AccessGaps | None
    multiplicity: str
    min_cell: int
    notes: tuple[str, ...] = ()

    # -- contract ---------------------------------------------------------------------------------------------
    def sampling_distribution(self) -> SamplingDistribution:
        """Normal distribution of the shown level effects and differences: centred where their intervals are
        (RD: bias-corrected estimates; DiD: the ATTs), with the covariance of the levels of a column (shared
        clusters) and the differences' covariances implied by it; estimates of different outcomes or columns are
        taken as independent (``joint=False`` when there are several blocks)."""
        labels: list[str] = []
        centres: list[np.ndarray] = []
        blocks: list[np.ndarray] = []
        for le in self.effects:
            diffs = [e for e in self.estimates if e.outcome == le.outcome and e.label.startswith(
                f"{le.outcome}[{le.column}=") and " vs " in e.label]
            lab, cen, cov = block_covariance(le, diffs)
            labels += lab
            centres.append(cen)
            blocks.append(cov)
        k = len(labels)
        cov_all = np.zeros((k, k))
        at = 0
        for b in blocks:
            m = b.shape[0]
            cov_all[at:at + m, at:at + m] = b
            at += m
        mean = np.concatenate(centres) if centres else np.zeros(0)
        design = self.options.get("design")
        return SamplingDistribution(tuple(labels), mean, cov_all, joint=len(blocks) <= 1,
                                    centre="bias-corrected RD estimate (tau_bc)" if design == "rd"
                                    else "estimate", scale="the design's standard errors")

    def summary(self) -> str:
        lines = [self.estimator, f"design: {self.options.get('design')}; subgroup columns: "
                 f"{', '.join(self.options.get('subgroups', []))}; small-cell minimum: {self.min_cell} students", ""]
        lines.append("Subgroup effects and differences from the reference level")
        lines.append(format_estimates(self.estimates))
        lines += ["", f"Tests of equal effects; p_adjusted: {METHOD_TEXT[self.multiplicity]} across the "
                  f"{self.family_size('effects')} tests shown"]
        for t in self.tests:
            if t.suppressed:
                lines.append(f"  {t.label}: {SUPPRESSION_MARKER} suppressed ({t.suppression})")
            else:
                lines.append(f"  {t.label}: statistic {t.statistic:.4g} (df {t.df}), p = {t.p_value:.4g}, "
                             f"adjusted p = {t.p_adjusted:.4g}")
        if self.access is not None:
            lines += ["", f"Access gaps (standard errors: {self.access.variance}); p_adjusted: "
                      f"{METHOD_TEXT[self.multiplicity]} across the {self.family_size('access')} gaps shown"]
            for r in self.access.gaps.itertuples():
                if r.suppressed:
                    lines.append(f"  {r.label}: {SUPPRESSION_MARKER} suppressed ({r.suppression})")
                else:
                    lines.append(f"  {r.label}: {r.estimate:+.4f} (SE {r.std_error:.4f}), p = {r.p_value:.4g}, "
                                 f"adjusted p = {r.p_adjusted:.4g}")
            if self.access.suppression_note:
                lines.append(f"  {self.access.suppression_note}")
        if self.notes:
            lines += ["", "Notes", *(f"  {n}" for n in self.notes)]
        lines += ["", "Sample flow", self.sample_flow.summary()]
        return "\n".join(lines)

    def family_size(self, family: str) -> int:
        """Number of tests in a multiplicity family (``"effects"``: equality tests; ``"access"``: access gaps)."""
        if family == "effects":
            return sum(1 for t in self.tests if not t.suppressed and math.isfinite(t.p_value))
        if self.access is None:
            return 0
        p = self.access.gaps["p_value"].to_numpy(dtype=float)
        return int(np.isfinite(p).sum())

    def plot(self, *args: Any, outcome: str | None = None, **kwargs: Any) -> Figure:
        """Forest plot of the level effects of ``outcome`` (default: the first), one panel row per subgroup column,
        the reference level marked; suppressed levels are listed with the suppression marker and no point."""
        from cteimpact.plotting.style import PALETTE, new_figure

        outcome = outcome or (self.effects[0].outcome if self.effects else None)
        shown = [le for le in self.effects if le.outcome == outcome]
        entries: list[tuple[str, EffectEstimate | None, bool]] = []
        for le in shown:
            entries.append((le.column, None, False))
            for lev, row in zip(le.levels, le.rows, strict=True):
                entries.append((f"  {lev}" + (" (reference)" if lev == le.reference else ""), row,
                                lev == le.reference))
        n = max(len(entries), 1)
        fig, ax = new_figure(height=max(2.0, 0.32 * n + 1.0))
        y = np.arange(n)[::-1]
        ticks = []
        for yi, (text, entry, is_ref) in zip(y, entries, strict=False):
            if entry is None:
                ticks.append(text)
                continue
            row = entry
            if row.suppressed:
                ticks.append(f"{text} {SUPPRESSION_MARKER}")
                continue
            ticks.append(text)
            colour = PALETTE["control"] if is_ref else PALETTE["treated"]
            ax.hlines(yi, row.ci_lower, row.ci_upper, color=colour, linewidth=2)
            ax.plot(row.estimate, yi, "o", color=PALETTE["neutral"])
        ax.axvline(0.0, color=PALETTE["neutral"], linewidth=1, linestyle="--")
        ax.set_yticks(y[:len(ticks)], ticks)
        levels = {f"{r.ci_level:.0%}" for le in shown for r in le.rows}
        ax.set_xlabel(f"effect on {outcome} ({'/'.join(sorted(levels))} intervals of the design's type)" if outcome
                      else "effect")
        ax.set_title(f"Effects by subgroup: {outcome}" if outcome else "Effects by subgroup")
        return fig

    def _details(self) -> dict[str, Any]:
        return {
            "effects": [le.to_dict() for le in self.effects],
            "tests": [t.to_dict() for t in self.tests],
            "multiplicity": self.multiplicity_record(),
            "access": None if self.access is None else self.access.to_dict(),
            "min_cell": self.min_cell,
            "notes": list(self.notes),
        }

    # -- tables -----------------------------------------------------------------------------------------------
    def multiplicity_record(self) -> dict[str, Any]:
        """The adjustment and the two families of tests it was applied within."""
        return {
            "method": self.multiplicity, "description": METHOD_TEXT[self.multiplicity],
            "families": {
                "effects": {"tests": self.family_size("effects"),
                            "what": "every equality test of subgroup effects shown (each level against the "
                                    "reference, and the omnibus tests), across all outcomes and subgroup columns"},
                "access": {"tests": self.family_size("access"),
                           "what": "every access gap and change of a gap shown, across all access outcomes, "
                                   "subgroup columns and periods"},
            },
            "suppressed_tests": "tests suppressed by the small-cell rule are not in any family",
        }

    def tidy_tests(self) -> pd.DataFrame:
        """One row per equality test (:data:`TEST_COLUMNS`)."""
        rows = []
        for t in self.tests:
            d = t.to_dict()
            d["levels"] = "; ".join(t.levels)
            d["adjustment"] = self.multiplicity
            rows.append(d)
        return pd.DataFrame(rows, columns=list(TEST_COLUMNS))

    def tidy_access(self) -> dict[str, pd.DataFrame]:
        """``{"rates": ..., "gaps": ...}`` (:data:`~cteimpact.equity.access.ACCESS_RATE_COLUMNS`,
        :data:`~cteimpact.equity.access.ACCESS_GAP_COLUMNS`); empty frames when no access outcome was asked for."""
        if self.access is None:
            return {"rates": pd.DataFrame(columns=list(ACCESS_RATE_COLUMNS)),
                    "gaps": pd.DataFrame(columns=list(ACCESS_GAP_COLUMNS))}
        return {"rates": self.access.rates.copy(), "gaps": self.access.gaps.copy()}


def assemble_results(*, effects: Sequence[LevelEffects], rows: Sequence[EffectEstimate],
                     tests: Sequence[EqualityTest], access: AccessGaps | None, multiplicity: str, min_cell: int,
                     options: Mapping[str, Any], sample_flow: SampleFlow, notes: Sequence[str]) -> EquityResults:
    """Adjust the p-values of each family and build the results (the one constructor :func:`equity_analysis`
    uses)."""
    from dataclasses import replace

    from cteimpact.equity.multiplicity import adjust_pvalues

    p = np.array([t.p_value if not t.suppressed else math.nan for t in tests], dtype=float)
    adj = adjust_pvalues(p, multiplicity)  # type: ignore[arg-type]
    tests = [replace(t, p_adjusted=float(a)) for t, a in zip(tests, adj, strict=True)]
    if access is not None and not access.gaps.empty:
        gaps = access.gaps.copy()
        gaps["p_adjusted"] = adjust_pvalues(gaps["p_value"].to_numpy(dtype=float), multiplicity)  # type: ignore[arg-type]
        access = replace(access, gaps=gaps)
    return EquityResults(estimates=tuple(rows), options=dict(options), sample_flow=sample_flow,
                         effects=tuple(effects), tests=tuple(tests), access=access, multiplicity=multiplicity,
                         min_cell=int(min_cell), notes=tuple(dict.fromkeys(notes)))

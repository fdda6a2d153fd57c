"""Regression kink designs: the change in the *slope* of the outcome at the cutoff (rdrobust with ``deriv=1``).

A sharp kink estimates the jump in the first derivative of ``E[Y | X = x]`` at the cutoff; a fuzzy kink divides it by
the jump in the first derivative of the treatment (rdrobust's ``fuzzy=`` with ``deriv=1``: a ratio of kinks, Card,
Lee, Pei & Weber 2015). Estimates are labelled ``<outcome>[kink]``. A kink needs a local polynomial of order at
least 1 (``p >= 1``); the default is ``p = 2`` (local quadratic, bias-corrected with a local cubic), rdrobust's own
default with ``deriv=1``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cteimpact.errors import OptionError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL, check_min_cell
from cteimpact.rd._columns import cluster_codes, numeric_columns, small_cell_reason
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit, fit_rdrobust
from cteimpact.rd.options import RDOptions

__all__ = ["KINK_DEFAULT_P", "KINK_DERIV", "KinkResult", "kink_options", "kink_rd"]

KINK_DERIV = 1
"""The derivative a kink design estimates the change of (the slope)."""
KINK_DEFAULT_P = 2
"""Default polynomial order of a kink (rdrobust's own default with ``deriv=1``: ``p = deriv + 1``)."""


def kink_options(options: RDOptions | None = None, **given: Any) -> RDOptions:
    """The estimation options of a kink design: ``options`` (or :class:`RDOptions` built from ``given``), checked
    to have a polynomial order ``p`` of at least 1.

    Raises
    ------
    OptionError
        ``p < 1`` (a local constant has no slope), or both ``options`` and keywords were given.
    """
    if options is not None and given:
        raise OptionError(f"give either options or keyword options ({', '.join(sorted(given))}), not both")
    opts = options if options is not None else RDOptions(**{"p": KINK_DEFAULT_P, **given})
    if opts.p < KINK_DERIV:
        raise OptionError(f"p (polynomial order) must be at least {KINK_DERIV} for a kink design (deriv="
                          f"{KINK_DERIV}: the change in slope at the cutoff), got p={opts.p}")
    return opts


@dataclass(frozen=True)
class KinkResult:
    """A kink estimate (change in slope at the cutoff).

    Attributes
    ----------
    outcome, label
        The outcome column and the estimate's label (``<outcome>[kink]``).
    design
        ``"sharp kink"`` or ``"fuzzy kink"`` (ratio of the outcome's kink to the treatment's).
    fit
        rdrobust's fit with ``deriv=1`` (``estimate`` conventional, ``estimate_bc`` bias-corrected; ``ci[2]``
        robust bias-corrected); ``fit.first_stage`` is the treatment's kink in a fuzzy design.
    options
        The estimation options used.
    n_rows
        Rows of the data used (all of them: missing values are an error, never dropped).
    suppressed
        Why every number is hidden (fewer than ``min_cell`` students within the bandwidth on a side), or None.
    """

    outcome: str
    label: str
    design: Literal["sharp kink", "fuzzy kink"]
    running: str
    cutoff: float
    fit: LocalPolynomialFit
    options: RDOptions
    n_rows: int
    min_cell: int = DEFAULT_MIN_CELL
    suppressed: str | None = None

    def tidy(self) -> pd.DataFrame:
        """One row per estimate (the kink; in a fuzzy design also the treatment's kink, the first stage); every
        number None when suppressed. Inference columns are robust bias-corrected."""
        f = self.fit
        rows: list[dict[str, Any]] = []
        entries: list[tuple[str, str, Any]] = [(self.label, "change in slope" if self.design == "sharp kink"
                                                else "ratio of kinks (outcome / treatment)", f)]
        if f.first_stage is not None:
            entries.append((f"{self.outcome}[kink first stage]", "change in slope of the treatment", f.first_stage))
        for label, estimand, j in entries:
            nums = {"estimate": j.estimate, "estimate_bc": j.estimate_bc, "se": j.se, "se_robust": j.se_robust,
                    "ci_lower": j.ci[2][0], "ci_upper": j.ci[2][1], "p_robust": j.p_value[2],
                    "h_left": f.h[0], "h_right": f.h[1], "n_left": f.n_h[0], "n_right": f.n_h[1]}
            if self.suppressed is not None:
                nums = dict.fromkeys(nums)
            rows.append({"label": label, "estimand": estimand, "deriv": KINK_DERIV, **nums,
                         "suppressed": self.suppressed is not None})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        fit = None if self.suppressed is not None else self.fit.to_dict()
        return {"kind": "rd_kink", "outcome": self.outcome, "label": self.label, "design": self.design,
                "running": self.running, "cutoff": self.cutoff, "deriv": KINK_DERIV,
                "options": self.options.to_dict(), "n_rows": self.n_rows, "min_cell": self.min_cell,
                "suppressed": self.suppressed is not None, "suppression": self.suppressed,
                "estimates": self.tidy().astype(object).where(self.tidy().notna(), None).to_dict("records"),
                "fit": fit}

    def summary(self) -> str:
        """Text summary: the kink with robust bias-corrected inference, bandwidths and counts."""
        f = self.fit
        lines = [f"Regression kink design ({self.design}): change in the slope of '{self.outcome}' at "
                 f"{self.running} = {self.cutoff:g}",
                 f"  polynomial order p = {f.p} (bias correction q = {f.q}), kernel {f.kernel}, vce {f.vce}"]
        if self.suppressed is not None:
            lines.append(f"  {self.label}: not shown ({self.suppressed})")
            return "\n".join(lines)
        for _, r in self.tidy().iterrows():
            lines.append(f"  {r['label']}: {r['estimate']:.4g} (bias-corrected {r['estimate_bc']:.4g}); robust "
                         f"{f.level:g}% CI [{r['ci_lower']:.4g}, {r['ci_upper']:.4g}], robust p = "
                         f"{r['p_robust']:.3g}")
        lines.append(f"  bandwidth h = {f.h[0]:.4g} (left), {f.h[1]:.4g} (right); observations within h: "
                     f"{f.n_h[0]} left, {f.n_h[1]} right (of {self.n_rows} rows)")
        return "\n".join(lines)

    def with_min_cell(self, min_cell: int) -> KinkResult:
        """The result as published: every number hidden when fewer than ``min_cell`` students are within the
        bandwidth on a side."""
        m = check_min_cell(min_cell)
        return replace(self, min_cell=m, suppressed=small_cell_reason(self.fit.n_h, m))


def kink_rd(
    data: pd.DataFrame,
    *,
    outcome: str,
    score: str,
    cutoff: float,
    treatment: str | None = None,
    cluster: str | None = None,
    covariates: tuple[str, ...] | list[str] = (),
    weights: str | None = None,
    options: RDOptions | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    **given: Any,
) -> KinkResult:
    """Estimate a (sharp or fuzzy) regression kink: the change in slope of ``outcome`` at ``cutoff`` of ``score``.

    Parameters
    ----------
    data
        One row per student.
    outcome, score, cutoff
        Outcome column, running-variable column and the cutoff.
    treatment
        Fuzzy kink: the treatment (intensity) column whose kink divides the outcome's.
    cluster, covariates, weights
        As for :class:`~cteimpact.rd.RegressionDiscontinuity`.
    options, **given
        :class:`~cteimpact.rd.options.RDOptions`, or its fields as keywords (``p``, ``kernel``, ``h``, ...);
        ``p`` must be at least 1 (default 2 when given as keywords).
    min_cell
        Small-cell threshold of the published result.

    Raises
    ------
    OptionError
        ``p < 1`` or an invalid option.
    MissingColumnError, ColumnTypeError, DataValidationError
        A column not in the data, non-numeric or with missing values.
    DesignError
        The cutoff is outside the data, too few observations near it, or no kink in the treatment (fuzzy).
    """
    opts = kink_options(options, **given)
    context = f"kink estimate of '{outcome}'"
    roles: dict[str, str | None] = {"outcome": outcome, "running variable": score, "treatment": treatment,
                                    "weights": weights}
    arrays = numeric_columns(data, roles, context=context)
    covs = numeric_columns(data, {f"covariate {c}": c for c in covariates}, context=context)
    clusters = cluster_codes(data, cluster, context=context)
    try:
        cut = float(cutoff)
    except (TypeError, ValueError):
        raise OptionError(f"cutoff must be a number, got {cutoff!r}") from None
    fit = fit_rdrobust(
        arrays["outcome"], arrays["running variable"], cutoff=cut, fuzzy=arrays.get("treatment"),
        covariates=np.column_stack(list(covs.values())) if covs else None, cluster=clusters,
        weights=arrays.get("weights"), deriv=KINK_DERIV, **opts.rdrobust_kwargs(clustered=clusters is not None),
        context=context)
    result = KinkResult(outcome=outcome, label=f"{outcome}[kink]",
                        design="fuzzy kink" if treatment is not None else "sharp kink", running=score, cutoff=cut,
                        fit=fit, options=opts, n_rows=len(data))
    return result.with_min_cell(min_cell)

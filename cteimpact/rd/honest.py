"""The bias-aware (honest) interval of an RD outcome, beside the robust one: options to adapter arguments, and the
note on a running variable with few mass points."""

from __future__ import annotations

from typing import Any

import numpy as np

from cteimpact.errors import DesignError, OptionError
from cteimpact.rd.adapters.rdhonest import DEFAULT_M_MULTIPLIERS, FEW_MASS_POINTS, HonestRD, fit_honest
from cteimpact.rd.adapters.rdrobust import LocalPolynomialFit
from cteimpact.rd.options import RDOptions

__all__ = ["check_support", "check_support_counts", "few_values_note", "honest_interval", "mass_points_note"]


def check_support(outcome: str, x: np.ndarray, cutoff: float, running: str) -> None:
    """Raise :class:`DesignError` when a side of the cutoff has a single score value (or none): no local-linear fit
    (robust or bias-aware) can be estimated there."""
    below, above = x < cutoff, x >= cutoff
    check_support_counts(outcome, (len(np.unique(x[below])), len(np.unique(x[above]))),
                         (int(below.sum()), int(above.sum())), running)


def check_support_counts(outcome: str, distinct: tuple[int, int], rows: tuple[int, int], running: str) -> None:
    """:func:`check_support` from the counts of distinct scores and rows below / at or above the cutoff."""
    left, right = distinct
    if min(left, right) < 2:
        raise DesignError(
            f"outcome '{outcome}': the running variable '{running}' has {left} distinct value(s) below the cutoff "
            f"({rows[0]} rows) and {right} at or above it ({rows[1]} rows); an RD fit needs at least 2 on each side")


def mass_points_note(outcome: str, x: np.ndarray, cutoff: float, running: str) -> str | None:
    """A note when the running variable has at most :data:`FEW_MASS_POINTS` distinct values on a side of the
    cutoff (None otherwise)."""
    return few_values_note(outcome, (len(np.unique(x[x < cutoff])), len(np.unique(x[x >= cutoff]))), running)


def few_values_note(outcome: str, distinct: tuple[int, int], running: str) -> str | None:
    """:func:`mass_points_note` from the counts of distinct scores below / at or above the cutoff."""
    left, right = distinct
    if min(left, right) > FEW_MASS_POINTS:
        return None
    return (f"{outcome}: the running variable '{running}' has only {left} / {right} distinct values below / at or "
            "above the cutoff (a discrete score with many ties); local-polynomial inference treats it as continuous, "
            "so also report a bias-aware interval valid with few mass points (honest = true: Armstrong-Kolesár; "
            "honest_method = 'bme': Kolesár-Rothe)")


def honest_interval(outcome: str, *, y: np.ndarray, x: np.ndarray, cutoff: float, fit: LocalPolynomialFit,
                    options: RDOptions, treatment: np.ndarray | None = None, cluster: np.ndarray | None = None,
                    running: str = "score") -> tuple[HonestRD, list[str]]:
    """The bias-aware interval of one outcome on the sample of its main fit, and notes about it.

    A fuzzy design uses the main fit's bandwidth (rdhonest 0.0.1 cannot choose a fuzzy bandwidth; two bandwidths
    are averaged); a sharp design's bandwidth is the worst-case-MSE optimal one for the chosen ``M`` unless a fixed
    ``h`` was given.
    """
    notes: list[str] = []
    fuzzy = treatment is not None
    m: Any
    if options.honest_m is None:
        if options.honest_m_first_stage is not None:
            raise OptionError("honest_m_first_stage was given without honest_m; give both bounds, or neither for the "
                              "rule of thumb")
        m = "rot"
    elif fuzzy:
        if options.honest_m_first_stage is None:
            raise OptionError("a fuzzy design's bias-aware interval needs honest_m_first_stage beside honest_m (the "
                              "bound on the take-up's conditional mean), or neither for the rule of thumb")
        m = (float(options.honest_m), float(options.honest_m_first_stage))
    else:
        m = float(options.honest_m)
    bandwidth: float | None = None
    if options.h is not None:
        bandwidth = float(np.mean(options.h))
    elif fuzzy:
        bandwidth = float(np.mean(fit.h))
        notes.append(f"{outcome}: bias-aware interval at the robust fit's bandwidth {bandwidth:.4g} (rdhonest cannot "
                     "choose a fuzzy-design bandwidth)")
    res = fit_honest(y, x, cutoff=cutoff, treatment=treatment, method=options.honest_method, m=m,
                     m_multipliers=DEFAULT_M_MULTIPLIERS, m_values=options.honest_m_grid or (), kernel=options.kernel,
                     bandwidth=bandwidth,
                     alpha=1.0 - float(options.level), cluster=cluster, name=outcome, score_name=running)
    if cluster is not None and res.clusters is None:
        why = ("rdhonest has no cluster-robust variance for fuzzy designs" if fuzzy
               else "the BME interval has no cluster-robust variance")
        notes.append(f"{outcome}: the bias-aware interval does not account for clustering ({why}): it treats "
                     "observations as independent, a sensitivity check beside the robust interval, not the study's "
                     "inference")
    return res, notes

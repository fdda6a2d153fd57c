"""One scalar effect estimate with its uncertainty: a row of every results object's ``tidy()`` table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from scipy import stats

from cteimpact.errors import OptionError

__all__ = ["CI_TYPES", "TIDY_COLUMNS", "CIType", "EffectEstimate", "normal_row"]

CIType = Literal[
    "conventional",
    "bias_corrected",
    "robust_bias_corrected",
    "pointwise",
    "simultaneous",
    "randomization",
    "wild_cluster_bootstrap",
    "external",
]
"""How an interval was built.

``conventional``: estimate ± z·SE. ``bias_corrected``: bias-corrected centre, conventional SE.
``robust_bias_corrected``: bias-corrected centre and the robust SE of Calonico, Cattaneo & Titiunik (2014).
``pointwise``: covers one parameter at the stated level.
``simultaneous``: sup-t band covering all parameters of a family jointly.
``randomization``: randomisation-inference interval. ``wild_cluster_bootstrap``: wild cluster bootstrap interval.
``external``: supplied by the user.
"""
CI_TYPES: tuple[str, ...] = get_args(CIType)

TIDY_COLUMNS: tuple[str, ...] = (
    "label",
    "outcome",
    "term",
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "ci_type",
    "n_effective",
    "suppressed",
    "suppression",
)
"""The fixed schema of every ``tidy()`` table, in this order.

``suppressed`` is True for an estimate hidden by the small-cell rule (it describes fewer than ``min_cell``
students, or would reveal one that does); its numbers are then missing and ``suppression`` says why."""


@dataclass(frozen=True, slots=True)
class EffectEstimate:
    """A scalar effect estimate.

    Attributes
    ----------
    label
        Identifier unique within a results object. The primary estimate of outcome ``Y`` has label ``Y``; other
        estimates use ``Y[...]`` (for example ``earnings[event=2]``). Pricing contracts refer to labels.
    outcome
        Outcome column.
    term
        The estimand in words (``"RD effect at cutoff (sharp)"``, ``"ATT (simple)"``...).
    estimate
        Point estimate.
    std_error
        Standard error of ``estimate`` (for robust bias-corrected rows: the robust standard error).
    statistic
        Test statistic of the null of no effect.
    p_value
        Two-sided p-value of that test.
    ci_lower, ci_upper
        Confidence interval.
    ci_level
        Its nominal coverage (0.95).
    ci_type
        How the interval was built (see :data:`CIType`).
    n_effective
        Effective number of observations behind the estimate (RD: observations within the bandwidth on both
        sides; DiD: units in the groups compared), or ``None`` when not defined.
    suppressed
        True when the small-cell rule hides the estimate: ``estimate``, ``std_error``, ``statistic``,
        ``p_value``, the interval and ``n_effective`` are then missing (see :meth:`suppress`).
    suppression
        Why the estimate is hidden (``None`` when it is shown).
    """

    label: str
    outcome: str
    term: str
    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    ci_level: float
    ci_type: CIType
    n_effective: float | None = None
    suppressed: bool = False
    suppression: str | None = None

    def __post_init__(self) -> None:
        if self.ci_type not in CI_TYPES:
            raise OptionError(f"ci_type must be one of {', '.join(CI_TYPES)}, got {self.ci_type!r}")
        if not 0.0 < self.ci_level < 1.0:
            raise OptionError(f"ci_level must be in (0, 1), got {self.ci_level}")

    @classmethod
    def from_normal(
        cls,
        label: str,
        outcome: str,
        term: str,
        estimate: float,
        std_error: float,
        *,
        ci_level: float = 0.95,
        ci_type: CIType = "conventional",
        n_effective: float | None = None,
        centre: float | None = None,
        df: float | None = None,
    ) -> EffectEstimate:
        """Build an estimate whose test and interval use a normal (or Student t with ``df``) reference.

        ``centre`` (default ``estimate``) is where the interval and test are centred: for robust bias-corrected
        inference it is the bias-corrected estimate while ``estimate`` stays the conventional one. A zero or
        missing (NaN) standard error gives a missing test statistic and p-value.

        Raises
        ------
        OptionError
            A negative standard error, non-positive ``df``, or a ``ci_level``/``ci_type`` outside their sets.
        """
        if std_error < 0:
            raise OptionError(f"standard error of '{label}' must be non-negative, got {std_error}")
        if df is not None and not df > 0:
            raise OptionError(f"degrees of freedom of '{label}' must be positive, got {df}")
        centre = estimate if centre is None else centre
        dist = stats.norm if df is None else stats.t(df)
        crit = float(dist.ppf(0.5 + ci_level / 2))
        if std_error > 0 and math.isfinite(std_error):
            stat = centre / std_error
            p = float(2 * dist.sf(abs(stat)))
        else:
            stat, p = math.nan, math.nan
        return cls(label, outcome, term, float(estimate), float(std_error), float(stat), p,
                   float(centre - crit * std_error), float(centre + crit * std_error), ci_level, ci_type,
                   None if n_effective is None else float(n_effective))

    def suppress(self, reason: str) -> EffectEstimate:
        """This estimate hidden by the small-cell rule: label, outcome, term and interval kind are kept, every
        number computed from the students (estimate, standard error, test, interval, effective N) is dropped."""
        nan = math.nan
        return EffectEstimate(self.label, self.outcome, self.term, nan, nan, nan, nan, nan, nan, self.ci_level,
                              self.ci_type, None, True, str(reason))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form with the :data:`TIDY_COLUMNS` keys."""
        return {name: getattr(self, name) for name in TIDY_COLUMNS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EffectEstimate:
        """Inverse of :meth:`to_dict` (``null`` read back as NaN)."""

        def num(key: str) -> float:
            v = data.get(key)
            return math.nan if v is None else float(v)

        n_eff = data.get("n_effective")
        reason = data.get("suppression")
        return cls(str(data["label"]), str(data["outcome"]), str(data["term"]), num("estimate"),
                   num("std_error"), num("statistic"), num("p_value"), num("ci_lower"), num("ci_upper"),
                   float(data.get("ci_level", 0.95)), data["ci_type"], None if n_eff is None else float(n_eff),
                   bool(data.get("suppressed", False)), None if reason is None else str(reason))


def normal_row(label: str, outcome: str, term: str, estimate: float, std_error: float, *, level: float = 0.95,
               df: float | None = None, n_effective: float | None = None) -> EffectEstimate:
    """An estimate row with a normal (or Student t with ``df`` degrees of freedom) test and a conventional
    interval at confidence ``level``; a standard error that is not a finite non-negative number gives missing
    inference (NaN test, p-value and interval) rather than an error, for estimators that report the point estimate
    of a cell whose variance could not be estimated."""
    se = std_error if math.isfinite(std_error) and std_error >= 0 else math.nan
    return EffectEstimate.from_normal(label, outcome, term, estimate, se, ci_level=level, ci_type="conventional",
                                      n_effective=n_effective, df=df)

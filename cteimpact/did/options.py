"""Options of the Callaway–Sant'Anna estimator, declared once.

:class:`DiDEstimation` declares the estimation options (comparison group, 2×2 estimator, base period, anticipation,
panel or repeated cross-sections, unbalanced panels, propensity-score trimming): the keywords of the
``CallawaySantAnna`` constructor, the estimation keys of a specification's ``[design]``, the estimation options of
``cteimpact did`` and the ``options`` the results record all come from its fields. :class:`DiDInference` declares the
inference options the same way: the keywords of ``CallawaySantAnna.fit()`` and ``res.aggregate()``, the
``[design.inference]`` section, the inference options of ``cteimpact did`` and the recorded ``options``
(:mod:`cteimpact.config.declared`).

The confidence level is ``level`` (0.95), as for the RD estimator; ``alpha`` is not an option here (it is refused with
the level it means). ``alpha`` remains the name of the size of a test where a test, not an interval, is asked for:
the power of the pre-trend tests (``pretrend_power(alpha=...)``), the RD diagnostic checks' verdicts and the power
and minimum detectable effect calculations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from cteimpact.config.declared import option
from cteimpact.did.grouptime import BasePeriod, ControlGroup
from cteimpact.did.multiplier import MultiplierWeights
from cteimpact.did.twobytwo import Method
from cteimpact.did.wild import WildWeights
from cteimpact.errors import OptionError
from cteimpact.results.intervals import check_level, size_of

__all__ = ["DEFAULT_BOOTSTRAP_SEED", "DiDEstimation", "DiDInference", "check_literal", "parse_labels"]

DEFAULT_BOOTSTRAP_SEED = 20240601
"""Seed of the bootstraps when none is given: the same data give the same draws, from Python and the command line
alike (a specification derives its own from the study's seed)."""


def check_literal(value: object, options: Any, name: str) -> None:
    """Refuse ``value`` unless it is one of the values of the ``Literal`` type ``options``, naming ``name``."""
    allowed = get_args(options)
    if value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def parse_labels(text: str) -> tuple[str, ...]:
    """Estimate labels given as text, separated by commas."""
    return tuple(p.strip() for p in str(text).split(",") if p.strip())


def _check_switch(name: str, value: object) -> None:
    if not isinstance(value, bool | np.bool_):
        raise OptionError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class DiDEstimation:
    """How the group-time effects are estimated (see :class:`cteimpact.did.CallawaySantAnna`); R ``did``'s defaults
    (``att_gt``)."""

    control: ControlGroup = option("never", "Comparison units: never treated (never), or never and not yet treated "
                                            "(notyet).")
    method: Method = option("dr", "2x2 estimator: doubly robust (dr), inverse probability weighting (ipw) or outcome "
                                  "regression (reg).")
    base_period: BasePeriod = option("varying", "Base period of the pre-treatment comparisons: the period before "
                                                "each one (varying), or the last before treatment (universal).")
    anticipation: int = option(0, "Periods before treatment in which units may already respond (a whole number, "
                                  "0 or more).")
    panel: bool = option(True, "Rows follow a panel of units over periods; off: repeated cross-sections "
                               "(independent observations, such as student cohorts within districts).")
    allow_unbalanced: bool = option(False, "Keep units missing in some periods (their comparisons use the repeated "
                                           "cross-section estimators, as R's did package does).")
    trim_level: float = option(0.995, "Comparison units whose propensity score reaches this level are trimmed "
                                      "(R DRDID's 0.995; above 0.5, at most 1).")

    def __post_init__(self) -> None:
        """Refuse a value the estimator cannot use, naming the option."""
        check_literal(self.control, ControlGroup, "control")
        check_literal(self.method, Method, "method")
        check_literal(self.base_period, BasePeriod, "base_period")
        a = self.anticipation
        if isinstance(a, bool) or not isinstance(a, int | np.integer) or a < 0:
            raise OptionError(f"anticipation must be a non-negative whole number of periods, got {a!r}")
        _check_switch("panel", self.panel)
        _check_switch("allow_unbalanced", self.allow_unbalanced)
        t = self.trim_level
        if isinstance(t, bool) or not isinstance(t, int | float | np.floating) or not 0.5 < float(t) <= 1.0:
            raise OptionError(f"trim_level must be a number above 0.5 and at most 1, got {t!r}")


@dataclass(frozen=True)
class DiDInference:
    """How standard errors, intervals and tests of the DiD aggregates are obtained (see
    :meth:`cteimpact.did.CallawaySantAnna.fit`).

    ``level`` is the confidence level of every interval (the RD estimator's name and default); the tests reported
    with the estimates (``significant``, the pre-test verdict) are at the size ``1 - level`` (:attr:`size`). ``alpha``
    is not an option: it names the size of a test where only a test is asked for (``pretrend_power(alpha=...)``).
    """

    level: float = option(0.95, "Confidence level of the intervals, between 0 and 1 (the estimates' tests are at "
                                "size 1 - level). Not alpha = 1 - level: alpha names a test's size where only a test "
                                "is set (pre-trend power).")
    bootstrap: int | None = option(None, "Multiplier-bootstrap draws (default none: analytic influence-function "
                                         "standard errors); with draws, bootstrap standard errors and sup-t bands.")
    multiplier: MultiplierWeights = option("mammen", "Multiplier-bootstrap weights (R did's mammen, "
                                                                   "or rademacher).")
    bands: bool = option(True, "With a bootstrap, simultaneous (sup-t) bands for the group-time effects and the "
                               "event study; otherwise pointwise intervals.")
    seed: int | None = option(DEFAULT_BOOTSTRAP_SEED, "Seed of the bootstraps (same seed, same draws).")
    wild_bootstrap: int | None = option(None, "Draws of the restricted wild cluster bootstrap of the aggregated "
                                              "estimates (few clusters; needs a cluster column).")
    wild_weights: WildWeights = option("webb", "Weights of the wild cluster bootstrap (six-point "
                                                                 "Webb, or rademacher).")
    wild_labels: tuple[str, ...] | None = option(None, "Estimate labels the wild cluster bootstrap is limited to "
                                                       "(default: every aggregated estimate).", parse=parse_labels)
    small_sample: bool = option(False, "With clustering, t(G - 1) critical values for analytic intervals and the "
                                       "sampling distribution.")

    def __post_init__(self) -> None:
        """Refuse a value no design can use, naming the option (the rules that depend on the data: :meth:`check`)."""
        check_level(self.level)
        if self.bootstrap is not None and self.bootstrap < 1:
            raise OptionError(f"bootstrap must be a positive number of draws, got {self.bootstrap}")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
            raise OptionError(f"seed must be a non-negative whole number, got {seed!r}")
        check_literal(self.multiplier, MultiplierWeights, "multiplier")
        check_literal(self.wild_weights, WildWeights, "wild_weights")
        if self.wild_bootstrap is not None and self.wild_bootstrap < 1:
            raise OptionError(f"wild_bootstrap must be a positive number of draws, got {self.wild_bootstrap}")

    def check(self, clustered: bool) -> None:
        """Refuse options the data cannot support (a cluster variable is needed), naming the option."""
        if self.wild_bootstrap is not None and not clustered:
            raise OptionError("the wild cluster bootstrap needs a cluster variable (cluster = \"...\" in [design]; "
                              "command line: --cluster; Python: cluster=...)")
        if self.small_sample and not clustered:
            raise OptionError("small-sample critical values (t with G-1 degrees of freedom; small_sample = true in "
                              "[design.inference], --small-sample) need a cluster variable (cluster = \"...\" in "
                              "[design]; command line: --cluster)")

    @property
    def size(self) -> float:
        """The size of the tests the intervals invert, ``1 - level`` (:func:`size_of`: 0.05 for level 0.95)."""
        return size_of(self.level)

    def df(self, n_clusters: int | None) -> float | None:
        return float(n_clusters - 1) if (self.small_sample and n_clusters is not None) else None

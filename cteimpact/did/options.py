"""Inference options of the Callaway–Sant'Anna estimator, declared once.

:class:`DiDInference` is the one declaration of these options: the keywords of ``CallawaySantAnna.fit()`` and
``res.aggregate()``, the ``[design.inference]`` section of a specification, the inference options of
``cteimpact did`` and the ``options`` the results record all come from its fields
(:mod:`cteimpact.config.declared`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from cteimpact.config.declared import option
from cteimpact.did.multiplier import MultiplierWeights
from cteimpact.did.wild import WildWeights
from cteimpact.errors import OptionError

__all__ = ["DEFAULT_BOOTSTRAP_SEED", "DiDInference", "check_literal", "parse_labels"]

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


@dataclass(frozen=True)
class DiDInference:
    """How standard errors, intervals and tests of the DiD aggregates are obtained (see
    :meth:`cteimpact.did.CallawaySantAnna.fit`)."""

    alpha: float = option(0.05, "1 - confidence level of the intervals and the level of the tests.")
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
        if not 0 < self.alpha < 1:
            raise OptionError(f"alpha must be in (0, 1), got {self.alpha}")
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

    def df(self, n_clusters: int | None) -> float | None:
        return float(n_clusters - 1) if (self.small_sample and n_clusters is not None) else None

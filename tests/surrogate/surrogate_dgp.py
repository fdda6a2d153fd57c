"""A data-generating process for the surrogate-index tests, with the true long-run effect known in closed form.

A CTE program raises dual-enrollment credits (``credits``, continuous) and the chance of an industry credential
(``credential``, 0/1); earnings at 26 depend on them and on a baseline score::

    x  ~ N(0, 1)                                     baseline score (pre-treatment)
    credits    = 0.5 x + γ₁ W + u₁,      u₁ ~ N(0, 1)
    credential = 1{0.3 x + γ₂ W + u₂ > 0},  u₂ ~ N(0, 1)
    earnings_26 = a + b₁ credits + b₂ credential + b_x x + δ W + e,  e ~ N(0, σ²)

The observational sample (older cohorts, untreated: W = 0) and the experimental sample share the outcome equation,
so comparability holds; surrogacy holds exactly when the direct effect ``δ`` is 0 (the treatment then reaches
earnings only through the two surrogates). Because ``0.3 x + u₂ ~ N(0, 1.09)``, the true long-run effect is::

    τ = b₁ γ₁ + b₂ (Φ(γ₂ / √1.09) − ½) + δ.

Treatment is assigned by complete randomisation (exactly half of the rows), or by cluster (school) when
``schools`` is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Design:
    """Parameters of the data-generating process (see the module docstring)."""

    gamma_credits: float = 0.3
    gamma_credential: float = 0.4
    a: float = 1.0
    b_credits: float = 2.0
    b_credential: float = 3.0
    b_x: float = 0.5
    direct: float = 0.0
    noise_sd: float = 1.0

    @property
    def true_effect(self) -> float:
        """The long-run effect ``τ`` in closed form."""
        p1 = stats.norm.cdf(self.gamma_credential / math.sqrt(1.09))
        return self.b_credits * self.gamma_credits + self.b_credential * (p1 - 0.5) + self.direct


def _outcomes(design: Design, rng: np.random.Generator, w: np.ndarray) -> pd.DataFrame:
    n = w.size
    x = rng.normal(size=n)
    credits = 0.5 * x + design.gamma_credits * w + rng.normal(size=n)
    credential = (0.3 * x + design.gamma_credential * w + rng.normal(size=n) > 0).astype(float)
    y = (design.a + design.b_credits * credits + design.b_credential * credential + design.b_x * x
         + design.direct * w + design.noise_sd * rng.normal(size=n))
    return pd.DataFrame({"baseline_score": x, "credits": credits, "credential": credential, "earnings_26": y})


def observational(n: int, rng: np.random.Generator, design: Design | None = None) -> pd.DataFrame:
    """Older, untreated cohorts: surrogates and earnings at 26 (and a school column for clustered fits)."""
    frame = _outcomes(design or Design(), rng, np.zeros(n))
    frame["school"] = rng.integers(0, 60, size=n)
    return frame


def experiment(n: int, rng: np.random.Generator, design: Design | None = None, *, schools: int | None = None,
               with_outcome: bool = False) -> pd.DataFrame:
    """A randomised sample: treatment, surrogates, baseline score (and earnings at 26 when ``with_outcome``)."""
    if schools is None:
        w = np.zeros(n)
        w[rng.permutation(n)[: n // 2]] = 1.0
        school = rng.integers(0, 40, size=n)
    else:
        school = rng.integers(0, schools, size=n)
        treated_schools = rng.permutation(schools)[: schools // 2]
        w = np.isin(school, treated_schools).astype(float)
    frame = _outcomes(design or Design(), rng, w)
    frame.insert(0, "treat", w)
    frame["school"] = school
    if not with_outcome:
        frame = frame.drop(columns="earnings_26")
    return frame

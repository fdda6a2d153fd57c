"""Estimates with a chosen joint sampling distribution, for the pricing tests (a uniquely named module so that
test folders without ``__init__`` files can import it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cteimpact.data.sample_flow import SampleFlow
from cteimpact.results import EffectEstimate, ResultsRecord, SamplingDistribution

__all__ = ["make_estimates"]


def make_estimates(labels: Sequence[str], mean: Sequence[float], cov: Any, *, joint: bool = True,
                   df: float | None = None, design: str = "rd") -> ResultsRecord:
    """A results record honouring the results contract with the given joint distribution."""
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    rows = tuple(
        EffectEstimate.from_normal(lab, lab, "test effect", float(m), float(np.sqrt(cov[i, i])), df=df)
        for i, (lab, m) in enumerate(zip(labels, mean, strict=True))
    )
    dist = SamplingDistribution(tuple(labels), np.asarray(mean, dtype=float), cov, joint=joint, df=df,
                                centre="test centre", scale="test scale")
    return ResultsRecord(design, "test estimator", rows, {}, SampleFlow("test", 0, unit="estimates"), dist, {})

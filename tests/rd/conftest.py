"""Fixtures for the RD tests: the Senate data shipped with rdrobust, the golden numbers, and simulated designs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RESULTS = Path(__file__).resolve().parent / "results"


@pytest.fixture(scope="session")
def senate() -> pd.DataFrame:
    from rdrobust import rdrobust_RDsenate

    d = rdrobust_RDsenate()
    t = (d["margin"].to_numpy() >= 0).astype(float)
    flip = (d["class"].to_numpy() == 1) & (d["dmidterm"].to_numpy() == 1)
    d["takeup"] = np.where(flip, 1.0 - t, t)  # the fuzzy take-up of tests/rd/results/generate_golden.py
    return d


@pytest.fixture(scope="session")
def golden() -> dict:
    return json.loads((RESULTS / "senate_golden.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def published() -> dict:
    return json.loads((RESULTS / "published_ccft2017.json").read_text(encoding="utf-8"))


def simulate_rd(n: int = 2000, *, seed: int = 0, jump: float = 0.5, clusters: int | None = None,
                cluster_sd: float = 0.0, manipulation: float = 0.0) -> pd.DataFrame:
    """A simple sharp RD: x ~ U(-1, 1), y = 1 + 0.8 x - 0.5 x^2 + jump 1{x >= 0} + noise.

    ``clusters``: x and a random effect are drawn per cluster (the score is assigned to clusters).
    ``manipulation``: share of units just below the cutoff moved just above it (bunching).
    """
    rng = np.random.default_rng(seed)
    if clusters:
        g = rng.integers(0, clusters, n)
        xc = rng.uniform(-1, 1, clusters)
        x = xc[g]
        u = rng.normal(scale=cluster_sd, size=clusters)[g]
    else:
        g = np.arange(n)
        x = rng.uniform(-1, 1, n)
        u = np.zeros(n)
    if manipulation > 0:
        near = (x < 0) & (x > -0.2) & (rng.uniform(size=n) < manipulation)
        x = np.where(near, -x * 0.5, x)
    female = rng.integers(0, 2, n)
    prior = rng.normal(size=n) + 0.3 * x
    y = 1 + 0.8 * x - 0.5 * x**2 + jump * (x >= 0) + u + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"x": x, "y": y, "g": g, "female": female, "prior": prior, "cohort": 2015})


@pytest.fixture(scope="session")
def simulate():
    """The :func:`simulate_rd` generator."""
    return simulate_rd


@pytest.fixture
def quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="session")
def synth_quarter():
    """Synthetic CTE data at scale 0.25 (the demo's data: seed 7, about 150,000 students)."""
    from cteimpact.synth import simulate

    return simulate(seed=7, scale=0.25)


@pytest.fixture(scope="session")
def synth_fuzzy_fit(synth_quarter):
    """The demo's RD design on :func:`synth_quarter`: fuzzy (pathway take-up), two rounds' cutoffs pooled,
    consortium clusters (CR3), covariate-adjusted, female subgroups; ``(design, results)``."""
    from cteimpact.rd import RegressionDiscontinuity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = RegressionDiscontinuity(
            synth_quarter.students, ["dropout", "graduated"], "rubric_score", cutoff_column="cutoff",
            cluster="consortium_id", fuzzy="pathway", subgroups=["female"],
            covariates=["female", "low_income", "english_learner", "special_ed"],
            baseline_covariates=["female", "low_income", "prior_achievement"],
            where=["cohort >= award_year", "cohort <= award_year + 3"])
        return rd, rd.fit(vce="cr3")

"""Shared data of the equity tests: a small synthetic data set, simulated once per session (read only)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def equity_students() -> pd.DataFrame:
    """Students of ``cteimpact.synth.simulate(seed=11, scale=0.05)`` (every cohort)."""
    from cteimpact.synth import simulate

    return simulate(seed=11, scale=0.05).students


@pytest.fixture(scope="session")
def rd_students(equity_students: pd.DataFrame) -> pd.DataFrame:
    """The RD study's sample: the four cohorts from the award year."""
    df = equity_students
    return df[(df["cohort"] >= df["award_year"]) & (df["cohort"] <= df["award_year"] + 3)].reset_index(drop=True)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """The estimators' warnings about the synthetic data (few clusters, rows dropped) are not what these tests
    check; they are silenced within each test only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield

"""Fixtures of the difference-in-differences tests: the reference data sets (skipped with a reason when absent)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture
def mpdta(reference_file: Callable[[str], Path]) -> pd.DataFrame:
    """``did::mpdta`` from the shared reference data."""
    return pd.read_csv(reference_file("mpdta.csv"))


@pytest.fixture
def castle(reference_file: Callable[[str], Path]) -> pd.DataFrame:
    """Castle-doctrine state panel with ``post = 1{cdl > 0}`` (as in Goodman-Bacon's examples)."""
    df = pd.read_csv(reference_file("castle.csv"))
    df["post"] = (df["cdl"] > 0).astype(int)
    return df


@pytest.fixture(scope="session")
def synth() -> object:
    """Synthetic data (seed 11, scale 0.05) in memory, shared by the student-level DiD and age-profile tests, which
    only read it."""
    from cteimpact.synth import simulate

    return simulate(seed=11, scale=0.05)


@pytest.fixture
def quiet() -> object:
    """Silence cteimpact's data warnings inside a test that checks numbers, not messages."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield None

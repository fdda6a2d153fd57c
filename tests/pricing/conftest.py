"""Fixtures of the pricing tests: a small valid contract."""

from __future__ import annotations

import copy
from typing import Any

import pytest

BASE_CONTRACT: dict[str, Any] = {
    "contract": {"name": "test contract", "dollar_year": 2023},
    "payors": [{"name": "state", "level": "state"}],
    "cohorts": [{"name": "c1", "students": 1000, "year": 0}],
    "outcomes": [{"name": "grad", "estimate": "graduated", "direction": "increase",
                  "payment": {"kind": "rate_card", "price": 1000.0}}],
}


@pytest.fixture
def base_contract() -> dict[str, Any]:
    """A minimal valid contract mapping (a fresh copy for each test)."""
    return copy.deepcopy(BASE_CONTRACT)

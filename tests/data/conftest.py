"""Small hand-made student data sets for the data-contract tests.

Identifiers are distinctive strings (``SECRET-...``) so that tests can assert that no error message ever quotes
one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cteimpact.data import ColumnMap

SECRET = "SECRET-"
"""Prefix of every student identifier in these frames; an error message must never contain it."""


def student_year_frame() -> pd.DataFrame:
    """Eight student-year records of four students, every contract kind represented, with user column names."""
    return pd.DataFrame(
        {
            "sid": [f"{SECRET}{i:03d}" for i in (1, 1, 2, 2, 3, 3, 4, 4)],
            "sch": ["A", "A", "A", "A", "B", "B", "B", "B"],
            "cons": [10, 10, 10, 10, 20, 20, 20, 20],
            "entry_cohort": [2014, 2014, 2015, 2015, 2014, 2014, 2016, 2016],
            "yr": [2014, 2015, 2015, 2016, 2014, 2015, 2016, 2017],
            "gr": [9, 10, 9, 10, 9, 10, 9, 10],
            "age_at": [14, 15, 14, 15, 15, 16, 14, 15],
            "is_female": [1, 1, 0, 0, 1, 1, 0, 0],
            "drop_4yr": [0, 0, 1, 1, 0, 0, np.nan, np.nan],
            "wages": [0.0, 1200.5, 0.0, 0.0, 3000.0, 0.0, np.nan, 15.25],
            "launch": [2015, 2015, 2015, 2015, 0, 0, np.nan, np.nan],
            "gpa8": [0.1, 0.1, -1.2, -1.2, 0.5, 0.5, 2.0, 2.0],
        }
    )


COLUMNS = {
    "student_id": "sid",
    "school": "sch",
    "consortium": "cons",
    "cohort": "entry_cohort",
    "year": "yr",
    "grade": "gr",
    "age": "age_at",
    "female": "is_female",
    "dropout": "drop_4yr",
    "earnings": "wages",
    "first_treated": "launch",
    "prior_achievement": "gpa8",
}


@pytest.fixture
def frame() -> pd.DataFrame:
    return student_year_frame()


@pytest.fixture
def cmap() -> ColumnMap:
    return ColumnMap(COLUMNS)

"""A run with every part the third study's report shows: interim outcomes (credential, pathway completion) estimated
by the RD, the surrogate-index projection of earnings at age 26, an equity analysis with a subgroup too small to
publish, and the interim-outcome contract (equity premium and floor, a projected long-run earnings benefit stream).

The data are cteimpact's synthetic students (``synth_data``: seed 7, scale 0.05) with columns derived here, so the
tests do not depend on the synthetic generator's own interim and long-run outcomes:

* ``credential`` = ``pathway × graduated``; ``completer`` = ``pathway`` × a draw with probability 0.7 (both missing
  where ``graduated`` is);
* ``earnings_age26`` = 2000 + 1.4 ``earnings_age19`` + 6000 ``credential`` + 3000 ``graduated`` + 500 ``female`` +
  N(0, 4000²), observed for the cohorts of 2013 and before; ``earnings_age21`` likewise (smaller coefficients) for
  the cohorts of 2018 and before (the surrogacy check's observed horizon);
* ``entry_grade``: 9 for most students, 10 and 11 for some, and 12 for exactly :data:`TINY_LEVEL_STUDENTS` students
  of the whole file (a level below the small-cell minimum of 10 in every table).

The noise uses ``numpy.random.default_rng(2026)``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "cteimpact" / "pricing" / "examples" / "interim_credential_completion.toml"
DATA_NAME = "students_interim.parquet"
TINY_LEVEL_STUDENTS = 6
"""Students with ``entry_grade`` 12 (fewer than the small-cell minimum)."""


def write_data(synth_dir: Path, out_dir: Path) -> Path:
    """Write the derived data (see the module docstring) and the contract into ``out_dir``; return the data's path."""
    frame = pd.read_parquet(synth_dir / "students.parquet")
    rng = np.random.default_rng(2026)
    n = len(frame)
    grad = frame["graduated"].astype(float)
    pathway = frame["pathway"].astype(float)
    credential = pathway * grad
    e19 = frame["earnings_age19"].astype(float)
    female = frame["female"].astype(float)
    e26 = 2000 + 1.4 * e19 + 6000 * credential + 3000 * grad + 500 * female + rng.normal(0, 4000, n)
    e21 = 1000 + 1.2 * e19 + 3000 * credential + 1500 * grad + rng.normal(0, 3000, n)
    frame["credential"] = credential
    frame["completer"] = (pathway * (rng.random(n) < 0.7)).where(grad.notna())
    frame["earnings_age26"] = e26.where(frame["cohort"] <= 2013)
    frame["earnings_age21"] = e21.where(frame["cohort"] <= 2018)
    grade = rng.choice([9, 10, 11], size=n, p=[0.85, 0.10, 0.05])
    grade[rng.choice(n, size=TINY_LEVEL_STUDENTS, replace=False)] = 12
    frame["entry_grade"] = grade
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DATA_NAME
    frame.to_parquet(path, index=False)
    (out_dir / "contracts").mkdir(exist_ok=True)
    shutil.copy(CONTRACT, out_dir / "contracts" / "interim.toml")
    return path


SPEC = '''
schema = "cteimpact.analysis/1"

[study]
name = "interim-rd"
title = "Interim outcomes, long-run earnings and equity at the CCPT cutoff"
seed = 1234

[data]
path = "students_interim.parquet"
key = ["student_id"]
extra_columns = ["award_year", "credential", "completer", "entry_grade", "race_ethnicity"]

[data.columns]
student_id = "student_id"
school = "school_id"
district = "district_id"
consortium = "consortium_id"
cohort = "cohort"
female = "female"
low_income = "low_income"
pathway = "pathway"
dropout = "dropout"
graduation = "graduated"
score = "rubric_score"
cutoff = "cutoff"
award = "award"

[sample]
restrictions = ["cohort >= award_year", "cohort <= award_year + 3"]

[design]
type = "rd"
outcomes = ["credential", "completer"]
running = "rubric_score"
cutoff_column = "cutoff"
cluster = "consortium_id"
subgroups = ["low_income"]

[design.diagnostics]
enabled = false

[surrogate]
outcome = "earnings_age26"
surrogates = ["credential", "graduated", "earnings_age19"]
covariates = ["female", "low_income"]
training = ["cohort <= 2013"]
validation_outcome = "earnings_age21"
cluster = "district_id"

[equity]
subgroups = ["low_income", "female", "entry_grade", "race_ethnicity"]
outcomes = ["credential"]
access = ["pathway", "credential"]
baseline = "cohort < award_year"
after = "cohort >= award_year"

[equity.reference]
entry_grade = 9

[pricing]
contract = "contracts/interim.toml"
draws = 2000
'''


def write_spec(folder: Path) -> Path:
    """Write the specification into ``folder`` (beside the data and the contract); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "interim-rd.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path

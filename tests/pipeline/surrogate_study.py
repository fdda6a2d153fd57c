"""Synthetic data and a specification with ``[surrogate]`` for the pipeline tests of the surrogate index.

The data are cteimpact's synthetic students (``cteimpact.synth.generate``, seed 7, scale 0.05) with three columns
derived here, so the tests do not depend on the synthetic generator's own long-run outcomes:

* ``credential`` = ``pathway × graduated`` (missing where ``graduated`` is): an interim outcome the award moves
  through participation;
* ``earnings_age26`` = 2000 + 1.4 ``earnings_age19`` + 6000 ``credential`` + 3000 ``graduated`` + 500 ``female`` +
  N(0, 4000²), observed only for the cohorts of 2013 and before (the older cohorts that reached 26);
* ``earnings_age21`` = 1000 + 1.2 ``earnings_age19`` + 3000 ``credential`` + 1500 ``graduated`` + N(0, 3000²),
  observed for the cohorts of 2018 and before (the study sample's horizon).

Surrogacy holds by construction (the long-run outcomes depend on the treatment only through the surrogates). The
noise uses ``numpy.random.default_rng(2026)``, so the file is the same in every session. The file is written as
``students_surrogate.parquet`` (no ``truth.json`` lists it: the run is not compared with the generator's truths).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_NAME = "students_surrogate.parquet"


def write_surrogate_data(synth_dir: Path, out_dir: Path) -> Path:
    """Write the derived data (see the module docstring) into ``out_dir``; return its path."""
    frame = pd.read_parquet(synth_dir / "students.parquet")
    rng = np.random.default_rng(2026)
    n = len(frame)
    grad = frame["graduated"].astype(float)
    credential = frame["pathway"].astype(float) * grad
    e19 = frame["earnings_age19"].astype(float)
    female = frame["female"].astype(float)
    e26 = 2000 + 1.4 * e19 + 6000 * credential + 3000 * grad + 500 * female + rng.normal(0, 4000, n)
    e21 = 1000 + 1.2 * e19 + 3000 * credential + 1500 * grad + rng.normal(0, 3000, n)
    frame["credential"] = credential
    frame["earnings_age26"] = e26.where(frame["cohort"] <= 2013)
    frame["earnings_age21"] = e21.where(frame["cohort"] <= 2018)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DATA_NAME
    frame.to_parquet(path, index=False)
    return path


SPEC = '''
schema = "cteimpact.analysis/1"

[study]
name = "surrogate-rd"
title = "Surrogate index on the CCPT regression discontinuity"
seed = 1234

[data]
path = "students_surrogate.parquet"
key = ["student_id"]
extra_columns = ["award_year"]

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
outcomes = ["dropout"]
running = "rubric_score"
cutoff_column = "cutoff"
cluster = "consortium_id"
assignment_unit = "consortium_id"
fuzzy = "pathway"

[design.diagnostics]
enabled = false

[surrogate]
outcome = "earnings_age26"
surrogates = ["credential", "graduated", "earnings_age19"]
covariates = ["female", "low_income"]
training = ["cohort <= 2013"]
validation_outcome = "earnings_age21"
cluster = "district_id"
'''

PRICING = '''
[pricing]
contract = "contracts/pathways-earnings-share.toml"
draws = 2000

[pricing.labels]
earnings_age19 = "earnings_age26[surrogate][reduced_form]"
'''


def write_spec(folder: Path, *, pricing: bool = False, replace: dict[str, str] | None = None) -> Path:
    """Write the specification (with the earnings-share contract priced on the projected ITT when ``pricing``);
    ``replace`` substitutes text in it (to build bad inputs)."""
    text = SPEC + (PRICING if pricing else "")
    for old, new in (replace or {}).items():
        if old not in text:
            raise ValueError(f"'{old}' is not in the specification")
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "surrogate-rd.toml"
    path.write_text(text, encoding="utf-8")
    return path


DID_DESIGN = '''[design]
type = "did"
outcome = "graduated"
time = "cohort"
cohort = "first_treated"
panel = false
cluster = "district_id"

[design.comparisons]
twfe = false
bacon = false
sun_abraham = false
pretrend_power = false
honest = []
effect_sizes = false

'''


def write_did_spec(folder: Path) -> Path:
    """The same data and ``[surrogate]`` with a student-level DiD (repeated cross-sections of cohorts within
    districts, Callaway & Sant'Anna) as the design; the index is fitted on the cohorts of 2011 and before."""
    text = SPEC
    text = text[:text.index("[sample]")] + DID_DESIGN + text[text.index("[surrogate]"):]
    text = text.replace('training = ["cohort <= 2013"]', 'training = ["cohort <= 2011"]')
    text = text.replace('extra_columns = ["award_year"]', 'extra_columns = ["award_year", "first_treated"]')
    text = text.replace('name = "surrogate-rd"', 'name = "surrogate-did"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "surrogate-did.toml"
    path.write_text(text, encoding="utf-8")
    return path

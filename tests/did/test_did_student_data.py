"""DiD accepts :class:`~cteimpact.data.StudentData`: the sample flow recorded at loading continues into the results."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.data import StudentData
from cteimpact.data.sample_flow import SampleFlow
from cteimpact.did import CallawaySantAnna, bacon_decomposition, simulate_staggered, sun_abraham, twfe
from cteimpact.errors import OptionError


@pytest.fixture(scope="module")
def loaded() -> tuple[pd.DataFrame, StudentData]:
    df, _ = simulate_staggered(seed=4, n_clusters=20, n_never_clusters=5, units_per_cluster=5)
    df = df.rename(columns={"unit": "district", "time": "year", "cohort": "first_treated"})
    data = StudentData.from_frame(df, {"district": "district", "year": "year", "first_treated": "first_treated"},
                                  source="districts.csv")
    first = int(df["year"].min())
    return df, data.filter((df["year"] > first).to_numpy(), f"year after {first}")


def test_flow_from_loading_continues_into_did_results(loaded: tuple[pd.DataFrame, StudentData]) -> None:
    df, data = loaded
    n_first_year = int((df["year"] == df["year"].min()).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = CallawaySantAnna(data, outcome="y", unit="district", time="year", cohort="first_treated",
                               source="ignored").fit()
    flow = res.sample_flow
    assert flow.source == "districts.csv" and flow.rows_read == len(df)
    first = flow.steps[0]
    assert first.reason.startswith("year after") and first.excluded == n_first_year
    assert [s.reason for s in flow.steps[1:3]] == ["outcome 'y' missing", "time 'year' missing"]
    assert flow.rows_used == res.n_units == df["district"].nunique()
    # the same numbers as from the frame itself
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = CallawaySantAnna(data.frame, outcome="y", unit="district", time="year",
                                  cohort="first_treated").fit()
    assert res.estimate("y").estimate == direct.estimate("y").estimate
    assert len(direct.sample_flow.steps) == len(flow.steps) - 1


def test_comparison_estimators_accept_student_data(loaded: tuple[pd.DataFrame, StudentData]) -> None:
    _, data = loaded
    kw = {"outcome": "y", "unit": "district", "time": "year", "cohort": "first_treated"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = twfe(data, **kw)
        t_frame = twfe(data.frame, **kw)
        sa = sun_abraham(data, **kw)
        bd = bacon_decomposition(data, **kw)
    assert t.estimate == t_frame.estimate and np.isfinite(t.estimate)
    assert len(sa.event_study) > 0 and abs(bd.weighted_sum - bd.twfe) < 1e-10


def test_student_data_whose_flow_disagrees_with_its_frame_is_refused(
        loaded: tuple[pd.DataFrame, StudentData]) -> None:
    _, data = loaded
    bad = StudentData(data.frame, data.columns, SampleFlow("districts.csv", len(data.frame) + 7))
    with pytest.raises(OptionError, match=rf"sample flow of the student data has {len(data.frame) + 7:,} rows but "
                                          rf"its frame has {len(data.frame):,}"):
        CallawaySantAnna(bad, outcome="y", unit="district", time="year", cohort="first_treated")
    with pytest.raises(OptionError, match="data must be a pandas DataFrame or StudentData, got list"):
        CallawaySantAnna([1, 2], outcome="y", unit="district", time="year",  # type: ignore[arg-type]
                         cohort="first_treated")

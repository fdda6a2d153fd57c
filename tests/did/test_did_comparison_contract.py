"""The Sun–Abraham results honour the results contract (estimates, options, sample flow, summary, tidy, to_dict,
sampling distribution)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.did import simulate_staggered, sun_abraham
from cteimpact.results import TIDY_COLUMNS, ImpactResults, dumps_json


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df, _ = simulate_staggered(seed=6, n_clusters=24, n_never_clusters=6, units_per_cluster=4)
    return df


def test_sun_abraham_honours_the_results_contract(panel: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sa = sun_abraham(panel, outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster",
                         level=0.9)
    assert isinstance(sa, ImpactResults)
    assert sa.labels[0] == "y[sun_abraham]"
    assert len(sa.estimates) == len(sa.event_study) + 1
    head = sa.estimate("y[sun_abraham]")
    assert head.estimate == sa.att and head.std_error == sa.att_se and head.ci_level == pytest.approx(0.9)
    for r in sa.event_study.to_dict(orient="records"):
        row = sa.estimate(f"y[sun_abraham,event={float(r['event_time']):g}]")
        assert row.estimate == r["estimate"] and row.std_error == r["std_error"]
        assert row.ci_lower == pytest.approx(r["ci_lower"], rel=1e-12)
    assert sa.options["outcome"] == "y" and sa.options["cluster"] == "cluster" and sa.options["level"] == 0.9
    assert sa.sample_flow.rows_read == len(panel) and sa.sample_flow.current_unit == "units"
    assert list(sa.tidy().columns) == list(TIDY_COLUMNS) and len(sa.tidy()) == len(sa.estimates)
    dist = sa.sampling_distribution()
    assert dist.labels == sa.labels
    np.testing.assert_allclose(np.sqrt(np.diag(dist.cov)), [e.std_error for e in sa.estimates], rtol=1e-12)
    assert np.all(np.abs(dist.cov[0, 1:]) > 0)  # the overall ATT is correlated with the event-time effects
    record = json.loads(dumps_json(sa.to_dict()))
    assert record["design"] == "did" and record["estimator"].startswith("Sun & Abraham")
    assert record["details"]["att"] == sa.att and record["details"] == json.loads(dumps_json(sa.record()))
    text = sa.summary()
    assert "Sun & Abraham" in text and "y[sun_abraham]" in text and "Sample flow" in text

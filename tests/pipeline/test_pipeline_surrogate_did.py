"""``[surrogate]`` with a student-level DiD design, and a training sample under the small-cell threshold."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from surrogate_study import DATA_NAME, write_did_spec, write_spec, write_surrogate_data

from cteimpact.did import CallawaySantAnna
from cteimpact.pipeline.run import run_analysis
from cteimpact.surrogate import SurrogateIndex

SURROGATES = ["credential", "graduated", "earnings_age19"]


@pytest.fixture(scope="module")
def data_dir(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("surrogate-did-data")
    write_surrogate_data(synth_dir, folder)
    return folder


def _run(spec: Path, data: Path, out: Path) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows without the outcome, few clusters: not the subject here
        return run_analysis(spec, out, data_root=data, progress=False).results


def test_did_projection_is_the_att_on_the_index_plus_the_index_variance(data_dir: Path, tmp_path: Path) -> None:
    res = _run(write_did_spec(tmp_path / "spec"), data_dir, tmp_path / "run")
    frame = pd.read_parquet(data_dir / DATA_NAME)
    model = SurrogateIndex(frame[frame["cohort"] <= 2011], outcome="earnings_age26", surrogates=SURROGATES,
                           covariates=["female", "low_income"], cluster="district_id").fit()
    frame["h"] = model.index(frame).values.reindex(frame.index)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in ["h", *SURROGATES]:
            fits[y] = CallawaySantAnna(frame, outcome=y, time="cohort", cohort="first_treated",
                                       cluster="district_id", panel=False).fit()
    h = fits["h"].sampling_distribution()
    tau = np.array([fits[s].sampling_distribution().mean[0] for s in SURROGATES])
    _, cov_beta = model.surrogate_block()
    rec = res["surrogate"]
    assert rec["labels"] == ["earnings_age26[surrogate]"]  # a DiD projects its simple ATT
    proj = rec["projections"][0]
    assert h.labels[0] == "h"
    assert proj["centre"] == pytest.approx(h.mean[0], rel=1e-10)
    assert proj["variance"]["design"] == pytest.approx(h.cov[0, 0], rel=1e-10)
    assert proj["variance"]["model"] == pytest.approx(float(tau @ cov_beta @ tau), rel=1e-10)
    assert proj["std_error"] == pytest.approx(math.sqrt(h.cov[0, 0] + float(tau @ cov_beta @ tau)), rel=1e-10)
    assert "staggered difference-in-differences" in rec["assumptions"][2]
    arms = rec["study_sample"]["arms"]["rule"]
    assert arms["treated"] == "the treated arm (first_treated > 0 and cohort >= first_treated)"
    check = rec["validation"][0]
    assert check["estimand"] == "primary" and check["flagged"] in (True, False)
    assert check["difference_se"] > 0
    # the DiD's study sample is every cohort: the training cohorts (2011 and before) are in it too, and it is said
    training = rec["training"]
    n_old = int((frame["cohort"] <= 2011).sum())
    assert training["independent"] is False and training["overlap_rows"] == n_old
    assert training["overlap_note"].startswith(f"the training sample shares {n_old:,} rows with the study sample")


def test_a_training_sample_under_min_cell_is_suppressed_and_said_so(data_dir: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec", replace={
        'training = ["cohort <= 2013"]': 'training = ["cohort <= 2013", "prior_achievement > 2.5"]',
        '[design.diagnostics]': '[privacy]\nmin_cell = 30\n\n[design.diagnostics]'})
    out = tmp_path / "run"
    res = _run(spec, data_dir, out)
    rec = res["surrogate"]
    assert rec["suppressed"] is True
    assert rec["suppression"].startswith("the training sample has fewer than 30 students with 'earnings_age26'")
    assert rec["model"] is None and rec["projection"] is None and rec["labels"] == []
    assert "training sample's counts are suppressed" in rec["suppression"]
    assert rec["training"] == {"restrictions": ["cohort <= 2013", "prior_achievement > 2.5"], "sample_flow": None}
    frame = pd.read_parquet(data_dir / DATA_NAME)
    kept = int(((frame["cohort"] <= 2013) & (frame["prior_achievement"] > 2.5)).sum())
    assert kept < 30
    assert f": {kept}," not in json.dumps(rec) and f": {kept}}}" not in json.dumps(rec)  # the small count is not out
    assert not (out / "tables" / "surrogate-model.csv").exists()
    assert res["design"]["estimates"][0]["suppressed"] is False  # the design itself is published


def test_an_arm_under_min_cell_suppresses_the_projection_and_says_so(data_dir: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(data_dir / DATA_NAME)
    study = (frame["cohort"] >= frame["award_year"]) & (frame["cohort"] <= frame["award_year"] + 3)
    treated = study & (frame["rubric_score"] >= frame["cutoff"]) & frame["credential"].notna()
    keep = frame.index[treated][:5]  # five treated students keep their credential record, the others lose it
    frame.loc[treated & ~frame.index.isin(keep), "credential"] = np.nan
    data = tmp_path / "data"
    data.mkdir()
    frame.to_parquet(data / DATA_NAME, index=False)
    res = _run(write_spec(tmp_path / "spec"), data, tmp_path / "run")
    rec = res["surrogate"]
    assert rec["labels"] == [] and rec["projection"] is None
    reasons = {p["label"]: p["suppression"] for p in rec["projections"]}
    assert set(reasons) == {"earnings_age26[surrogate]", "earnings_age26[surrogate][reduced_form]"}
    assert all(r.startswith("the treated arm has fewer than 10 students of the study sample with every surrogate")
               for r in reasons.values())
    arms = rec["study_sample"]["arms"]
    assert arms["with_index"]["treated"] is None and arms["present"]["credential"]["treated"] is None
    assert arms["with_index"]["comparison"] > 10
    assert rec["validation"] == [{"estimand": "primary", "suppressed": True,
                                  "suppression": next(iter(reasons.values()))}]
    assert rec["model"] is not None  # the index itself (training sample) is published
    assert rec["design_effects"] == []

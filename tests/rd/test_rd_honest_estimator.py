"""``RegressionDiscontinuity.fit(honest=True)``: the bias-aware interval beside the robust one, its record in the
results, the mass-points note, and bad input (typed errors; exit 2 on the command line)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.errors import CteImpactError, OptionError
from cteimpact.rd import RegressionDiscontinuity


def _discrete(n: int = 3000, seed: int = 5, support: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.integers(-support // 2, support // 2, n).astype(float)
    y = 0.01 * x**2 + 0.3 * (x >= 0) + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"score": x, "y": y, "g": rng.integers(0, 60, n), "cohort": 2015})


def _fit(data: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RegressionDiscontinuity(data, ["y"], "score", cutoff=0.0, **kw.pop("design", {})).fit(**kw)


def test_honest_interval_beside_robust_with_record_and_note() -> None:
    res = _fit(_discrete(), honest=True, honest_m_grid=(0.05,))
    hr = res.honest["y"]
    assert hr.method == "holder" and hr.m_source.startswith("rule of thumb") and hr.m > 0
    assert hr.ci_low < hr.estimate < hr.ci_high and hr.max_bias >= 0
    assert (hr.mass_points_left, hr.mass_points_right) == (10, 10) and hr.few_mass_points
    assert [s.multiple for s in hr.sensitivity] == [0.5, 1.0, 2.0, 4.0, None]
    assert hr.sensitivity[-1].m == 0.05
    assert any("only 10 / 10 distinct values" in n and "bias-aware" in n for n in res.notes)
    details = res.to_dict()["details"]
    rec = details["honest"]["y"]
    assert rec["label"].startswith("Bias-aware interval (Armstrong–Kolesár, M=")
    assert rec["ci_low"] == hr.ci_low and rec["variance"] == "nearest-neighbour (J=3)"
    assert "Bias-aware interval for y" in res.summary()
    assert res.options["honest"] is True and res.options["honest_m_grid"] == [0.05]
    # the robust estimate is the same with and without the honest interval
    plain = _fit(_discrete())
    assert plain.honest == {} and "honest" not in plain.to_dict()["details"] and plain.options["honest"] is False
    assert [e.estimate for e in plain.estimates] == [e.estimate for e in res.estimates]


def test_honest_clustered_and_bme() -> None:
    data = _discrete()
    res = _fit(data, design={"cluster": "g"}, honest=True, honest_m=0.02)
    hr = res.honest["y"]
    assert hr.m == 0.02 and hr.m_source == "user" and hr.clusters == 60 and hr.variance == "cluster-robust EHW"
    bme = _fit(data, design={"cluster": "g"}, honest=True, honest_method="bme")
    assert bme.honest["y"].method == "bme" and math.isnan(bme.honest["y"].m)
    assert any("does not account for clustering" in n for n in bme.notes)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_m_zero_or_negative_is_an_option_error(bad: float) -> None:
    with pytest.raises(OptionError, match="honest_m must be a positive number"):
        _fit(_discrete(), honest=True, honest_m=bad)


def test_single_value_on_one_side_is_typed_error() -> None:
    d = _discrete()
    d.loc[d["score"] < 0, "score"] = -1.0
    with pytest.raises(CteImpactError) as err:
        _fit(d, honest=True)
    msg = str(err.value)
    assert "'score' has 1 distinct value(s) below the cutoff" in msg
    n_left = int((d["score"] < 0).sum())
    assert f"({n_left} rows)" in msg and "10 at or above" in msg


def test_privacy_hides_small_honest_interval() -> None:
    res = _fit(_discrete(n=600), honest=True)
    assert "y" in res.honest
    assert res.with_min_cell(10_000).honest == {}


def test_cli_honest_block_and_bad_m_exit_2(capsys, tmp_path) -> None:
    path = tmp_path / "d.csv"
    _discrete().to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["rd", str(path), "--outcome", "y", "--running", "score", "--cutoff", "0", "--honest",
                     "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    obj = json.loads(out.out)
    block = obj["honest"] if "honest" in obj else obj["outcomes"][0]["honest"]
    assert block["method"] == "holder" and block["ci_low"] < block["ci_high"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["rd", str(path), "--outcome", "y", "--running", "score", "--cutoff", "0", "--honest",
                     "--honest-m", "-1"])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    lines = [line for line in out.err.splitlines() if line.startswith("cteimpact: error")]
    assert len(lines) == 1 and "honest_m must be a positive number" in lines[0]


def test_typed_reader_reads_the_honest_record() -> None:
    from cteimpact.records.rd import RDDetails

    res = _fit(_discrete(), honest=True)
    details = RDDetails.from_dict(json.loads(json.dumps(res.to_dict()["details"])))
    rec = details.honest["y"]
    hr = res.honest["y"]
    assert rec.ci_low == hr.ci_low and rec.ci_high == hr.ci_high and rec.m == hr.m
    assert rec.label == hr.label and rec.few_mass_points is True and len(rec.sensitivity) == 4
    assert rec.m_outcome is None and rec.sensitivity[0].multiple == 0.5

"""``cteimpact did``: the JSON contract, defaults, --where, and errors as exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cteimpact.cli.app import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.reference
def test_json_contract_and_r_defaults(reference_file, capsys: pytest.CaptureFixture[str]) -> None:
    path = reference_file("mpdta.csv")
    code, out, err = _run(["did", str(path), "--outcome", "lemp", "--unit", "countyreal", "--time", "year",
                           "--cohort", "first.treat", "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    for key in ("att_gt", "aggregates", "pretest", "twfe", "sample_flow"):
        assert key in obj
    assert {"group", "time", "att", "se"} <= set(obj["att_gt"][0])
    assert set(obj["aggregates"]) == {"simple", "group", "dynamic", "calendar"}
    for fam in ("simple", "group", "dynamic", "calendar"):
        assert {"att", "se"} <= set(obj["aggregates"][fam])
    for fam, key in (("group", "group"), ("dynamic", "event"), ("calendar", "time")):
        elems = obj["aggregates"][fam]["elements"]
        assert elems and {key, "att", "se"} <= set(elems[0])
    assert {"statistic", "p_value"} <= set(obj["pretest"])
    assert {"estimate", "se"} <= set(obj["twfe"])
    # defaults are R did's: never-treated, DR, varying base period, analytic SEs -> the R reference numbers
    ref = pd.read_csv(reference_file("mpdta_r_did_aggte.csv"))
    simple = ref[(ref["scenario"] == "mpdta_nev_dr") & (ref["type"] == "simple")].iloc[0]
    assert abs(obj["aggregates"]["simple"]["att"] - simple["overall_att"]) <= 1e-8
    assert abs(obj["aggregates"]["simple"]["se"] - simple["overall_se"]) <= 1e-8
    opts = obj["options"]
    assert (opts["control"], opts["method"], opts["base_period"], opts["bootstrap"]) == ("never", "dr", "varying",
                                                                                        None)
    assert obj["results"]["schema"] == "cteimpact.results/1"


@pytest.mark.reference
def test_where_restriction_recorded(reference_file, capsys: pytest.CaptureFixture[str]) -> None:
    path = reference_file("mpdta.csv")
    code, out, _ = _run(["did", str(path), "--outcome", "lemp", "--unit", "countyreal", "--time", "year",
                         "--cohort", "first.treat", "--where", "year >= 2004", "--where", "lpop > 2",
                         "--no-twfe", "--json"], capsys)
    assert code == 0
    obj = json.loads(out)
    reasons = [s["reason"] for s in obj["sample_flow"]["steps"]]
    assert "restriction: year >= 2004" in reasons and "restriction: lpop > 2" in reasons
    assert obj["twfe"] is None


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.DataFrame({"id": [1, 1, 2, 2], "t": [1, 1, 1, 2], "g": [0, 0, 2, 2], "y": [0.0, 1.0, 2.0, 3.0]})
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    code, _, err = _run(["did", str(p), "--outcome", "y", "--unit", "id", "--time", "t", "--cohort", "g"], capsys)
    assert code == 2
    assert err.strip().startswith("cteimpact: error:") and "repeat a (id, t) combination" in err
    assert err.count("\n") == 1


def test_text_summary_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cteimpact.did import simulate_staggered

    df, _ = simulate_staggered(seed=1, n_clusters=30, n_never_clusters=6, units_per_cluster=3)
    p = tmp_path / "panel.parquet"
    df.to_parquet(p)
    png = tmp_path / "es.png"
    code, out, err = _run(["did", str(p), "--outcome", "y", "--unit", "unit", "--time", "time", "--cohort",
                           "cohort", "--cluster", "cluster", "--wild-bootstrap", "99", "--plot", str(png),
                           "--output", str(tmp_path / "out.json")], capsys)
    assert code == 0, err
    assert "Restricted wild cluster bootstrap" in out
    assert png.stat().st_size > 1000
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["results"]["estimates"][0]["ci_type"] == "wild_cluster_bootstrap"

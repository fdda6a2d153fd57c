"""One name for the confidence level (issue 12): `level` (0.95) in both designs and every interface; `alpha` where a
level is meant is refused with the level it means, in the same words from Python, a specification and the command
line; a level gives exactly the intervals the size 1 - level gave; `alpha` stays where it is a test's size."""

from __future__ import annotations

import copy
import tomllib
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cteimpact
from cteimpact.cli.app import main
from cteimpact.did import CallawaySantAnna, honest_sensitivity
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.pipeline.spec import parse_spec
from cteimpact.results.intervals import size_of

REPO = Path(__file__).resolve().parents[2]
WHY = "the confidence level is 'level' = 1 - alpha (for alpha = 0.05, level = 0.95)"


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    units, periods = 80, 6
    g = np.repeat(rng.choice([0, 3, 4, 5], size=units), periods)
    t = np.tile(np.arange(1, periods + 1), units)
    cluster = np.repeat(np.arange(units) % 16, periods)
    y = rng.normal(size=units * periods) + 1.0 * ((g > 0) & (t >= g))
    return pd.DataFrame({"id": np.repeat(np.arange(units), periods), "t": t, "g": g, "c": cluster, "y": y})


@pytest.fixture(scope="module")
def cs() -> CallawaySantAnna:
    return CallawaySantAnna(_panel(), outcome="y", unit="id", time="t", cohort="g", cluster="c")


def _spec(path: str, edit: Any) -> Any:
    spec = tomllib.loads((REPO / "analyses" / path).read_text(encoding="utf-8"))
    edit(spec["design"])
    return parse_spec(copy.deepcopy(spec), source="spec.toml")


def test_size_of_is_the_decimal_complement() -> None:
    assert 1 - 0.95 != 0.05 and size_of(0.95) == 0.05  # the floating-point complement is not the size people write
    for alpha in (0.05, 0.1, 0.01, 0.001, 0.32, 0.2, 0.5):
        assert size_of(float(f"{1 - alpha:.10g}")) == alpha


@pytest.mark.parametrize(("level", "small_sample", "same_as_size"), [
    (0.95, False, True), (0.9, False, True), (0.99, True, True), (0.68, False, False)])
def test_a_level_gives_exactly_the_intervals_of_the_size_one_minus_level(cs: CallawaySantAnna, level: float,
                                                                         small_sample: bool,
                                                                         same_as_size: bool) -> None:
    res = cs.fit(level=level, small_sample=small_sample, twfe=False)
    alpha = float(f"{1 - level:.10g}")  # the size the same intervals were asked for with before
    dist = stats.norm if not small_sample else stats.t(res.df)
    crit = float(dist.ppf(0.5 + level / 2))
    if same_as_size:  # the intervals the size gave (at the floating-point level 1 - alpha), bit for bit
        assert float(dist.ppf(0.5 + (1 - alpha) / 2)) == crit
    for e in res.estimates:
        assert e.ci_type == "pointwise" and e.ci_level == level
        assert e.ci_lower == e.estimate - crit * e.std_error
        assert e.ci_upper == e.estimate + crit * e.std_error
    record = res.inference_record()
    assert record["alpha"] == alpha and record["ci_level"] == level
    assert res.options["level"] == level and "alpha" not in res.options
    decision = res.pretest_decision()
    assert decision is not None and decision["alpha"] == alpha


def test_bootstrap_and_wild_intervals_follow_the_level(cs: CallawaySantAnna) -> None:
    narrow = cs.fit(level=0.8, bootstrap=199, wild_bootstrap=99, seed=1, twfe=False)
    wide = cs.fit(bootstrap=199, wild_bootstrap=99, seed=1, twfe=False)
    for kind in ("simultaneous", "wild_cluster_bootstrap"):
        a = next(e for e in narrow.estimates if e.ci_type == kind)
        b = wide.estimate(a.label)
        assert a.ci_level == 0.8 and b.ci_level == 0.95
        assert a.ci_upper - a.ci_lower < b.ci_upper - b.ci_lower
    assert narrow.wild[narrow.outcome].ci_level == pytest.approx(0.8)


def test_aggregate_and_honest_did_take_the_level(cs: CallawaySantAnna) -> None:
    res = cs.fit(twfe=False)
    agg = res.aggregate("dynamic", level=0.9)
    assert agg.options["level"] == 0.9 and agg.overall.ci_level == 0.9
    honest = res.honest_did(restriction="smoothness", values=[0.0, 0.1], breakdown=False, level=0.9)
    assert honest.alpha == 0.1  # the result records the size of its robust intervals
    e, beta, cov, _ = res._event_parts()
    ref = res.reference_period()
    use = (np.sqrt(np.diag(cov)) > 0) & (e != ref)
    direct = honest_sensitivity(beta[use], cov[np.ix_(use, use)], n_pre=int((use & (e < ref)).sum()),
                                l_vec=np.array([1.0] + [0.0] * int((use & (e > ref)).sum() - 1)),
                                restriction="smoothness", values=[0.0, 0.1], breakdown=False, alpha=0.1)
    assert honest.table.equals(direct.table)


def test_alpha_is_refused_from_python_with_the_level_it_means(cs: CallawaySantAnna) -> None:
    res = cs.fit(twfe=False)
    frame = _panel()
    calls = {
        "CallawaySantAnna.fit()": lambda: cs.fit(alpha=0.05),
        "res.aggregate()": lambda: res.aggregate("group", alpha=0.05),
        "honest_did()": lambda: res.honest_did(alpha=0.05),
        "cteimpact.did()": lambda: cteimpact.did(frame, outcome="y", time="t", unit="id", cohort="g", alpha=0.05),
    }
    for where, call in calls.items():
        with pytest.raises(OptionError) as info:
            call()
        assert str(info.value) == f"'alpha' is not an option of {where}: {WHY}"
    with pytest.raises(OptionError) as info:
        CallawaySantAnna(frame, outcome="y", unit="id", time="t", cohort="g", alpha=0.05)
    assert str(info.value) == f"'alpha' is not an option of CallawaySantAnna(): {WHY}, an option of " \
                              "CallawaySantAnna.fit()"


def test_alpha_is_refused_by_the_rd_estimator_too() -> None:
    from cteimpact.rd import RegressionDiscontinuity

    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, 2000)
    frame = pd.DataFrame({"score": x, "y": 0.3 * (x >= 0) + x + rng.normal(scale=0.5, size=x.size)})
    with pytest.raises(OptionError) as info:
        RegressionDiscontinuity(frame, ["y"], "score", 0.0).fit(alpha=0.05)
    assert str(info.value) == f"'alpha' is not an option of RegressionDiscontinuity.fit(): {WHY}"
    with pytest.raises(OptionError) as info:
        cteimpact.rd(frame, outcome="y", score="score", cutoff=0.0, alpha=0.05)
    assert str(info.value) == f"'alpha' is not an option of cteimpact.rd(): {WHY}"


@pytest.mark.parametrize(("path", "section", "where"), [
    ("pathways-earnings-did.toml", "inference", "[design.inference]"),
    ("ccpt-dropout-rd.toml", "estimation", "[design.estimation]"),
])
def test_alpha_is_refused_by_a_specification(path: str, section: str, where: str) -> None:
    with pytest.raises(SpecificationError) as inside:
        _spec(path, lambda d: d.setdefault(section, {}).update(alpha=0.05))
    assert f"'alpha' is not an option of {where}: {WHY}" in str(inside.value)
    with pytest.raises(SpecificationError) as design:  # written in [design] itself: the section of level is named
        _spec(path, lambda d: d.update(alpha=0.05))
    assert f"'alpha' is not an option of [design]: {WHY}, an option of {where}" in str(design.value)
    level = _spec(path, lambda d: d.setdefault(section, {}).update(level=0.9))
    assert getattr(level.design, section).to_options().level == 0.9


def test_alpha_is_refused_on_the_command_line(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "panel.csv"
    _panel().to_csv(data, index=False)
    out = tmp_path / "out.json"
    code = main(["did", str(data), "--outcome", "y", "--unit", "id", "--time", "t", "--cohort", "g", "--alpha",
                 "0.05", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "'--alpha' is not an option of cteimpact did: the confidence level is '--level' = 1 - alpha (for alpha = " \
           "0.05, --level 0.95)" in err
    assert "Traceback" not in err and err.count("\n") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["did", str(data), "--outcome", "y", "--unit", "id", "--time", "t", "--cohort", "g", "--level",
                     "0.9", "--no-twfe", "--min-cell", "1", "--output", str(out)]) == 0
    assert '"level": 0.9' in out.read_text(encoding="utf-8")


def test_alpha_stays_where_it_is_the_size_of_a_test(cs: CallawaySantAnna) -> None:
    from cteimpact.cli.rd import command as rd_command
    from cteimpact.rd.diagnostics import DiagnosticOptions

    res = cs.fit(twfe=False)
    assert res.pretrend_power(alpha=0.1).alpha == 0.1  # pre-trend tests: a size, not an interval's level
    assert DiagnosticOptions(alpha=0.1).alpha == 0.1  # the RD checks' verdicts
    assert "alpha" in {p.name for p in rd_command.params if isinstance(p, click.Option)}


def test_window_level_is_refused_with_the_name_of_the_size_it_was(tmp_path: Path, capsys: Any) -> None:
    """The window-selection balance tests' size was called window_level; it is window_alpha (a test's size), and
    the old name says so in a specification and on the command line."""
    why = ("the size of the balance tests that select the local-randomisation window is '{new}' (a test's size, not "
           "a confidence level; for example {example})")
    with pytest.raises(SpecificationError) as info:
        _spec("ccpt-dropout-rd.toml", lambda d: d["local_randomization"].update(window_level=0.15))
    assert ("'window_level' is not an option of [design.local_randomization]: "
            + why.format(new="window_alpha", example="window_alpha = 0.15")) in str(info.value)
    spec = _spec("ccpt-dropout-rd.toml", lambda d: d["local_randomization"].update(window_alpha=0.2))
    assert spec.design.local_randomization.to_options().window_alpha == 0.2
    data = tmp_path / "rd.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame({"score": rng.uniform(-1, 1, 200), "y": rng.normal(size=200)}).to_csv(data, index=False)
    code = main(["rd", str(data), "--outcome", "y", "--running", "score", "--cutoff", "0", "--window-level", "0.15"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert ("'--window-level' is not an option of cteimpact rd: "
            + why.format(new="--window-alpha", example="--window-alpha 0.15")) in err

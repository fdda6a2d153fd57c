"""Options declared once (issue 12), DiD estimation: the fields of DiDEstimation are the keywords of the
CallawaySantAnna constructor, the estimation keys of a specification's [design], the estimation options of
`cteimpact did` (with their help) and the options results record; every option reaches the estimate from each
interface; an unknown option or a bad value gets the same kind of message, naming the option, from each; the README
holds the table generated from the declaration."""

from __future__ import annotations

import json
import tomllib
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.cli.did import command as did_command
from cteimpact.config.declared import declared, options_table, unknown_option_message
from cteimpact.config.design_options import estimator_option_names, other_design_options
from cteimpact.config.toml import validate
from cteimpact.did import CallawaySantAnna
from cteimpact.did.options import DiDEstimation
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.pipeline.spec import DiDDesignSpec, parse_spec

REPO = Path(__file__).resolve().parents[2]
NAMES = [o.name for o in declared(DiDEstimation)]
COLUMNS = {"type": "did", "outcome": "y", "time": "t", "unit": "id", "cohort": "g"}
"""The [design] keys that name the data's columns (not estimation options)."""
CHOSEN: dict[str, Any] = {"control": "notyet", "method": "ipw", "base_period": "universal", "anticipation": 1,
                          "allow_unbalanced": True, "trim_level": 0.7}
"""A value other than the default for every option but panel (which needs other data: see below)."""
FLAGS = ["--control", "notyet", "--method", "ipw", "--base-period", "universal", "--anticipation", "1",
         "--allow-unbalanced", "--trim-level", "0.7"]


def _panel(seed: int = 11) -> pd.DataFrame:
    """A staggered panel whose covariate predicts treatment (propensity scores reach the trimming levels), with a
    few rows missing (an unbalanced panel), on which every estimation option changes the estimates."""
    rng = np.random.default_rng(seed)
    units, periods = 240, 6
    x_unit = rng.normal(size=units)
    p_treat = 1 / (1 + np.exp(-2.5 * x_unit))
    cohort_unit = np.where(rng.uniform(size=units) < p_treat, rng.choice([3, 4, 5], size=units), 0)
    g = np.repeat(cohort_unit, periods)
    t = np.tile(np.arange(1, periods + 1), units)
    x = np.repeat(x_unit, periods)
    trend = 0.3 * x * t
    y = rng.normal(size=units * periods) + trend + 1.0 * ((g > 0) & (t >= g - 1)) + 0.5 * ((g > 0) & (t >= g))
    frame = pd.DataFrame({"id": np.repeat(np.arange(units), periods), "t": t, "g": g, "x": x, "y": y})
    missing = rng.choice(frame.index[frame["t"] > 1], size=20, replace=False)
    return frame.drop(index=missing).reset_index(drop=True)


def _cross_sections(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3000
    g = rng.choice([0, 3, 4], size=n)
    t = rng.integers(1, 6, size=n)
    y = rng.normal(size=n) + 1.0 * ((g > 0) & (t >= g))
    return pd.DataFrame({"t": t, "g": g, "y": y})


def _fit(frame: pd.DataFrame, **options: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CallawaySantAnna(frame, outcome="y", unit="id" if "id" in frame else None, time="t", cohort="g",
                                covariates=["x"] if "x" in frame else (), **options).fit(twfe=False)


def _spec(design: dict[str, Any]) -> Any:
    """A whole specification (the shipped DiD study's) with the [design] ``design``."""
    spec = tomllib.loads((REPO / "analyses" / "pathways-earnings-did.toml").read_text(encoding="utf-8"))
    return parse_spec({**spec, "design": design}, source="spec.toml")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


def _numbers(res: Any) -> list[tuple[str, float, float]]:
    return [(e.label, e.estimate, e.std_error) for e in res.estimates]


def test_cli_spec_python_and_results_have_the_same_options(panel: pd.DataFrame) -> None:
    cli = {p.name: p for p in did_command.params if isinstance(p, click.Option) and p.name in NAMES}
    assert sorted(cli) == sorted(NAMES)
    assert not {p.name for p in did_command.params} & {"rcs", "repeated_cross_sections"}  # no hand-written copy
    window_and_sections = {"cluster", "covariates", "weights", "students", "outcome_sd", "outcome_n", "balance_e",
                           "min_e", "max_e", "inference", "comparisons"}
    assert sorted(set(DiDDesignSpec.model_fields) - set(COLUMNS) - window_and_sections) == sorted(NAMES)
    assert set(NAMES) <= set(estimator_option_names("did"))  # the Python keywords the entry points accept
    res = _fit(panel, **CHOSEN)
    for o in declared(DiDEstimation):
        assert cli[o.name].help == o.help  # the help text is the declaration's
        assert DiDDesignSpec.model_fields[o.name].default == o.default
        assert o.base is bool or cli[o.name].default == o.default
        assert res.options[o.name] == CHOSEN.get(o.name, o.default)  # recorded under its own name, as given
    assert _fit(panel).options["panel"] is True and _fit(panel).options["allow_unbalanced"] is False


def test_every_option_changes_the_estimate(panel: pd.DataFrame) -> None:
    """Each option reaches the estimator: alone, its chosen value changes the estimates."""
    default = _numbers(_fit(panel))
    for name, value in CHOSEN.items():
        assert _numbers(_fit(panel, **{name: value})) != default, name
    rcs = _cross_sections()
    assert _fit(rcs, panel=False).options["data_mode"] == "rcs"


def test_every_option_reaches_the_estimate_from_each_interface(panel: pd.DataFrame, tmp_path: Path) -> None:
    python = _fit(panel, **CHOSEN)
    section = validate(DiDDesignSpec, {**COLUMNS, **CHOSEN}, source="spec.toml")
    assert section.to_options() == DiDEstimation(**CHOSEN)
    from_spec = _fit(panel, estimation=section.to_options())
    assert _numbers(from_spec) == _numbers(python)
    data = tmp_path / "panel.csv"
    panel.to_csv(data, index=False)
    out = tmp_path / "cli.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["did", str(data), "--outcome", "y", "--unit", "id", "--time", "t", "--cohort", "g",
                     "--covariates", "x", *FLAGS, "--no-twfe", "--min-cell", "1", "--output", str(out)])
    assert code == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert {k: record["options"][k] for k in NAMES} == asdict(DiDEstimation(**CHOSEN))
    cli = {e["label"]: e["estimate"] for e in record["estimates"]}
    assert cli == pytest.approx({e.label: e.estimate for e in python.estimates}, rel=1e-12)


def test_repeated_cross_sections_from_each_interface(tmp_path: Path) -> None:
    rcs = _cross_sections()
    python = _fit(rcs, panel=False)
    section = validate(DiDDesignSpec, {**COLUMNS, "unit": None, "panel": False}, source="spec.toml")
    assert section.unit is None
    assert section.to_options().panel is False
    assert _numbers(_fit(rcs, estimation=section.to_options())) == _numbers(python)
    data = tmp_path / "rcs.csv"
    rcs.to_csv(data, index=False)
    out = tmp_path / "cli.json"
    assert main(["did", str(data), "--outcome", "y", "--time", "t", "--cohort", "g", "--no-panel", "--no-twfe",
                 "--min-cell", "1", "--output", str(out)]) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["options"]["panel"] is False and record["options"]["data_mode"] == "rcs"
    assert record["estimates"][0]["estimate"] == pytest.approx(python.estimates[0].estimate, rel=1e-12)


@pytest.mark.parametrize(("name", "value", "flag", "text", "message"), [
    ("control", "nevr", "--control", "nevr", "'nevr'"),
    ("method", "dd", "--method", "dd", "'dd'"),
    ("base_period", "fixed", "--base-period", "fixed", "'fixed'"),
    ("anticipation", -1, "--anticipation", "-1", "anticipation must be a non-negative whole number of periods, "
                                                 "got -1"),
    ("trim_level", 0.3, "--trim-level", "0.3", "trim_level must be a number above 0.5 and at most 1, got 0.3"),
])
def test_bad_values_give_typed_errors_naming_the_option(panel: pd.DataFrame, tmp_path: Path, capsys: Any,
                                                        name: str, value: Any, flag: str, text: str,
                                                        message: str) -> None:
    with pytest.raises(OptionError) as python:
        DiDEstimation(**{name: value})
    assert name in str(python.value) and message in str(python.value)
    with pytest.raises(OptionError, match=name):
        CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g", **{name: value})
    with pytest.raises(SpecificationError) as toml:
        _spec({**COLUMNS, name: value})
    assert f"design.{name}" in str(toml.value) and message in str(toml.value)
    data = tmp_path / "panel.csv"
    panel.to_csv(data, index=False)
    assert main(["did", str(data), "--outcome", "y", "--unit", "id", "--time", "t", "--cohort", "g",
                 flag, text]) == 2
    err = capsys.readouterr().err
    assert (flag in err or name in err) and text in err and "Traceback" not in err and err.count("\n") == 1


def test_switches_must_be_true_or_false() -> None:
    with pytest.raises(OptionError, match="panel must be true or false, got 'no'"):
        DiDEstimation(panel="no")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"design\.allow_unbalanced: expected true or false, got 1"):
        _spec({**COLUMNS, "allow_unbalanced": 1})


def test_an_unknown_option_gets_the_same_message_everywhere(panel: pd.DataFrame, capsys: Any) -> None:
    with pytest.raises(OptionError) as python:
        CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g", contrl="notyet")
    with pytest.raises(SpecificationError) as toml:
        _spec({**COLUMNS, "contrl": "notyet"})
    assert main(["did", "x.csv", "--contrl", "notyet"]) == 2
    cli = capsys.readouterr().err
    assert str(python.value) == "unknown option 'contrl' for CallawaySantAnna(); did you mean 'control'?"
    assert "unknown option 'contrl' for [design]; did you mean 'control'?" in str(toml.value)
    assert "unknown option '--contrl' for cteimpact did; did you mean '--control'?" in cli
    # a misspelt column keyword of the constructor is named too
    with pytest.raises(OptionError, match=r"unknown option 'covariate' for CallawaySantAnna\(\); did you mean "
                                          r"'covariates'"):
        CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g", covariate=["x"])


def test_options_given_to_the_wrong_place_say_where_they_belong(panel: pd.DataFrame, capsys: Any) -> None:
    cs = CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g")
    with pytest.raises(OptionError, match=r"option 'control' is not valid for CallawaySantAnna\.fit\(\): it belongs "
                                          r"to the constructor, CallawaySantAnna\(\)"):
        cs.fit(control="notyet")
    with pytest.raises(OptionError, match=r"option 'bootstrap' is not valid for CallawaySantAnna\(\): it belongs "
                                          r"to CallawaySantAnna\.fit\(\)"):
        CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g", bootstrap=99)
    with pytest.raises(OptionError, match=r"option 'kernel' is not valid for CallawaySantAnna\(\): it belongs to "
                                          r"the regression discontinuity estimator"):
        CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g", kernel="uniform")
    # the RD estimator names the DiD estimation options as DiD's
    assert set(NAMES) <= set(other_design_options("rd")["the difference-in-differences estimator (cteimpact.did)"])
    assert main(["rd", "x.csv", "--trim-level", "0.9"]) == 2
    assert "option '--trim-level' is not valid for cteimpact rd: it belongs to 'cteimpact did'" in \
        capsys.readouterr().err
    assert unknown_option_message("trim_level", ["p"], where="RegressionDiscontinuity.fit()",
                                  elsewhere=other_design_options("rd")).endswith(
        "it belongs to the difference-in-differences estimator (cteimpact.did)")


def test_the_readme_holds_the_generated_did_estimation_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = options_table(DiDEstimation, section="design")
    assert table in readme, "regenerate the README's DiD estimation options table from DiDEstimation"
    for name in NAMES:
        assert f"| `{name}` | `design.{name}` |" in readme

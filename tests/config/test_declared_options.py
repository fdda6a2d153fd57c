"""Options declared once (issue 12): the RD estimation options of RDOptions are the Python keywords of fit(), the
[design.estimation] keys of a specification, the estimation options of `cteimpact rd` (with their help) and the
options results record; an unknown option gets the same message from every interface; the README's table is the
one generated from the declaration."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.cli.rd import command as rd_command
from cteimpact.config.declared import declared, options_table, unknown_option_message
from cteimpact.config.toml import validate
from cteimpact.errors import OptionError, SpecificationError
from cteimpact.pipeline.spec import RDEstimationSpec
from cteimpact.rd import RegressionDiscontinuity
from cteimpact.rd.options import RDOptions

REPO = Path(__file__).resolve().parents[2]
NAMES = [o.name for o in declared(RDOptions)]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, 3000)
    return pd.DataFrame({"score": x, "y": 0.3 * (x >= 0) + x + rng.normal(scale=0.5, size=x.size)})


@pytest.fixture(scope="module")
def rd() -> RegressionDiscontinuity:
    return RegressionDiscontinuity(_frame(), ["y"], "score", 0.0)


def test_cli_spec_python_and_results_have_the_same_options(rd: RegressionDiscontinuity) -> None:
    cli = {p.name: p for p in rd_command.params if isinstance(p, click.Option) and p.name in NAMES}
    assert sorted(cli) == sorted(NAMES)
    assert sorted(RDEstimationSpec.model_fields) == sorted(NAMES)
    res = rd.fit(h=0.4)
    assert set(NAMES) <= set(res.options)
    for o in declared(RDOptions):
        assert cli[o.name].help == o.help  # the help text is the declaration's
        spec_default = RDEstimationSpec.model_fields[o.name].default
        assert spec_default == o.default and (o.parse is not None or cli[o.name].default == o.default)
        assert res.options[o.name] == RDOptions(h=0.4).to_dict()[o.name]


def test_every_option_reaches_the_estimate_from_each_interface(rd: RegressionDiscontinuity, tmp_path: Path) -> None:
    chosen = {"p": 2, "kernel": "uniform", "h": (0.5, 0.6), "level": 0.9, "nnmatch": 4, "stdvars": False}
    python = rd.fit(**chosen)
    spec = RDEstimationSpec.model_validate({**chosen, "h": [0.5, 0.6]}).to_options()
    assert spec == RDOptions(**chosen)
    from_spec = rd.fit(spec)
    assert python.estimates == from_spec.estimates
    data = tmp_path / "d.csv"
    _frame().to_csv(data, index=False)
    out = tmp_path / "cli.json"
    assert main(["rd", str(data), "--outcome", "y", "--running", "score", "--cutoff", "0", "--p", "2", "--kernel",
                 "uniform", "--h", "0.5,0.6", "--level", "0.9", "--nnmatch", "4", "--no-stdvars", "--output",
                 str(out), "--min-cell", "10"]) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert {k: record["options"][k] for k in ("p", "kernel", "h", "level", "nnmatch", "stdvars")} == {
        "p": 2, "kernel": "uniform", "h": [0.5, 0.6], "level": 0.9, "nnmatch": 4, "stdvars": False}
    assert record["estimates"][0]["estimate"] == pytest.approx(python.estimates[0].estimate, rel=1e-12)


def test_one_rule_set_the_spec_no_longer_narrows_the_polynomial_order() -> None:
    assert RDEstimationSpec.model_validate({"p": 6}).to_options().p == 6  # was refused above 4 by the spec only
    with pytest.raises(SpecificationError, match=r"p \(polynomial order\) must be an integer from 0 to 8"):
        validate(RDEstimationSpec, {"p": 9}, source="spec.toml")
    with pytest.raises(OptionError, match=r"p \(polynomial order\) must be an integer from 0 to 8"):
        RDOptions(p=9)


def test_an_unknown_option_gets_the_same_message_everywhere(rd: RegressionDiscontinuity, capsys) -> None:
    with pytest.raises(OptionError) as python:
        rd.fit(kernal="uniform")
    with pytest.raises(SpecificationError) as toml:
        validate(RDEstimationSpec, {"kernal": "uniform"}, source="spec.toml")
    assert main(["rd", "x.csv", "--kernal", "uniform"]) == 2
    cli = capsys.readouterr().err
    assert str(python.value) == unknown_option_message("kernal", NAMES, where="RegressionDiscontinuity.fit()")
    assert str(python.value) == "unknown option 'kernal' for RegressionDiscontinuity.fit(); did you mean 'kernel'?"
    assert "unknown option 'kernal' for the specification; did you mean 'kernel'?" in str(toml.value)
    assert "unknown option '--kernal' for cteimpact rd; did you mean '--kernel'?" in cli
    assert "Traceback" not in cli and cli.count("\n") == 1


def test_an_option_of_the_other_design_says_so(rd: RegressionDiscontinuity, capsys) -> None:
    with pytest.raises(OptionError, match=r"'control' is not valid for RegressionDiscontinuity.fit\(\): it belongs to "
                                          r"the difference-in-differences estimator"):
        rd.fit(control="notyet")
    assert main(["rd", "x.csv", "--control", "notyet"]) == 2
    assert "option '--control' is not valid for cteimpact rd: it belongs to 'cteimpact did'" in capsys.readouterr().err
    assert main(["did", "x.csv", "--kernel", "uniform"]) == 2
    assert "option '--kernel' is not valid for cteimpact did: it belongs to 'cteimpact rd'" in capsys.readouterr().err


def test_the_readme_table_is_the_generated_one() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = options_table(RDOptions, section="design.estimation")
    assert table in readme, "regenerate the README's RD estimation options table from RDOptions"
    assert len(re.findall(r"^\| `[a-z_]+` \| `design\.estimation\.", readme, flags=re.MULTILINE)) == len(NAMES)


# -- DiD inference options ---------------------------------------------------------------------------------------

def test_did_inference_options_are_declared_once() -> None:
    from cteimpact.cli.did import command as did_command
    from cteimpact.did.options import DiDInference
    from cteimpact.pipeline.spec import DID_PIPELINE_SET, DiDInferenceSpec

    names = [o.name for o in declared(DiDInference)]
    cli = {p.name: p for p in did_command.params if isinstance(p, click.Option) and p.name in names}
    # the command line sets every option but the wild bootstrap's labels (it covers every aggregate there); a
    # specification sets every option but the seed (derived from the study's) and the labels (those pricing uses)
    assert sorted(cli) == sorted(set(names) - {"wild_labels"})
    assert sorted(DiDInferenceSpec.model_fields) == sorted(set(names) - set(DID_PIPELINE_SET))
    for o in declared(DiDInference):
        if o.name in cli:
            assert cli[o.name].help == o.help and cli[o.name].default == o.default
        if o.name in DiDInferenceSpec.model_fields:
            assert DiDInferenceSpec.model_fields[o.name].default == o.default
    with pytest.raises(SpecificationError, match=r"level must be a number strictly between 0 and 1 \(such as 0.9\), "
                                                 r"got 1.5"):
        validate(DiDInferenceSpec, {"level": 1.5}, source="spec.toml")
    with pytest.raises(SpecificationError, match="unknown option 'boostrap' for the specification; did you mean "
                                                 "'bootstrap'"):
        validate(DiDInferenceSpec, {"boostrap": 999}, source="spec.toml")


def test_did_fit_takes_the_declared_options_and_names_an_unknown_one() -> None:
    from cteimpact.did import CallawaySantAnna
    from cteimpact.did.options import DiDInference

    rng = np.random.default_rng(3)
    units, periods = 60, 5
    g = np.repeat(rng.choice([0, 3, 4], size=units), periods)
    t = np.tile(np.arange(1, periods + 1), units)
    y = rng.normal(size=units * periods) + 1.0 * ((g > 0) & (t >= g))
    panel = pd.DataFrame({"id": np.repeat(np.arange(units), periods), "t": t, "g": g, "y": y})
    cs = CallawaySantAnna(panel, outcome="y", unit="id", time="t", cohort="g")
    by_keyword = cs.fit(level=0.90, bootstrap=199, seed=5)
    by_object = cs.fit(DiDInference(level=0.90, bootstrap=199, seed=5))
    assert by_keyword.estimates == by_object.estimates
    assert by_keyword.options["level"] == 0.90 and by_keyword.options["seed"] == 5
    assert cs.fit(bootstrap=199).estimates == cs.fit(bootstrap=199).estimates  # the declared default seed
    with pytest.raises(OptionError, match=r"unknown option 'bootsrap' for CallawaySantAnna.fit\(\); did you mean "
                                          r"'bootstrap'\?"):
        cs.fit(bootsrap=199)
    with pytest.raises(OptionError, match=r"'kernel' is not valid for CallawaySantAnna.fit\(\): it belongs to the "
                                          r"regression discontinuity estimator"):
        cs.fit(kernel="uniform")


def test_the_readme_holds_the_generated_did_table() -> None:
    from cteimpact.did.options import DiDInference

    table = options_table(DiDInference, section="design.inference")
    assert table in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_did_specification_says_cohort_as_python_and_the_command_line_do() -> None:
    from cteimpact.pipeline.spec import DiDDesignSpec

    spec = validate(DiDDesignSpec, {"type": "did", "outcome": "y", "time": "t", "unit": "id", "cohort": "first"},
                    source="spec.toml")
    assert spec.cohort == "first" and "first" in spec.columns_used()
    with pytest.raises(SpecificationError, match=r"'group' is called 'cohort' .* write cohort = \"...\" in \[design\]"):
        validate(DiDDesignSpec, {"type": "did", "outcome": "y", "time": "t", "unit": "id", "group": "first"},
                 source="spec.toml")


# -- RD diagnostics and local randomisation ----------------------------------------------------------------------

@pytest.mark.parametrize(("module", "name", "section", "pipeline_set"), [
    ("cteimpact.rd.diagnostics", "DiagnosticOptions", "RDDiagnosticsSpec", ()),
    ("cteimpact.rd.estimator", "LocalRandomizationOptions", "LocalRandomizationSpec", ("seed",)),
])
def test_rd_check_and_randomisation_options_are_declared_once(module: str, name: str, section: str,
                                                              pipeline_set: tuple[str, ...]) -> None:
    import importlib

    from cteimpact.pipeline import spec as spec_module

    cls = getattr(importlib.import_module(module), name)
    model = getattr(spec_module, section)
    names = [o.name for o in declared(cls)]
    cli = {p.name: p for p in rd_command.params if isinstance(p, click.Option) and p.name in names}
    assert sorted(cli) == sorted(names)
    # the specification sets every option (and whether the analysis runs), but the seed it derives itself
    assert sorted(model.model_fields) == sorted({*names, "enabled"} - set(pipeline_set))
    for o in declared(cls):
        assert cli[o.name].help == o.help
        if o.name in model.model_fields:
            default = model.model_fields[o.name].default
            assert (tuple(default) if isinstance(default, list) else default) == o.default


def test_the_three_diagnostic_options_the_spec_could_not_set_now_reach_the_checks() -> None:
    from cteimpact.pipeline.spec import RDDiagnosticsSpec

    section = validate(RDDiagnosticsSpec, {"checks": ["density_test", "placebo_cutoffs"], "density_p": 3,
                                           "balance_bandwidth": "own"}, source="spec.toml")
    options = section.to_options()
    assert options.selected == ("density_test", "placebo_cutoffs") and options.density_p == 3
    assert options.balance_bandwidth == "own"
    with pytest.raises(SpecificationError, match="unknown diagnostic check"):
        validate(RDDiagnosticsSpec, {"checks": ["densty_test"]}, source="spec.toml")


def test_the_readme_holds_the_generated_rd_check_tables() -> None:
    from cteimpact.rd.diagnostics import DiagnosticOptions
    from cteimpact.rd.estimator import LocalRandomizationOptions

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert options_table(DiagnosticOptions, section="design.diagnostics") in readme
    assert options_table(LocalRandomizationOptions, section="design.local_randomization") in readme

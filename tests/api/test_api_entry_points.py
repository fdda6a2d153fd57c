"""cteimpact.rd / did / price build the estimators, pass each option where it belongs, and refuse unknown ones."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import cteimpact
from cteimpact.did import CallawaySantAnna, simulate_staggered
from cteimpact.errors import MissingColumnError, OptionError
from cteimpact.rd import RegressionDiscontinuity


@pytest.fixture(scope="module")
def students() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    x = rng.uniform(-1, 1, 1_500)
    return pd.DataFrame({"score": x, "y": 0.4 * x + 0.3 * (x >= 0) + rng.normal(0, 0.3, 1_500),
                         "z": rng.normal(0, 1, 1_500)})


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, _ = simulate_staggered(n_clusters=20, units_per_cluster=4, seed=4)
    return data


def test_rd_equals_the_estimator_with_options_split_between_constructor_and_fit(students):
    res = cteimpact.rd(students, outcome=["y", "z"], score="score", cutoff=0.0, covariates=[], kernel="uniform",
                       p=2, level=0.9)
    ref = RegressionDiscontinuity(students, ["y", "z"], "score", 0.0).fit(kernel="uniform", p=2, level=0.9)
    pd.testing.assert_frame_equal(res.tidy(), ref.tidy())
    assert res.options["kernel"] == "uniform" and res.options["p"] == 2
    assert res.estimate("y").ci_level == 0.9


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_did_equals_the_estimator(panel):
    res = cteimpact.did(panel, outcome="y", time="time", unit="unit", cohort="cohort", cluster="cluster",
                        control="notyet", anticipation=1, trim_level=0.99, max_e=2, level=0.9)
    ref = CallawaySantAnna(panel, outcome="y", time="time", unit="unit", cohort="cohort", cluster="cluster",
                           control="notyet", anticipation=1, trim_level=0.99).fit(max_e=2, level=0.9)
    pd.testing.assert_frame_equal(res.tidy(), ref.tidy())
    assert res.options["control"] == "notyet" and res.options["anticipation"] == 1
    assert res.options["trim_level"] == 0.99 and res.options["level"] == 0.9
    assert res.estimate("y").ci_level == 0.9


def test_entry_points_keep_the_subpackages_reachable():
    assert callable(cteimpact.rd) and callable(cteimpact.did)
    assert cteimpact.rd.RegressionDiscontinuity is RegressionDiscontinuity
    assert cteimpact.did.CallawaySantAnna is CallawaySantAnna
    import cteimpact.rd.estimator as est  # importing the subpackage does not replace the entry point

    assert est.RegressionDiscontinuity is RegressionDiscontinuity
    assert callable(cteimpact.rd) and "score" in (cteimpact.rd.__doc__ or "")
    # module attributes come from the package
    assert cteimpact.did.__file__ == est.__file__.replace("rd/estimator.py", "did/__init__.py")
    assert list(cteimpact.rd.__path__) == list(sys.modules["cteimpact.rd"].__path__)
    with pytest.raises(AttributeError):
        cteimpact.rd.no_such_thing  # noqa: B018


@pytest.mark.parametrize(("options", "message"), [
    ({"kernal": "uniform"}, "unknown option 'kernal' for cteimpact.rd(); did you mean 'kernel'?"),
    ({"running": "score"}, "unknown option 'running' for cteimpact.rd(): it is called 'score' here"),
    ({"alpha": 0.1}, "'alpha' is not an option of cteimpact.rd(): the confidence level is 'level' = 1 - alpha "
                     "(for alpha = 0.05, level = 0.95)"),
    ({"control": "notyet"}, "option 'control' belongs to cteimpact.did(), not cteimpact.rd()"),
    ({"qqq": 1}, "unknown option 'qqq' for cteimpact.rd(); valid options: assignment_unit, b,"),
])
def test_rd_refuses_unknown_options(students, options, message):
    with pytest.raises(OptionError) as info:
        cteimpact.rd(students, outcome="y", score="score", cutoff=0.0, **options)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(("options", "message"), [
    ({"bootstrp": 99}, "unknown option 'bootstrp' for cteimpact.did(); did you mean 'bootstrap'?"),
    ({"group": "cohort"}, "unknown option 'group' for cteimpact.did(): it is called 'cohort' here"),
    ({"alpha": 0.1}, "'alpha' is not an option of cteimpact.did(): the confidence level is 'level' = 1 - alpha "
                     "(for alpha = 0.05, level = 0.95)"),
    ({"trim_levl": 0.9}, "unknown option 'trim_levl' for cteimpact.did(); did you mean 'trim_level'?"),
    ({"bwselect": "cerrd"}, "option 'bwselect' belongs to cteimpact.rd(), not cteimpact.did()"),
])
def test_did_refuses_unknown_options(panel, options, message):
    with pytest.raises(OptionError) as info:
        cteimpact.did(panel, outcome="y", time="time", unit="unit", cohort="cohort", **options)
    assert str(info.value).startswith(message)


def test_estimator_errors_pass_through(students):
    with pytest.raises(MissingColumnError, match="'nope'"):
        cteimpact.rd(students, outcome="y", score="nope", cutoff=0.0)


def test_price_on_a_result_equals_price_contract():
    from cteimpact.pricing import example_contract, price_contract

    est = cteimpact.ExternalEstimate(label="dropout", effect=-0.03, std_error=0.01)
    got = cteimpact.price(est, "schedule_rikers", draws=5_000, seed=3)
    ref = price_contract(example_contract("schedule_rikers"), est, draws=5_000, seed=3)
    pd.testing.assert_frame_equal(got.tidy(), ref.tidy())
    got_path = cteimpact.price(est, example_contract("schedule_rikers"), draws=5_000, seed=3)
    pd.testing.assert_frame_equal(got_path.tidy(), ref.tidy())


def test_price_refuses_unknown_options_and_contracts():
    est = cteimpact.ExternalEstimate(label="dropout", effect=-0.03, std_error=0.01)
    with pytest.raises(OptionError, match=r"^unknown option 'n_draws' for cteimpact.price\(\): it is called 'draws'"):
        cteimpact.price(est, "schedule_rikers", n_draws=5_000)
    with pytest.raises(OptionError, match=r"^option 'kernel' belongs to cteimpact.rd\(\)"):
        cteimpact.price(est, "schedule_rikers", kernel="uniform")
    with pytest.raises(OptionError, match=r"contract 'rikers' is neither a file nor a shipped example; examples: "
                                          r".*schedule_rikers"):
        cteimpact.price(est, "rikers")

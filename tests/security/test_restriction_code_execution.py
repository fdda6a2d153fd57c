"""Sample restrictions cannot run code or read files, whichever way they arrive.

Restrictions used to go through ``DataFrame.eval(engine="python")``, whose ``@name`` lookup reaches ``pd`` and
``np``: ``--where "cohort > @pd.io.common.os.system('id')"`` ran a shell command. Each hostile expression below
must now be refused with a one-line error naming the offending token and its position, through the Python API,
``cteimpact rd``, ``cteimpact did``, ``cteimpact run`` and ``cteimpact verify``, and a side-effect canary (a file
the expression would create) proves that nothing ran.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main
from cteimpact.data import SampleFlow, apply_restrictions, evaluate_restriction
from cteimpact.data.restriction_language import MAX_DEPTH, MAX_LENGTH
from cteimpact.errors import OptionError, RestrictionSyntaxError

REPO = Path(__file__).resolve().parents[2]


def hostile(canary: Path) -> list[tuple[str, str, int]]:
    """``(expression, offending token, its position)``; the first ones would create ``canary`` if evaluated."""
    c = canary.as_posix()
    return [
        (f"cohort > @pd.io.common.os.system('touch {c}')", "@", 9),
        (f"@pd.io.common.os.system('touch {c}')", "@", 0),
        (f"__import__('os').system('touch {c}')", "(", 10),
        (f"__import__('pathlib').Path('{c}').touch()", "(", 10),
        (f"cohort > 0 or open('{c}', 'w')", "(", 18),
        ("cohort == cohort and `cohort`.__class__.__base__.__subclasses__()", ".", 29),
        ("cohort > @pd.io.common.os.system('id')", "@", 9),
        ("@pd.read_csv('/etc/passwd')", "@", 0),
        ("__import__('os').system('id')", "(", 10),
        ("cohort.__class__", ".", 6),
        ("(lambda: 1)()", "lambda", 1),
        ("cohort[0]", "[", 6),
        ("open('x')", "(", 4),
        ("x := 1", ":=", 2),
        ("@np.ones(1)", "@", 0),
        ("f'{cohort}'", "f'", 0),
        ("cohort > 1 if True else 0", "if", 11),
        ("[c for c in cohort]", "[", 0),
        ("cohort ** 2 > 1", "**", 7),
        ("cohort = 2014", "=", 7),
        ("cohort > 1; import os", ";", 10),
        ("cohort > {1: 2}", "{", 9),
        ("cohort > None", "None", 9),
        ("(" * (MAX_DEPTH + 1) + "cohort > 1" + ")" * (MAX_DEPTH + 1), "(", MAX_DEPTH),
        ("not " * (MAX_DEPTH + 1) + "cohort > 1", "not", 4 * MAX_DEPTH),
    ]


def _cases(tmp: Path) -> list[tuple[str, str, int]]:
    return hostile(tmp / "pwned")


CASE_IDS = [f"case{i}" for i in range(len(hostile(Path("/x"))))]


def _check_message(message: str, token: str, position: int) -> None:
    assert f"'{token}' at position {position} " in message, message
    assert "\n" not in message
    assert "Traceback" not in message


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"cohort": [2013, 2014, 2015, 2016], "x": [1.0, 2.0, np.nan, 4.0]})


# -- the canary is live: pandas eval, as used before, does run the expression ----------------------------------------


def test_the_canary_detects_code_execution_under_pandas_eval(tmp_path: Path, frame: pd.DataFrame) -> None:
    canary = tmp_path / "pwned"
    expr = hostile(canary)[0][0]
    frame.eval(expr, engine="python")  # what cteimpact did before: the shell command runs
    assert canary.exists()


# -- Python API ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_python_api_refuses_hostile_expressions(tmp_path: Path, frame: pd.DataFrame, index: int) -> None:
    expr, token, position = _cases(tmp_path)[index]
    before = frame.copy()
    with pytest.raises(RestrictionSyntaxError) as info:
        evaluate_restriction(frame, expr)
    _check_message(str(info.value), token, position)
    assert info.value.token == token and info.value.position == position
    with pytest.raises(RestrictionSyntaxError):
        apply_restrictions(frame, SampleFlow("t", len(frame)), ["cohort >= 2014", expr])
    assert not (tmp_path / "pwned").exists()
    pd.testing.assert_frame_equal(frame, before)


def test_every_restriction_is_parsed_before_any_is_evaluated(tmp_path: Path, frame: pd.DataFrame) -> None:
    # evaluating the first would fail on its unknown column; the hostile second one is refused before that
    with pytest.raises(RestrictionSyntaxError, match="'@' at position 9"):
        apply_restrictions(frame, SampleFlow("t", len(frame)), ["nope >= 2014", hostile(tmp_path / "pwned")[0][0]])
    assert not (tmp_path / "pwned").exists()


def test_huge_expressions_are_refused_by_length(tmp_path: Path, frame: pd.DataFrame) -> None:
    canary = (tmp_path / "pwned").as_posix()
    expr = "cohort > 0 and " * 7000 + f"@pd.io.common.os.system('touch {canary}')"  # ~100 kB
    assert len(expr) > 100_000
    with pytest.raises(RestrictionSyntaxError) as info:
        evaluate_restriction(frame, expr)
    msg = str(info.value)
    assert f"the restriction is {len(expr):,} characters long, more than the {MAX_LENGTH:,} allowed" in msg
    assert len(msg) < 400 and "\n" not in msg  # the expression is shortened in the message
    assert not (tmp_path / "pwned").exists()


def test_ten_thousand_nested_parentheses_give_a_clear_error_not_recursion_error(frame: pd.DataFrame) -> None:
    deep = "(" * 10_000 + "cohort > 1" + ")" * 10_000
    with pytest.raises(RestrictionSyntaxError, match="characters long"):
        evaluate_restriction(frame, deep)
    # within the length limit, the nesting limit answers, naming the first '(' too deep
    deep = "(" * 4_000 + "cohort > 1" + ")" * 4_000
    with pytest.raises(RestrictionSyntaxError) as info:
        evaluate_restriction(frame, deep)
    _check_message(str(info.value), "(", MAX_DEPTH)
    assert f"nests more than {MAX_DEPTH} levels deep" in str(info.value)
    # long operator chains build deep trees without parentheses
    chain = " + ".join(["cohort"] * 500) + " > 0"
    with pytest.raises(RestrictionSyntaxError, match=f"nests more than {MAX_DEPTH} levels deep"):
        evaluate_restriction(frame, chain)
    flat = " or ".join(f"cohort == {1000 + i}" for i in range(300))  # and/or chains are flat: fine
    assert evaluate_restriction(frame, flat).tolist() == [False, False, False, False]


def test_a_column_named_like_python_is_only_ever_a_column(tmp_path: Path) -> None:
    canary = (tmp_path / "pwned").as_posix()
    name = f"__import__('os').system('touch {canary}')"
    frame = pd.DataFrame({name: [1, 2, 3], "pd": [0, 1, 0]})
    assert evaluate_restriction(frame, f"`{name}` >= 2").tolist() == [False, True, True]
    assert evaluate_restriction(frame, "pd == 1").tolist() == [False, True, False]  # 'pd' is a column here
    assert not (tmp_path / "pwned").exists()


def test_text_values_are_never_evaluated(tmp_path: Path) -> None:
    canary = (tmp_path / "pwned").as_posix()
    payload = f"__import__('os').system('touch {canary}')"
    frame = pd.DataFrame({"s": [payload, "a", None]})
    assert evaluate_restriction(frame, f"s == \"{payload}\"").tolist() == [True, False, False]
    assert evaluate_restriction(frame, f"s in [\"{payload}\", 'b']").tolist() == [True, False, False]
    assert not (tmp_path / "pwned").exists()


def test_estimators_refuse_hostile_where(tmp_path: Path) -> None:
    from cteimpact.did import CallawaySantAnna, simulate_staggered
    from cteimpact.rd import RegressionDiscontinuity

    canary = tmp_path / "pwned"
    expr, token, position = hostile(canary)[0]
    rng = np.random.default_rng(0)
    rd_data = pd.DataFrame({"x": rng.uniform(-1, 1, 400), "y": rng.normal(size=400),
                            "cohort": rng.integers(2012, 2016, 400)})
    with pytest.raises(RestrictionSyntaxError) as info:
        RegressionDiscontinuity(rd_data, "y", "x", 0.0, where=[expr])
    _check_message(str(info.value), token, position)
    panel, _ = simulate_staggered(seed=1, n_clusters=12, n_never_clusters=4, units_per_cluster=2,
                                  periods=range(2010, 2016))
    with pytest.raises(RestrictionSyntaxError) as info:
        CallawaySantAnna(panel, outcome="y", time="time", unit="unit", cohort="cohort", where=[expr])
    _check_message(str(info.value), token, position)
    with pytest.raises(OptionError, match="single string"):
        CallawaySantAnna(panel, outcome="y", time="time", unit="unit", cohort="cohort", where="time > 2010")
    assert not canary.exists()


# -- command line ----------------------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _assert_refused(code: int, err: str, token: str, position: int) -> None:
    assert code == 2, err
    assert err.startswith("cteimpact: error: sample restriction ") or \
        re.match(r"cteimpact: error: analysis specification '[^']+': sample\.restrictions\[\d\]: ", err), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert f"'{token}' at position {position} " in err


@pytest.fixture(scope="module")
def rd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    n = 600
    x = rng.uniform(-1, 1, n)
    d = pd.DataFrame({"x": x, "y": 0.5 * (x >= 0) + rng.normal(scale=0.3, size=n),
                      "cohort": rng.integers(2012, 2017, n)})
    path = tmp_path_factory.mktemp("rd") / "rd.csv"
    d.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def did_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cteimpact.did import simulate_staggered

    df, _ = simulate_staggered(seed=1, n_clusters=12, n_never_clusters=4, units_per_cluster=2,
                               periods=range(2010, 2016))
    path = tmp_path_factory.mktemp("did") / "panel.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_cli_rd_refuses_hostile_where(tmp_path: Path, capsys: pytest.CaptureFixture[str], rd_file: Path,
                                      index: int) -> None:
    expr, token, position = _cases(tmp_path)[index]
    out = tmp_path / "out.json"
    code, stdout, err = _cli(capsys, ["rd", rd_file, "--outcome", "y", "--running", "x", "--cutoff", "0",
                                      "--where", "cohort >= 2013", "--where", expr, "--json", "--output", out])
    _assert_refused(code, err, token, position)
    assert stdout == ""
    assert not out.exists()
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_cli_did_refuses_hostile_where(tmp_path: Path, capsys: pytest.CaptureFixture[str], did_file: Path,
                                       index: int) -> None:
    expr, token, position = _cases(tmp_path)[index]
    out = tmp_path / "out.json"
    code, stdout, err = _cli(capsys, ["did", did_file, "--outcome", "y", "--unit", "unit", "--time", "time",
                                      "--cohort", "cohort", "--where", expr, "--no-twfe", "--json", "--output", out])
    _assert_refused(code, err, token, position)
    assert stdout == ""
    assert not out.exists()
    assert not (tmp_path / "pwned").exists()


def test_cli_where_still_works(capsys: pytest.CaptureFixture[str], rd_file: Path, did_file: Path) -> None:
    code, out, err = _cli(capsys, ["rd", rd_file, "--outcome", "y", "--running", "x", "--cutoff", "0",
                                   "--where", "cohort >= 2013 and cohort in [2013, 2014, 2015]", "--json"])
    assert code == 0, err
    steps = json.loads(out)["sample_flow"]["steps"]
    expected = int((~pd.read_csv(rd_file)["cohort"].isin([2013, 2014, 2015])).sum())
    assert steps[0]["reason"] == "restriction: cohort >= 2013 and cohort in [2013, 2014, 2015]"
    assert steps[0]["excluded"] == expected > 0
    code, out, err = _cli(capsys, ["did", did_file, "--outcome", "y", "--unit", "unit", "--time", "time",
                                   "--cohort", "cohort", "--where", "time >= 2011", "--no-twfe", "--json"])
    assert code == 0, err
    steps = json.loads(out)["sample_flow"]["steps"]
    assert steps[0]["reason"] == "restriction: time >= 2011"
    assert steps[0]["excluded"] == int((pd.read_csv(did_file)["time"] < 2011).sum()) > 0


def test_cli_unknown_column_and_type_errors_are_one_line(capsys: pytest.CaptureFixture[str], rd_file: Path) -> None:
    base = ["rd", rd_file, "--outcome", "y", "--running", "x", "--cutoff", "0", "--json"]
    code, _, err = _cli(capsys, [*base, "--where", "cohrt >= 2014"])
    assert code == 2 and err.count("\n") == 1
    assert "column 'cohrt' at position 0 is not in the data; did you mean 'cohort'?" in err
    code, _, err = _cli(capsys, [*base, "--where", "cohort == '2014'"])
    assert code == 2 and err.count("\n") == 1
    assert "'==' at position 7 compares column 'cohort' (int64) with the text '2014'" in err


# -- analysis specifications: cteimpact run and cteimpact verify ------------------------------------------------------


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cteimpact.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, seed=3, scale=0.02)
    return out


def _spec(tmp_path: Path, restrictions: list[str]) -> Path:
    """analyses/ccpt-dropout-rd.toml with other restrictions (written as TOML literal strings)."""
    text = (REPO / "analyses" / "ccpt-dropout-rd.toml").read_text(encoding="utf-8")
    listed = ", ".join(json.dumps(r) for r in restrictions)
    text, n = re.subn(r"(?m)^restrictions = \[.*\]$", f"restrictions = [{listed}]", text)
    assert n == 1
    (tmp_path / "contracts").mkdir(exist_ok=True)
    for f in (REPO / "analyses" / "contracts").iterdir():
        (tmp_path / "contracts" / f.name).write_bytes(f.read_bytes())
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("index", [0, 1, 2, 4, 5, 10, 15, 23], ids=[CASE_IDS[i] for i in (0, 1, 2, 4, 5, 10, 15, 23)])
def test_run_refuses_a_hostile_spec_restriction(tmp_path: Path, capsys: pytest.CaptureFixture[str], synth_dir: Path,
                                                index: int) -> None:
    expr, token, position = _cases(tmp_path)[index]
    spec = _spec(tmp_path, ["cohort >= award_year", expr])
    out = tmp_path / "run"
    code, stdout, err = _cli(capsys, ["run", spec, "--data-root", synth_dir, "--out", out, "--quiet"])
    _assert_refused(code, err, token, position)
    assert stdout == ""
    assert "sample.restrictions[1]" in err
    assert not out.exists()
    assert not (tmp_path / "pwned").exists()


def test_run_refuses_a_restriction_the_data_cannot_meet_before_writing(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       synth_dir: Path) -> None:
    spec = _spec(tmp_path, ["cohort >= award_year", "cohort >= awrd_year"])
    out = tmp_path / "run"
    code, _, err = _cli(capsys, ["run", spec, "--data-root", synth_dir, "--out", out, "--quiet"])
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "column 'awrd_year' at position 10 is not in the data; did you mean 'award_year'?" in err
    assert not out.exists()


def test_verify_refuses_a_hostile_restriction_in_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            synth_dir: Path) -> None:
    """A tampered run directory: the specification file its manifest points to carries a hostile restriction (verify
    re-runs from that file), and the copy embedded in the manifest carries another (verify never runs it)."""
    import tomllib

    from cteimpact.pipeline.run import MANIFEST_SCHEMA, RUN_SCHEMA

    expr, token, position = hostile(tmp_path / "pwned")[0]
    text = (REPO / "analyses" / "ccpt-dropout-rd.toml").read_text(encoding="utf-8")
    shipped = '["cohort >= award_year", "cohort <= award_year + 3"]'
    assert shipped in text
    (tmp_path / "spec.toml").write_text(text.replace(shipped, f"[{json.dumps(expr)}]"), encoding="utf-8")
    embedded = tomllib.loads(text)
    embedded["sample"]["restrictions"] = [hostile(tmp_path / "pwned-embedded")[0][0]]
    data = synth_dir / "students.parquet"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    manifest = {"schema": MANIFEST_SCHEMA, "specification": embedded, "outputs": [],
                "inputs": [{"role": "data", "path": data.as_posix(), "sha256": "0" * 64},
                           {"role": "specification", "path": "../spec.toml", "sha256": "0" * 64}]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (run_dir / "results.json").write_text(json.dumps({"schema": RUN_SCHEMA}), encoding="utf-8")
    code, _, err = _cli(capsys, ["verify", run_dir, "--quiet"])
    _assert_refused(code, err, token, position)
    assert sorted(p.name for p in run_dir.iterdir()) == ["manifest.json", "results.json"]  # no certificate
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned-embedded").exists()

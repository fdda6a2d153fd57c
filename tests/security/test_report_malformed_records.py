"""A run directory whose records hold values of types a run never writes: the report says so in one line (exit 2),
never an internal error, and writes nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cteimpact.cli.app import main

pytestmark = pytest.mark.slow  # end to end: every test uses a whole verified study run


def _set_study(results: dict[str, Any]) -> None:
    results["study"] = "a text where an object belongs"


def _set_estimates(results: dict[str, Any]) -> None:
    results["design"]["estimates"] = [{"label": ["not", "a", "label"], "estimate": "high"}]


def _set_pricing(results: dict[str, Any]) -> None:
    results["pricing"] = {"payments": 3}


def _set_flow(results: dict[str, Any]) -> None:
    results["sample_flow"] = {"steps": "none"}


@pytest.mark.parametrize("edit", [_set_study, _set_estimates, _set_pricing, _set_flow],
                         ids=["study", "estimates", "pricing", "sample_flow"])
def test_malformed_records_exit_2(verified_run: Path, tmp_path: Path, capsys,
                                  edit: Callable[[dict[str, Any]], None]) -> None:
    run = tmp_path / "run"
    shutil.copytree(verified_run, run)
    shutil.rmtree(run / "report", ignore_errors=True)
    path = run / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    edit(results)
    path.write_text(json.dumps(results), encoding="utf-8")
    code = main(["report", str(run), "--engine", "fallback", "--to", "html"])
    err = [line for line in capsys.readouterr().err.splitlines() if " warning: " not in line]
    assert code in (0, 2), err  # shown as text, or refused: never an internal error
    if edit is _set_study:
        assert code == 2  # this one crashed with an AttributeError (exit 1) before
    if code == 2:
        assert len(err) == 1 and "internal error" not in err[0], err
        assert not (run / "report" / "impact-report.html").exists()
        assert str(run) in err[0]  # names the run directory it refuses

"""Files named on the command line (--output, --plot, --certificate) are checked before any computation: a missing
or read-only folder is one line and exit code 2, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cteimpact.cli.app import main


@pytest.fixture
def rd_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 400)
    frame = pd.DataFrame({"x": x, "y": 0.5 * (x >= 0) + x + rng.normal(0, 0.3, 400)})
    path = tmp_path / "rd.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def did_csv(tmp_path: Path) -> Path:
    rows = [{"id": i, "year": t, "g": (2004 if i < 20 else 0), "y": float(i + t)} for i in range(40)
            for t in range(2002, 2006)]
    path = tmp_path / "did.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if " warning: " not in line]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("option", ["--output", "--plot"])
def test_rd_output_in_a_missing_folder(rd_csv: Path, tmp_path: Path, capsys, option: str) -> None:
    target = tmp_path / "no-such-folder" / ("out.json" if option == "--output" else "plot.png")
    code = main(["rd", str(rd_csv), "--outcome", "y", "--running", "x", "--cutoff", "0", option, str(target)])
    assert code == 2
    line = _error(capsys)
    assert f"{option} '{target}'" in line and "does not exist" in line
    assert not target.parent.exists()


@pytest.mark.parametrize("option", ["--output", "--plot"])
def test_did_output_in_a_missing_folder(did_csv: Path, tmp_path: Path, capsys, option: str) -> None:
    target = tmp_path / "missing" / ("out.json" if option == "--output" else "plot.png")
    code = main(["did", str(did_csv), "--outcome", "y", "--unit", "id", "--time", "year", "--cohort", "g",
                 option, str(target)])
    assert code == 2
    assert "does not exist" in _error(capsys)
    assert not target.parent.exists()


def test_an_output_that_is_a_folder(rd_csv: Path, tmp_path: Path, capsys) -> None:
    code = main(["rd", str(rd_csv), "--outcome", "y", "--running", "x", "--cutoff", "0", "--output", str(tmp_path)])
    assert code == 2
    assert "is a directory" in _error(capsys)  # click checks this one itself


def test_the_output_is_written_when_the_folder_exists(rd_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert main(["rd", str(rd_csv), "--outcome", "y", "--running", "x", "--cutoff", "0", "--output", str(target),
                 "--json"]) == 0
    assert target.stat().st_size > 0

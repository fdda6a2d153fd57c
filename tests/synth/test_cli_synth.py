"""``cteimpact synth`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from cteimpact.cli.app import main


def test_synth_writes_files_and_truth(tmp_path: Path, capsys) -> None:
    assert main(["synth", "--out", str(tmp_path), "--seed", "7", "--scale", "0.01"]) == 0
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["generator"]["seed"] == 7
    assert "dropout" in truth["rd"]["estimands"] and "earnings_age19" in truth["did"]["outcomes"]
    assert "wrote" in capsys.readouterr().out


def test_synth_bad_scale_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["synth", "--out", str(tmp_path), "--scale", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--scale" in err[0]

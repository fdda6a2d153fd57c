"""`cteimpact demo` end to end (small scale, HTML only): the folder it writes can be handed on whole — every path a
run records stays inside it, and a copy moved elsewhere verifies — its certificates name who verified, its console
writes the headline as the reports do, and its index links the reports."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from cteimpact.cli.app import main
from cteimpact.reporting.numbers import FORMATTERS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CTEIMPACT_VALIDATOR", raising=False)
        mp.delenv("CTEIMPACT_VALIDATOR_ORGANISATION", raising=False)
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(["demo", "--out", str(out), "--scale", "0.05", "--to", "html", "--quiet"]) == 0
    return out, buffer.getvalue()


def _recorded_paths(value: object) -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in ([v] if k == "path" and isinstance(v, str) else
                                                      _recorded_paths(v))]
    if isinstance(value, list):
        return [p for v in value for p in _recorded_paths(v)]
    return []


def test_every_recorded_path_stays_inside_the_demo_folder(demo: tuple[Path, str]) -> None:
    out, _ = demo
    assert (out / "analyses" / "ccpt-dropout-rd.toml").is_file()
    assert (out / "analyses" / "contracts" / "ccpt-dropout-rate-card.toml").is_file()
    for study in ("ccpt-dropout-rd", "pathways-earnings-did"):
        run = out / "runs" / study
        for name in ("manifest.json", "certificate.json"):
            text = (run / name).read_text(encoding="utf-8")
            assert str(out.parent) not in text and "/work/" not in text, name
            paths = _recorded_paths(json.loads(text))
            assert paths, name
            for p in paths:
                assert not Path(p).is_absolute(), (name, p)
                assert (run / p).resolve().is_relative_to(out.resolve()), (name, p)


def test_a_copy_moved_elsewhere_verifies(demo: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = demo
    moved = shutil.copytree(out, tmp_path / "received" / "demo-output")
    for study in ("ccpt-dropout-rd", "pathways-earnings-did"):
        assert main(["verify", str(moved / "runs" / study), "--quiet",
                     "--certificate", str(tmp_path / f"{study}.json")]) == 0


def test_certificates_name_the_automated_validator(demo: tuple[Path, str]) -> None:
    out, _ = demo
    cert = json.loads((out / "runs" / "ccpt-dropout-rd" / "certificate.json").read_text(encoding="utf-8"))
    assert "automated re-computation by cteimpact demo" in cert["validator"]["name"]
    assert "no person has signed" in cert["validator"]["name"]
    html = (out / "runs" / "ccpt-dropout-rd" / "report" / "certificate.html").read_text(encoding="utf-8")
    assert "no person has signed" in html


def test_the_console_writes_the_headline_in_the_outcomes_units(demo: tuple[Path, str]) -> None:
    out, console = demo
    rd = json.loads((out / "runs" / "ccpt-dropout-rd" / "results.json").read_text(encoding="utf-8"))["headline"]
    did = json.loads((out / "runs" / "pathways-earnings-did" / "results.json").read_text(encoding="utf-8"))["headline"]
    credentials = json.loads((out / "runs" / "ccpt-credentials-rd" / "results.json").read_text(encoding="utf-8"))
    interim = credentials["headline"]
    assert rd["unit"] == "proportion" and did["unit"] == "money" and interim["unit"] == "proportion"
    assert interim["name"].startswith("credential")
    for head in (rd, did, interim):
        value = FORMATTERS["effect"](head["estimate"], head["std_error"], kind=head["unit"]).replace("\xa0", " ")
        assert f"headline: {head['name']} = {value} (95% CI [" in console
    assert " pp (95% CI [" in console and " = $" in console
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.count('href="runs/') == 6  # two reports of each of the three studies (HTML only)

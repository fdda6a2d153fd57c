"""Advice in DiD messages speaks every interface's language (issue 11, item 8: "use allow_unbalanced=True" in the
report of a run made from a TOML specification)."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

import cteimpact.did
from cteimpact.cli.app import main
from cteimpact.did import CallawaySantAnna, FewClustersWarning, simulate_staggered
from cteimpact.errors import DataDroppedWarning

DID_DIR = Path(cteimpact.did.__file__).parent
PYTHON_ONLY = re.compile(r"\b[a-z_]+=(True|False|\.\.\.|\d)")


def _messages(path: Path) -> list[tuple[int, str]]:
    """String literals of a module (f-strings joined), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    out = []
    inside_fstring = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            out.append((node.lineno, "".join(v.value for v in node.values
                                              if isinstance(v, ast.Constant) and isinstance(v.value, str))))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
              and id(node) not in inside_fstring):
            out.append((node.lineno, node.value))
    return out


def test_no_did_message_gives_python_only_advice() -> None:
    offenders = []
    for path in sorted(DID_DIR.glob("*.py")):
        for line, text in _messages(path):
            if PYTHON_ONLY.search(text) and not ("[design" in text or "--" in text):
                offenders.append(f"{path.name}:{line}: {text[:90]}")
    assert offenders == []


def _panel():
    df, _ = simulate_staggered(seed=3, n_clusters=12, n_never_clusters=3, units_per_cluster=4)
    return df


def test_unbalanced_panel_note_and_warning_name_every_interface() -> None:
    df = _panel().drop(index=[0, 5])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CallawaySantAnna(df, outcome="y", unit="unit", time="time", cohort="cohort").fit()
    text = " ".join(str(w.message) for w in caught if issubclass(w.category, DataDroppedWarning))
    note = res.notes[0]
    for message in (text, note):
        assert "allow_unbalanced = true in [design]" in message and "--allow-unbalanced" in message
    assert note.startswith("1 units are missing in some of the 11 periods and were dropped")


def test_few_clusters_warning_names_the_option_of_every_interface() -> None:
    with pytest.warns(FewClustersWarning) as caught:
        CallawaySantAnna(_panel(), outcome="y", unit="unit", time="time", cohort="cohort", cluster="cluster")
    message = str(caught[0].message)
    assert "only 12 clusters" in message
    assert "wild_bootstrap = 999 in [design.inference]" in message and "--wild-bootstrap 999" in message


@pytest.mark.parametrize(("extra", "words"), [
    ((), ["--unit", "--no-panel"]),
    (("--unit", "unit", "--wild-bootstrap", "199"), ["--cluster", "cluster = \"...\" in [design]"]),
])
def test_cli_errors_give_command_line_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            extra: tuple[str, ...], words: list[str]) -> None:
    path = tmp_path / "panel.csv"
    _panel().to_csv(path, index=False)
    code = main(["did", str(path), "--outcome", "y", "--time", "time", "--cohort", "cohort", *extra])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    for w in words:
        assert w in lines[0]

"""Helpers shared by test folders (importable because pytest puts ``tests/`` on the path for its conftest)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cteimpact.pipeline.verify import Verification

REPO = Path(__file__).resolve().parents[1]


def quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with warnings silenced (tests that check numbers, not the estimators' warnings)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def run_cli(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """Exit code, standard output and standard error of ``cteimpact`` with ``args`` (warnings silenced)."""
    from cteimpact.cli.app import main

    code = quietly(main, args)
    out = capsys.readouterr()
    return code, out.out, out.err


def json_leaves(tree: object, path: str = "") -> dict[str, object]:
    """Every leaf of a JSON tree by its path (``.results.estimates[0].estimate``: its value)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in json_leaves(sub, f"{path}.{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in json_leaves(sub, f"{path}[{i}]").items()}
    return {path: tree}


def compare_json(a: object, b: object, *, skip: tuple[str, ...] = (), rtol: float = 1e-10,
                 rtol_for: dict[str, float] | None = None, floor: float = 1.0, nan_equal: bool = True) -> int:
    """Assert two JSON trees equal leaf by leaf, except the paths starting with ``skip``: the same paths, every float
    within ``rtol * max(floor, |x|)`` of the first's (``rtol_for``: another tolerance for the paths starting with its
    keys; ``nan_equal``: NaN matches NaN), every other value equal. Every failing leaf is listed. Returns the number
    of floats compared."""
    la = {k: v for k, v in json_leaves(a).items() if not k.startswith(skip)}
    lb = {k: v for k, v in json_leaves(b).items() if not k.startswith(skip)}
    assert sorted(set(la) ^ set(lb)) == []
    compared = 0
    failed = []
    for key, x in la.items():
        y = lb[key]
        if isinstance(x, float) and isinstance(y, float):
            tol = next((t for prefix, t in (rtol_for or {}).items() if key.startswith(prefix)), rtol)
            same = x == y or (nan_equal and math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol * max(floor, abs(x))
            compared += 1
        else:
            same = x == y
        if not same:
            failed.append((key, x, y))
    assert failed == []
    return compared


def one_line_error(code: int, err: str) -> str:
    """The one ``cteimpact: error:`` line of a run that failed as a user error should (exit code 2, no traceback)."""
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("cteimpact: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write_light_rd_spec(folder: Path) -> Path:
    """The shipped RD study without its slow diagnostics and with fewer pricing draws, written with its contracts
    into ``folder`` (for tests of the pipeline mechanics, which do not depend on the diagnostics)."""
    shutil.copytree(REPO / "analyses" / "contracts", folder / "contracts", dirs_exist_ok=True)
    text = (REPO / "analyses" / "ccpt-dropout-rd.toml").read_text(encoding="utf-8")
    text = text.replace("[design.diagnostics]\nenabled = true", "[design.diagnostics]\nenabled = false")
    text = text.replace("[design.local_randomization]\nenabled = true", "[design.local_randomization]\nenabled = false")
    spec = folder / "study.toml"
    spec.write_text(text.replace("draws = 200000", "draws = 20000"), encoding="utf-8")
    return spec


def verified_copy(run: Path, target: Path) -> tuple[Path, Verification]:
    """Copy the run directory ``run`` to ``target`` (at the same depth below the session's temporary folder, so
    the locations the manifest records relative to the run still resolve), verify it and write its certificate;
    ``(target, the verification)``."""
    import warnings

    from cteimpact.pipeline.certificate import build_certificate
    from cteimpact.pipeline.verify import verify_run
    from cteimpact.results.serialization import write_json

    assert len(target.parents) == len(run.parents), (target, run)
    shutil.copytree(run, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verification = verify_run(target, progress=False)
    assert verification.ok, verification.reasons
    write_json(build_certificate(verification), target / "certificate.json")
    return target, verification


def write_duckdb(path: Path, tables: dict[str, str]) -> Path:
    """A DuckDB database at ``path`` with one table per ``name: SELECT statement``."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for name, select in tables.items():
            con.execute(f"CREATE TABLE {name} AS {select}")
    finally:
        con.close()
    return path

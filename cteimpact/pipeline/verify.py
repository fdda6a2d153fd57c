"""``cteimpact verify``: re-hash a run's inputs, re-run its specification, compare every number.

The specification re-run is the fully resolved copy in ``manifest.json`` (what was certified), not whatever the
specification file says today; a changed specification file, data file or contract is reported as a changed input.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cteimpact.errors import SpecificationError
from cteimpact.pipeline.run import MANIFEST_SCHEMA, RUN_SCHEMA, RunRecord, execute, prepare_spec
from cteimpact.pipeline.spec import parse_spec
from cteimpact.provenance.compare import Comparison, TolerancePolicy, compare_records
from cteimpact.provenance.hashing import sha256_file

__all__ = ["InputCheck", "Verification", "verify_run"]


@dataclass(frozen=True, slots=True)
class InputCheck:
    """One input file of the run, re-hashed."""

    role: str
    path: str
    sha256_recorded: str
    sha256_received: str | None
    records: int | None
    bytes: int | None

    @property
    def status(self) -> str:
        if self.sha256_received is None:
            return "missing"
        return "unchanged" if self.sha256_received == self.sha256_recorded else "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "path": self.path, "records": self.records, "bytes": self.bytes,
                "sha256_recorded": self.sha256_recorded, "sha256_received": self.sha256_received,
                "status": self.status}


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a run directory."""

    run_dir: Path
    manifest: dict[str, Any]
    recorded: dict[str, Any]
    inputs: tuple[InputCheck, ...]
    outputs_changed: tuple[str, ...]
    comparison: Comparison
    recomputed: RunRecord

    @property
    def ok(self) -> bool:
        return (self.comparison.ok and all(i.status == "unchanged" for i in self.inputs)
                and not self.outputs_changed)

    @property
    def reasons(self) -> list[str]:
        out = [f"input {i.role} ({Path(i.path).name}) is {i.status}" for i in self.inputs if i.status != "unchanged"]
        out += [f"output {p} differs from the hash recorded in the manifest" for p in self.outputs_changed]
        n = len(self.comparison.mismatches)
        if n:
            out.append(f"{n:,} of {self.comparison.n_compared:,} values of results.json do not match the "
                       "re-computation")
        return out


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise SpecificationError(f"'{path.parent}' is not a cteimpact run directory: {what} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SpecificationError(f"{what} in '{path.parent}' is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecificationError(f"{what} in '{path.parent}' is not a JSON object")
    return data


def verify_run(run_dir: str | Path, *, data_root: str | Path | None = None, policy: TolerancePolicy | None = None,
               progress: bool = True) -> Verification:
    """Verify the run directory ``run_dir`` (see the module docstring).

    Parameters
    ----------
    run_dir
        A directory written by ``cteimpact run``.
    data_root
        Where the data file is now, if not at the path recorded in the manifest.
    policy
        Tolerances of the comparison (default :class:`TolerancePolicy`).
    """
    run_dir = Path(run_dir)
    manifest = _read_json(run_dir / "manifest.json", "manifest.json")
    recorded = _read_json(run_dir / "results.json", "results.json")
    if manifest.get("schema") != MANIFEST_SCHEMA or recorded.get("schema") != RUN_SCHEMA:
        raise SpecificationError(
            f"'{run_dir}' was written by an incompatible cteimpact (manifest {manifest.get('schema')!r}, results "
            f"{recorded.get('schema')!r}; this version reads {MANIFEST_SCHEMA!r} and {RUN_SCHEMA!r})")
    checks = []
    data_path: Path | None = None
    for item in manifest.get("inputs", []):
        path = Path(item["path"])
        if item["role"] == "data":
            if data_root is not None:
                path = Path(data_root) / path.name
            data_path = path
        received = sha256_file(path) if path.is_file() else None
        checks.append(InputCheck(item["role"], path.as_posix(), item["sha256"], received, item.get("records"),
                                 item.get("bytes")))
    if data_path is None or not data_path.is_file():
        raise SpecificationError(
            f"the run's data file is not at '{data_path}'; pass --data-root with the folder that holds it")
    changed_outputs = tuple(
        o["path"] for o in manifest.get("outputs", [])
        if not (run_dir / o["path"]).is_file() or sha256_file(run_dir / o["path"]) != o["sha256"])
    spec = parse_spec(manifest["specification"])
    spec_path = next((Path(i.path) for i in checks if i.role == "specification"), run_dir / "specification.toml")
    prep = prepare_spec(spec, spec_path=spec_path, data_root=data_path.parent)
    with tempfile.TemporaryDirectory(prefix="cteimpact-verify-") as tmp:
        recomputed = execute(prep, Path(tmp) / "rerun", progress=progress, command=manifest.get("command"))
    comparison = compare_records(recorded, recomputed.results, policy)
    return Verification(run_dir, manifest, recorded, tuple(checks), changed_outputs, comparison, recomputed)

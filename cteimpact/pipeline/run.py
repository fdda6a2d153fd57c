"""``cteimpact run``: one analysis specification → a reproducible run directory.

The run directory holds ``results.json`` (schema-versioned, every number at full precision, no timestamps, so two
runs with the same inputs and seed give identical bytes), ``figures/``, ``tables/`` and ``manifest.json`` (input
hashes, the fully resolved specification and its hash, the seeds, software versions and output hashes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cteimpact.data.columns import ColumnMap
from cteimpact.data.io import read_columns
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.data.student_data import StudentData, load_student_data
from cteimpact.errors import MissingColumnError, SpecificationError
from cteimpact.pipeline.artefacts import RunDirectory
from cteimpact.pipeline.designs import DesignRun, run_design
from cteimpact.pipeline.progress import Progress
from cteimpact.pipeline.seeds import derive_seed
from cteimpact.pipeline.spec import AnalysisSpec, load_spec
from cteimpact.provenance.environment import code_version, environment_versions
from cteimpact.provenance.hashing import describe_file, sha256_bytes
from cteimpact.provenance.privacy import IdentifierLeakError, find_identifiers
from cteimpact.results.serialization import dumps_json

__all__ = ["MANIFEST_SCHEMA", "RUN_SCHEMA", "PreparedRun", "RunRecord", "prepare_run", "run_analysis"]

RUN_SCHEMA = "cteimpact.run/1"
MANIFEST_SCHEMA = "cteimpact.manifest/1"


@dataclass(frozen=True)
class PreparedRun:
    """A specification checked against its data and contract, ready to compute."""

    spec: AnalysisSpec
    spec_path: Path
    data_path: Path
    contract: Any | None
    contract_path: Path | None
    resolved: dict[str, Any]
    spec_sha256: str


@dataclass(frozen=True)
class RunRecord:
    """What a run wrote."""

    out_dir: Path
    results: dict[str, Any]
    manifest: dict[str, Any]


def _resolve_contract(spec: AnalysisSpec, spec_dir: Path) -> tuple[Any | None, Path | None, Any]:
    if spec.pricing is None:
        return None, None, None
    from cteimpact.pricing import example_contract, load_contract

    src = spec.pricing.contract
    if isinstance(src, dict):
        return load_contract(src), None, src
    if src.startswith("example:"):
        path = example_contract(src.removeprefix("example:"))
        return load_contract(path), path, src
    path = (spec_dir / src).resolve()
    if not path.is_file():
        raise SpecificationError(f"pricing.contract: file '{src}' does not exist (looked in {spec_dir})")
    return load_contract(path), path, src


def prepare_run(spec_path: str | Path, *, data_root: str | Path | None = None) -> PreparedRun:
    """Validate the specification file, its data file's columns and its pricing contract, before any computation.

    Raises
    ------
    SpecificationError
        Invalid keys or values, a contract estimate the design does not produce, a missing contract file.
    MissingColumnError
        A mapped or design column is not in the data file (the closest name is suggested).
    OptionError
        The data file does not exist.
    """
    spec_path = Path(spec_path).resolve()
    spec = load_spec(spec_path)
    root = Path(data_root).resolve() if data_root is not None else spec_path.parent
    return prepare_spec(spec, spec_path=spec_path, data_root=root)


def prepare_spec(spec: AnalysisSpec, *, spec_path: Path, data_root: Path) -> PreparedRun:
    """As :func:`prepare_run`, for a specification already parsed (``verify`` re-runs the manifest's copy)."""
    data_path = Path(spec.data.path)
    data_path = data_path if data_path.is_absolute() else data_root / data_path
    available = read_columns(data_path)
    cmap = ColumnMap(spec.data.columns)
    for role, col in cmap.items():
        if col not in available:
            raise MissingColumnError(col, available, role)
    for col in [*spec.data.extra_columns, *spec.design.columns_used()]:
        if col not in available:
            raise MissingColumnError(col, available, "design")
    contract, contract_path, _ = _resolve_contract(spec, spec_path.parent)
    if contract is not None:
        produced = set(spec.design.labels())
        mapping = dict(spec.pricing.labels) if spec.pricing else {}
        for i, outcome in enumerate(contract.outcomes):
            label = mapping.get(outcome.estimate, outcome.estimate)
            if label not in produced:
                raise SpecificationError(
                    f"pricing contract outcomes[{i}] ('{outcome.name}') is priced on the estimate '{label}', which "
                    f"the design does not produce; it produces: {', '.join(sorted(produced))} "
                    "(map labels with [pricing.labels])")
    resolved = spec.resolved()
    if contract is not None:
        # the contract itself, not a reference to a file, is part of the resolved specification
        resolved["pricing"]["contract"] = contract.model_dump(mode="json")
    spec_hash = sha256_bytes(json.dumps(resolved, sort_keys=True, separators=(",", ":")).encode())
    return PreparedRun(spec, spec_path, data_path, contract, contract_path, resolved, spec_hash)


def _load(prep: PreparedRun) -> tuple[StudentData, set[str]]:
    spec = prep.spec
    cmap = ColumnMap(spec.data.columns)
    extra = [c for c in [*spec.data.extra_columns, *spec.design.columns_used()] if c not in cmap.columns()]
    data = load_student_data(prep.data_path, cmap, extra_columns=extra,
                             key_roles=None if spec.data.key is None else tuple(spec.data.key))
    ids = set(data.values("student_id").astype(str)) if "student_id" in cmap else set()
    for expr in spec.sample.restrictions:
        data = data.filter(evaluate_restriction(data.frame, expr), f"restriction: {expr}")
    return data, ids


def _price(prep: PreparedRun, design: DesignRun, seed: int) -> Any | None:
    if prep.contract is None or prep.spec.pricing is None:
        return None
    from cteimpact.pricing import price_contract

    labels = dict(prep.spec.pricing.labels)
    mde = {o.name: design.mde[labels.get(o.estimate, o.estimate)] for o in prep.contract.outcomes
           if labels.get(o.estimate, o.estimate) in design.mde}
    return price_contract(prep.contract, design.results, draws=prep.spec.pricing.draws,
                          seed=derive_seed(seed, "pricing"), labels=prep.spec.pricing.labels or None,
                          mde=mde or None)


def build_results(prep: PreparedRun, data: StudentData, design: DesignRun, pricing: Any | None) -> dict[str, Any]:
    """The content of ``results.json``."""
    spec = prep.spec
    return {
        "schema": RUN_SCHEMA,
        "study": {"name": spec.study.name, "title": spec.study.title, "description": spec.study.description},
        "spec_sha256": prep.spec_sha256,
        "seed": spec.study.seed,
        "seeds": {name: derive_seed(spec.study.seed, name) for name in ("pricing", "rd.local_randomization",
                                                                         "did.bootstrap")},
        "privacy": {"min_cell": spec.privacy.min_cell,
                    "rule": (f"Estimates, counts and means describing fewer than {spec.privacy.min_cell} students, "
                             "or revealing such a cell by subtraction from a total, are suppressed (marked "
                             "suppressed, numbers null) in this file, the tables, the figures and the reports; "
                             "student identifiers never appear."),
                    "note": (getattr(design.results, "privacy", None) or {}).get("note")},
        "sample_flow": data.flow.to_dict(),
        "design": {"type": spec.design.type, **design.results.to_dict(), "extra": design.extra},
        "pricing": None if pricing is None else pricing.to_dict(),
    }


def run_analysis(spec_path: str | Path, out_dir: str | Path, *, data_root: str | Path | None = None,
                 progress: bool = True, command: str | None = None) -> RunRecord:
    """Run a specification file and write its run directory (see the module docstring)."""
    return execute(prepare_run(spec_path, data_root=data_root), out_dir, progress=progress, command=command)


def execute(prep: PreparedRun, out_dir: str | Path, *, progress: bool = True,
            command: str | None = None) -> RunRecord:
    """Compute a prepared run and write its run directory."""
    steps = Progress(5 if prep.contract is not None else 4, enabled=progress)
    seed = prep.spec.study.seed
    with steps.step(f"loading {prep.data_path.name}"):
        inputs = [{"role": "data", **describe_file(prep.data_path)}]
        data, ids = _load(prep)
        steps.note(f"{data.flow.rows_read:,} rows read, {data.flow.rows_used:,} kept after restrictions")
    with steps.step(f"estimating the {prep.spec.design.type.upper()} design"):
        design = run_design(prep.spec.design, data, seed=seed, min_cell=prep.spec.privacy.min_cell)
    pricing = None
    if prep.contract is not None:
        with steps.step(f"pricing the contract ({prep.spec.pricing.draws:,} Monte Carlo draws)"):  # type: ignore[union-attr]
            pricing = _price(prep, design, seed)
    out = RunDirectory(out_dir)
    with steps.step(f"writing {out.root}"):
        results = build_results(prep, data, design, pricing)
        out.write_text("results.json", dumps_json(results))
        for rel, frame in design.tables.items():
            out.write_table(rel, frame)
        for rel, fig in design.figures.items():
            out.write_figure(rel, fig)
        if pricing is not None:
            out.write_table("tables/pricing.csv", pricing.tidy())
            for kind in ("distribution", "curve", "payors"):
                out.write_figure(f"figures/pricing-{kind}.png", pricing.plot(kind))
    with steps.step("checking outputs for student identifiers"):
        hits = find_identifiers([out.root / r for r in out.written], ids)
        if hits:
            for r in out.written:
                (out.root / r).unlink(missing_ok=True)
            raise IdentifierLeakError(
                f"student identifiers were found in {len(hits)} output file(s) ({', '.join(sorted(hits))}); "
                "the outputs were deleted")
    if prep.contract_path is not None:
        inputs.append({"role": "contract", **describe_file(prep.contract_path)})
    inputs.append({"role": "specification", **describe_file(prep.spec_path)})
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "study": prep.spec.study.name,
        "command": command or (f"cteimpact run {prep.spec_path} --data-root {prep.data_path.parent} "
                               f"--out {out.root}"),
        "specification": prep.resolved,
        "spec_sha256": prep.spec_sha256,
        "seed": {"master": seed, "derived": results["seeds"]},
        "inputs": inputs,
        "environment": environment_versions(),
        "code": code_version(),
        "outputs": out.describe(),
    }
    out.write_text("manifest.json", dumps_json(manifest))
    return RunRecord(out.root, results, manifest)

"""``cteimpact run``: one analysis specification → a reproducible run directory.

The run directory holds ``results.json`` (schema-versioned, every number at full precision, no timestamps, so two
runs with the same inputs and seed give identical bytes), ``figures/``, ``tables/`` and ``manifest.json`` (input
hashes, the fully resolved specification and its hash, the seeds, software versions and output hashes).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cteimpact.backends.connection import is_duckdb_file
from cteimpact.backends.errors import BackendColumnError
from cteimpact.backends.loading import LoadedTable, load_student_table
from cteimpact.backends.location import DataLocation, data_location, file_location
from cteimpact.backends.source import TableSource
from cteimpact.config.paths import resolve_inside
from cteimpact.data.columns import ColumnMap
from cteimpact.data.io import read_columns
from cteimpact.data.restriction_language import parse_restriction
from cteimpact.data.restrictions import evaluate_restriction
from cteimpact.data.roles import ROLES
from cteimpact.data.student_data import StudentData, load_student_data
from cteimpact.errors import MissingColumnError, RunDirectoryError, SpecificationError
from cteimpact.pipeline.artefacts import RunDirectory
from cteimpact.pipeline.designs import DesignRun, run_design
from cteimpact.pipeline.engine_design import did_in_engine, plan_engine
from cteimpact.pipeline.headline import headline_estimate
from cteimpact.pipeline.progress import Progress
from cteimpact.pipeline.run_directory import StagedRun
from cteimpact.pipeline.seeds import derive_seed
from cteimpact.pipeline.spec import AnalysisSpec, RDDesignSpec, load_spec
from cteimpact.pipeline.surrogate import SurrogateRun, check_surrogate_inputs, run_surrogate
from cteimpact.provenance.environment import code_version, environment_versions
from cteimpact.provenance.hashing import describe_file, sha256_bytes
from cteimpact.provenance.privacy import IdentifierLeakError, find_identifiers
from cteimpact.results.serialization import dumps_json
from cteimpact.surrogate.errors import SampleColumnError
from cteimpact.synth.truth_compare import SyntheticSource, find_truth, truth_comparison

if TYPE_CHECKING:  # the equity analysis (scipy.stats, the RD package) is imported only by a study that has one
    from cteimpact.data.sample_flow import SampleFlow
    from cteimpact.equity.run import EquityRun

__all__ = ["MANIFEST_SCHEMA", "RUN_SCHEMA", "PreparedRun", "RunRecord", "execute", "prepare_run", "prepare_spec",
           "run_analysis", "run_date"]

RUN_SCHEMA = "cteimpact.run/1"
MANIFEST_SCHEMA = "cteimpact.manifest/1"


@dataclass(frozen=True)
class PreparedRun:
    """A specification checked against its data and contract, ready to compute.

    ``contract_source`` is how the contract was named: a file path, ``example:NAME`` or ``inline``.
    """

    spec: AnalysisSpec
    spec_path: Path
    data_path: Path | None
    contract: Any | None
    contract_path: Path | None
    resolved: dict[str, Any]
    spec_sha256: str
    contract_source: str | None = None
    synthetic: SyntheticSource | None = None
    """The ``truth.json`` beside the data file that lists it, when the data are cteimpact's synthetic data."""
    location: DataLocation | None = None
    """The engine table the data are read from (:mod:`cteimpact.backends`); None for a CSV or Parquet file read
    by pandas. ``data_path`` is then the DuckDB database file, or None for a table on a server."""
    source: Any | None = None
    """The opened :class:`cteimpact.backends.TableSource` of ``location``."""

    @property
    def data_name(self) -> str:
        """How the data are named in progress messages and records: the file's name, or ``file:table``."""
        if self.source is not None:
            return str(self.source.label)
        return self.data_path.name if self.data_path is not None else "data"


@dataclass(frozen=True)
class RunRecord:
    """What a run wrote."""

    out_dir: Path
    results: dict[str, Any]
    manifest: dict[str, Any]


def _resolve_contract(spec: AnalysisSpec, spec_dir: Path,
                      explicit: Path | None) -> tuple[Any | None, Path | None, str | None]:
    if spec.pricing is None:
        return None, None, None
    from cteimpact.pricing import example_contract, load_contract

    if explicit is not None:
        if not explicit.is_file():
            raise SpecificationError(f"contract file '{explicit}' does not exist")
        return load_contract(explicit), explicit, str(explicit)
    src = spec.pricing.contract
    if isinstance(src, dict):
        return load_contract(src), None, "inline"
    if src.startswith("example:"):
        path = example_contract(src.removeprefix("example:"))
        return load_contract(path), path, src
    path = resolve_inside(spec_dir, src, "pricing.contract")
    if not path.is_file():
        raise SpecificationError(f"pricing.contract: file '{src}' does not exist (looked in {spec_dir})")
    return load_contract(path), path, src


def prepare_run(spec_path: str | Path, *, data_root: str | Path | None = None,
                data: str | Path | None = None, backend: str | None = None, connection: str | None = None,
                table: str | None = None, max_rows_pulled: int | None = None,
                duckdb_above_mb: float | None = None) -> PreparedRun:
    """Validate the specification file, its data file's columns and its pricing contract, before any computation.

    Parameters
    ----------
    spec_path
        The specification (TOML).
    data_root
        Folder the specification's ``data.path`` is relative to (default: the specification's folder); the path
        must stay inside it.
    data
        The data file itself, given explicitly (any location); overrides ``data.path``. A ``.duckdb`` file is read
        as a DuckDB database (:mod:`cteimpact.backends`).
    backend, connection, table, max_rows_pulled
        Read the data from an engine (override ``[data] backend``, ``connection``/``connection_env``, ``table``,
        ``max_rows_pulled``; see :func:`cteimpact.backends.location.data_location`).
    duckdb_above_mb
        Read a CSV or Parquet file larger than this (MB) through DuckDB (overrides ``[data] duckdb_above_mb``; see
        :func:`cteimpact.backends.location.file_location`).

    Raises
    ------
    SpecificationError
        Invalid keys or values, a data or contract path outside its folder, a contract estimate the design does not
        produce, a missing contract file.
    MissingColumnError
        A mapped or design column is not in the data file (the closest name is suggested).
    OptionError
        The data file does not exist.
    BackendError
        The engine, the table or a column cannot be reached (:mod:`cteimpact.backends.errors`).
    """
    spec_path = Path(spec_path).absolute()
    spec = load_spec(spec_path)
    root = Path(data_root).absolute() if data_root is not None else spec_path.parent
    return prepare_spec(spec, spec_path=spec_path, data_root=root,
                        data_path=None if data is None else Path(data).absolute(), backend=backend,
                        connection=connection, table=table, max_rows_pulled=max_rows_pulled,
                        duckdb_above_mb=duckdb_above_mb)


def prepare_spec(spec: AnalysisSpec, *, spec_path: Path, data_root: Path, data_path: Path | None = None,
                 contract_path: Path | None = None, backend: str | None = None, connection: str | None = None,
                 table: str | None = None, max_rows_pulled: int | None = None,
                 duckdb_above_mb: float | None = None) -> PreparedRun:
    """As :func:`prepare_run`, for a specification already parsed; ``data_path`` and ``contract_path`` are files
    given explicitly (they replace the specification's ``data.path`` and ``pricing.contract``)."""
    server = (backend or spec.data.backend) not in (None, "duckdb", "spark")  # no file: a server's table
    if data_path is None and spec.data.path is not None and not (server or (backend == "duckdb" and connection)):
        data_path = resolve_inside(data_root, spec.data.path, "data.path")
    location = data_location(spec.data, data_path=None if server else data_path, backend=backend,
                             connection=connection, table=table, max_rows_pulled=max_rows_pulled)
    if location is None and data_path is not None:  # a large CSV or Parquet file: read through DuckDB
        cmap = ColumnMap(spec.data.columns)
        location = file_location(spec.data, data_path, duckdb_above_mb=duckdb_above_mb,
                                 max_rows_pulled=max_rows_pulled,
                                 text_columns=tuple(cmap[r] for r in cmap if ROLES[r].kind == "identifier"))
    source = None
    if location is None:
        if data_path is None:  # pragma: no cover (the specification names a path or a backend)
            raise SpecificationError("[data] names neither a data file nor a backend")
        available = read_columns(data_path)
    else:
        source = location.open()
        data_path = location.path
        available = source.columns()
    cmap = ColumnMap(spec.data.columns)
    for role, col in cmap.items():
        if col not in available:
            raise _missing(source, col, available, role)
    for col in [*spec.data.extra_columns, *spec.design.columns_used()]:
        if col not in available:
            raise _missing(source, col, available, "design")
    _check_surrogate_columns(spec, available)
    if spec.equity is not None:
        for col in spec.equity.columns_used():
            if col not in available:
                raise MissingColumnError(col, available, "[equity]")
    contract, contract_file, contract_source = _resolve_contract(spec, spec_path.parent, contract_path)
    if contract is not None:
        produced = set(spec.design.labels()) | set(spec.surrogate_labels())
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
    synthetic = find_truth(data_path) if data_path is not None and not is_duckdb_file(data_path) else None
    return PreparedRun(spec, spec_path, data_path, contract, contract_file, resolved, spec_hash, contract_source,
                       synthetic, location, source)


def _missing(source: TableSource | None, column: str, available: list[str], role: str) -> MissingColumnError:
    """The error for a column the data do not have: naming the backend and table when read from an engine."""
    if source is None:
        return MissingColumnError(column, available, role)
    return BackendColumnError(column, available, backend=source.backend, table=source.name, role=role)


def _surrogate_columns(spec: AnalysisSpec) -> list[tuple[str, str]]:
    """``(role, column)`` of every column ``[surrogate]`` reads: its own and those its training restrictions name."""
    s = spec.surrogate
    if s is None:
        return []
    named = [("long-run outcome", s.outcome), *(("surrogate", c) for c in s.surrogates),
             *(("covariate", c) for c in s.covariates), ("validation outcome", s.validation_outcome),
             ("cluster", s.cluster), ("weights", s.weights)]
    named += [("training restriction", c) for expr in s.training for c, _ in parse_restriction(expr).columns]
    return [(role, c) for role, c in named if c]


def _check_surrogate_columns(spec: AnalysisSpec, available: list[str]) -> None:
    for role, col in _surrogate_columns(spec):
        if col not in available:
            raise SampleColumnError(col, available, role, sample="[surrogate]")


def _equity_periods(spec: AnalysisSpec) -> list[str]:
    periods = spec.equity.periods() if spec.equity is not None else None
    return list(periods.values()) if periods else []


def _check_priority_groups(prep: PreparedRun, data: StudentData) -> None:
    """Every priority group a contract's equity premium or floor names (``column=value``) has students in the study
    sample: else a typed error naming the group and the levels present with their counts, before any estimation."""
    if prep.contract is None:
        return
    from cteimpact.equity import require_group

    groups = [o.payment.equity_premium.group for o in prep.contract.outcomes
              if getattr(o.payment, "equity_premium", None) is not None]
    groups += [c.group for c in prep.contract.conditions]
    for group in dict.fromkeys(groups):
        column, _, value = group.partition("=")
        column, value = column.strip(), value.strip()
        level: object = int(value) if value.lstrip("-").isdigit() else value
        require_group(data.frame, column, level, min_cell=prep.spec.privacy.min_cell)


def _load(prep: PreparedRun) -> tuple[StudentData, StudentData, set[str], LoadedTable | None]:
    """The data read (what ``[surrogate]`` training restrictions select from), the study sample (after
    ``[sample]``), the student identifiers (to check the outputs for) and, for data read from an engine, what was
    pulled (the study sample only, unless ``[surrogate]`` or ``[equity]`` need every row)."""
    spec = prep.spec
    cmap = ColumnMap(spec.data.columns)
    wanted = [*spec.data.extra_columns, *spec.design.columns_used(), *(c for _, c in _surrogate_columns(spec)),
              *(spec.equity.columns_used() if spec.equity is not None else []),
              *(c for expr in _equity_periods(spec) for c, _ in parse_restriction(expr).columns)]
    extra = [c for c in dict.fromkeys(wanted) if c not in cmap.columns()]
    key_roles = None if spec.data.key is None else tuple(spec.data.key)
    if prep.source is not None and prep.location is not None:
        pulled = load_student_table(
            prep.source, cmap, extra_columns=extra, restrictions=spec.sample.restrictions,
            numeric=_numeric_columns(spec), key_roles=key_roles, max_rows=prep.location.max_rows,
            why=_pull_reason(spec), keep_unrestricted=spec.surrogate is not None or spec.equity is not None)
        data = pulled.data
        read = pulled.read if pulled.read is not None else data
        ids = set(read.values("student_id").astype(str)) if "student_id" in cmap else set()
        return read, data, ids, pulled
    if prep.data_path is None:  # pragma: no cover (prepare_spec sets one of them)
        raise SpecificationError("[data] names neither a data file nor a backend")
    read = load_student_data(prep.data_path, cmap, extra_columns=extra, key_roles=key_roles)
    ids = set(read.values("student_id").astype(str)) if "student_id" in cmap else set()
    data = read
    for expr in spec.sample.restrictions:
        data = data.filter(evaluate_restriction(data.frame, expr), f"restriction: {expr}")
    return read, data, ids, None


def _numeric_columns(spec: AnalysisSpec) -> list[str]:
    """Columns the design sums or averages: they must hold numbers in the engine's table (a DiD covariate may hold
    text: it is then categorical, coded by the estimator as on the file path)."""
    d = spec.design
    if isinstance(d, RDDesignSpec):
        cols = [*d.outcomes, d.running, d.fuzzy, d.cutoff_column, *d.covariates]
    else:
        cols = [d.outcome, d.time, d.cohort, d.weights, d.students, d.outcome_sd, d.outcome_n]
    return [c for c in dict.fromkeys(cols) if c]


def _pull_reason(spec: AnalysisSpec) -> str:
    """Why a run pulls rows from the engine (for the message when there are too many)."""
    if isinstance(spec.design, RDDesignSpec):
        return ("regression discontinuity: the local polynomial fits, bandwidth selection and diagnostics run on "
                "the students' rows")
    return ("difference-in-differences: the estimators run here on the panel's rows (a study sample above the limit "
            "is computed in the engine when every part of the study allows it: cteimpact.pipeline.engine_design)")


def _price(prep: PreparedRun, design: DesignRun, seed: int, surrogate: SurrogateRun | None = None) -> Any | None:
    if prep.contract is None or prep.spec.pricing is None:
        return None
    from cteimpact.pricing import price_contract

    labels = dict(prep.spec.pricing.labels)
    mde = {o.name: design.mde[labels.get(o.estimate, o.estimate)] for o in prep.contract.outcomes
           if labels.get(o.estimate, o.estimate) in design.mde}
    # the projected long-run estimates join the design's (as ProjectedResults joins them: block-diagonal, drawn
    # independently of the design's other estimates); given as two results, each label keeps its own description
    estimates: Any = design.results
    if surrogate is not None and surrogate.projection is not None:
        estimates = [design.results, surrogate.projection]
    return price_contract(prep.contract, estimates, draws=prep.spec.pricing.draws,
                          seed=derive_seed(seed, "pricing"), labels=prep.spec.pricing.labels or None,
                          mde=mde or None)


def _data_record(prep: PreparedRun) -> dict[str, Any]:
    source = prep.synthetic
    record = {"file": prep.data_path.name if prep.data_path is not None else None, "synthetic": source is not None,
              "generator": None if source is None else source.truth.get("generator")}
    if prep.source is not None:
        record["backend"] = prep.source.backend
        record["table"] = prep.source.name
    return record


def _truth_record(prep: PreparedRun, design: dict[str, Any]) -> dict[str, Any] | None:
    if prep.synthetic is None:
        return None
    dist = design.get("sampling_distribution") or {}
    centres = dict(zip(dist.get("labels") or [], dist.get("mean") or [], strict=False))
    return truth_comparison(prep.synthetic, prep.spec.design.type, prep.spec.design.model_dump(),
                            design.get("estimates") or [], centres)


def build_results(prep: PreparedRun, flow: SampleFlow, design: DesignRun, pricing: Any | None,
                  surrogate: SurrogateRun | None = None, equity: EquityRun | None = None) -> dict[str, Any]:
    """The content of ``results.json`` (``flow``: the study sample's; with ``surrogate`` and ``equity`` only for a
    specification with ``[surrogate]`` and ``[equity]``)."""
    spec = prep.spec
    design_record = {"type": spec.design.type, **design.results.to_dict(), "extra": design.extra}
    pricing_record = None if pricing is None else pricing.to_dict()
    outcomes = spec.design.outcomes if isinstance(spec.design, RDDesignSpec) else [spec.design.outcome]
    out = {
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
        "data": _data_record(prep),
        "sample_flow": flow.to_dict(),
        "headline": headline_estimate(design_record, pricing_record, outcomes, spec.data.columns,
                                      projection=None if surrogate is None else surrogate.record.get("projection")),
        "design": design_record,
        "pricing": pricing_record,
        "truth": _truth_record(prep, design_record),
    }
    if surrogate is not None:
        out["surrogate"] = surrogate.record
    if equity is not None:
        out["equity"] = equity.results.to_dict()
    return out


def run_analysis(spec_path: str | Path, out_dir: str | Path, *, data_root: str | Path | None = None,
                 data: str | Path | None = None, overwrite: bool = False, progress: bool = True,
                 command: str | None = None, backend: str | None = None, connection: str | None = None,
                 table: str | None = None, max_rows_pulled: int | None = None,
                 duckdb_above_mb: float | None = None) -> RunRecord:
    """Run a specification file and write its run directory (see the module docstring and
    :mod:`cteimpact.pipeline.run_directory` for the rules of ``out_dir``); ``backend``, ``connection``, ``table``
    and ``max_rows_pulled`` read the data from an engine (see :func:`prepare_run`)."""
    prep = prepare_run(spec_path, data_root=data_root, data=data, backend=backend, connection=connection,
                       table=table, max_rows_pulled=max_rows_pulled, duckdb_above_mb=duckdb_above_mb)
    if command is None:
        parts = ["cteimpact", "run", str(spec_path), "--out", str(out_dir)]
        parts += ["--data", str(data)] if data is not None else []
        parts += ["--data-root", str(data_root)] if data_root is not None else []
        command = " ".join(parts + (["--overwrite"] if overwrite else []))
    return execute(prep, out_dir, progress=progress, command=command, overwrite=overwrite)


def run_date() -> str:
    """The date of the run (ISO, UTC): ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else today. It is
    recorded in the manifest only, never in a hashed output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    moment = (datetime.fromtimestamp(int(epoch), tz=UTC) if epoch.isdigit() else datetime.now(tz=UTC))
    return moment.date().isoformat()


def _relative_to_run(path: Path, out_dir: Path) -> str:
    """``path`` relative to the run directory, POSIX style (no absolute local path is recorded)."""
    return Path(os.path.relpath(path.absolute(), out_dir.absolute())).as_posix()


def input_entries(prep: PreparedRun, out_dir: Path, pulled: LoadedTable | None = None, *,
                  engine_rows: int | None = None) -> list[dict[str, Any]]:
    """The manifest's ``inputs``: role, location relative to the run directory, SHA-256, bytes and records.

    Data read from an engine (``pulled``) also record the backend, the table, the rows pulled and ``rows_sha256``,
    the hash of the rows and columns pulled (:mod:`cteimpact.backends.digest`). A DuckDB database file keeps its
    file's SHA-256 and size (the file received is the data); ``records`` counts the table's rows. A table on a
    server has no file: its ``sha256`` is ``rows_sha256``. A design computed in the engine pulls no row
    (``engine_rows``: the table's rows): ``rows_pulled`` is 0 and ``rows_sha256`` null; a server's table then
    records ``table_digest``, a content digest of the whole table computed in the engine
    (:func:`cteimpact.backends.digest.table_digest`; PostgreSQL), as its ``sha256``.
    """
    def entry(role: str, path: Path, location: str) -> dict[str, Any]:
        described = describe_file(path)
        described["path"] = location
        return {"role": role, "name": path.name, **described}

    inputs = [_data_entry(prep, out_dir, pulled, engine_rows) if prep.source is not None else
              entry("data", prep.data_path, _relative_to_run(prep.data_path, out_dir))]  # type: ignore[arg-type]
    if prep.contract_path is not None:
        shipped = bool(prep.contract_source and prep.contract_source.startswith("example:"))
        location = str(prep.contract_source) if shipped else _relative_to_run(prep.contract_path, out_dir)
        inputs.append(entry("contract", prep.contract_path, location))
    inputs.append(entry("specification", prep.spec_path, _relative_to_run(prep.spec_path, out_dir)))
    if prep.synthetic is not None:
        inputs.append(entry("truth", prep.synthetic.path, _relative_to_run(prep.synthetic.path, out_dir)))
    return inputs


def _data_entry(prep: PreparedRun, out_dir: Path, pulled: LoadedTable | None,
                engine_rows: int | None = None) -> dict[str, Any]:
    from cteimpact.backends.digest import rows_sha256, table_digest

    source = prep.source
    if source is None:  # pragma: no cover (called for data read from an engine only)
        raise SpecificationError("the data were not read from an engine")
    digest = None
    if pulled is not None:
        frame = pulled.read.frame if pulled.read is not None else pulled.data.frame
        digest = rows_sha256(frame)
    records = pulled.data.flow.rows_read if pulled is not None else engine_rows
    rows_pulled = pulled.rows_pulled if pulled is not None else 0 if engine_rows is not None else None
    # the pull limit decides between pulling the rows and computing in the engine: verify re-runs with the same
    table = {"backend": source.backend, "table": source.name, "rows_pulled": rows_pulled, "rows_sha256": digest,
             "max_rows_pulled": None if prep.location is None else prep.location.max_rows}
    if prep.data_path is not None:
        described = describe_file(prep.data_path)
        described["path"] = _relative_to_run(prep.data_path, out_dir)
        described["records"] = records
        return {"role": "data", "name": prep.data_path.name, **described, **table}
    if pulled is None and engine_rows is not None:  # nothing pulled: the engine digests the table
        computed = table_digest(source)
        if computed is not None:
            table["table_digest"] = digest = computed
    return {"role": "data", "name": source.label, "path": None, "sha256": digest, "bytes": None, "records": records,
            **table}


def execute(prep: PreparedRun, out_dir: str | Path, *, progress: bool = True, command: str | None = None,
            overwrite: bool = False) -> RunRecord:
    """Compute a prepared run and write its run directory ``out_dir`` (claimed, staged and moved into place)."""
    from cteimpact.rd.adapters._capture import reuse_reference_calls

    target = Path(out_dir)
    with StagedRun(target, overwrite=overwrite) as staged:
        try:
            # the design, the equity analysis and the surrogate index fit some outcomes on the same sample: each
            # such fit is computed once in this run (a re-run, such as a verification, computes it again)
            with reuse_reference_calls():
                record = _compute_into(prep, staged.staging, target, progress=progress, command=command)
        except OSError as exc:  # a full disk or a folder that became unwritable while the run was written
            written = Path(str(exc.filename)) if exc.filename else None
            if written is None or staged.staging not in written.parents:
                raise
            raise RunDirectoryError(f"cannot write the run directory '{target}': {exc.strerror or exc} (writing "
                                    f"{written.relative_to(staged.staging).as_posix()})") from None
        staged.commit()
    return RunRecord(target, record.results, record.manifest)


def _compute_into(prep: PreparedRun, staging: Path, target: Path, *, progress: bool,
                  command: str | None) -> RunRecord:
    spec = prep.spec
    steps = Progress(4 + (prep.contract is not None) + (spec.surrogate is not None) + (spec.equity is not None),
                     enabled=progress)
    seed = spec.study.seed
    with steps.step(f"loading {prep.data_name}"):
        plan = plan_engine(prep)
        if plan is None:
            read, data, ids, pulled = _load(prep)
            inputs = input_entries(prep, target, pulled)
            if pulled is not None:
                steps.note(f"{pulled.rows_pulled:,} rows pulled from {prep.source.backend}")  # type: ignore[union-attr]
            steps.note(f"{data.flow.rows_read:,} rows read, {data.flow.rows_used:,} kept after restrictions")
            if spec.surrogate is not None:  # its training sample and arms refused before any estimation
                check_surrogate_inputs(spec.surrogate, spec.design, read, data)
            _check_priority_groups(prep, data)
        else:  # nothing pulled: the design runs in the engine (engine_design: no surrogate, equity or groups)
            ids = set()
            inputs = input_entries(prep, target, None, engine_rows=plan.table_rows)
            steps.note(plan.note)
    with steps.step(f"estimating the {spec.design.type.upper()} design"):
        if plan is None:
            design = run_design(spec.design, data, seed=seed, min_cell=spec.privacy.min_cell)
            flow = data.flow
        else:
            design, flow = did_in_engine(prep, plan, seed=seed, min_cell=spec.privacy.min_cell), plan.flow
    surrogate = None
    if spec.surrogate is not None:
        with steps.step(f"projecting '{spec.surrogate.outcome}' through the surrogate index"):
            surrogate = run_surrogate(spec.surrogate, spec.design, read, data, seed=seed,
                                      min_cell=spec.privacy.min_cell)
    equity = None
    if spec.equity is not None:
        with steps.step("estimating effects by subgroup and access gaps (equity)"):
            from cteimpact.equity import run_equity

            equity = run_equity(spec.equity, spec.design, data, seed=seed, min_cell=spec.privacy.min_cell,
                                access_data=read)
    pricing = None
    if prep.contract is not None:
        with steps.step(f"pricing the contract ({prep.spec.pricing.draws:,} Monte Carlo draws)"):  # type: ignore[union-attr]
            pricing = _price(prep, design, seed, surrogate)
    out = RunDirectory(staging)
    with steps.step(f"writing {target}"):
        results = build_results(prep, flow, design, pricing, surrogate, equity)
        out.write_text("results.json", dumps_json(results))
        tables = {**design.tables, **(surrogate.tables if surrogate is not None else {}),
                  **(equity.tables if equity is not None else {})}
        for rel, frame in tables.items():
            out.write_table(rel, frame)
        for rel, fig in {**design.figures, **(equity.figures if equity is not None else {})}.items():
            out.write_figure(rel, fig)
        if pricing is not None:
            out.write_table("tables/pricing.csv", pricing.tidy())
            for kind in ("distribution", "curve", "payors"):
                out.write_figure(f"figures/pricing-{kind}.png", pricing.plot(kind))
    with steps.step("checking outputs for student identifiers"):
        hits = find_identifiers([out.root / r for r in out.written], ids)
        if hits:
            raise IdentifierLeakError(
                f"student identifiers were found in {len(hits)} output file(s) "
                f"({', '.join(sorted(Path(h).name for h in hits))}); nothing was written")
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "study": prep.spec.study.name,
        "command": command or f"cteimpact run {prep.spec_path.name} --out {target.name}",
        "run_date": run_date(),
        "specification": prep.resolved,
        "spec_sha256": prep.spec_sha256,
        "seed": {"master": seed, "derived": results["seeds"]},
        "inputs": inputs,
        "environment": environment_versions(),
        "code": code_version(),
        "outputs": out.describe(),
    }
    out.write_text("manifest.json", dumps_json(manifest))
    return RunRecord(staging, results, manifest)

"""Analysis specifications (``analyses/*.toml``): validated before any computation.

A specification names the study and its master seed, the data file and its column mapping (the student-data
contract), sample restrictions, the design (RD or DiD) with its options, the pricing contract and the privacy rule.
Every error names the key path and, where there is a closed set, the allowed values, in one line (see
:mod:`cteimpact.config.toml`: numbers are never read from text, ``inf`` and ``nan`` are refused). A specification that
prices a contract is checked against the machine's memory for its Monte Carlo draws when it is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cteimpact.backends.connection import BackendName, check_no_password
from cteimpact.config.declared import RETIRED, OptionsSection, spec_section, unknown_option_message
from cteimpact.config.paths import resolve_inside
from cteimpact.config.restriction_text import RestrictionText
from cteimpact.config.toml import ConfigModel, read_toml, validate
from cteimpact.data.columns import ColumnMap
from cteimpact.did.options import DiDEstimation, DiDInference
from cteimpact.equity.spec import EquitySpec
from cteimpact.errors import CteImpactError
from cteimpact.provenance.suppression import DEFAULT_MIN_CELL
from cteimpact.rd.diagnostics import DiagnosticOptions
from cteimpact.rd.estimator import LocalRandomizationOptions
from cteimpact.rd.options import RDOptions
from cteimpact.surrogate.spec import SurrogateSpec

__all__ = ["SPEC_SCHEMA", "AnalysisSpec", "DiDDesignSpec", "RDDesignSpec", "load_spec", "parse_spec"]

SPEC_SCHEMA = "cteimpact.analysis/1"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Strict(ConfigModel, BaseModel):  # BaseModel named for linters: the fields' list defaults are copied
    """Unknown keys are errors; numbers, switches and text must have their TOML type (no conversion)."""


class StudySpec(_Strict):
    """``[study]``."""

    name: str
    """Short identifier (lower case letters, digits, ``-`` and ``_``), used for output names."""
    title: str
    description: str = ""
    seed: Annotated[int, Field(ge=0)]
    """Master seed: every random stream of the run is derived from it."""

    @field_validator("name")
    @classmethod
    def _v_name(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"'{v}' must be lower-case letters, digits, '-' or '_' (at most 64 characters)")
        return v


class DataSpec(_Strict):
    """``[data]``: the evaluation data and its column mapping."""

    path: str | None = None
    """Data file (CSV, Parquet, or a DuckDB database ``.duckdb``); a relative path is resolved against the data root
    (``--data-root``, default the specification's folder). Omitted for a table on a server (``backend``)."""
    columns: dict[str, str]
    """Contract role → column (see :data:`cteimpact.data.roles.ROLES`)."""
    extra_columns: list[str] = []
    """Further columns to read (covariates outside the contract)."""
    key: list[str] | None = None
    """Roles whose combination must be unique (default: the contract's, student and year)."""
    backend: BackendName | None = None
    """The engine that holds the data (:mod:`cteimpact.backends`): ``"duckdb"`` (``path`` is then the database
    file; also implied by a ``.duckdb`` path), ``"spark"`` (a Parquet ``path`` or a ``table`` of Spark's catalog;
    ``connection`` is then the master, default ``local[2]``), or a server reached through Ibis (``"postgres"``...).
    Default: the file is read by pandas."""
    table: str | None = None
    """The table to read (may be omitted when the database holds exactly one)."""
    connection: str | None = None
    """A server's connection string (an Ibis URL) without credentials; a string holding a password is refused."""
    connection_env: str | None = None
    """The environment variable holding the server's connection string (credentials stay out of the file)."""
    max_rows_pulled: Annotated[int, Field(ge=1)] | None = None
    """The most rows a run may pull from the engine to this machine (default
    :data:`cteimpact.backends.DEFAULT_MAX_ROWS_PULLED`)."""
    duckdb_above_mb: Annotated[float, Field(ge=0)] | None = None
    """A CSV or Parquet file larger than this (MB) is read through DuckDB: restrictions and counts run there and only
    the study sample is loaded (default :data:`cteimpact.backends.location.DUCKDB_ABOVE_MB`; 0: always)."""

    @field_validator("columns")
    @classmethod
    def _v_columns(cls, v: dict[str, str]) -> dict[str, str]:
        try:
            ColumnMap(v)
        except CteImpactError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("connection")
    @classmethod
    def _v_connection(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                check_no_password(v, where="connection")
            except CteImpactError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _v_location(self) -> DataSpec:
        server = self.backend not in (None, "duckdb", "spark")
        if self.path is None and not server and not (self.backend == "spark" and self.table is not None):
            raise ValueError("give 'path' (the data file, or a DuckDB database with 'table'), or 'backend' with "
                             "'connection_env' for a table on a server")
        if server and self.path is not None:
            raise ValueError(f"backend '{self.backend}' reads a table on a server: give 'table' and "
                             "'connection_env', not 'path'")
        if self.connection is not None and self.connection_env is not None:
            raise ValueError("give 'connection' or 'connection_env', not both")
        if (self.connection is not None or self.connection_env is not None) and not (server or
                                                                                      self.backend == "spark"):
            raise ValueError("'connection' and 'connection_env' name a server; set 'backend' (a DuckDB database is "
                             "its 'path')")
        return self

    def resolved_keys(self) -> set[str]:
        """The backend keys left out of the resolved specification when not set (so that the hash of a
        specification without them does not change)."""
        return {k for k in _BACKEND_KEYS if getattr(self, k) is None}


_BACKEND_KEYS = ("backend", "table", "connection", "connection_env", "max_rows_pulled", "duckdb_above_mb")


class SampleSpec(_Strict):
    """``[sample]``: restrictions applied in order, each recorded in the sample flow.

    Each restriction is written in the restriction language of :mod:`cteimpact.data.restriction_language`; its
    syntax is checked here, when the specification is read, so a malformed one fails before any data are loaded.
    """

    restrictions: list[RestrictionText] = []


class PrivacySpec(_Strict):
    """``[privacy]``."""

    min_cell: Annotated[int, Field(ge=1)] = DEFAULT_MIN_CELL
    """Counts and means based on fewer students are suppressed in every output."""


if TYPE_CHECKING:
    class RDEstimationSpec(OptionsSection):
        """``[design.estimation]``: rdrobust's options, declared once in :class:`cteimpact.rd.options.RDOptions`."""
else:
    RDEstimationSpec = spec_section(RDOptions, "RDEstimationSpec", where="[design.estimation]")


if TYPE_CHECKING:
    class RDDiagnosticsSpec(OptionsSection):
        """``[design.diagnostics]``."""

        enabled: bool = True

    class LocalRandomizationSpec(OptionsSection):
        """``[design.local_randomization]``."""

        enabled: bool = True
else:
    class RDDiagnosticsSpec(spec_section(DiagnosticOptions, "RDDiagnosticsOptions", where="[design.diagnostics]")):
        """``[design.diagnostics]``: whether to run the checks, and their options, declared once in
        :class:`cteimpact.rd.diagnostics.DiagnosticOptions`."""

        enabled: bool = True

    class LocalRandomizationSpec(spec_section(LocalRandomizationOptions, "LocalRandomizationOptions",
                                              where="[design.local_randomization]", exclude=("seed",))):
        """``[design.local_randomization]``: whether to run it, and its options, declared once in
        :class:`cteimpact.rd.estimator.LocalRandomizationOptions` (the seed derives from the study's)."""

        enabled: bool = True


def _refuse_retired(data: Any, section: str) -> Any:
    """A name that means something else in ``[design]`` (``alpha``: the confidence level is ``level``, a key of
    ``section``) is refused with the message every interface gives (:data:`cteimpact.config.declared.RETIRED`)."""
    if isinstance(data, Mapping):
        for old, (new, _, _) in RETIRED.items():
            if old in data:
                raise ValueError(unknown_option_message(old, [], where="[design]", elsewhere={f"[{section}]": [new]}))
    return data


class RDDesignSpec(_Strict):
    """``[design]`` with ``type = "rd"``: regression discontinuity."""

    type: Literal["rd"]
    outcomes: Annotated[list[str], Field(min_length=1)]
    running: str
    cutoff: float | None = None
    cutoff_column: str | None = None
    fuzzy: str | None = None
    cluster: str | None = None
    assignment_unit: str | None = None
    covariates: list[str] = []
    subgroups: list[str] = []
    baseline_covariates: list[str] = []
    donut: Annotated[float, Field(ge=0)] = 0.0
    estimation: RDEstimationSpec = RDEstimationSpec()
    diagnostics: RDDiagnosticsSpec = RDDiagnosticsSpec()
    local_randomization: LocalRandomizationSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _v_renamed(cls, data: Any) -> Any:
        return _refuse_retired(data, "design.estimation")

    @model_validator(mode="after")
    def _v_cutoff(self) -> RDDesignSpec:
        if (self.cutoff is None) == (self.cutoff_column is None):
            raise ValueError("give exactly one of 'cutoff' (a number) and 'cutoff_column' (a column name)")
        return self

    def columns_used(self) -> list[str]:
        cols = [*self.outcomes, self.running, self.cutoff_column, self.fuzzy, self.cluster, self.assignment_unit,
                *self.covariates, *self.subgroups, *self.baseline_covariates]
        return list(dict.fromkeys(c for c in cols if c))

    def labels(self) -> list[str]:
        """Labels of the estimates the design will produce that pricing may use: the primary estimate of each
        outcome and, for a fuzzy design, its reduced form (intention to treat) and first stage."""
        labels = list(self.outcomes)
        if self.fuzzy:
            labels += [f"{y}[{part}]" for y in self.outcomes for part in ("reduced_form", "first_stage")]
        return labels


DID_PIPELINE_SET = ("seed", "wild_labels")
"""Inference options a specification does not set: the bootstrap seed is derived from the study's seed, and the wild
bootstrap covers the estimates pricing may use."""

if TYPE_CHECKING:
    class DiDInferenceSpec(OptionsSection):
        """``[design.inference]``: declared once in :class:`cteimpact.did.options.DiDInference`."""
else:
    DiDInferenceSpec = spec_section(DiDInference, "DiDInferenceSpec", where="[design.inference]",
                                    exclude=DID_PIPELINE_SET)


class DiDComparisonsSpec(_Strict):
    """``[design.comparisons]``: estimators and diagnostics reported beside Callaway–Sant'Anna."""

    twfe: bool = True
    bacon: bool = True
    sun_abraham: bool = True
    pretrend_power: bool = True
    effect_sizes: bool = True
    honest: list[Literal["relative_magnitude", "smoothness"]] = ["relative_magnitude", "smoothness"]
    honest_target: Literal["first", "average"] = "average"


if TYPE_CHECKING:
    class _DiDEstimationKeys(OptionsSection):
        """The estimation keys of a DiD ``[design]``."""

        def to_options(self) -> DiDEstimation: ...
else:
    _DiDEstimationKeys = spec_section(DiDEstimation, "DiDEstimationKeys", where="[design]")


class DiDDesignSpec(_DiDEstimationKeys, _Strict):
    """``[design]`` with ``type = "did"``: staggered difference-in-differences (Callaway & Sant'Anna).

    Its estimation keys (``control``, ``method``, ``base_period``, ``anticipation``, ``panel``, ``allow_unbalanced``,
    ``trim_level``) are declared once, in :class:`cteimpact.did.options.DiDEstimation` (``to_options()`` gives
    them); the keys below name the data's columns and the event-time window."""

    type: Literal["did"]
    outcome: str
    time: str
    cohort: str
    """First treated period of each unit (0 = never treated); the same name as in Python and on the command line."""
    unit: str | None = None
    """Unit identifier (panel data); omit it with ``panel = false`` for repeated cross-sections."""
    cluster: str | None = None
    covariates: list[str] = []
    weights: str | None = None
    students: str | None = None
    """Column with the number of students each row describes (aggregated data, e.g. a district × cohort panel);
    the small-cell rule counts the students behind each estimate with it. Default: each row is one student."""
    outcome_sd: str | None = None
    """Aggregated rows: column with the student-level standard deviation of the outcome within each row. Effect
    sizes, baseline equivalence and descriptive statistics then describe students; without it (and with
    ``students``) they are on the spread of unit means and recorded as not comparable with student-level ones."""
    outcome_n: str | None = None
    """Column with the number of students behind each row's outcome mean and standard deviation (e.g. those with
    the outcome observed); default: ``students``. Needs ``outcome_sd``."""
    balance_e: Annotated[int, Field(ge=0)] | None = None
    min_e: float | None = None
    max_e: float | None = None
    inference: DiDInferenceSpec = DiDInferenceSpec()
    comparisons: DiDComparisonsSpec = DiDComparisonsSpec()

    @model_validator(mode="before")
    @classmethod
    def _v_renamed(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "group" in data and "cohort" not in data:
            raise ValueError("'group' is called 'cohort' (the first treated period of each unit), as in Python and "
                             "on the command line: write cohort = \"...\" in [design]")
        return _refuse_retired(data, "design.inference")

    @model_validator(mode="after")
    def _v_unit(self) -> DiDDesignSpec:
        if self.to_options().panel and self.unit is None:
            raise ValueError("a panel needs 'unit'; for repeated cross-sections set panel = false")
        return self

    def columns_used(self) -> list[str]:
        cols = [self.outcome, self.time, self.cohort, self.unit, self.cluster, self.weights, self.students,
                self.outcome_sd, self.outcome_n, *self.covariates]
        return list(dict.fromkeys(c for c in cols if c))

    def labels(self) -> list[str]:
        """Labels pricing may use: the simple ATT (labelled with the outcome) and the overall aggregates."""
        y = self.outcome
        return [y, *(f"{y}[{key}=overall]" for key in ("group", "event", "calendar"))]


Design = Annotated[RDDesignSpec | DiDDesignSpec, Field(discriminator="type")]


class PricingSpec(_Strict):
    """``[pricing]``: the Pay-for-Success contract priced on the design's estimates."""

    contract: str | dict[str, Any]
    """A contract TOML file (relative to the specification's folder), ``example:NAME``, or an inline table."""
    draws: Annotated[int, Field(ge=1000)] = 100_000
    """Monte Carlo draws; the most that fit in the machine's memory is checked when the specification is loaded
    (:func:`cteimpact.pricing.check_draws_memory`)."""
    labels: dict[str, str] = {}
    """Contract estimate label → results label, where they differ."""


class ReportSpec(_Strict):
    """``[report]``: whom the report names, and report templates of the study's own."""

    authors: list[str] = []
    organisation: str | None = None
    templates: str | None = None
    """A folder of report templates (``*.qmd.j2``), relative to the specification's folder and inside it; read by
    ``cteimpact report`` (see :mod:`cteimpact.reporting.templating`)."""


class AnalysisSpec(_Strict):
    """A complete analysis specification."""

    schema_: Literal["cteimpact.analysis/1"] = Field(default="cteimpact.analysis/1", alias="schema")
    study: StudySpec
    data: DataSpec
    sample: SampleSpec = SampleSpec()
    design: Design
    pricing: PricingSpec | None = None
    privacy: PrivacySpec = PrivacySpec()
    report: ReportSpec | None = None
    surrogate: SurrogateSpec | None = None
    """``[surrogate]``: the long-run outcome projected from interim outcomes (:mod:`cteimpact.surrogate.spec`)."""
    equity: EquitySpec | None = None
    """``[equity]``: effects by protected subgroup, difference tests and access gaps (:mod:`cteimpact.equity.spec`)."""

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _v_surrogate(self) -> AnalysisSpec:
        if self.surrogate is not None:
            clash = sorted(set(self.surrogate_labels()) & set(self.design.labels()))
            if clash:
                raise ValueError(f"[surrogate] label: the projected estimate {', '.join(repr(c) for c in clash)} is "
                                 "also an estimate of the design; choose another label")
        return self

    def surrogate_labels(self) -> list[str]:
        """Labels of the projected estimates ``[surrogate]`` adds (none without it): its label and, for a fuzzy RD,
        ``<label>[reduced_form]`` (the intention-to-treat effect, like the RD's own labels)."""
        if self.surrogate is None:
            return []
        label = self.surrogate.projected_label
        fuzzy = isinstance(self.design, RDDesignSpec) and self.design.fuzzy
        return [label, f"{label}[reduced_form]"] if fuzzy else [label]

    def resolved(self) -> dict[str, Any]:
        """The fully resolved specification as plain data (defaults filled in; ``report``, ``surrogate`` and
        ``equity`` only when given, so the hash of a specification without them does not change)."""
        exclude: dict[str, Any] = {k: True for k in ("report", "surrogate", "equity") if getattr(self, k) is None}
        unset = self.data.resolved_keys()
        if unset:
            exclude["data"] = dict.fromkeys(unset, True)
        return self.model_dump(mode="json", by_alias=True, exclude=exclude or None)


def parse_spec(data: Mapping[str, Any], *, source: str = "analysis specification") -> AnalysisSpec:
    """Validate a parsed specification; raise :class:`SpecificationError` with one line naming the key.

    ``source`` names the specification in messages (``"analysis specification 'study.toml'"``).
    """
    return validate(AnalysisSpec, data, source=source)


def load_spec(path: str | Path) -> AnalysisSpec:
    """Read and validate a TOML analysis specification (UTF-8, with or without a byte-order mark).

    A pricing contract it names (a file relative to the specification's folder, ``example:NAME`` or an inline
    table) is read too, and its Monte Carlo draws are checked against the memory available
    (:func:`cteimpact.pricing.check_draws_memory`), so that a run fails here rather than after the estimation.
    """
    path = Path(path)
    spec = parse_spec(read_toml(path, what="analysis specification"),
                      source=f"analysis specification '{path.name}'")
    if spec.pricing is not None:
        _check_pricing(spec.pricing, path.resolve().parent)
    return spec


def _check_pricing(pricing: PricingSpec, spec_dir: Path) -> None:
    """Memory of the pricing draws, from the contract's sizes. A contract file that does not exist is left to the
    run, which reports it with the folder it looked in."""
    from cteimpact.pricing import check_draws_memory, example_contract, load_contract

    src = pricing.contract
    if isinstance(src, dict):
        contract = load_contract(src)
    elif src.startswith("example:"):
        contract = load_contract(example_contract(src.removeprefix("example:")))
    else:
        path = resolve_inside(spec_dir, src, "pricing.contract")  # a specification names no file outside its folder
        if not path.is_file():
            return
        contract = load_contract(path)
    check_draws_memory(contract, pricing.draws)

"""The validator's certificate (``certificate.json``, written by ``cteimpact verify``): the verdict, the inputs as
received, the headline values and the payment due as re-computed, every value compared, the tolerance policy, the
two environments and the attestation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cteimpact.records._base import Leaf, Num, Record, RecordMap, Text
from cteimpact.records.estimates import Headline, LabelledEstimate
from cteimpact.records.manifest import Code, Environment, Seeds, file_name
from cteimpact.records.pricing import Threshold
from cteimpact.records.study import Study

__all__ = [
    "Certificate",
    "CertificateInput",
    "EnvironmentComparison",
    "HeadlineRow",
    "PaymentDue",
    "Recomputation",
    "RecomputationRow",
    "Software",
    "TolerancePolicy",
    "Validator",
]


@dataclass(frozen=True)
class CertificateInput(Record):
    """An input file as received by the verifier, re-hashed against the run's manifest."""

    role: Text | None = None
    path: Text | None = None
    records: Num | None = None
    bytes: Num | None = None
    sha256_recorded: Text | None = None
    sha256_received: Text | None = None
    status: Text | None = None
    """``unchanged``, ``changed`` or ``missing``."""

    @property
    def file_name(self) -> str:
        """The file's name without its folders."""
        return file_name(self.path)


@dataclass(frozen=True)
class CertificateSpec(Record):
    sha256: Text | None = None
    seed: Seeds | None = None


@dataclass(frozen=True)
class HeadlineRow(LabelledEstimate):
    """A headline estimate as re-computed."""

    term: Text | None = None


@dataclass(frozen=True)
class PaymentDue(Record):
    currency: Text | None = None
    total_at_estimate: Num | None = None
    npv_at_estimate: Num | None = None
    by_year_at_estimate: tuple[Num, ...] = ()
    by_payor_at_estimate: Mapping[str, Num | None] = field(default_factory=RecordMap)
    by_payor_npv_at_estimate: Mapping[str, Num | None] = field(default_factory=RecordMap)


@dataclass(frozen=True)
class RecomputationRow(Record):
    """One value of results.json: as recorded, as re-computed, and whether they match."""

    path: Text
    recorded: Leaf = None  # type: ignore[assignment]
    recomputed: Leaf = None  # type: ignore[assignment]
    difference: Num | None = None
    rtol: Num | None = None
    atol: Num | None = None
    match: bool | None = None
    note: Text | None = None


@dataclass(frozen=True)
class Recomputation(Record):
    compared: Num | None = None
    matched: Num | None = None
    mismatched: Num | None = None
    rows: tuple[RecomputationRow, ...] = ()


@dataclass(frozen=True)
class Tolerance(Record):
    rtol: Num | None = None
    atol: Num | None = None


@dataclass(frozen=True)
class ToleranceRule(Record):
    pattern: Text | None = None
    rtol: Num | None = None
    atol: Num | None = None
    reason: Text | None = None


@dataclass(frozen=True)
class TolerancePolicy(Record):
    rule: Text | None = None
    default: Tolerance | None = None
    rules: tuple[ToleranceRule, ...] = ()


@dataclass(frozen=True)
class EnvironmentComparison(Record):
    """Whether the verifier re-computed in the evaluator's environment (``same``) or in another one, accepted with
    the ``differences`` listed."""

    same: bool | None = None
    accepted: bool | None = None
    differences: tuple[Any, ...] = ()
    comparison: Text | None = None


@dataclass(frozen=True)
class Software(Record):
    evaluator: Code | None = None
    verifier: Code | None = None
    evaluator_environment: Environment | None = None
    verifier_environment: Environment | None = None


@dataclass(frozen=True)
class Validator(Record):
    """Who verified the run (from ``cteimpact verify --validator`` or its configuration)."""

    name: Text | None = None
    organisation: Text | None = None


@dataclass(frozen=True)
class Certificate(Record):
    """``certificate.json``."""

    schema: Text | None = None
    study: Study | None = None
    run_directory: Text | None = None
    verdict: Text | None = None
    """``verified`` or ``not verified``."""
    reasons: tuple[Text, ...] = ()
    scope: Text | None = None
    inputs: tuple[CertificateInput, ...] = ()
    outputs_compared: Num | None = None
    outputs_changed: tuple[Text, ...] = ()
    specification: CertificateSpec | None = None
    headline: tuple[HeadlineRow, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    payment_due: PaymentDue | None = None
    recomputation: Recomputation | None = None
    tolerance_policy: TolerancePolicy | None = None
    environment: EnvironmentComparison | None = None
    software: Software | None = None
    attestation: Text | None = None
    validator: Validator | None = None
    verified_on: Text | None = None
    """When the verification was made (``YYYY-MM-DD``)."""
    headline_estimate: Headline | None = None
    """The re-computed results' headline estimate."""

    @property
    def verified(self) -> bool:
        return self.verdict == "verified"

    def row(self, path: str) -> RecomputationRow | None:
        """The re-computation row of the value at ``path`` in results.json (``design.estimates[0].estimate``)."""
        rows = self.recomputation.rows if self.recomputation else ()
        index = self.__dict__.get("_rows")
        if index is None:
            index = {str(r.path): r for r in rows}
            object.__setattr__(self, "_rows", index)
        return index.get(path)

    @property
    def mismatches(self) -> list[RecomputationRow]:
        return [r for r in (self.recomputation.rows if self.recomputation else ()) if not r.match]

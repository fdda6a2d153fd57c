"""A run's results (``results.json``) and the three records of a run directory together.

>>> from cteimpact.records import RunRecords
>>> records = RunRecords.from_dicts(results, manifest, certificate)        # doctest: +SKIP
>>> records.results.estimate("dropout").estimate                          # doctest: +SKIP
-0.0755018803492107
>>> _.path                                                                  # doctest: +SKIP
'results.json:design.estimates[0].estimate'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from cteimpact.records._base import Num, Record, RecordError, Text, read_record
from cteimpact.records.certificate import Certificate
from cteimpact.records.did import DiDDetails, DiDExtra, DiDOptions
from cteimpact.records.equity import Equity
from cteimpact.records.estimates import EstimateRow, Headline
from cteimpact.records.flow import SampleFlow
from cteimpact.records.manifest import Manifest
from cteimpact.records.pricing import Pricing
from cteimpact.records.rd import RDDetails, RDOptions
from cteimpact.records.study import Privacy, Study
from cteimpact.records.surrogate import Surrogate
from cteimpact.records.synthetic import DataInfo, Truth

__all__ = ["Design", "Results", "RunRecords"]


@dataclass(frozen=True)
class _DesignBase(Record):
    """The part of ``design`` read the same way for every design type."""

    type: Text
    estimator: Text | None = None
    estimates: tuple[EstimateRow, ...] = ()
    sample_flow: SampleFlow | None = None


@dataclass(frozen=True)
class Design(_DesignBase):
    """``design``: the estimates of the run and the design-specific record behind them.

    ``details``, ``options`` and ``extra`` are read as :class:`RDDetails`/:class:`RDOptions` for ``type = "rd"`` and
    :class:`DiDDetails`/:class:`DiDOptions`/:class:`DiDExtra` for ``type = "did"``.
    """

    details: RDDetails | DiDDetails | None = None
    options: RDOptions | DiDOptions | None = None
    extra: DiDExtra | None = None

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "") -> Self:
        base = _DesignBase.from_dict(data, path=path)
        kind = str(base.type)
        if kind == "rd":
            details: Any = RDDetails.from_dict(data.get("details") or {}, path=f"{path}.details")
            options: Any = RDOptions.from_dict(data.get("options") or {}, path=f"{path}.options")
            extra = None
        elif kind == "did":
            details = DiDDetails.from_dict(data.get("details") or {}, path=f"{path}.details")
            options = DiDOptions.from_dict(data.get("options") or {}, path=f"{path}.options")
            extra = DiDExtra.from_dict(data.get("extra") or {}, path=f"{path}.extra")
        else:
            raise RecordError(f"{path}.type is {kind!r}; this version of cteimpact reports 'rd' and 'did' designs",
                              path=f"{path}.type")
        return cls(type=base.type, estimator=base.estimator, estimates=base.estimates, sample_flow=base.sample_flow,
                   details=details, options=options, extra=extra, where=path)


@dataclass(frozen=True)
class Results(Record):
    """``results.json``."""

    schema: Text | None = None
    study: Study | None = None
    spec_sha256: Text | None = None
    seed: Num | None = None
    privacy: Privacy | None = None
    sample_flow: SampleFlow | None = None
    design: Design | None = None
    pricing: Pricing | None = None
    headline: Headline | None = None
    """The one estimate every output shows (the contract's, else the first outcome's primary estimate)."""
    data: DataInfo | None = None
    truth: Truth | None = None
    """Estimates against the true effects of synthetic data (None for real data)."""
    surrogate: Surrogate | None = None
    """The surrogate index and the long-run projection (None without ``[surrogate]``)."""
    equity: Equity | None = None
    """Effects by protected subgroup, their tests and the access gaps (None without ``[equity]``)."""

    @property
    def synthetic(self) -> bool:
        """Whether the run analysed synthetic data (the reports then say so on every page)."""
        return bool(self.data is not None and self.data.synthetic)

    def estimate(self, label: str) -> EstimateRow | None:
        """The estimate row labelled ``label`` (the first, if several): the design's, else a surrogate projection's
        (``earnings_age26[surrogate]``); None if neither has it."""
        found = None if self.design is None else next((e for e in self.design.estimates if e.label == label), None)
        if found is None and self.surrogate is not None:
            found = self.surrogate.estimate(label)
        return found

    @property
    def design_type(self) -> str:
        return str(self.design.type) if self.design is not None else ""

    @property
    def rd(self) -> RDDetails | None:
        details = self.design.details if self.design is not None else None
        return details if isinstance(details, RDDetails) else None

    @property
    def did(self) -> DiDDetails | None:
        details = self.design.details if self.design is not None else None
        return details if isinstance(details, DiDDetails) else None

    @property
    def outcomes(self) -> list[Text]:
        """The design's outcomes, in the specification's order."""
        if self.design is None:
            return []
        options = self.design.options
        if isinstance(options, RDOptions):
            found = list(options.outcomes) or (list(self.rd.outcomes) if self.rd else [])
            if found:
                return found
        if isinstance(options, DiDOptions) and options.outcome:
            return [options.outcome]
        seen: dict[str, Text] = {}
        for e in self.design.estimates:
            if e.outcome and str(e.outcome) not in seen:
                seen[str(e.outcome)] = e.outcome
        return list(seen.values())

    @property
    def min_cell(self) -> int:
        """The privacy rule's smallest cell (10 when the run does not say)."""
        value = self.privacy.min_cell if self.privacy else None
        return int(value) if value is not None and value >= 1 and value == int(value) else 10


@dataclass(frozen=True)
class RunRecords:
    """The records of one run directory, typed."""

    results: Results
    manifest: Manifest
    certificate: Certificate | None = None

    @classmethod
    def from_dicts(cls, results: Mapping[str, Any], manifest: Mapping[str, Any],
                   certificate: Mapping[str, Any] | None = None) -> RunRecords:
        """Read the parsed ``results.json``, ``manifest.json`` and (optional) ``certificate.json``.

        Raises
        ------
        RecordError
            A value has a type the run never writes where it is; the message names its JSON path.
        """
        return cls(results=read_record(Results, results, "results.json"),
                   manifest=read_record(Manifest, manifest, "manifest.json"),
                   certificate=None if certificate is None else read_record(Certificate, certificate,
                                                                          "certificate.json"))

"""The results contract shared by every design (RD, DiD) and consumed by pricing and reporting."""

from cteimpact.results.contract import (
    RESULTS_SCHEMA,
    ExternalEstimate,
    HasSamplingDistribution,
    ImpactResults,
    ResultsRecord,
)
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import CI_TYPES, TIDY_COLUMNS, CIType, EffectEstimate
from cteimpact.results.serialization import dumps_json, to_jsonable, write_json

__all__ = [
    "CI_TYPES",
    "RESULTS_SCHEMA",
    "TIDY_COLUMNS",
    "CIType",
    "EffectEstimate",
    "ExternalEstimate",
    "HasSamplingDistribution",
    "ImpactResults",
    "ResultsRecord",
    "SamplingDistribution",
    "dumps_json",
    "to_jsonable",
    "write_json",
]

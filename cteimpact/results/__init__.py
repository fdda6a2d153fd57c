"""The results contract shared by every design (RD, DiD) and consumed by pricing and reporting."""

from cteimpact.results.compare import ComparisonTable, compare
from cteimpact.results.contract import (
    RESULTS_SCHEMA,
    ExternalEstimate,
    HasSamplingDistribution,
    ImpactResults,
    ResultsRecord,
)
from cteimpact.results.distribution import SamplingDistribution
from cteimpact.results.estimate import CI_TYPES, TIDY_COLUMNS, CIType, EffectEstimate
from cteimpact.results.intervals import IntervalLevelError
from cteimpact.results.serialization import dumps_json, to_jsonable, write_json

__all__ = [
    "CI_TYPES",
    "RESULTS_SCHEMA",
    "TIDY_COLUMNS",
    "CIType",
    "ComparisonTable",
    "EffectEstimate",
    "ExternalEstimate",
    "HasSamplingDistribution",
    "ImpactResults",
    "IntervalLevelError",
    "ResultsRecord",
    "SamplingDistribution",
    "compare",
    "dumps_json",
    "to_jsonable",
    "write_json",
]

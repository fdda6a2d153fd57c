"""Provenance: hashes and record counts, environment versions, record comparison, privacy rules
(small-cell suppression, identifier guard)."""

from cteimpact.provenance.compare import Comparison, ComparisonRow, TolerancePolicy, ToleranceRule, compare_records
from cteimpact.provenance.environment import code_version, environment_versions
from cteimpact.provenance.hashing import count_records, describe_file, sha256_bytes, sha256_file
from cteimpact.provenance.privacy import IdentifierLeakError, find_identifiers
from cteimpact.provenance.suppression import (
    DEFAULT_MIN_CELL,
    SUPPRESSION_MARKER,
    SuppressedTable,
    small_cell_mask,
    suppress_small_cells,
    suppression_note,
)

__all__ = [
    "DEFAULT_MIN_CELL",
    "SUPPRESSION_MARKER",
    "Comparison",
    "ComparisonRow",
    "IdentifierLeakError",
    "SuppressedTable",
    "TolerancePolicy",
    "ToleranceRule",
    "code_version",
    "compare_records",
    "count_records",
    "describe_file",
    "environment_versions",
    "find_identifiers",
    "sha256_bytes",
    "sha256_file",
    "small_cell_mask",
    "suppress_small_cells",
    "suppression_note",
]

"""Declarative analyses: specifications, runs with provenance, independent verification and certificates.

``run_analysis(spec, out_dir)`` runs ``analyses/*.toml``; ``verify_run(run_dir)`` re-hashes the inputs, re-runs the
recorded specification and compares every number; ``build_certificate(verification)`` is the validator's record.

The names are imported on first use, so that importing one light module of the package (the shipped studies, the
validator of a certificate) does not import every estimator, matplotlib and the reporting (``cteimpact demo``
imports only those in its own process, while its workers import the rest).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cteimpact.pipeline.certificate import build_certificate
    from cteimpact.pipeline.run import prepare_run, run_analysis
    from cteimpact.pipeline.spec import AnalysisSpec, load_spec, parse_spec
    from cteimpact.pipeline.studies import SHIPPED_STUDIES, shipped_study
    from cteimpact.pipeline.verify import verify_run

__all__ = [
    "SHIPPED_STUDIES",
    "AnalysisSpec",
    "build_certificate",
    "load_spec",
    "parse_spec",
    "prepare_run",
    "run_analysis",
    "shipped_study",
    "verify_run",
]

_LAZY = {
    "SHIPPED_STUDIES": "cteimpact.pipeline.studies",
    "AnalysisSpec": "cteimpact.pipeline.spec",
    "build_certificate": "cteimpact.pipeline.certificate",
    "load_spec": "cteimpact.pipeline.spec",
    "parse_spec": "cteimpact.pipeline.spec",
    "prepare_run": "cteimpact.pipeline.run",
    "run_analysis": "cteimpact.pipeline.run",
    "shipped_study": "cteimpact.pipeline.studies",
    "verify_run": "cteimpact.pipeline.verify",
}
"""Exported name → module defining it (imported when the name is first used)."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:  # not an exported name: a submodule not imported yet, or a mistake
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

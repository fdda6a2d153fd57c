"""Declarative analyses: specifications, runs with provenance, independent verification and certificates.

``run_analysis(spec, out_dir)`` runs ``analyses/*.toml``; ``verify_run(run_dir)`` re-hashes the inputs, re-runs the
recorded specification and compares every number; ``build_certificate(verification)`` is the validator's record.
"""

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

"""The validator's certificate: what was received, what was re-computed, what is owed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cteimpact.provenance.environment import code_version, environment_versions

if TYPE_CHECKING:  # the validator (Validator) is read without importing the pipeline (cteimpact demo's own process)
    from cteimpact.pipeline.verify import Verification

__all__ = ["CERTIFICATE_SCHEMA", "Validator", "build_certificate", "headline_rows"]

CERTIFICATE_SCHEMA = "cteimpact.certificate/1"

_ATTESTATION = (
    "The verifier re-computed every number of the run's results.json, every table and every figure from the "
    "specification, contract and data files listed here (each re-hashed against the run's manifest), and compared "
    "each with what it received; it compared the specification embedded in the manifest with those files and "
    "listed every file of the run directory that the run did not write. The verdict is 'verified' only if every "
    "input is unchanged, the embedded specification equals the files, every output equals its re-computation, no "
    "other file is present and every number matches."
)
_SAME_ENVIRONMENT = (
    "The re-computation used the same cteimpact version and the same versions of Python, the platform and every "
    "numeric dependency as the run; numbers were required to be identical. This confirms that the results follow "
    "from the inputs with this software; it does not check the software itself."
)
_OTHER_ENVIRONMENT = (
    "The re-computation ran in an environment that differs from the run's (listed under 'environment'); the "
    "verifier reviewed and accepted the differences, and numbers were compared under the stated tolerance policy. "
    "Agreement across environments is evidence that the results do not depend on the run's installation."
)


def headline_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary estimate of each outcome (and what pricing used, a surrogate projection included) from a
    ``results.json`` record."""
    design = results.get("design", {})
    priced = {e["label"] for e in (results.get("pricing") or {}).get("estimates", [])}
    outcomes = {e["outcome"] for e in design.get("estimates", [])}
    keep = outcomes | priced
    projection = ((results.get("surrogate") or {}).get("projection") or {}).get("estimates", [])
    rows = [*design.get("estimates", []), *(e for e in projection if e["label"] in priced)]
    return [{k: e[k] for k in ("label", "term", "estimate", "std_error", "ci_lower", "ci_upper", "ci_level",
                               "ci_type", "p_value", "n_effective")}
            for e in rows if e["label"] in keep]


@dataclass(frozen=True)
class Validator:
    """Who verified: a person or office and their organisation (``--validator``, ``--validator-organisation``, or
    the ``CTEIMPACT_VALIDATOR`` and ``CTEIMPACT_VALIDATOR_ORGANISATION`` environment variables)."""

    name: str | None = None
    organisation: str | None = None

    @classmethod
    def from_environment(cls, name: str | None = None, organisation: str | None = None) -> Validator:
        """Options given explicitly, else the environment variables, else unnamed."""
        def clean(text: str | None) -> str | None:
            return " ".join(text.split())[:200] or None if text else None

        return cls(clean(name if name is not None else os.environ.get("CTEIMPACT_VALIDATOR")),
                   clean(organisation if organisation is not None
                         else os.environ.get("CTEIMPACT_VALIDATOR_ORGANISATION")))

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "organisation": self.organisation}


def build_certificate(v: Verification, *, validator: Validator | None = None) -> dict[str, Any]:
    """The certificate of a verification (plain data): the verifier's identity and the date of verification
    (``SOURCE_DATE_EPOCH`` when set, else today), what was verified and what is owed."""
    from cteimpact.pipeline.run import run_date

    new = v.recomputed.results
    pricing = new.get("pricing")
    due: dict[str, Any] | None = None
    thresholds: list[dict[str, Any]] = []
    if pricing is not None:
        pay = pricing["payments"]
        due = {
            "currency": pricing.get("contract", {}).get("currency", "USD"),
            "total_at_estimate": pay["at_estimate"],
            "npv_at_estimate": pay["npv_at_estimate"],
            "by_year_at_estimate": pay["by_year_at_estimate"],
            # nominal (the sum of the payor's payments by year, as the total) and present value, per payor
            "by_payor_at_estimate": {name: p["payment_nominal_at_estimate"] for name, p in pricing["payors"].items()},
            "by_payor_npv_at_estimate": {name: p["payment_at_estimate"] for name, p in pricing["payors"].items()},
        }
        thresholds = [{k: t.get(k) for k in ("outcome", "estimate", "kind", "tier", "at", "measure", "at_effect",
                                              "requires_significance", "met_at_estimate", "p_met", "below_mde",
                                              "bound_improvement", "power_at_threshold", "power_at_estimate",
                                              "estimate_margin_se", "estimate_position")}
                      for t in pricing["thresholds"]]
    cmp = v.comparison
    env = v.environment
    return {
        "schema": CERTIFICATE_SCHEMA,
        "study": v.recorded.get("study", {}),
        "run_directory": v.run_dir.name,
        "verdict": "verified" if v.ok else "not verified",
        "validator": (validator or Validator.from_environment()).to_dict(),
        "verified_on": run_date(),
        "reasons": v.reasons,
        "findings": [f.to_dict() for f in v.findings],
        "scope": ("Independent re-computation, from the specification, contract and data files listed under "
                  "'inputs', of every estimate, diagnostic, sample flow and pricing figure in results.json, of "
                  "every table and figure of the run, and a check of every file of the run directory. Rendered "
                  "reports are checked against the hashes 'cteimpact report' recorded; re-render them from the "
                  "verified results with 'cteimpact report'."),
        "inputs": [i.to_dict() for i in v.inputs],
        "outputs_compared": v.outputs_compared,
        "outputs_changed": list(v.outputs_changed),
        "specification": {"sha256": v.recomputed.manifest.get("spec_sha256"),
                          "seed": v.recomputed.manifest.get("seed")},
        "headline_estimate": new.get("headline"),
        "headline": headline_rows(new),
        "thresholds": thresholds,
        "payment_due": due,
        "recomputation": {"compared": cmp.n_compared, "matched": cmp.n_compared - len(cmp.mismatches),
                          "mismatched": len(cmp.mismatches), "rows": [r.to_dict() for r in cmp.rows]},
        "tolerance_policy": cmp.policy.to_dict(),
        "environment": {"same": env.get("same"), "accepted": env.get("accepted"),
                        "differences": env.get("differences", []), "comparison": env.get("comparison")},
        "software": {"evaluator": (env.get("run") or {}).get("code"), "verifier": code_version(),
                     "evaluator_environment": (env.get("run") or {}).get("environment"),
                     "verifier_environment": environment_versions()},
        "attestation": _ATTESTATION + " " + (_SAME_ENVIRONMENT if env.get("same") else _OTHER_ENVIRONMENT),
    }

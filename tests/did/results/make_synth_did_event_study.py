"""Regenerate ``synth_did_event_study.json``: the event-study coefficients and covariance that the shipped DiD study
(``analyses/pathways-earnings-did.toml``) hands to the HonestDiD smoothness FLCI on the synthetic data of the
pipeline tests (``cteimpact synth --seed 7 --scale 0.05``).

Usage::

    python tests/did/results/make_synth_did_event_study.py

Earnings in dollars (standard errors in the hundreds to thousands, eight pre-periods, a seven-period average as
the target): the FLCI's former SLSQP search failed on this input and fell back to its starting point, by a margin
that depended on the number of BLAS threads (half-lengths up to 12% too wide).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import cteimpact.did.honest as honest
from cteimpact.pipeline.run import run_analysis
from cteimpact.synth import generate

REPO = Path(__file__).resolve().parents[3]
OUT = Path(__file__).with_name("synth_did_event_study.json")


def main() -> None:
    captured: dict[str, Any] = {}
    original = honest.honest_sensitivity

    def capture(betahat: np.ndarray, sigma: np.ndarray, **kwargs: Any) -> Any:
        if kwargs.get("restriction") == "smoothness":
            captured.update(betahat=[float(x) for x in betahat], sigma=np.asarray(sigma).tolist(),
                            n_pre=int(kwargs["n_pre"]), l_vec=[float(x) for x in kwargs["l_vec"]])
        return original(betahat, sigma, **kwargs)

    honest.honest_sensitivity = capture
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate(data, seed=7, scale=0.05)
        run_analysis(REPO / "analyses" / "pathways-earnings-did.toml", Path(tmp) / "run", data_root=data,
                     progress=False)
    OUT.write_text(json.dumps(captured, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

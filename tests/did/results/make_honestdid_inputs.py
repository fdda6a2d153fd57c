"""Regenerate ``honestdid_ehec_inputs.json``: the event-study coefficients and covariance behind the HonestDiD
README example (Medicaid expansion, Mixtape Advanced-DID ``ehec_data``), computed with cteimpact.

Usage::

    python tests/did/results/make_honestdid_inputs.py PATH/TO/ehec_data.csv

The data file is public (github.com/Mixtape-Sessions/Advanced-DID, ``Exercises/Data/ehec_data.csv``) and is not
stored in this repository. The README's specification (HonestDiD README, "Estimate the baseline DiD") is
``feols(dins ~ i(year, D, ref = 2013) | stfips + year, cluster = "stfips")`` on years before 2016 without the 2015
cohort, ``D = 1{yexp2 == 2014}``; cteimpact's ``twfe_event_study`` fits the same regression with the same
(fixest) small-sample convention for the clustered covariance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cteimpact.did import twfe_event_study


def main(path: str) -> None:
    df = pd.read_csv(path)
    d = df[(df["year"] < 2016) & (df["yexp2"].isna() | (df["yexp2"] != 2015))].copy()
    d["cohort"] = np.where(d["yexp2"] == 2014, 2014, 0)
    es, cov = twfe_event_study(d, outcome="dins", unit="stfips", time="year", cohort="cohort")
    out = {
        "source": "cteimpact twfe_event_study on Mixtape-Sessions/Advanced-DID Exercises/Data/ehec_data.csv "
                  "(years < 2016, 2015 cohort dropped, D = 1{yexp2 == 2014}, reference year 2013, clustered by "
                  "stfips, fixest small-sample factors)",
        "event_time": es["event_time"].tolist(),
        "betahat": es["estimate"].tolist(),
        "sigma": cov.tolist(),
    }
    Path(__file__).with_name("honestdid_ehec_inputs.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

"""``import cteimpact`` is light and exports the entry points and main classes; fitting imports no matplotlib.

Each check runs in a fresh interpreter (with this checkout first on the path), since modules imported by other
tests would hide an eager import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

RD_DATA = """
import numpy as np, pandas as pd
rng = np.random.default_rng(5)
x = rng.uniform(-1, 1, 600)
df = pd.DataFrame({"score": x, "y": 0.4 * x + 0.3 * (x >= 0) + rng.normal(0, 0.3, 600)})
"""

DID_DATA = """
import warnings
warnings.simplefilter("ignore")
from cteimpact.did.simulate import simulate_staggered
panel, _ = simulate_staggered(n_clusters=20, units_per_cluster=4, seed=2)
"""

# records the module whose code imported matplotlib first (the innermost frame outside importlib)
WHO_IMPORTS = """
import builtins, sys, traceback
_orig = builtins.__import__
first = []
def _hook(name, *a, **k):
    if name.split(".")[0] == "matplotlib" and not first and "matplotlib" not in sys.modules:
        frames = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
        first.append(frames[-1].filename)
    return _orig(name, *a, **k)
builtins.__import__ = _hook
"""


def _run(code: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_is_light_and_exports_everything():
    got = _run("""
import json, sys, cteimpact
heavy = [m for m in ("matplotlib", "pandas", "scipy", "cteimpact.rd", "cteimpact.did", "cteimpact.pricing")
         if m in sys.modules]
print(json.dumps({"heavy": heavy, "file": cteimpact.__file__, "all": sorted(cteimpact.__all__)}))
""")
    assert got["file"].startswith(str(REPO))
    assert got["heavy"] == []
    assert {"rd", "did", "price", "compare", "RegressionDiscontinuity", "CallawaySantAnna", "RDResults",
            "DiDResults", "ImpactResults", "EffectEstimate", "ExternalEstimate", "ResultsRecord"} <= set(got["all"])


def test_every_exported_name_resolves():
    import cteimpact

    for name in cteimpact.__all__:
        assert getattr(cteimpact, name) is not None, name
    assert cteimpact.RDResults is __import__("cteimpact.rd.results", fromlist=["RDResults"]).RDResults
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        cteimpact.nonexistent  # noqa: B018


def test_did_fit_imports_no_matplotlib():
    got = _run(DID_DATA.replace("from cteimpact.did.simulate", "import cteimpact\nfrom cteimpact.did.simulate") + """
import json, sys
res = cteimpact.did(panel, outcome="y", time="time", unit="unit", cohort="cohort", cluster="cluster")
print(json.dumps({"mpl": "matplotlib" in sys.modules, "repr": repr(res), "summary": len(str(res)),
                  "ci": res.conf_int(0.9, labels=["y"]).to_numpy().tolist()}))
""")
    assert got["mpl"] is False
    assert got["repr"].startswith("<DiDResults design=did outcome=y y=")
    assert got["summary"] > 500


def test_rd_fit_imports_matplotlib_only_through_rdrobust():
    # cteimpact's own code imports no matplotlib on the RD path; rdrobust (2.1.x) imports matplotlib.pyplot in its
    # package __init__, so the only import allowed is from inside the rdrobust package
    got = _run(WHO_IMPORTS + "import cteimpact\n" + RD_DATA + """
import json
after_import = "matplotlib" in sys.modules
res = cteimpact.rd(df, outcome="y", score="score", cutoff=0.0)
print(json.dumps({"after_import": after_import, "first": first, "repr": repr(res)}))
""")
    assert got["after_import"] is False
    assert got["repr"].startswith("<RDResults design=rd outcome=y y=")
    for path in got["first"]:
        assert f"{os.sep}cteimpact{os.sep}" not in path, f"cteimpact imports matplotlib eagerly: {path}"
        assert f"{os.sep}rdrobust{os.sep}" in path, path


def test_the_matplotlib_import_detector_works():
    # the hook above records a matplotlib import made by cteimpact code (a module that plots does)
    got = _run(WHO_IMPORTS + """
import json
import cteimpact.plotting.estimates
print(json.dumps({"first": first}))
""")
    assert len(got["first"]) == 1
    assert f"{os.sep}cteimpact{os.sep}plotting{os.sep}" in got["first"][0]

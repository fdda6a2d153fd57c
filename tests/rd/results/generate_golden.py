"""Produce the golden numbers of ``senate_golden.json`` by calling the reference packages DIRECTLY (not cteimpact).

Run from the repository root:

    .venv/bin/python tests/rd/results/generate_golden.py

Data: the U.S. Senate elections data shipped inside rdrobust (``rdrobust.rdrobust_RDsenate()``; Cattaneo,
Frandsen & Titiunik 2015): outcome ``vote``, running variable ``margin``, cutoff 0, cluster ``state``.

Package versions used for the committed file are stored in it (``versions``): rdrobust 2.1.1, rddensity 3.0,
rdpower 2.0.0, rdlocrand 3.0, numpy 2.4, pandas 3.1. Re-running with those versions reproduces the file byte for
byte; a different file after an upgrade means the reference packages changed behaviour.

Cases (each a direct call with the arguments recorded in ``args``):

* ``rdrobust_default`` — ``rdrobust(vote, margin)``.
* ``rdrobust_fixed_h`` — ``rdrobust(vote, margin, h=17.754)`` (b = h).
* ``rdrobust_fixed_2014`` — ``rdrobust(vote, margin, h=16.79369, b=27.43745)`` (the 2014 bandwidths of
  Calonico, Cattaneo, Farrell & Titiunik 2017, p. 393).
* ``rdrobust_cluster`` — ``rdrobust(vote, margin, cluster=state)`` (cr1; state as integer codes in order of first
  appearance, the coding cteimpact uses).
* ``rdrobust_cluster_cr2`` — the same with ``vce='cr2'``.
* ``rdrobust_covariates`` — ``rdrobust(vote, margin, covs=[class, termshouse, termssenate])`` (rdrobust drops
  the 282 rows with a missing covariate).
* ``rdrobust_fuzzy`` — ``rdrobust(vote, margin, fuzzy=T)`` with a deterministic take-up built for the test:
  ``T = 1{margin >= 0}``, flipped where ``class == 1`` and ``dmidterm == 1`` (a first stage well below 1).
* ``rdbwselect_all`` — ``rdbwselect(vote, margin, all=True)``.
* ``rddensity_default`` — ``rddensity(margin)`` (the manipulation test; p = 2, jackknife, unrestricted).
* ``rdpower_tau5`` — ``rdpower(data=[vote, margin], tau=5)``; ``rdmde_default`` — ``rdmde(data=[vote, margin])``.
* ``rdrandinf_075`` — ``rdrandinf(vote, margin, wl=-0.75, wr=0.75, reps=2000, seed=50)``;
  ``rdrandinf_covariate_25`` — the same test on the pre-treatment ``presdemvoteshlag1`` in ``[-2.5, 2.5]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "senate_golden.json"


def senate() -> pd.DataFrame:
    from rdrobust import rdrobust_RDsenate

    return rdrobust_RDsenate()


def fuzzy_takeup(d: pd.DataFrame) -> np.ndarray:
    t = (d["margin"].to_numpy() >= 0).astype(float)
    flip = (d["class"].to_numpy() == 1) & (d["dmidterm"].to_numpy() == 1)
    return np.where(flip, 1.0 - t, t)


def rdrobust_record(r) -> dict:
    out = {
        "coef": np.asarray(r.coef, dtype=float).ravel().tolist(),
        "se": np.asarray(r.se, dtype=float).ravel().tolist(),
        "z": np.asarray(r.z, dtype=float).ravel().tolist(),
        "pv": np.asarray(r.pv, dtype=float).ravel().tolist(),
        "ci": np.asarray(r.ci, dtype=float).tolist(),
        "h": np.asarray(r.bws, dtype=float)[0].tolist(),
        "b": np.asarray(r.bws, dtype=float)[1].tolist(),
        "N": [int(v) for v in r.N],
        "N_h": [int(v) for v in r.N_h],
        "N_b": [int(v) for v in r.N_b],
        "tau_cl": [float(v) for v in r.tau_cl],
        "tau_bc": [float(v) for v in r.tau_bc],
        "bias": [float(v) for v in r.bias],
    }
    if r.n_clust is not None:
        out["n_clust"] = [int(r.n_clust_l), int(r.n_clust_r)]
    if r.tau_T is not None:
        out["tau_T"] = np.asarray(r.tau_T, dtype=float).ravel().tolist()
        out["se_T"] = np.asarray(r.se_T, dtype=float).ravel().tolist()
        out["pv_T"] = np.asarray(r.pv_T, dtype=float).ravel().tolist()
    return out


def main() -> None:
    from rddensity import rddensity
    from rdlocrand import rdrandinf
    from rdpower import rdmde, rdpower
    from rdrobust import rdbwselect, rdrobust

    d = senate()
    y = d["vote"].to_numpy(dtype=float)
    x = d["margin"].to_numpy(dtype=float)
    state_codes = pd.factorize(d["state"], sort=False)[0]
    cases: dict[str, dict] = {}
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases["rdrobust_default"] = {"args": {}, "result": rdrobust_record(rdrobust(y, x))}
        cases["rdrobust_fixed_h"] = {"args": {"h": 17.754}, "result": rdrobust_record(rdrobust(y, x, h=17.754))}
        cases["rdrobust_fixed_2014"] = {"args": {"h": 16.79369, "b": 27.43745},
                                        "result": rdrobust_record(rdrobust(y, x, h=16.79369, b=27.43745))}
        cases["rdrobust_cluster"] = {"args": {"cluster": "state"},
                                     "result": rdrobust_record(rdrobust(y, x, cluster=state_codes))}
        cases["rdrobust_cluster_cr2"] = {"args": {"cluster": "state", "vce": "cr2"},
                                         "result": rdrobust_record(rdrobust(y, x, cluster=state_codes, vce="cr2"))}
        covs = d[["class", "termshouse", "termssenate"]].to_numpy(dtype=float)
        cases["rdrobust_covariates"] = {"args": {"covs": ["class", "termshouse", "termssenate"]},
                                        "result": rdrobust_record(rdrobust(y, x, covs=covs))}
        cases["rdrobust_fuzzy"] = {"args": {"fuzzy": "1{margin>=0} flipped where class==1 & dmidterm==1"},
                                   "result": rdrobust_record(rdrobust(y, x, fuzzy=fuzzy_takeup(d)))}
        bw = rdbwselect(y, x, all=True)
        cases["rdbwselect_all"] = {"args": {"all": True}, "result": {
            str(k): np.asarray(bw.bws.loc[k], dtype=float).tolist() for k in bw.bws.index}}
        dens = rddensity(x)
        cases["rddensity_default"] = {"args": {}, "result": {
            "t_jk": float(dens.test["t_jk"]), "p_jk": float(dens.test["p_jk"]),
            "h": [float(dens.h["left"]), float(dens.h["right"])],
            "hat": [float(dens.hat["left"]), float(dens.hat["right"])],
            "sd_jk": [float(dens.sd_jk["left"]), float(dens.sd_jk["right"])],
            "n": [int(dens.n["left"]), int(dens.n["right"])],
            "n_eff": [int(dens.n["eff_left"]), int(dens.n["eff_right"])]}}
        pw = rdpower(data=np.column_stack([y, x]), tau=5)
        cases["rdpower_tau5"] = {"args": {"tau": 5}, "result": {
            "power_rbc": float(pw["power_rbc"]), "se_rbc": float(pw["se_rbc"]),
            "sampsi": [int(pw["sampsi_l"]), int(pw["sampsi_r"])],
            "samph": [float(pw["samph_l"]), float(pw["samph_r"])]}}
        md = rdmde(data=np.column_stack([y, x]))
        cases["rdmde_default"] = {"args": {}, "result": {"mde": float(md["mde"]), "beta": float(md["beta"]),
                                                         "alpha": float(md["alpha"])}}
        state = np.random.get_state()  # noqa: NPY002 - rdrandinf seeds numpy's global state
        ri = rdrandinf(y, x, wl=-0.75, wr=0.75, reps=2000, seed=50, quietly=True)
        np.random.set_state(state)  # noqa: NPY002 - restore the global state
        cases["rdrandinf_075"] = {"args": {"wl": -0.75, "wr": 0.75, "reps": 2000, "seed": 50}, "result": {
            "obs_stat": float(np.asarray(ri["obs.stat"], dtype=float).ravel()[0]),
            "p_value": float(np.asarray(ri["p.value"], dtype=float).ravel()[0]),
            "asy_pvalue": float(np.asarray(ri["asy.pvalue"], dtype=float).ravel()[0]),
            "n_window": np.asarray(ri["sumstats"], dtype=float)[1].astype(int).tolist()}}
        cov = d["presdemvoteshlag1"].to_numpy(dtype=float)
        ok = ~np.isnan(cov)
        state = np.random.get_state()  # noqa: NPY002 - rdrandinf seeds numpy's global state
        ri = rdrandinf(cov[ok], x[ok], wl=-2.5, wr=2.5, reps=2000, seed=50, quietly=True)
        np.random.set_state(state)  # noqa: NPY002 - restore the global state
        cases["rdrandinf_covariate_25"] = {"args": {"y": "presdemvoteshlag1", "wl": -2.5, "wr": 2.5, "reps": 2000,
                                                    "seed": 50}, "result": {
            "obs_stat": float(np.asarray(ri["obs.stat"], dtype=float).ravel()[0]),
            "p_value": float(np.asarray(ri["p.value"], dtype=float).ravel()[0]),
            "asy_pvalue": float(np.asarray(ri["asy.pvalue"], dtype=float).ravel()[0]),
            "n_window": np.asarray(ri["sumstats"], dtype=float)[1].astype(int).tolist()}}
    record = {
        "data": "rdrobust.rdrobust_RDsenate() (Cattaneo, Frandsen & Titiunik 2015): y = vote, x = margin, c = 0",
        "versions": {p: version(p) for p in ("rdrobust", "rddensity", "rdpower", "rdlocrand", "numpy", "pandas")},
        "cases": cases,
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

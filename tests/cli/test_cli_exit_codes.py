"""User and environment problems exit with code 2 and one line on stderr, never 1, and write nothing.

One table covers every command: each case gives the command line (``{name}`` stands for a file the module fixture
writes, ``{out}`` for an output path that must not exist afterwards) and the words the one error line must contain
(the option, key or column, and the numbers). The machine's available memory is fixed at 24 GB so that the memory
messages are the same everywhere.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cteimpact.limits
from cteimpact.cli.app import main
from cteimpact.did.simulate import simulate_staggered
from cteimpact.pricing import example_contract
from cteimpact.results import ExternalEstimate

REPO = Path(__file__).resolve().parents[2]
GB = 10**9


def _rd_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    x = rng.uniform(-1, 1, n)
    y = 1 + 0.8 * x + 0.5 * (x >= 0) + rng.normal(scale=0.5, size=n)
    z = rng.normal(size=n)
    return pd.DataFrame({
        "x": x, "y": y, "z": z,
        "y_const": np.zeros(n), "y_huge": y * 1e300, "y_step": (x >= 0).astype(float),
        "y_inf": np.where(np.arange(n) == 3, np.inf, y),
        "x_text": np.where(x >= 0, "high", "low"), "x_huge": x * 1e300,
        "z_tiny": z * 1e-9, "z_huge": z * 1e300, "side_cluster": np.where(x >= 0, 1, 2),
    })


def _did_frame() -> pd.DataFrame:
    # 32 clusters: no few-clusters warning, so that the error is the only line on stderr
    d, _ = simulate_staggered(n_clusters=32, units_per_cluster=2, n_never_clusters=8, seed=3)
    rng = np.random.default_rng(3)
    unit_z = rng.normal(size=int(d["unit"].max()) + 1)
    d["y_huge"] = d["y"] * 1e300
    d["y_const"] = 0.0
    d["y_inf"] = np.where(np.arange(len(d)) == 5, np.inf, d["y"])
    d["z"] = unit_z[d["unit"]]
    d["z_huge_scale"] = d["z"] * 1e9
    d["z_const"] = 3.0
    return d


def _contract(tmp: Path, name: str, old: str, new: str) -> Path:
    text = example_contract("schedule_rikers").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp / f"{name}.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _spec(tmp: Path, name: str, old: str, new: str) -> Path:
    text = (tmp / "ccpt-dropout-rd.toml").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp / f"{name}.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("exit_codes")
    out: dict[str, str] = {}
    _rd_frame().to_csv(tmp / "rd.csv", index=False)
    _did_frame().to_csv(tmp / "did.csv", index=False)
    out["rd"], out["did"] = str(tmp / "rd.csv"), str(tmp / "did.csv")
    # contracts
    for name, old, new in [
        ("c_price_huge", "pay = 4_800_000", "pay = 1e308"),
        ("c_price_inf", "pay = 4_800_000", "pay = inf"),
        ("c_price_nan", "pay = 4_800_000", "pay = nan"),
        ("c_price_text", "pay = 4_800_000", 'pay = "4800000"'),
        ("c_price_negative", "pay = 4_800_000", "pay = -1"),
        ("c_typo", "pay = 4_800_000", "pya = 4_800_000"),
        ("c_year_float", "year = 1", "year = 1.0"),
        ("c_students_huge", "students = 750", "students = 1e12"),
        ("c_draw_years_empty", "draw_years = [0]", "draw_years = []"),
        ("c_bad_toml", "[contract]", "[contract"),
    ]:
        out[name] = str(_contract(tmp, name, old, new))
    rikers = example_contract("schedule_rikers").read_text(encoding="utf-8")
    (tmp / "c_utf16.toml").write_bytes(rikers.encode("utf-16"))
    (tmp / "c_latin1.toml").write_bytes(rikers.replace("Rikers", "Rikérs", 1).encode("latin-1"))
    out["c_utf16"], out["c_latin1"] = str(tmp / "c_utf16.toml"), str(tmp / "c_latin1.toml")
    out["missing"] = str(tmp / "no_such_contract.toml")
    # results records whose estimate is missing (suppressed or not estimated)
    rec = ExternalEstimate(label="dropout", effect=-0.02, std_error=0.01).to_dict()
    row_null = json.loads(json.dumps(rec))
    row_null["estimates"][0]["estimate"] = None
    row_null["estimates"][0]["std_error"] = None
    (tmp / "row_null.json").write_text(json.dumps(row_null), encoding="utf-8")
    dist_null = json.loads(json.dumps(row_null))
    dist_null["sampling_distribution"]["mean"] = [None]
    dist_null["sampling_distribution"]["cov"] = [[None]]
    (tmp / "dist_null.json").write_text(json.dumps(dist_null), encoding="utf-8")
    out["row_null"], out["dist_null"] = str(tmp / "row_null.json"), str(tmp / "dist_null.json")
    # specifications (a copy of the shipped RD study; they fail before its data are needed)
    (tmp / "contracts").mkdir()
    for p in (REPO / "analyses" / "contracts").glob("*.toml"):
        (tmp / "contracts" / p.name).write_bytes(p.read_bytes())
    (tmp / "ccpt-dropout-rd.toml").write_bytes((REPO / "analyses" / "ccpt-dropout-rd.toml").read_bytes())
    for name, old, new in [
        ("s_seed_text", "seed = 20140522", 'seed = "20140522"'),
        ("s_seed_float", "seed = 20140522", "seed = 20140522.0"),
        ("s_draws_huge", "draws = 200000", "draws = 10_000_000_000"),
        ("s_reps_text", "reps = 1000", 'reps = "1000"'),
        ("s_enabled_text", "enabled = true", 'enabled = "yes"'),
        ("s_level", 'vce = "cr3"', 'vce = "cr3"\nlevel = 1.5'),
        ("s_h_text", 'vce = "cr3"', 'vce = "cr3"\nh = "0.5"'),
        ("s_h_inf", 'vce = "cr3"', "vce = \"cr3\"\nh = inf"),
        ("s_cutoff_nan", 'cutoff_column = "cutoff"', "cutoff = nan"),
        ("s_unknown_key", 'running = "rubric_score"', 'runing = "rubric_score"'),
        ("s_outcomes_text", 'outcomes = ["dropout", "graduated"]', 'outcomes = "dropout"'),
        ("s_contract_price_text", 'contract = "contracts/ccpt-dropout-rate-card.toml"',
         'contract = "contracts/bad-price.toml"'),
    ]:
        out[name] = str(_spec(tmp, name, old, new))
    card = (tmp / "contracts" / "ccpt-dropout-rate-card.toml").read_text(encoding="utf-8")
    assert "price = 25_000" in card
    (tmp / "contracts" / "bad-price.toml").write_text(card.replace("price = 25_000", 'price = "25000"'),
                                                      encoding="utf-8")
    out["empty_dir"] = str(tmp_path_factory.mktemp("no_data"))
    return out


@pytest.fixture(autouse=True)
def memory_24_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: 24 * GB)
    monkeypatch.delenv("CTEIMPACT_DEBUG", raising=False)


PRICE = ["price", "example:schedule_rikers", "--effect", "-0.018", "--se", "0.008", "--output", "{out}"]
PRICE_C = ["--effect", "-0.018", "--se", "0.008", "--draws", "2000", "--output", "{out}"]
RD = ["rd", "{rd}", "--running", "x", "--cutoff", "0", "--outcome", "y", "--output", "{out}"]
RD_OUT = ["--output", "{out}"]
DID = ["did", "{did}", "--unit", "unit", "--time", "time", "--cohort", "cohort", "--outcome", "y", "--no-twfe",
       "--output", "{out}"]
RUN = ["--data-root", "{empty_dir}", "--out", "{out}", "--quiet"]

CASES: list[tuple[str, list[str], list[str]]] = [
    # --- price: draws, estimates, contracts --------------------------------------------------------------------
    ("price draws beyond memory", [*PRICE, "--draws", "10000000000"],
     ["10,000,000,000 draws", "--draws", "1.4 TB", "× 17 values × 8 bytes", "24 GB available",
      "use at most 140,000,000 draws"]),
    ("price draws in scientific notation", [*PRICE, "--draws", "1e10"], ["--draws", "'1e10'", "not a valid integer"]),
    ("price negative draws", [*PRICE, "--draws", "-5"], ["draws", "at least 1,000", "-5"]),
    ("price effect beyond any scale", ["price", "example:schedule_rikers", "--effect", "1e308", "--se", "0.008",
                                       "--output", "{out}"], ["'dropout'", "1e+308", "at most 1e+15"]),
    ("price effect nan", ["price", "example:schedule_rikers", "--effect", "nan", "--se", "0.008", "--output",
                          "{out}"], ["'dropout'", "finite", "nan"]),
    ("price results with a missing estimate", ["price", "example:schedule_rikers", "--results", "{row_null}",
                                                "--output", "{out}"],
     ["estimate 'dropout'", "no finite estimate and standard error", "suppressed"]),
    ("price results with a missing distribution", ["price", "example:schedule_rikers", "--results", "{dist_null}",
                                                    "--output", "{out}"],
     ["dropout", "no finite estimate and standard error", "suppressed"]),
    ("contract amount overflows", ["price", "{c_price_huge}", *PRICE_C],
     ["outcomes[0].payment.tiers[0].pay", "<= 1e+15", "1e+308"]),
    ("contract amount inf", ["price", "{c_price_inf}", *PRICE_C],
     ["outcomes[0].payment.tiers[0].pay", "finite", "inf"]),
    ("contract amount nan", ["price", "{c_price_nan}", *PRICE_C],
     ["outcomes[0].payment.tiers[0].pay", "finite", "nan"]),
    ("contract number as text", ["price", "{c_price_text}", *PRICE_C],
     ["outcomes[0].payment.tiers[0].pay", "expected a number", "the text '4800000'", "remove the quotes"]),
    ("contract negative amount", ["price", "{c_price_negative}", *PRICE_C],
     ["outcomes[0].payment.tiers[0].pay", "must be >= 0", "got -1"]),
    ("contract typo key", ["price", "{c_typo}", *PRICE_C],
     ["unknown key 'outcomes[0].payment.tiers[0].pya'", "did you mean 'pay'"]),
    ("contract whole number as float", ["price", "{c_year_float}", *PRICE_C],
     ["cohorts[1].year", "expected a whole number", "1.0 (write 1)"]),
    ("contract students beyond bound", ["price", "{c_students_huge}", *PRICE_C],
     ["cohorts[0].students", "<= 1e+09"]),
    ("contract years empty", ["price", "{c_draw_years_empty}", *PRICE_C],
     ["financing.tranches[0]", "draw_years is empty"]),
    ("contract not TOML", ["price", "{c_bad_toml}", *PRICE_C],
     ["c_bad_toml.toml", "not valid TOML", "line 29, column"]),
    ("contract UTF-16", ["price", "{c_utf16}", *PRICE_C], ["c_utf16.toml", "UTF-16", "save it as UTF-8"]),
    ("contract not UTF-8", ["price", "{c_latin1}", *PRICE_C], ["c_latin1.toml", "not UTF-8", "line 1"]),
    ("contract missing", ["price", "{missing}", *PRICE_C], ["no_such_contract.toml", "does not exist"]),
    # --- did ------------------------------------------------------------------------------------------------------
    ("did bootstrap beyond memory", [*DID, "--bootstrap", "100000000"],
     ["100,000,000 draws", "--bootstrap", "multiplier bootstrap", "24 GB available", "use at most"]),
    ("did wild bootstrap beyond memory", [*DID, "--cluster", "cluster", "--wild-bootstrap", "100000000"],
     ["100,000,000 draws", "--wild-bootstrap", "wild cluster bootstrap", "32 clusters", "use at most"]),
    ("did bootstrap in scientific notation", [*DID, "--bootstrap", "1e8"], ["--bootstrap", "'1e8'"]),
    ("did bootstrap zero", [*DID, "--bootstrap", "0"], ["bootstrap", "positive", "0"]),
    ("did negative seed", [*DID, "--bootstrap", "99", "--seed", "-1"], ["seed", "non-negative", "-1"]),
    ("did level zero", [*DID, "--level", "0"], ["level", "strictly between 0 and 1", "0.0"]),
    ("did alpha given", [*DID, "--alpha", "0.05"], ["'--alpha' is not an option", "'--level' = 1 - alpha",
                                                    "--level 0.95"]),
    ("did event window reversed", [*DID, "--min-e", "3", "--max-e", "-3"], ["min_e <= max_e", "3.0", "-3.0"]),
    ("did outcome overflows", [*DID[:9], "y_huge", *DID[10:]], ["outcome 'y_huge'", "e+300", "rescale"]),
    ("did outcome constant", [*DID[:9], "y_const", *DID[10:]], ["outcome 'y_const'", "constant", "all 0"]),
    ("did outcome inf", [*DID[:9], "y_inf", *DID[10:]], ["'y_inf'", "1 infinite value"]),
    ("did covariate scale", [*DID, "--covariates", "z_huge_scale"],
     ["covariate 'z_huge_scale'", "standard deviation", "rescale"]),
    ("did covariate constant", [*DID, "--covariates", "z_const"], ["covariate 'z_const'", "constant", "all 3"]),
    ("did unknown covariate", [*DID, "--covariates", "nope"], ["column 'nope'", "not in the data"]),
    # --- rd -------------------------------------------------------------------------------------------------------
    ("rd placebo cutoff nan", ["rd", "{rd}", "--running", "x", "--cutoff", "0", "--outcome", "y", "--diagnostics",
                               "--placebo-cutoffs", "nan", *RD_OUT], ["placebo cutoffs must be finite", "nan"]),
    ("rd cutoff 1e308", ["rd", "{rd}", "--running", "x", "--cutoff", "1e308", "--outcome", "y", *RD_OUT],
     ["the cutoff 1e+308 is outside the range"]),
    ("rd outcome constant", ["rd", "{rd}", "--running", "x", "--cutoff", "0", "--outcome", "y_const", *RD_OUT],
     ["outcome 'y_const'", "constant on both sides", "all 0", "nothing to estimate"]),
    ("rd outcome overflows", ["rd", "{rd}", "--running", "x", "--cutoff", "0", "--outcome", "y_huge", *RD_OUT],
     ["outcome 'y_huge'", "e+300", "rescale"]),
    ("rd outcome exact jump", ["rd", "{rd}", "--running", "x", "--cutoff", "0", "--outcome", "y_step", *RD_OUT],
     ["outcome 'y_step'", "all 0 below", "all 1 above", "nothing to estimate"]),
    ("rd outcome inf", ["rd", "{rd}", "--running", "x", "--cutoff", "0", "--outcome", "y_inf", *RD_OUT],
     ["'y_inf'", "1 infinite value"]),
    ("rd running variable overflows", ["rd", "{rd}", "--running", "x_huge", "--cutoff", "0", "--outcome", "y",
                                       *RD_OUT], ["running variable 'x_huge'", "e+299", "rescale", "1e+15"]),
    ("rd running variable text", ["rd", "{rd}", "--running", "x_text", "--cutoff", "0", "--outcome", "y", *RD_OUT],
     ["running variable 'x_text'", "numeric", "600 of 600"]),
    ("rd covariate overflows", [*RD, "--covariates", "z_huge"], ["covariate 'z_huge'", "e+300", "rescale"]),
    ("rd covariate too small", [*RD, "--covariates", "z_tiny"], ["covariate 'z_tiny'", "e-09", "rescale"]),
    ("rd unknown covariates", [*RD, "--covariates", "nope,zz"], ["column 'nope'", "covariate", "not in the data"]),
    ("rd one cluster a side", [*RD, "--cluster", "side_cluster"],
     ["1 cluster below the cutoff and 1 at or above", "at least 2 clusters on each side"]),
    ("rd level above 1", [*RD, "--level", "1.5"], ["level", "between 0.5 and 1", "1.5"]),
    ("rd negative bandwidth", [*RD, "--h", "-1"], ["h", "positive", "-1"]),
    ("rd bandwidth beyond any data", [*RD, "--h", "1e308"],
     ["bandwidth h = 1e+308", "farthest distance", "at most 9.98e+09"]),
    ("rd cutoff nan", ["rd", "{rd}", "--running", "x", "--cutoff", "nan", "--outcome", "y", *RD_OUT],
     ["cutoff", "finite", "nan"]),
    ("rd reps zero", [*RD, "--local-randomization", "--window", "0.2", "--reps", "0"], ["reps", "at least 100", "0"]),
    ("rd reps beyond memory", [*RD, "--local-randomization", "--window", "0.2", "--reps", "100000000000"],
     ["100,000,000,000 re-randomisations", "--reps", "24 GB available", "use at most"]),
    ("rd negative seed", [*RD, "--local-randomization", "--window", "0.2", "--seed", "-1"],
     ["seed", "at least 0", "-1"]),
    ("rd power against nan", [*RD, "--power-tau", "nan"], ["tau", "finite", "nan"]),
    # --- run: specifications ----------------------------------------------------------------------------------------
    ("spec seed as text", ["run", "{s_seed_text}", *RUN],
     ["s_seed_text.toml", "study.seed: expected a whole number, got the text '20140522' (remove the quotes)"]),
    ("spec seed as float", ["run", "{s_seed_float}", *RUN], ["study.seed", "20140522.0 (write 20140522)"]),
    ("spec draws beyond memory", ["run", "{s_draws_huge}", *RUN],
     ["10,000,000,000 draws", "[pricing] draws", "24 GB available", "use at most"]),
    ("spec reps as text", ["run", "{s_reps_text}", *RUN],
     ["design.local_randomization.reps", "expected a whole number", "'1000'"]),
    ("spec switch as text", ["run", "{s_enabled_text}", *RUN],
     ["design.diagnostics.enabled", "expected true or false", "'yes'"]),
    ("spec level above 1", ["run", "{s_level}", *RUN],
     ["design.estimation.level", "level must be a confidence level between 0.5 and 1", "1.5"]),
    ("spec bandwidth as text", ["run", "{s_h_text}", *RUN],
     ["design.estimation.h", "expected a number or a list", "'0.5'"]),
    ("spec bandwidth inf", ["run", "{s_h_inf}", *RUN], ["design.estimation.h", "finite", "inf"]),
    ("spec cutoff nan", ["run", "{s_cutoff_nan}", *RUN], ["design.cutoff", "finite", "nan"]),
    ("spec unknown key", ["run", "{s_unknown_key}", *RUN], ["unknown key 'design.runing'", "did you mean 'running'"]),
    ("spec list as text", ["run", "{s_outcomes_text}", *RUN], ["design.outcomes", "expected a list", "'dropout'"]),
    ("spec contract number as text", ["run", "{s_contract_price_text}", *RUN],
     ["bad-price.toml", "outcomes[0].payment.price", "the text '25000' (remove the quotes)"]),
]


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_problem_exits_2_with_one_line(files: dict[str, str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str], args: list[str],
                                            words: list[str]) -> None:
    out = tmp_path / "out"
    argv = [a.format(out=out, **files) for a in args]
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(("cteimpact: error: ", "cteimpact price: error: ", "cteimpact did: error: ")), err
    for word in words:
        assert word in lines[0], f"{word!r} not in: {lines[0]}"
    assert not out.exists()


def test_byte_order_mark_is_accepted(files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    """A contract saved with a UTF-8 byte-order mark prices exactly as without it."""
    plain = example_contract("schedule_rikers")
    bom = tmp_path / "bom.toml"
    bom.write_bytes(codecs.BOM_UTF8 + plain.read_bytes())
    args = ["--effect", "-0.018", "--se", "0.008", "--draws", "2000", "--json"]
    assert main(["price", str(plain), *args]) == 0
    expected = capsys.readouterr().out
    assert main(["price", str(bom), *args]) == 0
    assert capsys.readouterr().out == expected

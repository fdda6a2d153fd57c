"""Generate the synthetic CCPT data set: in memory (:func:`simulate`) or to files, chunk by chunk (:func:`generate`).

Every random stream derives from the master seed: one for the world (consortia, districts, schools), one per
consortium for its students, one for the Monte Carlo truth. The output therefore does not depend on how consortia
are chunked, and the same seed and scale give byte-identical files.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cteimpact import __version__
from cteimpact.errors import OptionError
from cteimpact.provenance.hashing import sha256_file
from cteimpact.results.serialization import write_json
from cteimpact.synth.calibration import Calibration
from cteimpact.synth.codebook import CODEBOOK, SCHEMAS
from cteimpact.synth.model import NEVER
from cteimpact.synth.students import (
    CELL_OUTCOMES,
    EARNINGS_BY_AGE,
    INTERIM_OUTCOMES,
    STUDENT_OUTCOMES,
    ConsortiumSample,
    simulate_consortium,
)
from cteimpact.synth.truth import did_student_truth, did_truth, rd_truth
from cteimpact.synth.world import World, build_world

__all__ = ["SyntheticData", "generate", "simulate"]

FileFormat = Literal["parquet", "csv"]
MAX_SCALE = 50.0


@dataclass(frozen=True)
class SyntheticData:
    """The synthetic data set in memory."""

    students: pd.DataFrame
    enrollment: pd.DataFrame
    wages: pd.DataFrame
    consortia: pd.DataFrame
    districts: pd.DataFrame
    district_panel: pd.DataFrame
    truth: dict[str, Any]


def _check(seed: int, scale: float) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")
    if not (0 < scale <= MAX_SCALE):
        raise OptionError(f"scale must be in (0, {MAX_SCALE:g}], got {scale!r}")


def _samples(world: World, cal: Calibration, seed: int, scale: float) -> Iterator[ConsortiumSample]:
    for c in range(len(world.consortia)):
        yield simulate_consortium(world, cal, c, seed, scale)


def _public_consortia(world: World) -> pd.DataFrame:
    c = world.consortia
    return c[["consortium_id", "grant_round", "award_year", "rubric_score", "cutoff", "award", "n_districts",
              "n_schools"]].copy()


def _public_districts(world: World) -> pd.DataFrame:
    d = world.districts
    return pd.DataFrame({
        "district_id": d["district_id"],
        "consortium_id": world.consortia["consortium_id"].to_numpy()[d["consortium"].to_numpy()],
        "first_treated": np.where(d["first_treated"] == NEVER, 0, d["first_treated"]).astype(np.int16),
    })


def _cell_sd(ss: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Student-level standard deviation of a cell (divisor ``n − 1``) from its within-cell sum of squared deviations:
    0 for a cell of one student, missing for a cell without an observed student."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(ss / (n - 1.0))
    return np.where(n >= 2, sd, np.where(n == 1, 0.0, np.nan))


def _district_panel(world: World, cal: Calibration, cells: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    panel_cohorts = np.arange(cal.first_cohort, cal.last_wage_year - 5 + 1)
    c = cells[cells["cohort"].isin(panel_cohorts)].sort_values(["district", "cohort"], kind="stable")
    d = world.districts
    with np.errstate(invalid="ignore", divide="ignore"):
        panel = pd.DataFrame({
            "district_id": d["district_id"].to_numpy()[c["district"].to_numpy()],
            "consortium_id": world.consortia["consortium_id"].to_numpy()[d["consortium"].to_numpy()[c["district"]]],
            "cohort": c["cohort"].to_numpy().astype(np.int16),
            "first_treated": np.where(d["first_treated"].to_numpy()[c["district"]] == NEVER, 0,
                                      d["first_treated"].to_numpy()[c["district"]]).astype(np.int16),
            "n_students": c["n_students"].to_numpy().astype(np.int64),
            "n_observed": c["n_observed"].to_numpy().astype(np.int64),
            "earnings_age19": (c["sum_earnings_age19"] / c["n_observed_age19"]).to_numpy(),
            "employed_age19": (c["sum_employed_age19"] / c["n_observed_age19"]).to_numpy(),
            "dropout": (c["sum_dropout"] / c["n_observed"]).to_numpy(),
            "graduated": (c["sum_graduated"] / c["n_observed"]).to_numpy(),
            "low_income": (c["sum_low_income"] / c["n_students"]).to_numpy(),
            "prior_achievement": (c["sum_prior"] / c["n_prior"]).to_numpy(),
            "n_observed_age19": c["n_observed_age19"].to_numpy().astype(np.int64),
            **{f"{y}_sd": _cell_sd(c[f"ss_{y}"].to_numpy(), c[n].to_numpy())
               for y, n in (("earnings_age19", "n_observed_age19"), ("employed_age19", "n_observed_age19"),
                            ("dropout", "n_observed"), ("graduated", "n_observed"))},
        })
    return panel.reset_index(drop=True), panel_cohorts


def _truth(world: World, cal: Calibration, seed: int, scale: float, cells: pd.DataFrame,
           panel_cohorts: np.ndarray, realised: dict[str, Any], rd: dict[str, Any]) -> dict[str, Any]:
    """truth.json; ``rd``: :func:`rd_truth` of the world (computed while the students are drawn)."""
    surrogate = rd.pop("surrogate")
    first_treated = world.districts["first_treated"].to_numpy()
    did = did_truth(cells, first_treated, panel_cohorts, CELL_OUTCOMES)
    for name in STUDENT_OUTCOMES:
        n_col = f"n_observed_age{name.removeprefix('earnings_age')}" if name in EARNINGS_BY_AGE else "n_observed"
        did[name] = {"student": did_student_truth(cells, first_treated, name, n_col)}
    by_age = {name.removeprefix("earnings_age"): {"student": did_student_truth(
        cells, first_treated, name, f"n_observed_age{name.removeprefix('earnings_age')}")}
        for name in EARNINGS_BY_AGE}
    c = world.consortia
    return {
        "schema": "cteimpact.synth-truth/1",
        "generator": {"name": "cteimpact.synth (CCPT-calibrated)", "cteimpact_version": __version__,
                      "seed": int(seed), "scale": float(scale)},
        "design": {
            "rounds": [
                {"round": r.number, "award_year": r.award_year, "applicants": int((c["grant_round"] == r.number).sum()),
                 "funded": int(c.loc[c["grant_round"] == r.number, "award"].sum()),
                 "cutoff": float(c.loc[c["grant_round"] == r.number, "cutoff"].iloc[0])}
                for r in cal.rounds
            ],
            "n_consortia": len(c),
            "n_districts": len(world.districts),
            "n_schools": len(world.schools),
            "cohorts": [int(world.cohorts[0]), int(world.cohorts[-1])],
            "launch_years": {str(k if k != NEVER else 0): int(v) for k, v in
                             world.districts["first_treated"].value_counts().sort_index().items()},
        },
        "rd": {
            "description": (
                "Sharp effect of the grant award at the cutoff (itt), first stage on pathway participation, fuzzy "
                "Wald ratio (late), control mean and relative effect, per round and pooled on the normalised score "
                "(score_centered); sample: cohorts award_year..award_year+3 with observed outcome."),
            "running_variable": "score_centered",
            "cutoff": 0.0,
            "sample": "award_year <= cohort <= award_year + 3",
            "cluster": "consortium_id",
            **rd,
        },
        "did": {
            "description": (
                "ATT(g,t) = mean effect of the district's pathway launch (year g) on cohort t relative to never "
                "launching; district_panel: each district with every cohort observed counts once (unit "
                "district_id, time cohort, group first_treated); student: weighted by observed students."),
            "unit": "district_id", "time": "cohort", "group": "first_treated",
            "panel_cohorts": [int(panel_cohorts[0]), int(panel_cohorts[-1])],
            "outcomes": did,
            "student_note": ("interim outcomes and earnings at 20..26 have student-level truths only (no district "
                             "panel column), over every cohort with the outcome observed"),
            "earnings_by_age": by_age,
        },
        "surrogate": surrogate,
        "realised": realised,
        "calibration": cal.to_dict(),
    }


def _realised(students_sum: dict[str, float]) -> dict[str, Any]:
    n = students_sum["n"]
    return {
        "n_students": int(n),
        "dropout_rate": students_sum["dropout"] / students_sum["n_hs"],
        "graduation_rate": students_sum["graduated"] / students_sum["n_hs"],
        "pathway_rate": students_sum["pathway"] / n,
        "attrition_rate": 1 - students_sum["n_hs"] / n,
        "mean_earnings_age19": students_sum["earnings_age19"] / students_sum["n_age19"],
        "employment_rate_age19": students_sum["employed_age19"] / students_sum["n_age19"],
        **{f"{name}_rate" if name != "dual_credits" else "mean_dual_credits": students_sum[name] / students_sum["n_hs"]
           for name in INTERIM_OUTCOMES},
        "grade_at_entry_9_share": students_sum["entry9"] / n,
        "mean_earnings_age26": (students_sum["earnings_age26"] / students_sum["n_age26"]
                                if students_sum["n_age26"] else None),
    }


def _accumulate(acc: dict[str, float], students: pd.DataFrame) -> None:
    acc["n"] = acc.get("n", 0.0) + len(students)
    acc["n_hs"] = acc.get("n_hs", 0.0) + float(students["dropout"].notna().sum())
    acc["n_age19"] = acc.get("n_age19", 0.0) + float(students["earnings_age19"].notna().sum())
    acc["n_age26"] = acc.get("n_age26", 0.0) + float(students["earnings_age26"].notna().sum())
    acc["entry9"] = acc.get("entry9", 0.0) + float((students["grade_at_entry"] == 9).sum())
    for col in ("dropout", "graduated", "pathway", "earnings_age19", "employed_age19", *INTERIM_OUTCOMES,
                "earnings_age26"):
        acc[col] = acc.get(col, 0.0) + float(students[col].sum())


def simulate(*, seed: int = 7, scale: float = 0.05, calibration: Calibration | None = None) -> SyntheticData:
    """Simulate the data set in memory (for tests and Monte Carlo studies; use :func:`generate` for large scales).

    Parameters
    ----------
    seed
        Master seed.
    scale
        Student counts relative to scale 1 (about 600,000 students in 12 cohorts); the consortia, districts,
        schools, scores and launches do not depend on it.
    calibration
        Model parameters (default :class:`Calibration`).
    """
    _check(seed, scale)
    cal = calibration or Calibration()
    world = build_world(seed, cal)
    parts = list(_samples(world, cal, seed, scale))
    students = pd.concat([p.students for p in parts], ignore_index=True)
    cells = pd.concat([p.cells for p in parts], ignore_index=True)
    acc: dict[str, float] = {}
    _accumulate(acc, students)
    panel, panel_cohorts = _district_panel(world, cal, cells)
    truth = _truth(world, cal, seed, scale, cells, panel_cohorts, _realised(acc), rd_truth(world, cal, seed))
    return SyntheticData(
        students=students,
        enrollment=pd.concat([p.enrollment for p in parts], ignore_index=True),
        wages=pd.concat([p.wages for p in parts], ignore_index=True),
        consortia=_public_consortia(world),
        districts=_public_districts(world),
        district_panel=panel,
        truth=truth,
    )


class _TableWriter:
    """Appends chunks to one Parquet or CSV file with a fixed schema, in blocks of about ``block_rows`` rows."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: FileFormat, block_rows: int = 500_000) -> None:
        self.path, self.schema, self.fmt, self.block_rows = path, schema, fmt, block_rows
        self._parquet: pq.ParquetWriter | None = None
        self._csv_started = False
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        self._pending.append(frame)
        self._pending_rows += len(frame)
        if self._pending_rows >= self.block_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        frame = pd.concat(self._pending, ignore_index=True) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_rows = [], 0
        if self.fmt == "parquet":
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, self.schema, compression="zstd")
            self._parquet.write_table(table)
        else:
            frame.to_csv(self.path, mode="a" if self._csv_started else "w", header=not self._csv_started,
                         index=False, lineterminator="\n")
            self._csv_started = True

    def close(self) -> None:
        self._flush()
        if self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "parquet":  # no chunk at all: still write an empty file with the schema
            pq.write_table(self.schema.empty_table(), self.path, compression="zstd")
        elif not self._csv_started:
            pd.DataFrame(columns=self.schema.names).to_csv(self.path, index=False)


_FILE_UNITS = {"students": "student", "enrollment": "student-year", "wages": "student-year",
               "district_panel": "district_panel", "consortia": "consortium", "districts": "district"}
"""What one row of each file describes (``truth.json`` ``files``: which truths a run on that file estimates)."""


def _rd_truth_meanwhile(world: World, cal: Calibration, seed: int, *, process: bool) -> Future[dict[str, Any]]:
    """:func:`rd_truth` started in a thread (its large array operations release the GIL) or, with ``process`` where
    processes can be forked, in a forked process; its own random streams, so the same numbers either way."""
    pool: Executor
    if process and "fork" in multiprocessing.get_all_start_methods():
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    else:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cteimpact-rd-truth")
    future = pool.submit(rd_truth, world, cal, seed)
    pool.shutdown(wait=False)
    return future


def generate(out_dir: str | Path, *, seed: int = 7, scale: float = 1.0, fmt: FileFormat = "parquet",
             calibration: Calibration | None = None, truth_process: bool = False) -> dict[str, Path]:
    """Write the synthetic data set to ``out_dir``, one consortium at a time (memory stays bounded).

    Files: students, enrollment and wages (``fmt``), consortia.csv, districts.csv, district_panel.csv,
    truth.json (the true value of every estimand) and codebook.json (every column, its meaning and role).

    The RD truth (:func:`~cteimpact.synth.truth.rd_truth`) depends on the world only and is computed while the
    students are drawn and written: in a thread, or with ``truth_process`` (where processes can be forked) in a
    forked process, which uses a second core fully. The files are the same either way.

    Returns
    -------
    dict
        File name → path of every file written.
    """
    _check(seed, scale)
    if fmt not in ("parquet", "csv"):
        raise OptionError(f"format must be 'parquet' or 'csv', got {fmt!r}")
    cal = calibration or Calibration()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(seed, cal)
    rd_future = _rd_truth_meanwhile(world, cal, seed, process=truth_process)
    ext = "parquet" if fmt == "parquet" else "csv"
    writers = {name: _TableWriter(out / f"{name}.{ext}", SCHEMAS[name], fmt)
               for name in ("students", "enrollment", "wages")}
    cells = []
    acc: dict[str, float] = {}
    try:
        for part in _samples(world, cal, seed, scale):
            writers["students"].write(part.students)
            writers["enrollment"].write(part.enrollment)
            writers["wages"].write(part.wages)
            cells.append(part.cells)
            _accumulate(acc, part.students)
    finally:
        for w in writers.values():
            w.close()
    all_cells = pd.concat(cells, ignore_index=True)
    panel, panel_cohorts = _district_panel(world, cal, all_cells)
    paths = {f"{name}.{ext}": w.path for name, w in writers.items()}
    for name, frame in (("consortia", _public_consortia(world)), ("districts", _public_districts(world)),
                        ("district_panel", panel)):
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")
        paths[path.name] = path
    truth = _truth(world, cal, seed, scale, all_cells, panel_cohorts, _realised(acc), rd_future.result())
    # the files these truths describe, by content: a run on one of them is recognised as a run on synthetic data
    truth["files"] = {name: {"sha256": sha256_file(path), "unit": _FILE_UNITS.get(Path(name).stem, "other")}
                      for name, path in sorted(paths.items())}
    paths["truth.json"] = write_json(truth, out / "truth.json")
    paths["codebook.json"] = write_json({"format": fmt, **CODEBOOK}, out / "codebook.json")
    return paths

"""Estimates against the truth of the synthetic data they were computed on.

``cteimpact synth`` writes ``truth.json`` beside its data files with the SHA-256 of each file. A run whose data file
is one of them is a run on synthetic data: it says so (reports carry a banner) and records, for every estimate whose
estimand the synthetic world defines, the true value, the difference, the z-score and whether the interval covers
it — a check of the estimators against a known effect that anyone can re-compute.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cteimpact.provenance.hashing import sha256_file

__all__ = ["TRUTH_NAME", "SyntheticSource", "find_truth", "truth_comparison"]

TRUTH_NAME = "truth.json"
_SCHEMA = "cteimpact.synth-truth/1"
_MAX_BYTES = 64 * 2**20
_LABEL = re.compile(r"^(?P<outcome>[^\[]+)(?:\[(?P<part>.*)\])?$")


@dataclass(frozen=True)
class SyntheticSource:
    """The ``truth.json`` that describes a data file, and that file's entry in it (name and unit of a row)."""

    path: Path
    truth: dict[str, Any]
    file_name: str
    unit: str


def find_truth(data_path: Path) -> SyntheticSource | None:
    """The ``truth.json`` beside ``data_path`` that lists the file's SHA-256, if any (anything else: None)."""
    candidate = data_path.parent / TRUTH_NAME
    if not candidate.is_file() or candidate.stat().st_size > _MAX_BYTES:
        return None
    try:
        truth = json.loads(candidate.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    files = truth.get("files") if isinstance(truth, dict) and truth.get("schema") == _SCHEMA else None
    if not isinstance(files, dict):
        return None
    digest = sha256_file(data_path)
    for name, entry in files.items():
        if isinstance(entry, dict) and entry.get("sha256") == digest:
            return SyntheticSource(candidate, truth, str(name), str(entry.get("unit", "other")))
    return None


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _rd_truth(truth: Mapping[str, Any], outcome: str, part: str | None,
              design: Mapping[str, Any]) -> tuple[float, str] | None:
    fuzzy = design.get("fuzzy")
    effect = "late" if fuzzy else "itt"
    base = ("rd", "estimands", outcome, "pooled")
    keys: tuple[str, ...]
    if part in (None, "conventional", "bias_corrected"):
        keys = (*base, effect)
    elif part == "reduced_form":
        keys = (*base, "itt")
    elif part == "first_stage":
        keys = ("rd", "estimands", str(fuzzy), "pooled", "first_stage")
    elif part.startswith("cutoff="):
        value = float(part.removeprefix("cutoff="))
        rounds = _get(truth, "rd", "rounds") or {}
        names = [n for n, r in rounds.items() if isinstance(r, Mapping) and r.get("cutoff") == value]
        if len(names) != 1:
            return None
        keys = ("rd", "estimands", outcome, names[0], effect)
    elif " vs " not in part and "=" in part:
        keys = (*base, "subgroups", part, effect)
    else:
        return None
    value = _get(truth, *keys)
    return (float(value), ".".join(keys)) if isinstance(value, (int, float)) else None


def _did_truth(truth: Mapping[str, Any], outcome: str, part: str | None, unit: str,
               design: Mapping[str, Any]) -> tuple[float, str] | None:
    variant = "district_panel" if unit == "district_panel" else "student"
    base = ("did", "outcomes", outcome, variant)
    windowed = any(design.get(k) is not None for k in ("min_e", "max_e", "balance_e"))
    keys: tuple[str, ...]
    if part is None:
        keys = (*base, "aggregates", "simple")
    elif part.startswith("g="):
        found = re.fullmatch(r"g=(-?\d+),t=(-?\d+)", part)
        cells = _get(truth, *base, "att_gt")
        if not found or not isinstance(cells, list):
            return None
        g, t = int(found.group(1)), int(found.group(2))
        for i, cell in enumerate(cells):
            if isinstance(cell, Mapping) and cell.get("group") == g and cell.get("time") == t:
                return float(cell["att"]), ".".join((*base, f"att_gt[{i}]", "att"))
        return None
    else:
        kind, _, key = part.partition("=")
        section = {"group": ("group", "by_group"), "event": ("dynamic", "by_event"),
                   "calendar": ("calendar", "by_time")}.get(kind)
        if section is None:
            return None
        if key == "overall":
            if windowed and kind != "group":
                return None  # the run's window changes the estimand; the truth is over every event time
            keys = (*base, "aggregates", section[0], "overall")
        else:
            keys = (*base, "aggregates", section[0], section[1], key)
    value = _get(truth, *keys)
    return (float(value), ".".join(keys)) if isinstance(value, (int, float)) else None


def truth_comparison(source: SyntheticSource, design_type: str, design: Mapping[str, Any],
                     estimates: Sequence[Mapping[str, Any]], centres: Mapping[str, float]) -> dict[str, Any]:
    """Each estimate against its true value (the ``truth`` block of ``results.json``).

    Parameters
    ----------
    source
        The synthetic data's truths (:func:`find_truth`).
    design_type
        ``"rd"`` or ``"did"``.
    design
        The design's options (``fuzzy``; ``min_e``/``max_e``/``balance_e``).
    estimates
        The design's estimate rows.
    centres
        Label → centre of its sampling distribution (the value the interval is built around); rows without one
        use their estimate.
    """
    rows: list[dict[str, Any]] = []
    for row in estimates:
        label = str(row.get("label"))
        match = _LABEL.match(label)
        if match is None or row.get("suppressed") or row.get("estimate") is None:
            continue
        outcome, part = match.group("outcome"), match.group("part")
        found = (_rd_truth(source.truth, outcome, part, design) if design_type == "rd"
                 else _did_truth(source.truth, outcome, part, source.unit, design))
        if found is None:
            continue
        true_value, path = found
        estimate = float(centres.get(label, row["estimate"]))
        se = row.get("std_error")
        lo, hi = row.get("ci_lower"), row.get("ci_upper")
        z = (estimate - true_value) / se if isinstance(se, (int, float)) and se > 0 else None
        rows.append({"label": label, "estimate": estimate, "truth": true_value, "difference": estimate - true_value,
                     "std_error": se, "z": z,
                     "covered": (lo <= true_value <= hi) if lo is not None and hi is not None else None,
                     "ci_type": row.get("ci_type"), "truth_path": path})
    zs = [r["z"] for r in rows if r["z"] is not None and math.isfinite(r["z"])]
    covered = [r["covered"] for r in rows if r["covered"] is not None]
    return {
        "source": TRUTH_NAME,
        "file": source.file_name,
        "unit": source.unit,
        "generator": source.truth.get("generator"),
        "rows": rows,
        "summary": {"compared": len(rows), "covered": int(sum(covered)), "with_interval": len(covered),
                    "mean_z_squared": (sum(z * z for z in zs) / len(zs)) if zs else None},
        "note": ("True values of the synthetic world (truth.json, written with the data): z = (estimate − truth) "
                 "/ standard error; across many estimates about 95% of 95% intervals should cover the truth and "
                 "the mean of z² should be near 1 (estimates of one study are correlated, so these are indicative)."),
    }

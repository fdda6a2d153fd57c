"""Comparison of a received output file with its re-computation: tables cell by cell, figures pixel by pixel.

``verify`` regenerates every output a run writes and compares it with the file it received rather than trusting
the hash recorded in the manifest (which whoever handed the run over could have rewritten).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from cteimpact.provenance.compare import TolerancePolicy

__all__ = ["FileDifference", "compare_csv", "compare_figure", "compare_output"]

_SHOWN = 3


@dataclass(frozen=True, slots=True)
class FileDifference:
    """How a received file differs from its re-computation (``where`` names the cells, rows or pixels)."""

    path: str
    what: str
    count: int
    where: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        shown = "; ".join(self.where[:_SHOWN])
        more = f" (and {self.count - _SHOWN:,} more)" if self.count > _SHOWN else ""
        return f"{self.path}: {self.what}" + (f": {shown}{more}" if shown else "")


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline="")))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def _cells_match(received: str, recomputed: str, rtol: float, atol: float) -> bool:
    if received == recomputed:
        return True
    a, b = _number(received), _number(recomputed)
    if a is None or b is None:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return abs(b - a) <= atol + rtol * abs(a)


def compare_csv(path: str, received: bytes, recomputed: bytes, policy: TolerancePolicy) -> FileDifference | None:
    """Compare two CSV tables: same header, same number of rows, every cell equal (numbers within the policy's
    tolerance for ``path``; text exactly)."""
    a, b = _rows(received), _rows(recomputed)
    if not a or not b or a[0] != b[0]:
        return FileDifference(path, "the columns differ from the re-computation", 1,
                              (f"received {', '.join(a[0][:8]) if a else 'nothing'}",))
    if len(a) != len(b):
        return FileDifference(path, f"{len(a) - 1:,} rows received, {len(b) - 1:,} re-computed", 1)
    header = a[0]
    rtol, atol = policy.for_path(path)
    where: list[str] = []
    for i, (ra, rb) in enumerate(zip(a[1:], b[1:], strict=True), start=1):
        if len(ra) != len(rb):
            where.append(f"row {i} has {len(ra)} cells, re-computed {len(rb)}")
            continue
        for name, ca, cb in zip(header, ra, rb, strict=True):
            if not _cells_match(ca, cb, rtol, atol):
                where.append(f"row {i} column '{name[:40]}': {ca[:30]!r} received, {cb[:30]!r} re-computed")
    if not where:
        return None
    return FileDifference(path, f"{len(where):,} cell(s) differ from the re-computation", len(where), tuple(where))


def _pixels(data: bytes) -> object | None:
    try:
        from matplotlib import image

        return image.imread(io.BytesIO(data), format="png")
    except Exception:  # not a decodable PNG: only the bytes can be compared
        return None


def compare_figure(path: str, received: bytes, recomputed: bytes) -> FileDifference | None:
    """Compare two figures: identical bytes, or (PNG) identical pixels (metadata may differ)."""
    if received == recomputed:
        return None
    import numpy as np

    a, b = _pixels(received), _pixels(recomputed)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return FileDifference(path, f"the image is {a.shape[1]}x{a.shape[0]} pixels, the re-computation "
                                        f"{b.shape[1]}x{b.shape[0]}", 1)
        differing = int(np.any(a != b, axis=-1).sum()) if a.ndim == 3 else int((a != b).sum())
        if differing == 0:
            return None
        return FileDifference(path, f"{differing:,} of {a.shape[0] * a.shape[1]:,} pixels differ from the "
                                    "re-computation", differing)
    return FileDifference(path, "the file differs from its re-computation", 1)


def compare_output(path: str, received_file: Path, recomputed_file: Path,
                   policy: TolerancePolicy) -> FileDifference | None:
    """Compare a received output with its re-computation by kind (``.csv`` tables, everything else as figures or
    bytes)."""
    received = received_file.read_bytes()
    recomputed = recomputed_file.read_bytes()
    if path.lower().endswith(".csv"):
        return compare_csv(path, received, recomputed, policy)
    return compare_figure(path, received, recomputed)

"""Limits that user-chosen sizes and values must respect, checked before any computation starts.

Two kinds of limit:

* **memory**: Monte Carlo and bootstrap draws are held in memory, so their number is bounded by the memory of the
  machine. :func:`check_memory` compares what a computation will hold (its number of draws times the bytes each
  draw needs, counted from the sizes involved) with the memory available now, and refuses with one line stating
  both and the largest number of draws that fits.
* **magnitude**: numbers whose squares overflow double precision (about 1e154) make variance computations return
  infinities, which the wrapped estimation libraries then report as some other problem. :func:`check_magnitude`
  refuses data columns with values beyond :data:`MAX_MAGNITUDE` and names the column.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from cteimpact.errors import DesignError, OptionError

__all__ = [
    "COMPILED_FROM",
    "MAX_MAGNITUDE",
    "MEMORY_FRACTION",
    "available_memory",
    "check_magnitude",
    "check_memory",
    "format_bytes",
    "max_abs",
    "refuse_magnitude",
]

MEMORY_FRACTION = 0.8
"""Share of the available memory a single computation may plan to use (the rest is left to Python, the data and
the operating system)."""

MAX_MAGNITUDE = 1e100
"""Largest magnitude accepted in an outcome, running variable or covariate: sums of squares and of polynomial terms
of larger values overflow double precision (the largest double is about 1.8e308)."""


def available_memory() -> int | None:
    """Memory available to a new computation now, in bytes: ``MemAvailable`` of ``/proc/meminfo`` (Linux), else
    the physical memory (``SC_PHYS_PAGES × SC_PAGE_SIZE``); ``None`` where neither is known."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: float) -> str:
    """``640 GB``, ``1.5 TB``, ``800 MB``: decimal units, two significant digits at most below 10."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            v = n / size
            return f"{v:.1f} {unit}" if v < 10 else f"{v:,.0f} {unit}"
    return f"{n:.0f} bytes"


def _round_down(n: float) -> int:
    """``n`` rounded down to two significant digits (a number a user can type back)."""
    if n < 1:
        return 0
    scale = 10 ** max(math.floor(math.log10(n)) - 1, 0)
    return int(n // scale * scale)


def check_memory(count: int, bytes_per_item: float, *, items: str, breakdown: str, what: str, option: str,
                 fixed_bytes: float = 0.0, minimum: int = 1) -> None:
    """Refuse a computation holding ``count`` items of ``bytes_per_item`` bytes each when it exceeds
    :data:`MEMORY_FRACTION` of the available memory.

    Parameters
    ----------
    count
        Number of items (draws) asked for.
    bytes_per_item
        Bytes each item needs while the computation runs (arrays kept and the temporaries of the summaries).
    items
        Name of the items (``"draws"``).
    breakdown
        How ``bytes_per_item`` is made up, for the message (``"27 values × 8 bytes"``).
    what
        The computation, for the message (``"the pricing Monte Carlo"``).
    option
        Where the number is set, for the message (``"--draws, [pricing] draws"``).
    fixed_bytes
        Memory needed whatever the count (inputs held during the computation).
    minimum
        Smallest count the computation accepts (the advice never goes below it).

    Raises
    ------
    OptionError
        One line: the memory needed, the memory available and the largest count that fits.
    """
    available = available_memory()
    if available is None:
        return
    needed = fixed_bytes + count * bytes_per_item
    budget = MEMORY_FRACTION * available
    if needed <= budget:
        return
    fits = _round_down((budget - fixed_bytes) / bytes_per_item) if budget > fixed_bytes else 0
    advice = (f"use at most {fits:,} {items}" if fits >= minimum
              else f"even {minimum:,} {items} do not fit: free memory or use a larger machine")
    raise OptionError(
        f"{count:,} {items} ({option}) for {what} need about {format_bytes(needed)} of memory ({count:,} {items} × "
        f"{breakdown}); this machine has {format_bytes(available)} available; {advice}"
    )


COMPILED_FROM = 1 << 20
"""Arrays (or data sets) at least this long are scanned by the compiled kernels of :mod:`cteimpact.scan` and
:mod:`cteimpact.did.panelscan` (numba is imported on first use); shorter ones by numpy, with identical results."""


def max_abs(values: np.ndarray) -> float:
    """Largest finite absolute value (0 for an empty array); long float64 arrays in one compiled pass."""
    arr = np.asarray(values)
    if arr.dtype == np.float64 and arr.ndim == 1 and arr.size >= COMPILED_FROM:
        from cteimpact.scan import finite_max_abs

        return float(finite_max_abs(arr))
    v = np.abs(np.asarray(values, dtype=float).reshape(-1))
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else 0.0


def check_magnitude(values: np.ndarray, *, role: str, column: str, limit: float = MAX_MAGNITUDE) -> None:
    """Refuse a column with values beyond ``limit`` in magnitude (their squares would overflow).

    Raises
    ------
    DesignError
        Naming the column, its largest magnitude and the remedy (rescale it).
    """
    refuse_magnitude(max_abs(values), role=role, column=column, limit=limit)


def refuse_magnitude(big: float, *, role: str, column: str, limit: float = MAX_MAGNITUDE) -> None:
    """:func:`check_magnitude` given the column's largest finite magnitude ``big`` (computed by the caller)."""
    if big > limit:
        raise DesignError(
            f"{role} '{column}' has values up to {big:.3g} in magnitude; rescale it (for example to thousands or "
            f"millions of its unit): cteimpact's variance computations square the values, which overflows beyond "
            f"{limit:.0e}"
        )

"""Thin adapter over ``rdlocrand``'s ``rdrandinf`` (Cattaneo, Titiunik & Vazquez-Bare 2016): randomisation
inference in a window around the cutoff, one unit per row.

cteimpact's own :mod:`cteimpact.rd.local_randomization` (which also permutes labels across clustered assignment
units) is validated against this adapter. rdrandinf draws from numpy's global random state after seeding it; the
adapter saves and restores that state so calling it has no side effect on the caller's random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cteimpact.errors import DesignError
from cteimpact.rd.adapters._capture import ErrorRule, call_reference, import_quietly
from cteimpact.rd.adapters._translate import first_value, package_version, plain_fields

__all__ = ["ReferenceRandomization", "rdlocrand_version", "reference_randomization"]

_RULES = (ErrorRule(r"window|cutoff", DesignError, "{context}: {msg}"),)


def rdlocrand_version() -> str:
    """Installed rdlocrand version."""
    return package_version("rdlocrand")


@dataclass(frozen=True, slots=True)
class ReferenceRandomization:
    """rdrandinf's difference-in-means test in a window."""

    statistic: float
    p_value: float
    p_asymptotic: float
    window: tuple[float, float]
    n: tuple[int, int]
    reps: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


def reference_randomization(y: np.ndarray, x: np.ndarray, *, cutoff: float, window: tuple[float, float],
                            reps: int = 1000, seed: int = 666, statistic: str = "diffmeans",
                            context: str = "rdrandinf") -> ReferenceRandomization:
    """Run ``rdlocrand.rdrandinf`` (``statistic``: ``diffmeans``, ``ksmirnov`` or ``ranksum``; ``p = 0``, uniform
    kernel) and translate its output."""
    mod = import_quietly("rdlocrand")
    state = np.random.get_state()  # noqa: NPY002 - rdrandinf seeds numpy's global state
    try:
        out, _ = call_reference(mod.rdrandinf, np.asarray(y, dtype=float), np.asarray(x, dtype=float),
                                cutoff=float(cutoff), wl=float(window[0]), wr=float(window[1]), reps=int(reps),
                                seed=int(seed), statistic=str(statistic), quietly=True, context=context, rules=_RULES,
                                stacklevel=4)
    finally:
        np.random.set_state(state)  # noqa: NPY002 - restore the caller's global state
    sumstats = np.asarray(out["sumstats"], dtype=float)
    return ReferenceRandomization(
        statistic=first_value(out["obs.stat"]), p_value=first_value(out["p.value"]),
        p_asymptotic=first_value(out["asy.pvalue"]),
        window=(float(window[0]), float(window[1])), n=(int(sumstats[1, 0]), int(sumstats[1, 1])), reps=int(reps),
        seed=int(seed))

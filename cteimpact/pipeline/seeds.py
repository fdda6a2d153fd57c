"""Named random streams derived from one master seed.

Every random step of a run (bootstrap, Monte Carlo pricing, randomisation inference) takes its seed from
:func:`derive_seed` with a stable name, so the streams are independent of each other and of the order in which
steps run, and the master seed alone reproduces the run.
"""

from __future__ import annotations

import hashlib

import numpy as np

from cteimpact.errors import OptionError

__all__ = ["derive_rng", "derive_seed"]


def derive_seed(master: int, name: str) -> int:
    """A 63-bit seed for the stream ``name`` of the run seeded with ``master`` (stable across platforms)."""
    if not isinstance(master, int) or isinstance(master, bool) or master < 0:
        raise OptionError(f"the master seed must be a non-negative integer, got {master!r}")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    state = np.random.SeedSequence([master, *words]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def derive_rng(master: int, name: str) -> np.random.Generator:
    """A generator for the stream ``name``."""
    return np.random.default_rng(derive_seed(master, name))

"""Memory and magnitude limits: the one-line refusals and their advice."""

from __future__ import annotations

import numpy as np
import pytest

import cteimpact.limits
from cteimpact.errors import DesignError, OptionError
from cteimpact.limits import MEMORY_FRACTION, available_memory, check_magnitude, check_memory, format_bytes


def test_available_memory_is_read_from_the_machine() -> None:
    mem = available_memory()
    assert mem is None or mem > 10**7


@pytest.mark.parametrize(("n", "text"), [(640e9, "640 GB"), (1.5e12, "1.5 TB"), (23.97e9, "24 GB"),
                                         (800e6, "800 MB"), (5.25e9, "5.2 GB"), (999, "999 bytes")])
def test_format_bytes(n: float, text: str) -> None:
    assert format_bytes(n) == text


def test_check_memory_message_and_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: 24 * 10**9)
    check_memory(10**6, 64, items="draws", breakdown="8 values × 8 bytes", what="x", option="--draws")
    with pytest.raises(OptionError) as info:
        check_memory(10**10, 64, items="draws", breakdown="8 values × 8 bytes", what="the pricing Monte Carlo",
                     option="--draws")
    assert str(info.value) == (
        "10,000,000,000 draws (--draws) for the pricing Monte Carlo need about 640 GB of memory (10,000,000,000 "
        "draws × 8 values × 8 bytes); this machine has 24 GB available; use at most 300,000,000 draws")
    assert MEMORY_FRACTION * 24 * 10**9 >= 300_000_000 * 64
    # fixed memory counts, and advice below the minimum says so
    with pytest.raises(OptionError, match=r"even 1,000 draws do not fit: free memory or use a larger machine"):
        check_memory(1000, 64, items="draws", breakdown="8 values × 8 bytes", what="x", option="--draws",
                     fixed_bytes=30 * 10**9, minimum=1000)


def test_unknown_memory_lets_everything_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cteimpact.limits, "available_memory", lambda: None)
    check_memory(10**15, 10**6, items="draws", breakdown="-", what="x", option="--draws")


def test_check_magnitude() -> None:
    check_magnitude(np.array([1e99, -1e100, np.nan]), role="outcome", column="y")
    with pytest.raises(DesignError, match=r"^outcome 'y' has values up to 2e\+101 in magnitude; rescale it"):
        check_magnitude(np.array([1.0, -2e101]), role="outcome", column="y")

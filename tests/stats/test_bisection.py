"""The shared boundary bisection finds the edge from either side and stops at its tolerance."""

from __future__ import annotations

import pytest

from cteimpact.stats import bisect_boundary


@pytest.mark.parametrize(("outside", "inside"), [(0.0, 4.0), (4.0, 0.0)])
def test_finds_the_edge_from_either_side(outside: float, inside: float) -> None:
    edge = 1.2345
    holds = (lambda x: x >= edge) if inside > outside else (lambda x: x <= edge)
    found = bisect_boundary(holds, outside, inside, steps=60)
    assert holds(found) and abs(found - edge) < 1e-12


def test_stops_once_within_the_tolerance() -> None:
    calls: list[float] = []

    def holds(x: float) -> bool:
        calls.append(x)
        return x >= 1.0

    found = bisect_boundary(holds, 0.0, 8.0, steps=200, tol=lambda _: 0.1)
    assert holds(found) and found - 1.0 <= 0.1 and len(calls) < 10
